// Hooks shared by the pages: the API of the session, loading data, following a watch, a clock.
import { createContext } from 'preact';
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import type { Api, ApiError, Query, WatchEvent } from './api.js';

export const ApiContext = createContext<Api | undefined>(undefined);
export const SessionContext = createContext<{ username: string; role: string } | undefined>(undefined);

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (api === undefined) throw new Error('useApi outside a session');
  return api;
}

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: Error | undefined;
  readonly loading: boolean;
  /** Loads again (keeps showing the old data meanwhile). */
  readonly reload: () => void;
}

/**
 * Runs `load` when `key` changes or reload() is called; stale answers (an older key, an
 * unmounted page) are dropped.
 */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, key: string): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: Error | undefined; loading: boolean }>({ data: undefined, error: undefined, loading: true });
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    loadRef.current(controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setState({ data, error: undefined, loading: false });
      },
      (error: unknown) => {
        if (!controller.signal.aborted) setState((s) => ({ data: s.data, error: error instanceof Error ? error : new Error(String(error)), loading: false }));
      },
    );
    return () => controller.abort();
  }, [key, generation]);
  return { ...state, reload: () => setGeneration((g) => g + 1) };
}

/**
 * Follows the watch of `path` from `resourceVersion` while mounted (nothing while it is
 * undefined). onExpired: the version was compacted; the caller re-reads (new version).
 * onFailed: the server refused the watch (not retried).
 */
export function useWatch<T extends { metadata?: { resourceVersion?: string } }>(
  path: string,
  query: Query,
  resourceVersion: string | undefined,
  onEvent: (event: WatchEvent<T>) => void,
  onExpired: () => void,
  onFailed?: (error: ApiError) => void,
): void {
  const api = useApi();
  const handlers = useRef({ onEvent, onExpired, onFailed });
  handlers.current = { onEvent, onExpired, onFailed };
  const queryKey = JSON.stringify(query);
  useEffect(() => {
    if (resourceVersion === undefined) return;
    const controller = new AbortController();
    void api.watch<T>(path, query, resourceVersion, {
      signal: controller.signal,
      onEvent: (event) => handlers.current.onEvent(event),
      onExpired: () => handlers.current.onExpired(),
      onFailed: (error) => handlers.current.onFailed?.(error),
    });
    return () => controller.abort();
  }, [api, path, queryKey, resourceVersion]);
}

/**
 * A function that runs `fn` at most once per `ms` (trailing: a call during the wait runs once
 * after it), so a burst of watch events costs one small re-read.
 */
export function useThrottled(fn: () => void, ms: number): () => void {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useRef(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      fnRef.current();
    }, ms);
  }).current;
}

/** The time now, refreshed every `ms` (for ages such as "heartbeat 12s ago"). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}
