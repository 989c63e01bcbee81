// netmap:IF over AF_PACKET, for interfaces where AF_XDP cannot attach (or when asked for).
// Receive: a TPACKET_V3 ring mapped from the socket; rxsync copies each frame of a ready block
// into the buffer of the next free slot (one copy, as netmap's emulated mode makes) and hands
// the block back. Transmit: one sendmmsg() per txsync whose iovecs point straight at the slots'
// buffers in the port's region (its address is known), with PACKET_QDISC_BYPASS.
// With host rings (netmap:IF*), ring 1 is the host ring pair: its syncs go to the TAP handler.
//
// With a virtio-net header (vnetHdrLen 10 or 12: PACKET_VNET_HDR / PACKET_VNET_HDR_SZ, set before
// the ring), the kernel hands frames over as the stack built them, super-frames up to 64 KiB and
// checksums left to the device, each with a header saying so; the kernel writes it just before
// the Ethernet header. The ring is then TPACKET_V2, frames of VNET_FRAME bytes each with a status
// word of its own: a V3 block is handed over only when full or after 1 ms, and a few 64 KiB
// frames per millisecond is what TCP then gets (measured: 1.7 Gbit/s through a switch). rxsync copies header and frame into as many slots as they need, chained
// with NS_MOREFRAG (the header in the first slot); a frame waits in the block until the ring has
// room for all of it. txsync sends each chain as one message, its slots as the iovecs, so the
// kernel checksums and segments only where the interface cannot. What the kernel wrote is
// checked like any input (offsets and lengths inside the block, not truncated), and a chain whose
// header does not hold together is dropped and counted, never sent.
import { DEFAULT_SLOTS, NETMAP_MAX_FRAGS, NS_MOREFRAG, POLLIN } from '../../core/constants.js';
import { RR } from '../../core/layout.js';
import type { DirectCounters, OpenOptions } from '../../core/port.js';
import type { Region } from '../../core/region.js';
import type { Ring } from '../../core/ring.js';
import type { PortSpec } from '../../core/portspec.js';
import { copyBytes, PieceViews } from '../../core/frame-copy.js';
import { createPrivateRegion, type PrivateRegion } from '../../core/private-region.js';
import { badSlot, checkHeadCur, countRx, countTx, rxEpilogue, txEpilogue } from '../../core/sync.js';
import {
  bind, close, getsockopt, mmap, mmapAnonymous, munmap, sendmmsg, setsockopt, sockaddrLl, socket, type Mapping,
} from '../../sys/net.js';
import * as K from '../../sys/kernel-abi.js';
import { vnetCheck, VNET_CSUM_START, VNET_F_NEEDS_CSUM, VNET_FLAGS, VNET_HDRLEN, VNET_OK } from '../../packet/vnet-hdr.js';
import { checkMtu, type InterfaceInfo } from './iface.js';
import { createKernelPortRecord, KernelPort, type HostRings, type KernelDrops } from './kernel-port.js';

const BLOCK_SIZE = 1 << 18;
const BLOCKS = 32;
/** TPACKET_V2 ring of a port with a virtio-net header: frames of 68 KiB (a 64 KiB super-frame and the headers), 15 per 1 MiB block */
const VNET_FRAME = 69632;
const VNET_BLOCK = 1 << 20;
const VNET_PER_BLOCK = Math.floor(VNET_BLOCK / VNET_FRAME);
const VNET_BLOCKS = 32;
/** PACKET_VNET_HDR_SZ (Linux 6.2+, after the headers CI builds against): the header's length, 10 or 12 */
const PACKET_VNET_HDR_SZ = 24;
/** vnet rx: frames longer than this have their whole buffers copied by set() from kept views, shorter ones by words */
const SCATTER_MIN = 4096;
/** PACKET_RESERVE of 2 puts the Ethernet header on a 4-byte boundary: frames copy by words. */
const RESERVE = 2;
/**
 * With a virtio-net header (TPACKET_V2), 14 puts the header on a 16-byte boundary (the kernel
 * places it at TPACKET_ALIGN(TPACKET2_HDRLEN + 16) + reserve + header - 14 - header = 66 + reserve
 * bytes into the frame): frames copy by 8-byte words, three times faster than by 4.
 */
const VNET_RESERVE = 14;
/** sendmmsg errors after which the frames are retried at the next sync */
const RETRY = [K.EAGAIN, K.ENOBUFS];
/** sendmmsg errors that drop the first frame of the batch (bad frame, interface gone down) */
const DROP = [K.EINVAL, K.EMSGSIZE, K.ENETDOWN, K.ENXIO];

export class PacketPort extends KernelPort {
  private readonly fd: number;
  private readonly ring: Mapping;
  private readonly r8: Uint8Array;
  private readonly r32: Uint32Array;
  private readonly r16: Uint16Array;
  private readonly r64: Float64Array;
  private block = 0; // block being read (vnet: frame being read)
  private pktLeft = 0; // frames of `block` not yet copied
  private pktOff = 0; // byte offset of the next frame of `block`
  private readonly vec: Mapping; // BATCH mmsghdrs, then BATCH iovecs
  private readonly v32: Uint32Array;
  private readonly batch: number;
  private readonly base: number; // region address as a number (below 2^53)
  private readonly stats3 = new Uint8Array(K.tpacket_stats_v3.size);
  private tpDrops = 0;
  /** the virtio-net header before each frame (0: none, one slot per frame) */
  readonly vnetLen: number;
  /** slots of each message of the batch being sent (vnet: a message is a chain) */
  private readonly msgSlots: Uint16Array;
  /** vnet rx: views of each ring frame's buffer-sized pieces (key: frame * NETMAP_MAX_FRAGS + piece) */
  private readonly ringViews: PieceViews;

  constructor(mem: PrivateRegion, rec: number, spec: PortSpec, rings: { tx: number[]; rx: number[] }, opts: OpenOptions, fd: number, ring: Mapping, detail: string,
    host: HostRings | null = null, vnetLen = 0) {
    super(mem, rec, spec, rings, opts, [fd], { backend: 'af_packet', detail, fallbackReason: '', warnings: [] }, host ? { rings: host, index: 1 } : null);
    this.fd = fd;
    this.ring = ring;
    this.r8 = new Uint8Array(ring.buffer);
    this.r32 = new Uint32Array(ring.buffer);
    this.r16 = new Uint16Array(ring.buffer);
    this.r64 = new Float64Array(ring.buffer);
    this.batch = Math.min(K.UIO_MAXIOV, opts.txSlots ?? DEFAULT_SLOTS);
    this.vec = mmapAnonymous(this.batch * (K.mmsghdr.size + K.iovec.size), 'sendmmsg vector');
    this.v32 = new Uint32Array(this.vec.buffer);
    this.base = Number(mem.region.addr);
    this.vnetLen = vnetLen;
    this.msgSlots = new Uint16Array(this.batch);
    this.ringViews = new PieceViews(ring.buffer, mem.region.bufSize, vnetLen ? VNET_PER_BLOCK * VNET_BLOCKS * NETMAP_MAX_FRAGS : 0);
    const dv = new DataView(this.vec.buffer);
    for (let i = 0; i < this.batch; i++) {
      const h = i * K.mmsghdr.size;
      dv.setBigUint64(h + K.msghdr.msg_iov, this.vec.addr + BigInt(this.batch * K.mmsghdr.size + i * K.iovec.size), true);
      dv.setBigUint64(h + K.msghdr.msg_iovlen, 1n, true);
    }
  }

  override get vnetHdrLen(): number {
    return this.vnetLen;
  }

  /** With a virtio-net header: transmitFrom() and receiveInto() (chains whole, one copy fewer each). */
  override get movesInPlace(): boolean {
    return this.vnetLen > 0;
  }

  protected txsyncRing(t: number): void {
    if (t === this.hostTx) return this.host!.txsync(t);
    if (this.vnetLen) return this.txsyncVnet(t);
    const region = this.region, u32 = region.u32;
    checkHeadCur(region, t, this.name);
    const n = u32[(t + RR.numSlots) >> 2], s = u32[(t + RR.slotsOfs) >> 2] >> 2;
    const head = u32[(t + RR.head) >> 2];
    let hwcur = u32[(t + RR.hwcur) >> 2];
    const v32 = this.v32, iov0 = (this.batch * K.mmsghdr.size) >> 2, nbufs = region.nbufs, max = this.maxFrame;
    const bufsBase = this.base + region.bufsOfs, bufSize = region.bufSize;
    let pkts = 0, bytes = 0, drops = 0;
    while (hwcur !== head) {
      let count = 0;
      for (let k = hwcur; k !== head && count < this.batch; k = k + 1 === n ? 0 : k + 1) {
        const idx = u32[s + (k << 2)], len = u32[s + (k << 2) + 1] & 0xffff;
        if (idx < 2 || idx >= nbufs || len > max) badSlot(region, t, k, this.name);
        const addr = bufsBase + idx * bufSize, io = iov0 + (count << 2);
        v32[io] = addr >>> 0;
        v32[io + 1] = (addr / 4294967296) >>> 0;
        v32[io + 2] = len;
        v32[io + 3] = 0;
        count++;
      }
      const sent = sendmmsg(this.fd, this.vec.buffer, count, K.MSG_DONTWAIT, this.spec.name, RETRY_OR_DROP);
      let done = sent;
      if (sent < 0) {
        if (!DROP.includes(-sent)) break; // the kernel is busy: retry at the next sync
        done = 1;
        drops++;
      }
      for (let i = 0; i < done; i++) {
        if (sent > 0) {
          pkts++;
          bytes += u32[s + (hwcur << 2) + 1] & 0xffff;
        }
        hwcur = hwcur + 1 === n ? 0 : hwcur + 1;
      }
      if (sent >= 0 && sent < count) break;
    }
    txEpilogue(region, t, hwcur, pkts, bytes, drops); // the kernel copied what it took: every sent slot is free again at once
  }

  /**
   * txsync with a virtio-net header: every chain of [hwcur, head) is one message of sendmmsg(),
   * its slots the message's iovecs (a chain cut by head waits for its end).
   */
  private txsyncVnet(t: number): void {
    const region = this.region, u32 = region.u32;
    checkHeadCur(region, t, this.name);
    const n = u32[(t + RR.numSlots) >> 2], s = u32[(t + RR.slotsOfs) >> 2] >> 2;
    const end = this.sendChains(region, this.base, s, n, u32[(t + RR.hwcur) >> 2], u32[(t + RR.head) >> 2], Infinity, t);
    txEpilogue(region, t, end, this.sent.pkts, this.sent.bytes, this.sent.drops);
  }

  /**
   * With a virtio-net header: send the chains of another port's rx ring (a switch port's, in
   * the forwarder of an attached interface) where they lie, the iovecs pointing into that
   * port's region: one copy fewer than copying them into this port's tx ring first. Only while
   * this port's own tx ring has nothing waiting (frames keep their order).
   */
  override transmitFrom(rx: Ring, limit: number, c: DirectCounters): number {
    const src = rx.region;
    if (this.vnetLen === 0 || src.addr === 0n || src === this.region) return -1;
    const t = this.txRings[0].ofs, u32 = this.region.u32;
    if (u32[(t + RR.head) >> 2] !== u32[(t + RR.hwcur) >> 2]) return -1;
    const n = rx.numSlots, from = rx.head, to = rx.tail;
    if (from >= n || to >= n) return -1; // (shared memory: the copy path reports it)
    const end = this.sendChains(src, Number(src.addr), rx.slots, n, from, to, limit, -1);
    const out = this.sent;
    rx.advance(end);
    c.packets += out.slots;
    c.bytes += out.slotBytes;
    c.drops += out.drops;
    c.badVnet += out.bad;
    countTx(this.region, t, out.pkts, out.bytes, out.drops);
    return out.slots;
  }

  /** What the last sendChains() did: frames sent, their bytes (past the header), drops (bad: malformed), slots taken and their bytes. */
  private readonly sent = { pkts: 0, bytes: 0, drops: 0, bad: 0, slots: 0, slotBytes: 0 };

  /**
   * Send the chains of slots [from, to) of a ring of `src` (slot words from u32 index s, n
   * slots; `addr` the region's address), `limit` slots at most: each chain one message, its
   * slots the iovecs. Returns the first slot not taken: a chain cut by `to` waits for its end.
   * `own` is the offset of this port's tx ring, whose bad slot resets it as netmap does; -1 for
   * another port's ring, whose bad slot drops its chain (counted) and nothing more.
   */
  private sendChains(src: Region, addr: number, s: number, n: number, from: number, to: number, limit: number, own: number): number {
    const u32 = src.u32, u8 = src.u8, out = this.sent;
    const v32 = this.v32, batch = this.batch, iov0 = (batch * K.mmsghdr.size) >> 2, nbufs = src.nbufs, bufSize = src.bufSize;
    const iovAddr0 = Number(this.vec.addr) + batch * K.mmsghdr.size;
    const bufsBase = addr + src.bufsOfs, vh = this.vnetLen, msgSlots = this.msgSlots;
    let hwcur = from, pkts = 0, bytes = 0, drops = 0, bad = 0, slots = 0, slotBytes = 0;
    while (slots < limit) {
      let count = 0, iovs = 0, k = hwcur, dropFirst = false;
      while (k !== to && count < batch && slots + iovs < limit) {
        // each slot word is read once: what is checked is what the kernel is given (another
        // process may write the ring meanwhile)
        let c = k, nseg = 0, total = 0, complete = false, broken = false, firstIdx = 0, firstLen = 0;
        while (c !== to && iovs + nseg < batch) {
          const idx = u32[s + (c << 2)], word = u32[s + (c << 2) + 1], len = word & 0xffff;
          if (nseg === 0) { firstIdx = idx; firstLen = len; }
          if (idx < 2 || idx >= nbufs || len > bufSize) {
            if (own >= 0) badSlot(src, own, c, this.name);
            broken = true; // another port's ring: its chain is dropped, whole
          }
          const addr = bufsBase + idx * bufSize, io = iov0 + ((iovs + nseg) << 2);
          v32[io] = addr >>> 0;
          v32[io + 1] = (addr / 4294967296) >>> 0;
          v32[io + 2] = len;
          v32[io + 3] = 0;
          total += len;
          nseg++;
          c = c + 1 === n ? 0 : c + 1;
          if (((word >>> 16) & NS_MOREFRAG) === 0 || nseg === NETMAP_MAX_FRAGS) { complete = true; break; }
        }
        if (!complete) break; // the chain's end is not there yet (or no iovecs left in this batch)
        if (broken || firstLen < vh + 14 || vnetCheck(u8, src.bufOffset(firstIdx), vh, total - vh) !== VNET_OK) {
          if (count === 0) { dropFirst = true; msgSlots[0] = nseg; if (!broken) bad++; }
          break; // sent after the messages before it
        }
        const h = (count * K.mmsghdr.size) >> 2, ia = iovAddr0 + iovs * K.iovec.size;
        v32[h + (K.msghdr.msg_iov >> 2)] = ia >>> 0;
        v32[h + (K.msghdr.msg_iov >> 2) + 1] = (ia / 4294967296) >>> 0;
        v32[h + (K.msghdr.msg_iovlen >> 2)] = nseg;
        v32[h + (K.msghdr.msg_iovlen >> 2) + 1] = 0;
        msgSlots[count] = nseg;
        count++;
        iovs += nseg;
        k = c;
      }
      if (dropFirst) {
        drops++; // a bad slot, a malformed header or a frame shorter than one: the chain is dropped
        for (let i = msgSlots[0]; i > 0; i--) {
          slotBytes += u32[s + (hwcur << 2) + 1] & 0xffff;
          hwcur = hwcur + 1 === n ? 0 : hwcur + 1;
          slots++;
        }
        continue;
      }
      if (count === 0) break;
      const sent = sendmmsg(this.fd, this.vec.buffer, count, K.MSG_DONTWAIT, this.spec.name, RETRY_OR_DROP);
      let done = sent;
      if (sent < 0) {
        if (!DROP.includes(-sent)) break; // the kernel is busy: retry at the next sync
        done = 1;
        drops++;
      }
      for (let m = 0; m < done; m++) {
        let len = 0;
        for (let i = msgSlots[m]; i > 0; i--) {
          len += u32[s + (hwcur << 2) + 1] & 0xffff;
          hwcur = hwcur + 1 === n ? 0 : hwcur + 1;
        }
        slots += msgSlots[m];
        slotBytes += len;
        if (sent > 0) {
          pkts++;
          bytes += len - vh;
        }
      }
      if (sent >= 0 && sent < count) break;
    }
    out.pkts = pkts; out.bytes = bytes; out.drops = drops; out.bad = bad; out.slots = slots; out.slotBytes = slotBytes;
    return hwcur;
  }

  /**
   * rxsync with a virtio-net header: header and frame (as the kernel wrote them, the header
   * just before the Ethernet header) into the next free slots, chained; a frame that does not
   * fit in the free slots waits in its block. Once the frames go straight into another port's
   * ring (receiveInto), nothing is taken here.
   */
  private rxsyncVnet(r: number): void {
    const region = this.region, u32 = region.u32;
    checkHeadCur(region, r, this.name);
    const n = u32[(r + RR.numSlots) >> 2], s = u32[(r + RR.slotsOfs) >> 2] >> 2;
    const hwcur = u32[(r + RR.head) >> 2];
    u32[(r + RR.hwcur) >> 2] = hwcur;
    const hwtail = u32[(r + RR.hwtail) >> 2];
    if (this.intoOther) return rxEpilogue(region, r, hwtail, 0, 0, 0);
    const end = this.pullChains(region, s, n, hwtail, hwcur === 0 ? n - 1 : hwcur - 1, Infinity, false);
    rxEpilogue(region, r, end, this.pulled.pkts, this.pulled.bytes, this.pulled.drops);
  }

  /** Frames go straight into another port's tx ring (receiveInto), not into this port's rx ring. */
  private intoOther = false;

  /**
   * With a virtio-net header: the frames of the kernel's ring straight into another port's tx
   * ring (a switch port's, in the forwarder of an attached interface), one copy fewer than
   * through this port's rx ring. From the first call on (while this port's rx ring is empty),
   * rxsync leaves the frames to these calls: the caller is then this port's only reader.
   */
  override receiveInto(tx: Ring, limit: number, c: DirectCounters): number {
    if (this.vnetLen === 0 || this.rxRings.length !== 1 || tx.region === this.region) return -1;
    if (!this.intoOther) {
      if (!this.rxRings[0].empty()) return -1; // what came before goes first, through the ring
      this.intoOther = true;
    }
    const n = tx.numSlots, from = tx.head, stop = tx.tail;
    if (from >= n || stop >= n) return -1; // (shared memory: the switch port's txsync reports it)
    const end = this.pullChains(tx.region, tx.slots, n, from, stop, limit, true);
    const out = this.pulled;
    tx.advance(end);
    c.packets += out.slots;
    c.bytes += out.slotBytes;
    countRx(this.region, this.rxRings[0].ofs, out.pkts, out.bytes, out.drops);
    return out.slots;
  }

  /** POLLIN also when frames wait in the kernel's ring for receiveInto (this port's rx ring stays empty then). */
  override check(events: number): number {
    const rev = super.check(events);
    if (!this.intoOther || (events & POLLIN) === 0 || rev & POLLIN) return rev;
    const f = this.block, h = Math.floor(f / VNET_PER_BLOCK) * VNET_BLOCK + (f % VNET_PER_BLOCK) * VNET_FRAME;
    return (Atomics.load(this.r32, (h + K.tpacket2_hdr.tp_status) >> 2) & K.TP_STATUS_USER) !== 0 ? rev | POLLIN : rev;
  }

  /** What the last pullChains() did: frames, their bytes (past the header), drops, slots written and their bytes. */
  private readonly pulled = { pkts: 0, bytes: 0, drops: 0, slots: 0, slotBytes: 0 };

  /**
   * Copy the kernel's frames, header first, into the free slots [from, stop) of a ring of `dst`
   * (slot words from u32 index s, n slots), `limit` slots at most, each frame a chain; a frame
   * that does not fit waits in its block. Returns the first slot not written. `other`: the ring
   * is another port's, in a shared region: a slot whose buffer index is out of range is written
   * with length 0 and passed, for that port's txsync to report (it resets the ring).
   */
  private pullChains(dst: Region, s: number, n: number, from: number, stop: number, limit: number, other: boolean): number {
    const u32 = dst.u32, u8 = dst.u8, f64 = dst.f64, bufSize = dst.bufSize, nbufs = dst.nbufs;
    const r8 = this.r8, r32 = this.r32, r64 = this.r64, r16 = this.r16, vh = this.vnetLen;
    const H = K.tpacket2_hdr, frames = VNET_PER_BLOCK * VNET_BLOCKS;
    let hwtail = from, pkts = 0, bytes = 0, drops = 0, slots = 0, slotBytes = 0;
    while (hwtail !== stop && slots < limit) {
      const f = this.block, h = Math.floor(f / VNET_PER_BLOCK) * VNET_BLOCK + (f % VNET_PER_BLOCK) * VNET_FRAME;
      const status = Atomics.load(r32, (h + H.tp_status) >> 2);
      if ((status & K.TP_STATUS_USER) === 0) break;
      const len = r32[(h + H.tp_snaplen) >> 2], wireLen = r32[(h + H.tp_len) >> 2], mac = h + r16[(h + H.tp_mac) >> 1];
      const vlan = (status & K.TP_STATUS_VLAN_VALID) !== 0;
      const total = vh + len + (vlan ? 4 : 0), need = Math.ceil(total / bufSize);
      const free = stop >= hwtail ? stop - hwtail : stop + n - hwtail;
      const ok = mac - vh >= h + H.size && mac + len <= h + VNET_FRAME && len === wireLen && len >= 14 &&
        need <= NETMAP_MAX_FRAGS && !(vlan && need > 1);
      if (ok && need > free) break; // waits for room: the user releases slots
      if (other && ok) {
        let broken = false;
        for (let i = 0, k = hwtail; i < need; i++, k = k + 1 === n ? 0 : k + 1) {
          const idx = u32[s + (k << 2)];
          if (idx < 2 || idx >= nbufs) broken = true;
        }
        if (broken) {
          u32[s + (hwtail << 2) + 1] = 0; // the frame waits; the port's txsync finds the bad slot
          hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
          slots++;
          break;
        }
      }
      if (ok) {
        const src = mac - vh;
        if (vlan) {
          // the kernel took the 802.1Q tag out (tp_vlan_tci): back in, after the header; offsets move by 4
          const di = u32[s + (hwtail << 2)], d = dst.bufOffset(di); // re-read and re-checked: see below
          if (di >= 2 && di < nbufs) {
            const tpid = status & TP_STATUS_VLAN_TPID_VALID ? r16[(h + H.tp_vlan_tpid) >> 1] : 0x8100;
            copyBytes(r8, r32, r64, src, u8, u32, f64, d, vh + 12);
            u8[d + vh + 12] = tpid >> 8;
            u8[d + vh + 13] = tpid & 0xff;
            const tci = r16[(h + H.tp_vlan_tci) >> 1];
            u8[d + vh + 14] = tci >> 8;
            u8[d + vh + 15] = tci & 0xff;
            copyBytes(r8, r32, r64, mac + 12, u8, u32, f64, d + vh + 16, len - 12);
            if (u8[d + VNET_FLAGS] & VNET_F_NEEDS_CSUM) addLe16(u8, d + VNET_CSUM_START, 4);
            if (u8[d + VNET_HDRLEN] | u8[d + VNET_HDRLEN + 1]) addLe16(u8, d + VNET_HDRLEN, 4);
          }
          u32[s + (hwtail << 2) + 1] = total;
          hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
          slots++;
        } else {
          // whole buffers of a long frame by one set() from a view of the ring frame made once;
          // the rest by words (bytes, if the kernel placed the frame off a word boundary)
          let left = total, off = src, piece = 0;
          const views = this.ringViews, key = f * NETMAP_MAX_FRAGS;
          for (let c = 0; ; c++) {
            // the index is read again here and checked again: another process may have
            // changed it since the check above; a bad one gets nothing written (its slot's
            // length is still set, and the port's txsync reports the slot)
            const di = u32[s + (hwtail << 2)], d = dst.bufOffset(di);
            piece = left > bufSize ? bufSize : left;
            if (di >= 2 && di < nbufs) {
              if (piece === views.len && total > SCATTER_MIN) u8.set(views.at(key + c, off), d);
              else copyBytes(r8, r32, r64, off, u8, u32, f64, d, piece);
            }
            left -= piece;
            off += piece;
            u32[s + (hwtail << 2) + 1] = left > 0 ? piece | (NS_MOREFRAG << 16) : piece;
            hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
            slots++;
            if (left === 0) break;
          }
        }
        pkts++;
        bytes += total - vh;
        slotBytes += total;
      } else {
        drops++; // truncated, outside its frame, or too long for a chain
      }
      Atomics.store(r32, (h + H.tp_status) >> 2, K.TP_STATUS_KERNEL);
      this.block = f + 1 === frames ? 0 : f + 1;
    }
    const out = this.pulled;
    out.pkts = pkts; out.bytes = bytes; out.drops = drops; out.slots = slots; out.slotBytes = slotBytes;
    return hwtail;
  }

  protected rxsyncRing(r: number): void {
    if (r === this.hostRx) return this.host!.rxsync(r);
    if (this.vnetLen) return this.rxsyncVnet(r);
    const region = this.region, u32 = region.u32;
    checkHeadCur(region, r, this.name);
    const n = u32[(r + RR.numSlots) >> 2], s = u32[(r + RR.slotsOfs) >> 2] >> 2;
    const hwcur = u32[(r + RR.head) >> 2]; // released slots keep their buffers
    u32[(r + RR.hwcur) >> 2] = hwcur;
    const stop = hwcur === 0 ? n - 1 : hwcur - 1;
    let hwtail = u32[(r + RR.hwtail) >> 2];
    const r8 = this.r8, r32 = this.r32, r64 = this.r64, r16 = this.r16, bufSize = region.bufSize;
    let pkts = 0, bytes = 0, drops = 0;
    while (hwtail !== stop) {
      if (this.pktLeft === 0) {
        const b = this.block * BLOCK_SIZE;
        if ((Atomics.load(r32, (b + K.tpacket_block_desc.block_status) >> 2) & K.TP_STATUS_USER) === 0) break;
        this.pktLeft = r32[(b + K.tpacket_block_desc.num_pkts) >> 2];
        this.pktOff = b + r32[(b + K.tpacket_block_desc.offset_to_first_pkt) >> 2];
        if (this.pktLeft === 0) { this.releaseBlock(); continue; }
      }
      const h = this.pktOff;
      const len = r32[(h + K.tpacket3_hdr.tp_snaplen) >> 2], mac = h + r16[(h + K.tpacket3_hdr.tp_mac) >> 1];
      // the kernel took the 802.1Q tag out of the frame (tp_vlan_tci): put it back, as netmap and AF_XDP deliver it
      const vlan = (r32[(h + K.tpacket3_hdr.tp_status) >> 2] & K.TP_STATUS_VLAN_VALID) !== 0;
      const wire = vlan ? len + 4 : len;
      if (wire > bufSize) {
        drops++; // a frame merged by GRO/LRO: see the advice printed at open
      } else {
        const idx = u32[s + (hwtail << 2)], dst = region.bufOffset(idx);
        if (vlan) insertVlan(r8, r32, r64, r16, h, mac, region.u8, region.u32, region.f64, dst, len);
        else copyBytes(r8, r32, r64, mac, region.u8, region.u32, region.f64, dst, len);
        u32[s + (hwtail << 2) + 1] = wire;
        pkts++;
        bytes += wire;
        hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
      }
      this.pktOff = h + r32[(h + K.tpacket3_hdr.tp_next_offset) >> 2];
      if (--this.pktLeft === 0) this.releaseBlock();
    }
    rxEpilogue(region, r, hwtail, pkts, bytes, drops);
  }

  private releaseBlock(): void {
    Atomics.store(this.r32, (this.block * BLOCK_SIZE + K.tpacket_block_desc.block_status) >> 2, K.TP_STATUS_KERNEL);
    this.block = this.block + 1 === BLOCKS ? 0 : this.block + 1;
  }

  /** PACKET_STATISTICS' tp_drops: frames that found no room in the TPACKET ring. */
  override kernelDrops(): KernelDrops {
    return { rxRingFull: this.kernelCounters().rxDrops, rxOther: 0, txInvalid: 0, host: this.hostDrops() };
  }

  protected kernelCounters(): { rxDrops: number; txDrops: number } {
    getsockopt(this.fd, K.SOL_PACKET, K.PACKET_STATISTICS, this.stats3, this.spec.name); // reading resets them
    this.tpDrops += new DataView(this.stats3.buffer).getUint32(K.tpacket_stats_v3.tp_drops, true);
    return { rxDrops: this.tpDrops, txDrops: 0 };
  }

  protected closeKernel(): void {
    close(this.fd);
    munmap(this.ring.addr, this.ring.size);
    munmap(this.vec.addr, this.vec.size);
  }
}

const RETRY_OR_DROP = [...RETRY, ...DROP];

/** Add `v` to the little-endian 16-bit field at u8[off]. */
function addLe16(u8: Uint8Array, off: number, v: number): void {
  const x = (u8[off] | (u8[off + 1] << 8)) + v;
  u8[off] = x;
  u8[off + 1] = x >>> 8;
}

/** tp_status: tp_vlan_tpid is set (Linux 3.14+; else the TPID is 802.1Q's). */
const TP_STATUS_VLAN_TPID_VALID = 1 << 6;

/** Copy a frame whose VLAN tag the kernel moved into the header (frame header at h), with the tag back after the MACs. */
function insertVlan(src8: Uint8Array, src32: Uint32Array, src64: Float64Array, src16: Uint16Array, h: number, mac: number,
  dst8: Uint8Array, dst32: Uint32Array, dst64: Float64Array, dstOff: number, len: number): void {
  const status = src32[(h + K.tpacket3_hdr.tp_status) >> 2];
  const tpid = status & TP_STATUS_VLAN_TPID_VALID ? src16[(h + K.tpacket3_hdr.tp_vlan_tpid) >> 1] : 0x8100;
  const tci = src32[(h + K.tpacket3_hdr.tp_vlan_tci) >> 2] & 0xffff;
  copyBytes(src8, src32, src64, mac, dst8, dst32, dst64, dstOff, 12);
  dst8[dstOff + 12] = tpid >> 8;
  dst8[dstOff + 13] = tpid & 0xff;
  dst8[dstOff + 14] = tci >> 8;
  dst8[dstOff + 15] = tci & 0xff;
  copyBytes(src8, src32, src64, mac + 12, dst8, dst32, dst64, dstOff + 16, len - 12);
}

/** Open netmap:IF over AF_PACKET (one rx and one tx ring); with `host`, netmap:IF*: ring pair 1 is the host rings. */
export function openPacketPort(spec: PortSpec, opts: OpenOptions, info: InterfaceInfo, rings: { tx: number[]; rx: number[] },
  host: HostRings | null = null, vnetLen: 0 | 10 | 12 = 0): PacketPort {
  const txSlots = opts.txSlots ?? DEFAULT_SLOTS, rxSlots = opts.rxSlots ?? DEFAULT_SLOTS;
  const nr = host ? 2 : 1;
  const mem = createPrivateRegion(nr * (txSlots + rxSlots) + (opts.extraBufs ?? 0), 0, `${spec.name} buffers`);
  checkMtu(spec.raw, info, mem.region.bufSize, `AF_PACKET: ${mem.region.bufSize}-byte buffers`);
  let fd = -1;
  let ring: Mapping | null = null;
  try {
    // protocol 0 receives nothing until bind() names the interface and ETH_P_ALL
    fd = socket(K.AF_PACKET, K.SOCK_RAW, 0, info.name);
    setsockopt(fd, K.SOL_PACKET, K.PACKET_VERSION, vnetLen ? K.TPACKET_V2 : K.TPACKET_V3, info.name);
    setsockopt(fd, K.SOL_PACKET, K.PACKET_RESERVE, vnetLen ? VNET_RESERVE : RESERVE, info.name);
    setsockopt(fd, K.SOL_PACKET, K.PACKET_IGNORE_OUTGOING, 1, info.name); // our own frames are not received
    setsockopt(fd, K.SOL_PACKET, K.PACKET_QDISC_BYPASS, 1, info.name);
    // before the ring (EBUSY after): every frame then carries a virtio-net header
    if (vnetLen === 10) setsockopt(fd, K.SOL_PACKET, K.PACKET_VNET_HDR, 1, info.name);
    else if (vnetLen === 12) setsockopt(fd, K.SOL_PACKET, PACKET_VNET_HDR_SZ, 12, info.name);
    if (vnetLen) {
      const req = Buffer.alloc(K.tpacket_req.size);
      req.writeUInt32LE(VNET_BLOCK, K.tpacket_req.tp_block_size);
      req.writeUInt32LE(VNET_BLOCKS, K.tpacket_req.tp_block_nr);
      req.writeUInt32LE(VNET_FRAME, K.tpacket_req.tp_frame_size);
      req.writeUInt32LE(VNET_PER_BLOCK * VNET_BLOCKS, K.tpacket_req.tp_frame_nr);
      setsockopt(fd, K.SOL_PACKET, K.PACKET_RX_RING, req, info.name);
      ring = mmap(fd, VNET_BLOCK * VNET_BLOCKS, 0, 'TPACKET_V2 rx ring', info.name);
    } else {
      const req = Buffer.alloc(K.tpacket_req3.size);
      req.writeUInt32LE(BLOCK_SIZE, K.tpacket_req3.tp_block_size);
      req.writeUInt32LE(BLOCKS, K.tpacket_req3.tp_block_nr);
      req.writeUInt32LE(2048, K.tpacket_req3.tp_frame_size);
      req.writeUInt32LE((BLOCK_SIZE / 2048) * BLOCKS, K.tpacket_req3.tp_frame_nr);
      req.writeUInt32LE(1, K.tpacket_req3.tp_retire_blk_tov); // hand over partly filled blocks after 1 ms
      setsockopt(fd, K.SOL_PACKET, K.PACKET_RX_RING, req, info.name);
      ring = mmap(fd, BLOCK_SIZE * BLOCKS, 0, 'TPACKET_V3 rx ring', info.name);
    }
    bind(fd, sockaddrLl(info.index, K.ETH_P_ALL), info.name);
    const region = mem.region;
    const rec = createKernelPortRecord(region, nr, txSlots, rxSlots);
    const detail = vnetLen
      ? `${vnetLen}-byte virtio-net header (super-frames and partial checksums as NS_MOREFRAG chains), TPACKET_V2 rx ring (${VNET_PER_BLOCK * VNET_BLOCKS} x ${VNET_FRAME >> 10} KiB frames), sendmmsg tx, qdisc bypass`
      : `TPACKET_V3 rx ring (${BLOCKS} x ${BLOCK_SIZE >> 10} KiB blocks), sendmmsg tx, qdisc bypass`;
    const port = new PacketPort(mem, rec, spec, rings, opts, fd, ring, detail, host, vnetLen);
    return port.bindOpener();
  } catch (e) {
    if (ring) munmap(ring.addr, ring.size);
    if (fd >= 0) close(fd);
    mem.release();
    throw e;
  }
}
