// Who is calling the agent endpoint: the metadata entry `authorization: Bearer <token>` names
// either a per-node token (NodeTokenRegistry: bound to one node) or the cluster's join token.
//
// Contract (agent.proto):
// - Missing, malformed, unknown, expired or revoked token -> UNAUTHENTICATED.
// - The join token (compared in constant time) is accepted by Register only; every other call
//   made with it -> PERMISSION_DENIED.
// - A node token acts only for its node: requireNode() refuses any other node name with
//   PERMISSION_DENIED (callers check every node name and job attempt a request names).
// - mTLS: when the call came over a connection whose client certificate the server verified
//   (only the case when the server requires client certificates), that certificate must name the
//   node: its subject CN or one of its DNS SANs equals the node name. A node token for another
//   node -> PERMISSION_DENIED at authentication; with the join token, Register checks the node
//   name it registers (requireCertificateFor).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type * as grpc from '@grpc/grpc-js';
import type { NodeTokenRegistry } from '../apiserver/node-tokens.js';
import { permissionDenied, unauthenticated } from './errors.js';

/** The node names a verified client certificate speaks for: its subject CN(s) and DNS SANs. */
export interface ClientCertificate {
  readonly names: readonly string[];
}

/** The caller of one request. */
export type AgentCaller =
  | { readonly kind: 'node'; readonly nodeName: string; readonly tokenId: string; readonly token: string }
  | { readonly kind: 'join'; readonly certificate?: ClientCertificate };

/** What authentication reads of a call: its metadata and its connection's TLS peer. */
export type AgentCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'metadata' | 'getAuthContext'>;

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

  /**
   * The caller named by the call's metadata; throws UNAUTHENTICATED, or PERMISSION_DENIED when
   * the verified client certificate names another node than the node token. Store errors propagate.
   */
  async authenticate(call: AgentCall): Promise<AgentCaller> {
    const token = bearerToken(call.metadata);
    const certificate = clientCertificateOf(call);
    if (this.joinTokenHash !== undefined && timingSafeEqual(sha256(token), this.joinTokenHash)) {
      return certificate === undefined ? { kind: 'join' } : { kind: 'join', certificate };
    }
    const verified = await this.nodeTokens.verify(token);
    if (verified === undefined) throw unauthenticated('the node token is unknown, expired or revoked');
    if (certificate !== undefined) requireCertificateNames(certificate, verified.nodeName, 'token');
    return { kind: 'node', nodeName: verified.nodeName, tokenId: verified.id, token };
  }

  /** Authenticates a call other than Register: only a node token will do. */
  async authenticateNode(call: AgentCall): Promise<Extract<AgentCaller, { kind: 'node' }>> {
    const caller = await this.authenticate(call);
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

/**
 * With the join token: throws PERMISSION_DENIED unless the caller's verified client certificate
 * (if any) names `nodeName`, the node being registered. A node token was checked at authentication.
 */
export function requireCertificateFor(caller: AgentCaller, nodeName: string): void {
  if (caller.kind === 'join' && caller.certificate !== undefined) requireCertificateNames(caller.certificate, nodeName, 'request');
}

function requireCertificateNames(certificate: ClientCertificate, nodeName: string, what: 'token' | 'request'): void {
  if (certificate.names.includes(nodeName)) return;
  const certified = certificate.names.length === 0 ? 'no node (it has no subject CN or DNS SAN)' : `node ${certificate.names.map((n) => `"${n}"`).join(', ')}`;
  throw permissionDenied(
    `the client certificate is for ${certified}, the ${what} for node "${nodeName}"; an agent's certificate must name its node (subject CN or a DNS SAN)`,
  );
}

/** The names of the client certificate the server verified on the call's connection; undefined without mTLS. */
export function clientCertificateOf(call: Pick<AgentCall, 'getAuthContext'>): ClientCertificate | undefined {
  const peer: PeerCertificate | undefined = call.getAuthContext().sslPeerCertificate;
  if (peer === undefined) return undefined;
  const names = new Set<string>();
  const cn: unknown = peer.subject?.CN;
  for (const name of Array.isArray(cn) ? cn : [cn]) if (typeof name === 'string' && name !== '') names.add(name);
  // subjectaltname: "DNS:a, DNS:b, IP Address:..."; entries with quoted (escaped) text never equal a node name
  for (const entry of (peer.subjectaltname ?? '').split(', ')) if (entry.startsWith('DNS:') && entry.length > 4) names.add(entry.slice(4));
  return { names: [...names] };
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
