// Fuzzing support derived from the served OpenAPI v2 document (GET /openapi/v2): fast-check
// arbitraries of schema-valid values, single-field mutations of them, and an ajv validator of
// response bodies against the document's definitions. Nothing here knows a field by name: every
// rule comes from the document. Schema semantics follow api/schema.ts (a structural schema):
// an object with `properties` is closed, `format: int-or-string` is an integer or a string.
import { Ajv, type SchemaObject, type ValidateFunction } from 'ajv';
import fc from 'fast-check';

/** One schema node of the document (Swagger 2.0 JSON schema subset). */
export type SchemaNode = Readonly<Record<string, unknown>>;

export interface OpenApiDocument {
  readonly swagger: string;
  readonly paths: Readonly<Record<string, unknown>>;
  readonly definitions: Readonly<Record<string, SchemaNode>>;
}

/** A path into a JSON value: property names and array indexes. */
export type ValuePath = readonly (string | number)[];

/** `spec.env[2].name`: the field-path notation of Status causes (api/meta.ts StatusCause). */
export function fieldPath(path: ValuePath): string {
  return path.reduce<string>(
    (out, seg) => (typeof seg === 'number' ? `${out}[${seg}]` : out === '' ? seg : `${out}.${seg}`),
    '',
  );
}

/** Follows `$ref: #/definitions/NAME` (only local references occur in the document). */
export function resolveRef(doc: OpenApiDocument, node: SchemaNode): SchemaNode {
  const ref = node.$ref;
  if (typeof ref !== 'string') return node;
  const name = ref.replace(/^#\/definitions\//, '');
  const target = doc.definitions[name];
  if (target === undefined) throw new Error(`$ref ${ref}: no such definition in the OpenAPI document`);
  return target;
}

const props = (node: SchemaNode): Readonly<Record<string, SchemaNode>> | undefined =>
  node.properties as Readonly<Record<string, SchemaNode>> | undefined;
const requiredOf = (node: SchemaNode): readonly string[] => (node.required as string[] | undefined) ?? [];
const num = (node: SchemaNode, key: string): number | undefined =>
  typeof node[key] === 'number' ? (node[key] as number) : undefined;
const isIntOrString = (node: SchemaNode): boolean => node.format === 'int-or-string';
/** A closed object: declares its properties and does not preserve unknown fields. */
export const isClosedObject = (node: SchemaNode): boolean =>
  node.type === 'object' && props(node) !== undefined && node['x-kubernetes-preserve-unknown-fields'] !== true;

/** The schema node at `path` below `root` (undefined where the document does not describe the value). */
export function schemaAt(doc: OpenApiDocument, root: SchemaNode, path: ValuePath): SchemaNode | undefined {
  let node: SchemaNode | undefined = resolveRef(doc, root);
  for (const seg of path) {
    if (node === undefined) return undefined;
    if (typeof seg === 'number') node = node.items as SchemaNode | undefined;
    else node = props(node)?.[seg] ?? (node.additionalProperties as SchemaNode | undefined);
    if (node !== undefined) node = resolveRef(doc, node);
  }
  return node;
}

export interface ValueLimits {
  /** Upper bound of generated array lengths and map sizes (schemas allow far more). */
  readonly maxItems: number;
  /** Upper bound of generated free-text string lengths. */
  readonly maxStringLength: number;
}

const DEFAULT_LIMITS: ValueLimits = { maxItems: 3, maxStringLength: 24 };

/** Free text: ASCII mostly, full Unicode graphemes sometimes. */
function textArbitrary(minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ minLength, maxLength, unit: 'grapheme-ascii' }) },
    { weight: 1, arbitrary: fc.string({ minLength, maxLength, unit: 'grapheme' }) },
  ).filter((s) => s.length >= minLength && s.length <= maxLength);
}

/** Values that satisfy the schema node as the document states it (types, enums, patterns, bounds). */
export function schemaValueArbitrary(
  doc: OpenApiDocument,
  schema: SchemaNode,
  limits: ValueLimits = DEFAULT_LIMITS,
): fc.Arbitrary<unknown> {
  const node = resolveRef(doc, schema);
  if (Array.isArray(node.enum)) return fc.constantFrom(...(node.enum as unknown[]));
  switch (node.type) {
    case 'object': {
      const properties = props(node);
      if (properties !== undefined) {
        const model = Object.fromEntries(
          Object.entries(properties).map(([k, v]) => [k, schemaValueArbitrary(doc, v, limits)]),
        );
        return fc.record(model, { requiredKeys: [...requiredOf(node)] });
      }
      const values = node.additionalProperties as SchemaNode | undefined;
      if (values !== undefined) {
        return fc.dictionary(textArbitrary(1, 12), schemaValueArbitrary(doc, values, limits), {
          maxKeys: Math.min(num(node, 'maxProperties') ?? limits.maxItems, limits.maxItems),
        });
      }
      if (node['x-kubernetes-preserve-unknown-fields'] === true) {
        return fc.dictionary(textArbitrary(1, 12), fc.jsonValue({ maxDepth: 2 }), { maxKeys: limits.maxItems });
      }
      return fc.constant({});
    }
    case 'array': {
      const items = node.items as SchemaNode | undefined;
      const max = Math.min(num(node, 'maxItems') ?? limits.maxItems, limits.maxItems);
      return fc.array(items === undefined ? fc.jsonValue({ maxDepth: 1 }) : schemaValueArbitrary(doc, items, limits), {
        minLength: num(node, 'minItems') ?? 0,
        maxLength: max,
      });
    }
    case 'string': {
      const minLength = num(node, 'minLength') ?? 0;
      const maxLength = num(node, 'maxLength') ?? Number.MAX_SAFE_INTEGER;
      if (isIntOrString(node)) return fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), textArbitrary(0, Math.min(maxLength, limits.maxStringLength)));
      if (node.format === 'date-time') {
        return fc
          .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2999-12-31T23:59:59Z'), noInvalidDate: true })
          .map((d) => d.toISOString());
      }
      if (typeof node.pattern === 'string') {
        return fc
          .stringMatching(new RegExp(node.pattern))
          .filter((s) => s.length >= minLength && s.length <= maxLength);
      }
      return textArbitrary(minLength, Math.min(maxLength, Math.max(minLength, limits.maxStringLength)));
    }
    case 'integer':
      return fc.integer({ min: num(node, 'minimum') ?? -1_000_000_000, max: num(node, 'maximum') ?? 1_000_000_000 });
    case 'number':
      return fc.double({
        min: num(node, 'minimum') ?? -1e9,
        max: num(node, 'maximum') ?? 1e9,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case 'boolean':
      return fc.boolean();
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

// ---- single-field mutations ----------------------------------------------------------------

export const MUTATION_KINDS = [
  'wrongType',
  'belowMinimum',
  'aboveMaximum',
  'tooLong',
  'unknownField',
  'missingRequired',
  'null',
  'hugeString',
  'deepNesting',
  'unicode',
] as const;
export type MutationKind = (typeof MUTATION_KINDS)[number];

/** Whether the server must refuse the mutated value, by the document's rules. */
export type Expectation = 'reject' | 'either';

export interface Mutation {
  readonly kind: MutationKind;
  /** The path of the field that was changed (for missingRequired/unknownField: the key itself). */
  readonly path: ValuePath;
  readonly expect: Expectation;
  /** When `expect` is reject: the field path the error must name. */
  readonly field: string;
}

/** A value slot of a generated value together with the schema node describing it. */
interface Slot {
  readonly path: ValuePath;
  readonly schema: SchemaNode;
  readonly value: unknown;
}

function slotsOf(doc: OpenApiDocument, schema: SchemaNode, value: unknown, path: ValuePath = []): Slot[] {
  const node = resolveRef(doc, schema);
  const out: Slot[] = [{ path, schema: node, value }];
  if (Array.isArray(value) && node.items !== undefined) {
    value.forEach((item, i) => out.push(...slotsOf(doc, node.items as SchemaNode, item, [...path, i])));
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const properties = props(node);
    for (const [k, v] of Object.entries(value)) {
      const child = properties?.[k] ?? (node.additionalProperties as SchemaNode | undefined);
      if (child !== undefined) out.push(...slotsOf(doc, child, v, [...path, k]));
    }
  }
  return out;
}

/** Deep copy of `value` with `path` set to `replacement` (or removed when replacement is REMOVE). */
const REMOVE = Symbol('remove');
function setAt(value: unknown, path: ValuePath, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  if (Array.isArray(value)) {
    const copy = [...(value as unknown[])];
    copy[head as number] = setAt(copy[head as number], rest, replacement);
    return copy;
  }
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  if (rest.length === 0 && replacement === REMOVE) delete copy[head as string];
  else copy[head as string] = setAt(copy[head as string], rest, replacement);
  return copy;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** A value whose JSON type the node does not allow (undefined when every type is allowed). */
function wrongTypeValue(node: SchemaNode, pick: number): unknown {
  const allowed = new Set<string>();
  if (isIntOrString(node)) ['integer', 'string'].forEach((t) => allowed.add(t));
  else if (node.type === 'number') ['integer', 'number'].forEach((t) => allowed.add(t));
  else if (typeof node.type === 'string') allowed.add(node.type);
  else return undefined;
  const candidates = [
    'fuzz-string',
    12345,
    1.5,
    true,
    [1, 'two'],
    { fuzz: 'object' },
  ].filter((c) => !allowed.has(jsonType(c)));
  return candidates[pick % candidates.length];
}

/** Nested arrays `levels` deep. */
export function nestedArrays(levels: number): unknown {
  let v: unknown = 'deep';
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

/**
 * One mutation of `value` (valid for `schema`): picks a slot and a mutation kind that applies
 * to it. `pick`/`slot` choose deterministically, so fast-check shrinks them like any number.
 * `unicode` is the replacement string for the unicode mutation.
 */
export function mutate(
  doc: OpenApiDocument,
  schema: SchemaNode,
  value: unknown,
  choice: { readonly kind: MutationKind; readonly slot: number; readonly pick: number; readonly unicode: string },
): { readonly value: unknown; readonly mutation: Mutation } | undefined {
  const slots = slotsOf(doc, schema, value).filter((s) => s.path.length > 0);
  const applicable = slots.filter((s) => applies(choice.kind, s));
  if (applicable.length === 0) return undefined;
  const slot = applicable[choice.slot % applicable.length]!;
  const node = slot.schema;
  const at = (replacement: unknown, expect: Expectation, path: ValuePath = slot.path) => ({
    value: setAt(value, path, replacement),
    mutation: { kind: choice.kind, path, expect, field: fieldPath(path) },
  });
  switch (choice.kind) {
    case 'wrongType':
      return at(wrongTypeValue(node, choice.pick), 'reject');
    case 'belowMinimum':
      return at(num(node, 'minimum')! - (node.type === 'integer' ? 1 : 0.5), 'reject');
    case 'aboveMaximum':
      return at(num(node, 'maximum')! + (node.type === 'integer' ? 1 : 0.5), 'reject');
    case 'tooLong':
      if (node.type === 'array') {
        const items = Array.isArray(slot.value) && slot.value.length > 0 ? slot.value : [];
        const n = num(node, 'maxItems')! + 1;
        // Copies, not one shared item: a YAML rendering must not turn repeats into aliases.
        return at(Array.from({ length: n }, (_, i) => structuredClone(items[i % Math.max(items.length, 1)] ?? null)), 'reject');
      }
      return at('a'.repeat(num(node, 'maxLength')! + 1), 'reject');
    case 'unknownField': {
      const key = `fuzzUnknown${choice.pick % 100}`;
      const path = [...slot.path, key];
      return { value: setAt(value, path, 'x'), mutation: { kind: choice.kind, path, expect: 'reject', field: fieldPath(path) } };
    }
    case 'missingRequired': {
      const present = requiredOf(node).filter((k) => Object.hasOwn(slot.value as object, k));
      const key = present[choice.pick % present.length]!;
      const path = [...slot.path, key];
      return { value: setAt(value, path, REMOVE), mutation: { kind: choice.kind, path, expect: 'reject', field: fieldPath(path) } };
    }
    case 'null':
      return at(null, 'either');
    case 'hugeString': {
      const size = [70_000, 300_000, 1_000_000][choice.pick % 3]!;
      const max = num(node, 'maxLength');
      return at('é'.repeat(size), max !== undefined && max < size ? 'reject' : 'either');
    }
    case 'deepNesting':
      // Bodies nest at most 64 levels (apiserver/request-body.ts); this is deeper from any slot.
      return at(nestedArrays(80), 'reject');
    case 'unicode':
      return at(choice.unicode, 'either');
  }
}

function applies(kind: MutationKind, slot: Slot): boolean {
  const node = slot.schema;
  switch (kind) {
    case 'wrongType':
      return typeof node.type === 'string' && !Array.isArray(node.enum);
    case 'belowMinimum':
      return num(node, 'minimum') !== undefined;
    case 'aboveMaximum':
      return num(node, 'maximum') !== undefined;
    case 'tooLong':
      return (
        (node.type === 'array' && num(node, 'maxItems') !== undefined) ||
        (node.type === 'string' && num(node, 'maxLength') !== undefined && !isIntOrString(node))
      );
    case 'unknownField':
      return isClosedObject(node) && slot.value !== null && typeof slot.value === 'object' && !Array.isArray(slot.value);
    case 'missingRequired':
      return (
        slot.value !== null &&
        typeof slot.value === 'object' &&
        requiredOf(node).some((k) => Object.hasOwn(slot.value as object, k))
      );
    case 'null':
    case 'deepNesting':
      return true;
    case 'hugeString':
    case 'unicode':
      return typeof slot.value === 'string';
  }
}

/** A JSON merge patch (RFC 7386) that turns `current` into `target`: null for every key `target` lacks. */
export function mergePatchTo(current: unknown, target: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(target) || !isObject(current)) return target;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(current)) if (!Object.hasOwn(target, key)) out[key] = null;
  for (const [key, value] of Object.entries(target)) out[key] = mergePatchTo(current[key], value);
  return out;
}

/**
 * The first difference between what was sent and what the server answered, or undefined:
 * everything `sent` has must be in `got` unchanged, and every key of `got` that `sent` lacks
 * must be one the document declares a default for (`default`, or a description saying it is
 * defaulted) — unless `extraAllowed` (server-side apply keeps fields other managers own).
 */
export function differenceBeyondDefaults(
  doc: OpenApiDocument,
  schema: SchemaNode,
  sent: unknown,
  got: unknown,
  extraAllowed = false,
  path: ValuePath = [],
): string | undefined {
  const node = resolveRef(doc, schema);
  const here = fieldPath(path) || '<root>';
  if (sent === null || typeof sent !== 'object') {
    return Object.is(JSON.stringify(sent), JSON.stringify(got)) ? undefined : `${here}: sent ${JSON.stringify(sent)}, got ${JSON.stringify(got)}`;
  }
  if (Array.isArray(sent)) {
    if (!Array.isArray(got) || got.length !== sent.length) return `${here}: sent ${sent.length} items, got ${JSON.stringify(got)}`;
    for (let i = 0; i < sent.length; i++) {
      const d = differenceBeyondDefaults(doc, (node.items as SchemaNode | undefined) ?? {}, sent[i], got[i], extraAllowed, [...path, i]);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (got === null || typeof got !== 'object' || Array.isArray(got)) return `${here}: sent an object, got ${JSON.stringify(got)}`;
  const properties = props(node);
  const gotObj = got as Record<string, unknown>;
  for (const [k, v] of Object.entries(sent)) {
    if (!Object.hasOwn(gotObj, k)) return `${fieldPath([...path, k])}: sent ${JSON.stringify(v)}, missing in the answer`;
    const child = properties?.[k] ?? (node.additionalProperties as SchemaNode | undefined) ?? {};
    const d = differenceBeyondDefaults(doc, child, v, gotObj[k], extraAllowed, [...path, k]);
    if (d !== undefined) return d;
  }
  for (const k of Object.keys(gotObj)) {
    if (Object.hasOwn(sent, k) || extraAllowed) continue;
    const child = properties?.[k];
    if (child === undefined || !declaresDefault(child)) {
      return `${fieldPath([...path, k])}: not sent, not defaulted by the document, but answered ${JSON.stringify(gotObj[k])}`;
    }
    // A declared default must be what was filled in; a default described in words is only checked to exist.
    if (child.default === undefined) continue;
    const d = differenceBeyondDefaults(doc, child, child.default, gotObj[k], false, [...path, k]);
    if (d !== undefined) return d;
  }
  return undefined;
}

function declaresDefault(node: SchemaNode): boolean {
  return node.default !== undefined || /\bdefault(ed|s)?\b/i.test(String(node.description ?? ''));
}

// ---- response validation -------------------------------------------------------------------

/** The document's definitions as ajv validates them: closed objects, int-or-string unions. */
function toAjv(node: SchemaNode): SchemaObject {
  const out: SchemaObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-') || ['description', 'title', 'default'].includes(key)) continue;
    if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value as Record<string, SchemaNode>).map(([k, v]) => [k, toAjv(v)]));
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = toAjv(value as SchemaNode);
    } else if (key === 'format' && value === 'int-or-string') {
      out.type = ['integer', 'string'];
    } else if (key === 'type' && isIntOrString(node)) {
      continue;
    } else {
      out[key] = value;
    }
  }
  if (isClosedObject(node) && node.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

export class ResponseValidator {
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly ajv: Ajv;

  constructor(readonly doc: OpenApiDocument) {
    this.ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true });
    this.ajv.addFormat('date-time', { type: 'string', validate: (s: string) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)) });
    const definitions = Object.fromEntries(Object.entries(doc.definitions).map(([k, v]) => [k, toAjv(v)]));
    this.ajv.addSchema({ $id: 'openapi', definitions });
  }

  /** ajv errors of `value` against definition `name` (empty when valid). */
  errors(name: string, value: unknown): string[] {
    if (this.doc.definitions[name] === undefined) return [`the document has no definition ${name}`];
    let validate = this.compiled.get(name);
    if (validate === undefined) {
      validate = this.ajv.compile({ $ref: `openapi#/definitions/${name}` });
      this.compiled.set(name, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
  }
}
