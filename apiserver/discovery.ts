// Discovery documents (/api, /apis, /apis/<group>, /apis/<group>/<version>, /version),
// shaped as kubectl needs them (shared/KUBECTL.md section 2).
import type { ResourceKind } from '../api/kind.js';

const RESOURCE_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS_VERBS = ['get', 'patch', 'update'];

export interface GroupVersionRef {
  groupVersion: string;
  version: string;
}

/** `GET /api`: no legacy core group is served. */
export function apiVersions(): unknown {
  return { kind: 'APIVersions', versions: [], serverAddressByClientCIDRs: [] };
}

function groupsOf(kinds: readonly ResourceKind[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const kind of kinds) {
    const versions = groups.get(kind.group) ?? [];
    if (!versions.includes(kind.version)) versions.push(kind.version);
    groups.set(kind.group, versions);
  }
  return groups;
}

function apiGroup(name: string, versions: string[]): unknown {
  const refs: GroupVersionRef[] = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions: refs, preferredVersion: refs[0] };
}

/** `GET /apis` */
export function apiGroupList(kinds: readonly ResourceKind[]): unknown {
  const groups = [...groupsOf(kinds)].map(([name, versions]) => {
    const { kind: _kind, apiVersion: _apiVersion, ...group } = apiGroup(name, versions) as Record<string, unknown>;
    return group;
  });
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

/** `GET /apis/<group>`, or undefined when the group is not served. */
export function apiGroupDocument(kinds: readonly ResourceKind[], group: string): unknown {
  const versions = groupsOf(kinds).get(group);
  return versions === undefined ? undefined : apiGroup(group, versions);
}

/** `GET /apis/<group>/<version>`, or undefined when not served. */
export function apiResourceList(kinds: readonly ResourceKind[], group: string, version: string): unknown {
  const served = kinds.filter((k) => k.group === group && k.version === version);
  if (served.length === 0) return undefined;
  const resources = served.flatMap((kind) => {
    const main = {
      name: kind.plural,
      singularName: kind.singular,
      namespaced: kind.namespaced,
      kind: kind.kind,
      verbs: RESOURCE_VERBS,
      shortNames: [...kind.shortNames],
    };
    if (!kind.hasStatus) return [main];
    const status = { name: `${kind.plural}/status`, singularName: '', namespaced: kind.namespaced, kind: kind.kind, verbs: STATUS_VERBS };
    return [main, status];
  });
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${group}/${version}`, resources };
}

/** `GET /version` */
export function versionInfo(): unknown {
  return {
    major: '1',
    minor: '20',
    gitVersion: 'v1.20.0-openscheduler',
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: '1970-01-01T00:00:00Z',
    goVersion: 'node',
    compiler: 'node',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}
