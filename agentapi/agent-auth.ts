// Who is calling the agent endpoint: the metadata entry `authorization: Bearer <token>` names
// either a per-node token (NodeTokenRegistry: bound to one node) or the cluster's join token.
//
// Contract (agent.proto):
// - Missing, malformed, unknown, expired or revoked token -> UNAUTHENTICATED.
// - The join token (compared in constant time) is accepted by Register only; every other call
//   made with it -> PERMISSION_DENIED.
// - A node token acts only for its node: requireNode() refuses any other node name with
//   PERMISSION_DENIED (callers check every node name and job attempt a request names).
import { createHash, timingSafeEqual } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { NodeTokenRegistry } from '../apiserver/node-tokens.js';
import { permissionDenied, unauthenticated } from './errors.js';

/** The caller of one request. */
export type AgentCaller =
  | { readonly kind: 'node'; readonly nodeName: string; readonly tokenId: string; readonly token: string }
  | { readonly kind: 'join' };

/** The longest authorization value looked at (tokens are far shorter). */
const MAX_AUTHORIZATION_LENGTH = 1024;

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export class AgentAuthenticator {
  private readonly joinTokenHash: Buffer | undefined;

  constructor(
    private readonly nodeTokens: NodeTokenRegistry,
    joinToken?: string,
  ) {
    if (joinToken !== undefined && (typeof joinToken !== 'string' || joinToken.length < 16)) {
      throw new RangeError('AgentAuthenticator: option joinToken must be a string of at least 16 characters');
    }
    this.joinTokenHash = joinToken === undefined ? undefined : sha256(joinToken);
  }

  /** The caller named by the call's metadata; throws UNAUTHENTICATED. Store errors propagate. */
  async authenticate(metadata: grpc.Metadata): Promise<AgentCaller> {
    const token = bearerToken(metadata);
    if (this.joinTokenHash !== undefined && timingSafeEqual(sha256(token), this.joinTokenHash)) return { kind: 'join' };
    const verified = await this.nodeTokens.verify(token);
    if (verified === undefined) throw unauthenticated('the node token is unknown, expired or revoked');
    return { kind: 'node', nodeName: verified.nodeName, tokenId: verified.id, token };
  }

  /** Authenticates a call other than Register: only a node token will do. */
  async authenticateNode(metadata: grpc.Metadata): Promise<Extract<AgentCaller, { kind: 'node' }>> {
    const caller = await this.authenticate(metadata);
    if (caller.kind === 'join') {
      throw permissionDenied('the join token is accepted by Register only; use the node token that Register returned');
    }
    return caller;
  }

  /** True while the caller's node token still verifies for the same node (for long-lived streams). */
  async stillValid(caller: Extract<AgentCaller, { kind: 'node' }>): Promise<boolean> {
    const verified = await this.nodeTokens.verify(caller.token);
    return verified !== undefined && verified.nodeName === caller.nodeName;
  }
}

/** Throws PERMISSION_DENIED unless `nodeName` (from request field `field`) is the caller's node. */
export function requireNode(caller: Extract<AgentCaller, { kind: 'node' }>, nodeName: string, field = 'node_name'): void {
  if (nodeName !== caller.nodeName) {
    throw permissionDenied(`${field} "${nodeName}" is not the node this token was issued for; a token acts only for its own node`);
  }
}

function bearerToken(metadata: grpc.Metadata): string {
  const values = metadata.get('authorization');
  if (values.length === 0) throw unauthenticated("missing metadata 'authorization: Bearer <token>'");
  if (values.length > 1) throw unauthenticated("metadata 'authorization' must be given once");
  const value = values[0];
  if (typeof value !== 'string' || value.length > MAX_AUTHORIZATION_LENGTH) {
    throw unauthenticated("metadata 'authorization' must be 'Bearer <token>'");
  }
  const match = /^Bearer +(\S+) *$/i.exec(value);
  if (!match?.[1]) throw unauthenticated("metadata 'authorization' must be 'Bearer <token>'");
  return match[1];
}
