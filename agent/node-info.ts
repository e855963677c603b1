// What an agent tells the control plane about its node: capacity (given, or detected from the
// host) and the drivers that can run tasks now (by fingerprint; only healthy ones are
// advertised, so that the scheduler never places a job on a driver that cannot run it). A driver
// whose runtime is missing (no podman binary, no Incus socket) fingerprints unhealthy, so
// configuring every driver is safe.
import { cpus, totalmem } from 'node:os';
import type { DriverInfo, Resources } from '../api/proto/gen/openscheduler/agent/v1/agent.generated.js';
import { errorMessage } from '../controllers/runtime/logger.js';
import type { TaskDriver } from './drivers/task-driver.js';

/** The host's CPUs (in millicores) and memory (in bytes). */
export function detectCapacity(): Resources {
  return { cpuMillis: Math.max(1, cpus().length) * 1000, memoryBytes: totalmem() };
}

export interface DriverFingerprint {
  driver: TaskDriver;
  info: DriverInfo;
}

/** Fingerprints every driver; a driver whose fingerprint throws (it must not) counts as unhealthy. */
export async function fingerprintDrivers(drivers: readonly TaskDriver[]): Promise<DriverFingerprint[]> {
  return Promise.all(
    drivers.map(async (driver) => {
      try {
        const fp = await driver.fingerprint();
        return { driver, info: { name: driver.name, healthy: fp.healthy === true, detail: String(fp.detail ?? '') } };
      } catch (err) {
        return { driver, info: { name: driver.name, healthy: false, detail: `fingerprint failed: ${errorMessage(err)}` } };
      }
    }),
  );
}

/** The drivers to advertise: the healthy ones. */
export function advertisedDrivers(fingerprints: readonly DriverFingerprint[]): DriverInfo[] {
  return fingerprints.filter((f) => f.info.healthy).map((f) => ({ ...f.info }));
}

/**
 * The fingerprints worth logging after a refresh: a driver seen for the first time, one whose
 * health changed, or an unhealthy one whose detail changed (a healthy driver's detail may carry
 * changing figures and is not logged again). Not every fingerprint: health is re-checked often.
 */
export function fingerprintChanges(previous: readonly DriverFingerprint[], current: readonly DriverFingerprint[]): DriverFingerprint[] {
  const before = new Map(previous.map((f) => [f.info.name, f.info]));
  return current.filter((f) => {
    const old = before.get(f.info.name);
    if (old === undefined || old.healthy !== f.info.healthy) return true;
    return !f.info.healthy && old.detail !== f.info.detail;
  });
}
