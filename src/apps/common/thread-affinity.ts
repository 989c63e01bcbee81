// The CPU set of the calling thread as a whole, so that a thread pinned for busy polling
// (vale-ctl -p -C) can be given back every CPU it had when polling stops (vale-ctl -P).
// sys/sched.ts pins to one CPU and reads the set; this restores a set.
import koffi from 'koffi';
import { SysError } from '../../sys/libc.js';

const libc = koffi.load('libc.so.6');
const _setaffinity = libc.func('int sched_setaffinity(int, size_t, void *)');
const MASK_BYTES = 128; // 1024 CPUs, as sys/sched.ts

/** Let the calling thread run on exactly `cpus`. */
export function setThreadCpus(cpus: readonly number[]): void {
  const mask = new Uint8Array(MASK_BYTES);
  for (const c of cpus) {
    if (!Number.isInteger(c) || c < 0 || c >= MASK_BYTES * 8) throw new RangeError(`CPU ${c} out of range`);
    mask[c >> 3] |= 1 << (c & 7);
  }
  if ((_setaffinity(0, MASK_BYTES, mask) as number) !== 0) throw new SysError('sched_setaffinity', cpus.join(','), koffi.errno());
}
