// How API objects live in the Store.
//
// Key: /registry/<group>/<plural>/<namespace>/<name> (cluster-scoped: /registry/<group>/<plural>/<name>).
// Value: the object's JSON without metadata.resourceVersion; on every read resourceVersion is
// the key's modRevision as a decimal string, so it can never disagree with the store.
import type { ApiObject, ObjectMeta } from '../api/meta.js';
import type { ResourceKind } from '../api/kind.js';
import type { KeyValue, ListResult, Store } from '../store/store.js';
import { isStorableKey } from '../store/store-args.js';

/** One managedFields entry, in the Kubernetes format (see server-side-apply.ts). */
export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, unknown>;
}

/** Metadata as stored: the contract's ObjectMeta plus what server-side apply records. */
export interface StoredMeta extends ObjectMeta {
  managedFields?: ManagedFieldsEntry[];
}

export interface StoredObject extends ApiObject {
  metadata: StoredMeta;
}

/** An object read from the store with the key-value it came from. */
export interface Versioned {
  readonly object: StoredObject;
  readonly kv: KeyValue;
}

export class ObjectStorage {
  /** `/registry/<group>/<plural>/` */
  readonly root: string;

  constructor(
    readonly store: Store,
    readonly kind: ResourceKind,
  ) {
    this.root = `/registry/${kind.group}/${kind.plural}/`;
  }

  key(namespace: string | undefined, name: string): string {
    return this.kind.namespaced ? `${this.root}${namespace ?? ''}/${name}` : `${this.root}${name}`;
  }

  /** The prefix of a collection: one namespace, or every object of the kind when undefined. */
  collectionPrefix(namespace: string | undefined): string {
    return this.kind.namespaced && namespace !== undefined ? `${this.root}${namespace}/` : this.root;
  }

  /** Parses a stored value and sets resourceVersion from the key's modRevision. */
  decode(kv: KeyValue): StoredObject {
    return withResourceVersion(JSON.parse(kv.value) as StoredObject, kv.modRevision);
  }

  /** The stored form: the object without resourceVersion. */
  encode(obj: StoredObject): string {
    return JSON.stringify(withoutResourceVersion(obj));
  }

  /** False for keys the store rejects (NUL, too long, broken Unicode): no object can live there. */
  static storableKey(key: string): boolean {
    return isStorableKey(key);
  }

  async get(namespace: string | undefined, name: string): Promise<Versioned | undefined> {
    const key = this.key(namespace, name);
    if (!ObjectStorage.storableKey(key)) return undefined;
    const kv = await this.store.get(key);
    return kv === undefined ? undefined : { object: this.decode(kv), kv };
  }

  list(prefix: string, options: { limit?: number; after?: string; revision?: number }): Promise<ListResult> {
    return this.store.list(prefix, options);
  }

  /** Creates the object; throws ConflictError when it exists. Returns it with its resourceVersion. */
  async create(obj: StoredObject): Promise<StoredObject> {
    const { revision } = await this.store.put(this.key(obj.metadata.namespace, obj.metadata.name), this.encode(obj), {
      ifAbsent: true,
    });
    return withResourceVersion(obj, revision);
  }

  /** Replaces the object if it is still at `ifRevision`; throws ConflictError otherwise. */
  async update(obj: StoredObject, ifRevision: number): Promise<StoredObject> {
    const { revision } = await this.store.put(this.key(obj.metadata.namespace, obj.metadata.name), this.encode(obj), {
      ifRevision,
    });
    return withResourceVersion(obj, revision);
  }

  /** Deletes the object if it is still at `ifRevision`; throws ConflictError otherwise. */
  async delete(obj: StoredObject, ifRevision: number): Promise<number> {
    const result = await this.store.delete(this.key(obj.metadata.namespace, obj.metadata.name), { ifRevision });
    return result?.revision ?? ifRevision;
  }
}

/** A copy of `obj` whose metadata carries `resourceVersion` (placed after uid, as Kubernetes prints it). */
export function withResourceVersion(obj: StoredObject, revision: number): StoredObject {
  const { name, namespace, uid, resourceVersion: _old, ...rest } = obj.metadata;
  const metadata: StoredMeta = { name };
  if (namespace !== undefined) metadata.namespace = namespace;
  if (uid !== undefined) metadata.uid = uid;
  metadata.resourceVersion = String(revision);
  Object.assign(metadata, rest);
  return { ...obj, metadata };
}

export function withoutResourceVersion(obj: StoredObject): StoredObject {
  const { resourceVersion: _rv, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}
