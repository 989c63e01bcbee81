// The kernel side of a ring pair whose frames go to and come from a TAP device (HostRings of
// kernel-port.ts): every ring of `netmap:TAP`, the host rings of `netmap:IF^` / `netmap:IF^0`, and
// the last ring pair of `netmap:IF*` (tap-port.ts, host-rings.ts).
//
//   tx ring: each slot in [hwcur, head) is one write(2) of its buffer to the TAP's fd: the kernel
//            receives the frame as if it had arrived on the TAP. The kernel copies it, so every
//            slot is free again when txsync returns (tail = hwcur - 1).
//   rx ring: released slots keep their buffers; read(2) fills the buffer of the slot at hwtail
//            with the next frame the host stack sent out through the TAP, until EAGAIN or the
//            ring is full.
//
// With a virtio-net header (the TAP opened with IFF_VNET_HDR, tun.ts), the stack hands over
// partial checksums and TCP super-frames up to 64 KiB: one readv(2) scatters a frame, header
// first, over the buffers of the next free slots (an NS_MOREFRAG chain; the ring must have room
// for the largest frame, MAX_VNET_SLOTS, before a read), and one writev(2) per chain gives the
// stack a frame and its header back. The header is input: a chain whose header or lengths do not
// hold together is dropped and counted in txDrops, never written.
//
// One system call per frame is unavoidable: a TAP has no batched or mapped interface for a
// user-space reader (no recvmmsg, no ring), so this path is much slower than AF_XDP or AF_PACKET
// (about 1.2 to 1.5 µs per frame). The buffers are handed to the kernel by address (the region
// is anonymous memory this thread mapped), so nothing is allocated or copied in JavaScript.
import { readFileSync } from 'node:fs';
import { NETMAP_MAX_FRAGS, NS_MOREFRAG } from '../../core/constants.js';
import { RR } from '../../core/layout.js';
import type { Region } from '../../core/region.js';
import { badSlot, checkHeadCur, rxEpilogue, txEpilogue } from '../../core/sync.js';
import { vnetCheck, VNET_OK } from '../../packet/vnet-hdr.js';
import { mmapAnonymous, munmap, NetError, type Mapping } from '../../sys/net.js';
import { clearTapOffloads, closeTap, tapRead, tapReadv, tapWrite, tapWritev, type TapDevice } from '../../sys/tun.js';
import * as K from '../../sys/kernel-abi.js';
import type { HostRings } from './kernel-port.js';

/** The largest frame a TAP with offloads hands over: a 64 KiB super-frame, its Ethernet/VLAN header and the virtio-net header. */
export const MAX_VNET_FRAME = 65536 + 18 + 12;

/** write(2) errors that drop the frame (too short, device down) rather than fail the sync */
const DROP = [K.EINVAL, K.EIO, K.EMSGSIZE, K.ENOMEM];

function tapCounter(name: string, counter: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/statistics/${counter}`, 'utf8'));
  } catch {
    return 0; // the device is gone
  }
}

/** The kernel side of a ring pair moved through a TAP's fd (HostRings of kernel-port.ts). */
export class TapRings implements HostRings {
  readonly name: string;
  readonly fd: number;
  /** Whether opening made the device (it goes away with its fd). */
  readonly created: boolean;
  private region: Region | null = null;
  private what = '';
  private bufs = 0; // address of buffer 0, as a number (below 2^53)
  private closed = false;
  private readonly dropsAtOpen: number;
  /** the virtio-net header length before each frame (0: none, one slot per frame) */
  readonly vnetHdrLen: number;
  /** NETMAP_MAX_FRAGS iovecs (readv/writev of a chain), by address; null without a header */
  private readonly iov: Mapping | null;
  private readonly iov32: Uint32Array | null;
  private iovAddr = 0;

  constructor(tap: TapDevice) {
    this.name = tap.name;
    this.fd = tap.fd;
    this.created = tap.created;
    this.vnetHdrLen = tap.vnetHdrLen;
    this.iov = tap.vnetHdrLen ? mmapAnonymous(NETMAP_MAX_FRAGS * K.iovec.size, 'TAP iovecs') : null;
    this.iov32 = this.iov ? new Uint32Array(this.iov.buffer) : null;
    this.iovAddr = this.iov ? Number(this.iov.addr) : 0;
    // the TAP's queue overflowing while nobody reads counts as the device's tx_dropped
    this.dropsAtOpen = tapCounter(tap.name, 'tx_dropped');
  }

  bind(region: Region, portName: string): void {
    this.region = region;
    this.what = portName;
    this.bufs = Number(region.addr) + region.bufsOfs;
  }

  /** Write the frames of [hwcur, head) to the TAP, one write(2) each (one writev(2) per chain with a header). */
  txsync(t: number): void {
    if (this.vnetHdrLen) return this.txsyncVnet(t);
    const region = this.region!, u32 = region.u32;
    checkHeadCur(region, t, this.what);
    const n = u32[(t + RR.numSlots) >> 2], s = u32[(t + RR.slotsOfs) >> 2] >> 2;
    const head = u32[(t + RR.head) >> 2];
    let hwcur = u32[(t + RR.hwcur) >> 2];
    const nbufs = region.nbufs, bufSize = region.bufSize, bufs = this.bufs, fd = this.fd;
    let pkts = 0, bytes = 0, drops = 0, bad = -1, err = 0;
    while (hwcur !== head) {
      const idx = u32[s + (hwcur << 2)], len = u32[s + (hwcur << 2) + 1] & 0xffff;
      if (idx < 2 || idx >= nbufs || len > bufSize) { bad = hwcur; break; }
      const r = tapWrite(fd, bufs + idx * bufSize, len);
      if (r < 0) {
        if (r === -K.EAGAIN || r === -K.ENOBUFS || r === -K.EINTR) break; // retried at the next sync
        if (!DROP.includes(-r)) { err = -r; break; }
        drops++;
      } else {
        pkts++;
        bytes += len;
      }
      hwcur = hwcur + 1 === n ? 0 : hwcur + 1;
    }
    // what was written stays written: the ring is consistent before a slot or errno is reported
    txEpilogue(region, t, hwcur, pkts, bytes, drops);
    if (bad >= 0) badSlot(region, t, bad, this.what);
    if (err) throw new NetError('write', 'TAP', this.name, err);
  }

  /**
   * txsync with a virtio-net header: each chain of [hwcur, head) (slots ending without
   * NS_MOREFRAG, header in the first) is one writev(2); a chain cut by head waits for the rest.
   */
  private txsyncVnet(t: number): void {
    const region = this.region!, u32 = region.u32, u8 = region.u8, iov32 = this.iov32!;
    checkHeadCur(region, t, this.what);
    const n = u32[(t + RR.numSlots) >> 2], s = u32[(t + RR.slotsOfs) >> 2] >> 2;
    const head = u32[(t + RR.head) >> 2];
    let hwcur = u32[(t + RR.hwcur) >> 2];
    const nbufs = region.nbufs, bufSize = region.bufSize, bufs = this.bufs, fd = this.fd, vh = this.vnetHdrLen;
    let pkts = 0, bytes = 0, drops = 0, bad = -1, err = 0;
    while (hwcur !== head) {
      // gather one chain
      let k = hwcur, count = 0, total = 0, complete = false;
      while (k !== head) {
        const idx = u32[s + (k << 2)], word = u32[s + (k << 2) + 1], len = word & 0xffff;
        if (idx < 2 || idx >= nbufs || len > bufSize) { bad = k; break; }
        const addr = bufs + idx * bufSize, io = count << 2;
        iov32[io] = addr >>> 0;
        iov32[io + 1] = (addr / 4294967296) >>> 0;
        iov32[io + 2] = len;
        iov32[io + 3] = 0;
        total += len;
        count++;
        k = k + 1 === n ? 0 : k + 1;
        if (((word >>> 16) & NS_MOREFRAG) === 0 || count === NETMAP_MAX_FRAGS) { complete = true; break; }
      }
      if (!complete) break; // a bad slot, or the rest of the chain is not there yet
      const first = region.bufOffset(u32[s + (hwcur << 2)]), firstLen = u32[s + (hwcur << 2) + 1] & 0xffff;
      let r: number;
      if (firstLen < vh + 14 || vnetCheck(u8, first, vh, total - vh) !== VNET_OK) {
        r = -K.EINVAL; // a header or frame the stack must not be given
      } else {
        r = tapWritev(fd, this.iovAddr, count);
      }
      if (r < 0) {
        if (r === -K.EAGAIN || r === -K.ENOBUFS || r === -K.EINTR) break;
        if (!DROP.includes(-r)) { err = -r; break; }
        drops++;
      } else {
        pkts++;
        bytes += total - vh;
      }
      hwcur = k;
    }
    txEpilogue(region, t, hwcur, pkts, bytes, drops);
    if (bad >= 0) badSlot(region, t, bad, this.what);
    if (err) throw new NetError('writev', 'TAP', this.name, err);
  }

  /** Release [hwcur, head) and read frames into the free slots from hwtail, one read(2) each. */
  rxsync(r: number): void {
    if (this.vnetHdrLen) return this.rxsyncVnet(r);
    const region = this.region!, u32 = region.u32;
    checkHeadCur(region, r, this.what);
    const n = u32[(r + RR.numSlots) >> 2], s = u32[(r + RR.slotsOfs) >> 2] >> 2;
    const hwcur = u32[(r + RR.head) >> 2]; // released slots keep their buffers
    u32[(r + RR.hwcur) >> 2] = hwcur;
    const stop = hwcur === 0 ? n - 1 : hwcur - 1;
    let hwtail = u32[(r + RR.hwtail) >> 2];
    const nbufs = region.nbufs, bufSize = region.bufSize, bufs = this.bufs, fd = this.fd;
    let pkts = 0, bytes = 0, drops = 0, bad = -1, err = 0;
    while (hwtail !== stop) {
      // a buffer index swapped in by the user is checked before its address goes to the kernel
      const idx = u32[s + (hwtail << 2)];
      if (idx < 2 || idx >= nbufs) { bad = hwtail; break; }
      const len = tapRead(fd, bufs + idx * bufSize, bufSize);
      if (len < 0) {
        if (len !== -K.EAGAIN && len !== -K.EINTR) err = -len;
        break;
      }
      if (len > bufSize) { drops++; continue; } // cut by the buffer: the MTU was raised after open
      u32[s + (hwtail << 2) + 1] = len;
      pkts++;
      bytes += len;
      hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
    }
    rxEpilogue(region, r, hwtail, pkts, bytes, drops);
    if (bad >= 0) badSlot(region, r, bad, this.what);
    if (err) throw new NetError('read', 'TAP', this.name, err);
  }

  /**
   * rxsync with a virtio-net header: one readv(2) per frame over the buffers of the next free
   * slots, as many as the largest frame needs (fewer free: the frame waits in the TAP's queue);
   * the frame fills them in order, header first, chained with NS_MOREFRAG.
   */
  private rxsyncVnet(r: number): void {
    const region = this.region!, u32 = region.u32, iov32 = this.iov32!;
    checkHeadCur(region, r, this.what);
    const n = u32[(r + RR.numSlots) >> 2], s = u32[(r + RR.slotsOfs) >> 2] >> 2;
    const hwcur = u32[(r + RR.head) >> 2];
    u32[(r + RR.hwcur) >> 2] = hwcur;
    const stop = hwcur === 0 ? n - 1 : hwcur - 1;
    let hwtail = u32[(r + RR.hwtail) >> 2];
    const nbufs = region.nbufs, bufSize = region.bufSize, bufs = this.bufs, fd = this.fd, vh = this.vnetHdrLen;
    const need = Math.min(NETMAP_MAX_FRAGS, Math.ceil(MAX_VNET_FRAME / bufSize));
    let pkts = 0, bytes = 0, drops = 0, bad = -1, err = 0;
    for (;;) {
      const free = stop >= hwtail ? stop - hwtail : stop + n - hwtail;
      if (free < need) break;
      let k = hwtail;
      for (let i = 0; i < need; i++) {
        const idx = u32[s + (k << 2)];
        if (idx < 2 || idx >= nbufs) { bad = k; break; }
        const addr = bufs + idx * bufSize, io = i << 2;
        iov32[io] = addr >>> 0;
        iov32[io + 1] = (addr / 4294967296) >>> 0;
        iov32[io + 2] = bufSize;
        iov32[io + 3] = 0;
        k = k + 1 === n ? 0 : k + 1;
      }
      if (bad >= 0) break;
      const len = tapReadv(fd, this.iovAddr, need);
      if (len < 0) {
        if (len !== -K.EAGAIN && len !== -K.EINTR) err = -len;
        break;
      }
      if (len < vh + 14 || len >= need * bufSize) { drops++; continue; } // no frame after the header, or cut
      let left = len;
      while (left > bufSize) {
        u32[s + (hwtail << 2) + 1] = bufSize | (NS_MOREFRAG << 16);
        left -= bufSize;
        hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
      }
      u32[s + (hwtail << 2) + 1] = left;
      hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
      pkts++;
      bytes += len - vh;
    }
    rxEpilogue(region, r, hwtail, pkts, bytes, drops);
    if (bad >= 0) badSlot(region, r, bad, this.what);
    if (err) throw new NetError('readv', 'TAP', this.name, err);
  }

  counters(): { rxDrops: number; txDrops: number } {
    return { rxDrops: this.closed ? 0 : Math.max(0, tapCounter(this.name, 'tx_dropped') - this.dropsAtOpen), txDrops: 0 };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.vnetHdrLen && !this.created) clearTapOffloads(this.fd); // a persistent TAP stays: its next reader may take no super-frames
    closeTap(this.fd);
    if (this.iov) munmap(this.iov.addr, this.iov.size);
  }
}
