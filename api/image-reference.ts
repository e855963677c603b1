// Image reference rules. Each check returns the broken rule as a message, or undefined when valid.
// Images are passed to podman/incus as one argv element, never through a shell; the
// metacharacter rule is defence in depth and keeps references unambiguous in logs and tools.

/** Characters never allowed in an image reference (besides NUL): whitespace and shell metacharacters. */
const FORBIDDEN_RE = /[\s;&|$`()<>\\'"*?!{}]/u;

export const MAX_IMAGE_REFERENCE_LENGTH = 512;

// distribution/reference grammar, checked piece by piece (each regex is linear).
const DOMAIN_COMPONENT_RE = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const PORT_RE = /^[0-9]{1,5}$/;
const IPV6_RE = /^\[[0-9a-fA-F:.]+\]$/;
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
// Incus: [remote:]alias-or-fingerprint[:tag]
const INCUS_REMOTE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const INCUS_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*(?:\/[A-Za-z0-9][A-Za-z0-9_.-]*)*$/;

function forbiddenCharacterError(ref: string): string | undefined {
  if (ref.includes('\u0000')) return 'must not contain NUL characters';
  const m = FORBIDDEN_RE.exec(ref);
  if (!m) return undefined;
  return `must not contain whitespace or shell metacharacters (found ${JSON.stringify(m[0])})`;
}

function domainError(domain: string): string | undefined {
  let host = domain;
  const bracketEnd = domain.lastIndexOf(']');
  const colon = domain.lastIndexOf(':');
  if (colon > bracketEnd) {
    host = domain.slice(0, colon);
    if (!PORT_RE.test(domain.slice(colon + 1))) return `registry port in ${JSON.stringify(domain)} must be a number`;
  }
  if (IPV6_RE.test(host)) return undefined;
  if (host.split('.').every((c) => DOMAIN_COMPONENT_RE.test(c))) return undefined;
  return `registry host ${JSON.stringify(host)} must be a DNS name or IP address`;
}

/**
 * An OCI image reference (podman): `[registry[:port]/]path[:tag][@digest]`, path components
 * lowercase alphanumerics separated by '.', '_', '__' or '-'; e.g. `localhost/busybox:test`.
 */
export function ociReferenceError(ref: string): string | undefined {
  if (ref.length === 0) return 'must not be empty';
  if (ref.length > MAX_IMAGE_REFERENCE_LENGTH) return `must be no more than ${MAX_IMAGE_REFERENCE_LENGTH} characters`;
  const forbidden = forbiddenCharacterError(ref);
  if (forbidden) return forbidden;
  const grammar = 'must be an image reference [registry[:port]/]path[:tag][@digest], e.g. "localhost/busybox:test"';
  let rest = ref;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const digest = rest.slice(at + 1);
    if (!DIGEST_RE.test(digest)) return `digest ${JSON.stringify(digest)} must be algorithm:hex, e.g. "sha256:" followed by at least 32 hex digits`;
    rest = rest.slice(0, at);
  }
  const lastSlash = rest.lastIndexOf('/');
  const tagColon = rest.lastIndexOf(':');
  if (tagColon > lastSlash) {
    const tag = rest.slice(tagColon + 1);
    if (!TAG_RE.test(tag)) return `tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
    rest = rest.slice(0, tagColon);
  }
  const parts = rest.split('/');
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    const e = domainError(first);
    if (e) return e;
    parts.shift();
  }
  if (parts.length === 0 || parts.some((p) => !PATH_COMPONENT_RE.test(p))) return grammar;
  if (rest.length > 255) return 'repository name must be no more than 255 characters';
  return undefined;
}

/**
 * An Incus image: `[remote:]alias-or-fingerprint`, e.g. `busybox-test`, `local:busybox-test`,
 * `images:debian/12`, with an optional `:tag` for OCI remotes.
 */
export function incusImageError(ref: string): string | undefined {
  if (ref.length === 0) return 'must not be empty';
  if (ref.length > MAX_IMAGE_REFERENCE_LENGTH) return `must be no more than ${MAX_IMAGE_REFERENCE_LENGTH} characters`;
  const forbidden = forbiddenCharacterError(ref);
  if (forbidden) return forbidden;
  const parts = ref.split(':');
  const grammar = 'must be an Incus image [remote:]alias-or-fingerprint, e.g. "busybox-test" or "images:debian/12"';
  if (parts.length > 3) return grammar;
  let name: string;
  let tag: string | undefined;
  if (parts.length === 1) name = parts[0] ?? '';
  else if (parts.length === 2) {
    // remote:name, or name:tag for a remote-less OCI alias; both are syntactically the same here.
    if (!INCUS_REMOTE_RE.test(parts[0] ?? '')) return grammar;
    name = parts[1] ?? '';
  } else {
    if (!INCUS_REMOTE_RE.test(parts[0] ?? '')) return grammar;
    name = parts[1] ?? '';
    tag = parts[2];
  }
  if (!INCUS_NAME_RE.test(name)) return grammar;
  if (tag !== undefined && !TAG_RE.test(tag)) return `tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
  return undefined;
}
