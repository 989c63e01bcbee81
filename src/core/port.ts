// A port as one opener sees it: the rings it bound, the sync calls, poll, and helpers.
// The kind-specific "kernel side" (what txsync/rxsync do) lives in subclasses in
// src/ports and src/vale; everything shared by all kinds is here.
import { NR_EXCLUSIVE, NR_NO_TX_POLL, NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY, POLLIN, POLLOUT } from './constants.js';
import { MAX_OPENERS, OPENER_EXCL, OPENER_NO_RX, OPENER_NO_TX, OPENER_ONE, OPENER_RING_MASK, PR, RR } from './layout.js';
import { NetmapError, type Region } from './region.js';
import { Ring } from './ring.js';
import { addOpener, destroyByKind, freeBufList, portRing, portStats, removeOpener, unbind, type PortStats } from './records.js';

function u32Refs(region: Region, rec: number): number {
  return region.u32[(rec + PR.refs) >> 2];
}
import { OWNER_TOKEN } from './lock.js';
import { forgetRegion, retireRegion } from './shm.js';
import { holdWakes, portWord, releaseWakes, sleepOn, sleepOnAsync, type WaitCheck } from './wait.js';
import { defaultFlowSpinUs, defaultSpinUs, FlowSpin, spinEnd, spinPastEnd, type SpinCheck } from './spin.js';
import type { PortSpec } from './portspec.js';

// `performance` is a lazy global getter in Node: keep one reference
export const clock = performance;
/** Checks poll() makes per microsecond of spinning (a check costs roughly 25-50 ns). */
export const SPIN_CHECKS_PER_US = 20;

export type { PortStats } from './records.js';

/** How a port on kernel objects (ports/netif) moves its frames: what tools print after opening it. */
export interface BackendInfo {
  /** 'af_xdp', 'af_packet', 'tap' */
  backend: string;
  /** e.g. "native XDP, copy mode, queue 0" */
  detail: string;
  /** why another backend was not used (auto choice), '' if not applicable */
  fallbackReason: string;
  /** advice printed by tools at open (offloads, MTU) */
  warnings: string[];
}

export interface OpenOptions {
  /** Spin instead of sleeping in poll() (lowest latency, burns a core). */
  busyWait?: boolean;
  /**
   * Microseconds poll() keeps checking before it goes to sleep (default 50). A peer thread
   * usually publishes within that time, and a sleep/wake-up pair costs far more than the
   * spin; an idle port still sleeps, using no CPU.
   */
  spinUs?: number;
  /**
   * Microseconds poll() keeps checking, yielding the CPU, while a stream flows (something was
   * ready within the last 2 ms), before it sleeps; it stops at once when another thread wants
   * the CPU (core/spin.ts). Default 0 = off (NMTS_FLOW_SPIN_US): for a receiver with a CPU of its own.
   * Ports of a shared region only (ports on kernel objects wait in poll(2)).
   */
  flowSpinUs?: number;
  /** Extra buffers handed to the port as a linked list (netmap's nr_extra_bufs). */
  extraBufs?: number;
  /** Rings and slots when the open creates the port (same as @conf:). */
  txRings?: number;
  rxRings?: number;
  txSlots?: number;
  rxSlots?: number;
  /**
   * VALE ports: the virtio-net header length (0, 10 or 12) frames carry on this port (same as
   * @conf:vnet=N; netmap's PORT_HDR_SET). Set when the open creates the port, or changes it
   * when no one else has it open (EBUSY otherwise). Linux interfaces (netmap:IF, IF^, TAPs):
   * frames read and written with that header (AF_PACKET or TAP; ports/netif). Other kinds: 0 only.
   */
  vnetHdrLen?: 0 | 10 | 12;
  // options of one port kind extend these where the kind is defined (ports/netif: InterfaceOpenOptions)
}

/** Which rings of a port an opener binds, from the name's mode and flags. */
export function selectRings(spec: PortSpec, ntx: number, nrx: number): { tx: number[]; rx: number[] } {
  if (spec.mode === 'sw' || spec.mode === 'one-sw' || spec.mode === 'nic-sw') {
    throw new NetmapError('EINVAL', `${spec.raw}: host rings ('^', '*') exist only on Linux interfaces`);
  }
  const pick = (count: number): number[] => {
    if (spec.mode === 'one-nic') {
      if (spec.ringId >= count) throw new NetmapError('EINVAL', `${spec.raw}: ring ${spec.ringId} does not exist (the port has ${count})`);
      return [spec.ringId];
    }
    return Array.from({ length: count }, (_, i) => i);
  };
  return {
    tx: spec.flags & NR_RX_RINGS_ONLY ? [] : pick(ntx),
    rx: spec.flags & NR_TX_RINGS_ONLY ? [] : pick(nrx),
  };
}

/** poll()'s check after announcing itself as a waiter: sync, and sleep until the deadline unless ready. */
class PortWait implements WaitCheck, SpinCheck {
  events = 0;
  deadline = 0;
  revents = 0;
  constructor(private readonly port: Port) {}
  beforeSleep(): number {
    this.revents = this.port.check(this.events);
    return this.revents ? 0 : this.deadline - clock.now();
  }
  ready(): number {
    return this.port.check(this.events);
  }
}

/** What a direct transmit (Port.transmitFrom) adds to: a forwarder's counters for one direction. */
export interface DirectCounters {
  packets: number;
  bytes: number;
  /** Frames not sent: refused by the kernel, or slots that do not hold together (bad index, length, header). */
  drops: number;
  /** The part of drops whose virtio-net header was malformed. */
  badVnet: number;
}

export abstract class Port {
  readonly name: string;
  readonly spec: PortSpec;
  readonly region: Region;
  /** Byte offset of the port record. */
  readonly rec: number;
  readonly txRings: Ring[];
  readonly rxRings: Ring[];
  /** The region's bytes: buffers are at ring.buf(i) in here. */
  readonly u8: Uint8Array;
  readonly memId: number;
  busyWait: boolean;
  spinUs: number;
  /** poll()'s spin while a stream flows (core/spin.ts); its flowSpinUs may be changed. */
  readonly flow: FlowSpin;
  protected readonly txOfs: Int32Array;
  protected readonly rxOfs: Int32Array;
  protected closed = false;
  private readonly exclusive: boolean;
  private readonly rxRelease: Int32Array; // receiveBatch: slot to release per rx ring, -1 none
  private readonly waitCheck: PortWait = new PortWait(this);
  private rxNext = 0;

  constructor(region: Region, rec: number, spec: PortSpec, rings: { tx: number[]; rx: number[] }, opts: OpenOptions) {
    this.name = spec.raw;
    this.spec = spec;
    this.region = region;
    this.rec = rec;
    this.u8 = region.u8;
    this.memId = region.memId;
    this.busyWait = opts.busyWait ?? false;
    this.spinUs = opts.spinUs ?? defaultSpinUs();
    if (!Number.isFinite(this.spinUs) || this.spinUs < 0) throw new NetmapError('EINVAL', `${spec.raw}: spinUs ${opts.spinUs}: microseconds (a number >= 0) expected`);
    this.flow = new FlowSpin(opts.flowSpinUs ?? defaultFlowSpinUs());
    this.exclusive = (spec.flags & NR_EXCLUSIVE) !== 0;
    this.extraBufs = opts.extraBufs ?? 0;
    if (!Number.isInteger(this.extraBufs) || this.extraBufs < 0) throw new NetmapError('EINVAL', `${spec.raw}: extraBufs must be a non-negative integer`);
    this.txOfs = Int32Array.from(rings.tx, (i) => portRing(region, rec, false, i));
    this.rxOfs = Int32Array.from(rings.rx, (i) => portRing(region, rec, true, i));
    this.txRings = Array.from(this.txOfs, (o) => new Ring(region, o));
    this.rxRings = Array.from(this.rxOfs, (o) => new Ring(region, o));
    this.rxRelease = new Int32Array(this.rxOfs.length).fill(-1);
  }

  /** This opener's entry in the port record (-1 until bindRings succeeds). */
  private opener = -1;

  /**
   * Head of this opener's extra-buffer list (netmap's ni_bufs_head): buffer indices linked
   * through the first 32-bit word of each buffer, 0 ends the list. The user may take and
   * return buffers; whatever list this points to at close() is given back to the region.
   * It lives in the port record, so the list of an opener that dies goes back too.
   */
  get bufsHead(): number {
    return this.opener < 0 ? 0 : this.region.u32[((this.rec + PR.openerBufs) >> 2) + this.opener];
  }
  set bufsHead(b: number) {
    if (this.opener >= 0) this.region.u32[((this.rec + PR.openerBufs) >> 2) + this.opener] = b;
  }
  private readonly extraBufs: number;

  /** What this opener bound, as recorded in the port record (for reclaiming it if it dies). */
  private bindDesc(): number {
    const s = this.spec;
    return (s.mode === 'one-nic' ? OPENER_ONE | (s.ringId & OPENER_RING_MASK) : 0) |
      (s.flags & NR_RX_RINGS_ONLY ? OPENER_NO_TX : 0) | (s.flags & NR_TX_RINGS_ONLY ? OPENER_NO_RX : 0) |
      (this.exclusive ? OPENER_EXCL : 0);
  }

  /**
   * Mark the bound rings as used (config lock held); enforces /x. Only a successful bind
   * counts the port in region.ports (what keeps this thread's mapping): a failed open leaves
   * nothing behind.
   */
  protected bindRings(): void {
    const u32 = this.region.u32, region = this.region;
    const all = [...this.txOfs, ...this.rxOfs];
    for (const r of all) {
      if (u32[(r + RR.excl) >> 2] || (this.exclusive && u32[(r + RR.users) >> 2])) {
        throw new NetmapError('EBUSY', `${this.name}: ring ${u32[(r + RR.ringId) >> 2] & 0xffff} is ${u32[(r + RR.excl) >> 2] ? 'bound exclusively (/x) by another opener' : 'in use, exclusive open (/x) refused'}`);
      }
    }
    if (this.extraBufs > 0 && region.freeBuffers() < this.extraBufs) {
      throw new NetmapError('ENOMEM', `${this.name}: ${this.extraBufs} extra buffers requested, ${region.freeBuffers()} free`);
    }
    const k = addOpener(region, this.rec, OWNER_TOKEN, this.bindDesc());
    if (k < 0) throw new NetmapError('EBUSY', `${this.name}: the port already has ${MAX_OPENERS} openers`);
    this.opener = k;
    for (let i = 0; i < this.extraBufs; i++) {
      const b = region.allocBuf();
      if (b === 0) break; // counted as free above; a corrupted count gives fewer
      u32[region.bufOffset(b) >>> 2] = this.bufsHead;
      this.bufsHead = b;
    }
    for (const r of all) {
      u32[(r + RR.users) >> 2]++;
      if (this.exclusive) u32[(r + RR.excl) >> 2] = 1;
    }
    u32[(this.rec + PR.refs) >> 2]++;
    region.ports++;
    region.hadPorts = true;
  }

  /** Release the bound rings (config lock held); returns the port's remaining openers. */
  protected unbindRings(): number {
    const region = this.region;
    if (this.opener < 0) return u32Refs(region, this.rec);
    freeBufList(region, this.bufsHead);
    removeOpener(region, this.rec, this.opener);
    this.opener = -1;
    return unbind(region, this.rec, this.bindDesc());
  }

  /** Kind-specific transmit sync of one ring record. */
  protected abstract txsyncRing(ring: number): void;
  /** Kind-specific receive sync of one ring record. */
  protected abstract rxsyncRing(ring: number): void;
  /** Teardown once the last opener closes (config lock held): the kind's destructor. */
  protected destroy(): void {
    destroyByKind(this.region, this.rec);
  }

  /** Push the slots in [old head, head) of every bound tx ring; refresh tail (NIOCTXSYNC). */
  txsync(): void {
    if (this.closed) throw new NetmapError('EBADF', `${this.name}: port is closed`);
    const t = this.txOfs;
    for (let i = 0; i < t.length; i++) this.txsyncRing(t[i]);
  }

  /** Release [old head, head) of every bound rx ring and pick up new frames (NIOCRXSYNC). */
  rxsync(): void {
    if (this.closed) throw new NetmapError('EBADF', `${this.name}: port is closed`);
    const r = this.rxOfs;
    for (let i = 0; i < r.length; i++) this.rxsyncRing(r[i]);
  }

  // ---- one wake-up for several syncs (core/wait.ts keeps them) ----
  /** Keep the wake-ups of the syncs that follow (this thread's) until releaseWakes(); calls nest. */
  holdWakes(): void {
    holdWakes();
  }

  /** End holdWakes(): wake each sleeper the syncs since then would have woken, once. */
  releaseWakes(): void {
    releaseWakes();
  }

  /** Sync as poll() does and return the ready events, without waiting. */
  check(events: number): number {
    return this.ready(events);
  }

  private ready(events: number): number {
    this.holdWakes();
    try {
      return this.syncForPoll(events);
    } finally {
      this.releaseWakes();
    }
  }

  private syncForPoll(events: number): number {
    const u32 = this.region.u32;
    let revents = 0;
    if (events & POLLOUT || !(this.spec.flags & NR_NO_TX_POLL)) {
      this.txsync();
      if (events & POLLOUT) {
        for (let i = 0; i < this.txOfs.length; i++) {
          const o = this.txOfs[i];
          if (u32[(o + RR.cur) >> 2] !== u32[(o + RR.tail) >> 2]) { revents |= POLLOUT; break; }
        }
      }
    }
    if (events & POLLIN) {
      this.rxsync();
      for (let i = 0; i < this.rxOfs.length; i++) {
        const o = this.rxOfs[i];
        if (u32[(o + RR.cur) >> 2] !== u32[(o + RR.tail) >> 2]) { revents |= POLLIN; break; }
      }
    }
    return revents;
  }

  /**
   * Wait until a bound rx ring has frames past cur (POLLIN) or a tx ring has room past cur
   * (POLLOUT), syncing as netmap's poll() does. Sleeps without using CPU unless busyWait.
   * timeoutMs < 0 waits forever. Returns the ready events (0 on timeout).
   */
  poll(events: number, timeoutMs = -1): number {
    let revents = this.ready(events);
    if (revents || timeoutMs === 0) return this.readyNow(revents);
    // Spin first, counting checks rather than reading the clock at each (it costs more than a
    // check); a check is roughly 25-50 ns, so SPIN_CHECKS_PER_US is an approximation on the
    // safe side; with a timeout, the clock read every SPIN_CLOCK_EVERY checks ends the spin at
    // the timeout if that comes first (core/spin.ts spinEnd).
    const spins = this.spinUs * SPIN_CHECKS_PER_US, end = spins > 0 ? spinEnd(timeoutMs) : 0;
    for (let i = 0; i < spins; i++) {
      revents = this.ready(events);
      if (revents) return this.readyNow(revents);
      if (spinPastEnd(i, end)) break;
    }
    const w = this.waitCheck, word = portWord(this.rec);
    w.events = events;
    // while a stream flows, spin longer, as long as the CPU is free (core/spin.ts)
    if (!this.busyWait && (revents = this.flow.spin(w))) return this.readyNow(revents);
    const deadline = timeoutMs < 0 ? Infinity : clock.now() + timeoutMs;
    w.deadline = deadline;
    for (;;) {
      if (this.busyWait) {
        revents = this.ready(events);
      } else {
        w.revents = 0;
        sleepOn(this.region, word, w); // checks again once announced as a waiter (core/wait.ts)
        revents = w.revents || this.ready(events);
      }
      if (revents) return this.readyNow(revents);
      if (clock.now() >= deadline) return 0;
    }
  }

  /** poll() found `revents` ready (non-zero: a stream may be flowing). */
  private readyNow(revents: number): number {
    if (revents) this.flow.sawReady();
    return revents;
  }

  /** poll() that does not block the event loop: resolves with the ready events. */
  async pollAsync(events: number, timeoutMs = -1): Promise<number> {
    const w = new PortWait(this); // one per call: several pollAsync may be pending
    w.events = events;
    w.deadline = timeoutMs < 0 ? Infinity : clock.now() + timeoutMs;
    const word = portWord(this.rec);
    for (;;) {
      w.revents = 0;
      await sleepOnAsync(this.region, word, w);
      const revents = w.revents || this.ready(events);
      if (revents || clock.now() >= w.deadline) return revents;
    }
  }

  /**
   * Copy one frame into the first tx ring with room and advance head/cur (nm_inject).
   * Like netmap it does not sync: call txsync() or poll() to push. False when full.
   */
  inject(frame: Uint8Array, len: number = frame.length): boolean {
    if (len > this.region.bufSize) throw new NetmapError('EINVAL', `${this.name}: frame of ${len} bytes exceeds the buffer size ${this.region.bufSize}`);
    for (let i = 0; i < this.txRings.length; i++) {
      const r = this.txRings[i];
      if (r.empty()) continue;
      const h = r.head;
      this.u8.set(len === frame.length ? frame : frame.subarray(0, len), r.buf(h));
      r.setLen(h, len);
      r.setSlotFlags(h, 0);
      r.advance(r.next(h));
      return true;
    }
    return false;
  }

  /**
   * Batch receive without copies: fills offs[k] (byte offset into `u8`), lens[k] and, if
   * given, flags[k] for up to `max` received slots and returns how many. The slots stay
   * valid until the next call, which hands them back to the port.
   */
  receiveBatch(offs: Uint32Array, lens: Uint16Array | Uint32Array, max: number = offs.length, flags?: Uint16Array): number {
    const rings = this.rxRings, rel = this.rxRelease;
    for (let i = 0; i < rings.length; i++) {
      if (rel[i] >= 0) { rings[i].advance(rel[i]); rel[i] = -1; }
    }
    let n = 0;
    for (let pass = 0; pass < 2 && n === 0; pass++) {
      if (pass === 1) this.rxsync();
      for (let k = 0; k < rings.length && n < max; k++) {
        const i = (this.rxNext + k) % rings.length;
        const r = rings[i];
        let h = r.head;
        const t = r.tail;
        if (h === t) continue;
        while (h !== t && n < max) {
          offs[n] = r.buf(h);
          lens[n] = r.len(h);
          if (flags) flags[n] = r.slotFlags(h);
          n++;
          h = r.next(h);
        }
        rel[i] = h;
      }
    }
    this.rxNext = rings.length ? (this.rxNext + 1) % rings.length : 0;
    return n;
  }

  /** Largest frame this port moves: a buffer, unless the kernel keeps part of it (AF_XDP). */
  get maxFrame(): number {
    return this.region.bufSize;
  }

  /**
   * The virtio-net header before each frame on this port (0, 10, 12): frames up to 64 KiB are
   * then NS_MOREFRAG chains with the header in their first slot.
   */
  get vnetHdrLen(): number {
    return 0;
  }

  /** Whether transmitFrom() and receiveInto() may move frames for this port (else they always say -1). */
  get movesInPlace(): boolean {
    return false;
  }

  /**
   * Send frames straight from another port's rx ring, `limit` frames at most, when this port can
   * (a kernel port whose system call reads the frames where they lie: no copy into its own tx
   * ring first); the slots sent, dropped or refused are released by advancing `rx`. Returns the
   * frames taken (sent or dropped, added to `c`), or -1 when it cannot: the caller copies.
   */
  transmitFrom(_rx: Ring, _limit: number, _c: DirectCounters): number {
    return -1;
  }

  /**
   * Receive straight into another port's tx ring, `limit` slots at most, when this port can (a
   * kernel port whose frames wait in a kernel ring: no copy through its own rx ring); the slots
   * written are published by advancing `tx`. Returns the slots written (frames and drops added
   * to `c`), or -1 when it cannot. A port that said yes once leaves its frames to these calls
   * from then on: the caller must be its only reader.
   */
  receiveInto(_tx: Ring, _limit: number, _c: DirectCounters): number {
    return -1;
  }

  /** Which kernel mechanism moves this port's frames; null for a port of a shared region. */
  backend(): BackendInfo | null {
    return null;
  }

  /**
   * The file descriptors poll(2) waits on for a port on kernel objects (sockets, a TAP
   * device); null for a port of a shared region, which is woken through its futex words.
   */
  pollFds(): readonly number[] | null {
    return null;
  }

  stats(): PortStats {
    if (this.closed) throw new NetmapError('EBADF', `${this.name}: port is closed`);
    return portStats(this.region, this.rec);
  }

  /** Unbind; the last opener of an ephemeral port destroys it. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const region = this.region;
    const bound = this.opener >= 0;
    try {
      region.lockConfig();
      try {
        if (this.unbindRings() === 0) this.destroy();
        if (region.path && region.dirCount() === 0 && !region.dead) retireRegion(region);
      } finally {
        region.unlockConfig(); // before the mapping may be released (retired: zero pages)
      }
    } finally {
      if (bound) region.ports--;
      if (region.dead) forgetRegion(region);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
