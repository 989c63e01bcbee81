// A mutex in a 32-bit word of shared memory: 0 = free, otherwise the owner's token.
// Short critical sections spin; longer waits sleep on the word (Atomics.wait), so a waiter
// burns no CPU. The owner token lets a later layer recover a lock whose owner died.
import { threadId } from 'node:worker_threads';

/** This thread's lock token (non-zero). */
export const OWNER_TOKEN = ((process.pid & 0x3fffff) << 10) | ((threadId + 1) & 0x3ff) || 1;

const SPINS = 200;

/** Take the lock at i32[index]; blocks (sleeping after a short spin) until free. */
export function lock(i32: Int32Array, index: number): void {
  if (Atomics.compareExchange(i32, index, 0, OWNER_TOKEN) === 0) return;
  lockSlow(i32, index);
}

function lockSlow(i32: Int32Array, index: number): void {
  for (let spin = 0; ; spin++) {
    const cur = Atomics.load(i32, index);
    if (cur === 0) {
      if (Atomics.compareExchange(i32, index, 0, OWNER_TOKEN) === 0) return;
      continue;
    }
    if (cur === OWNER_TOKEN) throw new Error('netmap-ts: lock already held by this thread (re-entrant use)');
    if (spin > SPINS) Atomics.wait(i32, index, cur, 1);
  }
}

/** Try once; true when taken. */
export function tryLock(i32: Int32Array, index: number): boolean {
  return Atomics.compareExchange(i32, index, 0, OWNER_TOKEN) === 0;
}

export function unlock(i32: Int32Array, index: number): void {
  Atomics.store(i32, index, 0);
  Atomics.notify(i32, index, 1);
}
