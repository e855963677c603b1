// Linux /proc helpers shared by the process driver and its supervisor. Every function is
// synchronous and tolerant of processes vanishing while they are read.
import { readdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  /** One-letter state: R, S, D, Z (zombie), T, ... */
  state: string;
  pgrp: number;
  /** Start time in clock ticks since boot: with the pid, identifies a process across pid reuse. */
  startTime: number;
  rssPages: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
}

const pageSize = 4096;
const clockTicksPerSecond = 100;

/** Parses /proc/PID/stat; undefined when the process does not exist. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may itself contain spaces and parentheses.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number): number => Number(rest[n - 3]);
  return {
    pid,
    state: rest[0] ?? '?',
    pgrp: field(5),
    startTime: field(22),
    rssPages: field(24),
    cpuTicks: field(14) + field(15),
  };
}

/** True when `pid` runs (not a zombie) and, if given, started at `startTime`. */
export function isProcessAlive(pid: number, startTime?: number): boolean {
  const stat = readProcStat(pid);
  if (!stat || stat.state === 'Z') return false;
  return startTime === undefined || stat.startTime === startTime;
}

/** Every live process whose process group is `pgid`. */
export function processGroupMembers(pgid: number): ProcStat[] {
  const members: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z') members.push(stat);
  }
  return members;
}

/** Resident memory and CPU time of a whole process group. */
export function processGroupUsage(pgid: number): { rssBytes: number; cpuMillis: number; processes: number } {
  const members = processGroupMembers(pgid);
  let rssPages = 0;
  let cpuTicks = 0;
  for (const m of members) {
    rssPages += m.rssPages;
    cpuTicks += m.cpuTicks;
  }
  return {
    rssBytes: rssPages * pageSize,
    cpuMillis: (cpuTicks * 1000) / clockTicksPerSecond,
    processes: members.length,
  };
}

/** Sends a signal to a process group; false when the group no longer exists. */
export function signalProcessGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Writes a file so that readers see either the old content or all of the new (tmp + fsync + rename). */
export function writeFileAtomic(path: string, content: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
