// `osctl token create --node NAME [--ttl 24h] [--description D]`, `osctl token list`,
// `osctl token revoke ID...`: per-node agent tokens (POST/GET/DELETE /api/v1/nodetokens).
import { Command } from 'commander';
import { parseDuration } from '../util/duration.js';
import type { CommandEnv } from './context.js';
import { CliError, formatError } from './errors.js';
import { isFatal } from './apply-command.js';
import { TableWriter } from './printers.js';

const PATH = '/api/v1/nodetokens';

interface IssuedToken {
  readonly id: string;
  readonly token: string;
  readonly nodeName: string;
  readonly expiresAt?: string;
}

interface TokenInfo {
  readonly id: string;
  readonly nodeName: string;
  readonly createdAt: string;
  readonly expiresAt?: string;
  readonly description?: string;
}

interface CreateOptions {
  node?: string;
  ttl?: string;
  description?: string;
}

/** `--ttl` in whole seconds (at least 1 s); throws naming the flag. */
export function parseTtl(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text, '--ttl');
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  if (ms < 1000 || ms % 1000 !== 0) throw new CliError(`invalid --ttl "${text}": expected a whole number of seconds, at least 1s (e.g. 24h, 90m)`);
  return ms / 1000;
}

function createCommand(env: CommandEnv): Command {
  return new Command('create')
    .description('issue a token for one node; it is printed once and cannot be shown again')
    .requiredOption('--node <name>', 'the node the token is bound to (a DNS-1123 subdomain)')
    .option('--ttl <duration>', 'lifetime, e.g. 24h or 30d (default: no expiry)')
    .option('--description <text>', 'a note shown by "osctl token list"')
    .action(async (options: CreateOptions) => {
      const ttlSeconds = options.ttl === undefined ? undefined : parseTtl(options.ttl);
      const session = await env.session();
      const body = JSON.stringify({ nodeName: options.node, ttlSeconds, description: options.description });
      const { body: issued } = await session.client.request<IssuedToken>('POST', PATH, { body });
      // stdout holds only the token, so that `TOKEN=$(osctl token create --node n1)` works.
      env.deps.stdout.write(`${issued.token}\n`);
      env.deps.stderr.write(
        `node token ${issued.id} for node "${issued.nodeName}" created${issued.expiresAt ? `, expires ${issued.expiresAt}` : ', no expiry'}.\n` +
          'It is shown only this once. Start the agent with:\n' +
          `  openscheduler agent --server HOST:PORT --name ${issued.nodeName} --token <the token above>\n`,
      );
    });
}

function listCommand(env: CommandEnv): Command {
  return new Command('list')
    .description('list node tokens (never their secrets)')
    .action(async () => {
      const session = await env.session();
      const { items } = await session.client.get<{ items: TokenInfo[] }>(PATH);
      if (items.length === 0) {
        env.deps.stderr.write('No node tokens found.\n');
        return;
      }
      const table = new TableWriter(env.deps.stdout, ['ID', 'NODE', 'CREATED', 'EXPIRES', 'DESCRIPTION']);
      table.write(items.map((t) => [t.id, t.nodeName, t.createdAt, t.expiresAt ?? '<never>', t.description ?? '']));
    });
}

function revokeCommand(env: CommandEnv): Command {
  return new Command('revoke')
    .description('revoke node tokens: agents using them are refused from now on')
    .argument('<id...>', 'token ids, as shown by "osctl token list"')
    .action(async (ids: string[]) => {
      const session = await env.session();
      let failed = false;
      for (const id of ids) {
        try {
          await session.client.request('DELETE', `${PATH}/${encodeURIComponent(id)}`);
          env.deps.stdout.write(`nodetoken "${id}" revoked\n`);
        } catch (err) {
          if (isFatal(err)) throw err;
          failed = true;
          env.deps.stderr.write(`${formatError(err)}\n`);
        }
      }
      if (failed) env.setExitCode(1);
    });
}

export function tokenCommand(env: CommandEnv): Command {
  const command = new Command('token').description('manage per-node agent tokens');
  for (const sub of [createCommand, listCommand, revokeCommand]) {
    // addCommand does not pass output settings down, so nested commands get them here.
    command.addCommand(
      sub(env)
        .exitOverride()
        .configureOutput({ writeOut: (s) => env.deps.stdout.write(s), writeErr: (s) => env.deps.stderr.write(s) })
        .showHelpAfterError('(run with --help for usage)'),
    );
  }
  return command;
}
