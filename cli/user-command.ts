// `osctl user create|delete|passwd|list|token` and `osctl whoami`: user management through
// /api/v1/users and /api/v1/whoami (admins manage users; everyone may change their own password).
//
// Passwords never need to be on the command line: `--password-stdin` reads them from stdin, and
// on a terminal osctl prompts without echo. `user passwd` for oneself needs the current password
// too (stdin: the current one on the first line, the new one on the second); afterwards the old
// token is void, so osctl logs in again with the new password and saves the new token in the
// config when the token came from there.
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { readOsctlConfig, writeOsctlConfig } from './config.js';
import { type CommandEnv, configPathOf } from './context.js';
import { CliError, formatError } from './errors.js';
import { isFatal } from './apply-command.js';
import { TableWriter, YAML_OPTIONS } from './printers.js';
import { parseTtl } from './token-command.js';

const USERS = '/api/v1/users';
const WHOAMI = '/api/v1/whoami';
const ROLES = ['admin', 'operator', 'viewer'];
/** `osctl user token` lifetime unless --ttl says otherwise: 30 days. */
export const DEFAULT_USER_TOKEN_TTL = '720h';

interface User {
  readonly name: string;
  readonly role: string;
  readonly createdAt: string;
  readonly passwordChangedAt?: string;
}

interface WhoAmI {
  readonly username: string;
  readonly role: string;
}

const userPath = (name: string): string => `${USERS}/${encodeURIComponent(name)}`;

/** The lines of stdin (without line ends); `count` of them must be non-empty. */
async function stdinLines(env: CommandEnv, count: number, what: string): Promise<string[]> {
  const lines = (await env.deps.stdin.readAll()).split(/\r?\n/).slice(0, count);
  if (lines.length < count || lines.some((l) => l === '')) {
    throw new CliError(`--password-stdin: expected ${what} on stdin, one per line`);
  }
  return lines;
}

/** Prompts for a new password twice (no echo); throws when stdin is not a terminal or they differ. */
async function promptNewPassword(env: CommandEnv, prompt: string, flags: string): Promise<string> {
  const { stdin } = env.deps;
  if (!stdin.isTTY) throw new CliError(`no password: stdin is not a terminal, so pass ${flags}`);
  const first = await stdin.readPassword(`${prompt}: `);
  if (first === '') throw new CliError('the password is empty');
  const second = await stdin.readPassword('Retype it: ');
  if (first !== second) throw new CliError('the passwords do not match');
  return first;
}

function outputFormat(value: string | undefined): 'table' | 'json' | 'yaml' {
  if (value === undefined || value === '') return 'table';
  if (value === 'json' || value === 'yaml') return value;
  throw new CliError(`--output: unsupported format "${value}": expected json or yaml`);
}

function print(env: CommandEnv, format: 'json' | 'yaml', value: unknown): void {
  env.deps.stdout.write(format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value, YAML_OPTIONS));
}

function createCommand(env: CommandEnv): Command {
  return new Command('create')
    .description('create a user (without --password or --password-stdin, prompts on the terminal)')
    .argument('<name>', 'user name (lower-case letters, digits, "-", ".")')
    .addOption(new Option('--role <role>', 'the role').choices(ROLES).makeOptionMandatory())
    .option('--password <password>', 'the password (visible in the process list and shell history: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action(async (name: string, options: { role: string; password?: string; passwordStdin?: boolean }) => {
      if (options.password !== undefined && options.passwordStdin) throw new CliError('--password and --password-stdin are mutually exclusive');
      let password: string;
      if (options.password !== undefined) password = options.password;
      else if (options.passwordStdin) [password] = (await stdinLines(env, 1, 'the password')) as [string];
      else password = await promptNewPassword(env, `Password for ${name}`, '--password-stdin and pipe the password in');
      const session = await env.session();
      const { body } = await session.client.request<User>('POST', USERS, { body: JSON.stringify({ name, role: options.role, password }) });
      env.deps.stdout.write(`user "${body.name}" created (role ${body.role})\n`);
    });
}

function deleteCommand(env: CommandEnv): Command {
  return new Command('delete')
    .description('delete users; their tokens stop working (the last admin cannot be deleted)')
    .argument('<name...>', 'user names')
    .action(async (names: string[]) => {
      const session = await env.session();
      let failed = false;
      for (const name of names) {
        try {
          await session.client.request('DELETE', userPath(name));
          env.deps.stdout.write(`user "${name}" deleted\n`);
        } catch (err) {
          if (isFatal(err)) throw err;
          failed = true;
          env.deps.stderr.write(`${formatError(err)}\n`);
        }
      }
      if (failed) env.setExitCode(1);
    });
}

function passwdCommand(env: CommandEnv): Command {
  return new Command('passwd')
    .description("change your own password (asks for the current one), or as an admin set another user's")
    .argument('[name]', 'the user (default: yourself)')
    .option('--password-stdin', 'read the passwords from stdin: for yourself the current one, then the new one, one per line; for another user the new one')
    .action(async (name: string | undefined, options: { passwordStdin?: boolean }) => {
      const session = await env.session();
      const me = await session.client.get<WhoAmI>(WHOAMI);
      const target = name ?? me.username;
      const own = target === me.username;
      let currentPassword: string | undefined;
      let password: string;
      if (options.passwordStdin) {
        if (own) [currentPassword, password] = (await stdinLines(env, 2, 'the current password, then the new one')) as [string, string];
        else [password] = (await stdinLines(env, 1, 'the new password')) as [string];
      } else {
        if (own) {
          if (!env.deps.stdin.isTTY) throw new CliError('no password: stdin is not a terminal, so pass --password-stdin and pipe the current and the new password in, one per line');
          currentPassword = await env.deps.stdin.readPassword('Current password: ');
        }
        password = await promptNewPassword(env, `New password for ${target}`, '--password-stdin and pipe the new password in');
      }
      await session.client.request('PUT', `${userPath(target)}/password`, { body: JSON.stringify({ password, ...(own ? { currentPassword } : {}) }) });
      env.deps.stdout.write(`password of user "${target}" changed\n`);
      if (own) await renewOwnToken(env, target, password);
    });
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** After one's own password change the session's token is void: log in again and save the new token where the old one came from. */
async function renewOwnToken(env: CommandEnv, username: string, password: string): Promise<void> {
  const globals = env.globals();
  const path = configPathOf(env.deps, globals);
  const config = await readOsctlConfig(path).catch(() => undefined);
  const session = await env.session();
  const fromConfig = !globals.token && config?.token !== undefined && originOf(config.server) === session.client.server.origin;
  if (!fromConfig) {
    env.deps.stderr.write('your earlier tokens no longer work; log in again with "osctl login"\n');
    return;
  }
  const { body } = await session.client.request<{ token?: unknown }>('POST', '/api/v1/auth/login', { body: JSON.stringify({ username, password }) });
  if (typeof body?.token !== 'string' || body.token === '') throw new CliError('the server answered the login without a token; log in again with "osctl login"');
  await writeOsctlConfig(path, { ...config, token: body.token });
  env.deps.stderr.write(`logged in again with the new password; saved the new token in ${path}\n`);
}

function listCommand(env: CommandEnv): Command {
  return new Command('list')
    .description('list users and their roles')
    .option('-o, --output <format>', 'json|yaml')
    .action(async (options: { output?: string }) => {
      const format = outputFormat(options.output);
      const session = await env.session();
      const list = await session.client.get<{ items: User[] }>(USERS);
      if (format !== 'table') {
        print(env, format, list);
        return;
      }
      const table = new TableWriter(env.deps.stdout, ['NAME', 'ROLE', 'CREATED', 'PASSWORD CHANGED']);
      table.write(list.items.map((u) => [u.name, u.role, u.createdAt, u.passwordChangedAt ?? '<never>']));
    });
}

function tokenCommand(env: CommandEnv): Command {
  return new Command('token')
    .description('mint a token for a user (e.g. a viewer token for Prometheus); printed once')
    .argument('<name>', 'the user')
    .option('--ttl <duration>', 'lifetime, at most 8760h (one year)', DEFAULT_USER_TOKEN_TTL)
    .action(async (name: string, options: { ttl: string }) => {
      const ttlSeconds = parseTtl(options.ttl);
      const session = await env.session();
      const { body } = await session.client.request<{ token: string; expiresAt: string; role: string }>('POST', `${userPath(name)}/token`, {
        body: JSON.stringify({ ttlSeconds }),
      });
      // stdout holds only the token, so that `TOKEN=$(osctl user token prom)` works.
      env.deps.stdout.write(`${body.token}\n`);
      env.deps.stderr.write(`token for user "${name}" (role ${body.role}), expires ${body.expiresAt}; it is shown only this once\n`);
    });
}

export function userCommand(env: CommandEnv): Command {
  const command = new Command('user').description('manage users and passwords');
  for (const sub of [createCommand, deleteCommand, passwdCommand, listCommand, tokenCommand]) {
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

export function whoamiCommand(env: CommandEnv): Command {
  return new Command('whoami')
    .description('show the user name and role of the current credentials')
    .option('-o, --output <format>', 'json|yaml')
    .action(async (options: { output?: string }) => {
      const format = outputFormat(options.output);
      const session = await env.session();
      const me = await session.client.get<WhoAmI>(WHOAMI);
      if (format !== 'table') {
        print(env, format, me);
        return;
      }
      new TableWriter(env.deps.stdout, ['USERNAME', 'ROLE']).write([[me.username, me.role]]);
    });
}
