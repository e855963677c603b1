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
