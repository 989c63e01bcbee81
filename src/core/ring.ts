// A thread's view of one ring record: netmap_ring's fields through getters, and slot
// accessors by index. Hot loops may use the raw views (`u32`, `u16`, `u8`) with `slots`
// (u32 index of slot 0): slot i is u32[slots + 4*i] = buf_idx, u16[2*(slots + 4*i) + 2] = len,
// u16[2*(slots + 4*i) + 3] = flags.
import { NS_BUF_CHANGED, NS_MOREFRAG } from './constants.js';
import { RR } from './layout.js';
import type { Region } from './region.js';

export class Ring {
  readonly region: Region;
  /** Byte offset of the ring record in the region. */
  readonly ofs: number;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly numSlots: number;
  readonly bufSize: number;
  /** u32 index of slot 0. */
  readonly slots: number;
  /** Byte offset of buffer 0 in the region. */
  readonly bufsOfs: number;
  readonly dir: number;
  readonly ringId: number;
  private readonly h: number; // u32 index of head

  constructor(region: Region, ofs: number) {
    this.region = region;
    this.ofs = ofs;
    this.u8 = region.u8;
    this.u16 = region.u16;
    this.u32 = region.u32;
    this.numSlots = region.u32[(ofs + RR.numSlots) >> 2];
    this.bufSize = region.u32[(ofs + RR.bufSize) >> 2];
    this.slots = region.u32[(ofs + RR.slotsOfs) >> 2] >> 2;
    this.bufsOfs = region.bufsOfs;
    this.dir = region.u16[(ofs + RR.dir) >> 1];
    this.ringId = region.u16[(ofs + RR.ringId) >> 1];
    this.h = (ofs + RR.head) >> 2;
  }

  get head(): number { return this.u32[this.h]; }
  set head(v: number) { this.u32[this.h] = v; }
  get cur(): number { return this.u32[this.h + 1]; }
  set cur(v: number) { this.u32[this.h + 1] = v; }
  /** First slot owned by the kernel side; read-only for users (restored at every sync). */
  get tail(): number { return this.u32[this.h + 2]; }
  get flags(): number { return this.u32[(this.ofs + RR.flags) >> 2]; }
  set flags(v: number) { this.u32[(this.ofs + RR.flags) >> 2] = v; }
  /** Time of the last sync, when NR_TIMESTAMP is set: seconds and microseconds. */
  get tsSec(): number { return this.u32[(this.ofs + RR.tsSec) >> 2]; }
  get tsUsec(): number { return this.u32[(this.ofs + RR.tsUsec) >> 2]; }

  /** Slot after i (nm_ring_next). */
  next(i: number): number { return i + 1 === this.numSlots ? 0 : i + 1; }
  /** Slots the user owns: [head, tail) (nm_ring_space). */
  space(): number {
    const d = this.u32[this.h + 2] - this.u32[this.h];
    return d < 0 ? d + this.numSlots : d;
  }
  /** True when the user owns no slot (nm_ring_empty). */
  empty(): boolean { return this.u32[this.h] === this.u32[this.h + 2]; }
  /** True while transmitted slots are still in flight (nm_tx_pending). */
  txPending(): boolean { return this.next(this.u32[this.h + 2]) !== this.u32[this.h]; }
  /** Advance head and cur together to `i` (the usual way to hand slots back). */
  advance(i: number): void { this.u32[this.h] = i; this.u32[this.h + 1] = i; }

  bufIdx(i: number): number { return this.u32[this.slots + (i << 2)]; }
  setBufIdx(i: number, idx: number): void { this.u32[this.slots + (i << 2)] = idx; }
  len(i: number): number { return this.u16[((this.slots + (i << 2)) << 1) + 2]; }
  setLen(i: number, len: number): void { this.u16[((this.slots + (i << 2)) << 1) + 2] = len; }
  slotFlags(i: number): number { return this.u16[((this.slots + (i << 2)) << 1) + 3]; }
  setSlotFlags(i: number, f: number): void { this.u16[((this.slots + (i << 2)) << 1) + 3] = f; }
  /** Byte offset (into `u8`) of the buffer in slot i (NETMAP_BUF). */
  buf(i: number): number { return this.bufsOfs + this.u32[this.slots + (i << 2)] * this.bufSize; }
  /** Byte offset of buffer `idx`. */
  bufAt(idx: number): number { return this.bufsOfs + idx * this.bufSize; }

  /**
   * Read one byte of the first line of the frames in the `count` slots from `from` (the
   * caller's own slots), so that the code that parses them finds those lines in the cache.
   * A frame another core has just written is a cache miss of hundreds of nanoseconds on a
   * machine whose cores share no cache (docs/benchmarks.md); parsing one frame at a time
   * takes those misses one after another, while this loop of independent loads lets the CPU
   * have many in flight (lb: +23 % on this machine). The bytes read are XORed together, kept
   * in a field (so that the loads stay) and returned. A buffer index out of range reads nothing.
   */
  touchFrames(from: number, count: number): number {
    const u8 = this.u8, u32 = this.u32, slots = this.slots, n = this.numSlots;
    const bufsOfs = this.bufsOfs | 0, bufSize = this.bufSize | 0;
    let x = 0;
    for (let j = 0, i = from; j < count; j++) {
      x ^= u8[bufsOfs + u32[slots + (i << 2)] * bufSize + 26] | 0; // (26: an IPv4 header's addresses, in the frame's first line)
      i = i + 1 === n ? 0 : i + 1;
    }
    this.touched ^= x;
    return x;
  }
  /** What touchFrames() read, XORed together (read by nothing: it keeps the loads). */
  private touched = 0;

  /**
   * Zero-copy move: slot i of this ring takes the buffer (length, NS_MOREFRAG) of slot j of
   * `from`, which gets this slot's buffer back; both are flagged NS_BUF_CHANGED. The two rings must
   * be in the same region (netmap's bridge/lb swap, the way to forward without copying).
   */
  swapIn(i: number, from: Ring, j: number): void {
    // buffer indices mean nothing in another region: swapping them would corrupt both
    if (from.region !== this.region) throw new RangeError('swapIn: the rings are in different memory regions (copy instead; compare port.memId)');
    const u32 = this.u32, b = from.slots + (j << 2), w = u32[b + 1];
    swapSlotWords(u32, b, this.slots + (i << 2), u32[b], w & 0xffff, w & (NS_MOREFRAG << 16)); // chains stay chains
  }
}

/**
 * Ring.swapIn on raw slot words of one region, for loops that read each slot word once: the
 * destination slot (u32 index `dst`) takes the source's buffer `idx`, length `len` and chain
 * bit `more` (0 or NS_MOREFRAG << 16), the source slot (`src`) the destination's buffer;
 * both flagged NS_BUF_CHANGED, the source's length kept. The caller has read and checked
 * idx and len.
 */
export function swapSlotWords(u32: Uint32Array, src: number, dst: number, idx: number, len: number, more: number): void {
  u32[src] = u32[dst]!;
  u32[dst] = idx;
  u32[dst + 1] = len | more | (NS_BUF_CHANGED << 16);
  u32[src + 1] = len | (NS_BUF_CHANGED << 16);
}

/**
 * How many slots a forwarding loop may move from slot j of rx (up to its tail) into slot k of
 * tx (up to its tail), at most `limit`: the shorter of the two runs.
 */
export function movableSlots(rx: Ring, j: number, tx: Ring, k: number, limit: number): number {
  let avail = rx.tail - j;
  if (avail < 0) avail += rx.numSlots;
  let room = tx.tail - k;
  if (room < 0) room += tx.numSlots;
  const m = avail < room ? avail : room;
  return m < limit ? m : limit;
}
