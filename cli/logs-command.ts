// `osctl logs job/NAME [-f] [--attempt N] [--all-attempts] [--stream S] [--tail N] [--limit-bytes N] [-n NS]`:
// a job's output (GET .../jobs/NAME/log), written to stdout as it arrives. The server picks the
// latest attempt by default and keeps logs after the job is deleted. With -f the command ends
// when the server ends the stream (the attempt's output is complete, or the job finished and
// went quiet) or on interrupt (exit 0). Errors print the server's message (exit 1).
import { Command } from 'commander';
import type { CommandEnv } from './context.js';
import { CliError } from './errors.js';
import { JOB, objectPath, parseSingleObjectArgs } from './resources.js';

interface LogsOptions {
  follow?: boolean;
  attempt?: string;
  allAttempts?: boolean;
  stream?: string;
  tail?: string;
  limitBytes?: string;
}

/** An integer flag value >= min; throws naming the flag. */
function integerFlag(flag: string, value: string | undefined, min: number): string | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value) || Number(value) < min) throw new CliError(`${flag}: "${value}" must be an integer >= ${min}`);
  return String(Number(value));
}

export function logsCommand(env: CommandEnv): Command {
  return new Command('logs')
    .description("print a job's output (both streams, in the order they were written); logs outlive the job")
    .argument('<job...>', 'job/NAME or job NAME')
    .option('-f, --follow', 'keep printing output as it arrives, until the attempt ends')
    .option('--attempt <n>', 'the attempt to print (default: the latest)')
    .option('--all-attempts', 'every attempt, each after a "==> attempt N (...) <==" header')
    .option('--stream <name>', 'stdout or stderr only (default: both)')
    .option('--tail <lines>', 'only the last lines of each attempt')
    .option('--limit-bytes <n>', 'stop after this many bytes')
    .action(async (args: string[], options: LogsOptions) => {
      const { deps } = env;
      let target: ReturnType<typeof parseSingleObjectArgs>;
      try {
        target = parseSingleObjectArgs(args);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      if (target.resource !== JOB) throw new CliError(`only jobs have logs, not ${target.resource.plural}`);
      const attempt = integerFlag('--attempt', options.attempt, 1);
      if (attempt !== undefined && options.allAttempts) throw new CliError('--attempt and --all-attempts cannot be combined');
      if (options.stream !== undefined && options.stream !== 'stdout' && options.stream !== 'stderr') {
        throw new CliError(`--stream: "${options.stream}" must be stdout or stderr`);
      }
      const query = {
        follow: options.follow ? 'true' : undefined,
        attempt,
        allAttempts: options.allAttempts ? 'true' : undefined,
        stream: options.stream,
        tailLines: integerFlag('--tail', options.tail, 0),
        limitBytes: integerFlag('--limit-bytes', options.limitBytes, 1),
      };
      const session = await env.session();
      const path = `${objectPath(JOB, session.namespace, target.name)}/log`;
      // Bytes as the task wrote them when the process gives a byte sink; else UTF-8 text.
      const decoder = new TextDecoder();
      const write = deps.stdoutBytes
        ? (chunk: Buffer) => deps.stdoutBytes?.write(chunk)
        : (chunk: Buffer) => deps.stdout.write(decoder.decode(chunk, { stream: true }));
      for await (const chunk of session.client.stream(path, query, { signal: deps.signal, accept: 'text/plain', idleTimeout: !options.follow })) {
        write(chunk);
      }
      if (!deps.stdoutBytes) {
        const rest = decoder.decode();
        if (rest !== '') deps.stdout.write(rest);
      }
    });
}
