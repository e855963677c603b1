// Request body reading and parsing: JSON and YAML, a size limit, and clear 400/413/415 errors.
import type { IncomingMessage } from 'node:http';
import YAML from 'yaml';
import { ApiError, badRequest, requestEntityTooLarge, unsupportedMediaType } from './status.js';
import { formatPath, isJsonObject } from './json-value.js';

/** Bodies larger than this get 413. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;
/** YAML aliases allowed per document; a "billion laughs" document exceeds this at once. */
export const MAX_YAML_ALIASES = 100;
/** Deepest nesting of objects/arrays accepted in a body. */
export const MAX_BODY_DEPTH = 64;

export type BodyFormat = 'json' | 'yaml';

/** The media type of a request without parameters, lower-cased; undefined when absent. */
export function requestMediaType(req: IncomingMessage): string | undefined {
  const header = req.headers['content-type'];
  if (header === undefined || header.trim() === '') return undefined;
  const [type = '', ...params] = header.split(';');
  for (const param of params) {
    const [key, value] = param.split('=').map((s) => s.trim().toLowerCase());
    if (key === 'charset' && value !== undefined && !['utf-8', 'utf8', '"utf-8"'].includes(value)) {
      throw unsupportedMediaType(`unsupported charset "${value}": only utf-8 is accepted`);
    }
  }
  return type.trim().toLowerCase();
}

/** True when the request announces or carries a body. */
export function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * Reads the whole body; rejects with 413 once it exceeds `limitBytes`. The rest of an
 * oversized body is drained and discarded (not destroyed) so that the client reads the 413.
 */
export function readRawBody(req: IncomingMessage, limitBytes = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const tooLarge = (): void => {
      cleanup();
      req.resume();
      reject(requestEntityTooLarge(limitBytes));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) tooLarge();
      else chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(badRequest(`error reading the request body: ${err.message}`));
    };
    if (Number.isFinite(declared) && declared > limitBytes) {
      tooLarge();
      return;
    }
    if (req.readableEnded) {
      resolve(Buffer.alloc(0));
      return;
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** Parses a JSON body; errors name the line and column. */
export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const problem = locateJsonError(text);
    const { line, column } = lineAndColumn(text, problem.offset);
    throw badRequest(`error decoding JSON body: ${problem.message} at line ${line}, column ${column}`);
  }
  checkKeysAndDepth(value);
  return value;
}

/** Parses a single-document YAML body with a small alias budget; errors name the line and column. */
export function parseYaml(text: string): unknown {
  let value: unknown;
  try {
    const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    const first = doc.errors[0];
    if (first !== undefined) throw badRequest(`error decoding YAML body: ${first.message.split('\n')[0]}`);
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    if (err instanceof ApiError) throw err;
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw badRequest(`error decoding YAML body: ${message}`);
  }
  checkKeysAndDepth(value);
  return value;
}

export function parseBody(text: string, format: BodyFormat): unknown {
  return format === 'json' ? parseJson(text) : parseYaml(text);
}

/** Maps a media type to the format used to parse it, or throws 415 listing the accepted types. */
export function bodyFormat(mediaType: string, accepted: Readonly<Record<string, BodyFormat>>): BodyFormat {
  const format = accepted[mediaType];
  if (format === undefined) {
    throw unsupportedMediaType(
      `the body of the request was in an unknown format (${mediaType}); accepted media types include: ${Object.keys(accepted).join(', ')}`,
    );
  }
  return format;
}

/** Reads and parses a body that must be a single object. */
export async function readObjectBody(
  req: IncomingMessage,
  format: BodyFormat,
  limitBytes = MAX_BODY_BYTES,
): Promise<Record<string, unknown>> {
  const raw = await readRawBody(req, limitBytes);
  const value = parseBody(raw.toString('utf8'), format);
  if (!isJsonObject(value)) {
    throw badRequest(`the request body must be an object, not ${describeJsonType(value)}`);
  }
  return value;
}

export function describeJsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** Rejects `__proto__` keys and nesting deeper than MAX_BODY_DEPTH (iteratively, no recursion). */
function checkKeysAndDepth(root: unknown): void {
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value: root, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (path.length >= MAX_BODY_DEPTH) {
      throw badRequest(`the request body nests deeper than ${MAX_BODY_DEPTH} levels at ${formatPath(path)}`);
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => stack.push({ value: item, path: [...path, i] }));
      continue;
    }
    for (const [key, item] of Object.entries(value)) {
      if (key === '__proto__') {
        throw badRequest(`the key "__proto__" is not allowed (at ${formatPath([...path, key])})`);
      }
      stack.push({ value: item, path: [...path, key] });
    }
  }
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

type ScanResult = { end: number } | { error: number; message: string };

/** Finds the first syntax error of invalid JSON (JSON.parse does not always report where). */
export function locateJsonError(text: string): { offset: number; message: string } {
  const n = text.length;
  const stack: ('{' | '[')[] = [];
  let i = 0;
  let state: 'value' | 'valueOrClose' | 'key' | 'keyOrClose' | 'colon' | 'commaOrClose' | 'done' = 'value';
  const unexpected = (at: number): { offset: number; message: string } =>
    at >= n
      ? { offset: n, message: 'unexpected end of input' }
      : { offset: at, message: `unexpected character ${JSON.stringify(text[at])}` };
  const afterValue = (): typeof state => (stack.length === 0 ? 'done' : 'commaOrClose');

  for (;;) {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
    if (state === 'done') return i < n ? unexpected(i) : { offset: n, message: 'invalid JSON' };
    if (i >= n) return unexpected(n);
    const c = text[i];
    if ((state === 'valueOrClose' && c === ']') || (state === 'keyOrClose' && c === '}')) {
      stack.pop();
      i++;
      state = afterValue();
      continue;
    }
    if (state === 'value' || state === 'valueOrClose') {
      if (c === '{' || c === '[') {
        stack.push(c);
        i++;
        state = c === '{' ? 'keyOrClose' : 'valueOrClose';
        continue;
      }
      const scanned = scanScalar(text, i);
      if ('error' in scanned) return { offset: scanned.error, message: scanned.message };
      i = scanned.end;
      state = afterValue();
    } else if (state === 'key' || state === 'keyOrClose') {
      if (c !== '"') return { offset: i, message: `expected a quoted property name, found ${JSON.stringify(c)}` };
      const scanned = scanString(text, i);
      if ('error' in scanned) return { offset: scanned.error, message: scanned.message };
      i = scanned.end;
      state = 'colon';
    } else if (state === 'colon') {
      if (c !== ':') return { offset: i, message: `expected ':' after a property name, found ${JSON.stringify(c)}` };
      i++;
      state = 'value';
    } else {
      const open = stack[stack.length - 1];
      const close = open === '{' ? '}' : ']';
      if (c === ',') {
        i++;
        state = open === '{' ? 'key' : 'value';
      } else if (c === close) {
        stack.pop();
        i++;
        state = afterValue();
      } else {
        return { offset: i, message: `expected ',' or '${close}', found ${JSON.stringify(c)}` };
      }
    }
  }
}

function scanScalar(text: string, i: number): ScanResult {
  const c = text[i];
  if (c === '"') return scanString(text, i);
  for (const literal of ['true', 'false', 'null']) {
    if (text.startsWith(literal, i)) return { end: i + literal.length };
  }
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  number.lastIndex = i;
  if (number.test(text)) return { end: number.lastIndex };
  return { error: i, message: `unexpected character ${JSON.stringify(c)} looking for the beginning of a value` };
}

function scanString(text: string, start: number): ScanResult {
  for (let j = start + 1; j < text.length; j++) {
    const code = text.charCodeAt(j);
    if (code === 0x22) return { end: j + 1 };
    if (code < 0x20) return { error: j, message: 'control character in a string' };
    if (code === 0x5c) {
      const next = text[j + 1];
      if (next === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(j + 2, j + 6))) return { error: j, message: 'invalid \\u escape' };
        j += 5;
      } else if (next !== undefined && '"\\/bfnrt'.includes(next)) {
        j += 1;
      } else {
        return { error: j, message: 'invalid escape in a string' };
      }
    }
  }
  return { error: text.length, message: 'unterminated string' };
}
