// Starts a real etcd cluster (Debian's etcd-server, 3.4) of several members for tests: every
// member on free 127.0.0.1 client and peer ports with its own data dir in one temporary dir,
// waits until every member is healthy (a quorum elected a leader and each member sees it).
// Members can be killed (kill -9), paused, started and restarted one by one; stop() kills every
// member by PID and removes the dir. Throws — never skips — when etcd is not installed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdTestProcess, findEtcd, freePort, type EtcdProcess } from './etcd.js';

export interface StartEtcdClusterOptions {
  /** Number of members; default 3. */
  readonly members?: number;
  /** The etcd binary. Default /usr/bin/etcd, else `etcd` on PATH. */
  readonly executable?: string;
  /** How long to wait for the whole cluster (and later for one member) to be healthy. Default 30 s. */
  readonly startTimeoutMs?: number;
  /**
   * Raft heartbeat and election timeout in ms. Defaults 100 and 1000: short enough for a quick
   * re-election when the leader dies, long enough not to flap on a busy 2-core test machine.
   */
  readonly heartbeatIntervalMs?: number;
  readonly electionTimeoutMs?: number;
}

export interface EtcdMemberProcess extends EtcdProcess {
  /** etcd's member name (`m0`, `m1`, ...). */
  readonly name: string;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMemberProcess[];
  /** The client URLs of every member, in member order (what servers get as --etcd-endpoints). */
  readonly endpoints: readonly string[];
  /** The member that is the raft leader now (by each running member's `etcd_server_is_leader` metric), if any. */
  leader(): Promise<EtcdMemberProcess | undefined>;
  /** Resolves once every running member answers /health with true; throws after timeoutMs (default 30 s). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Kills every member by PID and removes the temporary dir. Idempotent. */
  stop(): Promise<void>;
}

class ClusterMember extends EtcdTestProcess implements EtcdMemberProcess {
  constructor(
    readonly name: string,
    ...args: ConstructorParameters<typeof EtcdTestProcess>
  ) {
    super(...args);
  }
}

async function isHealthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
    return ((await res.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

async function isRaftLeader(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(1_000) });
    return /^etcd_server_is_leader 1$/m.test(await res.text());
  } catch {
    return false;
  }
}

async function launchCluster(executable: string, options: StartEtcdClusterOptions): Promise<EtcdCluster> {
  const count = options.members ?? 3;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`startEtcdCluster: option members must be an integer >= 1, got ${String(count)}`);
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const dir = await mkdtemp(join(tmpdir(), 'etcd-cluster-test-'));
  const ports = new Set<number>();
  const port = async (): Promise<number> => {
    let p = await freePort();
    while (ports.has(p)) p = await freePort();
    ports.add(p);
    return p;
  };
  const layout: { name: string; clientPort: number; peerPort: number }[] = [];
  for (let i = 0; i < count; i++) layout.push({ name: `m${i}`, clientPort: await port(), peerPort: await port() });
  const initialCluster = layout.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  const clusterToken = `openscheduler-test-${process.pid}-${dir.slice(-6)}`;
  const members = layout.map(
    (m) =>
      new ClusterMember(m.name, executable, join(dir, m.name), m.clientPort, m.peerPort, startTimeoutMs, {
        name: m.name,
        initialCluster,
        clusterToken,
        heartbeatIntervalMs: options.heartbeatIntervalMs ?? 100,
        electionTimeoutMs: options.electionTimeoutMs ?? 1_000,
      }),
  );
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all(members.map((m) => m.stop()));
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    // every member first: none is healthy before a quorum runs
    const children = members.map((m) => m.launch());
    await Promise.all(members.map((m, i) => m.waitUntilHealthy(children[i]!)));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    members,
    endpoints: members.map((m) => m.endpoint),
    leader: async () => {
      const running = members.filter((m) => m.pid !== undefined);
      const leading = await Promise.all(running.map((m) => isRaftLeader(m.endpoint)));
      return running.find((_m, i) => leading[i]);
    },
    waitHealthy: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const running = members.filter((m) => m.pid !== undefined);
        const healthy = await Promise.all(running.map((m) => isHealthy(m.endpoint)));
        if (healthy.every(Boolean)) return;
        if (Date.now() > deadline) {
          const sick = running.filter((_m, i) => !healthy[i]).map((m) => m.name);
          throw new Error(`etcd cluster: members ${sick.join(', ')} not healthy within ${timeoutMs} ms`);
        }
        await sleep(100);
      }
    },
    stop,
  };
}

/** Starts an etcd cluster on free loopback ports with fresh data dirs; see EtcdCluster. */
export async function startEtcdCluster(options: StartEtcdClusterOptions = {}): Promise<EtcdCluster> {
  const executable = findEtcd(options.executable);
  let lastError: unknown;
  // A free port can be taken by someone else before etcd binds it: try a few times.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await launchCluster(executable, options);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}
