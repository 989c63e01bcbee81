// Scheduling of this process's threads: CPU affinity (pkt-gen -a; sched_setaffinity(0, ...) applies
// to the thread that calls it, so a worker thread pins itself), yielding, and the SCHED_IDLE class
// for threads that must not take a CPU from a data loop (apps/common/idle-helpers.ts).
import { readdirSync, readFileSync } from 'node:fs';
import koffi from 'koffi';
import { SysError } from './libc.js';

const libc = koffi.load('libc.so.6');
const _setaffinity = libc.func('int sched_setaffinity(int, size_t, void *)');
const _getaffinity = libc.func('int sched_getaffinity(int, size_t, _Out_ void *)');
const MASK_BYTES = 128; // 1024 CPUs

/** Pin the calling thread to one CPU. */
export function pinThisThread(cpu: number): void {
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= MASK_BYTES * 8) throw new RangeError(`CPU ${cpu} out of range`);
  const mask = new Uint8Array(MASK_BYTES);
  mask[cpu >> 3] = 1 << (cpu & 7);
  if ((_setaffinity(0, MASK_BYTES, mask) as number) !== 0) throw new SysError('sched_setaffinity', `cpu ${cpu}`, koffi.errno());
}

/** CPUs the calling thread may run on. */
export function allowedCpus(): number[] {
  const mask = new Uint8Array(MASK_BYTES);
  if ((_getaffinity(0, MASK_BYTES, mask) as number) !== 0) throw new SysError('sched_getaffinity', 'self', koffi.errno());
  const out: number[] = [];
  for (let i = 0; i < MASK_BYTES * 8; i++) if (mask[i >> 3] & (1 << (i & 7))) out.push(i);
  return out;
}

const _yield = libc.func('int sched_yield(void)');
/** Give the CPU to another runnable thread if there is one (returns at once otherwise). */
export function schedYield(): void {
  _yield();
}

const SCHED_OTHER = 0, SCHED_IDLE = 5;
const CAP_SYS_NICE = 23;
const _setscheduler = libc.func('int sched_setscheduler(int, int, void *)');
const _getscheduler = libc.func('int sched_getscheduler(int)');

/** sched_setscheduler(tid, policy) with priority 0 (the only one of both classes used here). */
function setPolicy(tid: number, policy: number, name: string): void {
  if (!Number.isInteger(tid) || tid <= 0) throw new RangeError(`thread id ${tid}: a positive integer expected`);
  const param = new Int32Array(1); // struct sched_param { int sched_priority = 0 }
  if ((_setscheduler(tid, policy, param) as number) !== 0) throw new SysError('sched_setscheduler', `thread ${tid}, ${name}`, koffi.errno());
}

/**
 * Put thread `tid` (of this process) in the SCHED_IDLE class: it runs only when no ordinary
 * thread of the machine wants its CPU. Any thread may lower itself or its process's threads
 * this way; going back (setNormalPolicy) needs privilege: see canLeaveIdle().
 */
export function setIdlePolicy(tid: number): void {
  setPolicy(tid, SCHED_IDLE, 'SCHED_IDLE');
}

/** Put thread `tid` back in the ordinary class (SCHED_OTHER): needs canLeaveIdle(). */
export function setNormalPolicy(tid: number): void {
  setPolicy(tid, SCHED_OTHER, 'SCHED_OTHER');
}

/**
 * Whether this process may move a thread out of SCHED_IDLE again: with CAP_SYS_NICE, or an
 * RLIMIT_NICE that allows nice 0 (20 or more). Without either, SCHED_IDLE is for good.
 */
export function canLeaveIdle(): boolean {
  const status = readFileSync('/proc/self/status', 'utf8');
  const cap = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (cap && (BigInt(`0x${cap[1]}`) >> BigInt(CAP_SYS_NICE)) & 1n) return true;
  const lim = /^Max nice priority\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return lim !== null && (lim[1] === 'unlimited' || Number(lim[1]) >= 20);
}

/** What the scheduler says of one thread: CPU time, time spent waiting for a CPU, and its state. */
export interface ThreadSched {
  /** Nanoseconds on a CPU (/proc/self/task/TID/schedstat, first field). */
  runNs: number;
  /**
   * Nanoseconds runnable but waiting for a CPU (second field). The kernel adds a wait when the
   * thread gets a CPU: a thread that never gets one shows none, see `runnable`.
   */
  waitNs: number;
  /** Runnable now (state R in /proc/self/task/TID/stat): on a CPU or waiting for one. */
  runnable: boolean;
}

/** The scheduler's figures for thread `tid` of this process; null once the thread is gone. */
export function threadSched(tid: number): ThreadSched | null {
  try {
    const f = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ');
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const runNs = Number(f[0]), waitNs = Number(f[1]);
    if (!Number.isFinite(runNs) || !Number.isFinite(waitNs)) return null;
    return { runNs, waitNs, runnable: stat.charAt(stat.lastIndexOf(')') + 2) === 'R' };
  } catch {
    return null;
  }
}

/** True if thread `tid` is in the SCHED_IDLE class. */
export function hasIdlePolicy(tid: number): boolean {
  const p = _getscheduler(tid) as number;
  if (p < 0) throw new SysError('sched_getscheduler', `thread ${tid}`, koffi.errno());
  return p === SCHED_IDLE;
}

/** The ids of this process's threads now (the main thread's id is process.pid). */
export function threadIds(): number[] {
  return readdirSync('/proc/self/task').map(Number).filter((t) => Number.isInteger(t) && t > 0);
}
