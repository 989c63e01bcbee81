// The receiving half of a VXLAN port (vxlan-port.ts): datagrams from the underlay into its rx
// ring.
//
//   UDP socket bound to local:port, and one bound to the group:port (a socket bound to a
//     unicast address receives no multicast) -> one recvmmsg(2) per socket per rxsync: each
//     datagram's VXLAN header into a scratch area, its inner frame straight into a free slot's
//     buffer; checked (flags, VNI, length, from ourselves), the inner source MAC learned behind
//     the sender's address.
//   With a virtio-net header (an offload-aware opener) on a kernel with UDP_GRO, trains of
//     datagrams are received whole (gro-rx.ts) and each inner frame copied into a slot; every
//     frame gets a header asking for nothing, and consecutive TCP segments of a connection
//     are merged in place into super-frames (tcp-merge.ts).
//
// Every datagram not delivered is counted by cause (stats.ts): short, bad flags, wrong VNI,
// truncated (larger than a buffer), looped back from ourselves, no room in a small ring. No
// allocation per frame.
import { RR } from '../../core/layout.js';
import type { Region } from '../../core/region.js';
import { badSlot, checkHeadCur, rxEpilogue } from '../../core/sync.js';
import { copyBytes } from '../../core/frame-copy.js';
import { mmapAnonymous, munmap, type Mapping } from '../../sys/net.js';
import { put64, recvmmsg } from '../../sys/udp.js';
import * as K from '../../sys/kernel-abi.js';
import { vnetClear } from '../../packet/vnet-hdr.js';
import { readU32, readVxlanHeader, VX_BAD_FLAGS, VX_SHORT } from '../../packet/vxlan.js';
import type { Fdb } from './fdb.js';
import { enableUdpGro, GroRx, TRAIN_MAX, TRAIN_MSGS } from './gro-rx.js';
import { TcpMerge } from './tcp-merge.js';
import { C, type VxlanStats } from './stats.js';

/** Datagrams per recvmmsg. */
const RX_BATCH = 256;
const NAME = K.sockaddr_in6.size; // bytes per message name, either family

/** What the receiver works with, all owned by the port but the message vectors, the trains and the merging. */
export interface VxlanReceiverParts {
  region: Region;
  /** The port's name (ring errors) and its spec name (socket errors). */
  name: string;
  portName: string;
  vni: number;
  fdb: Fdb;
  stats: VxlanStats;
  /** The sockets datagrams arrive on: the one bound to local, then the group's (if any). */
  rxFds: readonly number[];
  /** The virtio-net header before each frame: 0, 10 or 12 (not 0: trains and merging, where the kernel has UDP_GRO). */
  hdr: number;
  /** This VTEP, 16 bytes (IPv4 as ::ffff:a.b.c.d). */
  local16: Uint8Array;
  v6: boolean;
}

export class VxlanReceiver {
  private readonly region: Region;
  private readonly name: string;
  private readonly portName: string;
  private readonly vni: number;
  private readonly fdb: Fdb;
  private readonly stats: VxlanStats;
  private readonly rxFds: readonly number[];
  private readonly hdr: number;
  private readonly local16: Uint8Array;
  private readonly local: number;
  private readonly v6: boolean;
  /** Scratch: a received IPv4 sender as 16 bytes (::ffff: set once). */
  private readonly from16 = new Uint8Array(16);
  private readonly vec: Mapping;
  private readonly v8: Uint8Array;
  private readonly v32: Uint32Array;
  private readonly base: number; // region address
  private readonly vbase: number; // vector address
  // vector layout (byte offsets in vec)
  private readonly rxMsg = 0;
  private readonly rxIov = RX_BATCH * K.mmsghdr.size;
  private readonly rxHdr = this.rxIov + RX_BATCH * 2 * K.iovec.size;
  private readonly rxName = this.rxHdr + RX_BATCH * 16;
  private readonly rxSlotOf = new Int32Array(RX_BATCH);
  /** trains of datagrams received whole (UDP_GRO), for an offload-aware opener on a kernel that has it */
  private readonly gro: GroRx | null;
  private readonly merge: TcpMerge | null;

  constructor(p: VxlanReceiverParts) {
    this.region = p.region;
    this.name = p.name;
    this.portName = p.portName;
    this.vni = p.vni;
    this.fdb = p.fdb;
    this.stats = p.stats;
    this.rxFds = p.rxFds;
    this.hdr = p.hdr;
    this.local16 = p.local16;
    this.local = readU32(p.local16, 12);
    this.v6 = p.v6;
    this.from16[10] = 0xff;
    this.from16[11] = 0xff;
    this.rxFrom16 = this.from16;
    this.merge = p.hdr ? new TcpMerge(p.region, p.hdr) : null;
    let gro = p.hdr !== 0;
    for (const fd of p.rxFds) if (gro && !enableUdpGro(fd, p.portName)) gro = false;
    this.gro = gro ? new GroRx(p.portName, p.hdr) : null;
    try {
      this.vec = mmapAnonymous(this.rxName + RX_BATCH * NAME, 'VXLAN receive vectors');
    } catch (e) {
      this.gro?.close();
      throw e;
    }
    this.v8 = new Uint8Array(this.vec.buffer);
    this.v32 = new Uint32Array(this.vec.buffer);
    this.base = Number(p.region.addr);
    this.vbase = Number(this.vec.addr);
    for (let i = 0; i < RX_BATCH; i++) {
      const m = this.rxMsg + i * K.mmsghdr.size, io = this.rxIov + i * 2 * K.iovec.size;
      put64(this.v32, m + K.msghdr.msg_name, this.vbase + this.rxName + i * NAME);
      put64(this.v32, m + K.msghdr.msg_iov, this.vbase + io);
      put64(this.v32, m + K.msghdr.msg_iovlen, 2);
      put64(this.v32, io + K.iovec.iov_base, this.vbase + this.rxHdr + i * 16);
      put64(this.v32, io + K.iovec.iov_len, 8);
    }
  }

  /** rxsync of the port's rx ring r (head/cur checked here): what the header comment says. */
  sync(r: number): void {
    const region = this.region, u32 = region.u32, st = this.stats.c;
    checkHeadCur(region, r, this.name);
    const n = u32[(r + RR.numSlots) >> 2];
    const hwcur = u32[(r + RR.head) >> 2];
    u32[(r + RR.hwcur) >> 2] = hwcur;
    this.rxPkts = 0; this.rxBytes = 0; this.rxDrops = 0; this.rxSegs = 0;
    let hwtail = u32[(r + RR.hwtail) >> 2];
    for (let f = 0; f < this.rxFds.length; f++) {
      hwtail = this.gro !== null ? this.rxTrains(this.rxFds[f], r, n, hwcur, hwtail) : this.rxFrom(this.rxFds[f], r, n, hwcur, hwtail);
    }
    const pkts = this.rxPkts, bytes = this.rxBytes, drops = this.rxDrops;
    rxEpilogue(region, r, hwtail, pkts, bytes, drops);
    if (pkts || drops) {
      st[C.rxFrames] += this.rxSegs;
      st[C.rxBytes] += bytes;
      if (this.merge !== null) st[C.rxMerged] = this.merge.merged;
      st[C.fdbLearned] = this.fdb.learned;
      st[C.fdbMoved] = this.fdb.moved;
      st[C.fdbEvicted] = this.fdb.evicted;
    }
  }

  private rxPkts = 0;
  private rxBytes = 0;
  private rxDrops = 0;
  /** datagrams delivered (a merged super-frame is several) */
  private rxSegs = 0;

  /** Receive from socket fd into rx ring r's free slots from hwtail (the ring's free part ends before hwcur); the new hwtail. */
  private rxFrom(fd: number, r: number, n: number, hwcur: number, hwtail: number): number {
    const region = this.region, u32 = region.u32, v8 = this.v8, v32 = this.v32, st = this.stats.c;
    const s = u32[(r + RR.slotsOfs) >> 2] >> 2;
    const stop = hwcur === 0 ? n - 1 : hwcur - 1;
    const nbufs = region.nbufs, bufSize = region.bufSize, hl = this.hdr, merge = this.merge;
    let now = -1;
    for (;;) {
      const free = hwtail <= stop ? stop - hwtail : n - hwtail + stop;
      if (free === 0) break;
      const want = free < RX_BATCH ? free : RX_BATCH;
      for (let i = 0, k = hwtail; i < want; i++, k = k + 1 === n ? 0 : k + 1) {
        const idx = u32[s + (k << 2)];
        if (idx < 2 || idx >= nbufs) badSlot(region, r, k, this.name);
        const m = this.rxMsg + i * K.mmsghdr.size, io = this.rxIov + i * 2 * K.iovec.size + K.iovec.size;
        v32[(m + K.msghdr.msg_namelen) >> 2] = NAME;
        v32[(m + K.msghdr.msg_flags) >> 2] = 0;
        put64(this.v32, io + K.iovec.iov_base, this.base + region.bufOffset(idx) + hl);
        put64(this.v32, io + K.iovec.iov_len, bufSize - hl);
        this.rxSlotOf[i] = k;
      }
      const got = recvmmsg(fd, this.vbase + this.rxMsg, want, this.portName);
      if (got <= 0) break;
      if (now < 0) now = performance.now();
      for (let i = 0; i < got; i++) {
        const m = this.rxMsg + i * K.mmsghdr.size;
        const dlen = v32[(m + K.mmsghdr.msg_len) >> 2], flags = v32[(m + K.msghdr.msg_flags) >> 2];
        const h = this.rxHdr + i * 16;
        if (flags & K.MSG_TRUNC) { st[C.rxTooBig]++; this.rxDrops++; continue; }
        if (!this.headerOk(v8, h, dlen)) continue;
        if (this.fromSelf(v8, this.rxName + i * NAME)) { st[C.rxFromSelf]++; this.rxDrops++; continue; }
        // the inner frame is in the buffer of slot rxSlotOf[i]: move that buffer to slot hwtail
        const k = this.rxSlotOf[i], so = s + (hwtail << 2);
        if (k !== hwtail) {
          const ko = s + (k << 2), x = u32[so];
          u32[so] = u32[ko];
          u32[ko] = x;
        }
        this.landed(s, hwtail, region.bufOffset(u32[so]), dlen - 8, now);
        hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
      }
      if (got < want) break;
    }
    if (merge !== null) this.flushMerge(s);
    return hwtail;
  }

  /**
   * rxFrom for a port receiving trains (gro-rx.ts): from socket fd into rx ring r's free slots
   * from hwtail; the new hwtail. Each datagram of a train is checked as rxFrom checks one, and
   * its inner frame copied into the next free slot's buffer. A message may hold up to
   * TRAIN_MAX datagrams, so a call asks for one message per TRAIN_MAX free slots and none
   * while fewer are free (the datagrams wait in the socket while the ring drains); only a
   * ring of TRAIN_MAX slots or fewer, taking one message when empty, can find a train longer
   * than its room: the rest is dropped and counted (rx_ring_full).
   */
  private rxTrains(fd: number, r: number, n: number, hwcur: number, hwtail: number): number {
    const region = this.region, u32 = region.u32, u8 = region.u8, f64 = region.f64, st = this.stats.c, g = this.gro!;
    const t8 = g.v8, t32 = g.v32, t64 = g.v64;
    const s = u32[(r + RR.slotsOfs) >> 2] >> 2;
    const stop = hwcur === 0 ? n - 1 : hwcur - 1;
    const nbufs = region.nbufs, room = region.bufSize - this.hdr, hl = this.hdr, merge = this.merge;
    let now = -1;
    for (;;) {
      let free = hwtail <= stop ? stop - hwtail : n - hwtail + stop;
      if (free < TRAIN_MAX && (free === 0 || free < n - 1)) break;
      const want = free >= TRAIN_MSGS * TRAIN_MAX ? TRAIN_MSGS : free >= TRAIN_MAX ? Math.floor(free / TRAIN_MAX) : 1;
      const got = g.receive(fd, want, this.portName);
      if (got <= 0) break;
      if (now < 0) now = performance.now();
      for (let i = 0; i < got; i++) {
        if (g.truncated(i)) { st[C.rxTooBig]++; this.rxDrops++; continue; }
        const dlen = g.length(i), size = g.datagramSize(i), train = g.trainAt(i);
        if (dlen === 0) { st[C.rxShort]++; this.rxDrops++; continue; } // (the loop below would not see it)
        if (size < dlen) st[C.rxTrains]++;
        const self = this.fromSelf(t8, g.nameAt(i));
        for (let o = 0; o < dlen; o += size) {
          const l = dlen - o < size ? dlen - o : size;
          if (self) { st[C.rxFromSelf]++; this.rxDrops++; continue; }
          if (!this.headerOk(t8, o === 0 ? g.hdrAt(i) : train + o - 8, l)) continue;
          const len = l - 8;
          if (len > room) { st[C.rxTooBig]++; this.rxDrops++; continue; }
          if (free === 0) { st[C.rxRingFull]++; this.rxDrops++; continue; } // (a ring of TRAIN_MAX slots or fewer)
          const so = s + (hwtail << 2), idx = u32[so];
          if (idx < 2 || idx >= nbufs) badSlot(region, r, hwtail, this.name);
          const fb = region.bufOffset(idx);
          copyBytes(t8, t32, t64, train + o, u8, u32, f64, fb + hl, len);
          this.landed(s, hwtail, fb, len, now);
          hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
          free--;
        }
      }
      if (got < want) break;
    }
    if (merge !== null) this.flushMerge(s);
    return hwtail;
  }

  /** A received datagram's VXLAN header at v8[h..] (the datagram l bytes long): true to deliver it, else dropped and counted by cause. */
  private headerOk(v8: Uint8Array, h: number, l: number): boolean {
    const st = this.stats.c, vni = readVxlanHeader(v8, h, l);
    if (vni === VX_SHORT) { st[C.rxShort]++; this.rxDrops++; return false; }
    if (vni === VX_BAD_FLAGS) { st[C.rxBadFlags]++; this.rxDrops++; return false; }
    if (vni !== this.vni) { st[C.rxWrongVni]++; this.rxDrops++; return false; }
    return true;
  }

  /** The 16-byte address learning files a received frame under: rxFrom16[rxFromOff..] (set by fromSelf). */
  private rxFrom16: Uint8Array;
  private rxFromOff = 0;

  /**
   * The sender of a received message whose name (sockaddr_in or sockaddr_in6) is at v8[nm..]:
   * noted as 16 bytes for learning (rxFrom16, rxFromOff); true when it is ourselves (our
   * multicast looped back).
   */
  private fromSelf(v8: Uint8Array, nm: number): boolean {
    if (this.v6) {
      const at = nm + K.sockaddr_in6.sin6_addr, l16 = this.local16;
      this.rxFrom16 = v8;
      this.rxFromOff = at;
      for (let b = 0; b < 16; b++) if (v8[at + b] !== l16[b]) return false;
      return true;
    }
    const at = nm + K.sockaddr_in.sin_addr, from16 = this.from16;
    from16[12] = v8[at]; from16[13] = v8[at + 1]; from16[14] = v8[at + 2]; from16[15] = v8[at + 3];
    this.rxFrom16 = from16;
    this.rxFromOff = 0;
    return readU32(from16, 12) === this.local;
  }

  /**
   * An inner frame of len bytes now in the buffer at fb (+ the header length) of the slot at
   * ring position hwtail: its header asking for nothing, its length, the source MAC learned
   * behind the sender fromSelf noted, the counts, the TCP merging.
   */
  private landed(s: number, hwtail: number, fb: number, len: number, now: number): void {
    const u8 = this.region.u8, hl = this.hdr, merge = this.merge;
    if (hl !== 0) vnetClear(u8, fb, hl);
    this.region.u32[s + (hwtail << 2) + 1] = hl + len; // len, flags 0 (no NS_MOREFRAG: one slot per frame)
    this.fdb.learn(u8, fb + hl + 6, this.rxFrom16, this.rxFromOff, now);
    this.rxPkts++;
    this.rxSegs++;
    this.rxBytes += len;
    if (merge !== null && !merge.offer(hwtail, fb + hl, len)) {
      this.flushMerge(s);
      merge.offer(hwtail, fb + hl, len);
    }
  }

  /** The TCP segments gathered become one frame (tcp-merge.ts): fewer ring frames, fewer header bytes. */
  private flushMerge(s: number): void {
    const m = this.merge!;
    m.flush(s);
    this.rxPkts -= m.lessFrames;
    this.rxBytes -= m.lessBytes;
  }

  close(): void {
    this.gro?.close();
    munmap(this.vec.addr, this.vec.size);
  }
}
