// `osctl login --server URL [--username U] [--password-stdin]`: exchanges a password for a token
// (POST /api/v1/auth/login) and writes the osctl config with mode 0600.
import { Command } from 'commander';
import { ApiClient, ApiError } from './client.js';
import { readOsctlConfig, writeOsctlConfig } from './config.js';
import { type CommandEnv, configPathOf, readCaFile } from './context.js';
import { CliError } from './errors.js';

interface LoginOptions {
  username: string;
  passwordStdin?: boolean;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

export function loginCommand(env: CommandEnv): Command {
  return new Command('login')
    .description('log in to an API server and save the token in the osctl config')
    .option('--username <name>', 'user name', 'admin')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .addHelpText('after', '\nThe server comes from --server (or the current config); --certificate-authority FILE is kept in the config.')
    .action(async (options: LoginOptions) => {
      const { deps } = env;
      const globals = env.globals();
      const path = configPathOf(deps, globals);
      const previous = await readOsctlConfig(path).catch(() => undefined);
      const server = globals.server || previous?.server;
      if (!server) throw new CliError('--server is required: the URL of the API server, e.g. https://127.0.0.1:8443');
      let url: URL;
      try {
        url = new URL(server);
      } catch {
        throw new CliError(`--server: invalid URL "${server}": expected http://HOST:PORT or https://HOST:PORT`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new CliError(`--server: invalid URL "${server}": the scheme must be http or https`);
      }
      if (!options.username) throw new CliError('--username must not be empty');
      if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname)) {
        deps.stderr.write(`warning: ${url.origin} is plain http to a non-loopback host: the password and token travel unencrypted\n`);
      }

      let password: string;
      if (options.passwordStdin) {
        password = (await deps.stdin.readAll()).split(/\r?\n/)[0] ?? '';
      } else if (deps.stdin.isTTY) {
        password = await deps.stdin.readPassword(`Password for ${options.username}: `);
      } else {
        throw new CliError('no password: stdin is not a terminal, so pass --password-stdin and pipe the password in');
      }
      if (password === '') throw new CliError('the password is empty');

      const sameServer = previous !== undefined && previous.server === url.toString().replace(/\/$/, '');
      const ca = globals.certificateAuthority
        ? await readCaFile(globals.certificateAuthority)
        : sameServer
          ? previous?.certificateAuthorityData
          : undefined;
      const insecure = globals.insecureSkipTlsVerify === true;
      const client = new ApiClient({ server, ca, insecureSkipTlsVerify: insecure });
      let token: unknown;
      try {
        const res = await client.request<{ token?: unknown }>('POST', '/api/v1/auth/login', {
          body: JSON.stringify({ username: options.username, password }),
        });
        token = res.body?.token;
      } catch (err) {
        if (err instanceof ApiError && (err.code === 401 || err.code === 403)) {
          throw new CliError(`login to ${url.origin} as ${options.username} failed (${err.reason ?? err.code}): ${err.message}`, { cause: err });
        }
        throw err;
      } finally {
        client.close();
      }
      if (typeof token !== 'string' || token === '') throw new CliError(`the server at ${url.origin} answered the login without a token`);

      await writeOsctlConfig(path, {
        server: url.toString().replace(/\/$/, ''),
        token,
        ...(ca ? { certificateAuthorityData: ca } : {}),
        ...(insecure ? { insecureSkipTlsVerify: true } : {}),
        ...(previous?.namespace ? { namespace: previous.namespace } : {}),
      });
      deps.stdout.write(`Logged in to ${url.origin} as ${options.username}; wrote ${path}\n`);
    });
}
