// `osctl retry job/NAME [-n NS] [--dry-run=server]`: takes a job out of the dead-letter queue
// (POST .../jobs/NAME/retry), starting a fresh attempt series. Server errors are printed as the
// server phrased them (exit 1).
import { Command } from 'commander';
import type { ApiObject } from '../api/meta.js';
import { parseDryRun } from './apply-command.js';
import type { CommandEnv } from './context.js';
import { CliError } from './errors.js';
import { JOB, objectPath, parseSingleObjectArgs, qualifiedName } from './resources.js';

interface RetryOptions {
  dryRun?: string;
}

export function retryCommand(env: CommandEnv): Command {
  return new Command('retry')
    .description('retry a job of the dead-letter queue: a fresh attempt series (status only; the spec is unchanged)')
    .argument('<job...>', 'job/NAME or job NAME')
    .option('--dry-run <strategy>', '"server": check and show the outcome without persisting')
    .action(async (args: string[], options: RetryOptions) => {
      const dryRun = parseDryRun(options.dryRun);
      let target: ReturnType<typeof parseSingleObjectArgs>;
      try {
        target = parseSingleObjectArgs(args);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      if (target.resource !== JOB) throw new CliError(`only jobs can be retried, not ${target.resource.plural}`);
      const session = await env.session();
      await session.client.request<ApiObject>('POST', `${objectPath(JOB, session.namespace, target.name)}/retry`, {
        query: { dryRun: dryRun ? 'All' : undefined },
      });
      env.deps.stdout.write(`${qualifiedName(JOB, target.name)} retried${dryRun ? ' (server dry run)' : ''}\n`);
    });
}
