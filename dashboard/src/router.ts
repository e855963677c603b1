// Hash routes: `#/path?query`. The server serves one index.html; every page is a hash route,
// so a reload or a shared link opens the same page with the same filters.
import { useEffect, useState } from 'preact/hooks';
import { withQuery, type Query } from './api.js';

export interface Route {
  /** Path segments after '#/', decoded: '#/jobs/default/a' → ['jobs', 'default', 'a']. */
  readonly segments: readonly string[];
  readonly query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const text = hash.replace(/^#/, '');
  const [path = '', search = ''] = text.split('?', 2);
  const segments = path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return { segments, query: new URLSearchParams(search) };
}

/** The href of a route: href(['jobs', ns, name]) → '#/jobs/ns/name'. */
export function href(segments: readonly string[], query?: Query): string {
  return withQuery('#/' + segments.map(encodeURIComponent).join('/'), query);
}

export function navigate(segments: readonly string[], query?: Query, replace = false): void {
  const target = href(segments, query);
  if (replace) history.replaceState(null, '', target);
  else history.pushState(null, '', target);
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const changed = (): void => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', changed);
    window.addEventListener('popstate', changed);
    return () => {
      window.removeEventListener('hashchange', changed);
      window.removeEventListener('popstate', changed);
    };
  }, []);
  return route;
}
