// netmap:vm1 for a VM port made by the daemon (vale-ctl -n vm1 --vhost-user PATH): a program
// talks to the VM with no switch, through the same Port API and tools (pkt-gen, capture, replay,
// bridge). The opener serves the vhost-user socket itself for as long as the port is open: the
// daemon's port thread lets go of PATH (claim.ts: the front end is disconnected, the socket
// removed) and takes it back at close, or when the opener dies. Why the opener and not the
// daemon's thread with a ring pair between them: the frames then cross one thread, not two
// (pkt-gen -f rx moves them from the guest's TX queue into its rx ring in its own rxsync, as
// DPDK's net_vhost does on its one forwarding core), with one copy, and the back end itself
// (device.ts, virtqueue.ts: the protocol, the untrusted-ring checks) is the same code the
// daemon runs. A QEMU front end with reconnect=1 comes back to the opener by itself.
//
//   tx ring (the program sends)   -> txsync: each complete frame into the guest's RX queue
//                                    (rxPush); when the guest has no buffers the frames stay in
//                                    the ring (back-pressure, as a NIC), and so while no front end
//                                    has started its RX queue. A broken RX queue drops (counted).
//   rx ring (the program reads)   <- rxsync: the guest's TX queue (txPop) into free slots; the
//                                    rest waits in the guest's queue (its driver sees a full ring).
//
// Sleeping: the port's one descriptor is an epoll instance holding the listening socket or the
// connection and the kick eventfds (sys/epoll.ts), so poll(), pollAsync() and pollPorts() work
// over a changing set; before sleeping the guest is asked for kicks (virtqueue.ts wantKicks) and
// the set-up messages waiting on the socket are answered. Frames are never handled per object:
// one copy each, between guest memory and the port's buffers, nothing allocated.
import { DEFAULT_SLOTS, NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY, NS_MOREFRAG, POLLIN, POLLOUT } from '../../core/constants.js';
import { RR } from '../../core/layout.js';
import { clock, SPIN_CHECKS_PER_US, type OpenOptions, type Port } from '../../core/port.js';
import { spinEnd, spinPastEnd } from '../../core/spin.js';
import type { PortSpec } from '../../core/portspec.js';
import { createPrivateRegion, type PrivateRegion } from '../../core/private-region.js';
import { NetmapError } from '../../core/region.js';
import { badSlot, checkHeadCur, rxEpilogue, txEpilogue, txPrologue } from '../../core/sync.js';
import { lstatSync } from 'node:fs';
import { close, processAlive, unlink } from '../../sys/libc.js';
import { epollAdd, epollCreate, epollDel } from '../../sys/epoll.js';
import { PollSet } from '../../sys/net.js';
import { eventfdSignal } from '../../sys/unix.js';
import { createKernelPortRecord, KernelPort } from '../netif/kernel-port.js';
import { Claim, CLAIM } from './claim.js';
import { VhostUserDevice } from './device.js';
import { BROKEN, EMPTY, TOO_LONG, type Virtqueue } from './virtqueue.js';

/** How long an open waits for the daemon's thread to let go of the socket. */
const HANDOVER_MS = 5000;
/** Syncs between two looks at the socket while frames flow (set-up messages, a disconnect). */
const SERVICE_EVERY = 256;
/** Looks at the epoll set between two full services (the listening socket is not in the set while connected). */
const SERVICE_FULL = 16;

export class VhostDirectPort extends KernelPort {
  readonly dev: VhostUserDevice;
  /** The device's last log lines (connections, set-up, stopped queues), oldest first. */
  readonly events: string[] = [];
  private readonly claim: Claim;
  private readonly rxq: Virtqueue; // the guest's RX queue: our tx ring feeds it
  private readonly txq: Virtqueue; // the guest's TX queue: it feeds our rx ring
  private readonly epfd: number;
  private readonly sleepSet: PollSet;
  private readonly sleepAsync: PollSet;
  private watched: number[] = [];
  private fdGen = -1;
  private syncs = 0;
  private looks = 0;
  private servicing = false;

  constructor(mem: PrivateRegion, rec: number, spec: PortSpec, rings: { tx: number[]; rx: number[] }, opts: OpenOptions,
    claim: Claim, epfd: number) {
    super(mem, rec, spec, rings, opts, [epfd], { backend: 'vhost-user', detail: `vhost-user back end on ${claim.socketPath} (served by this program while open)`, fallbackReason: '', warnings: [] });
    this.claim = claim;
    this.epfd = epfd;
    this.sleepSet = new PollSet([epfd]);
    this.sleepAsync = new PollSet([epfd]);
    const log = (l: string): void => {
      this.events.push(l);
      if (this.events.length > 64) this.events.shift();
      if (process.env.NMTS_VM_LOG || / stopped: /.test(l)) process.stderr.write(`${spec.name}: ${l}\n`);
    };
    this.dev = new VhostUserDevice({
      path: claim.socketPath, queuePairs: 1, log,
      // the guest stops its TX queue: what it queued is read while the rx ring has room, the rest counted as dropped
      beforeStop: (q) => {
        if (q.index !== 1 || this.isClosed) return;
        this.rxsync();
        const left = q.available();
        if (left > 0 && this.rxOfs.length) this.region.f64[(this.rxOfs[0] + RR.drops) >> 3] += left;
      },
    });
    this.rxq = this.dev.queues[0];
    this.txq = this.dev.queues[1];
    this.watch();
  }

  /** Keep the epoll set equal to the device's descriptors (they change on connect, set-up, disconnect). */
  private watch(): void {
    if (this.dev.fdGen === this.fdGen) return;
    this.fdGen = this.dev.fdGen;
    // a closed fd left the set by itself and its number may be reused: drop all, add the current ones
    for (const fd of this.watched) epollDel(this.epfd, fd);
    this.watched = this.dev.pollFds().filter((fd) => fd >= 0);
    for (const fd of this.watched) epollAdd(this.epfd, fd);
  }

  /** Answer the front end's messages and reset the kick eventfds (a few system calls). */
  private service(): void {
    if (this.servicing) return; // a sync run by beforeStop while a message is handled
    this.servicing = true;
    try {
      this.dev.service();
      this.dev.consumeKicks();
      this.watch();
    } finally {
      this.servicing = false;
    }
  }

  /**
   * Called by every sync: every SERVICE_EVERY syncs (every time while a queue does not run
   * yet), one look at the epoll set (a message, a kick: then service()), and a full service()
   * every SERVICE_FULL looks (a second front end knocking on the listening socket). While
   * frames flow that is one system call per SERVICE_EVERY syncs: the guest does not kick.
   */
  private maybeService(): void {
    if (++this.syncs < SERVICE_EVERY && this.txq.running && this.rxq.running) return;
    this.syncs = 0;
    if (++this.looks >= SERVICE_FULL || this.sleepSet.poll(0, this.spec.name) > 0) {
      this.looks = 0;
      this.service();
    }
  }

  protected txsyncRing(t: number): void {
    if (!this.isClosed) this.maybeService();
    const region = this.region, u32 = region.u32, u8 = region.u8, f64 = region.f64;
    const pub = txPrologue(region, t, this.name, region.bufSize);
    const n = u32[(t + RR.numSlots) >> 2], s = u32[(t + RR.slotsOfs) >> 2] >>> 2;
    let hwcur = u32[(t + RR.hwcur) >> 2];
    const q = this.rxq;
    let pkts = 0, bytes = 0, drops = 0;
    if (q.running || q.broken) {
      while (hwcur !== pub) {
        const idx = u32[s + (hwcur << 2)], word = u32[s + (hwcur << 2) + 1], len = word & 0xffff;
        if (q.broken || (word & (NS_MOREFRAG << 16))) {
          drops++; // a broken queue takes nothing (the driver resets it); chains: one buffer per frame here
        } else {
          const r = q.rxPush(u8, u32, f64, region.bufOffset(idx), len);
          if (r === EMPTY) break; // the guest has no buffers: the frames wait
          if (r === BROKEN) continue; // dropped from the next round on
          if (r === TOO_LONG) drops++;
          else { pkts++; bytes += len; }
        }
        hwcur = hwcur + 1 === n ? 0 : hwcur + 1;
      }
      q.finish();
    }
    txEpilogue(region, t, hwcur, pkts, bytes, drops);
  }

  protected rxsyncRing(r: number): void {
    if (!this.isClosed) this.maybeService();
    const region = this.region, u32 = region.u32, u8 = region.u8, f64 = region.f64;
    checkHeadCur(region, r, this.name);
    const n = u32[(r + RR.numSlots) >> 2], s = u32[(r + RR.slotsOfs) >> 2] >>> 2;
    const hwcur = u32[(r + RR.head) >> 2];
    u32[(r + RR.hwcur) >> 2] = hwcur;
    const stop = hwcur === 0 ? n - 1 : hwcur - 1;
    let hwtail = u32[(r + RR.hwtail) >> 2];
    const q = this.txq, nbufs = region.nbufs, max = region.bufSize;
    let pkts = 0, bytes = 0, drops = 0;
    if (q.running) {
      while (hwtail !== stop) {
        const so = s + (hwtail << 2), idx = u32[so];
        if (idx < 2 || idx >= nbufs) badSlot(region, r, hwtail, this.name);
        const len = q.txPop(u8, u32, f64, region.bufOffset(idx), max);
        if (len === EMPTY || len === BROKEN) break;
        if (len === TOO_LONG) { drops++; continue; }
        u32[so + 1] = len; // len, flags 0
        pkts++;
        bytes += len;
        hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
      }
      q.finish();
    }
    rxEpilogue(region, r, hwtail, pkts, bytes, drops);
  }

  /**
   * Before poll(2) sleeps on the epoll fd: answer the socket, ask the guest for kicks, and if
   * frames or buffers came meanwhile make the fd readable (a kick to ourselves) so the sleep
   * ends at once.
   */
  private prepareSleep(events: number): void {
    this.service();
    const inq = events & POLLIN ? this.txq : null, outq = events & POLLOUT ? this.rxq : null;
    inq?.wantKicks(true);
    outq?.wantKicks(true);
    if ((inq && inq.available() > 0 && inq.kickFd >= 0) || (outq && outq.available() > 0 && outq.kickFd >= 0)) {
      eventfdSignal((inq && inq.kickFd >= 0 ? inq : outq!).kickFd);
    }
  }

  private awake(): void {
    this.service();
    this.txq.wantKicks(false);
    this.rxq.wantKicks(false);
  }

  override pollFds(): readonly number[] {
    // pollPorts() sleeps next: wanting input and room alike
    this.prepareSleep(POLLIN | POLLOUT);
    return this.sleepSet.fds;
  }

  override poll(events: number, timeoutMs = -1): number {
    let revents = this.check(events);
    if (revents || timeoutMs === 0) return revents;
    const spins = (this.spinUs * SPIN_CHECKS_PER_US) >> 2,
      end = spins > 0 ? spinEnd(timeoutMs) : 0;
    for (let i = 0; i < spins; i++) {
      revents = this.check(events);
      if (revents) return revents;
      if (spinPastEnd(i, end)) break;
    }
    const deadline = timeoutMs < 0 ? Infinity : clock.now() + timeoutMs;
    for (;;) {
      if (!this.busyWait) {
        this.prepareSleep(events);
        revents = this.check(events);
        if (revents) { this.awake(); return revents; }
        const left = deadline - clock.now();
        this.sleepSet.poll(left === Infinity ? 1000 : Math.max(0, Math.ceil(left)), this.spec.name);
        this.awake();
      }
      revents = this.check(events);
      if (revents || clock.now() >= deadline) return revents;
    }
  }

  override async pollAsync(events: number, timeoutMs = -1): Promise<number> {
    let revents = this.check(events);
    if (revents || timeoutMs === 0) return revents;
    const deadline = timeoutMs < 0 ? Infinity : clock.now() + timeoutMs;
    for (;;) {
      this.prepareSleep(events);
      const left = deadline - clock.now();
      await this.sleepAsync.pollAsync(left === Infinity ? 200 : Math.max(0, Math.min(200, Math.ceil(left))), this.spec.name);
      if (this.isClosed) return 0;
      this.awake();
      revents = this.check(events);
      if (revents || clock.now() >= deadline) return revents;
    }
  }

  /** Every drop is counted in the rings' own counters (too long, a stopped queue): nothing more here. */
  protected kernelCounters(): { rxDrops: number; txDrops: number } {
    return { rxDrops: 0, txDrops: 0 };
  }

  protected closeKernel(): void {
    try {
      this.dev.close(); // the front end disconnected, the socket removed
    } finally {
      close(this.epfd);
      this.claim.set(CLAIM.FREE); // the daemon's thread serves the socket again
      this.claim.setOpener(0);
      this.claim.close();
    }
  }
}

/** Open netmap:NAME of a VM port (its claim file exists: the port-kind table checked). */
export function openVhostDirect(spec: PortSpec, opts: OpenOptions): Port {
  if (spec.share) throw new NetmapError('ENOTSUP', `${spec.raw}: @share is not supported for VM ports`);
  if (spec.mode !== 'all-nic' && !(spec.mode === 'one-nic' && spec.ringId === 0)) {
    throw new NetmapError('EINVAL', `${spec.raw}: a VM port opened directly has one ring pair and no host rings (open netmap:${spec.name})`);
  }
  const claim = Claim.open(spec.name);
  let asked = false, epfd = -1, mem: PrivateRegion | null = null;
  let port: VhostDirectPort | null = null;
  try {
    if (claim.kind !== 'vhost-user') throw new NetmapError('ENOTSUP', `${spec.raw}: ${spec.name} is a -netdev stream port: attach it to a switch (vale-ctl -a valeX:${spec.name}) and open a port of the switch`);
    // a second opener, or the daemon's thread taking the socket back from a dead one (a moment)
    let locked = false;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 20 && !(locked = claim.tryLock()); i++) Atomics.wait(pause, 0, 0, 10);
    if (!locked) throw new NetmapError('EBUSY', `${spec.raw}: ${spec.name} is open directly by another program${claim.openerPid > 0 ? ` (pid ${claim.openerPid})` : ''}: one opener at a time`);
    const pid = claim.daemonPid;
    if (!processAlive(pid)) throw new NetmapError('ENXIO', `${spec.raw}: the nmts daemon that made VM port ${spec.name} (pid ${pid}) is gone`);
    const st = claim.state;
    if (st === CLAIM.ATTACHED) {
      const sw = claim.switchName;
      throw new NetmapError('EBUSY', `${spec.raw}: VM port ${spec.name} is attached to ${sw || 'a switch'}: detach it first (vale-ctl -d ${sw || 'valeX'}:${spec.name})`);
    }
    // FREE: ask; WANT or LENT with the lock ours: a dead opener's, taken over
    if (st === CLAIM.FREE && !claim.cas(CLAIM.FREE, CLAIM.WANT)) throw new NetmapError('EBUSY', `${spec.raw}: VM port ${spec.name} was attached meanwhile`);
    asked = true;
    claim.setOpener(process.pid);
    if (!claim.waitFor(CLAIM.LENT, HANDOVER_MS)) {
      throw new NetmapError('ETIMEDOUT', `${spec.raw}: the nmts daemon (pid ${pid}) did not hand VM port ${spec.name} over within ${HANDOVER_MS / 1000} s`);
    }
    // a socket file left by a dead opener
    try { if (lstatSync(claim.socketPath).isSocket()) unlink(claim.socketPath); } catch { /* none */ }
    epfd = epollCreate();
    const txSlots = opts.txSlots ?? DEFAULT_SLOTS, rxSlots = opts.rxSlots ?? DEFAULT_SLOTS;
    mem = createPrivateRegion(txSlots + rxSlots + (opts.extraBufs ?? 0), 0, `${spec.name} buffers`);
    const rec = createKernelPortRecord(mem.region, 1, txSlots, rxSlots);
    const rings = { tx: spec.flags & NR_RX_RINGS_ONLY ? [] : [0], rx: spec.flags & NR_TX_RINGS_ONLY ? [] : [0] };
    port = new VhostDirectPort(mem, rec, spec, rings, opts, claim, epfd);
    return port.bindOpener();
  } catch (e) {
    if (port) {
      port.close(); // gives back all of it
    } else {
      if (epfd >= 0) close(epfd);
      mem?.release();
      if (asked) { claim.set(CLAIM.FREE); claim.setOpener(0); }
      claim.close();
    }
    throw e;
  }
}
