// Where a manifest document goes: its resource, namespace, name and API path.
import type { ApiObject } from '../api/meta.js';
import type { Session } from './context.js';
import type { ManifestDocument } from './manifests.js';
import { isRecord } from './objects.js';
import { type CliResource, objectPath, qualifiedName, resourceForKind } from './resources.js';

export interface ManifestTarget {
  readonly resource: CliResource;
  readonly name: string;
  /** The namespace (namespaced kinds only). */
  readonly namespace: string | undefined;
  readonly path: string;
  /** The manifest with its namespace filled in. */
  readonly object: ApiObject;
  /** `job.openscheduler.io/NAME`. */
  readonly display: string;
}

/**
 * Resolves a document: known kind, a metadata.name, and a namespace (the document's, else the
 * session's; with an explicit -n a different namespace in the document is an error, as in kubectl).
 * Throws an Error naming the field and the rule.
 */
export function manifestTarget(doc: ManifestDocument, session: Session): ManifestTarget {
  const obj = doc.object;
  if (obj.apiVersion === undefined) throw new Error('apiVersion: Required value (e.g. openscheduler.io/v1)');
  if (obj.kind === undefined) throw new Error('kind: Required value (e.g. Job)');
  const resource = resourceForKind(obj.apiVersion, obj.kind);
  const metadata = obj.metadata;
  if (!isRecord(metadata)) throw new Error('metadata: Required value: a mapping with at least a name');
  const name = metadata.name;
  if (typeof name !== 'string' || name === '') throw new Error('metadata.name: Required value: a non-empty string');
  let namespace: string | undefined;
  const declared = metadata.namespace;
  if (declared !== undefined && typeof declared !== 'string') throw new Error('metadata.namespace: Invalid value: must be a string');
  if (resource.namespaced) {
    if (declared && session.explicitNamespace && declared !== session.namespace) {
      throw new Error(
        `the namespace from the provided object "${declared}" does not match the namespace "${session.namespace}": pass --namespace=${declared} or remove -n`,
      );
    }
    namespace = declared || session.namespace;
  }
  const object = {
    ...obj,
    metadata: { ...metadata, ...(namespace !== undefined ? { namespace } : {}) },
  } as unknown as ApiObject;
  return {
    resource,
    name,
    namespace,
    path: objectPath(resource, namespace ?? '', name),
    object,
    display: qualifiedName(resource, name),
  };
}
