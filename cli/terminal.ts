// Terminal input for osctl: all of stdin, and a password prompt without echo.

/** Reads a stream to its end as UTF-8. */
export async function readStream(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  input.setEncoding('utf8');
  for await (const chunk of input) text += chunk as string;
  return text;
}

/**
 * Prompts on `output` and reads one line from the TTY `input` in raw mode, echoing nothing.
 * Backspace edits; Ctrl-C and Ctrl-D reject. Restores the terminal mode in every case.
 */
export function readPassword(input: NodeJS.ReadStream, output: NodeJS.WritableStream, prompt: string): Promise<string> {
  output.write(prompt);
  return new Promise((resolve, reject) => {
    let password = '';
    const wasRaw = input.isRaw;
    const finish = (err?: Error): void => {
      input.removeListener('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(password);
    };
    const onData = (data: Buffer | string): void => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new Error('interrupted'));
        if (ch === '\u0004') return password === '' ? finish(new Error('no password entered')) : finish();
        if (ch === '\u007f' || ch === '\b') password = password.slice(0, -1);
        else password += ch;
      }
    };
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}
