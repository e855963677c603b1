// Files holding secrets (JWT secret, admin password, private keys): mode 0600, written
// atomically so that a reader (or a racing server on the same data dir) never sees a partial file.
import { randomBytes } from 'node:crypto';
import { chmod, link, open, readFile, rename, stat, unlink } from 'node:fs/promises';

async function writeTemp(path: string, data: string | Uint8Array, mode = 0o600): Promise<string> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(tmp, mode); // exact mode, whatever the umask
  return tmp;
}

/** Replaces `path` with `data` atomically, with mode 0600 unless told otherwise (e.g. 0644 for a certificate). */
export async function writeSecretFile(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = await writeTemp(path, data, mode);
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Creates `path` with `data` (mode 0600) unless it exists. Returns true when this call created
 * it, false when the file was already there (its content is left alone).
 */
export async function createSecretFile(path: string, data: string | Uint8Array): Promise<boolean> {
  const tmp = await writeTemp(path, data);
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

export interface SecretFileContent {
  readonly data: string;
  /** Permission bits (e.g. 0o600). */
  readonly mode: number;
}

/** Reads a secret file as UTF-8; undefined when it does not exist. */
export async function readSecretFile(path: string): Promise<SecretFileContent | undefined> {
  try {
    const [data, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { data, mode: info.mode & 0o777 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
