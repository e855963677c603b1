// JSON merge patch (RFC 7386) and JSON patch (RFC 6902), on plain JSON values.
import { cloneJson, isJsonObject, jsonEqual, setOwn, type JsonObject } from './json-value.js';

/** A patch that cannot be applied. `malformed`: the patch document itself is wrong (400); else it failed (422). */
export class PatchError extends Error {
  override readonly name = 'PatchError';
  constructor(
    message: string,
    readonly malformed: boolean,
    /** The JSON pointer the failure concerns, when there is one. */
    readonly pointer?: string,
  ) {
    super(message);
  }
}

/** RFC 7386: objects merge recursively, `null` deletes, anything else replaces. Does not modify its inputs. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return cloneJson(patch);
  const result: JsonObject = {};
  if (isJsonObject(target)) for (const [k, v] of Object.entries(target)) setOwn(result, k, v);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else setOwn(result, key, applyMergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value));
  }
  return result;
}

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

/** Checks the shape of a JSON patch document; throws a malformed PatchError naming the operation. */
export function parseJsonPatch(doc: unknown): JsonPatchOperation[] {
  if (!Array.isArray(doc)) throw new PatchError('a JSON patch must be an array of operations', true);
  return doc.map((raw: unknown, i) => {
    const where = `operation [${i}]`;
    if (!isJsonObject(raw)) throw new PatchError(`${where} must be an object`, true);
    const { op, path, from } = raw;
    if (typeof op !== 'string' || !['add', 'remove', 'replace', 'move', 'copy', 'test'].includes(op)) {
      throw new PatchError(`${where}: "op" must be one of add, remove, replace, move, copy, test`, true);
    }
    if (typeof path !== 'string') throw new PatchError(`${where}: "path" must be a string`, true);
    parsePointer(path, `${where} path`);
    const operation: JsonPatchOperation = { op: op as JsonPatchOperation['op'], path };
    if (op === 'move' || op === 'copy') {
      if (typeof from !== 'string') throw new PatchError(`${where}: "from" must be a string for ${op}`, true);
      parsePointer(from, `${where} from`);
      operation.from = from;
    }
    if (op === 'add' || op === 'replace' || op === 'test') {
      if (!Object.hasOwn(raw, 'value')) throw new PatchError(`${where}: "value" is required for ${op}`, true);
      operation.value = raw.value;
    }
    return operation;
  });
}

function parsePointer(pointer: string, what: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`${what} "${pointer}" must be empty or start with "/"`, true);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~[^01]|~$/.test(token)) throw new PatchError(`${what} "${pointer}" has an invalid "~" escape`, true);
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

const ARRAY_INDEX = /^(0|[1-9]\d*)$/;

interface Location {
  container: JsonObject | unknown[];
  token: string;
}

/** The container holding the last token of `pointer` (which must exist), inside `doc`. */
function locate(doc: unknown, tokens: string[], pointer: string): Location {
  let current: unknown = doc;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(current) && ARRAY_INDEX.test(token) && Number(token) < current.length) {
      current = current[Number(token)];
    } else if (isJsonObject(current) && Object.hasOwn(current, token)) {
      current = current[token];
    } else {
      throw new PatchError(`path "${pointer}" does not exist`, false, pointer);
    }
  }
  if (!Array.isArray(current) && !isJsonObject(current)) {
    throw new PatchError(`path "${pointer}" does not exist`, false, pointer);
  }
  return { container: current, token: tokens[tokens.length - 1]! };
}

function getValue(doc: unknown, pointer: string): unknown {
  const tokens = parsePointer(pointer, 'path');
  if (tokens.length === 0) return doc;
  const { container, token } = locate(doc, tokens, pointer);
  if (Array.isArray(container)) {
    if (ARRAY_INDEX.test(token) && Number(token) < container.length) return container[Number(token)];
  } else if (Object.hasOwn(container, token)) {
    return container[token];
  }
  throw new PatchError(`path "${pointer}" does not exist`, false, pointer);
}

/** Returns the new document (the root may be replaced). */
function addValue(doc: unknown, pointer: string, value: unknown): unknown {
  const tokens = parsePointer(pointer, 'path');
  if (tokens.length === 0) return value;
  const { container, token } = locate(doc, tokens, pointer);
  if (Array.isArray(container)) {
    if (token === '-') container.push(value);
    else if (ARRAY_INDEX.test(token) && Number(token) <= container.length) container.splice(Number(token), 0, value);
    else throw new PatchError(`path "${pointer}": index out of range`, false, pointer);
  } else {
    setOwn(container, token, value);
  }
  return doc;
}

function removeValue(doc: unknown, pointer: string): unknown {
  const tokens = parsePointer(pointer, 'path');
  if (tokens.length === 0) throw new PatchError('cannot remove the whole document', false, pointer);
  const { container, token } = locate(doc, tokens, pointer);
  if (Array.isArray(container)) {
    if (!ARRAY_INDEX.test(token) || Number(token) >= container.length) {
      throw new PatchError(`path "${pointer}" does not exist`, false, pointer);
    }
    container.splice(Number(token), 1);
  } else {
    if (!Object.hasOwn(container, token)) throw new PatchError(`path "${pointer}" does not exist`, false, pointer);
    delete container[token];
  }
  return doc;
}

/** RFC 6902. Atomic: the input is not modified; any failing operation fails the whole patch. */
export function applyJsonPatch(target: unknown, operations: readonly JsonPatchOperation[]): unknown {
  let doc = cloneJson(target);
  for (const operation of operations) {
    const { op, path } = operation;
    switch (op) {
      case 'add':
        doc = addValue(doc, path, cloneJson(operation.value));
        break;
      case 'remove':
        doc = removeValue(doc, path);
        break;
      case 'replace':
        getValue(doc, path);
        doc = path === '' ? cloneJson(operation.value) : addValue(removeValue(doc, path), path, cloneJson(operation.value));
        break;
      case 'move': {
        const from = operation.from!;
        if (path !== from && path.startsWith(`${from}/`)) {
          throw new PatchError(`cannot move "${from}" into its own child "${path}"`, false, path);
        }
        const value = getValue(doc, from);
        doc = addValue(removeValue(doc, from), path, value);
        break;
      }
      case 'copy':
        doc = addValue(doc, path, cloneJson(getValue(doc, operation.from!)));
        break;
      case 'test':
        if (!jsonEqual(getValue(doc, path), operation.value)) {
          throw new PatchError(`test failed: the value at "${path}" differs`, false, path);
        }
        break;
    }
  }
  return doc;
}
