// The checks netmap's kernel makes at every sync (nm_txsync_prologue / nm_rxsync_prologue,
// netmap_ring_reinit), the wake-up protocol, and the frame copy used by the switch and the
// copy monitors.
import { PR, RH, RR } from './layout.js';
import { NetmapError, type Region } from './region.js';

/** Circular distance from a to b on a ring of n slots. */
export function dist(a: number, b: number, n: number): number {
  const d = b - a;
  return d < 0 ? d + n : d;
}

/**
 * Validate the user's head and cur against the kernel-side view (hwcur, hwtail): head must
 * lie in [hwcur, hwtail] and cur in [head, hwtail]. On violation the ring is reset and an
 * error thrown, as netmap does; a user-modified tail is simply restored by the caller.
 */
export function checkHeadCur(region: Region, ring: number, what: string): void {
  const u32 = region.u32;
  const n = u32[(ring + RR.numSlots) >> 2];
  const head = u32[(ring + RR.head) >> 2], cur = u32[(ring + RR.cur) >> 2];
  const hwcur = u32[(ring + RR.hwcur) >> 2], hwtail = u32[(ring + RR.hwtail) >> 2];
  if (head < n && cur < n) {
    const span = dist(hwcur, hwtail, n);
    if (dist(hwcur, head, n) <= span && dist(head, cur, n) <= dist(head, hwtail, n)) return;
  }
  // slow path: say which index is wrong
  const why = head >= n ? `head ${head} >= num_slots`
    : cur >= n ? `cur ${cur} >= num_slots`
    : dist(hwcur, head, n) > dist(hwcur, hwtail, n) ? `head ${head} is beyond tail ${hwtail} (or behind ${hwcur})`
    : dist(head, cur, n) > dist(head, hwtail, n) ? `cur ${cur} is before head ${head} or beyond tail ${hwtail}`
    : 'inconsistent indices';
  reinitRing(region, ring, `${what}: head ${head} / cur ${cur} outside the user's range [${hwcur}, ${hwtail}] (num_slots ${n}): ${why}`);
}

/**
 * Reset a ring after a contract violation: head = cur = hwcur, tail = hwtail, every slot with
 * an invalid buffer index gets a fresh buffer and oversize lengths are cleared. Throws.
 */
export function reinitRing(region: Region, ring: number, reason: string): never {
  const u32 = region.u32, u16 = region.u16;
  const n = u32[(ring + RR.numSlots) >> 2];
  const hwcur = u32[(ring + RR.hwcur) >> 2], hwtail = u32[(ring + RR.hwtail) >> 2];
  u32[(ring + RR.head) >> 2] = hwcur;
  u32[(ring + RR.cur) >> 2] = hwcur;
  u32[(ring + RR.tail) >> 2] = hwtail;
  const s = u32[(ring + RR.slotsOfs) >> 2] >> 2;
  let fixed = 0;
  region.lockConfig();
  try {
    for (let i = 0; i < n; i++) {
      const idx = u32[s + 4 * i];
      if (idx < 2 || idx >= region.nbufs) {
        u32[s + 4 * i] = region.allocBuf();
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

/** Throw (after resetting the ring) if slot k holds an invalid buffer index or length. */
export function badSlot(region: Region, ring: number, k: number, what: string): never {
  const u32 = region.u32;
  const s = u32[(ring + RR.slotsOfs) >> 2] >> 2;
  const idx = u32[s + 4 * k], len = region.u16[((s + 4 * k) << 1) + 2];
  const why = idx < 2 || idx >= region.nbufs ? `invalid buf_idx ${idx} (valid: 2..${region.nbufs - 1})` : `len ${len} over the buffer size ${region.bufSize}`;
  reinitRing(region, ring, `${what}: slot ${k}: ${why}`);
}

/**
 * Wake threads sleeping in poll() on a port, and in pollPorts() on any port of the region.
 * Two atomic loads when nobody waits.
 */
export function wakePort(region: Region, port: number): void {
  const i32 = region.i32;
  if (Atomics.load(i32, (port + PR.waiters) >> 2) > 0) {
    Atomics.add(i32, (port + PR.wakeSeq) >> 2, 1);
    region.notify((port + PR.wakeSeq) >> 2, 0x7fffffff);
  }
  if (Atomics.load(i32, RH.anyWaiters >> 2) > 0) {
    Atomics.add(i32, RH.anyWakeSeq >> 2, 1);
    region.notify(RH.anyWakeSeq >> 2, 0x7fffffff);
  }
}

/**
 * Copy len bytes between two buffers of the same region. Buffers are 64-byte aligned, so
 * short frames move as 8-byte words (measured faster than copyWithin below ~256 bytes, and
 * bit-exact); longer ones use copyWithin (memmove).
 */
export function copyFrame(u8: Uint8Array, f64: Float64Array, src: number, dst: number, len: number): void {
  if (len <= 256) {
    let s = src >> 3, d = dst >> 3;
    const end = s + ((len + 7) >> 3);
    while (s < end) f64[d++] = f64[s++];
  } else {
    u8.copyWithin(dst, src, src + len);
  }
}

/** Update the ring's timestamp when NR_TIMESTAMP is set. */
export function stampRing(region: Region, ring: number): void {
  const now = Date.now();
  region.u32[(ring + RR.tsSec) >> 2] = Math.floor(now / 1000);
  region.u32[(ring + RR.tsUsec) >> 2] = (now % 1000) * 1000;
}
