// The vhost-user back end of one port: a Unix socket the front end (QEMU, DPDK's virtio_user,
// any vhost-user driver) connects to, the protocol's set-up messages, the front end's memory
// (GuestMemory) and the port's virtqueues (Virtqueue: 2 per queue pair, RX of the guest at even
// indices, TX at odd ones). One front end at a time; a second connection is refused while one
// is served. Everything runs in the caller's thread, non-blocking: service() accepts and reads
// what is waiting and answers it; pollFds() are what to sleep on (the listening socket, the
// connection, the kick eventfds).
//
// A malformed message (wrong payload size, a queue index out of range, a bad memory table)
// ends the connection with a logged error: the front end reconnects and starts over, as after a
// back-end restart. A bad ring only stops its queue (virtqueue.ts). The front end's memory is
// unmapped on disconnect, after its queues are stopped.
import { lstatSync } from 'node:fs';
import { close, unlink } from '../../sys/libc.js';
import { recvWithFds, sendWithFds, unixAccept, unixListen, eventfdConsume } from '../../sys/unix.js';
import { GuestMemory, type RegionDesc } from './guest-memory.js';
import {
  bit, F, FLAG_NEED_REPLY, FLAG_REPLY, FLAG_VERSION, HDR_SIZE, MAX_PAYLOAD, MAX_QUEUE_PAIRS, MAX_REGIONS, netHeaderLength, OFFLOAD_FEATURES,
  OFFERED_FEATURES, OFFERED_PROTOCOL_FEATURES, PF, REQ, requestName, VRING_IDX_MASK, VRING_NOFD,
} from './protocol.js';
import { Virtqueue } from './virtqueue.js';

export interface VhostUserDeviceOptions {
  /** The Unix socket to listen on (made here; removed by close()). */
  path: string;
  /** Queue pairs, 1 to MAX_QUEUE_PAIRS; more than 1 offers VIRTIO_NET_F_MQ (each pair a ring pair of the port). */
  queuePairs?: number;
  /** Offer the offload features (OFFLOAD_FEATURES); the queues then keep the guest's virtio-net header (keepHdr). */
  offloads?: boolean;
  /** One line per event (connections, errors, broken queues). */
  log?: (line: string) => void;
  /**
   * Called when the front end stops a queue (GET_VRING_BASE, SET_VRING_ENABLE 0, disconnect) before it is stopped: the
   * forwarder moves what the guest had already made available (nothing sent is lost).
   */
  beforeStop?: (q: Virtqueue) => void;
}

export interface QueueStats {
  index: number;
  dir: 'rx' | 'tx';
  size: number;
  running: boolean;
  broken: string;
  packets: number;
  bytes: number;
  drops: number;
  kicks: number;
  interrupts: number;
}

export interface DeviceStats {
  path: string;
  connected: boolean;
  connections: number;
  features: string;
  protocolFeatures: string;
  memoryBytes: number;
  queues: QueueStats[];
}

class ProtocolError extends Error {}

export class VhostUserDevice {
  readonly path: string;
  readonly queues: Virtqueue[];
  private readonly log: (line: string) => void;
  private readonly beforeStop: (q: Virtqueue) => void;
  private listenFd: number;
  private connFd = -1;
  /** Bytes of the message being read (header, then payload), and the fds that came with it. */
  private readonly inBuf = Buffer.alloc(HDR_SIZE + MAX_PAYLOAD);
  private inLen = 0;
  private inFds: number[] = [];
  features = 0n;
  /** The negotiated features' low 32 bits, as a number (the offload bits, read per batch). */
  featuresLo = 0;
  protocolFeatures = 0n;
  /** The device features offered (OFFERED_FEATURES, plus MQ with several queue pairs). */
  readonly offered: bigint;
  private mem: GuestMemory | null = null;
  /** Ring addresses per queue (front-end virtual), re-translated when the memory table changes. */
  private readonly ringAddr: ([number, number, number] | null)[];
  connections = 0;
  /** Bumped whenever the set of fds to poll changes. */
  fdGen = 0;

  constructor(o: VhostUserDeviceOptions) {
    this.path = o.path;
    this.log = o.log ?? (() => {});
    this.beforeStop = o.beforeStop ?? (() => {});
    const pairs = o.queuePairs ?? 1;
    if (!Number.isInteger(pairs) || pairs < 1 || pairs > MAX_QUEUE_PAIRS) throw new RangeError(`queue pairs: ${pairs} (1 to ${MAX_QUEUE_PAIRS})`);
    this.offered = OFFERED_FEATURES | (pairs > 1 ? bit(F.MQ) : 0n) | (o.offloads ? OFFLOAD_FEATURES : 0n);
    this.queues = Array.from({ length: 2 * pairs }, (_, i) => new Virtqueue(i));
    if (o.offloads) for (const q of this.queues) q.keepHdr = true;
    for (const q of this.queues) q.onBroken = (vq, reason) => this.log(`${this.path}: queue ${vq.index} (${vq.index & 1 ? 'guest tx' : 'guest rx'}) stopped: ${reason}`);
    this.ringAddr = this.queues.map(() => null);
    this.listenFd = unixListen(o.path);
  }

  get connected(): boolean {
    return this.connFd >= 0;
  }

  /** What to poll(2) for input: the listening socket or the connection, and the kick eventfds. */
  pollFds(): number[] {
    const fds = [this.connFd >= 0 ? this.connFd : this.listenFd];
    for (const q of this.queues) if (q.kickFd >= 0) fds.push(q.kickFd);
    return fds;
  }

  /** Reset the kick eventfds (their counts go to the queues' kicks). */
  consumeKicks(): void {
    for (const q of this.queues) {
      if (q.kickFd < 0) continue;
      const n = eventfdConsume(q.kickFd);
      if (n > 0) q.kicks += n;
    }
  }

  /** Accept a front end, read and answer what it sent; returns the messages handled. */
  service(): number {
    if (this.listenFd >= 0) {
      for (;;) {
        const c = unixAccept(this.listenFd);
        if (c < 0) break;
        if (this.connFd >= 0) {
          this.log(`${this.path}: refused a second front end (one is connected)`);
          close(c);
          continue;
        }
        this.connFd = c;
        this.connections++;
        this.fdGen++;
        this.log(`${this.path}: front end connected`);
      }
    }
    let handled = 0;
    while (this.connFd >= 0) {
      let more: boolean;
      try {
        more = this.readMessage();
      } catch (e) {
        this.disconnect(e instanceof Error ? e.message : String(e));
        break;
      }
      if (!more) break;
      handled++;
    }
    return handled;
  }

  /** Read what is waiting of the current message; handle it once whole. False: wait for more. */
  private readMessage(): boolean {
    const want = this.inLen < HDR_SIZE ? HDR_SIZE - this.inLen : HDR_SIZE + this.inBuf.readUInt32LE(8) - this.inLen;
    if (want > 0) {
      const r = recvWithFds(this.connFd, want);
      if (r.bytes < 0) return false;
      if (r.bytes === 0) throw new ProtocolError('front end disconnected');
      r.data.copy(this.inBuf, this.inLen);
      this.inLen += r.bytes;
      this.inFds.push(...r.fds);
      if (r.truncated) throw new ProtocolError('descriptors lost (control data truncated)');
      if (this.inLen === HDR_SIZE) {
        const size = this.inBuf.readUInt32LE(8);
        if (size > MAX_PAYLOAD) throw new ProtocolError(`${requestName(this.inBuf.readUInt32LE(0))}: payload of ${size} bytes`);
      }
      if (this.inLen < HDR_SIZE || this.inLen < HDR_SIZE + this.inBuf.readUInt32LE(8)) return true;
    }
    const req = this.inBuf.readUInt32LE(0), flags = this.inBuf.readUInt32LE(4), size = this.inBuf.readUInt32LE(8);
    const payload = this.inBuf.subarray(HDR_SIZE, HDR_SIZE + size);
    const fds = this.inFds;
    this.inFds = [];
    this.inLen = 0;
    try {
      this.handle(req, flags, payload, fds);
    } finally {
      for (const fd of fds) if (fd >= 0) { try { close(fd); } catch { /* taken */ } }
    }
    return true;
  }

  private reply(req: number, payload: Buffer): void {
    const b = Buffer.alloc(HDR_SIZE + payload.length);
    b.writeUInt32LE(req, 0);
    b.writeUInt32LE(FLAG_VERSION | FLAG_REPLY, 4);
    b.writeUInt32LE(payload.length, 8);
    payload.copy(b, HDR_SIZE);
    sendWithFds(this.connFd, b);
  }

  private replyU64(req: number, v: bigint): void {
    const p = Buffer.alloc(8);
    p.writeBigUInt64LE(v);
    this.reply(req, p);
  }

  private queueOf(payload: Buffer, req: number, at = 0): Virtqueue {
    const idx = payload.readUInt32LE(at) & (req === REQ.SET_VRING_KICK || req === REQ.SET_VRING_CALL || req === REQ.SET_VRING_ERR ? VRING_IDX_MASK : 0xffffffff);
    const q = this.queues[idx];
    if (!q) throw new ProtocolError(`${requestName(req)}: queue ${idx} does not exist (${this.queues.length} queues)`);
    return q;
  }

  private need(payload: Buffer, n: number, req: number): void {
    if (payload.length < n) throw new ProtocolError(`${requestName(req)}: payload of ${payload.length} bytes, expected ${n}`);
  }

  /** One message: answer it, or throw ProtocolError (the connection ends). fds left in `fds` are closed by the caller. */
  private handle(req: number, flags: number, p: Buffer, fds: number[]): void {
    let ok = true; // for REPLY_ACK
    switch (req) {
      case REQ.GET_FEATURES: this.replyU64(req, this.offered); return;
      case REQ.GET_PROTOCOL_FEATURES: this.replyU64(req, OFFERED_PROTOCOL_FEATURES); return;
      case REQ.GET_QUEUE_NUM: this.replyU64(req, BigInt(this.queues.length / 2)); return;
      case REQ.SET_FEATURES: {
        this.need(p, 8, req);
        const v = p.readBigUInt64LE(0);
        if (v & ~this.offered) this.log(`${this.path}: front end asked for features not offered: 0x${(v & ~this.offered).toString(16)} (ignored)`);
        this.features = v & this.offered;
        this.featuresLo = Number(this.features & 0xffffffffn);
        const hdr = netHeaderLength(this.features);
        for (const q of this.queues) {
          q.eventIdx = (this.features & bit(F.EVENT_IDX)) !== 0n;
          q.mrgRxbuf = (this.features & bit(F.MRG_RXBUF)) !== 0n;
          q.hdrLen = hdr;
          if (!(this.features & bit(F.PROTOCOL_FEATURES))) q.enabled = true;
        }
        break;
      }
      case REQ.SET_PROTOCOL_FEATURES:
        this.need(p, 8, req);
        this.protocolFeatures = p.readBigUInt64LE(0) & OFFERED_PROTOCOL_FEATURES;
        break;
      case REQ.SET_OWNER:
        break;
      case REQ.RESET_OWNER: case REQ.RESET_DEVICE:
        this.resetQueues();
        this.features = 0n;
        this.featuresLo = 0;
        break;
      case REQ.SET_MEM_TABLE: this.setMemTable(p, fds); break;
      case REQ.SET_VRING_NUM: {
        this.need(p, 8, req);
        const q = this.queueOf(p, req), num = p.readUInt32LE(4);
        if (num === 0 || num > 32768 || (num & (num - 1)) !== 0) throw new ProtocolError(`SET_VRING_NUM: ${num} is not a power of 2 up to 32768`);
        q.size = num;
        break;
      }
      case REQ.SET_VRING_ADDR: {
        this.need(p, 40, req);
        const q = this.queueOf(p, req);
        const desc = Number(p.readBigUInt64LE(8)), used = Number(p.readBigUInt64LE(16)), avail = Number(p.readBigUInt64LE(24));
        this.ringAddr[q.index] = [desc, used, avail];
        if (!this.mem) throw new ProtocolError('SET_VRING_ADDR before SET_MEM_TABLE');
        const why = q.setAddresses(this.mem, desc, used, avail);
        if (why) { this.log(`${this.path}: queue ${q.index}: ${why}: queue stopped`); q.broken = true; q.error = why; ok = false; }
        break;
      }
      case REQ.SET_VRING_BASE: {
        this.need(p, 8, req);
        const q = this.queueOf(p, req);
        q.lastAvail = q.usedIdx = p.readUInt32LE(4) & 0xffff;
        break;
      }
      case REQ.GET_VRING_BASE: {
        this.need(p, 8, req);
        const q = this.queueOf(p, req);
        if (q.running) this.beforeStop(q);
        q.finish();
        const r = Buffer.alloc(8);
        r.writeUInt32LE(q.index, 0);
        r.writeUInt32LE(q.lastAvail, 4);
        this.stopQueue(q);
        this.reply(req, r);
        return;
      }
      case REQ.SET_VRING_KICK: case REQ.SET_VRING_CALL: case REQ.SET_VRING_ERR: {
        this.need(p, 8, req);
        const q = this.queueOf(p, req);
        const nofd = (p.readUInt32LE(0) & VRING_NOFD) !== 0;
        let fd = -1;
        if (!nofd) {
          if (fds.length < 1) throw new ProtocolError(`${requestName(req)}: no descriptor came with it`);
          fd = fds[0];
          fds[0] = -1; // taken
        }
        if (req === REQ.SET_VRING_KICK) {
          if (q.kickFd >= 0) close(q.kickFd);
          q.kickFd = fd;
          q.kicked = true;
          if (!(this.features & bit(F.PROTOCOL_FEATURES))) q.enabled = true;
          this.fdGen++;
        } else if (req === REQ.SET_VRING_CALL) {
          if (q.callFd >= 0) close(q.callFd);
          q.callFd = fd;
        } else {
          if (q.errFd >= 0) close(q.errFd);
          q.errFd = fd;
        }
        break;
      }
      case REQ.SET_VRING_ENABLE: {
        this.need(p, 8, req);
        const q = this.queueOf(p, req), on = p.readUInt32LE(4) === 1;
        if (!on && q.running) { this.beforeStop(q); q.finish(); } // what the guest queued still goes
        q.enabled = on;
        break;
      }
      case REQ.SEND_RARP: case REQ.NET_SET_MTU: case REQ.SET_VRING_ENDIAN:
        break; // nothing to do here (no migration, the MTU is the switch's)
      default:
        if (req === REQ.GET_CONFIG || req === REQ.GET_STATUS || req === REQ.GET_MAX_MEM_SLOTS) {
          throw new ProtocolError(`${requestName(req)} was not offered (it needs a protocol feature this back end does not have)`);
        }
        this.log(`${this.path}: ignored ${requestName(req)} (not supported)`);
        ok = false;
    }
    if ((flags & FLAG_NEED_REPLY) && (this.protocolFeatures & bit(PF.REPLY_ACK))) this.replyU64(req, ok ? 0n : 1n);
  }

  private setMemTable(p: Buffer, fds: number[]): void {
    this.need(p, 8, REQ.SET_MEM_TABLE);
    const n = p.readUInt32LE(0);
    if (n === 0 || n > MAX_REGIONS) throw new ProtocolError(`SET_MEM_TABLE: ${n} regions (1 to ${MAX_REGIONS})`);
    this.need(p, 8 + 32 * n, REQ.SET_MEM_TABLE);
    if (fds.length !== n) throw new ProtocolError(`SET_MEM_TABLE: ${n} regions with ${fds.length} descriptors`);
    const regions: RegionDesc[] = [];
    for (let i = 0; i < n; i++) {
      const o = 8 + 32 * i;
      regions.push({ gpa: Number(p.readBigUInt64LE(o)), size: Number(p.readBigUInt64LE(o + 8)), uva: Number(p.readBigUInt64LE(o + 16)), mmapOffset: Number(p.readBigUInt64LE(o + 24)) });
    }
    const taken = fds.splice(0, n);
    let mem: GuestMemory;
    try {
      mem = GuestMemory.map(regions, taken); // closes them on failure
    } catch (e) {
      throw new ProtocolError(`SET_MEM_TABLE: ${e instanceof Error ? e.message : String(e)}`);
    }
    const old = this.mem;
    this.mem = mem;
    // rings already set up move to the new table (their addresses are front-end virtual ones)
    for (const q of this.queues) {
      const a = this.ringAddr[q.index];
      if (a && q.size > 0 && (old !== null)) {
        const kicked = q.kicked;
        const why = q.setAddresses(mem, a[0], a[1], a[2]);
        q.kicked = kicked;
        if (why) { q.broken = true; q.error = why; this.log(`${this.path}: queue ${q.index}: ${why}: queue stopped`); }
      }
    }
    old?.unmap();
    this.log(`${this.path}: memory table: ${n} region(s), ${Math.round(mem.bytes / 1048576)} MiB mapped`);
  }

  private stopQueue(q: Virtqueue): void {
    q.stop();
    if (q.kickFd >= 0) { close(q.kickFd); q.kickFd = -1; this.fdGen++; }
  }

  private resetQueues(): void {
    for (const q of this.queues) {
      this.stopQueue(q);
      if (q.callFd >= 0) { close(q.callFd); q.callFd = -1; }
      if (q.errFd >= 0) { close(q.errFd); q.errFd = -1; }
      q.enabled = false;
      q.broken = false;
      q.error = '';
      q.size = 0;
      q.lastAvail = q.usedIdx = 0;
      this.ringAddr[q.index] = null;
    }
  }

  /** Drop the front end: queues stopped, its memory unmapped (it may reconnect). */
  disconnect(why: string): void {
    if (this.connFd < 0) return;
    for (const q of this.queues) if (q.running) { this.beforeStop(q); q.finish(); }
    this.resetQueues();
    this.mem?.unmap();
    this.mem = null;
    close(this.connFd);
    this.connFd = -1;
    for (const fd of this.inFds) { try { close(fd); } catch { /* gone */ } }
    this.inFds = [];
    this.inLen = 0;
    this.features = 0n;
    this.featuresLo = 0;
    this.protocolFeatures = 0n;
    this.fdGen++;
    this.log(`${this.path}: front end disconnected: ${why}`);
  }

  stats(): DeviceStats {
    return {
      path: this.path,
      connected: this.connected,
      connections: this.connections,
      features: `0x${this.features.toString(16)}`,
      protocolFeatures: `0x${this.protocolFeatures.toString(16)}`,
      memoryBytes: this.mem?.bytes ?? 0,
      queues: this.queues.map((q) => ({
        index: q.index, dir: q.index & 1 ? 'tx' : 'rx', size: q.size, running: q.running, broken: q.broken ? q.error : '',
        packets: q.packets, bytes: q.bytes, drops: q.drops, kicks: q.kicks, interrupts: q.interrupts,
      })),
    };
  }

  /**
   * Let go of the socket for another server (a program opening netmap:NAME directly,
   * claim.ts): the front end disconnected, the socket closed and its file removed. relisten()
   * serves it again.
   */
  release(why: string): void {
    this.disconnect(why);
    if (this.listenFd < 0) return;
    close(this.listenFd);
    this.listenFd = -1;
    try { unlink(this.path); } catch { /* already gone */ }
    this.fdGen++;
  }

  /** Listen on the socket again after release(); a stale socket file left there is replaced. */
  relisten(): void {
    if (this.listenFd >= 0) return;
    try { if (lstatSync(this.path).isSocket()) unlink(this.path); } catch { /* none */ }
    this.listenFd = unixListen(this.path);
    this.fdGen++;
  }

  /** Disconnect, stop listening, remove the socket file. */
  close(): void {
    this.disconnect('the port is closing');
    if (this.listenFd >= 0) {
      close(this.listenFd);
      this.listenFd = -1;
      try { unlink(this.path); } catch { /* already gone */ }
    }
  }
}
