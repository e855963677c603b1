// What an agent tells the control plane about its node: capacity (given, or detected from the
// host) and the drivers that can run tasks now (by fingerprint; only healthy ones are
// advertised, so that the scheduler never places a job on a driver that cannot run it).
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
