// A winston logger for tests that keeps everything it logs (JSON lines) for assertions.
import { Writable } from 'node:stream';
import winston from 'winston';

export function capturingLogger(): { logger: winston.Logger; text: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString('utf8');
      cb();
    },
  });
  const logger = winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
  return { logger, text: () => text };
}

/** Runs `fn` with console.log/console.error captured instead of printed (for scripts' main functions). */
export function quiet<T>(fn: () => T): { result: T; output: string } {
  const lines: string[] = [];
  const { log, error } = console;
  console.log = console.error = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    return { result: fn(), output: lines.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}
