// `osctl`: the client CLI's one composition root. Reads the environment ($OSCTL_CONFIG, HOME),
// argv, stdin/stdout/stderr and signals, and hands them to runOsctl (cli/osctl.ts).
// Exit codes: 0 success, 1 error; `wait`: 0 Succeeded, 1 Failed, 2 timed out; `diff`: 0 same, 1 differs, 2 error.
import { homedir } from 'node:os';
import { osctlConfigPath } from '../cli/config.js';
import { runOsctl } from '../cli/osctl.js';
import { readPassword, readStream } from '../cli/terminal.js';

async function main(): Promise<number> {
  const interrupt = new AbortController();
  const onSignal = (): void => {
    // The first signal stops long-running commands (get -w, wait) cleanly; a second one exits now.
    if (interrupt.signal.aborted) process.exit(130);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `osctl get jobs | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  let stdinText: Promise<string> | undefined;
  try {
    return await runOsctl(process.argv.slice(2), {
      configPath: osctlConfigPath(process.env, homedir()),
      stdout: { write: (s) => void process.stdout.write(s) },
      stdoutBytes: { write: (data) => void process.stdout.write(data) },
      stderr: { write: (s) => void process.stderr.write(s) },
      stdin: {
        isTTY: process.stdin.isTTY === true,
        readAll: () => (stdinText ??= readStream(process.stdin)),
        readPassword: (prompt) => readPassword(process.stdin, process.stderr, prompt),
      },
      signal: interrupt.signal,
      now: () => Date.now(),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

process.exitCode = await main();
