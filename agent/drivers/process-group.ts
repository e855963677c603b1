// Linux /proc helpers of the process driver. Every function is synchronous and tolerant of
// processes vanishing while they are read.
import { readdirSync, readFileSync } from 'node:fs';

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

export interface GroupUsage {
  rssBytes: number;
  cpuMillis: number;
  processes: number;
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

/** True when `pid` runs (not a zombie) and, if given and known (not 0), started at `startTime`. */
export function isProcessAlive(pid: number, startTime?: number): boolean {
  const stat = readProcStat(pid);
  if (!stat || stat.state === 'Z') return false;
  return !startTime || stat.startTime === startTime;
}

/** The processes of one task group and what they use. */
export interface TaskGroup extends GroupUsage {
  pids: number[];
}

/**
 * The live processes of several process groups, in one pass over /proc, leaving out each
 * group's leader (the supervisor of a process-driver task, which leads its task's group).
 * Groups without such a process are absent from the result.
 */
export function scanTaskGroups(pgids: ReadonlySet<number>): Map<number, TaskGroup> {
  const groups = new Map<number, TaskGroup>();
  if (pgids.size === 0) return groups;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return groups;
  }
  for (const entry of entries) {
    const first = entry.charCodeAt(0);
    if (first < 48 || first > 57) continue; // not a pid
    const pid = Number(entry);
    if (pgids.has(pid)) continue; // a leader
    const stat = readProcStat(pid);
    if (!stat || stat.state === 'Z' || !pgids.has(stat.pgrp)) continue;
    let group = groups.get(stat.pgrp);
    if (!group) groups.set(stat.pgrp, (group = { pids: [], rssBytes: 0, cpuMillis: 0, processes: 0 }));
    group.pids.push(pid);
    group.rssBytes += stat.rssPages * pageSize;
    group.cpuMillis += (stat.cpuTicks * 1000) / clockTicksPerSecond;
    group.processes += 1;
  }
  return groups;
}

/** Resident memory and CPU time of one task group but its leader (see scanTaskGroups). */
export function processGroupUsage(pgid: number): GroupUsage {
  const group = scanTaskGroups(new Set([pgid])).get(pgid);
  return group ? { rssBytes: group.rssBytes, cpuMillis: group.cpuMillis, processes: group.processes } : { rssBytes: 0, cpuMillis: 0, processes: 0 };
}

/** Sends `signal` to each of `pids`; those already gone are skipped. */
export function signalProcesses(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Gone meanwhile.
    }
  }
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

/**
 * SIGKILLs what is left of the process group led by `leader` (a task's supervisor, identified
 * by pid and start time), the leader included. A pid that now names another process (same
 * pid, other start time) is left alone: Linux does not reuse a pid while a process group of
 * that id exists, so nothing of the old group is left then. Returns how many processes were
 * signalled (the group counts as one when its live leader gets the signal).
 */
export function killTaskGroup(leader: { pid: number; startTime: number }): number {
  const stat = readProcStat(leader.pid);
  if (stat && stat.state !== 'Z') {
    if (leader.startTime && stat.startTime !== leader.startTime) return 0; // recycled pid
    if (stat.pgrp !== leader.pid) return 0; // not (or no longer) a group leader: not a supervisor
    return signalProcessGroup(leader.pid, 'SIGKILL') ? 1 : 0;
  }
  // The leader is gone (or a zombie, which keeps its pid): what is left of its group is ours.
  const members = scanTaskGroups(new Set([leader.pid])).get(leader.pid)?.pids ?? [];
  const now = readProcStat(leader.pid);
  if (now && now.state !== 'Z' && now.startTime !== stat?.startTime) return 0; // the pid was reused meanwhile
  signalProcesses(members, 'SIGKILL');
  return members.length;
}

/** True while the leader (same start time) or any other member of its process group lives. */
export function taskGroupAlive(leader: { pid: number; startTime: number }): boolean {
  const stat = readProcStat(leader.pid);
  if (stat && stat.state !== 'Z') return !leader.startTime || stat.startTime === leader.startTime;
  return processGroupUsage(leader.pid).processes > 0;
}
