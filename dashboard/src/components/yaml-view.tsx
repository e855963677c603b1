// An API object as YAML (what `kubectl get -o yaml` shows), without metadata.managedFields.
import { useMemo } from 'preact/hooks';
import { stringify } from 'yaml';

/** A copy of `object` without metadata.managedFields (server-side apply bookkeeping, noise here). */
export function withoutManagedFields(object: object): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...(object as Record<string, unknown>) };
  const metadata = copy.metadata;
  if (typeof metadata === 'object' && metadata !== null && 'managedFields' in metadata) {
    const { managedFields: _dropped, ...rest } = metadata as Record<string, unknown>;
    copy.metadata = rest;
  }
  return copy;
}

export function YamlView({ object, testid }: { object: object; testid?: string }) {
  const text = useMemo(() => stringify(withoutManagedFields(object), { aliasDuplicateObjects: false, lineWidth: 0 }), [object]);
  return (
    <pre class="yaml" data-testid={testid}>
      {text}
    </pre>
  );
}
