/*
 * What the benchmarks read from /proc: a process's CPU time and memory, each CPU's busy
 * time, the machine's used memory and the kernel's TCP accounting.
 */

import fs from 'node:fs';

/** USER_HZ: /proc reports CPU times in these ticks (100 on every Linux we run on). */
export const CLOCK_TICKS_PER_SECOND = 100;
const PAGE_SIZE = 4096;
/** PF_KTHREAD in /proc/<pid>/stat `flags`: kernel threads are not "other programs". */
const PF_KTHREAD = 0x00200000;

function readText(path: string): string | null {
  try {
    return fs.readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces). */
function statFields(pid: number): string[] | null {
  const text = readText(`/proc/${pid}/stat`);
  if (text === null) return null;
  return text
    .slice(text.lastIndexOf(')') + 2)
    .trim()
    .split(' ');
}

/** User plus system CPU of a process and all its threads, in seconds. */
export function processCpuSeconds(pid: number): number {
  const f = statFields(pid);
  if (!f) return NaN;
  // After the name: state(0) ppid(1) ... utime(11) stime(12).
  return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Seconds the process's threads spent runnable but waiting for a CPU (the second field of
 * /proc/<pid>/task/<tid>/schedstat): time something else held the CPU it was pinned to.
 */
export function processWaitSeconds(pid: number): number {
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return NaN;
  }
  let ns = 0;
  for (const tid of tasks) {
    const fields = readText(`/proc/${pid}/task/${tid}/schedstat`)?.trim().split(' ');
    if (fields) ns += Number(fields[1]) || 0;
  }
  return ns / 1e9;
}

/** Resident set size of a process, bytes. */
export function processRssBytes(pid: number): number {
  const text = readText(`/proc/${pid}/status`);
  const m = text?.match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : NaN;
}

export interface CpuTimes {
  /** Ticks spent on anything but idle and iowait, per CPU (cpu0, cpu1, ...). */
  busy: number[];
  total: number[];
}

export function cpuTimes(): CpuTimes {
  const busy: number[] = [];
  const total: number[] = [];
  for (const line of (readText('/proc/stat') ?? '').split('\n')) {
    const m = line.match(/^cpu(\d+) (.*)$/);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice; guests are inside user.
    const all = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    busy[Number(m[1])] = all - v[3] - v[4];
    total[Number(m[1])] = all;
  }
  return { busy, total };
}

/** Busy share (0..1) of one CPU between two samples. */
export function cpuBusyShare(before: CpuTimes, after: CpuTimes, cpu: number): number {
  const total = after.total[cpu] - before.total[cpu];
  return total > 0 ? (after.busy[cpu] - before.busy[cpu]) / total : NaN;
}

/**
 * The machine's used memory as free(1) computes it: total minus free, buffers and
 * page cache (including reclaimable slab). Kernel socket buffers count as used.
 */
export function usedMemoryBytes(): number {
  const text = readText('/proc/meminfo') ?? '';
  const kb = (name: string): number => {
    const m = text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  };
  return (kb('MemTotal') - kb('MemFree') - kb('Buffers') - kb('Cached') - kb('SReclaimable')) * 1024;
}

export function totalMemoryBytes(): number {
  const m = (readText('/proc/meminfo') ?? '').match(/^MemTotal:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Memory the kernel charges to TCP sockets (/proc/net/sockstat `TCP: ... mem N`, pages).
 * TCP charges each socket for the bytes queued on it even when the pages are shared.
 */
export function tcpMemoryBytes(): number {
  const m = (readText('/proc/net/sockstat') ?? '').match(/^TCP:.* mem (\d+)/m);
  return m ? Number(m[1]) * PAGE_SIZE : NaN;
}

/**
 * CPU seconds used so far by every user-space process except those listed: what other
 * programs on the machine took while a measurement ran.
 */
export function otherProcessesCpuSeconds(exclude: ReadonlySet<number>): Map<number, number> {
  const result = new Map<number, number>();
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return result;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (exclude.has(pid)) continue;
    const f = statFields(pid);
    if (!f) continue;
    // flags(6); utime(11) stime(12) cutime(13) cstime(14): children that exited count too.
    if ((Number(f[6]) & PF_KTHREAD) !== 0) continue;
    result.set(pid, (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_SECOND);
  }
  return result;
}

/** CPU seconds other processes used between two otherProcessesCpuSeconds samples. */
export function otherCpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, seconds] of after) sum += seconds - (before.get(pid) ?? 0);
  return sum;
}

/**
 * Resident anonymous memory of every process but one, bytes: subtracted from the
 * machine's used memory, it leaves that one process plus the kernel (socket buffers
 * included), so other programs starting or growing do not show up as the server's memory.
 * File-backed pages are left out: used memory excludes the page cache they live in.
 */
export function otherProcessesAnonBytes(exceptPid: number): number {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return 0;
  }
  let pages = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === exceptPid) continue;
    const statm = readText(`/proc/${entry}/statm`);
    // statm: size resident shared ...; resident - shared is the anonymous part.
    const fields = statm?.split(' ');
    if (fields) pages += Math.max(0, (Number(fields[1]) || 0) - (Number(fields[2]) || 0));
  }
  return pages * PAGE_SIZE;
}
