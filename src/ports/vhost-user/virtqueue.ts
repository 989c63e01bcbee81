// One split virtqueue (virtio 1.x, 2.7) served by the device side: the descriptor table, the
// driver's available ring and the device's used ring, all in guest memory (GuestMemory).
//
//   guest TX queue (odd index):  txPop() takes the next available chain, skips the virtio-net
//                                header and copies the frame out; txFinish() publishes the used
//                                entries of the batch and interrupts the guest if it asked.
//   guest RX queue (even index): rxPush() writes the header and one frame into the next
//                                available chains (several with VIRTIO_NET_F_MRG_RXBUF:
//                                num_buffers says how many); rxFinish() publishes and interrupts.
//
// Notifications are suppressed both ways as virtio allows: with VIRTIO_RING_F_EVENT_IDX the
// device interrupts only when the used index passes the driver's used_event, and asks for kicks
// (avail_event) only before it sleeps; without it, the avail ring's NO_INTERRUPT flag and the used
// ring's NO_NOTIFY flag do the same.
//
// Everything read from guest memory is untrusted: ring indices, heads, next pointers, addresses,
// lengths and flags are checked before use; a chain that loops or is longer than the ring, an
// address outside the mapped regions, an index running ahead of the ring, a flag that was not
// negotiated (INDIRECT) or a wrong direction stops this queue (broken, with a reason), as a real
// device would stop. Nothing here throws, allocates or touches memory outside the regions.
import { eventfdSignal } from '../../sys/unix.js';
import { copyBytes } from '../../core/frame-copy.js';
import type { GuestMemory } from './guest-memory.js';

const DESC_F_NEXT = 1, DESC_F_WRITE = 2, DESC_F_INDIRECT = 4;
const AVAIL_F_NO_INTERRUPT = 1;
const USED_F_NO_NOTIFY = 1;
const EMPTY_U16 = new Uint16Array(0), EMPTY_U32 = new Uint32Array(0);
/** Results of txPop / rxPush besides a length. */
export const EMPTY = -1, BROKEN = -2, TOO_LONG = -3;

export class Virtqueue {
  readonly index: number;
  /** Ring size (SET_VRING_NUM), 0 until set. */
  size = 0;
  /** Region and byte offsets of the descriptor table, the avail ring and the used ring (set by setAddresses). */
  private dr = -1; private dOfs = 0;
  private aOfs = 0;
  private uOfs = 0;
  private mem: GuestMemory | null = null;
  // the rings' views, taken once per setAddresses (valid while mem is not null)
  private descU32: Uint32Array = EMPTY_U32; private descU16: Uint16Array = EMPTY_U16; private availU16: Uint16Array = EMPTY_U16;
  private usedU32: Uint32Array = EMPTY_U32; private usedU16: Uint16Array = EMPTY_U16;
  /** Next avail entry to take (free-running 16-bit), and the used index to publish. */
  lastAvail = 0;
  usedIdx = 0;
  private publishedUsed = 0;
  private availCache = 0;
  kickFd = -1;
  callFd = -1;
  errFd = -1;
  /** SET_VRING_KICK received (a fd, or polling mode). */
  kicked = false;
  /** SET_VRING_ENABLE state (true from the start unless VHOST_USER_F_PROTOCOL_FEATURES). */
  enabled = false;
  /** Stopped by a bad ring; the reason is in `error`. */
  broken = false;
  error = '';
  eventIdx = false;
  mrgRxbuf = false;
  hdrLen = 12;
  /**
   * Offloads (the port carries the virtio-net header into the switch): txPop keeps the
   * guest's header before the frame instead of skipping it, and rxPush's hOff names the
   * header to give the guest (bytes 0-9; num_buffers is set here).
   */
  keepHdr = false;
  private hOff = -1;
  private hSrc: Uint8Array | null = null;
  packets = 0;
  bytes = 0;
  drops = 0;
  kicks = 0;
  interrupts = 0;
  /** Called once when the queue breaks. */
  onBroken: (q: Virtqueue, reason: string) => void = () => {};
  // where num_buffers (header bytes 10 and 11) of the frame being written went
  private nbR0 = -1; private nbO0 = 0; private nbR1 = -1; private nbO1 = 0;

  constructor(index: number) {
    this.index = index;
  }

  /** Ready to move frames: addresses set, kick received, enabled, not broken. */
  get running(): boolean {
    return this.dr >= 0 && this.kicked && this.enabled && !this.broken && this.mem !== null;
  }

  /** Forget the ring (GET_VRING_BASE, reset, disconnect); counters stay. */
  stop(): void {
    this.dr = -1;
    this.kicked = false;
    this.forget();
  }

  /** Drop the ring views (the memory may be unmapped next): the next take reads the avail index again, which checks running. */
  private forget(): void {
    this.mem = null;
    this.descU32 = this.usedU32 = EMPTY_U32;
    this.descU16 = this.availU16 = this.usedU16 = EMPTY_U16;
    this.availCache = this.lastAvail;
  }

  /** The ring's addresses (front-end virtual addresses) in `mem`: null when valid, else why not. */
  setAddresses(mem: GuestMemory, descUva: number, usedUva: number, availUva: number): string | null {
    const n = this.size;
    this.forget();
    if (n === 0) return 'SET_VRING_ADDR before SET_VRING_NUM';
    const dr = mem.findUva(descUva, 16 * n), dOfs = mem.ofs;
    const ar = mem.findUva(availUva, 6 + 2 * n), aOfs = mem.ofs;
    const ur = mem.findUva(usedUva, 6 + 8 * n), uOfs = mem.ofs;
    if (dr < 0 || ar < 0 || ur < 0) return `ring addresses outside the memory table (desc 0x${descUva.toString(16)}, avail 0x${availUva.toString(16)}, used 0x${usedUva.toString(16)})`;
    if (dOfs % 16 || aOfs % 2 || uOfs % 4) return 'misaligned ring addresses';
    this.mem = mem;
    this.dr = dr; this.dOfs = dOfs; this.aOfs = aOfs; this.uOfs = uOfs;
    this.descU32 = mem.u32[dr]; this.descU16 = mem.u16[dr]; this.availU16 = mem.u16[ar];
    this.usedU32 = mem.u32[ur]; this.usedU16 = mem.u16[ur];
    this.broken = false;
    this.error = '';
    this.usedIdx = this.publishedUsed = this.lastAvail;
    this.availCache = this.lastAvail;
    // no kicks while the thread serving the queue is awake (it is: it handles this message); it
    // asks for them before it sleeps (wantKicks(true)). A kick per batch is a system call for
    // the front end: DPDK's net_vhost asks for none either
    this.kickFlags(false);
    return null;
  }

  private fail(reason: string): number {
    if (!this.broken) {
      this.broken = true;
      this.availCache = this.lastAvail; // nothing more taken from the cached entries
      this.error = reason;
      if (this.errFd >= 0) eventfdSignal(this.errFd);
      this.onBroken(this, reason);
    }
    return BROKEN;
  }

  /** Entries the driver has made available and we have not taken (validated), or BROKEN. */
  available(): number {
    if (!this.running) return 0;
    const avail = Atomics.load(this.availU16, (this.aOfs + 2) >> 1);
    const n = (avail - this.lastAvail) & 0xffff;
    if (n > this.size) return this.fail(`avail index ${avail} is ${n} entries past ${this.lastAvail}, more than the ring's ${this.size}`);
    this.availCache = avail;
    return n;
  }

  /** The head of the next available chain, validated, or EMPTY / BROKEN. */
  private nextHead(): number {
    if (this.lastAvail === this.availCache && this.available() <= 0) return this.broken ? BROKEN : EMPTY;
    const head = this.availU16[(this.aOfs + 4 + 2 * (this.lastAvail % this.size)) >> 1];
    if (head >= this.size) return this.fail(`avail ring entry ${this.lastAvail % this.size} names descriptor ${head}, past the ring's ${this.size}`);
    return head;
  }

  private addUsed(id: number, len: number): void {
    const u32 = this.usedU32, e = (this.uOfs + 4 + 8 * (this.usedIdx % this.size)) >> 2;
    u32[e] = id;
    u32[e + 1] = len;
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
  }

  /**
   * Take the next frame the guest sends: copied (without its virtio-net header) to dst at dOff,
   * at most `max` bytes. Returns its length, EMPTY, BROKEN, or TOO_LONG (the chain is consumed
   * and the frame dropped: the caller counts it). With `pieces`, the frame is written in
   * pieceSize-byte pieces at the offsets pieces[first], pieces[first + 1], ... of dst instead
   * (max must be at most (pieces.length - first) * pieceSize): a switch ring's slot chain.
   */
  txPop(dst: Uint8Array, dst32: Uint32Array, dst64: Float64Array, dOff: number, max: number, pieces: Float64Array | null = null, pieceSize = 0, first = 0): number {
    const head = this.nextHead();
    if (head < 0) return head;
    const mem = this.mem!, n = this.size, dOfs = this.dOfs;
    const du32 = this.descU32, du16 = this.descU16;
    let i = head, skip = this.keepHdr ? 0 : this.hdrLen, total = 0, too = false;
    for (let count = 0; ; count++) {
      if (count >= n) return this.fail(`descriptor chain from ${head} is longer than the ring (a loop)`);
      const d = (dOfs + 16 * i) >> 2;
      const lo = du32[d], hi = du32[d + 1], len = du32[d + 2], flags = du16[(dOfs + 16 * i + 12) >> 1];
      if (flags & DESC_F_INDIRECT) return this.fail(`descriptor ${i}: indirect descriptors were not negotiated`);
      if (flags & DESC_F_WRITE) return this.fail(`descriptor ${i}: device-writable buffer in a transmit queue`);
      if (hi >= 0x200000) return this.fail(`descriptor ${i}: address 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} beyond 2^53`);
      const r = mem.find(hi * 4294967296 + lo, len);
      if (r < 0) return this.fail(`descriptor ${i}: buffer 0x${(hi * 4294967296 + lo).toString(16)}+${len} outside the guest's memory`);
      let s = mem.ofs, left = len;
      if (skip > 0) {
        const k = skip < left ? skip : left;
        skip -= k; s += k; left -= k;
      }
      if (left > 0) {
        if (too || total + left > max) too = true;
        else if (pieces === null) {
          copyBytes(mem.u8[r], mem.u32[r], mem.f64[r], s, dst, dst32, dst64, dOff + total, left);
          total += left;
        } else { // into pieceSize-byte pieces at pieces[0], pieces[1], ... (a slot chain's buffers)
          while (left > 0) {
            const p = (total / pieceSize) | 0, within = total - p * pieceSize; // piece first + p
            const k = pieceSize - within < left ? pieceSize - within : left;
            copyBytes(mem.u8[r], mem.u32[r], mem.f64[r], s, dst, dst32, dst64, pieces[first + p] + within, k);
            total += k; s += k; left -= k;
          }
        }
      }
      if (!(flags & DESC_F_NEXT)) break;
      i = du16[(dOfs + 16 * i + 14) >> 1];
      if (i >= n) return this.fail(`descriptor chain from ${head}: next ${i} past the ring's ${n}`);
    }
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    this.addUsed(head, 0);
    if (too) { this.drops++; return TOO_LONG; }
    this.packets++;
    this.bytes += total;
    return total;
  }

  /**
   * Give one frame (len bytes of src at sOff) to the guest, after a virtio-net header with
   * flags 0 (or, with hdrSrc, the 10 bytes at hdrSrc[hOff..]: the switch's header). Returns len, EMPTY when the guest has not made enough buffers available (nothing
   * taken: the caller may retry later or drop), TOO_LONG when one chain cannot hold it without
   * MRG_RXBUF (the frame is dropped, the chain stays), or BROKEN.
   */
  rxPush(src: Uint8Array, src32: Uint32Array, src64: Float64Array, sOff: number, len: number, hdrSrc: Uint8Array | null = null, hOff = -1): number {
    this.hSrc = hdrSrc; this.hOff = hdrSrc === null ? -1 : hOff;
    const startAvail = this.lastAvail, startUsed = this.usedIdx;
    const hdrLen = this.hdrLen, need = hdrLen + len;
    let done = 0, chains = 0;
    this.nbR0 = this.nbR1 = -1;
    while (done < need) {
      if (chains > 0 && !this.mrgRxbuf) {
        this.lastAvail = startAvail; this.usedIdx = startUsed;
        this.drops++;
        return TOO_LONG;
      }
      const head = this.nextHead();
      if (head < 0) {
        this.lastAvail = startAvail; this.usedIdx = startUsed;
        return head;
      }
      const w = this.fillChain(head, src, src32, src64, sOff, done, need);
      if (w < 0) return BROKEN;
      if (w === 0 && need - done > 0) return this.fail(`receive chain from ${head} has no room`);
      this.lastAvail = (this.lastAvail + 1) & 0xffff;
      this.addUsed(head, w);
      done += w;
      chains++;
    }
    // num_buffers: how many chains the frame took (a u16, little-endian, header bytes 10-11)
    if (hdrLen === 12) {
      const m = this.mem!;
      if (this.nbR0 >= 0) m.u8[this.nbR0][this.nbO0] = chains & 0xff;
      if (this.nbR1 >= 0) m.u8[this.nbR1][this.nbO1] = chains >> 8;
    }
    this.packets++;
    this.bytes += len;
    return len;
  }

  /** Write bytes [done, need) of header+frame into the chain at head; returns bytes written or BROKEN. */
  private fillChain(head: number, src: Uint8Array, src32: Uint32Array, src64: Float64Array, sOff: number, done: number, need: number): number {
    const mem = this.mem!, n = this.size, dOfs = this.dOfs, hdrLen = this.hdrLen;
    const du32 = this.descU32, du16 = this.descU16;
    let i = head, pos = done;
    for (let count = 0; ; count++) {
      if (count >= n) return this.fail(`descriptor chain from ${head} is longer than the ring (a loop)`);
      const d = (dOfs + 16 * i) >> 2;
      const lo = du32[d], hi = du32[d + 1], dlen = du32[d + 2], flags = du16[(dOfs + 16 * i + 12) >> 1];
      if (flags & DESC_F_INDIRECT) return this.fail(`descriptor ${i}: indirect descriptors were not negotiated`);
      if (!(flags & DESC_F_WRITE)) return this.fail(`descriptor ${i}: read-only buffer in a receive queue`);
      if (hi >= 0x200000) return this.fail(`descriptor ${i}: address beyond 2^53`);
      const r = mem.find(hi * 4294967296 + lo, dlen);
      if (r < 0) return this.fail(`descriptor ${i}: buffer 0x${(hi * 4294967296 + lo).toString(16)}+${dlen} outside the guest's memory`);
      const dst = mem.u8[r];
      let o = mem.ofs, room = dlen;
      const hs = this.hSrc, ho = this.hOff;
      if (pos === 0 && room >= hdrLen) { // the usual case: the whole header in the first buffer
        if (hs === null) {
          if ((o & 3) === 0 && o + 12 <= 0xffffffff) { // flags, gso_type, hdr_len, gso_size, csum_*: zero words
            const w = mem.u32[r], k = o >>> 2;
            w[k] = 0; w[k + 1] = 0;
            if (hdrLen === 12) w[k + 2] = 0;
            else { dst[o + 8] = 0; dst[o + 9] = 0; }
          } else for (let h = 0; h < hdrLen; h++) dst[o + h] = 0;
        } else for (let h = 0; h < hdrLen; h++) dst[o + h] = h < 10 ? hs[ho + h] : 0;
        if (hdrLen === 12) { this.nbR0 = r; this.nbO0 = o + 10; this.nbR1 = r; this.nbO1 = o + 11; }
        o += hdrLen; pos = hdrLen; room -= hdrLen;
      }
      while (room > 0 && pos < hdrLen) { // a header split over buffers: zeros, num_buffers filled in at the end
        if (pos === 10) { this.nbR0 = r; this.nbO0 = o; } else if (pos === 11) { this.nbR1 = r; this.nbO1 = o; }
        dst[o++] = hs !== null && pos < 10 ? hs[ho + pos] : 0;
        pos++; room--;
      }
      if (room > 0 && pos < need) {
        const k = need - pos < room ? need - pos : room;
        copyBytes(src, src32, src64, sOff + (pos - hdrLen), dst, mem.u32[r], mem.f64[r], o, k);
        o += k;
        pos += k;
      }
      if (pos >= need || !(flags & DESC_F_NEXT)) break;
      i = du16[(dOfs + 16 * i + 14) >> 1];
      if (i >= n) return this.fail(`descriptor chain from ${head}: next ${i} past the ring's ${n}`);
    }
    return pos - done;
  }

  /** Publish the used entries added since the last call (one store of the used index per batch); interrupt the guest if it wants one. */
  finish(): void {
    if (this.usedIdx === this.publishedUsed || this.mem === null || this.broken) return;
    const old = this.publishedUsed, now = this.usedIdx;
    Atomics.store(this.usedU16, (this.uOfs + 2) >> 1, now);
    this.publishedUsed = now;
    let want: boolean;
    const au16 = this.availU16;
    if (this.eventIdx) {
      const ev = Atomics.load(au16, (this.aOfs + 4 + 2 * this.size) >> 1);
      want = ((now - ev - 1) & 0xffff) < ((now - old) & 0xffff);
    } else {
      want = (Atomics.load(au16, this.aOfs >> 1) & AVAIL_F_NO_INTERRUPT) === 0;
    }
    if (want && this.callFd >= 0 && eventfdSignal(this.callFd)) this.interrupts++;
  }

  /**
   * Ask the driver for kicks (before sleeping: true) or not (awake, polling the ring). With
   * EVENT_IDX: avail_event = the next entry we will take (a kick when the driver makes it
   * available), or a whole ring past it: the driver cannot publish that far before we take more
   * (at most `size` entries outstanding), so no batch it adds crosses it, however it counts its
   * batch (a thread that busy-polls calls this every round, moving it along); else the used
   * ring's NO_NOTIFY flag.
   */
  wantKicks(on: boolean): void {
    if (!this.running) return;
    this.kickFlags(on);
  }

  private kickFlags(on: boolean): void {
    const u16 = this.usedU16;
    if (this.eventIdx) Atomics.store(u16, (this.uOfs + 4 + 8 * this.size) >> 1, on ? this.lastAvail : (this.lastAvail + this.size) & 0xffff);
    else Atomics.store(u16, this.uOfs >> 1, on ? 0 : USED_F_NO_NOTIFY);
  }
}
