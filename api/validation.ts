// Field errors in the shape kubectl prints (`<field>: <message>`), and the value rules shared by
// every kind: names, labels, annotations, paths. Mirrors k8s.io/apimachinery/pkg/util/validation.
import type { StatusCause } from './meta.js';
import { DNS1123_LABEL, DNS1123_SUBDOMAIN } from './schema.js';

/** metav1.CauseType values used by this API. */
export type CauseReason =
  | 'FieldValueInvalid'
  | 'FieldValueRequired'
  | 'FieldValueNotSupported'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'FieldValueDuplicate'
  | 'FieldValueForbidden';

/** At most this many causes are returned for one object (the rest are summarised in one cause). */
export const MAX_CAUSES = 100;

const MAX_SHOWN_VALUE = 120;

/** A value as kubectl shows it in a cause: strings quoted, long values shortened. */
export function formatValue(value: unknown): string {
  let text: string;
  if (value === undefined) text = 'null';
  else if (typeof value === 'string') {
    text = JSON.stringify(value.length > MAX_SHOWN_VALUE ? `${value.slice(0, MAX_SHOWN_VALUE)}...` : value);
    return text;
  } else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > MAX_SHOWN_VALUE ? `${text.slice(0, MAX_SHOWN_VALUE)}...` : text;
}

export function invalid(field: string, value: unknown, detail: string): StatusCause {
  return { reason: 'FieldValueInvalid', field, message: `Invalid value: ${formatValue(value)}: ${detail}` };
}

export function required(field: string, detail?: string): StatusCause {
  return { reason: 'FieldValueRequired', field, message: detail ? `Required value: ${detail}` : 'Required value' };
}

export function notSupported(field: string, value: unknown, supported: readonly unknown[]): StatusCause {
  const list = supported.map((v) => formatValue(v)).join(', ');
  return {
    reason: 'FieldValueNotSupported',
    field,
    message: `Unsupported value: ${formatValue(value)}: supported values: ${list}`,
  };
}

/** A field the schema does not know (strict validation). */
export function unknownField(field: string, name: string): StatusCause {
  return { reason: 'FieldValueNotSupported', field, message: `Unsupported value: ${formatValue(name)}: unknown field` };
}

/** `subject` names the part that is too long when `field` is a map (e.g. `value of "team"`). */
export function tooLong(field: string, max: number, unit = 'characters', subject?: string): StatusCause {
  const what = subject ? `${subject} ` : '';
  return { reason: 'FieldValueTooLong', field, message: `Too long: ${what}may not be more than ${max} ${unit}` };
}

export function tooMany(field: string, actual: number, max: number, what = 'items'): StatusCause {
  return { reason: 'FieldValueTooMany', field, message: `Too many: ${actual}: must have at most ${max} ${what}` };
}

export function duplicate(field: string, value: unknown): StatusCause {
  return { reason: 'FieldValueDuplicate', field, message: `Duplicate value: ${formatValue(value)}` };
}

export function forbidden(field: string, detail: string): StatusCause {
  return { reason: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` };
}

/** The path of the parent field: `spec.env[1].name` -> `spec.env[1]` -> `spec.env` -> `spec` -> ''. */
export function parentField(field: string): string {
  const m = /^(.*)(\.[^.[\]]*|\[[^\]]*\])$/.exec(field);
  return m ? (m[1] ?? '') : '';
}

/**
 * Collects causes, one per bad field: a schema cause (type, enum, pattern, ...) wins over any
 * semantic cause on the same field or below it, so a value is never reported twice.
 */
export class FieldErrors {
  private readonly causes: StatusCause[] = [];
  private readonly schemaFields = new Set<string>();
  private readonly seen = new Set<string>();
  private dropped = 0;

  /** Add a cause found by schema validation. */
  addSchema(cause: StatusCause): void {
    this.schemaFields.add(cause.field);
    this.push(cause);
  }

  /** Add a semantic cause unless the field (or a parent) already has a schema cause. */
  add(cause: StatusCause): void {
    if (this.hasSchemaError(cause.field)) return;
    this.push(cause);
  }

  /** True when the field or one of its parents failed schema validation (its value cannot be trusted). */
  hasSchemaError(field: string): boolean {
    for (let f = field; ; f = parentField(f)) {
      if (this.schemaFields.has(f)) return true;
      if (f === '') return false;
    }
  }

  get size(): number {
    return this.causes.length;
  }

  list(): StatusCause[] {
    if (this.dropped === 0) return [...this.causes];
    return [
      ...this.causes,
      { reason: 'FieldValueTooMany', field: '', message: `Too many errors: only the first ${MAX_CAUSES} are shown` },
    ];
  }

  private push(cause: StatusCause): void {
    const key = `${cause.field}\u0000${cause.message}`;
    if (this.seen.has(key)) return;
    if (this.causes.length >= MAX_CAUSES) {
      this.dropped++;
      return;
    }
    this.seen.add(key);
    this.causes.push(cause);
  }
}

// ---- value rules ---------------------------------------------------------------------------

const DNS1123_LABEL_RE = new RegExp(DNS1123_LABEL);
const DNS1123_SUBDOMAIN_RE = new RegExp(DNS1123_SUBDOMAIN);
const QUALIFIED_NAME_PART_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE_RE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL_RE.test(s);
}

export function isDns1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN_RE.test(s);
}

/**
 * Checks a qualified name (`[prefix/]name`, as label and annotation keys and finalizers).
 * Returns the broken rule, or undefined when valid.
 */
export function qualifiedNameError(key: string): string | undefined {
  if (key.length > 253 + 1 + 63) return 'must be no more than 317 characters ([prefix/]name)';
  const parts = key.split('/');
  let name = key;
  if (parts.length > 2) return 'a qualified name must be a name with an optional DNS subdomain prefix and "/" (e.g. "example.com/MyName")';
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    name = parts[1] ?? '';
    if (prefix.length === 0) return 'prefix part must be non-empty';
    if (!isDns1123Subdomain(prefix)) {
      return `prefix part must be a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', at most 253 characters, matching ${DNS1123_SUBDOMAIN})`;
    }
  }
  if (name.length === 0) return 'name part must be non-empty';
  if (name.length > 63) return 'name part must be no more than 63 characters';
  if (!QUALIFIED_NAME_PART_RE.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  }
  return undefined;
}

/** Label values (and nodeSelector values): Kubernetes' label-value characters, at most this long. */
export const MAX_LABEL_VALUE_LENGTH = 2048;
/** Labels, annotations and nodeSelector entries: at most this many each. */
export const MAX_METADATA_ENTRIES = 100;
/** Annotation values: at most this long, except under TOOL_ANNOTATION_PREFIXES. */
export const MAX_ANNOTATION_VALUE_LENGTH = 2048;
/** All annotations of an object together (keys + values, UTF-8 bytes), as Kubernetes. */
export const MAX_ANNOTATIONS_TOTAL_BYTES = 256 * 1024;
/**
 * Annotation key prefixes owned by tools that store whole documents in an annotation (kubectl's
 * `kubectl.kubernetes.io/last-applied-configuration`, and our own tools under openscheduler.io).
 * Their values are bounded only by MAX_ANNOTATIONS_TOTAL_BYTES.
 */
export const TOOL_ANNOTATION_PREFIXES: readonly string[] = ['kubectl.kubernetes.io', 'openscheduler.io'];

/** Label values: at most MAX_LABEL_VALUE_LENGTH characters of Kubernetes' label-value alphabet. */
export function labelValueError(value: string): string | undefined {
  if (value.length > MAX_LABEL_VALUE_LENGTH) return `must be no more than ${MAX_LABEL_VALUE_LENGTH} characters`;
  if (!LABEL_VALUE_RE.test(value)) {
    return "a valid label value must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
  }
  return undefined;
}

function isStringMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Labels or a nodeSelector: entry count, qualified-name keys, label values. `what` names the entries. */
export function validateLabelMap(map: unknown, field: string, errors: FieldErrors, what = 'labels'): void {
  if (!isStringMap(map) || errors.hasSchemaError(field)) return;
  const entries = Object.entries(map);
  if (entries.length > MAX_METADATA_ENTRIES) {
    errors.add(tooMany(field, entries.length, MAX_METADATA_ENTRIES, what));
    return;
  }
  for (const [key, value] of entries) {
    const keyError = qualifiedNameError(key);
    if (keyError) errors.add(invalid(field, key, keyError));
    if (typeof value !== 'string') continue;
    if (value.length > MAX_LABEL_VALUE_LENGTH) {
      errors.add(tooLong(field, MAX_LABEL_VALUE_LENGTH, 'characters', `value of ${formatValue(key)}`));
      continue;
    }
    const valueError = labelValueError(value);
    if (valueError) errors.add(invalid(field, value, `value of ${formatValue(key)}: ${valueError}`));
  }
}

function isToolAnnotation(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return false;
  const prefix = key.slice(0, slash);
  return TOOL_ANNOTATION_PREFIXES.some((p) => prefix === p || prefix.endsWith(`.${p}`));
}

/**
 * Annotations: at most 100 entries with qualified-name keys; each value at most 2048 characters
 * except under TOOL_ANNOTATION_PREFIXES; all keys and values together at most 256 KiB.
 */
export function validateAnnotations(map: unknown, field: string, errors: FieldErrors): void {
  if (!isStringMap(map) || errors.hasSchemaError(field)) return;
  const entries = Object.entries(map);
  if (entries.length > MAX_METADATA_ENTRIES) {
    errors.add(tooMany(field, entries.length, MAX_METADATA_ENTRIES, 'annotations'));
    return;
  }
  let total = 0;
  for (const [key, value] of entries) {
    const keyError = qualifiedNameError(key);
    if (keyError) errors.add(invalid(field, key, keyError));
    if (typeof value !== 'string') continue;
    total += Buffer.byteLength(key) + Buffer.byteLength(value);
    if (value.length > MAX_ANNOTATION_VALUE_LENGTH && !isToolAnnotation(key)) {
      errors.add(tooLong(field, MAX_ANNOTATION_VALUE_LENGTH, 'characters', `value of ${formatValue(key)}`));
    }
  }
  if (total > MAX_ANNOTATIONS_TOTAL_BYTES) {
    errors.add(tooLong(field, MAX_ANNOTATIONS_TOTAL_BYTES, 'bytes (keys and values of all annotations together)'));
  }
}

export function hasNul(s: string): boolean {
  return s.includes('\u0000');
}

/** A string that must not contain NUL (argv, env values). */
export function validateNoNul(value: unknown, field: string, errors: FieldErrors): void {
  if (typeof value === 'string' && hasNul(value)) errors.add(invalid(field, value, 'must not contain NUL characters'));
}

/** An absolute path without `..` segments and without NUL. Returns the broken rule or undefined. */
export function absolutePathError(path: string): string | undefined {
  if (hasNul(path)) return 'must not contain NUL characters';
  if (!path.startsWith('/')) return 'must be an absolute path';
  if (path.split('/').includes('..')) return "must not contain '..' segments";
  return undefined;
}
