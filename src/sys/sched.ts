// CPU affinity of the calling thread (pkt-gen -a): sched_setaffinity(0, ...) applies to the
// thread that calls it, so a worker thread pins itself.
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
