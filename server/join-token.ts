// The cluster join token (like k3s's): generated once into `<data-dir>/join-token` (mode 0600).
// An agent given it may Register a node that has no per-node token yet and receives one
// (RegisterResponse.node_token); it can never act for a node that already has a token.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createSecretFile, readSecretFile } from '../apiserver/secret-file.js';

export const JOIN_TOKEN_FILE = 'join-token';
export const JOIN_TOKEN_PREFIX = 'osj_';
const MIN_JOIN_TOKEN_LENGTH = 32;

/** Reads the data dir's join token, creating it first if absent. */
export async function ensureJoinToken(dataDir: string): Promise<{ token: string; path: string }> {
  const path = join(dataDir, JOIN_TOKEN_FILE);
  await createSecretFile(path, `${JOIN_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}\n`);
  const file = await readSecretFile(path);
  if (file === undefined) throw new Error(`join token file ${path} vanished while starting`);
  const token = file.data.trim();
  if (token.length < MIN_JOIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new Error(`join token file ${path} must hold one token of at least ${MIN_JOIN_TOKEN_LENGTH} characters; delete it to generate a new one`);
  }
  return { token, path };
}
