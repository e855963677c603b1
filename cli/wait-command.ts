// `osctl wait job/NAME [--for COND] [--timeout 30s]`: waits on the watch (no polling loop) until
// the condition holds (exit 0), the job ends the other way (exit 1), or the timeout passes (exit 2).
// A job that does not exist yet is waited for until the timeout: `apply` then `wait` may race a
// creation elsewhere (e.g. `osctl sync`), and "not there yet" is not a failure.
import { Command } from 'commander';
import type { ApiObject, ObjectList } from '../api/meta.js';
import type { CommandEnv, Session } from './context.js';
import { parseDuration } from '../util/duration.js';
import { CliError } from './errors.js';
import { field, isRecord, scalarText } from './objects.js';
import { type CliResource, JOB, collectionPath, parseResourceArgs, qualifiedName } from './resources.js';
import { followWatch } from './watch-loop.js';

export type WaitCondition =
  | { readonly kind: 'finished' }
  | { readonly kind: 'condition'; readonly type: string; readonly value: string }
  | { readonly kind: 'phase'; readonly phase: string }
  | { readonly kind: 'create' }
  | { readonly kind: 'delete' };

export type WaitVerdict = { readonly done: false } | { readonly done: true; readonly exitCode: 0 | 1; readonly message: string };

export const WAIT_TIMEOUT_EXIT = 2;
const TERMINAL_PHASES = new Set(['Succeeded', 'Failed']);

/**
 * Parses --for: absent (jobs: until Succeeded or Failed), `condition=TYPE[=VALUE]` (VALUE
 * defaults to True), `phase=PHASE`, `create`, `delete`. Throws naming the flag and the forms.
 */
export function parseWaitFor(value: string | undefined, resource: CliResource): WaitCondition {
  if (value === undefined || value === '') {
    if (resource !== JOB) throw new CliError(`--for is required for ${resource.plural} (e.g. --for=condition=Ready)`);
    return { kind: 'finished' };
  }
  if (value === 'create' || value === 'delete') return { kind: value };
  const condition = /^condition=([^=]+)(?:=(.+))?$/.exec(value);
  if (condition) return { kind: 'condition', type: condition[1] ?? '', value: condition[2] ?? 'True' };
  const phase = /^phase=(.+)$/.exec(value);
  if (phase) return { kind: 'phase', phase: phase[1] ?? '' };
  throw new CliError(`--for: unsupported value "${value}": expected condition=TYPE[=VALUE], phase=PHASE, create or delete`);
}

function failure(display: string, obj: ApiObject): string {
  const reason = scalarText(field(obj, 'status.reason'));
  const message = scalarText(field(obj, 'status.message'));
  const detail = [reason, message].filter((s) => s !== '').join(': ');
  return `${display} failed${detail ? `: ${detail}` : ''}`;
}

/**
 * Whether the wait is over for the object's current state (`obj` undefined: absent; `seen`:
 * it existed earlier in this wait). Jobs that end in a phase that cannot satisfy the
 * condition end the wait with exit code 1.
 */
export function evaluateWait(condition: WaitCondition, resource: CliResource, obj: ApiObject | undefined, seen: boolean, display: string): WaitVerdict {
  const met: WaitVerdict = { done: true, exitCode: 0, message: `${display} condition met` };
  if (!obj) {
    if (condition.kind === 'delete') return met;
    if (seen) return { done: true, exitCode: 1, message: `${display} was deleted while waiting` };
    return { done: false };
  }
  if (condition.kind === 'create') return met;
  if (condition.kind === 'delete') return { done: false };
  const phase = scalarText(field(obj, 'status.phase'));
  if (condition.kind === 'finished') {
    if (phase === 'Succeeded') return met;
    if (phase === 'Failed') return { done: true, exitCode: 1, message: failure(display, obj) };
    return { done: false };
  }
  if (condition.kind === 'phase' && phase.toLowerCase() === condition.phase.toLowerCase()) return met;
  if (condition.kind === 'condition') {
    const conditions = field(obj, 'status.conditions');
    const match = Array.isArray(conditions)
      ? conditions.find((c) => isRecord(c) && scalarText(c.type).toLowerCase() === condition.type.toLowerCase())
      : undefined;
    if (isRecord(match) && scalarText(match.status).toLowerCase() === condition.value.toLowerCase()) return met;
  }
  if (resource === JOB && TERMINAL_PHASES.has(phase)) {
    return {
      done: true,
      exitCode: 1,
      message: phase === 'Failed' ? failure(display, obj) : `${display} ended ${phase} without meeting the condition`,
    };
  }
  return { done: false };
}

/** Waits for one object; undefined when `signal` ended the wait first. */
async function waitForObject(
  session: Session,
  resource: CliResource,
  name: string,
  condition: WaitCondition,
  signal: AbortSignal,
  once: boolean,
): Promise<WaitVerdict | undefined> {
  const { client } = session;
  const path = collectionPath(resource, resource.namespaced ? session.namespace : undefined);
  const query = { fieldSelector: `metadata.name=${name}` };
  const display = qualifiedName(resource, name);
  let seen = false;
  let verdict: WaitVerdict | undefined;
  const check = (obj: ApiObject | undefined): boolean => {
    if (obj) seen = true;
    const v = evaluateWait(condition, resource, obj, seen, display);
    if (v.done) verdict = v;
    return v.done;
  };
  const list = async (): Promise<{ resourceVersion: string; done: boolean }> => {
    const result = await client.get<ObjectList>(path, query, signal);
    const done = check(result.items?.find((o) => o.metadata.name === name));
    return { resourceVersion: result.metadata?.resourceVersion ?? '', done };
  };
  let first: { resourceVersion: string; done: boolean };
  try {
    first = await list();
  } catch (err) {
    if (signal.aborted) return undefined;
    throw err;
  }
  if (first.done || once) return verdict;
  await followWatch({
    client,
    path,
    query,
    signal,
    resourceVersion: first.resourceVersion,
    relist: list,
    onEvent: (event) => check(event.type === 'DELETED' ? undefined : event.object),
  });
  return verdict;
}

interface WaitOptions {
  for?: string;
  timeout: string;
}

export function waitCommand(env: CommandEnv): Command {
  return new Command('wait')
    .description('wait until jobs finish (exit 0 Succeeded, 1 Failed, 2 timed out) or meet --for')
    .argument('<type-and-names...>', 'job/NAME... or job NAME...')
    .option('--for <condition>', 'condition=TYPE[=VALUE], phase=PHASE, create or delete (default for jobs: Succeeded or Failed)')
    .option('--timeout <duration>', 'how long to wait in total, e.g. 30s, 5m; 0 checks once', '30s')
    .addHelpText(
      'after',
      '\nA job that does not exist yet is waited for until the timeout; one deleted while waiting fails (exit 1).\nWith --for=phase=P or condition=C, a job that ends in another terminal phase also fails (exit 1).',
    )
    .action(async (args: string[], options: WaitOptions) => {
      const { deps } = env;
      const { resource, names } = parseResourceArgs(args);
      if (names.length === 0) throw new CliError('a name is required: osctl wait job/NAME');
      const condition = parseWaitFor(options.for, resource);
      let timeoutMs: number;
      try {
        timeoutMs = parseDuration(options.timeout, '--timeout');
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      const session = await env.session();
      const signal = timeoutMs === 0 ? deps.signal : AbortSignal.any([deps.signal, AbortSignal.timeout(timeoutMs)]);
      for (const name of names) {
        const verdict = await waitForObject(session, resource, name, condition, signal, timeoutMs === 0);
        if (verdict?.done) {
          if (verdict.exitCode === 0) deps.stdout.write(`${verdict.message}\n`);
          else deps.stderr.write(`error: ${verdict.message}\n`);
          env.setExitCode(verdict.exitCode);
        } else if (deps.signal.aborted) {
          throw new CliError('interrupted', 130);
        } else {
          deps.stderr.write(`error: timed out waiting for the condition on ${qualifiedName(resource, name)}\n`);
          env.setExitCode(WAIT_TIMEOUT_EXIT);
        }
      }
    });
}
