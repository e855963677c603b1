// `osctl sync DIR [--watch] [--prune] [--dry-run] [--interval 60s] [--name NAME] [--force]
// [--max-prune-fraction F]`: GitOps. Applies every manifest under DIR (server-side apply, field
// manager `osctl-sync-NAME`, conflicts forced: DIR is the source of truth), labels what it applies
// with `openscheduler.io/sync=NAME` (the inventory), and with --prune deletes owned objects whose
// manifests are gone, within the safety rules of sync-plan.ts. With --watch it re-syncs on file
// changes (debounced) and every --interval.
import { watch as watchFiles } from 'chokidar';
import { extname } from 'node:path';
import { Command, Option } from 'commander';
import type { ApiObject } from '../api/meta.js';
import { parseDuration } from '../util/duration.js';
import { applyObject, isFatal } from './apply-command.js';
import { ApiError } from './client.js';
import type { CommandEnv, Session } from './context.js';
import { CliError, formatError } from './errors.js';
import { type ManifestTarget } from './manifest-target.js';
import { RESOURCES, collectionPath, objectPath, qualifiedName, resourceForKind } from './resources.js';
import {
  DEFAULT_MAX_PRUNE_FRACTION,
  DEFAULT_SYNC_NAME,
  type OwnedObject,
  type PlanStep,
  SYNC_LABEL,
  objectIdentity,
  planSync,
  validateSyncName,
} from './sync-plan.js';
import { SourceUnreadableError, SyncSource } from './sync-source.js';

interface SyncOptions {
  watch?: boolean;
  prune?: boolean;
  dryRun?: boolean;
  force?: boolean;
  interval: string;
  name: string;
  maxPruneFraction: string;
  debounce: string;
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** What one pass did; `failed` when anything was not as declared (bad file, rejected object, refused prune). */
interface PassResult {
  readonly failed: boolean;
}

function parseFraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new CliError(`--max-prune-fraction: "${value}" must be a number from 0 to 1`);
  }
  return n;
}

function parseMs(value: string, flag: string): number {
  try {
    return parseDuration(value, flag);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

/** Every object of every known kind carrying `openscheduler.io/sync=NAME`. */
async function listOwned(session: Session, syncName: string): Promise<OwnedObject[]> {
  const owned: OwnedObject[] = [];
  for (const resource of RESOURCES) {
    for await (const page of session.client.listPages(collectionPath(resource, undefined), { labelSelector: `${SYNC_LABEL}=${syncName}` })) {
      for (const item of page.items) {
        // The list omits kind on items in some servers: the collection tells it.
        const object = { ...item, kind: resource.kind } as ApiObject;
        const namespace = resource.namespaced ? item.metadata.namespace : undefined;
        owned.push({ identity: objectIdentity(resource.kind, namespace, item.metadata.name), display: qualifiedName(resource, item.metadata.name), object });
      }
    }
  }
  return owned;
}

function targetOf(object: ApiObject, display: string): ManifestTarget {
  const resource = resourceForKind(object.apiVersion, object.kind);
  const namespace = resource.namespaced ? object.metadata.namespace : undefined;
  return { resource, name: object.metadata.name, namespace, path: objectPath(resource, namespace ?? '', object.metadata.name), object, display };
}

/** Deletes the object the server holds, only if it is still the same one (uid precondition); absent is fine. */
async function deleteLive(session: Session, live: ApiObject, display: string): Promise<void> {
  const target = targetOf(live, display);
  try {
    await session.client.request('DELETE', target.path, {
      body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: live.metadata.uid } }),
    });
  } catch (err) {
    if (err instanceof ApiError && err.code === 404) return;
    throw err;
  }
}

export function syncCommand(env: CommandEnv): Command {
  return new Command('sync')
    .description('apply every manifest under DIR and keep the server in step with it (GitOps)')
    .argument('<dir>', 'directory of manifests (.yaml/.yml/.json, read recursively)')
    .option('--watch', 'keep running: re-sync when files change and every --interval')
    .option('--prune', 'delete objects this sync owns whose manifests are gone')
    .option('--dry-run', 'print the plan (create/update/unchanged/recreate/delete) and change nothing')
    .option('--force', 'prune even when the source is empty or more than --max-prune-fraction would go')
    .addOption(new Option('--interval <duration>', 'full re-sync period in --watch mode (0: only on changes)').default('60s'))
    .addOption(new Option('--name <name>', 'the sync\'s name: label openscheduler.io/sync and field manager osctl-sync-NAME').default(DEFAULT_SYNC_NAME))
    .addOption(new Option('--max-prune-fraction <fraction>', 'largest share of owned objects one pass may prune without --force').default(String(DEFAULT_MAX_PRUNE_FRACTION)))
    .addOption(new Option('--debounce <duration>', 'quiet time after a file change before re-syncing').default('200ms').hideHelp())
    .action(async (dir: string, options: SyncOptions) => {
      const { deps } = env;
      try {
        validateSyncName(options.name);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      const maxPruneFraction = parseFraction(options.maxPruneFraction);
      const intervalMs = parseMs(options.interval, '--interval');
      const debounceMs = parseMs(options.debounce, '--debounce');
      const dryRun = options.dryRun === true;
      const fieldManager = `osctl-sync-${options.name}`;
      const session = await env.session();
      const source = new SyncSource(dir, options.name);

      /** One pass: read DIR, list the inventory, plan, carry out (or print, in a dry run). */
      const runPass = async (reportUnchanged: boolean): Promise<PassResult> => {
        let failed = false;
        const snapshot = await source.read(session);
        for (const message of [...snapshot.errors, ...snapshot.warnings]) deps.stderr.write(`${message}\n`);
        failed ||= snapshot.errors.length > 0;
        const owned = await listOwned(session, options.name);
        const plan = planSync({
          desired: snapshot.desired,
          owned,
          failedSources: snapshot.failedSources,
          prune: options.prune === true,
          force: options.force === true,
          maxPruneFraction,
        });
        if (plan.pruneRefused) {
          deps.stderr.write(`error: ${plan.pruneRefused}\n`);
          failed = true;
        }
        for (const step of plan.steps) {
          try {
            const line = await carryOut(session, step);
            if (line !== undefined && (reportUnchanged || step.action !== 'unchanged')) deps.stdout.write(`${line}\n`);
          } catch (err) {
            if (isFatal(err)) throw err;
            failed = true;
            const where = step.desired?.metadata.annotations?.['openscheduler.io/sync-source'];
            deps.stderr.write(`error: ${step.display}${where ? ` (${dir.replace(/\/+$/, '')}/${where})` : ''}: ${formatError(err).replace(/^error: /, '').replace(/\n/g, '\n  ')}\n`);
          }
        }
        return { failed };
      };

      /** Does one step; returns the output line. */
      const carryOut = async (s: Session, step: PlanStep): Promise<string | undefined> => {
        const suffix = dryRun ? ' (dry run)' : '';
        switch (step.action) {
          case 'unchanged':
            return `${step.display} unchanged${suffix}`;
          case 'create':
          case 'update': {
            const target = targetOf(step.desired!, step.display);
            if (step.action === 'create') {
              const existing = await s.client.getIfExists<ApiObject>(target.path);
              const owner = existing?.metadata.labels?.[SYNC_LABEL];
              if (existing && owner !== options.name) {
                throw new Error(
                  `exists and is not owned by this sync (label ${SYNC_LABEL}=${owner ?? '<none>'}, this sync is "${options.name}"): delete it, or label it ${SYNC_LABEL}=${options.name} to hand it over`,
                );
              }
            }
            const { outcome } = await applyObject(s, target, { dryRun, fieldManager, force: true });
            if (dryRun) return `${step.display} ${outcome === 'created' ? 'create' : outcome === 'configured' ? 'update' : 'unchanged'}${suffix}`;
            return `${step.display} ${outcome}`;
          }
          case 'recreate': {
            if (dryRun) return `${step.display} recreate${suffix}`;
            await deleteLive(s, step.live!, step.display);
            await applyObject(s, targetOf(step.desired!, step.display), { dryRun: false, fieldManager, force: true });
            return `${step.display} recreated`;
          }
          case 'prune':
            if (dryRun) return `${step.display} delete${suffix}`;
            await deleteLive(s, step.live!, step.display);
            return `${step.display} pruned`;
        }
      };

      if (!options.watch) {
        let result: PassResult;
        try {
          result = await runPass(true);
        } catch (err) {
          if (err instanceof SourceUnreadableError) throw new CliError(err.message);
          throw err;
        }
        if (result.failed) env.setExitCode(1);
        return;
      }
      await watchLoop(dir, { runPass, intervalMs, debounceMs, signal: deps.signal, log: (line) => deps.stderr.write(`${line}\n`), name: options.name });
    });
}

/** Wakes one waiter; fire() before wait() is remembered. */
class Trigger {
  private pending = false;
  private wake: (() => void) | undefined;

  fire(): void {
    this.pending = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async wait(): Promise<void> {
    if (!this.pending) await new Promise<void>((resolve) => (this.wake = resolve));
    this.pending = false;
  }
}

/**
 * Watches DIR and runs a pass at start, after every burst of manifest file changes (debounced:
 * editors write a temp file and rename it), and every `intervalMs` (0: never). Passes never
 * overlap; each logs `sync pass N started` and `sync pass N done|done with errors|failed`;
 * a failing pass is logged and the loop goes on. Ends when `signal` aborts.
 */
async function watchLoop(
  dir: string,
  options: {
    runPass: (reportUnchanged: boolean) => Promise<PassResult>;
    intervalMs: number;
    debounceMs: number;
    signal: AbortSignal;
    log: (line: string) => void;
    name: string;
  },
): Promise<void> {
  const { signal, log } = options;
  const trigger = new Trigger();
  let debounceTimer: NodeJS.Timeout | undefined;
  let intervalTimer: NodeJS.Timeout | undefined;
  const watcher = watchFiles(dir, { ignoreInitial: true, persistent: true });
  watcher.on('all', (event, path) => {
    const relevant = event === 'addDir' || event === 'unlinkDir' || MANIFEST_EXTENSIONS.has(extname(path).toLowerCase());
    if (!relevant) return;
    clearTimeout(debounceTimer);
    debounceTimer = setTimeout(() => trigger.fire(), options.debounceMs);
  });
  watcher.on('error', (err) => log(`error: watching ${dir}: ${(err as Error).message}`));
  const onAbort = (): void => trigger.fire();
  signal.addEventListener('abort', onAbort);
  try {
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    log(`watching ${dir} (sync "${options.name}", full re-sync ${options.intervalMs > 0 ? `every ${options.intervalMs / 1000}s` : 'off'})`);
    let first = true;
    let pass = 0;
    trigger.fire();
    for (;;) {
      await trigger.wait();
      if (signal.aborted) break;
      clearTimeout(intervalTimer);
      pass += 1;
      log(`sync pass ${pass} started`);
      try {
        const { failed } = await options.runPass(first);
        first = false;
        log(`sync pass ${pass} done${failed ? ' with errors' : ''}`);
      } catch (err) {
        log(formatError(err));
        log(`sync pass ${pass} failed`);
      }
      if (options.intervalMs > 0) intervalTimer = setTimeout(() => trigger.fire(), options.intervalMs);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    clearTimeout(debounceTimer);
    clearTimeout(intervalTimer);
    await watcher.close();
  }
}
