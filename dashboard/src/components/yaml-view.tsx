// An API object as YAML (what `kubectl get -o yaml` shows), without metadata.managedFields.
// The YAML library is loaded on first use (its own chunk), so the other pages do not pay for it.
import { useEffect, useState } from 'preact/hooks';
import { ErrorNote, Loading } from './load-state.js';

type Stringify = (typeof import('yaml'))['stringify'];
let loading: Promise<Stringify> | undefined;
function loadStringify(): Promise<Stringify> {
  loading ??= import('yaml').then((module) => module.stringify);
  return loading;
}

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
  const [stringify, setStringify] = useState<{ fn?: Stringify; error?: Error }>({});
  useEffect(() => {
    let current = true;
    loadStringify().then(
      (fn) => current && setStringify({ fn }),
      (error: unknown) => current && setStringify({ error: error instanceof Error ? error : new Error(String(error)) }),
    );
    return () => {
      current = false;
    };
  }, []);
  if (stringify.error !== undefined) return <ErrorNote error={stringify.error} />;
  if (stringify.fn === undefined) return <Loading />;
  const text = stringify.fn(withoutManagedFields(object), { aliasDuplicateObjects: false, lineWidth: 0 });
  return (
    <pre class="yaml" data-testid={testid}>
      {text}
    </pre>
  );
}
