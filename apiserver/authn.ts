// The contract between the REST API and authentication (implemented in apiserver/auth.ts).
import type { Request, Response, Router } from 'express';
import { unauthorized } from './status.js';

/** Who made a request. Roles come with the authorization work; `admin` is the only one now. */
export interface Principal {
  readonly username: string;
  readonly role: string;
}

/** res.locals key of the authenticated Principal, set by the API server's authentication middleware. */
export const PRINCIPAL = 'principal';

export interface Authenticator {
  /** Routes served without authentication under /api/v1/auth (e.g. POST /api/v1/auth/login). */
  readonly routes: Router;
  /**
   * The principal of a request from its `Authorization: Bearer` header, or undefined when
   * there is none or it is invalid/expired (the API answers 401 with a Status).
   */
  authenticate(req: Request): Promise<Principal | undefined>;
}

/** The request's authenticated principal; 401 if authentication did not run (a wiring error). */
export function principalOf(res: Response): Principal {
  const principal = res.locals[PRINCIPAL] as Principal | undefined;
  if (principal === undefined) throw unauthorized();
  return principal;
}
