// Copy delivery into a receive ring that several producers may feed (VALE destinations,
// copy monitors). A producer takes the ring's lock, checks the ring generation (the ring may
// have been destroyed since the producer looked it up), copies as many whole packets as fit,
// publishes the new producer index, and drops-and-counts the rest: no back-pressure, as in
// netmap. Fragment chains (NS_MOREFRAG) are delivered whole or not at all.
//
// A FrameConverter, when the caller passes one, rewrites each packet on its way in (VALE
// between ports whose virtio-net header lengths differ, src/vale/offload.ts): it plans the
// packet's output (slots and frames it makes, or a refusal it counts itself) and fills each
// destination slot's buffer; the locking, ring checks, free-slot accounting, counters and the
// wake-up stay here, the one delivery mechanism.
import { NETMAP_MAX_FRAGS, NS_BUF_CHANGED, NS_MOREFRAG } from './constants.js';
import { RR } from './layout.js';
import { lockWithin, unlock } from './lock.js';
import type { Region } from './region.js';
import { copyFrame } from './frame-copy.js';
import { ringInArea, slotsInArea } from './sync.js';
import { wakePort } from './wait.js';

/**
 * How long a producer waits for a destination ring's lock. A legitimate holder keeps it for
 * one batch's copies (microseconds, or a few scheduler slices on a loaded machine); a live
 * participant that never lets go (stopped, hostile, or a lock word written over) costs each
 * sender at most this much per batch, and the batch is dropped and counted by the caller.
 */
export const RING_LOCK_WAIT_MS = 1000;

/**
 * Whether this thread's last delivery (of any of the three kinds) found its ring without room
 * for every packet, so that some were dropped for it. VALE's forwarding reads it after each
 * delivery to a destination port (vale/forward.ts), telling a full destination apart from
 * frames that had no destination, which the drop counters cannot.
 */
export function lastDeliveryLackedRoom(): boolean {
  return lackedRoom[0] !== 0;
}
const lackedRoom = new Uint8Array(1);

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
 * Rewrites packets while deliverCopies puts them into a ring. For each packet, plan() is called
 * once, then (when the ring has room) fill(0..slots-1) in order; nothing is allocated.
 */
export interface FrameConverter {
  /**
   * Plan packet `p` (a first-fragment index of `ft`) for a ring of `bufSize`-byte buffers:
   * returns the destination slots its output takes (> 0), or 0 when the packet is refused (the
   * converter counts the refusal under its own cause; the ring counts nothing).
   */
  plan(u8: Uint8Array, ft: FrameTable, p: number, bufSize: number): number;
  /** Frames the planned output makes (the receiver's count; a chain is one frame). */
  frames: number;
  /**
   * Write output slot j of the planned packet into the buffer at byte offset `dst` (bufSize
   * bytes). Returns the slot word: its length | NS_MOREFRAG << 16 when the frame goes on.
   */
  fill(u8: Uint8Array, j: number, dst: number, bufSize: number): number;
}

/**
 * Deliver the packets whose first fragments are list[first..first+n) to rx ring `ring`
 * (expected generation `gen`). Returns packets delivered, or -1 if the ring no longer exists,
 * its record is unusable or a live owner kept its lock past RING_LOCK_WAIT_MS (every packet is then the caller's to count as dropped).
 * With a converter `conv`, each packet goes in as conv writes it (see FrameConverter): the
 * return value still counts the caller's packets, the ring's counters the frames it received.
 * `singles` (no converter) says every listed packet is one slot without NS_MOREFRAG: the
 * delivery then takes a loop without the chain and space tests per packet.
 *
 * The destination ring is another participant's: its geometry, prod, hwcur and the buf_idx of
 * every slot written are checked before use. A bad value stops the delivery to this ring
 * only: what was copied before it is published, the rest is dropped and counted here.
 */
export function deliverCopies(region: Region, ring: number, gen: number, ft: FrameTable, list: Int32Array, first: number, n: number, addFlags: number,
  conv: FrameConverter | null = null, singles = false): number {
  lackedRoom[0] = 0;
  const ok = openDelivery(region, ring, gen, n);
  if (ok <= 0) return ok;
  const u32 = region.u32, u16 = region.u16, u8 = region.u8, f64 = region.f64;
  const s = opened[0], nslots = opened[1];
  let prod = opened[2], free = opened[3];
  // (| 0: untagged once here, not at each use in the loop; the copy routine in a local: a
  // module binding is reloaded and checked at every call in a loop)
  const bufsOfs = region.bufsOfs | 0, bufSize = region.bufSize | 0, nbufs = region.nbufs | 0, copy = copyFrame;
  let delivered = 0, drops = 0, bytes = 0, bad = 0, frames = 0, roomless = false;
  const end = first + n;
  const fSrc = ft.src, fLen = ft.len, fFlags = ft.flags, fFrags = ft.frags; // locals: no reload per packet
  if (singles && conv === null) {
    // every packet is one slot without NS_MOREFRAG (the caller's gather saw no chain): the
    // first min(n, free) packets fit and the rest are dropped, so the loop needs no space
    // test; it runs over the one or two contiguous pieces of the destination ring (no
    // wrap-around test) and writes each slot word as len | the constant flags
    const fit = n < free ? n : free;
    drops = n - fit;
    if (drops) lackedRoom[0] = 1;
    const fl = addFlags << 16, nb = nbufs - 2;
    let k = first;
    const kEnd = first + fit;
    while (k < kEnd) {
      const stepEnd = kEnd - k > nslots - prod ? k + nslots - prod : kEnd;
      let slot = s + (prod << 2);
      for (; k < stepEnd; k++, slot += 4) {
        const idx = u32[slot];
        if (((idx - 2) >>> 0) >= nb) break; // the receiver broke a slot (below)
        const p = list[k], len = fLen[p];
        copy(u8, f64, fSrc[p], bufsOfs + idx * bufSize, len);
        u32[slot + 1] = len | fl;
        bytes += len;
      }
      prod = (slot - s) >>> 2;
      if (prod === nslots) prod = 0;
      if (k < stepEnd) { bad = end - k; drops = bad; break; } // nothing more goes to this ring in this batch
    }
    delivered = k - first;
  } else for (let k = first; k < end; k++) {
    const p = list[k];
    if (conv !== null) {
      const need = conv.plan(u8, ft, p, bufSize);
      if (need <= 0) continue; // refused: counted by the converter, under its cause
      if (need > free) { drops += conv.frames; roomless = true; continue; }
      const start = prod;
      let pktBytes = 0, broken = false;
      for (let j = 0; j < need; j++) {
        const slot = s + (prod << 2);
        const idx = u32[slot];
        if (idx < 2 || idx >= nbufs) { broken = true; break; }
        const w = conv.fill(u8, j, bufsOfs + idx * bufSize, bufSize);
        u32[slot + 1] = (w & 0xffff) | ((((w >>> 16) & NS_MOREFRAG) | addFlags) << 16);
        pktBytes += w & 0xffff;
        prod = prod + 1 === nslots ? 0 : prod + 1;
      }
      if (broken) { // as below: nothing more goes to this ring in this batch
        prod = start;
        bad = end - k;
        drops += bad;
        break;
      }
      bytes += pktBytes;
      free -= need;
      frames += conv.frames;
      delivered++;
      continue;
    }
    const nf = fFrags[p];
    if (nf > free) { drops++; roomless = true; continue; }
    if (nf === 1) {
      // the common case, one slot: its word (len | flags << 16) is written with one store
      const slot = s + (prod << 2);
      const idx = u32[slot];
      if (idx < 2 || idx >= nbufs) { bad = end - k; drops += bad; break; } // the receiver broke a slot (below)
      const len = fLen[p];
      copy(u8, f64, fSrc[p], bufsOfs + idx * bufSize, len);
      u32[slot + 1] = len | (((fFlags[p] & NS_MOREFRAG) | addFlags) << 16);
      bytes += len;
      prod = prod + 1 === nslots ? 0 : prod + 1;
      free--;
      delivered++;
      continue;
    }
    const start = prod;
    let pktBytes = 0, broken = false;
    for (let f = p; f < p + nf; f++) {
      const slot = s + (prod << 2);
      const idx = u32[slot];
      if (idx < 2 || idx >= nbufs) { broken = true; break; }
      const len = fLen[f];
      copy(u8, f64, fSrc[f], bufsOfs + idx * bufSize, len);
      u16[(slot << 1) + 2] = len;
      u16[(slot << 1) + 3] = (fFlags[f] & NS_MOREFRAG) | addFlags;
      pktBytes += len;
      prod = prod + 1 === nslots ? 0 : prod + 1;
    }
    if (broken) { // the receiver broke a slot: nothing more goes to this ring in this batch
      prod = start;
      bad = end - k;
      drops += bad;
      break;
    }
    bytes += pktBytes;
    free -= nf;
    delivered++;
  }
  if (roomless) lackedRoom[0] = 1;
  closeDelivery(region, ring, prod, conv === null ? delivered : frames, drops, bad, bytes, delivered > 0);
  return delivered;
}

/**
 * deliverCopies for the packets in the contiguous slots [ss, ss + 4n) (a u32 index) of a
 * sender's tx ring, every one a single slot without NS_MOREFRAG, all for this ring: VALE's
 * common case (src/vale/forward.ts), with no table of frames in between. The sender's
 * prologue checked these slots, but they are shared memory that may have changed since: a
 * buf_idx or len now out of range stops the delivery there (what was copied is published,
 * the rest is the caller's to count as dropped, not this ring's); flags are not read (each
 * slot written gets len | addFlags). Returns packets delivered, or -1 as deliverCopies does.
 */
export function deliverSlots(region: Region, ring: number, gen: number, ss: number, n: number, addFlags: number): number {
  lackedRoom[0] = 0;
  const ok = openDelivery(region, ring, gen, n);
  if (ok <= 0) return ok;
  const u32 = region.u32, u8 = region.u8, f64 = region.f64;
  const s = opened[0], nslots = opened[1], free = opened[3];
  let prod = opened[2];
  // (| 0: untagged once here, not at each use in the loop)
  const bufsOfs = region.bufsOfs | 0, bufSize = region.bufSize | 0, nb = (region.nbufs - 2) | 0, fl = addFlags << 16;
  // imported bindings in locals: TurboFan reloads (and hole-checks) a module binding at every
  // use inside a loop, a local once
  const copy = copyFrame;
  // the first min(n, free) packets fit, the rest are dropped; the loop runs over the one or
  // two contiguous pieces of the destination ring
  const fit = n < free ? n : free;
  let drops = n - fit, bad = 0, bytes = 0, k = 0, i = ss, broke = false;
  if (drops) lackedRoom[0] = 1;
  while (k < fit && !broke) {
    const stepEnd = fit - k > nslots - prod ? k + nslots - prod : fit;
    let slot = s + (prod << 2);
    for (; k < stepEnd; k++, slot += 4, i += 4) {
      const idx = u32[slot], from = u32[i], len = u32[i + 1] & 0xffff;
      if (((idx - 2) >>> 0) >= nb) { bad = fit - k; drops += bad; broke = true; break; } // the receiver broke a slot
      // the sender changed a slot since its check (its flags are not copied: only the buffer
      // and the length matter here)
      if (((from - 2) >>> 0) >= nb || len > bufSize) { broke = true; break; }
      copy(u8, f64, bufsOfs + from * bufSize, bufsOfs + idx * bufSize, len);
      u32[slot + 1] = len | fl;
      bytes += len;
    }
    prod = (slot - s) >>> 2;
    if (prod === nslots) prod = 0;
  }
  closeDelivery(region, ring, prod, k, drops, bad, bytes, k > 0);
  return k;
}

/** What openDelivery() found: the ring's slot array (u32 index), num_slots, prod, free slots. */
const opened = new Int32Array(4);

/**
 * Lock rx ring `ring` (expected generation `gen`) for a delivery of n packets and read its
 * state into `opened`. Returns 1 (locked), -1 when the ring no longer exists or its lock
 * stayed taken (unlocked, nothing counted), 0 when its geometry or indices are out of range
 * (the n packets counted there as dropped at bad slots, unlocked).
 */
function openDelivery(region: Region, ring: number, gen: number, n: number): number {
  // (the generation is checked before locking too: a damaged monitor list must not make us
  // take a "lock" at a random place of the object area)
  if (!ringInArea(region, ring) || region.u32[(ring + RR.gen) >> 2] !== gen) return -1;
  const u32 = region.u32, f64 = region.f64;
  if (lockWithin(region, ring + RR.lock, RING_LOCK_WAIT_MS) !== 0) return -1;
  if (u32[(ring + RR.gen) >> 2] !== gen) {
    unlock(region, ring + RR.lock);
    return -1;
  }
  const nslots = u32[(ring + RR.numSlots) >> 2], so = u32[(ring + RR.slotsOfs) >> 2];
  const prod = u32[(ring + RR.prod) >> 2];
  const stop = Atomics.load(u32, (ring + RR.hwcur) >> 2);
  if (!slotsInArea(region, nslots, so) || prod >= nslots || stop >= nslots) {
    if (n > 0) {
      f64[(ring + RR.drops) >> 3] += n;
      f64[(ring + RR.badSlots) >> 3] += n;
    }
    unlock(region, ring + RR.lock);
    return 0;
  }
  let free = stop - 1 - prod;
  if (free < 0) free += nslots;
  opened[0] = so >>> 2; opened[1] = nslots; opened[2] = prod; opened[3] = free;
  return 1;
}

/**
 * End a delivery openDelivery() began: publish prod, add to the ring's counters (`delivered`
 * packets), unlock, and wake the receiver when `wake` (something went in).
 */
function closeDelivery(region: Region, ring: number, prod: number, delivered: number, drops: number, bad: number, bytes: number, wake: boolean): void {
  const u32 = region.u32, f64 = region.f64;
  Atomics.store(u32, (ring + RR.prod) >> 2, prod);
  const port = u32[(ring + RR.portOfs) >> 2];
  if (drops) f64[(ring + RR.drops) >> 3] += drops;
  if (bad) f64[(ring + RR.badSlots) >> 3] += bad;
  f64[(ring + RR.delivered) >> 3] += delivered;
  f64[(ring + RR.rxBytes) >> 3] += bytes;
  unlock(region, ring + RR.lock);
  if (wake) wakePort(region, port);
}

/**
 * Zero-copy hand-over of slots [from, to) of `srcRing` (validated by its owner's prologue) to
 * rx ring `ring`: buffers are swapped with the destination's free slots and both sides get
 * NS_BUF_CHANGED. Used by /z monitors. A packet (a NS_MOREFRAG chain of up to
 * NETMAP_MAX_FRAGS slots, cut at `to`) goes whole or not at all; the destination's buffer
 * indices are checked before any is swapped into the source ring. Returns packets handed
 * over, or -1 if the ring no longer exists or is unusable.
 */
export function deliverSwaps(region: Region, ring: number, gen: number, srcRing: number, from: number, to: number, addFlags: number): number {
  // (n = 0: a ring with a bad geometry counts nothing here; the hand-over is the caller's to count)
  lackedRoom[0] = 0;
  if (openDelivery(region, ring, gen, 0) <= 0) return -1;
  const u32 = region.u32, u16 = region.u16;
  const s = opened[0], nslots = opened[1];
  let prod = opened[2], free = opened[3];
  const srcN = u32[(srcRing + RR.numSlots) >> 2];
  const ss = u32[(srcRing + RR.slotsOfs) >> 2] >>> 2;
  const nbufs = region.nbufs;
  let moved = 0, slots = 0, drops = 0, bad = 0, bytes = 0, roomless = false;
  for (let k = from; k !== to;) {
    // a packet: its chain ends at a slot without NS_MOREFRAG, its 64th slot, or at `to`
    let len = 1;
    for (let j = k; len < NETMAP_MAX_FRAGS && (u16[((ss + (j << 2)) << 1) + 3] & NS_MOREFRAG);) {
      j = j + 1 === srcN ? 0 : j + 1;
      if (j === to) break;
      len++;
    }
    let ok = len <= free;
    if (!ok) roomless = true;
    for (let i = 0, d = prod; ok && i < len; i++, d = d + 1 === nslots ? 0 : d + 1) {
      const idx = u32[s + (d << 2)];
      if (idx < 2 || idx >= nbufs) { ok = false; bad++; }
    }
    if (!ok) {
      drops++;
      for (let i = 0; i < len; i++) k = k + 1 === srcN ? 0 : k + 1;
      continue;
    }
    let last = 0;
    for (let i = 0; i < len; i++) {
      const a = ss + (k << 2), b = s + (prod << 2);
      last = u16[(a << 1) + 3];
      const idx = u32[a];
      u32[a] = u32[b];
      u32[b] = idx;
      u16[(b << 1) + 2] = u16[(a << 1) + 2];
      bytes += u16[(a << 1) + 2];
      u16[(b << 1) + 3] = (u16[(a << 1) + 3] & NS_MOREFRAG) | addFlags | NS_BUF_CHANGED;
      u16[(a << 1) + 3] |= NS_BUF_CHANGED;
      prod = prod + 1 === nslots ? 0 : prod + 1;
      k = k + 1 === srcN ? 0 : k + 1;
    }
    free -= len;
    slots += len;
    // a packet counts once, with its last slot (a chain cut at `to` counts when it ends)
    if (!(last & NS_MOREFRAG) || len === NETMAP_MAX_FRAGS) moved++;
  }
  if (roomless) lackedRoom[0] = 1;
  // (a chain cut at `to` moved slots but no packet yet: the receiver is woken for them too)
  closeDelivery(region, ring, prod, moved, drops, bad, bytes, slots > 0);
  return moved;
}
