// The sync prologue: the checks netmap's kernel makes at every txsync/rxsync
// (nm_txsync_prologue / nm_rxsync_prologue, netmap_ring_reinit), written once and used by
// every port kind (VALE, pipes, monitors, null, Linux interfaces). Everything read here sits
// in shared memory that any participant may have overwritten, so nothing is trusted:
//
//  - the ring's geometry (num_slots, where its slots are) must lie inside the object area;
//  - head, cur, hwcur, hwtail must be slot numbers, head in [hwcur, hwtail], cur in [head, hwtail];
//  - every slot handed to the sync code needs a valid buf_idx (2..nbufs-1) and, on transmit,
//    a len of at most the frame limit; NS_MOREFRAG chains end after NETMAP_MAX_FRAGS slots;
//  - indices published by others (prod, a pipe peer's hwcur) must be slot numbers that only
//    move forward into the space the ring gave away.
// A violation resets the ring (netmap_ring_reinit) and throws NetmapError('EINVAL') naming the
// port and the field. The sync code after the prologue may index with what it validated.
import { MAX_SLOTS, NETMAP_MAX_FRAGS, NR_TX, NS_MOREFRAG } from './constants.js';
import { REGION_HEADER_SIZE, RR } from './layout.js';
import { NetmapError, type Region } from './region.js';

/** Circular distance from a to b on a ring of n slots. */
export function dist(a: number, b: number, n: number): number {
  const d = b - a;
  return d < 0 ? d + n : d;
}

/**
 * u32 index of slot 0 of ring record `ring` if the record and its slot array lie inside the
 * region's object area (below the buffers) with a num_slots in 2..MAX_SLOTS; -1 otherwise.
 * Used by producers on rings they do not own, where a bad geometry means "drop".
 */
export function ringSlots(region: Region, ring: number): number {
  if (!ringInArea(region, ring)) return -1;
  const u32 = region.u32;
  const n = u32[(ring + RR.numSlots) >> 2], so = u32[(ring + RR.slotsOfs) >> 2];
  return slotsInArea(region, n, so) ? so >>> 2 : -1;
}

/** A ring record offset (read from shared memory) that lies inside the object area. */
export function ringInArea(region: Region, ring: number): boolean {
  return ring >= REGION_HEADER_SIZE && ring + RR.slots <= region.bufsOfs && (ring & 63) === 0;
}

/** num_slots n and slot array offset so (read from shared memory) that fit the object area. */
export function slotsInArea(region: Region, n: number, so: number): boolean {
  return n >= 2 && n <= MAX_SLOTS && (so & 15) === 0 && so >= REGION_HEADER_SIZE && so + n * 16 <= region.bufsOfs;
}

/**
 * Figures of the complete packets the last txPrologue() accepted, [packets, bytes]: pipes and
 * the null port count with them instead of walking the slots again.
 */
export const txDone = new Float64Array(2);

/**
 * The transmit prologue: validate the ring and the slots [hwcur, head) the user hands over
 * (buf_idx, len <= maxLen). Returns the slot after the last complete packet (a packet ends at
 * a slot without NS_MOREFRAG, or at its NETMAP_MAX_FRAGS-th slot); an unfinished chain stays
 * with the user. Resets the ring and throws on a violation.
 *
 * One pass over the slot words does the slot rule for every slot, sums the lengths and ORs
 * the flags; only when some slot carries NS_MOREFRAG are the chains walked (chainsEnd). The
 * pass runs over the one or two contiguous pieces of [hwcur, head), so that its loop has no
 * wrap-around test.
 */
export function txPrologue(region: Region, t: number, what: string, maxLen: number): number {
  const head = ringPrologue(region, t, what);
  const u32 = region.u32;
  const s = u32[(t + RR.slotsOfs) >> 2] >>> 2;
  const n = u32[(t + RR.numSlots) >> 2];
  const hwcur = u32[(t + RR.hwcur) >> 2];
  const nb = region.nbufs - 2; // the slot rule as one unsigned compare: idx - 2 < nbufs - 2
  let bytes = 0, any = 0;
  for (let a = hwcur, b = head >= hwcur ? head : n; ; a = 0, b = head) {
    let i = s + (a << 2);
    const e = s + (b << 2);
    // four slots a step (fewer loop tests); a step with a bad slot is left to the loop below
    for (; i + 16 <= e; i += 16) {
      const w0 = u32[i + 1], w1 = u32[i + 5], w2 = u32[i + 9], w3 = u32[i + 13];
      const l0 = w0 & 0xffff, l1 = w1 & 0xffff, l2 = w2 & 0xffff, l3 = w3 & 0xffff;
      if (((u32[i] - 2) >>> 0) >= nb || ((u32[i + 4] - 2) >>> 0) >= nb || ((u32[i + 8] - 2) >>> 0) >= nb || ((u32[i + 12] - 2) >>> 0) >= nb ||
        l0 > maxLen || l1 > maxLen || l2 > maxLen || l3 > maxLen) break;
      bytes += l0 + l1 + l2 + l3;
      any |= w0 | w1 | w2 | w3;
    }
    for (; i < e; i += 4) {
      const w = u32[i + 1];
      if (((u32[i] - 2) >>> 0) >= nb || (w & 0xffff) > maxLen) badSlot(region, t, (i - s) >>> 2, what, maxLen);
      bytes += w & 0xffff;
      any |= w;
    }
    if (b === head) break;
  }
  if ((any & (NS_MOREFRAG << 16)) === 0) {
    txDone[0] = dist(hwcur, head, n);
    txDone[1] = bytes;
    return head;
  }
  return chainsEnd(u32, s, n, hwcur, head);
}

/** txPrologue's walk when [hwcur, head) holds NS_MOREFRAG chains (slots already checked). */
function chainsEnd(u32: Uint32Array, s: number, n: number, hwcur: number, head: number): number {
  let done = hwcur, pkts = 0, bytes = 0, doneBytes = 0, frags = 0;
  for (let k = hwcur; k !== head;) {
    const word = u32[s + (k << 2) + 1];
    bytes += word & 0xffff;
    frags++;
    k = k + 1 === n ? 0 : k + 1;
    if ((word & (NS_MOREFRAG << 16)) === 0 || frags === NETMAP_MAX_FRAGS) {
      done = k;
      pkts++;
      doneBytes = bytes;
      frags = 0;
    }
  }
  txDone[0] = pkts;
  txDone[1] = doneBytes;
  return done;
}

/**
 * The ring part of both prologues: geometry, and head/cur against hwcur/hwtail. Returns head.
 * The VALE txsync uses it alone and applies the slot rules (slotInvalid, the chain rule of
 * txPrologue) while it gathers, so that the slots are walked once.
 */
export function ringPrologue(region: Region, ring: number, what: string): number {
  if (ringSlots(region, ring) < 0) badGeometry(region, ring, what);
  const u32 = region.u32;
  return checkIndices(region, ring, u32[(ring + RR.numSlots) >> 2], u32[(ring + RR.hwcur) >> 2], what);
}

/** The slot rule: a buffer index in 2..nbufs-1 and a length of at most maxLen. */
export function slotInvalid(idx: number, len: number, nbufs: number, maxLen: number): boolean {
  return idx < 2 || idx >= nbufs || len > maxLen;
}

/**
 * The receive prologue: validate the ring and the buffer indices of the slots [hwcur, head)
 * the user releases (producers will write into those buffers). Returns head. Resets the ring
 * and throws on a violation.
 */
export function rxPrologue(region: Region, r: number, what: string): number {
  const s = ringSlots(region, r);
  if (s < 0) badGeometry(region, r, what);
  const u32 = region.u32;
  const n = u32[(r + RR.numSlots) >> 2];
  const hwcur = u32[(r + RR.hwcur) >> 2];
  const head = checkIndices(region, r, n, hwcur, what);
  const nb = region.nbufs - 2; // idx - 2 < nbufs - 2, unsigned: one compare per slot
  // the one or two contiguous pieces of [hwcur, head): no wrap-around test in the loop
  for (let a = hwcur, b = head >= hwcur ? head : n; ; a = 0, b = head) {
    let i = s + (a << 2);
    const e = s + (b << 2);
    for (; i + 16 <= e; i += 16) { // four slots a step; a step with a bad slot is left to the loop below
      if (((u32[i] - 2) >>> 0) >= nb || ((u32[i + 4] - 2) >>> 0) >= nb || ((u32[i + 8] - 2) >>> 0) >= nb || ((u32[i + 12] - 2) >>> 0) >= nb) break;
    }
    for (; i < e; i += 4) {
      if (((u32[i] - 2) >>> 0) >= nb) badSlot(region, r, (i - s) >>> 2, what, region.bufSize);
    }
    if (b === head) break;
  }
  return head;
}

/**
 * Check the new end of the frames an rx ring holds, published by others (`field`: the ring's
 * prod, or a pipe peer's hwcur): a slot number that moved forward from the old hwtail into
 * the space before hwcur (which the caller has already advanced to head). Returns it.
 */
export function checkPublished(region: Region, r: number, value: number, what: string, field: string): number {
  const u32 = region.u32;
  const n = u32[(r + RR.numSlots) >> 2];
  const hwcur = u32[(r + RR.hwcur) >> 2], old = u32[(r + RR.hwtail) >> 2];
  if (value < n && dist(old, value, n) <= dist(old, hwcur === 0 ? n - 1 : hwcur - 1, n)) return value;
  return reinitRing(region, r, `${what}: ${field} ${value} outside the free space [${old}, ${hwcur}) of the ring (num_slots ${n})`);
}

/** head/cur against hwcur/hwtail; returns head. */
function checkIndices(region: Region, ring: number, n: number, hwcur: number, what: string): number {
  const u32 = region.u32;
  const head = u32[(ring + RR.head) >> 2], cur = u32[(ring + RR.cur) >> 2];
  const hwtail = u32[(ring + RR.hwtail) >> 2];
  if (head < n && cur < n && hwcur < n && hwtail < n) {
    const span = dist(hwcur, hwtail, n);
    if (dist(hwcur, head, n) <= span && dist(head, cur, n) <= dist(head, hwtail, n)) return head;
  }
  // slow path: say which index is wrong
  const why = hwcur >= n ? `hwcur ${hwcur} >= num_slots`
    : hwtail >= n ? `hwtail ${hwtail} >= num_slots`
    : head >= n ? `head ${head} >= num_slots`
    : cur >= n ? `cur ${cur} >= num_slots`
    : dist(hwcur, head, n) > dist(hwcur, hwtail, n) ? `head ${head} is beyond tail ${hwtail} (or behind ${hwcur})`
    : `cur ${cur} is before head ${head} or beyond tail ${hwtail}`;
  return reinitRing(region, ring, `${what}: head ${head} / cur ${cur} outside the user's range [${hwcur}, ${hwtail}] (num_slots ${n}): ${why}`);
}

/** ringPrologue() under its older name, used by the Linux-interface ports (they check their slots as they go). */
export function checkHeadCur(region: Region, ring: number, what: string): void {
  ringPrologue(region, ring, what);
}

function badGeometry(region: Region, ring: number, what: string): never {
  const ok = ring >= REGION_HEADER_SIZE && ring + RR.slots <= region.bufsOfs;
  const n = ok ? region.u32[(ring + RR.numSlots) >> 2] : 0, so = ok ? region.u32[(ring + RR.slotsOfs) >> 2] : 0;
  throw new NetmapError('EINVAL', `netmap ring reset impossible: ${what}: ring record at ${ring}: ${
    !ok ? 'outside the object area' : n < 2 || n > MAX_SLOTS ? `num_slots ${n} outside 2..${MAX_SLOTS}` : `slot array offset ${so} outside the object area`}`);
}

/**
 * Reset a ring after a contract violation (netmap_ring_reinit): hwcur and hwtail back to slot
 * numbers (an rx ring's prod too), head = cur = hwcur, tail = hwtail, every slot with an
 * invalid buffer index gets a fresh buffer and oversize lengths are cleared. Throws.
 */
export function reinitRing(region: Region, ring: number, reason: string): never {
  const s = ringSlots(region, ring);
  if (s < 0) badGeometry(region, ring, reason);
  const u32 = region.u32, u16 = region.u16;
  const n = u32[(ring + RR.numSlots) >> 2];
  const tx = region.u16[(ring + RR.dir) >> 1] === NR_TX;
  let hwcur = u32[(ring + RR.hwcur) >> 2], hwtail = u32[(ring + RR.hwtail) >> 2];
  if (hwcur >= n) hwcur = hwtail < n ? (tx ? (hwtail + 1) % n : hwtail) : 0;
  if (hwtail >= n) hwtail = tx ? (hwcur + n - 1) % n : hwcur;
  Atomics.store(u32, (ring + RR.hwcur) >> 2, hwcur);
  u32[(ring + RR.hwtail) >> 2] = hwtail;
  if (!tx) { // producers fill [hwtail, hwcur - 1): a prod elsewhere is reset (frames past hwtail are lost)
    const prod = Atomics.load(u32, (ring + RR.prod) >> 2);
    if (!(prod < n && dist(hwtail, prod, n) <= dist(hwtail, hwcur === 0 ? n - 1 : hwcur - 1, n))) Atomics.store(u32, (ring + RR.prod) >> 2, hwtail);
  }
  u32[(ring + RR.head) >> 2] = hwcur;
  u32[(ring + RR.cur) >> 2] = hwcur;
  u32[(ring + RR.tail) >> 2] = hwtail;
  let fixed = 0;
  region.lockConfig();
  try {
    for (let i = 0; i < n; i++) {
      const idx = u32[s + 4 * i];
      if (idx < 2 || idx >= region.nbufs) {
        const b = region.allocBuf();
        if (b === 0) break; // out of buffers: the next reset tries again
        u32[s + 4 * i] = b;
        u16[((s + 4 * i) << 1) + 2] = 0;
        fixed++;
      }
      if (u16[((s + 4 * i) << 1) + 2] > region.bufSize) { u16[((s + 4 * i) << 1) + 2] = 0; fixed++; }
    }
  } finally {
    region.unlockConfig();
  }
  throw new NetmapError('EINVAL', `netmap ring reset: ${reason}${fixed ? ` (${fixed} bad slots repaired)` : ''}`);
}

/** Throw (after resetting the ring) if slot k holds an invalid buffer index or a length over maxLen. */
export function badSlot(region: Region, ring: number, k: number, what: string, maxLen = region.bufSize): never {
  const u32 = region.u32;
  const s = u32[(ring + RR.slotsOfs) >> 2] >> 2;
  const idx = u32[s + 4 * k], len = region.u16[((s + 4 * k) << 1) + 2];
  const why = idx < 2 || idx >= region.nbufs ? `invalid buf_idx ${idx} (valid: 2..${region.nbufs - 1})` : `len ${len} over the buffer size ${maxLen}`;
  reinitRing(region, ring, `${what}: slot ${k}: ${why}`);
}

/**
 * The transmit epilogue of the ports whose frames are gone when txsync returns (the kernel or
 * a guest copied them: Linux interfaces, TAP, VXLAN, vhost-user): hwcur to the first slot not
 * taken, the ring's tx counters (written only when something was taken or dropped), and every
 * taken slot handed back at once (hwtail = tail = hwcur - 1). A port that still has a slot or
 * an errno to report calls it first, so that the ring is consistent when it throws.
 */
export function txEpilogue(region: Region, t: number, hwcur: number, pkts: number, bytes: number, drops: number): void {
  const u32 = region.u32;
  const n = u32[(t + RR.numSlots) >> 2];
  u32[(t + RR.hwcur) >> 2] = hwcur;
  countTx(region, t, pkts, bytes, drops);
  const tail = hwcur === 0 ? n - 1 : hwcur - 1;
  u32[(t + RR.hwtail) >> 2] = tail;
  u32[(t + RR.tail) >> 2] = tail;
}

/**
 * The receive epilogue of the same ports: the new hwtail (the end of what the sync wrote into
 * the free slots), the ring's rx counters (written only when something came or was dropped),
 * and tail = hwtail for the user.
 */
export function rxEpilogue(region: Region, r: number, hwtail: number, pkts: number, bytes: number, drops: number): void {
  const u32 = region.u32;
  if (pkts !== 0 || drops !== 0) {
    u32[(r + RR.hwtail) >> 2] = hwtail;
    countRx(region, r, pkts, bytes, drops);
  }
  u32[(r + RR.tail) >> 2] = hwtail;
}

/** Add to tx ring t's counters (written only when something was taken or dropped). */
export function countTx(region: Region, t: number, pkts: number, bytes: number, drops: number): void {
  if (pkts === 0 && drops === 0) return;
  const f64 = region.f64;
  f64[(t + RR.txPkts) >> 3] += pkts;
  f64[(t + RR.txBytes) >> 3] += bytes;
  f64[(t + RR.txDrops) >> 3] += drops;
}

/** Add to rx ring r's counters (written only when something came or was dropped). */
export function countRx(region: Region, r: number, pkts: number, bytes: number, drops: number): void {
  if (pkts === 0 && drops === 0) return;
  const f64 = region.f64;
  f64[(r + RR.delivered) >> 3] += pkts;
  f64[(r + RR.rxBytes) >> 3] += bytes;
  f64[(r + RR.drops) >> 3] += drops;
}

/** Update the ring's timestamp when NR_TIMESTAMP is set. */
export function stampRing(region: Region, ring: number): void {
  const now = Date.now();
  region.u32[(ring + RR.tsSec) >> 2] = Math.floor(now / 1000);
  region.u32[(ring + RR.tsUsec) >> 2] = (now % 1000) * 1000;
}
