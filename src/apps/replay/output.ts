// Where `nmts replay` puts packets: a port's tx rings (PortOutput) or a pcap file (-w,
// PcapOutput). The send loop asks slot() for the byte offset of a free buffer in `u8`,
// copies the frame there (and edits it for --unique-ip), then commit(len); flush() hands
// the batch over (one txsync per port) and returns how many packets it carried. Each output
// keeps tcpreplay's per-device counters. Nothing is allocated per packet.
import { openSync, closeSync } from 'node:fs';
import { PcapFdWriter } from '../../packet/pcap.js';
import { POLLOUT } from '../../core/constants.js';
import type { Port } from '../../core/port.js';
import type { Ring } from '../../core/ring.js';

export interface ReplayOutput {
  readonly name: string;
  /** Views of the memory slot() offsets point into (u32/f64: the same bytes, for word copies). */
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  /** Largest frame a slot holds. */
  readonly bufSize: number;
  /** Packets handed over, packets not sent (too large), tx-full waits. */
  sent: number;
  failed: number;
  retriedEagain: number;
  /** Byte offset of a free buffer, or -1 when every ring is full. */
  slot(): number;
  /** The frame of `len` bytes at the last slot() is ready (tsSec/tsNsec: its capture time). */
  commit(len: number, origLen: number, tsSec: number, tsNsec: number): void;
  /** Hand the committed frames over; returns how many. */
  flush(): number;
  /** Frames committed since the last flush. */
  readonly queued: number;
  /** Wait (up to ms) for room after slot() said full. */
  waitRoom(ms: number): void;
  /** Hand the last frames to the peer (bounded wait) and release. */
  close(signal?: AbortSignal): void;
}

export class PortOutput implements ReplayOutput {
  readonly name: string;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  readonly bufSize: number;
  sent = 0;
  failed = 0;
  retriedEagain = 0;
  queued = 0;
  private readonly rings: Ring[];
  private ri = 0;
  private h = 0;
  private space = 0;
  private s = 0;
  private open = false;

  constructor(readonly port: Port) {
    this.name = port.name;
    this.rings = port.txRings;
    if (this.rings.length === 0) throw new Error(`${port.name}: the port has no tx ring bound (opened rx-only?)`);
    this.u8 = port.u8;
    this.u32 = port.region.u32;
    this.f64 = port.region.f64;
    this.bufSize = this.rings[0]!.bufSize;
  }

  private load(): void {
    const r = this.rings[this.ri]!;
    this.h = r.head;
    this.space = r.space();
    this.open = true;
  }

  slot(): number {
    if (!this.open) { this.ri = 0; this.load(); }
    while (this.space === 0) {
      this.rings[this.ri]!.advance(this.h);
      if (this.ri + 1 >= this.rings.length) { this.open = false; return -1; }
      this.ri++;
      this.load();
    }
    const r = this.rings[this.ri]!;
    this.s = r.slots + (this.h << 2);
    const d = r.bufsOfs + this.u32[this.s]! * r.bufSize;
    // the buffer index lives in shared memory: check it before writing through it
    if (d + r.bufSize > this.u8.length) throw new Error(`${this.name}: tx slot ${this.h} holds buffer index ${this.u32[this.s]} outside the region`);
    return d;
  }

  commit(len: number): void {
    const r = this.rings[this.ri]!;
    this.u32[this.s + 1] = len; // len, flags = 0
    this.h = this.h + 1 === r.numSlots ? 0 : this.h + 1;
    this.space--;
    this.queued++;
  }

  flush(): number {
    if (this.open) { this.rings[this.ri]!.advance(this.h); this.open = false; }
    const n = this.queued;
    if (n > 0) {
      this.port.txsync();
      this.sent += n;
      this.queued = 0;
    }
    return n;
  }

  waitRoom(ms: number): void {
    this.retriedEagain++;
    this.port.poll(POLLOUT, ms);
  }

  close(signal?: AbortSignal): void {
    this.flush();
    this.port.txsync();
    const until = performance.now() + 1000;
    for (;;) {
      let pending = false;
      for (const r of this.rings) if (r.txPending()) pending = true;
      if (!pending || performance.now() > until || signal?.aborted) break;
      this.port.poll(POLLOUT, 10);
    }
    this.port.close();
  }
}

/** -w FILE: frames go to a pcap file (with their capture timestamps, nanosecond resolution). */
export class PcapOutput implements ReplayOutput {
  readonly name: string;
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  readonly bufSize = 262144;
  sent = 0;
  failed = 0;
  retriedEagain = 0;
  queued = 0;
  private readonly fd: number;
  private readonly w: PcapFdWriter;

  constructor(file: string, linkType: number) {
    this.name = file;
    const ab = new ArrayBuffer(this.bufSize + 8);
    this.u8 = new Uint8Array(ab);
    this.u32 = new Uint32Array(ab);
    this.f64 = new Float64Array(ab);
    this.fd = openSync(file, 'w');
    this.w = new PcapFdWriter(this.fd, { linkType, snapLen: this.bufSize, nanosecond: true });
  }

  slot(): number { return 0; }

  commit(len: number, origLen: number, tsSec: number, tsNsec: number): void {
    this.w.write(this.u8, 0, len, tsSec >>> 0, tsNsec, Math.max(len, origLen));
    this.queued++;
  }

  flush(): number {
    const n = this.queued;
    this.sent += n;
    this.queued = 0;
    return n;
  }

  waitRoom(): void { /* a file is never full */ }

  close(): void {
    this.flush();
    try { this.w.flush(); } finally { closeSync(this.fd); }
  }
}
