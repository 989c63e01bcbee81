// Copy delivery into a receive ring that several producers may feed (VALE destinations,
// copy monitors). A producer takes the ring's lock, checks the ring generation (the ring may
// have been destroyed since the producer looked it up), copies as many whole packets as fit,
// publishes the new producer index, and drops-and-counts the rest: no back-pressure, as in
// netmap. Fragment chains (NS_MOREFRAG) are delivered whole or not at all.
import { NS_MOREFRAG } from './constants.js';
import { RR } from './layout.js';
import { lock, unlock } from './lock.js';
import type { Region } from './region.js';
import { copyFrame, wakePort } from './sync.js';

/** Scratch table of frames (one entry per slot/fragment) gathered for delivery. */
export class FrameTable {
  readonly cap: number;
  /** Byte offset of each fragment's data. */
  readonly src: Uint32Array;
  readonly len: Uint16Array;
  readonly flags: Uint16Array;
  /** Slots in the packet that starts here (0 on continuation fragments). */
  readonly frags: Uint8Array;
  /** Per-packet scratch used by callers (destination, hash, ...). */
  readonly aux: Int32Array;
  count = 0;
  constructor(cap: number) {
    this.cap = cap;
    this.src = new Uint32Array(cap);
    this.len = new Uint16Array(cap);
    this.flags = new Uint16Array(cap);
    this.frags = new Uint8Array(cap);
    this.aux = new Int32Array(cap);
  }
}

/**
 * Deliver the packets whose first fragments are list[first..first+n) to rx ring `ring`
 * (expected generation `gen`). Returns packets delivered, or -1 if the ring no longer exists.
 */
export function deliverCopies(region: Region, ring: number, gen: number, ft: FrameTable, list: Int32Array, first: number, n: number, addFlags: number): number {
  const u32 = region.u32, u16 = region.u16, u8 = region.u8, f64 = region.f64;
  lock(region, ring + RR.lock);
  if (u32[(ring + RR.gen) >> 2] !== gen) {
    unlock(region, ring + RR.lock);
    return -1;
  }
  const nslots = u32[(ring + RR.numSlots) >> 2];
  const s = u32[(ring + RR.slotsOfs) >> 2] >> 2;
  const bufsOfs = region.bufsOfs, bufSize = region.bufSize;
  let prod = u32[(ring + RR.prod) >> 2];
  const stop = Atomics.load(u32, (ring + RR.hwcur) >> 2);
  let free = stop - 1 - prod;
  if (free < 0) free += nslots;
  let delivered = 0, drops = 0, bytes = 0;
  for (let k = first; k < first + n; k++) {
    const p = list[k];
    const nf = ft.frags[p];
    if (nf > free) { drops++; continue; }
    for (let f = p; f < p + nf; f++) {
      const slot = s + (prod << 2);
      const len = ft.len[f];
      copyFrame(u8, f64, ft.src[f], bufsOfs + u32[slot] * bufSize, len);
      u16[(slot << 1) + 2] = len;
      u16[(slot << 1) + 3] = (ft.flags[f] & NS_MOREFRAG) | addFlags;
      bytes += len;
      prod = prod + 1 === nslots ? 0 : prod + 1;
    }
    free -= nf;
    delivered++;
  }
  Atomics.store(u32, (ring + RR.prod) >> 2, prod);
  const port = u32[(ring + RR.portOfs) >> 2];
  if (drops) f64[(ring + RR.drops) >> 3] += drops;
  f64[(ring + RR.delivered) >> 3] += delivered;
  f64[(ring + RR.rxBytes) >> 3] += bytes;
  unlock(region, ring + RR.lock);
  if (delivered) wakePort(region, port);
  return delivered;
}

/**
 * Zero-copy hand-over of slots [from, to) of `srcRing` to rx ring `ring`: buffers are swapped
 * with the destination's free slots and both sides get NS_BUF_CHANGED. Used by /z monitors.
 * Returns slots handed over, or -1 if the ring no longer exists.
 */
export function deliverSwaps(region: Region, ring: number, gen: number, srcRing: number, from: number, to: number, addFlags: number): number {
  const u32 = region.u32, u16 = region.u16, f64 = region.f64;
  lock(region, ring + RR.lock);
  if (u32[(ring + RR.gen) >> 2] !== gen) {
    unlock(region, ring + RR.lock);
    return -1;
  }
  const nslots = u32[(ring + RR.numSlots) >> 2];
  const s = u32[(ring + RR.slotsOfs) >> 2] >> 2;
  const srcN = u32[(srcRing + RR.numSlots) >> 2];
  const ss = u32[(srcRing + RR.slotsOfs) >> 2] >> 2;
  let prod = u32[(ring + RR.prod) >> 2];
  const stop = Atomics.load(u32, (ring + RR.hwcur) >> 2);
  let free = stop - 1 - prod;
  if (free < 0) free += nslots;
  let moved = 0, drops = 0, bytes = 0;
  let chainLeft = 0; // slots of the current chain still to hand over (0: at a packet start)
  let skipping = false;
  for (let k = from; k !== to; k = k + 1 === srcN ? 0 : k + 1) {
    if (chainLeft === 0) {
      // a new packet: measure its chain, take it only if it fits whole
      let len = 1;
      for (let j = k; len < 64 && (u16[((ss + (j << 2)) << 1) + 3] & NS_MOREFRAG) && j !== to; len++) j = j + 1 === srcN ? 0 : j + 1;
      chainLeft = len;
      skipping = len > free;
      if (skipping) drops++;
    }
    chainLeft--;
    if (skipping) continue;
    const a = ss + (k << 2), b = s + (prod << 2);
    const idx = u32[a];
    u32[a] = u32[b];
    u32[b] = idx;
    u16[(b << 1) + 2] = u16[(a << 1) + 2];
    bytes += u16[(a << 1) + 2];
    u16[(b << 1) + 3] = (u16[(a << 1) + 3] & NS_MOREFRAG) | addFlags | 1; // NS_BUF_CHANGED
    u16[(a << 1) + 3] |= 1;
    prod = prod + 1 === nslots ? 0 : prod + 1;
    free--;
    moved++;
  }
  Atomics.store(u32, (ring + RR.prod) >> 2, prod);
  const port = u32[(ring + RR.portOfs) >> 2];
  if (drops) f64[(ring + RR.drops) >> 3] += drops;
  f64[(ring + RR.delivered) >> 3] += moved;
  f64[(ring + RR.rxBytes) >> 3] += bytes;
  unlock(region, ring + RR.lock);
  if (moved) wakePort(region, port);
  return moved;
}
