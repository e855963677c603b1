// The CRD-like manifest (apiextensions.k8s.io/v1 CustomResourceDefinition) published for a kind
// under manifests/; written by hack/codegen.ts.
import type { ResourceKind } from './kind.js';
import type { PrintColumn } from './define-kind.js';

export function crdName(kind: ResourceKind): string {
  return `${kind.plural}.${kind.group}`;
}

/** The CustomResourceDefinition object for `kind` (its openAPIV3Schema is exactly kind.schema). */
export function crdManifest(kind: ResourceKind): Record<string, unknown> {
  const columns = (kind.columns as readonly PrintColumn[])
    .filter((c) => c.jsonPath !== undefined)
    .map((c) => ({ name: c.name, type: c.type, jsonPath: c.jsonPath, description: c.description, priority: c.priority }));
  columns.push({
    name: 'Age',
    type: 'date',
    jsonPath: '.metadata.creationTimestamp',
    description: 'Time since creation.',
    priority: 0,
  });
  const version: Record<string, unknown> = {
    name: kind.version,
    served: true,
    storage: true,
    schema: { openAPIV3Schema: kind.schema },
  };
  if (kind.hasStatus) version.subresources = { status: {} };
  version.additionalPrinterColumns = columns;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: crdName(kind) },
    spec: {
      group: kind.group,
      names: {
        kind: kind.kind,
        listKind: kind.listKind,
        plural: kind.plural,
        singular: kind.singular,
        shortNames: [...kind.shortNames],
      },
      scope: kind.namespaced ? 'Namespaced' : 'Cluster',
      versions: [version],
    },
  };
}
