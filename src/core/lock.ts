// A mutex in two 32-bit words of a memory region: [owner][waiters]. The owner word holds
// the owner's kernel thread id (0 = free), which is unique across processes, so a waiter can
// tell whether the owner still exists and take over a lock left by a dead thread or process
// (its critical section was interrupted: whatever it had not published stays unpublished).
// Short waits spin; longer ones sleep on the owner word (futex for shared files,
// Atomics.wait for a SharedArrayBuffer); unlock wakes a sleeper only if there is one.
// lockWithin() bounds the wait: a live owner that never lets go (a stopped process, a
// hostile participant, a lock word planted in a file) costs the caller at most that long.
import { existsSync } from 'node:fs';
import { gettid } from '../sys/libc.js';
import { NetmapError, type Region } from './region.js';

/** This thread's kernel thread id: the lock token. */
export const OWNER_TOKEN = gettid();

const SPINS = 200;
const CHECK_OWNER_AFTER_MS = 50;
/** Lock words live past the first 64 bytes of the header (the config lock is at 64). */
const FIRST_LOCK_WORD = 16;

/** True if kernel task `tid` (a thread of any process) still exists. */
export function taskAlive(tid: number): boolean {
  return tid > 0 && existsSync(`/proc/${tid}`);
}

/** Take the lock whose owner word is at byte offset `ofs`; blocks until it is free. */
export function lock(region: Region, ofs: number): void {
  if (Atomics.compareExchange(region.i32, ofs >> 2, 0, OWNER_TOKEN) === 0) return;
  lockSlow(region, ofs >> 2, Infinity);
}

/**
 * Take the lock, waiting at most `waitMs` (0: try once, and take over from a dead owner).
 * Returns 0 when taken, else the thread id of the live owner that kept it.
 */
export function lockWithin(region: Region, ofs: number, waitMs: number): number {
  if (Atomics.compareExchange(region.i32, ofs >> 2, 0, OWNER_TOKEN) === 0) return 0;
  return lockSlow(region, ofs >> 2, waitMs);
}

function lockSlow(region: Region, idx: number, waitMs: number): number {
  // a NaN or corrupted offset lands here (word 0 holds the magic): never take over a
  // header word, that would overwrite it
  if (!(idx >= FIRST_LOCK_WORD)) throw new NetmapError('EINVAL', `${region.path || 'region'}: lock at byte offset ${idx * 4} lies in the region header (a corrupted record offset)`);
  const i32 = region.i32;
  const start = Date.now();
  let since = 0;
  for (let spin = 0; ; spin++) {
    const cur = Atomics.load(i32, idx);
    if (cur === 0) {
      if (Atomics.compareExchange(i32, idx, 0, OWNER_TOKEN) === 0) return 0;
      continue;
    }
    if (cur === OWNER_TOKEN) throw new Error('netmap-ts: lock already held by this thread (re-entrant use)');
    if (spin < SPINS && waitMs > 0) continue;
    const now = Date.now();
    if (since === 0) since = now;
    const late = now - start >= waitMs;
    if ((late || now - since > CHECK_OWNER_AFTER_MS) && !taskAlive(cur)) {
      // the owner died holding the lock: take it over
      if (Atomics.compareExchange(i32, idx, cur, OWNER_TOKEN) === cur) return 0;
      continue;
    }
    if (late) return cur;
    Atomics.add(i32, idx + 1, 1);
    region.wait(idx, cur, Math.min(10, Math.max(1, waitMs - (now - start))));
    Atomics.sub(i32, idx + 1, 1);
  }
}

/** Try once; true when taken. */
export function tryLock(region: Region, ofs: number): boolean {
  return Atomics.compareExchange(region.i32, ofs >> 2, 0, OWNER_TOKEN) === 0;
}

export function unlock(region: Region, ofs: number): void {
  const i32 = region.i32, idx = ofs >> 2;
  Atomics.store(i32, idx, 0);
  if (Atomics.load(i32, idx + 1) > 0) region.notify(idx, 1);
}

/** Owner thread id of a lock (0 if free). */
export function lockOwner(region: Region, ofs: number): number {
  return Atomics.load(region.i32, ofs >> 2);
}
