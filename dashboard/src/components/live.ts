// Following a read with the watch API: the resourceVersion a page watches from.
import { useEffect, useState } from 'preact/hooks';

export interface WatchFrom {
  /** The version to watch from; undefined until the first answer (and after expired() until the next one). */
  readonly from: string | undefined;
  /** The watch's version was compacted (410): forget it; the caller re-reads, and the next answer's version is used. */
  readonly expired: () => void;
}

/**
 * The resourceVersion of the first answer `data`, kept across later re-reads (throttled
 * refreshes must not restart the watches) until expired(); then the version of the next
 * answer (a new object than the one current at expiry) is taken.
 */
export function useWatchFrom<T>(data: T | undefined, versionOf: (data: T) => string | undefined): WatchFrom {
  const [state, setState] = useState<{ from: string | undefined; stale: T | undefined }>({ from: undefined, stale: undefined });
  const version = data === undefined ? undefined : versionOf(data);
  useEffect(() => {
    if (state.from === undefined && data !== undefined && data !== state.stale && version !== undefined) {
      setState({ from: version, stale: undefined });
    }
  }, [data, version, state]);
  return { from: state.from, expired: () => setState({ from: undefined, stale: data }) };
}
