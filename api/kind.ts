// The description of one API kind: everything the API server, the CLI and codegen need,
// so that handlers are written once for every kind.
import type { ApiObject, StatusCause } from './meta.js';

/** Looks up another object of the same kind during admission (undefined if absent). */
export type ObjectLookup = (namespace: string | undefined, name: string) => Promise<ApiObject | undefined>;

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'date' | 'number';
  description: string;
  /** 0: default columns; 1: only with `-o wide`. */
  priority: 0 | 1;
  /** The cell for an object (dates are pre-formatted by the caller from an RFC 3339 value). */
  cell(obj: ApiObject): string | number;
}

export interface ResourceKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string; // 'Job'
  readonly listKind: string; // 'JobList'
  readonly plural: string; // 'jobs'
  readonly singular: string; // 'job'
  readonly shortNames: readonly string[];
  readonly namespaced: boolean;
  /** Whether the kind has a status subresource (status is written only through /status). */
  readonly hasStatus: boolean;

  /** The published JSON schema of the whole object (OpenAPI v3 subset, as in a CRD). */
  readonly schema: Record<string, unknown>;

  /** The status a new object starts with (status is otherwise written only through /status). */
  initialStatus?(): unknown;

  /** Fill defaults in place (spec only; metadata is the server's business). */
  applyDefaults(obj: ApiObject): void;

  /**
   * Validate a whole object after defaulting: schema (strict, unknown fields rejected)
   * plus every semantic rule. One cause per bad field; empty when valid.
   */
  validate(obj: unknown): StatusCause[];

  /** Validate a status written through the /status subresource. */
  validateStatus(obj: unknown): StatusCause[];

  /** Rules that need other objects (e.g. dependsOn cycles). Empty when admitted. */
  admit?(obj: ApiObject, lookup: ObjectLookup): Promise<StatusCause[]>;

  /** Field selector keys this kind supports, each returning the field's value as a string. */
  readonly fieldSelectors: Readonly<Record<string, (obj: ApiObject) => string | undefined>>;

  /** Columns for `kubectl get` / `osctl get` tables. Name and Age are added by the server. */
  readonly columns: readonly TableColumn[];
}
