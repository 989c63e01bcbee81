// Moving frames from the rx rings of one port to the tx rings of another, as netmap's bridge
// does: by swapping buffer indices when both ports share a memory region (zero-copy), else by
// copying the bytes. Used by `nmts bridge` and by the forwarders of interfaces attached to a
// VALE switch. Nothing here allocates per frame.
//
// A destination on a Linux interface (AF_XDP, AF_PACKET) takes frames of a bounded length and
// no NS_MOREFRAG chains: frames it cannot take are dropped and counted, never handed to its
// txsync (which would reset the ring and throw, as netmap's does for a bad slot). A kernel port
// with a virtio-net header (AF_PACKET, TAP) takes chains: each is one frame of up to 64 KiB.
//
// Between two regions, a slot holding a whole buffer (the middle slots of a super-frame's chain)
// is copied by one TypedArray set() from a view of the source buffer made once (core/frame-copy's
// PieceViews: V8's memmove, no allocation per frame once warm); shorter slots by words.
// A destination that can send frames where they lie (Port.transmitFrom: AF_PACKET with a
// virtio-net header, whose sendmmsg iovecs may point into any mapped region) is offered the
// source's rx ring first, and nothing is copied at all in user space. Likewise a source that
// can write its frames straight into the destination's tx ring (Port.receiveInto: AF_PACKET
// with a virtio-net header, from its kernel ring) is asked to, once its own rx ring is empty.
//
// Ports whose virtio-net header lengths differ (an interface with offloads on, AF_PACKET with a
// 10-byte header, and one with them off, AF_XDP without; a vnet=12 VALE port and an interface)
// get the switch's own conversion, vale/offload.ts's VnetConverter: each packet (a chain) is
// planned from the source ring and written into as many destination slots as it takes (header
// added, re-laid or removed; checksum completed; super-frames cut into segments). A packet
// waits in the source ring until the destination has room for all of its output (a forwarder
// has back-pressure, unlike a switch); one the converter refuses (a malformed header) is
// dropped and counted in `badVnet` (and `drops`).
import { NETMAP_MAX_FRAGS, NS_MOREFRAG } from '../../core/constants.js';
import { FrameTable } from '../../core/deliver.js';
import { copyWords, PieceViews } from '../../core/frame-copy.js';
import type { Port } from '../../core/port.js';
import { movableSlots, swapSlotWords, type Ring } from '../../core/ring.js';
import { VnetConverter } from '../../vale/offload.js';
import { KernelPort } from '../../ports/netif/kernel-port.js';


/** Frame length from which a whole-buffer set() beats copyWords (measured crossover: about 450 bytes). */
const WHOLE_SET_MIN = 512;

/** One direction (src -> dst) of a forwarder: its limits, counters and chain state. */
export class Direction {
  readonly src: Port;
  readonly dst: Port;
  readonly zerocopy: boolean;
  /** Longest frame the destination transmits. */
  readonly maxLen: number;
  /** Whether the destination keeps NS_MOREFRAG chains (ports of shared regions do). */
  readonly chains: boolean;
  packets = 0;
  bytes = 0;
  /** Frames the destination could not take (too long, or part of a chain it cannot send). */
  drops = 0;
  /**
   * Optional verdict on each frame, given its first slot (`off` past any virtio-net header;
   * `chained` when more slots follow: a super-frame whose headers are all in this slot): false
   * drops it (with the rest of its chain), counted in `filtered`. Set once, called per frame:
   * the firewall's rules and connection table (apps/vnf).
   */
  filter: ((u8: Uint8Array, off: number, len: number, chained: boolean) => boolean) | null = null;
  /** Frames the filter refused (slots of their chains not counted). */
  filtered = 0;
  private dropping = false; // inside a chain being dropped
  private refusing = false; // ... because the filter refused its first slot (counted there)
  private inChain = false; // the last slot moved had NS_MOREFRAG: the next one is not a frame's first
  private txNext = 0; // round-robin over the destination's tx rings
  /** Views of the source region's buffers, for whole-buffer copies into another region. */
  private readonly srcViews: PieceViews;
  /**
   * Frames longer than this are copied between regions as their whole buffer by one set()
   * (V8's memmove: 2 KiB in about 200 ns where a word loop takes 500 for 1514 bytes), when the
   * destination's region is private to this process (an interface's: what lies past the frame
   * in the source buffer reaches no one); else only frames that fill their buffer. Infinity: never.
   */
  private readonly wholeSetMin: number;
  /** First key of srcViews for each of the source's rx rings (then + the slot's index). */
  private readonly viewKey: Float64Array;
  /** Packets whose virtio-net header (or frame, for the conversion) was malformed; part of drops. */
  badVnet = 0;
  /** Segments and frames written by the conversion (a super-frame cut into 46 counts 46). */
  converted = 0;
  /** Between ports with different header lengths: the conversion and its one-packet table. */
  private readonly conv: VnetConverter | null = null;
  private readonly ft: FrameTable | null = null;
  /** Whether to offer the source's rx ring to dst.transmitFrom() (a kernel port sending from another region) before copying. */
  private readonly directTx: boolean;
  /** Whether to ask src.receiveInto() to write its frames straight into the destination's tx ring. */
  private readonly directRx: boolean;

  constructor(src: Port, dst: Port, zerocopy: boolean) {
    this.src = src;
    this.dst = dst;
    const sh = src.vnetHdrLen, dh = dst.vnetHdrLen;
    if (sh !== dh && (sh === 0 || sh === 10 || sh === 12) && (dh === 0 || dh === 10 || dh === 12)) {
      this.conv = new VnetConverter();
      this.conv.setup(sh, dh);
      this.ft = new FrameTable(NETMAP_MAX_FRAGS);
      zerocopy = false;
    }
    this.zerocopy = zerocopy && src.region === dst.region;
    this.maxLen = dst.maxFrame;
    // kernel ports send each slot as one frame, unless they carry a virtio-net header (a chain is one frame)
    this.chains = dst.pollFds() === null || dst.vnetHdrLen > 0;
    // whole-buffer views serve move()'s copies between two regions only, keyed by the source's
    // rx slot (its buffer stays while only this forwarder reads the ring): one key per slot of
    // every rx ring, not one per buffer of a region of up to 4 GiB
    let keys = 0;
    this.viewKey = new Float64Array(src.rxRings.length);
    for (let r = 0; r < src.rxRings.length; r++) {
      this.viewKey[r] = keys;
      keys += src.rxRings[r].numSlots;
    }
    const between = src.region !== dst.region && this.conv === null;
    this.directTx = between && !this.zerocopy && dst.movesInPlace;
    this.directRx = between && !this.zerocopy && src.movesInPlace;
    this.srcViews = new PieceViews(src.u8.buffer, src.region.bufSize, between ? keys : 0);
    // a kernel port's region is mapped by this process only (core/private-region.ts)
    this.wholeSetMin = between && dst instanceof KernelPort && src.region.bufSize <= dst.region.bufSize ? WHOLE_SET_MIN : Infinity;
  }

  /** Move up to `burst` frames from every rx ring of src to dst's tx rings; returns frames moved. */
  run(burst: number): number {
    const rxs = this.src.rxRings, txs = this.dst.txRings;
    if (txs.length === 0) return 0;
    let moved = 0;
    for (let r = 0; r < rxs.length && moved < burst; r++) {
      const rx = rxs[r];
      for (let tries = 0; tries < txs.length && !rx.empty() && moved < burst; tries++) {
        const tx = txs[this.txNext];
        this.txNext = this.txNext + 1 === txs.length ? 0 : this.txNext + 1;
        moved += this.move(rx, tx, burst - moved, this.viewKey[r]);
      }
      if (this.directRx && this.atFrameStart() && rx.empty() && moved < burst) {
        // a kernel port may write its frames straight into the destination's ring
        const taken = this.src.receiveInto(txs[this.txNext], burst - moved, this);
        if (taken >= 0) {
          this.txNext = this.txNext + 1 === txs.length ? 0 : this.txNext + 1;
          moved += taken;
        }
      }
    }
    return moved;
  }

  /**
   * A direct path (the kernel port's own) may take the next frames: no filter to apply, and
   * the copy path is not in the middle of a chain (one it moves, or one it drops).
   */
  private atFrameStart(): boolean {
    return this.filter === null && !this.dropping && !this.inChain;
  }

  private move(rx: Ring, tx: Ring, limit: number, key0: number): number {
    if (this.conv !== null) return this.convert(rx, tx, limit);
    if (this.directTx && this.atFrameStart()) {
      const taken = this.dst.transmitFrom(rx, limit, this); // sent where they lie, or -1: copied below
      if (taken >= 0) return taken;
    }
    let n = this.zerocopy && this.filter === null && !this.dropping ? this.swapAll(rx, tx, limit) : 0;
    let j = rx.head, k = tx.head;
    const rt = rx.tail, tt = tx.tail, max = this.maxLen;
    const su8 = this.src.u8, du8 = this.dst.u8, sf64 = this.src.region.f64, df64 = this.dst.region.f64;
    const views = this.srcViews, whole = views.len, base = su8.byteOffset, setMin = this.wholeSetMin;
    const same = this.src.region === this.dst.region;
    const filter = this.filter, hdr = this.src.vnetHdrLen, snb = this.src.region.nbufs, dnb = this.dst.region.nbufs;
    while (j !== rt && k !== tt && n < limit) {
      // rings in a shared region are input: each buffer index is read once and checked
      // before it addresses a copy (a bad source slot is dropped; a bad destination slot gets
      // nothing written, and its port's txsync reports it)
      const len = rx.len(j), more = rx.slotFlags(j) & NS_MOREFRAG, si = rx.bufIdx(j);
      if (this.dropping || len > max || (more && !this.chains) || si < 2 || si >= snb) {
        // the rest of a chain goes with its first fragment
        if (!this.dropping || !this.refusing) this.drops++;
        this.dropping = more !== 0;
        if (!this.dropping) this.refusing = false;
        this.inChain = false; // the rest of this chain is dropped too: the next frame's first slot is filtered
        j = rx.next(j);
        continue;
      }
      const from = rx.bufAt(si);
      if (filter !== null && !this.inChain && !filter(su8, from + hdr, len - hdr, more !== 0)) {
        this.filtered++;
        this.dropping = this.refusing = more !== 0;
        j = rx.next(j);
        continue;
      }
      this.inChain = more !== 0;
      if (this.zerocopy) {
        tx.swapIn(k, rx, j);
      } else {
        const di = tx.bufIdx(k), to = tx.bufAt(di);
        if (di >= 2 && di < dnb) { // else nothing is written: the destination's txsync reports the slot
          if (same) su8.copyWithin(to, from, from + len);
          else if (len === whole || len > setMin) du8.set(views.at(key0 + j, base + from), to);
          else copyWords(sf64, from, df64, to, len); // (core/frame-copy.ts)
        }
        tx.setLen(k, len);
        tx.setSlotFlags(k, more);
      }
      this.bytes += len;
      j = rx.next(j);
      k = tx.next(k);
      n++;
    }
    // A chain cut by the end of the batch is fine: txsync publishes only complete chains, so
    // its first part waits in tx until the rest follows in the next round.
    rx.advance(j);
    tx.advance(k);
    this.packets += n;
    return n;
  }
  /**
   * move()'s common zero-copy case in one tight loop (no filter, not dropping a chain): each
   * slot's buffer swapped into the destination's slot (as Ring.swapIn) while its buffer index,
   * length and chain flag pass move()'s checks; the first slot that does not is left to
   * move()'s slot-by-slot loop, which drops and counts it. The slot words are read once and
   * nothing is called per slot. Advances both rings; returns the slots moved.
   */
  private swapAll(rx: Ring, tx: Ring, limit: number): number {
    const u32 = rx.u32, rs = rx.slots, ts = tx.slots, rn = rx.numSlots, tn = tx.numSlots;
    const max = this.maxLen, nb = this.src.region.nbufs - 2; // idx - 2 < nbufs - 2, unsigned
    const refuseChains = this.chains ? 0 : NS_MOREFRAG << 16;
    let j = rx.head, k = tx.head;
    const m = movableSlots(rx, j, tx, k, limit);
    let n = 0, bytes = 0, more = 0;
    for (; n < m; n++) {
      const a = rs + (j << 2), b = ts + (k << 2);
      const w = u32[a + 1]!; // len | flags << 16
      const idx = u32[a]!, len = w & 0xffff;
      if (len > max || (w & refuseChains) !== 0 || ((idx - 2) >>> 0) >= nb) break;
      more = w & (NS_MOREFRAG << 16);
      swapSlotWords(u32, a, b, idx, len, more);
      bytes += len;
      j = j + 1 === rn ? 0 : j + 1;
      k = k + 1 === tn ? 0 : k + 1;
    }
    if (n > 0) {
      this.inChain = more !== 0;
      this.bytes += bytes;
      rx.advance(j);
      tx.advance(k);
    }
    return n;
  }

  /**
   * move() between different header lengths: packet by packet (a chain is one), planned by the
   * converter from the source ring's buffers and written into the destination's. Stops at a
   * packet the destination has no room for (it waits for the next round) or an unfinished chain.
   */
  private convert(rx: Ring, tx: Ring, limit: number): number {
    const conv = this.conv!, ft = this.ft!;
    const su8 = this.src.u8, du8 = this.dst.u8;
    // a destination that sends each slot as one frame (no header: AF_XDP) gets frames of at
    // most maxLen bytes in one slot each; others take chains of buffer-sized slots
    const bufSize = this.chains ? tx.bufSize : Math.min(tx.bufSize, this.maxLen);
    let j = rx.head, k = tx.head, n = 0;
    const rt = rx.tail;
    while (j !== rt && n < limit) {
      // the packet: slots j .. end of its chain
      let nf = 0, e = j, whole = false, badLen = false;
      while (e !== rt) {
        const more = rx.slotFlags(e) & NS_MOREFRAG;
        const l = rx.len(e); // (shared memory: a length past the buffer is not trusted)
        if (l > rx.bufSize) badLen = true;
        if (nf < NETMAP_MAX_FRAGS) { ft.src[nf] = rx.buf(e); ft.len[nf] = l; }
        nf++;
        e = rx.next(e);
        if (!more) { whole = true; break; }
      }
      if (!whole) {
        if (nf < rx.numSlots - 1) break; // the rest of the chain is still to come
        nf = NETMAP_MAX_FRAGS + 1; // a chain as long as the ring: never whole, dropped
      }
      let slots = 0;
      if (nf <= NETMAP_MAX_FRAGS && !badLen) {
        ft.frags[0] = nf;
        ft.count = nf;
        slots = conv.plan(su8, ft, 0, bufSize);
        if (slots === 0) { conv.takeRefused(); this.badVnet++; }
        else if (!this.chains && slots > conv.frames) slots = 0; // a frame longer than the destination sends
      }
      if (slots === 0) {
        this.drops++;
        j = e;
        n++;
        continue;
      }
      if (tx.space() - ((k - tx.head + tx.numSlots) % tx.numSlots) < slots) break; // no room yet
      for (let s = 0; s < slots; s++) {
        const w = conv.fill(du8, s, tx.buf(k), bufSize);
        const len = w & 0xffff;
        tx.setLen(k, len);
        tx.setSlotFlags(k, (w >>> 16) & NS_MOREFRAG);
        this.bytes += len;
        k = tx.next(k);
      }
      this.converted += conv.frames;
      j = e;
      n++;
    }
    rx.advance(j);
    tx.advance(k);
    this.packets += n;
    return n;
  }
}

/** Whether any rx ring of p holds frames the user has not released. */
export function rxPending(p: Port): boolean {
  const rings = p.rxRings;
  for (let i = 0; i < rings.length; i++) if (!rings[i].empty()) return true;
  return false;
}
