// Builds a ResourceKind from its schema and its semantic rules, so that every kind validates,
// defaults and reports errors the same way.
import type { ObjectLookup, ResourceKind, TableColumn } from './kind.js';
import { API_VERSION, type ApiObject, type StatusCause } from './meta.js';
import { objectMetaSchema, type JSONSchemaProps } from './schema.js';
import { applySchemaDefaults, SchemaValidator } from './schema-validator.js';
import {
  FieldErrors,
  invalid,
  notSupported,
  qualifiedNameError,
  validateAnnotations,
  validateLabelMap,
} from './validation.js';

/** A table column that can also be published as a CRD additionalPrinterColumn. */
export interface PrintColumn extends TableColumn {
  /** JSONPath of the value (simple `.a.b` form), when the cell is a plain field. */
  readonly jsonPath?: string;
}

export type PlainObject = Record<string, unknown>;

export function isPlainObject(v: unknown): v is PlainObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface KindDefinition {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly namespaced: boolean;
  /** The published schema of the whole object; `properties.metadata` is `{type: object}`. */
  readonly schema: JSONSchemaProps;
  readonly fieldSelectors: Readonly<Record<string, (obj: ApiObject) => string | undefined>>;
  readonly columns: readonly PrintColumn[];
  initialStatus?(): unknown;
  /** Defaults derived from other fields; runs before the schema defaults. `spec` is an object. */
  deriveDefaults?(spec: PlainObject): void;
  /** Rules beyond the schema for an object that passed type checks where it matters. */
  validateObject?(obj: PlainObject, errors: FieldErrors): void;
  /** Rules beyond the schema for a status object (fields under `status.`). */
  validateStatusObject?(status: PlainObject, errors: FieldErrors): void;
  admit?(obj: ApiObject, lookup: ObjectLookup): Promise<StatusCause[]>;
}

export const GROUP_NAME = 'openscheduler.io';

export function defineKind(def: KindDefinition): ResourceKind {
  const props = def.schema.properties ?? {};
  const validationSchema: JSONSchemaProps = {
    ...def.schema,
    // The status is checked separately, with the status rules (validateStatusInto).
    properties: { ...props, metadata: objectMetaSchema(def.namespaced), ...(props.status ? { status: {} } : {}) },
  };
  const objectValidator = new SchemaValidator(validationSchema);
  const statusSchema = props.status;
  const statusValidator = statusSchema ? new SchemaValidator(statusSchema) : undefined;
  const specSchema = props.spec;

  const validateStatusInto = (status: unknown, errors: FieldErrors): void => {
    if (!statusValidator) return;
    for (const c of statusValidator.validate(status, 'status')) errors.addSchema(c);
    if (isPlainObject(status)) def.validateStatusObject?.(status, errors);
  };

  const kind: ResourceKind = {
    group: GROUP_NAME,
    version: 'v1',
    kind: def.kind,
    listKind: `${def.kind}List`,
    plural: def.plural,
    singular: def.singular,
    shortNames: def.shortNames,
    namespaced: def.namespaced,
    hasStatus: statusSchema !== undefined,
    schema: def.schema as Record<string, unknown>,
    fieldSelectors: def.fieldSelectors,
    columns: def.columns,

    applyDefaults(obj: ApiObject): void {
      if (!isPlainObject(obj) || !specSchema) return;
      const holder = obj as unknown as PlainObject;
      if (holder.spec === undefined && specSchema.default !== undefined) holder.spec = structuredClone(specSchema.default);
      if (!isPlainObject(holder.spec)) return;
      def.deriveDefaults?.(holder.spec);
      applySchemaDefaults(specSchema, holder.spec);
    },

    validate(obj: unknown): StatusCause[] {
      if (!isPlainObject(obj)) return [invalid('', obj, `must be a ${def.kind} object`)];
      const errors = new FieldErrors();
      if (typeof obj.apiVersion === 'string' && obj.apiVersion !== API_VERSION) {
        errors.addSchema(notSupported('apiVersion', obj.apiVersion, [API_VERSION]));
      }
      if (typeof obj.kind === 'string' && obj.kind !== def.kind) {
        errors.addSchema(notSupported('kind', obj.kind, [def.kind]));
      }
      for (const c of objectValidator.validate(obj)) errors.addSchema(c);
      const meta = obj.metadata;
      if (isPlainObject(meta)) {
        validateLabelMap(meta.labels, 'metadata.labels', errors);
        validateAnnotations(meta.annotations, 'metadata.annotations', errors);
        if (Array.isArray(meta.finalizers)) {
          meta.finalizers.forEach((f: unknown, i) => {
            const field = `metadata.finalizers[${i}]`;
            const e = typeof f === 'string' ? qualifiedNameError(f) : undefined;
            if (e) errors.add(invalid(field, f, e));
          });
        }
      }
      def.validateObject?.(obj, errors);
      if (obj.status !== undefined) validateStatusInto(obj.status, errors);
      return errors.list();
    },

    validateStatus(status: unknown): StatusCause[] {
      const errors = new FieldErrors();
      if (!statusValidator) {
        errors.add(invalid('status', status, `${def.kind} has no status`));
      } else {
        validateStatusInto(status, errors);
      }
      return errors.list();
    },
  };
  if (def.initialStatus) kind.initialStatus = def.initialStatus.bind(def);
  if (def.admit) kind.admit = def.admit.bind(def);
  return kind;
}

/** `obj.a.b` as a string for field selectors and columns ('' when absent). */
export function fieldString(obj: unknown, ...path: string[]): string | undefined {
  let v: unknown = obj;
  for (const p of path) {
    if (!isPlainObject(v)) return undefined;
    v = v[p];
  }
  if (v === undefined || v === null) return undefined;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}
