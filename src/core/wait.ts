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
  if (heldCount > 0) flushWakes(); // never sleep on wake-ups kept (below): a sleeper may wait for them
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

/**
 * sleepOn() over n words of one region at once (words[0..n), each a sequence word with its
 * waiters count: the port records of the ports a thread serves), woken by any of them, where
 * region.canWaitMany; seqs receives the values seen. A producer that publishes to one of the
 * ports after the check changes its word, so futex_waitv(2) returns at once, as for one word.
 */
export function sleepOnMany(region: Region, words: Int32Array, seqs: Int32Array, n: number, c: WaitCheck): void {
  if (heldCount > 0) flushWakes();
  const i32 = region.i32;
  for (let k = 0; k < n; k++) {
    seqs[k] = Atomics.load(i32, words[k]);
    Atomics.add(i32, words[k] + 1, 1);
  }
  try {
    const ms = c.beforeSleep();
    if (ms > 0) region.waitMany(words, seqs, n, ms === Infinity ? -1 : ms);
  } finally {
    for (let k = 0; k < n; k++) Atomics.sub(i32, words[k] + 1, 1);
  }
}

/** sleepOn() without blocking the thread (the event loop keeps running). */
export async function sleepOnAsync(region: Region, seqIdx: number, c: WaitCheck): Promise<void> {
  if (heldCount > 0) flushWakes();
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
  if (holdDepth > 0 && keep(region, port)) return;
  wakeNow(region, port);
}

function wakeNow(region: Region, port: number): void {
  wakePortWord(region, port);
  wakeWord(region, ANY_WORD);
}

/** The sleepers of port record `port` only (an offset outside the object area: none). */
function wakePortWord(region: Region, port: number): void {
  if (port >= 4096 && port + PR.waiters < region.bufsOfs && (port & 63) === 0) wakeWord(region, (port + PR.wakeSeq) >> 2);
}

// ---- wake-ups kept for later, by this thread ----
// Each sync that publishes wakes the peer's sleepers. A thread that syncs many times in a row
// (poll's txsync then rxsync; a host's answers then the release of its batch; a daemon port
// thread forwarding burst after burst into a switch) would wake the same sleeper once per
// sync, and a sleeper sharing this thread's CPU is switched in at each wake to find a handful
// of frames. Between holdWakes() and releaseWakes() every wakePort() of this thread is kept,
// once per distinct (region, port), and done at the release (or at flushWakes()), the region's
// word for pollers of several ports once per region. Nothing is lost: a kept wake is always
// done, and one that finds the table full is done at once.
// Module state, hence per thread (each worker has its own); calls nest.
const HELD_MAX = 16;
let holdDepth = 0;
let heldCount = 0;
const heldRegion: (Region | null)[] = new Array<Region | null>(HELD_MAX).fill(null);
const heldPort = new Float64Array(HELD_MAX);

/** Keep this thread's wake-ups until the matching releaseWakes(). */
export function holdWakes(): void {
  holdDepth++;
}

/** End a holdWakes(): at the outermost one, do every kept wake-up (each sleeper once). */
export function releaseWakes(): void {
  if (holdDepth > 0 && --holdDepth > 0) return;
  flushWakes();
}

/**
 * Do the kept wake-ups now and go on holding: each port's sleepers, then the region's pollers
 * of several ports once per region (one wake-up for a poller whose several ports got frames).
 */
export function flushWakes(): void {
  const n = heldCount;
  heldCount = 0;
  for (let i = 0; i < n; i++) {
    const r = heldRegion[i]!;
    if (!r.unmapped) wakePortWord(r, heldPort[i]); // a region let go of meanwhile has nobody of ours to wake
  }
  for (let i = 0; i < n; i++) {
    const r = heldRegion[i]!;
    let first = !r.unmapped;
    for (let j = 0; j < i && first; j++) if (heldRegion[j] === r) first = false;
    if (first) wakeWord(r, ANY_WORD);
  }
  for (let i = 0; i < n; i++) heldRegion[i] = null;
}

/** Wake-ups kept and not done yet (distinct sleepers). */
export function heldWakes(): number {
  return heldCount;
}

/** Keep a wake-up; false when the table is full (the caller wakes at once). */
function keep(region: Region, port: number): boolean {
  for (let i = 0; i < heldCount; i++) if (heldRegion[i] === region && heldPort[i] === port) return true;
  if (heldCount === HELD_MAX) return false;
  heldRegion[heldCount] = region;
  heldPort[heldCount++] = port;
  return true;
}
