// The wake-up protocol, both sides, in one place. A waiter sleeps on a sequence word with a
// waiters count beside it (a port record's wakeSeq/waiters, or the region header's
// anyWakeSeq/anyWaiters for pollers of several ports):
//
//   waiter (sleepOn)                              producer (wakePort, after publishing)
//   seq = Atomics.load(seq word)                  if Atomics.load(waiters) > 0:
//   Atomics.add(waiters, 1)                          Atomics.add(seq word, 1)
//   check again (WaitCheck.beforeSleep)              notify(seq word)
//   sleep while the seq word still holds seq
//   Atomics.sub(waiters, 1)
//
// A producer that publishes after the waiter's last check sees waiters > 0 and changes the
// word, so the sleep either does not start or returns: no wake-up is lost, and a producer pays
// one atomic load per word when nobody sleeps. The sleep is a futex on a mapped file (between
// processes) or Atomics.wait on a SharedArrayBuffer (region.wait).
import { PR, RH } from './layout.js';
import type { Region } from './region.js';

/** What a waiter does after announcing itself: check again and say how long to sleep. */
export interface WaitCheck {
  /** Milliseconds to sleep (<= 0: do not sleep, something is ready; Infinity: until woken). */
  beforeSleep(): number;
}

/** i32 index of a port record's sequence word (its waiters count is the next word). */
export function portWord(rec: number): number {
  return (rec + PR.wakeSeq) >> 2;
}
/** i32 index of the region's word for pollers of several ports. */
export const ANY_WORD = RH.anyWakeSeq >> 2;
// the waiters count sits right after each sequence word
if (PR.waiters !== PR.wakeSeq + 4 || RH.anyWaiters !== RH.anyWakeSeq + 4) throw new Error('wait: word layout');

/** Announce a waiter on word `seqIdx`, run c.beforeSleep(), sleep as long as it says unless woken. */
export function sleepOn(region: Region, seqIdx: number, c: WaitCheck): void {
  const i32 = region.i32;
  const seq = Atomics.load(i32, seqIdx);
  Atomics.add(i32, seqIdx + 1, 1);
  try {
    const ms = c.beforeSleep();
    if (ms > 0) region.wait(seqIdx, seq, ms === Infinity ? -1 : ms);
  } finally {
    Atomics.sub(i32, seqIdx + 1, 1);
  }
}

/** sleepOn() without blocking the thread (the event loop keeps running). */
export async function sleepOnAsync(region: Region, seqIdx: number, c: WaitCheck): Promise<void> {
  const i32 = region.i32;
  const seq = Atomics.load(i32, seqIdx);
  Atomics.add(i32, seqIdx + 1, 1);
  try {
    const ms = c.beforeSleep();
    if (ms > 0) await region.waitAsync(seqIdx, seq, ms === Infinity ? -1 : ms);
  } finally {
    Atomics.sub(i32, seqIdx + 1, 1);
  }
}

/** Wake every waiter of word `seqIdx` if there is one. */
export function wakeWord(region: Region, seqIdx: number): void {
  const i32 = region.i32;
  if (Atomics.load(i32, seqIdx + 1) > 0) {
    Atomics.add(i32, seqIdx, 1);
    region.notify(seqIdx, 0x7fffffff);
  }
}

/**
 * Wake threads sleeping in poll() on port record `port`, and in pollPorts() on any port of the
 * region. `port` may come from shared memory: an offset outside the object area wakes only
 * the region word. Two atomic loads when nobody waits.
 */
export function wakePort(region: Region, port: number): void {
  if (port >= 4096 && port + PR.waiters < region.bufsOfs && (port & 63) === 0) wakeWord(region, (port + PR.wakeSeq) >> 2);
  wakeWord(region, ANY_WORD);
}
