// REST routes of node tokens (mounted behind the API server's authentication and authorization,
// whose policy table allows them to admins only — see authorization.ts):
//   POST   /api/v1/nodetokens        {nodeName, ttlSeconds?, description?} -> 201 with the token (shown once)
//   GET    /api/v1/nodetokens        -> {kind: NodeTokenList, items} without secrets
//   DELETE /api/v1/nodetokens/{id}   -> 200 Status Success | 404 Status
// Every answer carries `Cache-Control: no-store`.
import express, { type Request, type Router } from 'express';
import { principalOf } from './authn.js';
import { NodeTokenNotFoundError, type NodeTokenRegistry } from './node-tokens.js';
import { readObjectBody, requestMediaType } from './request-body.js';
import { badField, methodNotAllowed, notFound, unsupportedMediaType, type ResourceRef } from './status.js';
import { InvalidFieldError } from './users.js';

export const NODE_TOKENS_PATH = '/api/v1/nodetokens';
export const NODE_TOKEN_RESOURCE: ResourceRef = { group: '', plural: 'nodetokens', kind: 'NodeToken' };
const BODY_LIMIT_BYTES = 16 * 1024;
const CREATE_FIELDS = new Set(['nodeName', 'ttlSeconds', 'description']);

async function createBody(req: Request): Promise<{ nodeName: unknown; ttlSeconds: unknown; description: unknown }> {
  const mediaType = requestMediaType(req) ?? 'application/json';
  if (mediaType !== 'application/json') {
    throw unsupportedMediaType(`the body must be JSON (Content-Type: application/json), not ${mediaType}`);
  }
  const body = await readObjectBody(req, 'json', BODY_LIMIT_BYTES);
  for (const key of Object.keys(body)) {
    if (!CREATE_FIELDS.has(key)) {
      throw badField(key, `unknown field "${key}": expected nodeName, ttlSeconds, description`, 'FieldValueNotSupported');
    }
  }
  return { nodeName: body.nodeName, ttlSeconds: body.ttlSeconds, description: body.description };
}

/** The node token routes, relative to the app root. */
export function nodeTokenRoutes(registry: NodeTokenRegistry): Router {
  const router = express.Router();
  router.use(NODE_TOKENS_PATH, (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });

  router.post(NODE_TOKENS_PATH, async (req, res) => {
    const principal = principalOf(res);
    const { nodeName, ttlSeconds, description } = await createBody(req);
    if (nodeName === undefined) throw badField('nodeName', 'nodeName is required (a string)', 'FieldValueRequired');
    if (typeof nodeName !== 'string') throw badField('nodeName', 'nodeName must be a string');
    try {
      const issued = await registry.create(nodeName, {
        ttlSeconds: ttlSeconds as number | undefined,
        description: description as string | undefined,
        createdBy: principal.username,
      });
      res.status(201).json({ kind: 'NodeToken', apiVersion: 'v1', ...issued });
    } catch (err) {
      if (err instanceof InvalidFieldError) throw badField(err.field, err.message);
      throw err;
    }
  });
  router.get(NODE_TOKENS_PATH, async (_req, res) => {
    const items = await registry.list();
    res.status(200).json({ kind: 'NodeTokenList', apiVersion: 'v1', items });
  });
  router.all(NODE_TOKENS_PATH, (req) => {
    throw methodNotAllowed(req.method);
  });

  router.delete(`${NODE_TOKENS_PATH}/:id`, async (req, res) => {
    const id = String(req.params.id);
    try {
      await registry.revoke(id);
    } catch (err) {
      if (err instanceof NodeTokenNotFoundError) throw notFound(NODE_TOKEN_RESOURCE, id);
      throw err;
    }
    res.status(200).json({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      code: 200,
      details: { name: id, group: '', kind: NODE_TOKEN_RESOURCE.plural },
    });
  });
  router.all(`${NODE_TOKENS_PATH}/:id`, (req) => {
    throw methodNotAllowed(req.method);
  });
  return router;
}
