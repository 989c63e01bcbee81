// netmap:vx0 for a VXLAN port (config.ts): one ring pair whose "wire" is a VXLAN overlay.
//
//   tx ring slot (inner frame) -> FDB lookup of its destination MAC:
//       learned/static -> one datagram to that VTEP
//       broadcast, multicast, unknown -> one datagram per configured remote (head-end
//       replication) and to the group, if any
//     each datagram = [IPv4 + UDP + VXLAN header, built here][the slot's buffer], two iovecs,
//     all of a txsync's datagrams in one sendmmsg(2) on a raw IPv4 socket (so each gets its
//     UDP source port from the inner flow hash, the TTL and DF bit of the config, checksum 0);
//     the kernel routes it and fills the outer Ethernet header from its neighbour table.
//   UDP socket bound to local:port -> one recvmmsg(2) per rxsync: each datagram's VXLAN header
//     into a scratch area, its inner frame straight into a free slot's buffer; checked (flags,
//     VNI, length, from ourselves), the inner source MAC learned behind the sender's address.
//
// Every frame not sent or not delivered is counted by cause (stats.ts, shown by vale-ctl -v):
// too big for the underlay MTU, no remote to send to, send errors; short, bad flags, wrong
// VNI, truncated (larger than a buffer), looped back from ourselves. No allocation per frame.
import { closeSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { DEFAULT_SLOTS, NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY } from '../../core/constants.js';
import { RR } from '../../core/layout.js';
import type { OpenOptions, Port } from '../../core/port.js';
import type { PortSpec } from '../../core/portspec.js';
import { createPrivateRegion, type PrivateRegion } from '../../core/private-region.js';
import { NetmapError } from '../../core/region.js';
import { badSlot, checkHeadCur } from '../../core/sync.js';
import { flock, LOCK_NB, LOCK_SH } from '../../sys/libc.js';
import { close, ifIndex, ifMtu, mmapAnonymous, munmap, NetError, type Mapping } from '../../sys/net.js';
import { joinGroup, rawIpSocket, recvmmsg, sendmmsgAt, udpSocket } from '../../sys/udp.js';
import * as K from '../../sys/kernel-abi.js';
import {
  parseIpv4, readVxlanHeader, vxlanSourcePort, writeOuterIpv4Udp, writeVxlanHeader, VX_BAD_FLAGS, VX_SHORT, VXLAN_IP_HLEN, VXLAN_IP_OVERHEAD, type VxlanOuter,
} from '../../packet/vxlan.js';
import { createKernelPortRecord, KernelPort } from '../netif/kernel-port.js';
import { loadStaticEntries, loadVxlanConfig, type VxlanConfig } from './config.js';
import { Fdb } from './fdb.js';
import { C, udpSocketDrops, VxlanStats } from './stats.js';

/** Datagrams per sendmmsg (replicas included) and per recvmmsg. */
const TX_BATCH = 1024;
const RX_BATCH = 256;
const HDR = 64; // bytes of header scratch per tx message (36 used)
/** sendmmsg errors after which the datagrams are retried at the next sync */
const RETRY = [K.EAGAIN, K.ENOBUFS];
/** errors that drop the first datagram of the batch (no route, neighbour unreachable, too big) */
const DROP = [K.EINVAL, K.EMSGSIZE, K.ENETDOWN, K.ENETUNREACH, K.EHOSTUNREACH, K.ENXIO, K.ECONNREFUSED, K.EPERM];
const TOLERATE = [...RETRY, ...DROP];

/** The underlay interface: `dev`, else the one holding the local address; its MTU. */
function underlay(c: VxlanConfig, what: string): { dev: string; mtu: number; ifindex: number } {
  let dev = c.dev;
  if (!dev) {
    for (const [name, addrs] of Object.entries(networkInterfaces())) {
      if (addrs?.some((a) => a.family === 'IPv4' && a.address === c.local)) { dev = name; break; }
    }
  }
  if (!dev) throw new NetmapError('EADDRNOTAVAIL', `${what}: no interface in this network namespace has the local address ${c.local} (see ip -4 addr)`);
  try {
    return { dev, mtu: ifMtu(dev), ifindex: ifIndex(dev) };
  } catch (e) {
    if (e instanceof NetError && e.errno === K.ENODEV) throw new NetmapError('ENXIO', `${what}: no underlay interface ${dev} in this network namespace`);
    throw e;
  }
}

export class VxlanPort extends KernelPort {
  readonly config: VxlanConfig;
  readonly fdb: Fdb;
  readonly stats2: VxlanStats;
  /** Largest inner frame (its Ethernet header included) the underlay carries: MTU - 36. */
  readonly maxInner: number;
  readonly underlayMtu: number;
  private readonly udpFd: number;
  private readonly rawFd: number;
  private readonly cfgFd: number;
  private readonly vec: Mapping;
  private readonly v8: Uint8Array;
  private readonly v32: Uint32Array;
  private readonly base: number; // region address
  private readonly vbase: number; // vector address
  private readonly outer: VxlanOuter;
  private readonly remotes: Uint32Array; // BUM destinations: remotes, then the group
  private readonly local: number;
  private readonly txMsgSlot = new Int32Array(TX_BATCH); // the tx slot of each prepared datagram
  private ipId = 0;
  // vector layout (byte offsets in vec)
  private readonly txMsg = 0;
  private readonly txIov = TX_BATCH * K.mmsghdr.size;
  private readonly txHdr = this.txIov + TX_BATCH * 2 * K.iovec.size;
  private readonly txName = this.txHdr + TX_BATCH * HDR;
  private readonly rxMsg = this.txName + TX_BATCH * K.sockaddr_in.size;
  private readonly rxIov = this.rxMsg + RX_BATCH * K.mmsghdr.size;
  private readonly rxHdr = this.rxIov + RX_BATCH * 2 * K.iovec.size;
  private readonly rxName = this.rxHdr + RX_BATCH * 16;
  private readonly rxSlotOf = new Int32Array(RX_BATCH);

  constructor(mem: PrivateRegion, rec: number, spec: PortSpec, rings: { tx: number[]; rx: number[] }, opts: OpenOptions,
    c: VxlanConfig, fds: { udp: number; raw: number; cfg: number }, u: { dev: string; mtu: number }, stats: VxlanStats) {
    const maxInner = Math.min(mem.region.bufSize, u.mtu - VXLAN_IP_OVERHEAD);
    const detail = `VNI ${c.vni}, ${c.local}:${c.port} -> ${c.remotes.length ? c.remotes.join(' ') : 'no remotes'}${c.group ? `, group ${c.group}` : ''}; ` +
      `underlay ${u.dev} MTU ${u.mtu}: inner frames up to ${maxInner} bytes (MTU ${maxInner - 14} on the overlay's hosts)`;
    super(mem, rec, spec, rings, opts, [fds.udp, fds.raw], { backend: 'vxlan', detail, fallbackReason: '', warnings: [] });
    this.config = c;
    this.udpFd = fds.udp;
    this.rawFd = fds.raw;
    this.cfgFd = fds.cfg;
    this.underlayMtu = u.mtu;
    this.maxInner = maxInner;
    if (u.mtu - VXLAN_IP_OVERHEAD - 14 < 1500) {
      this.info.warnings.push(`${spec.name}: the underlay ${u.dev} has MTU ${u.mtu}: inner frames over ${maxInner} bytes are dropped (counted: tx_too_big); set MTU ${maxInner - 14} on the overlay's hosts, or MTU ${1500 + VXLAN_IP_OVERHEAD + 14} on the underlay`);
    }
    this.fdb = new Fdb(1024, c.ageing);
    for (const f of c.fdb) this.fdb.addStatic(Uint8Array.from(f.mac.split(':').map((h) => parseInt(h, 16))), parseIpv4(f.dst));
    this.stats2 = stats;
    this.loadRuntimeStatic();
    this.local = parseIpv4(c.local);
    const bum = c.remotes.map(parseIpv4);
    if (c.group) bum.push(parseIpv4(c.group));
    this.remotes = Uint32Array.from(bum);
    this.outer = { vni: c.vni, src: this.local, dst: 0, ttl: c.ttl, df: c.df, dstPort: c.port };
    this.vec = mmapAnonymous(this.rxName + RX_BATCH * K.sockaddr_in.size, 'VXLAN message vectors');
    this.v8 = new Uint8Array(this.vec.buffer);
    this.v32 = new Uint32Array(this.vec.buffer);
    this.base = Number(mem.region.addr);
    this.vbase = Number(this.vec.addr);
    this.prepareVectors();
  }

  private fdbGen = -1;

  /** Static entries added at run time (vale-ctl --vxlan-fdb): read at open and whenever their generation moves. */
  private loadRuntimeStatic(): void {
    this.fdbGen = this.stats2.c[C.fdbGen];
    for (const f of loadStaticEntries(this.spec.name)) {
      this.fdb.addStatic(Uint8Array.from(f.mac.split(':').map((h) => parseInt(h, 16))), parseIpv4(f.dst));
    }
  }

  private put64(at: number, v: number): void {
    this.v32[at >> 2] = v >>> 0;
    this.v32[(at >> 2) + 1] = Math.floor(v / 4294967296) >>> 0;
  }

  /** Pointers that never change: names, iovec arrays, the header iovecs, VXLAN headers, address families. */
  private prepareVectors(): void {
    for (let i = 0; i < TX_BATCH; i++) {
      const m = this.txMsg + i * K.mmsghdr.size, io = this.txIov + i * 2 * K.iovec.size;
      this.put64(m + K.msghdr.msg_name, this.vbase + this.txName + i * K.sockaddr_in.size);
      this.v32[(m + K.msghdr.msg_namelen) >> 2] = K.sockaddr_in.size;
      this.put64(m + K.msghdr.msg_iov, this.vbase + io);
      this.put64(m + K.msghdr.msg_iovlen, 2);
      this.put64(io + K.iovec.iov_base, this.vbase + this.txHdr + i * HDR);
      this.put64(io + K.iovec.iov_len, VXLAN_IP_HLEN);
      writeVxlanHeader(this.v8, this.txHdr + i * HDR + 28, this.config.vni);
      this.v8[this.txName + i * K.sockaddr_in.size] = K.AF_INET;
    }
    for (let i = 0; i < RX_BATCH; i++) {
      const m = this.rxMsg + i * K.mmsghdr.size, io = this.rxIov + i * 2 * K.iovec.size;
      this.put64(m + K.msghdr.msg_name, this.vbase + this.rxName + i * K.sockaddr_in.size);
      this.put64(m + K.msghdr.msg_iov, this.vbase + io);
      this.put64(m + K.msghdr.msg_iovlen, 2);
      this.put64(io + K.iovec.iov_base, this.vbase + this.rxHdr + i * 16);
      this.put64(io + K.iovec.iov_len, 8);
    }
  }

  /** Prepare datagram `i` of the tx vector: inner frame of slot `k` (buffer at region offset bo, len bytes) to `dst`. */
  private prepareTx(i: number, k: number, bo: number, len: number, dst: number, sport: number): void {
    const o = this.outer, v8 = this.v8;
    o.dst = dst;
    const h = this.txHdr + i * HDR;
    writeOuterIpv4Udp(v8, h, o, sport, 8 + len, this.ipId);
    this.ipId = (this.ipId + 1) & 0xffff;
    const nm = this.txName + i * K.sockaddr_in.size + K.sockaddr_in.sin_addr;
    v8[nm] = dst >>> 24; v8[nm + 1] = (dst >>> 16) & 0xff; v8[nm + 2] = (dst >>> 8) & 0xff; v8[nm + 3] = dst & 0xff;
    const io = this.txIov + i * 2 * K.iovec.size + K.iovec.size;
    this.put64(io + K.iovec.iov_base, this.base + bo);
    this.put64(io + K.iovec.iov_len, len);
    this.txMsgSlot[i] = k;
  }

  protected txsyncRing(t: number): void {
    const region = this.region, u32 = region.u32, u8 = region.u8, st = this.stats2.c;
    checkHeadCur(region, t, this.name);
    if (st[C.fdbGen] !== this.fdbGen) this.loadRuntimeStatic();
    const n = u32[(t + RR.numSlots) >> 2], s = u32[(t + RR.slotsOfs) >> 2] >> 2;
    const head = u32[(t + RR.head) >> 2];
    let hwcur = u32[(t + RR.hwcur) >> 2];
    const nbufs = region.nbufs, bufSize = region.bufSize, maxInner = this.maxInner, bum = this.remotes, nb = bum.length;
    const now = performance.now();
    let pkts = 0, bytes = 0, drops = 0;
    while (hwcur !== head) {
      // gather datagrams until the vector is full or the ring is done; k: the slot after the last one gathered
      let count = 0, k = hwcur;
      for (; k !== head; k = k + 1 === n ? 0 : k + 1) {
        const idx = u32[s + (k << 2)], len = u32[s + (k << 2) + 1] & 0xffff;
        if (idx < 2 || idx >= nbufs || len > bufSize) badSlot(region, t, k, this.name);
        const bo = region.bufOffset(idx);
        if (len < 14) { st[C.txShort]++; drops++; continue; }
        if (len > maxInner) { st[C.txTooBig]++; drops++; continue; }
        const vtep = (u8[bo] & 1) === 0 ? this.fdb.lookup(u8, bo, now) : 0;
        const need = vtep !== 0 ? 1 : nb;
        if (need === 0) { st[C.txNoRemote]++; drops++; continue; }
        if (count + need > TX_BATCH) break;
        const sport = vxlanSourcePort(u8, bo, len);
        if (vtep !== 0) {
          this.prepareTx(count++, k, bo, len, vtep, sport);
          st[C.txUnicast]++;
        } else {
          for (let r = 0; r < nb; r++) this.prepareTx(count++, k, bo, len, bum[r], sport);
          st[C.txFlooded]++;
        }
        pkts++;
        bytes += len;
      }
      if (count === 0) { hwcur = k; continue; }
      // send; a datagram the kernel refuses is dropped, a busy socket keeps the rest for the next sync
      let sentTo = 0;
      while (sentTo < count) {
        const r = sendmmsgAt(this.rawFd, this.vbase + this.txMsg + sentTo * K.mmsghdr.size, count - sentTo, this.spec.name, TOLERATE);
        if (r > 0) { st[C.txDatagrams] += r; sentTo += r; continue; }
        if (RETRY.includes(-r)) break;
        st[C.txErrors]++;
        sentTo++;
      }
      if (sentTo < count) {
        // the slots from the first unsent datagram's are sent again at the next sync (their
        // frames were counted: take them back)
        const from = this.txMsgSlot[sentTo];
        for (let j = from; j !== k; j = j + 1 === n ? 0 : j + 1) {
          const len = u32[s + (j << 2) + 1] & 0xffff;
          if (len >= 14 && len <= maxInner) { pkts--; bytes -= len; }
        }
        hwcur = from;
        break;
      }
      hwcur = k;
    }
    u32[(t + RR.hwcur) >> 2] = hwcur;
    region.f64[(t + RR.txPkts) >> 3] += pkts;
    region.f64[(t + RR.txBytes) >> 3] += bytes;
    region.f64[(t + RR.txDrops) >> 3] += drops;
    st[C.txFrames] += pkts;
    st[C.txBytes] += bytes;
    const tail = hwcur === 0 ? n - 1 : hwcur - 1;
    u32[(t + RR.hwtail) >> 2] = tail;
    u32[(t + RR.tail) >> 2] = tail;
  }

  protected rxsyncRing(r: number): void {
    const region = this.region, u32 = region.u32, u8 = region.u8, v8 = this.v8, v32 = this.v32, st = this.stats2.c;
    checkHeadCur(region, r, this.name);
    const n = u32[(r + RR.numSlots) >> 2], s = u32[(r + RR.slotsOfs) >> 2] >> 2;
    const hwcur = u32[(r + RR.head) >> 2];
    u32[(r + RR.hwcur) >> 2] = hwcur;
    const stop = hwcur === 0 ? n - 1 : hwcur - 1;
    let hwtail = u32[(r + RR.hwtail) >> 2];
    const nbufs = region.nbufs, bufSize = region.bufSize, vni = this.config.vni, local = this.local;
    let pkts = 0, bytes = 0, drops = 0;
    let now = -1;
    for (;;) {
      const free = hwtail <= stop ? stop - hwtail : n - hwtail + stop;
      if (free === 0) break;
      const want = free < RX_BATCH ? free : RX_BATCH;
      for (let i = 0, k = hwtail; i < want; i++, k = k + 1 === n ? 0 : k + 1) {
        const idx = u32[s + (k << 2)];
        if (idx < 2 || idx >= nbufs) badSlot(region, r, k, this.name);
        const m = this.rxMsg + i * K.mmsghdr.size, io = this.rxIov + i * 2 * K.iovec.size + K.iovec.size;
        v32[(m + K.msghdr.msg_namelen) >> 2] = K.sockaddr_in.size;
        v32[(m + K.msghdr.msg_flags) >> 2] = 0;
        this.put64(io + K.iovec.iov_base, this.base + region.bufOffset(idx));
        this.put64(io + K.iovec.iov_len, bufSize);
        this.rxSlotOf[i] = k;
      }
      const got = recvmmsg(this.udpFd, this.vbase + this.rxMsg, want, this.spec.name);
      if (got <= 0) break;
      if (now < 0) now = performance.now();
      for (let i = 0; i < got; i++) {
        const m = this.rxMsg + i * K.mmsghdr.size;
        const dlen = v32[(m + K.mmsghdr.msg_len) >> 2], flags = v32[(m + K.msghdr.msg_flags) >> 2];
        const h = this.rxHdr + i * 16;
        const nm = this.rxName + i * K.sockaddr_in.size + K.sockaddr_in.sin_addr;
        const from = ((v8[nm] << 24) | (v8[nm + 1] << 16) | (v8[nm + 2] << 8) | v8[nm + 3]) >>> 0;
        if (flags & K.MSG_TRUNC) { st[C.rxTooBig]++; drops++; continue; }
        const got8 = readVxlanHeader(v8, h, dlen);
        if (got8 === VX_SHORT) { st[C.rxShort]++; drops++; continue; }
        if (got8 === VX_BAD_FLAGS) { st[C.rxBadFlags]++; drops++; continue; }
        if (got8 !== vni) { st[C.rxWrongVni]++; drops++; continue; }
        if (from === local) { st[C.rxFromSelf]++; drops++; continue; }
        // the inner frame is in the buffer of slot rxSlotOf[i]: move that buffer to slot hwtail
        const k = this.rxSlotOf[i], so = s + (hwtail << 2);
        if (k !== hwtail) {
          const ko = s + (k << 2), a = u32[so];
          u32[so] = u32[ko];
          u32[ko] = a;
        }
        const len = dlen - 8;
        u32[so + 1] = len; // len, flags 0 (no NS_MOREFRAG: one slot per frame)
        this.fdb.learn(u8, region.bufOffset(u32[so]) + 6, from, now);
        pkts++;
        bytes += len;
        hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
      }
      if (got < want) break;
    }
    if (pkts || drops) {
      u32[(r + RR.hwtail) >> 2] = hwtail;
      region.f64[(r + RR.delivered) >> 3] += pkts;
      region.f64[(r + RR.rxBytes) >> 3] += bytes;
      region.f64[(r + RR.drops) >> 3] += drops;
      st[C.rxFrames] += pkts;
      st[C.rxBytes] += bytes;
      st[C.fdbLearned] = this.fdb.learned;
      st[C.fdbMoved] = this.fdb.moved;
      st[C.fdbEvicted] = this.fdb.evicted;
    }
    u32[(r + RR.tail) >> 2] = hwtail;
  }

  /** stats(): datagrams the kernel dropped on the UDP socket (buffer full), and those it refused to send. */
  protected kernelCounters(): { rxDrops: number; txDrops: number } {
    return { rxDrops: udpSocketDrops(this.local, this.config.port) ?? 0, txDrops: this.stats2.c[C.txErrors] };
  }

  protected closeKernel(): void {
    close(this.udpFd);
    close(this.rawFd);
    munmap(this.vec.addr, this.vec.size);
    this.stats2.close();
    try { closeSync(this.cfgFd); } catch { /* closed */ }
  }
}

/** Open netmap:NAME for the VXLAN port NAME (its config exists: the port-kind table checked). */
export function openVxlanPort(spec: PortSpec, opts: OpenOptions): Port {
  if (spec.share) throw new NetmapError('ENOTSUP', `${spec.raw}: @share is not supported for VXLAN ports`);
  if (spec.mode !== 'all-nic' && !(spec.mode === 'one-nic' && spec.ringId === 0)) {
    throw new NetmapError('EINVAL', `${spec.raw}: a VXLAN port has one ring pair and no host rings (open netmap:${spec.name})`);
  }
  const { config: c, fd: cfg } = loadVxlanConfig(spec.name, true);
  let udp = -1, raw = -1, mem: PrivateRegion | null = null, stats: VxlanStats | null = null;
  try {
    if (!flock(cfg, LOCK_SH | LOCK_NB)) throw new NetmapError('EBUSY', `${spec.raw}: VXLAN port ${spec.name} is being removed`);
    const u = underlay(c, spec.raw);
    const local = parseIpv4(c.local);
    try {
      udp = udpSocket(local, c.port, 4 << 20, spec.name);
    } catch (e) {
      if (e instanceof NetError && e.errno === K.EADDRINUSE) {
        throw new NetmapError('EBUSY', `${spec.raw}: ${c.local}:${c.port} is in use (another opener of ${spec.name}, a Linux vxlan device on this port, or another program): one opener at a time`);
      }
      if (e instanceof NetError && e.code === 'EADDRNOTAVAIL') throw new NetmapError('EADDRNOTAVAIL', `${spec.raw}: ${c.local} is not an address of this network namespace`);
      throw e;
    }
    if (c.group) joinGroup(udp, parseIpv4(c.group), u.ifindex, spec.name);
    raw = rawIpSocket(c.dev, 4 << 20, spec.name);
    const txSlots = opts.txSlots ?? DEFAULT_SLOTS, rxSlots = opts.rxSlots ?? DEFAULT_SLOTS;
    mem = createPrivateRegion(txSlots + rxSlots + (opts.extraBufs ?? 0), 0, `${spec.name} buffers`);
    const rec = createKernelPortRecord(mem.region, 1, txSlots, rxSlots);
    stats = VxlanStats.open(spec.name);
    const rings = { tx: spec.flags & NR_RX_RINGS_ONLY ? [] : [0], rx: spec.flags & NR_TX_RINGS_ONLY ? [] : [0] };
    const port = new VxlanPort(mem, rec, spec, rings, opts, c, { udp, raw, cfg }, u, stats);
    return port.bindOpener();
  } catch (e) {
    if (udp >= 0) close(udp);
    if (raw >= 0) close(raw);
    mem?.release();
    stats?.close();
    try { closeSync(cfg); } catch { /* closed */ }
    if (e instanceof NetError && (e.errno === K.EPERM || e.errno === K.EACCES)) {
      throw new NetmapError('EPERM', `${spec.raw}: a VXLAN port sends through a raw IP socket: needs CAP_NET_RAW (run as root)`);
    }
    throw e;
  }
}
