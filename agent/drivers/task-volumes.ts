// Bind mounts of container drivers (podman, incus): the agent-side check of `TaskConfig.volumes`.
// Admission checked the same rules already; a driver checks again because it is the last line
// before the host's filesystem, and adds the operator's policy: a host path is mounted only if it
// lies under one of the roots the operator allowed (agent `--volume-roots`), none by default.
import { realpathSync } from 'node:fs';
import { isAbsolute, normalize, sep } from 'node:path';
import { InvalidTaskConfigError, type TaskVolume } from './task-driver.js';

/** Characters that separate mount options in podman's and incus' syntaxes; never in a path here. */
const FORBIDDEN_IN_PATH = /[\0,:]/;

function checkPath(path: unknown, field: string): string {
  if (typeof path !== 'string' || path === '') throw new InvalidTaskConfigError(field, 'must be a non-empty string');
  if (!isAbsolute(path)) throw new InvalidTaskConfigError(field, 'must be an absolute path');
  if (path.split('/').includes('..')) throw new InvalidTaskConfigError(field, "must not contain '..'");
  if (FORBIDDEN_IN_PATH.test(path)) throw new InvalidTaskConfigError(field, "must not contain NUL, ',' or ':'");
  const normalized = normalize(path);
  return normalized.length > 1 && normalized.endsWith(sep) ? normalized.slice(0, -1) : normalized;
}

/**
 * The task's volumes, normalised, or InvalidTaskConfigError naming `volumes[i].field` and the
 * rule. `allowedRoots` are absolute host directories; an empty list refuses every volume.
 */
export function checkTaskVolumes(volumes: readonly TaskVolume[] | undefined, allowedRoots: readonly string[]): TaskVolume[] {
  if (volumes === undefined || volumes.length === 0) return [];
  const roots = allowedRoots.map((r) => checkPath(r, 'volumeRoots'));
  const mountPaths = new Set<string>();
  return volumes.map((v, i) => {
    const hostPath = checkPath(v.hostPath, `volumes[${i}].hostPath`);
    const mountPath = checkPath(v.mountPath, `volumes[${i}].mountPath`);
    if (mountPath === '/') throw new InvalidTaskConfigError(`volumes[${i}].mountPath`, 'must not be the root directory');
    if (mountPaths.has(mountPath)) throw new InvalidTaskConfigError(`volumes[${i}].mountPath`, `${mountPath} is mounted twice`);
    mountPaths.add(mountPath);
    const under = (path: string, rootList: readonly string[]): boolean =>
      rootList.some((root) => path === root || path.startsWith(root === '/' ? '/' : `${root}/`));
    if (!under(hostPath, roots)) {
      const rule =
        roots.length === 0
          ? 'this node allows no host volumes (the operator lists allowed directories with the agent flag --volume-roots)'
          : `must lie under a directory this node allows: ${roots.join(', ')}`;
      throw new InvalidTaskConfigError(`volumes[${i}].hostPath`, rule);
    }
    // A symbolic link must not lead out of the allowed roots: the runtime mounts its target.
    let real: string;
    try {
      real = realpathSync(hostPath);
    } catch {
      throw new InvalidTaskConfigError(`volumes[${i}].hostPath`, `${hostPath} does not exist on this node`);
    }
    if (!under(real, roots.map((r) => safeRealpath(r)))) {
      throw new InvalidTaskConfigError(`volumes[${i}].hostPath`, `${hostPath} resolves to ${real}, outside the directories this node allows`);
    }
    return { hostPath: real, mountPath, readOnly: v.readOnly === true };
  });
}

function safeRealpath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
