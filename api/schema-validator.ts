// Strict ajv validation and defaulting derived from a kind's schema (api/schema.ts dialect).
// Each validator compiles its schema once, on first use; validate() never throws and answers
// one StatusCause per bad field.
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import type { StatusCause } from './meta.js';
import { PATTERN_NAMES, type JSONSchemaProps } from './schema.js';
import {
  MAX_CAUSES,
  formatValue,
  invalid,
  notSupported,
  required,
  tooLong,
  tooMany,
  unknownField,
} from './validation.js';

const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** `format: date-time`: RFC 3339, as Kubernetes timestamps. */
export function isRfc3339(s: string): boolean {
  return RFC3339_RE.test(s) && !Number.isNaN(Date.parse(s));
}

const SAFE_PATTERN = 'x-safe-pattern';
/** ajv errors resolved per validation; the answer shows at most MAX_CAUSES anyway. */
const MAX_SCHEMA_ERRORS = 4 * MAX_CAUSES;

interface SafePattern {
  pattern: string;
  maxLength?: number;
}

/**
 * The published schema as ajv needs it: objects with properties closed
 * (additionalProperties: false), int-or-string as a union type, patterns tested only on
 * strings within maxLength (so a huge string cannot make a regex crawl), annotations dropped.
 */
function toAjvSchema(s: JSONSchemaProps): SchemaObject {
  const out: SchemaObject = {};
  if (s['x-kubernetes-int-or-string']) out.type = ['integer', 'string'];
  else if (s.type) out.type = s.type;
  if (s.nullable) out.nullable = true;
  if (s.enum) out.enum = s.enum;
  if (s.format) out.format = s.format;
  if (s.pattern !== undefined) {
    const sp: SafePattern = { pattern: s.pattern };
    if (s.maxLength !== undefined) sp.maxLength = s.maxLength;
    out[SAFE_PATTERN] = sp;
  }
  for (const k of ['minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems', 'maxProperties'] as const) {
    if (s[k] !== undefined) out[k] = s[k];
  }
  if (s.required) out.required = s.required;
  if (s.properties) {
    out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, toAjvSchema(v)]));
    if (!s['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
  }
  if (s.additionalProperties) out.additionalProperties = toAjvSchema(s.additionalProperties);
  if (s.items) {
    // An over-long array gets only its maxItems error: its items are not worth checking one by one.
    if (s.maxItems !== undefined) {
      out.if = { maxItems: s.maxItems };
      out.then = { items: toAjvSchema(s.items) };
    } else {
      out.items = toAjvSchema(s.items);
    }
  }
  return out;
}

function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
  ajv.addFormat('date-time', { type: 'string', validate: isRfc3339 });
  ajv.addKeyword({
    keyword: SAFE_PATTERN,
    type: 'string',
    schemaType: 'object',
    errors: false,
    compile(sp: SafePattern) {
      const re = new RegExp(sp.pattern, 'u');
      const max = sp.maxLength ?? 65536;
      return (data: string) => data.length > max || re.test(data);
    },
  });
  return ajv;
}

interface FieldRef {
  /** Dotted field path, e.g. `spec.env[1].name`. */
  field: string;
  /** Set when the error is about one entry of a map (labels, nodeSelector): reported on the map field. */
  mapKey?: string;
  schema: JSONSchemaProps | undefined;
}

function joinField(base: string, name: string): string {
  return base === '' ? name : `${base}.${name}`;
}

/** Resolve an ajv instancePath against the published schema into a field path. */
function resolvePath(root: JSONSchemaProps, base: string, instancePath: string): FieldRef {
  const segments = instancePath === '' ? [] : instancePath.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let field = base;
  let schema: JSONSchemaProps | undefined = root;
  for (const seg of segments) {
    if (schema?.type === 'array') {
      field = `${field}[${seg}]`;
      schema = schema.items;
    } else if (schema?.properties && seg in schema.properties) {
      field = joinField(field, seg);
      schema = schema.properties[seg];
    } else if (schema?.additionalProperties) {
      return { field, mapKey: seg, schema: schema.additionalProperties };
    } else {
      field = joinField(field, seg);
      schema = undefined;
    }
  }
  return { field, schema };
}

/** Lower wins when several errors hit one field. */
const KEYWORD_PRIORITY: Readonly<Record<string, number>> = {
  type: 0,
  enum: 1,
  minLength: 2,
  [SAFE_PATTERN]: 3,
  maxLength: 4,
  format: 5,
};

function typeDetail(types: string | string[], schema: JSONSchemaProps | undefined): string {
  const list = Array.isArray(types) ? types : [types];
  if (list.includes('integer') && list.includes('string')) {
    return schema?.title === 'Quantity'
      ? 'must be an integer or a quantity string such as "500m", "0.5" or "128Mi"'
      : 'must be an integer or a string';
  }
  return `must be of type ${list.filter((t) => t !== 'null').join(' or ')}`;
}

function errorToCause(err: ErrorObject, ref: FieldRef): StatusCause {
  const { field, mapKey, schema } = ref;
  const value: unknown = err.data;
  const entry = mapKey === undefined ? '' : `value of ${formatValue(mapKey)}: `;
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'required':
      return required(joinField(field, String(params.missingProperty)));
    case 'additionalProperties':
      return unknownField(joinField(field, String(params.additionalProperty)), String(params.additionalProperty));
    case 'type':
      return invalid(field, value, entry + typeDetail(params.type as string | string[], schema));
    case 'enum':
      return notSupported(field, value, (params.allowedValues as unknown[]) ?? []);
    case SAFE_PATTERN: {
      const sp = err.schema as SafePattern;
      const name = PATTERN_NAMES[sp.pattern];
      return invalid(field, value, `${entry}must match ${sp.pattern}${name ? ` (${name})` : ''}`);
    }
    case 'minLength':
      return params.limit === 1 ? required(field) : invalid(field, value, `${entry}must be at least ${String(params.limit)} characters`);
    case 'maxLength':
      return tooLong(field, Number(params.limit));
    case 'format':
      return invalid(field, value, `${entry}must be an RFC 3339 date-time such as "2024-01-02T15:04:05Z"`);
    case 'minimum':
      return invalid(field, value, `${entry}must be greater than or equal to ${String(params.limit)}`);
    case 'maximum':
      return invalid(field, value, `${entry}must be less than or equal to ${String(params.limit)}`);
    case 'maxItems':
      return tooMany(field, Array.isArray(value) ? value.length : 0, Number(params.limit), 'items');
    case 'minItems':
      return invalid(field, value, `must have at least ${String(params.limit)} items`);
    case 'maxProperties':
      return tooMany(field, typeof value === 'object' && value ? Object.keys(value).length : 0, Number(params.limit), 'entries');
    default:
      return invalid(field, value, `${entry}${err.message ?? 'is invalid'}`);
  }
}

export class SchemaValidator {
  private compiled: ValidateFunction | undefined;

  /** `schema` is compiled once, on first use (so that importing a kind costs nothing). */
  constructor(private readonly schema: JSONSchemaProps) {}

  /** Compiles now; throws if the schema itself is malformed (a programming error). */
  compile(): ValidateFunction {
    this.compiled ??= newAjv().compile(toAjvSchema(this.schema));
    return this.compiled;
  }

  /**
   * Schema errors of `data`, one per field (the most basic error wins: type before pattern
   * before length). `base` prefixes every field path (e.g. 'status').
   */
  validate(data: unknown, base = ''): StatusCause[] {
    const validateFn = this.compile();
    if (validateFn(data)) return [];
    const best = new Map<string, { cause: StatusCause; priority: number }>();
    // More distinct fields than any answer shows are not worth resolving (bounds the work on huge input).
    for (const err of (validateFn.errors ?? []).slice(0, MAX_SCHEMA_ERRORS)) {
      if (err.keyword === 'if') continue; // the failing item below it is reported instead
      const ref = resolvePath(this.schema, base, err.instancePath);
      const cause = errorToCause(err, ref);
      const key = ref.mapKey === undefined ? cause.field : `${cause.field}\u0000${ref.mapKey}`;
      const priority = KEYWORD_PRIORITY[err.keyword] ?? 6;
      const prev = best.get(key);
      if (!prev || priority < prev.priority) best.set(key, { cause, priority });
    }
    return [...best.values()].map((b) => b.cause);
  }
}

/**
 * Fill the schema's `default`s into `value` in place, as a structural CRD does: a missing field
 * with a default gets a copy of it; defaults apply inside objects, array items and map values
 * that exist (or were just defaulted). Values of the wrong type are left for validation.
 */
export function applySchemaDefaults(schema: JSONSchemaProps, value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    if (schema.items) for (const item of value) applySchemaDefaults(schema.items, item);
    return;
  }
  const obj = value as Record<string, unknown>;
  if (schema.properties) {
    for (const [name, prop] of Object.entries(schema.properties)) {
      if (obj[name] === undefined && prop.default !== undefined) obj[name] = structuredClone(prop.default);
      if (obj[name] !== undefined) applySchemaDefaults(prop, obj[name]);
    }
  } else if (schema.additionalProperties) {
    for (const v of Object.values(obj)) applySchemaDefaults(schema.additionalProperties, v);
  }
}
