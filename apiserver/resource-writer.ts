// Every write of one kind: create, replace, patch, apply, status updates and delete.
//
// Each write defaults (kind.applyDefaults), validates (kind.validate / validateStatus) and
// admits (kind.admit) the object it is about to store, then stores it with a precondition
// (ifAbsent, or ifRevision of the state it was computed from). Read-modify-write operations
// retry from fresh state a bounded number of times when that precondition fails; a
// resourceVersion given by the client is a precondition of its own and is never retried past.
// A write that would change nothing is not made (the resourceVersion stays the same).
import { randomInt, randomUUID } from 'node:crypto';
import type { ObjectLookup, ResourceKind } from '../api/kind.js';
import type { StatusCause } from '../api/meta.js';
import { ConflictError } from '../store/store.js';
import { cloneJson, isJsonObject, jsonEqual, type JsonObject } from './json-value.js';
import {
  withoutResourceVersion,
  withResourceVersion,
  type ManagedFieldsEntry,
  type ObjectStorage,
  type StoredMeta,
  type StoredObject,
  type Versioned,
} from './object-storage.js';
import { ApplyConflictError, appliedFieldPaths, applyEntry, mergeApplied, withoutAppliedNulls } from './server-side-apply.js';
import {
  alreadyExists,
  badRequest,
  conflict,
  conflictWithCauses,
  invalid,
  notFound,
  STALE_OBJECT_MESSAGE,
} from './status.js';

/** Attempts of one read-modify-write before answering 409 Conflict. */
export const MAX_WRITE_ATTEMPTS = 5;

/** Metadata the server owns; values sent by clients are ignored (uid/resourceVersion are preconditions). */
const SERVER_METADATA = new Set([
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
]);

export interface WriteResult {
  readonly object: StoredObject;
  /** True when the write created the object (apply). */
  readonly created: boolean;
}

export interface DeletePreconditions {
  readonly uid?: string;
  readonly resourceVersion?: string;
}

export interface ApplyRequest {
  readonly manager: string;
  readonly force: boolean;
}

export class ResourceWriter {
  readonly kind: ResourceKind;
  private readonly apiVersion: string;
  private readonly lookup: ObjectLookup;

  constructor(
    readonly storage: ObjectStorage,
    private readonly now: () => Date,
  ) {
    this.kind = storage.kind;
    this.apiVersion = `${this.kind.group}/${this.kind.version}`;
    this.lookup = async (namespace, name) => (await storage.get(namespace, name))?.object;
  }

  /** POST: creates the object from `body` in `namespace` (ConflictError when it exists). */
  async create(body: JsonObject, namespace: string | undefined, dryRun: boolean): Promise<StoredObject> {
    // As for CRDs in Kubernetes, a null field means "not set" (e.g. an empty `annotations:` in YAML).
    const obj = this.newObject(withoutAppliedNulls(body, !this.kind.hasStatus), namespace);
    await this.checkObject(obj);
    if (dryRun) {
      if ((await this.storage.get(namespace, obj.metadata.name)) !== undefined) {
        throw alreadyExists(this.kind, obj.metadata.name);
      }
      return obj;
    }
    try {
      return await this.storage.create(obj);
    } catch (err) {
      if (err instanceof ConflictError) throw alreadyExists(this.kind, obj.metadata.name);
      throw err;
    }
  }

  /** PUT: replaces labels, annotations and spec (status too for kinds without a status subresource). */
  replace(namespace: string | undefined, name: string, body: JsonObject, dryRun: boolean): Promise<WriteResult> {
    this.checkIdentity(body, namespace, name);
    const desired = withoutAppliedNulls(body, !this.kind.hasStatus);
    return this.readModifyWrite(namespace, name, dryRun, (current) => this.nextFromDesired(current.object, desired));
  }

  /** PATCH (merge or JSON patch): `patch` maps the current object to the desired one. */
  patch(
    namespace: string | undefined,
    name: string,
    patch: (current: StoredObject) => unknown,
    dryRun: boolean,
  ): Promise<WriteResult> {
    return this.patchWith(namespace, name, patch, dryRun, (current, desired) => this.nextFromDesired(current, desired));
  }

  /** PUT .../status: replaces only the status. */
  replaceStatus(namespace: string | undefined, name: string, body: JsonObject, dryRun: boolean): Promise<WriteResult> {
    this.checkIdentity(body, namespace, name);
    return this.readModifyWrite(namespace, name, dryRun, (current) => this.nextStatus(current.object, body));
  }

  /** PATCH .../status: the patch applies to the whole object; only its status is kept. */
  patchStatus(
    namespace: string | undefined,
    name: string,
    patch: (current: StoredObject) => unknown,
    dryRun: boolean,
  ): Promise<WriteResult> {
    return this.patchWith(namespace, name, patch, dryRun, (current, desired) => this.nextStatus(current, desired));
  }

  /** A patch read-modify-write: `patch` maps the current object to the desired one, `next` keeps what the verb may change. */
  private patchWith(
    namespace: string | undefined,
    name: string,
    patch: (current: StoredObject) => unknown,
    dryRun: boolean,
    next: (current: StoredObject, desired: unknown) => StoredObject | Promise<StoredObject>,
  ): Promise<WriteResult> {
    return this.readModifyWrite(namespace, name, dryRun, (current) => {
      const desired = this.patchedObject(patch, current.object);
      this.checkIdentity(desired, namespace, name);
      return next(current.object, desired);
    });
  }

  /** Server-side apply: creates the object or merges the manifest into it (see server-side-apply.ts). */
  async apply(
    namespace: string | undefined,
    name: string,
    config: JsonObject,
    request: ApplyRequest,
    dryRun: boolean,
  ): Promise<WriteResult> {
    this.checkIdentity(config, namespace, name);
    const options = {
      manager: request.manager,
      force: request.force,
      apiVersion: this.apiVersion,
      now: this.timestamp(),
      includeStatus: !this.kind.hasStatus,
    };
    for (let attempt = 1; ; attempt++) {
      const current = await this.storage.get(namespace, name);
      try {
        if (current === undefined) {
          const body = withoutAppliedNulls(config, options.includeStatus);
          const withName = { ...body, metadata: { ...(isJsonObject(body.metadata) ? body.metadata : {}), name } };
          const obj = this.newObject(withName, namespace);
          const paths = appliedFieldPaths(config, options.includeStatus);
          if (paths.length > 0) obj.metadata.managedFields = [applyEntry(paths, options)];
          await this.checkObject(obj);
          if (dryRun) return { object: obj, created: true };
          return { object: await this.storage.create(obj), created: true };
        }
        this.checkPreconditions(current.object, this.metadataOf(config, name));
        let merged: StoredObject;
        try {
          merged = mergeApplied(current.object, config, options);
        } catch (err) {
          if (err instanceof ApplyConflictError) throw conflictWithCauses(this.kind, name, err.message, err.causes);
          throw err;
        }
        carryUnownedFields(config, merged);
        const next = await this.nextFromDesired(current.object, merged, merged.metadata.managedFields);
        return await this.writeIfChanged(current, next, dryRun);
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= MAX_WRITE_ATTEMPTS) throw err;
      }
    }
  }

  /** DELETE: removes the object if the preconditions hold; returns its last state. */
  async delete(
    namespace: string | undefined,
    name: string,
    preconditions: DeletePreconditions,
    dryRun: boolean,
  ): Promise<StoredObject> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.storage.get(namespace, name);
      if (current === undefined) throw notFound(this.kind, name);
      const meta = current.object.metadata;
      if (preconditions.uid !== undefined && preconditions.uid !== meta.uid) {
        throw conflict(
          this.kind,
          name,
          `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${meta.uid ?? ''}`,
        );
      }
      if (preconditions.resourceVersion !== undefined && preconditions.resourceVersion !== meta.resourceVersion) {
        throw conflict(
          this.kind,
          name,
          `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${meta.resourceVersion ?? ''}`,
        );
      }
      if (dryRun) return current.object;
      try {
        await this.storage.delete(current.object, current.kv.modRevision);
        return current.object;
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= MAX_WRITE_ATTEMPTS) throw err;
      }
    }
  }

  // ---- building objects ------------------------------------------------------------------

  /** RFC 3339 without fractional seconds. */
  private timestamp(): string {
    return this.now().toISOString().replace(/\.\d+Z$/, 'Z');
  }

  private metadataOf(body: JsonObject, name: string): JsonObject {
    const metadata = body.metadata;
    if (metadata === undefined || metadata === null) return {};
    if (!isJsonObject(metadata)) {
      throw invalid(this.kind, name, [
        { reason: 'FieldValueInvalid', field: 'metadata', message: 'Invalid value: must be an object' },
      ]);
    }
    return metadata;
  }

  /** 400 when the object names another object than the URL. */
  private checkIdentity(body: unknown, namespace: string | undefined, name: string): void {
    if (!isJsonObject(body) || !isJsonObject(body.metadata)) return;
    const { name: bodyName, namespace: bodyNamespace } = body.metadata;
    if (bodyName !== undefined && bodyName !== '' && bodyName !== name) {
      throw badRequest(
        `the name of the object (${String(bodyName)}) does not match the name on the URL (${name})`,
      );
    }
    this.checkNamespace(bodyNamespace, namespace);
  }

  private checkNamespace(bodyNamespace: unknown, namespace: string | undefined): void {
    if (!this.kind.namespaced || bodyNamespace === undefined || bodyNamespace === '' || bodyNamespace === null) return;
    if (bodyNamespace !== namespace) {
      throw badRequest(
        `the namespace of the provided object (${String(bodyNamespace)}) does not match the namespace sent on the request (${namespace ?? ''})`,
      );
    }
  }

  /** A new object from a client's body: server metadata set, status from kind.initialStatus. */
  private newObject(body: JsonObject, namespace: string | undefined): StoredObject {
    const given = this.metadataOf(body, '');
    this.checkNamespace(given.namespace, namespace);
    const userMeta = userMetadata(given);
    if ((userMeta.name === undefined || userMeta.name === '') && typeof userMeta.generateName === 'string') {
      userMeta.name = userMeta.generateName + randomSuffix();
    }
    const metadata = orderedMetadata({
      ...userMeta,
      namespace: this.kind.namespaced ? namespace : undefined,
      uid: randomUUID(),
      generation: 1,
      creationTimestamp: this.timestamp(),
    });
    const { apiVersion, kind, metadata: _metadata, status, ...rest } = body;
    const obj: StoredObject = {
      apiVersion: (apiVersion ?? this.apiVersion) as string,
      kind: (kind ?? this.kind.kind) as string,
      metadata,
      ...rest,
    };
    const initial = this.kind.hasStatus ? this.kind.initialStatus?.() : status;
    if (initial !== undefined) obj.status = cloneJson(initial);
    return obj;
  }

  /** The object a PUT/patch/apply asks for, on top of `current` (whose server metadata and status it keeps). */
  private async nextFromDesired(
    current: StoredObject,
    desired: unknown,
    managedFields: ManagedFieldsEntry[] | undefined = current.metadata.managedFields,
  ): Promise<StoredObject> {
    const name = current.metadata.name;
    if (!isJsonObject(desired)) {
      throw invalid(this.kind, name, [{ reason: 'FieldValueInvalid', field: '', message: 'Invalid value: must be an object' }]);
    }
    const given = this.metadataOf(desired, name);
    this.checkPreconditions(current, given);
    const { apiVersion, kind, metadata: _metadata, status, ...rest } = desired;
    const next: StoredObject = {
      apiVersion: (apiVersion ?? this.apiVersion) as string,
      kind: (kind ?? this.kind.kind) as string,
      metadata: orderedMetadata({
        ...userMetadata(given),
        name,
        namespace: current.metadata.namespace,
        uid: current.metadata.uid,
        generation: current.metadata.generation,
        creationTimestamp: current.metadata.creationTimestamp,
        managedFields,
      }),
      ...rest,
    };
    const nextStatus = this.kind.hasStatus ? current.status : status;
    if (nextStatus !== undefined) next.status = nextStatus;
    await this.checkObject(next);
    if (!jsonEqual(next.spec, current.spec)) next.metadata.generation = (current.metadata.generation ?? 0) + 1;
    return next;
  }

  private nextStatus(current: StoredObject, desired: unknown): StoredObject {
    const name = current.metadata.name;
    if (!isJsonObject(desired)) {
      throw invalid(this.kind, name, [{ reason: 'FieldValueInvalid', field: '', message: 'Invalid value: must be an object' }]);
    }
    this.checkPreconditions(current, this.metadataOf(desired, name));
    const causes = this.kind.validateStatus(desired.status);
    if (causes.length > 0) throw invalid(this.kind, name, causes);
    const next = withoutResourceVersion(cloneJson(current));
    if (desired.status === undefined) delete next.status;
    else next.status = desired.status;
    return next;
  }

  /** resourceVersion and uid sent by the client must match the current object (409 otherwise). */
  private checkPreconditions(current: StoredObject, given: JsonObject): void {
    const name = current.metadata.name;
    const { resourceVersion, uid } = given;
    if (resourceVersion !== undefined && resourceVersion !== null && resourceVersion !== '') {
      if (String(resourceVersion) !== current.metadata.resourceVersion) throw conflict(this.kind, name, STALE_OBJECT_MESSAGE);
    }
    if (uid !== undefined && uid !== null && uid !== '' && uid !== current.metadata.uid) {
      throw conflict(
        this.kind,
        name,
        `Precondition failed: UID in precondition: ${String(uid)}, UID in object meta: ${current.metadata.uid ?? ''}`,
      );
    }
  }

  private patchedObject(patch: (current: StoredObject) => unknown, current: StoredObject): unknown {
    return patch(cloneJson(current));
  }

  /** Defaults, validates and admits; throws 422 Invalid with every cause. */
  private async checkObject(obj: StoredObject): Promise<void> {
    this.kind.applyDefaults(obj);
    const name = typeof obj.metadata.name === 'string' ? obj.metadata.name : '';
    const causes: StatusCause[] = this.kind.validate(obj);
    if (causes.length > 0) throw invalid(this.kind, name, causes);
    const admission = (await this.kind.admit?.(obj, this.lookup)) ?? [];
    if (admission.length > 0) throw invalid(this.kind, name, admission);
  }

  // ---- writing ---------------------------------------------------------------------------

  private async readModifyWrite(
    namespace: string | undefined,
    name: string,
    dryRun: boolean,
    compute: (current: Versioned) => StoredObject | Promise<StoredObject>,
  ): Promise<WriteResult> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.storage.get(namespace, name);
      if (current === undefined) throw notFound(this.kind, name);
      const next = await compute(current);
      try {
        return await this.writeIfChanged(current, next, dryRun);
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= MAX_WRITE_ATTEMPTS) throw err;
      }
    }
  }

  private async writeIfChanged(current: Versioned, next: StoredObject, dryRun: boolean): Promise<WriteResult> {
    const stripped = withoutResourceVersion(next);
    if (jsonEqual(stripped, withoutResourceVersion(current.object))) return { object: current.object, created: false };
    if (dryRun) return { object: withResourceVersion(stripped, current.kv.modRevision), created: false };
    return { object: await this.storage.update(stripped, current.kv.modRevision), created: false };
  }
}

/** The client's metadata without the fields the server owns. */
function userMetadata(given: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(given)) if (!SERVER_METADATA.has(key)) out[key] = value;
  return out;
}

const METADATA_ORDER = ['name', 'generateName', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp'];

/** Metadata in the order Kubernetes prints it; undefined values dropped. */
function orderedMetadata(fields: JsonObject): StoredMeta {
  const out: JsonObject = {};
  for (const key of METADATA_ORDER) if (fields[key] !== undefined) out[key] = fields[key];
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && !Object.hasOwn(out, key)) out[key] = value;
  }
  return out as unknown as StoredMeta;
}

const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** Five random characters, as Kubernetes appends to generateName. */
function randomSuffix(): string {
  let out = '';
  for (let i = 0; i < 5; i++) out += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  return out;
}

/**
 * An applied manifest's parts that carry no ownership (other top-level fields, other metadata,
 * apiVersion/kind) go into the merged object as given, so that validation judges them.
 */
function carryUnownedFields(config: JsonObject, merged: StoredObject): void {
  const target = merged as unknown as JsonObject;
  for (const [key, value] of Object.entries(config)) {
    if (key === 'metadata' || key === 'spec' || key === 'status') continue;
    target[key] = cloneJson(value);
  }
  if (isJsonObject(config.metadata)) {
    const metadata = merged.metadata as unknown as JsonObject;
    for (const [key, value] of Object.entries(config.metadata)) {
      if (['name', 'namespace', 'labels', 'annotations'].includes(key) || SERVER_METADATA.has(key)) continue;
      metadata[key] = cloneJson(value);
    }
  }
}
