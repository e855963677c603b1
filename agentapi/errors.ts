// gRPC errors of the agent endpoint (the codes agent.proto promises) and the one mapping from
// anything thrown by a handler to the status the agent sees.
//
// - AgentApiError carries its code and a message for the agent (naming the field and the rule
//   for INVALID_ARGUMENT).
// - Store trouble (unavailable, closed, timeouts, a conflict that kept recurring) is UNAVAILABLE:
//   the agent retries with backoff. Anything else is INTERNAL with a generic message; the caller
//   logs the real error.
import * as grpc from '@grpc/grpc-js';
import { StoreError } from '../store/store.js';

export class AgentApiError extends Error {
  override readonly name = 'AgentApiError';
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

export const invalidArgument = (message: string): AgentApiError => new AgentApiError(grpc.status.INVALID_ARGUMENT, message);
export const unauthenticated = (message: string): AgentApiError => new AgentApiError(grpc.status.UNAUTHENTICATED, message);
export const permissionDenied = (message: string): AgentApiError => new AgentApiError(grpc.status.PERMISSION_DENIED, message);
export const notFound = (message: string): AgentApiError => new AgentApiError(grpc.status.NOT_FOUND, message);
export const outOfRange = (message: string): AgentApiError => new AgentApiError(grpc.status.OUT_OF_RANGE, message);
export const unavailable = (message: string): AgentApiError => new AgentApiError(grpc.status.UNAVAILABLE, message);

/** The status to send for `err`, and whether it is unexpected (to be logged as an error). */
export function toServiceError(err: unknown): { error: Partial<grpc.StatusObject>; unexpected: boolean } {
  if (err instanceof AgentApiError) return { error: { code: err.code, details: err.message }, unexpected: false };
  if (err instanceof StoreError) {
    return { error: { code: grpc.status.UNAVAILABLE, details: `the control plane's store is unavailable (${err.name}); retry later` }, unexpected: false };
  }
  return { error: { code: grpc.status.INTERNAL, details: 'internal error in the agent endpoint' }, unexpected: true };
}
