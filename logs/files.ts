// Small file-system helpers of the log store: whole writes, directory fsyncs, and tolerant
// listing/stat/unlink/rmdir for trees that a concurrent sweep may change.
import { open, readdir, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';

export async function writeAll(file: FileHandle, data: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await file.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

export const isErrno = (err: unknown, ...codes: string[]): boolean => codes.includes((err as NodeJS.ErrnoException | undefined)?.code ?? '');

export async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return [];
    throw err;
  }
}

export async function statIfExists(path: string): Promise<{ size: number; mtimeMs: number } | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

export async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
}

export async function removeIfEmpty(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch (err) {
    if (!isErrno(err, 'ENOTEMPTY', 'EEXIST', 'ENOENT', 'ENOTDIR')) throw err;
  }
}
