// The osctl program: global flags, the commands, and one place that turns errors into
// messages and exit codes. `runOsctl` never calls process.exit; it returns the exit code.
import { Command, CommanderError, Option } from 'commander';
import { applyCommand } from './apply-command.js';
import { auditCommand } from './audit-command.js';
import { type CommandEnv, type GlobalOptions, type OsctlDeps, type Session, openSession } from './context.js';
import { deleteCommand } from './delete-command.js';
import { describeCommand } from './describe-command.js';
import { diffCommand } from './diff-command.js';
import { dlqCommand } from './dlq-command.js';
import { parseDuration } from '../util/duration.js';
import { CliError, formatError } from './errors.js';
import { getCommand } from './get-command.js';
import { loginCommand } from './login-command.js';
import { logsCommand } from './logs-command.js';
import { retryCommand } from './retry-command.js';
import { syncCommand } from './sync-command.js';
import { tokenCommand } from './token-command.js';
import { userCommand, whoamiCommand } from './user-command.js';
import { waitCommand } from './wait-command.js';

export type { OsctlDeps, StdinAccess } from './context.js';

/** Runs osctl with `args` (the arguments after the program name) and returns the exit code. */
export async function runOsctl(args: readonly string[], deps: OsctlDeps): Promise<number> {
  let exitCode = 0;
  let session: Promise<Session> | undefined;
  const program = new Command('osctl');
  const env: CommandEnv = {
    deps,
    globals: () => program.opts<GlobalOptions>(),
    session: () => {
      session ??= (async () => {
        const globals = program.opts<GlobalOptions>();
        let timeoutMs: number | undefined;
        if (globals.requestTimeout) {
          try {
            timeoutMs = parseDuration(globals.requestTimeout, '--request-timeout') || undefined;
          } catch (err) {
            throw new CliError((err as Error).message);
          }
        }
        return openSession(deps, globals, timeoutMs);
      })();
      return session;
    },
    setExitCode: (code) => {
      exitCode = Math.max(exitCode, code);
    },
  };

  program
    .description('osctl controls the Open Scheduler control plane')
    .option('--server <url>', 'API server URL (overrides the config)')
    .option('--token <token>', 'bearer token (overrides the config)')
    .option('--config <path>', 'osctl config file (overrides $OSCTL_CONFIG)')
    .option('-n, --namespace <namespace>', 'namespace (default: the config\'s, else "default")')
    .option('--certificate-authority <file>', 'PEM file of the CA that signed the server certificate')
    .option('--insecure-skip-tls-verify', 'do not verify the server certificate (insecure)')
    .addOption(new Option('--request-timeout <duration>', 'deadline of one API request (0: none)').default('30s'))
    .exitOverride()
    .configureOutput({
      writeOut: (s) => deps.stdout.write(s),
      writeErr: (s) => deps.stderr.write(s),
    })
    .showHelpAfterError('(run with --help for usage)');

  for (const command of [loginCommand, applyCommand, getCommand, describeCommand, deleteCommand, diffCommand, waitCommand, logsCommand, tokenCommand, dlqCommand, retryCommand, syncCommand, auditCommand, userCommand, whoamiCommand]) {
    program.addCommand(command(env).exitOverride().configureOutput(program.configureOutput()).showHelpAfterError('(run with --help for usage)'));
  }

  try {
    await program.parseAsync([...args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // Usage errors were printed by commander; help and version exit 0.
      exitCode = err.exitCode === 0 ? 0 : 1;
    } else {
      deps.stderr.write(`${formatError(err)}\n`);
      exitCode = err instanceof CliError ? err.exitCode : 1;
    }
  } finally {
    if (session) await session.then((s) => s.client.close()).catch(() => undefined);
  }
  return exitCode;
}
