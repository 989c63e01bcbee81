// Scheduling of this process's threads: CPU affinity (pkt-gen -a; sched_setaffinity(0, ...) applies
// to the thread that calls it, so a worker thread pins itself), yielding, and the SCHED_IDLE class
// for threads that must not take a CPU from a data loop (apps/common/idle-helpers.ts).
import { readdirSync } from 'node:fs';
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

const SCHED_IDLE = 5;
const _setscheduler = libc.func('int sched_setscheduler(int, int, void *)');
const _getscheduler = libc.func('int sched_getscheduler(int)');

/**
 * Put thread `tid` (of this process) in the SCHED_IDLE class: it runs only when no ordinary
 * thread of the machine wants its CPU. Any thread may lower itself or its process's threads
 * this way; going back needs privilege (CAP_SYS_NICE or RLIMIT_NICE), so it is for threads
 * that stay background until the process exits.
 */
export function setIdlePolicy(tid: number): void {
  if (!Number.isInteger(tid) || tid <= 0) throw new RangeError(`thread id ${tid}: a positive integer expected`);
  const param = new Int32Array(1); // struct sched_param { int sched_priority = 0 }
  if ((_setscheduler(tid, SCHED_IDLE, param) as number) !== 0) throw new SysError('sched_setscheduler', `thread ${tid}, SCHED_IDLE`, koffi.errno());
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
