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
// One system call per frame is unavoidable: a TAP has no batched or mapped interface for a
// user-space reader (no recvmmsg, no ring), so this path is much slower than AF_XDP or AF_PACKET
// (about 1.2 to 1.5 µs per frame). The buffers are handed to the kernel by address (the region
// is anonymous memory this thread mapped), so nothing is allocated or copied in JavaScript.
import { readFileSync } from 'node:fs';
import { RR } from '../../core/layout.js';
import type { Region } from '../../core/region.js';
import { badSlot, checkHeadCur } from '../../core/sync.js';
import { NetError } from '../../sys/net.js';
import { closeTap, tapRead, tapWrite, type TapDevice } from '../../sys/tun.js';
import * as K from '../../sys/kernel-abi.js';
import type { HostRings } from './kernel-port.js';

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

  constructor(tap: TapDevice) {
    this.name = tap.name;
    this.fd = tap.fd;
    this.created = tap.created;
    // the TAP's queue overflowing while nobody reads counts as the device's tx_dropped
    this.dropsAtOpen = tapCounter(tap.name, 'tx_dropped');
  }

  bind(region: Region, portName: string): void {
    this.region = region;
    this.what = portName;
    this.bufs = Number(region.addr) + region.bufsOfs;
  }

  /** Write the frames of [hwcur, head) to the TAP, one write(2) each. */
  txsync(t: number): void {
    const region = this.region!, u32 = region.u32;
    checkHeadCur(region, t, this.what);
    const n = u32[(t + RR.numSlots) >> 2], s = u32[(t + RR.slotsOfs) >> 2] >> 2;
    const head = u32[(t + RR.head) >> 2];
    let hwcur = u32[(t + RR.hwcur) >> 2];
    if (hwcur !== head) {
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
      u32[(t + RR.hwcur) >> 2] = hwcur;
      region.f64[(t + RR.txPkts) >> 3] += pkts;
      region.f64[(t + RR.txBytes) >> 3] += bytes;
      region.f64[(t + RR.txDrops) >> 3] += drops;
      // what was written stays written: the ring is consistent before a slot or errno is reported
      if (bad >= 0 || err) {
        u32[(t + RR.hwtail) >> 2] = hwcur === 0 ? n - 1 : hwcur - 1;
        if (bad >= 0) badSlot(region, t, bad, this.what);
        throw new NetError('write', 'TAP', this.name, err);
      }
    }
    const tail = hwcur === 0 ? n - 1 : hwcur - 1;
    u32[(t + RR.hwtail) >> 2] = tail;
    u32[(t + RR.tail) >> 2] = tail;
  }

  /** Release [hwcur, head) and read frames into the free slots from hwtail, one read(2) each. */
  rxsync(r: number): void {
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
    u32[(r + RR.hwtail) >> 2] = hwtail;
    u32[(r + RR.tail) >> 2] = hwtail;
    region.f64[(r + RR.delivered) >> 3] += pkts;
    region.f64[(r + RR.rxBytes) >> 3] += bytes;
    region.f64[(r + RR.drops) >> 3] += drops;
    if (bad >= 0) badSlot(region, r, bad, this.what);
    if (err) throw new NetError('read', 'TAP', this.name, err);
  }

  counters(): { rxDrops: number; txDrops: number } {
    return { rxDrops: this.closed ? 0 : Math.max(0, tapCounter(this.name, 'tx_dropped') - this.dropsAtOpen), txDrops: 0 };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeTap(this.fd);
  }
}
