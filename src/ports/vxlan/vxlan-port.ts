// netmap:vx0 for a VXLAN port (config.ts): one ring pair whose "wire" is a VXLAN overlay.
//
//   tx ring slot (inner frame) -> FDB lookup of its destination MAC:
//       learned/static -> one datagram to that VTEP
//       broadcast, multicast, unknown -> one datagram per configured remote (head-end
//       replication) and to the group, if any
//     each datagram = [IPv4 or IPv6 + UDP + VXLAN header, built here][the slot's buffer], two
//     iovecs, all of a txsync's datagrams in one sendmmsg(2) on a raw IP socket (so each gets
//     its UDP source port from the inner flow hash, the TTL / hop limit and DF bit of the
//     config; UDP checksum 0 over IPv4, computed over IPv6 where it is mandatory: the frame is
//     summed once, each copy adds its pseudo-header); the kernel routes it and fills the outer
//     Ethernet header from its neighbour table.
//   UDP socket bound to local:port, and one bound to the group:port (a socket bound to a
//     unicast address receives no multicast) -> one recvmmsg(2) per socket per rxsync: each
//     datagram's VXLAN header into a scratch area, its inner frame straight into a free slot's
//     buffer; checked (flags, VNI, length, from ourselves), the inner source MAC learned behind
//     the sender's address.
//
// An offload-aware opener (vale-ctl -a's forwarder; config offloads=1) or one asking for a
// virtio-net header gets one before each frame of both rings: TCP super-frames then reach the
// tx ring whole (NS_MOREFRAG chains) and leave with UDP GSO (gso-tx.ts; raw datagrams when a
// flow has no UDP socket), frames with a partial checksum have it completed, and on receive
// consecutive TCP segments of a connection are merged in place into super-frames
// (tcp-merge.ts); every other received frame gets a header asking for nothing.
//
// The underlay's family is local's (config.ts checks every address is of it). VTEPs are 16
// bytes everywhere (IPv4 as ::ffff:a.b.c.d): the FDB, the flood list, the receive names' copy.
//
// Every frame not sent or not delivered is counted by cause (stats.ts, shown by vale-ctl -v):
// too big for the underlay MTU, no remote to send to, send errors; short, bad flags, wrong
// VNI, truncated (larger than a buffer), looped back from ourselves. No allocation per frame.
import { closeSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { DEFAULT_SLOTS, NETMAP_MAX_FRAGS, NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY, NS_MOREFRAG } from '../../core/constants.js';
import { RR } from '../../core/layout.js';
import type { OpenOptions, Port } from '../../core/port.js';
import type { PortSpec } from '../../core/portspec.js';
import { createPrivateRegion, type PrivateRegion } from '../../core/private-region.js';
import { NetmapError } from '../../core/region.js';
import { badSlot, checkHeadCur, rxEpilogue, txEpilogue } from '../../core/sync.js';
import { flock, LOCK_NB, LOCK_SH } from '../../sys/libc.js';
import { close, ifIndex, ifMtu, mmapAnonymous, munmap, NetError, type Mapping } from '../../sys/net.js';
import { get64, joinGroup, put64, rawIpSocket, recvmmsg, sendmmsgAt, udpSocket } from '../../sys/udp.js';
import * as K from '../../sys/kernel-abi.js';
import { completeChecksum, sumWords, wholeView, wholeWords } from '../../packet/csum-complete.js';
import { GSO_MAX_FRAGS, Segmenter } from '../../packet/gso.js';
import {
  VNET_CSUM_OFFSET, VNET_CSUM_START, VNET_F_NEEDS_CSUM, VNET_FLAGS, VNET_GSO_ECN, VNET_GSO_NONE, VNET_GSO_SIZE, VNET_GSO_TYPE, VNET_OK, vnetCheck, vnetClear,
} from '../../packet/vnet-hdr.js';
import {
  parseVtep, readU32, readVxlanHeader, vxlanHeaderSum, vxlanSourcePort, writeOuterIpv4Udp, writeOuterIpv6Udp, writeVxlanHeader, VX_BAD_FLAGS, VX_SHORT,
  VXLAN_IP_HLEN, VXLAN_IP6_HLEN, type VxlanOuter,
} from '../../packet/vxlan.js';
import { createKernelPortRecord, KernelPort, type InterfaceOpenOptions } from '../netif/kernel-port.js';
import { isIpv6, loadStaticEntries, loadVxlanConfig, type VxlanConfig } from './config.js';
import { Fdb } from './fdb.js';
import { GSO_MAX_CHUNK, GsoTx, RUN_MSGS, UDP_MAX_SEGMENTS } from './gso-tx.js';
import { enableUdpGro, GroRx, TRAIN_MAX, TRAIN_MSGS } from './gro-rx.js';
import { copyBytes } from '../../core/frame-copy.js';
import { TcpMerge } from './tcp-merge.js';
import { C, udpSocketDrops, VxlanStats } from './stats.js';

/** Datagrams per sendmmsg (replicas included) and per recvmmsg. */
const TX_BATCH = 1024;
const RX_BATCH = 256;
/** Datagrams in a row (one VTEP, source port and length) sent as UDP GSO instead of raw. */
const MIN_RUN = 4;
const HDR = 64; // bytes of header scratch per tx message (36 used, 56 over IPv6)
const NAME = K.sockaddr_in6.size; // bytes per message name, either family
/** sendmmsg errors after which the datagrams are retried at the next sync */
const RETRY = [K.EAGAIN, K.ENOBUFS];
/** errors that drop the first datagram of the batch (no route, neighbour unreachable, too big) */
const DROP = [K.EINVAL, K.EMSGSIZE, K.ENETDOWN, K.ENETUNREACH, K.EHOSTUNREACH, K.ENXIO, K.ECONNREFUSED, K.EPERM];
const TOLERATE = [...RETRY, ...DROP];

function sameAddress(a: string, b: string): boolean {
  const x = parseVtep(a), y = parseVtep(b);
  return x !== null && y !== null && x.every((v, i) => v === y[i]);
}

/** The underlay interface: `dev`, else the one holding the local address; its MTU. */
function underlay(c: VxlanConfig, what: string): { dev: string; mtu: number; ifindex: number } {
  let dev = c.dev;
  if (!dev) {
    for (const [name, addrs] of Object.entries(networkInterfaces())) {
      if (addrs?.some((a) => a.family === (isIpv6(c.local) ? 'IPv6' : 'IPv4') && sameAddress(a.address, c.local))) { dev = name; break; }
    }
  }
  if (!dev) throw new NetmapError('EADDRNOTAVAIL', `${what}: no interface in this network namespace has the local address ${c.local} (see ip addr)`);
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
  /** Largest inner frame (its Ethernet header included) the underlay carries: MTU - 36 (IPv6: - 56). */
  readonly maxInner: number;
  readonly underlayMtu: number;
  /** An IPv6 underlay. */
  readonly v6: boolean;
  /** The sockets datagrams arrive on: the one bound to local, then the group's (if any). */
  private readonly rxFds: readonly number[];
  private readonly rawFd: number;
  private readonly cfgFd: number;
  private readonly vec: Mapping;
  private readonly v8: Uint8Array;
  private readonly v32: Uint32Array;
  private readonly base: number; // region address
  private readonly vbase: number; // vector address
  private readonly outer: VxlanOuter;
  /** BUM destinations, 16 bytes each: the remotes, then the group. */
  private readonly bum: Uint8Array;
  private readonly nBum: number;
  /** This VTEP's address, 16 bytes; as a number for IPv4. */
  private readonly local16: Uint8Array;
  private readonly local: number;
  /** The IP + UDP + VXLAN header length: 36, or 56 over IPv6. */
  private readonly hlen: number;
  /** Scratch: a received IPv4 sender as 16 bytes (::ffff: set once). */
  private readonly from16 = new Uint8Array(16);
  private readonly hdrSum: number;
  private readonly txMsgSlot = new Int32Array(TX_BATCH); // the tx slot of each prepared datagram
  private ipId = 0;
  // vector layout (byte offsets in vec)
  private readonly txMsg = 0;
  private readonly txIov = TX_BATCH * K.mmsghdr.size;
  private readonly txHdr = this.txIov + TX_BATCH * 2 * K.iovec.size;
  private readonly txName = this.txHdr + TX_BATCH * HDR;
  private readonly rxMsg = this.txName + TX_BATCH * NAME;
  private readonly rxIov = this.rxMsg + RX_BATCH * K.mmsghdr.size;
  private readonly rxHdr = this.rxIov + RX_BATCH * 2 * K.iovec.size;
  private readonly rxName = this.rxHdr + RX_BATCH * 16;
  private readonly rxSlotOf = new Int32Array(RX_BATCH);
  /** The virtio-net header before each frame of the rings (0, 10, 12): an offload-aware opener (vale-ctl -a) takes 10. */
  private readonly hdr: number;
  private readonly seg: Segmenter | null;
  private readonly gso: GsoTx | null;
  /** trains of datagrams received whole (UDP_GRO), for an offload-aware opener on a kernel that has it */
  private readonly gro: GroRx | null;
  private readonly merge: TcpMerge | null;
  /** per prepared datagram: the ring's frame, byte and drop counts before its frame (a send that stops part way takes them back) */
  private readonly txMsgPkts = new Float64Array(TX_BATCH);
  private readonly txMsgBytes = new Float64Array(TX_BATCH);
  /** IPv6: views of the whole region for the payload sums, set by txBegin */
  private txDv: DataView | null = null;
  private txWords: Uint32Array | undefined = undefined;

  override get vnetHdrLen(): number {
    return this.hdr;
  }

  constructor(mem: PrivateRegion, rec: number, spec: PortSpec, rings: { tx: number[]; rx: number[] }, opts: OpenOptions,
    c: VxlanConfig, fds: { udp: number; mc: number; raw: number; cfg: number }, u: { dev: string; mtu: number; ifindex: number }, stats: VxlanStats, vnet: 0 | 10 | 12) {
    const v6 = isIpv6(c.local), hlen = v6 ? VXLAN_IP6_HLEN : VXLAN_IP_HLEN;
    const maxInner = Math.min(mem.region.bufSize - vnet, u.mtu - hlen);
    const detail = `VNI ${c.vni}, ${v6 ? `[${c.local}]` : c.local}:${c.port} -> ${c.remotes.length ? c.remotes.join(' ') : 'no remotes'}${c.group ? `, group ${c.group}` : ''}; ` +
      `underlay ${u.dev} MTU ${u.mtu}: inner frames up to ${maxInner} bytes (MTU ${maxInner - 14} on the overlay's hosts)`;
    const rxFds = fds.mc >= 0 ? [fds.udp, fds.mc] : [fds.udp];
    const how = vnet ? `; a ${vnet}-byte virtio-net header: TCP super-frames cut here and sent with UDP GSO (one send per 64 KiB)` : '';
    super(mem, rec, spec, rings, opts, [...rxFds, fds.raw], { backend: 'vxlan', detail: detail + how, fallbackReason: '', warnings: [] });
    this.config = c;
    this.hdr = vnet;
    this.seg = vnet ? new Segmenter() : null;
    this.merge = vnet ? new TcpMerge(mem.region, vnet) : null;
    this.gso = vnet ? new GsoTx({ local16: parseVtep(c.local)!, v6, vni: c.vni, port: c.port, dev: c.dev, ttl: c.ttl, df: c.df, mcIfindex: c.group ? u.ifindex : 0 }, spec.name) : null;
    let gro = vnet !== 0;
    for (const fd of rxFds) if (gro && !enableUdpGro(fd, spec.name)) gro = false;
    this.gro = gro ? new GroRx(spec.name) : null;
    this.v6 = v6;
    this.hlen = hlen;
    this.rxFds = rxFds;
    this.rawFd = fds.raw;
    this.cfgFd = fds.cfg;
    this.underlayMtu = u.mtu;
    this.maxInner = maxInner;
    if (u.mtu - hlen - 14 < 1500) {
      this.info.warnings.push(`${spec.name}: the underlay ${u.dev} has MTU ${u.mtu}: inner frames over ${maxInner} bytes are dropped (counted: tx_too_big); set MTU ${maxInner - 14} on the overlay's hosts, or MTU ${1500 + hlen + 14} on the underlay`);
    }
    this.fdb = new Fdb(1024, c.ageing);
    for (const f of c.fdb) this.fdb.addStatic(macBytes(f.mac), parseVtep(f.dst)!);
    this.stats2 = stats;
    this.loadRuntimeStatic();
    this.local16 = parseVtep(c.local)!;
    this.local = readU32(this.local16, 12);
    this.from16[10] = 0xff;
    this.from16[11] = 0xff;
    const bum = [...c.remotes, ...(c.group ? [c.group] : [])];
    this.nBum = bum.length;
    this.bum = new Uint8Array(16 * Math.max(1, bum.length));
    bum.forEach((a, i) => this.bum.set(parseVtep(a)!, i * 16));
    this.hdrSum = vxlanHeaderSum(c.vni);
    this.outer = { vni: c.vni, src: this.local, dst: 0, ttl: c.ttl, df: c.df, dstPort: c.port };
    this.vec = mmapAnonymous(this.rxName + RX_BATCH * NAME, 'VXLAN message vectors');
    this.v8 = new Uint8Array(this.vec.buffer);
    this.v32 = new Uint32Array(this.vec.buffer);
    this.base = Number(mem.region.addr);
    this.vbase = Number(this.vec.addr);
    this.prepareVectors();
  }

  private fdbGen = -1;

  /** The run-time static entries in force ('mac@vtep'), to tell which ones a reload removed. */
  private runtimeStatic = new Set<string>();

  /**
   * Static entries added and removed at run time (vale-ctl --vxlan-fdb, --vxlan-fdb-del): read
   * at open and whenever their generation moves (rare: allocation is fine here). An entry gone
   * from the list is forgotten (a configured entry of the same MAC comes back), then the list's
   * entries are (re)added.
   */
  private loadRuntimeStatic(): void {
    this.fdbGen = this.stats2.c[C.fdbGen];
    const now = new Set<string>();
    for (const f of loadStaticEntries(this.spec.name)) {
      if (parseVtep(f.dst) && isIpv6(f.dst) === isIpv6(this.config.local)) now.add(`${f.mac}@${f.dst}`); // (another family: unreachable, left out)
    }
    for (const e of this.runtimeStatic) {
      if (now.has(e)) continue;
      const mac = e.slice(0, e.indexOf('@'));
      this.fdb.remove(macBytes(mac), 0);
      const fixed = this.config.fdb.find((f) => f.mac === mac);
      if (fixed) this.fdb.addStatic(macBytes(fixed.mac), parseVtep(fixed.dst)!);
    }
    for (const e of now) {
      const at = e.indexOf('@');
      this.fdb.addStatic(macBytes(e.slice(0, at)), parseVtep(e.slice(at + 1))!);
    }
    this.runtimeStatic = now;
  }

  /** Pointers that never change: names, iovec arrays, the header iovecs, VXLAN headers, address families. */
  private prepareVectors(): void {
    const nameLen = this.v6 ? K.sockaddr_in6.size : K.sockaddr_in.size;
    for (let i = 0; i < TX_BATCH; i++) {
      const m = this.txMsg + i * K.mmsghdr.size, io = this.txIov + i * 2 * K.iovec.size;
      put64(this.v32, m + K.msghdr.msg_name, this.vbase + this.txName + i * NAME);
      this.v32[(m + K.msghdr.msg_namelen) >> 2] = nameLen;
      put64(this.v32, m + K.msghdr.msg_iov, this.vbase + io);
      put64(this.v32, m + K.msghdr.msg_iovlen, 2);
      put64(this.v32, io + K.iovec.iov_base, this.vbase + this.txHdr + i * HDR);
      put64(this.v32, io + K.iovec.iov_len, this.hlen);
      writeVxlanHeader(this.v8, this.txHdr + i * HDR + this.hlen - 8, this.config.vni);
      this.v8[this.txName + i * NAME] = this.v6 ? K.AF_INET6 : K.AF_INET; // (sin6_port 0: a raw socket's protocol)
    }
    for (let i = 0; i < RX_BATCH; i++) {
      const m = this.rxMsg + i * K.mmsghdr.size, io = this.rxIov + i * 2 * K.iovec.size;
      put64(this.v32, m + K.msghdr.msg_name, this.vbase + this.rxName + i * NAME);
      put64(this.v32, m + K.msghdr.msg_iov, this.vbase + io);
      put64(this.v32, m + K.msghdr.msg_iovlen, 2);
      put64(this.v32, io + K.iovec.iov_base, this.vbase + this.rxHdr + i * 16);
      put64(this.v32, io + K.iovec.iov_len, 8);
    }
  }

  /**
   * Prepare datagram `i` of the tx vector: inner frame of slot `k` (at address addr, len bytes) to the VTEP at a[aOff..+16); psum: the payload's word sum (IPv6 only).
   */
  private prepareTx(i: number, k: number, addr: number, len: number, a: Uint8Array, aOff: number, sport: number, psum: number): void {
    const v8 = this.v8;
    const h = this.txHdr + i * HDR, nm = this.txName + i * NAME;
    if (this.v6) {
      writeOuterIpv6Udp(v8, h, this.local16, 0, a, aOff, this.config.ttl, sport, this.config.port, 8 + len, psum);
      const d = nm + K.sockaddr_in6.sin6_addr;
      for (let b = 0; b < 16; b++) v8[d + b] = a[aOff + b];
    } else {
      const o = this.outer;
      o.dst = readU32(a, aOff + 12);
      writeOuterIpv4Udp(v8, h, o, sport, 8 + len, this.ipId);
      this.ipId = (this.ipId + 1) & 0xffff;
      const d = nm + K.sockaddr_in.sin_addr;
      v8[d] = a[aOff + 12]; v8[d + 1] = a[aOff + 13]; v8[d + 2] = a[aOff + 14]; v8[d + 3] = a[aOff + 15];
    }
    const io = this.txIov + i * 2 * K.iovec.size + K.iovec.size;
    put64(this.v32, io + K.iovec.iov_base, addr);
    put64(this.v32, io + K.iovec.iov_len, len);
    this.txMsgSlot[i] = k;
  }

  /**
   * The start of both txsyncs: head/cur checked, the forwarding table reloaded if the control
   * side changed it, and for IPv6 the whole-region views the payload sums read (txDv, txWords;
   * null and undefined for IPv4). Returns the time the table's entries age by.
   */
  private txBegin(t: number): number {
    const region = this.region;
    checkHeadCur(region, t, this.name);
    if (this.stats2.c[C.fdbGen] !== this.fdbGen) this.loadRuntimeStatic();
    if (this.v6) {
      this.txDv = wholeView(region.u8);
      this.txWords = wholeWords(region.u8);
    }
    return performance.now();
  }

  protected txsyncRing(t: number): void {
    if (this.hdr !== 0) { this.txsyncVnet(t); return; }
    const region = this.region, u32 = region.u32, u8 = region.u8, st = this.stats2.c;
    const now = this.txBegin(t), dv = this.txDv, words = this.txWords;
    const n = u32[(t + RR.numSlots) >> 2], s = u32[(t + RR.slotsOfs) >> 2] >> 2;
    const head = u32[(t + RR.head) >> 2];
    let hwcur = u32[(t + RR.hwcur) >> 2];
    const nbufs = region.nbufs, bufSize = region.bufSize, maxInner = this.maxInner, bum = this.bum, nb = this.nBum, fdb = this.fdb;
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
        const e = (u8[bo] & 1) === 0 ? fdb.lookup(u8, bo, now) : 0;
        const need = e !== 0 ? 1 : nb;
        if (need === 0) { st[C.txNoRemote]++; drops++; continue; }
        if (count + need > TX_BATCH) break;
        const sport = vxlanSourcePort(u8, bo, len);
        // IPv6: the payload (VXLAN header and frame) summed once for every copy
        const psum = dv !== null ? sumWords(dv, u8.byteOffset + bo, len, this.hdrSum, words) : 0;
        if (e !== 0) {
          this.prepareTx(count++, k, this.base + bo, len, fdb.addr, (e - 1) << 4, sport, psum);
          st[C.txUnicast]++;
        } else {
          for (let r = 0; r < nb; r++) this.prepareTx(count++, k, this.base + bo, len, bum, r << 4, sport, psum);
          st[C.txFlooded]++;
        }
        pkts++;
        bytes += len;
      }
      if (count === 0) { hwcur = k; continue; }
      // send; a datagram the kernel refuses is dropped, a busy socket keeps the rest for the next sync
      const sentTo = this.sendVector(count);
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
    st[C.txFrames] += pkts;
    st[C.txBytes] += bytes;
    txEpilogue(region, t, hwcur, pkts, bytes, drops);
  }

  /**
   * txsync with a virtio-net header before each frame (an offload-aware opener: the switch
   * hands vx0 TCP super-frames whole). A frame without GSO is encapsulated as in txsyncRing,
   * its partial checksum completed first; a super-frame (an NS_MOREFRAG chain of up to 64 KiB)
   * is sent by sendGso after the datagrams gathered before it. Ring counters count the
   * frames taken from the ring (a super-frame is one), the VXLAN counters the inner frames
   * put on the underlay (a super-frame's segments).
   */
  private txsyncVnet(t: number): void {
    const region = this.region, u32 = region.u32, u8 = region.u8, st = this.stats2.c, seg = this.seg!, hl = this.hdr;
    const now = this.txBegin(t), dv = this.txDv, words = this.txWords;
    const n = u32[(t + RR.numSlots) >> 2], s = u32[(t + RR.slotsOfs) >> 2] >> 2;
    const head = u32[(t + RR.head) >> 2];
    let hwcur = u32[(t + RR.hwcur) >> 2];
    const nbufs = region.nbufs, bufSize = region.bufSize, maxInner = this.maxInner, bum = this.bum, nb = this.nBum, fdb = this.fdb;
    let pkts = 0, bytes = 0, drops = 0, bad = -1;
    while (hwcur !== head) {
      // gather datagrams until the vector is full, the ring is done or a super-frame comes
      let count = 0, k = hwcur, stuck = false, gso = false, gNfr = 0, gLen = 0, gEnd = 0;
      while (k !== head) {
        let e = k, nfr = 0, total = 0, complete = false;
        while (e !== head) {
          const idx = u32[s + (e << 2)], word = u32[s + (e << 2) + 1], len = word & 0xffff;
          if (idx < 2 || idx >= nbufs || len > bufSize) { bad = e; break; }
          if (nfr < GSO_MAX_FRAGS) { seg.fragOff[nfr] = region.bufOffset(idx); seg.fragLen[nfr] = len; }
          nfr++;
          total += len;
          e = e + 1 === n ? 0 : e + 1;
          if (((word >>> 16) & NS_MOREFRAG) === 0 || nfr === NETMAP_MAX_FRAGS) { complete = true; break; }
        }
        if (!complete) { stuck = true; break; } // a bad slot, or the rest of the chain is not there yet
        const bo = seg.fragOff[0], flen = total - hl, fo = bo + hl;
        if (seg.fragLen[0] < hl + 14 || vnetCheck(u8, bo, hl, flen) !== VNET_OK) { st[C.txBadVnet]++; drops++; k = e; continue; }
        if ((u8[bo + VNET_GSO_TYPE] & ~VNET_GSO_ECN) !== VNET_GSO_NONE) { gso = true; gNfr = nfr; gLen = flen; gEnd = e; break; }
        if (nfr > 1 || flen > maxInner) { st[C.txTooBig]++; drops++; k = e; continue; }
        if ((u8[bo + VNET_FLAGS] & VNET_F_NEEDS_CSUM) !== 0 &&
          completeChecksum(u8, fo, flen, u8[bo + VNET_CSUM_START] | (u8[bo + VNET_CSUM_START + 1] << 8), u8[bo + VNET_CSUM_OFFSET] | (u8[bo + VNET_CSUM_OFFSET + 1] << 8)) !== VNET_OK) {
          st[C.txBadVnet]++; drops++; k = e; continue;
        }
        const en = (u8[fo] & 1) === 0 ? fdb.lookup(u8, fo, now) : 0;
        const need = en !== 0 ? 1 : nb;
        if (need === 0) { st[C.txNoRemote]++; drops++; k = e; continue; }
        if (count + need > TX_BATCH) break;
        const sport = vxlanSourcePort(u8, fo, flen);
        const psum = dv !== null ? sumWords(dv, u8.byteOffset + fo, flen, this.hdrSum, words) : 0;
        for (let r = 0; r < need; r++) {
          this.txMsgPkts[count] = pkts;
          this.txMsgBytes[count] = bytes;
          if (en !== 0) this.prepareTx(count++, k, this.base + fo, flen, fdb.addr, (en - 1) << 4, sport, psum);
          else this.prepareTx(count++, k, this.base + fo, flen, bum, r << 4, sport, psum);
        }
        if (en !== 0) st[C.txUnicast]++; else st[C.txFlooded]++;
        st[C.txFrames]++;
        st[C.txBytes] += flen;
        pkts++;
        bytes += flen;
        k = e;
      }
      if (count > 0) {
        const sentTo = this.sendVector(count);
        if (sentTo < count) {
          // the frames from the first unsent datagram's are sent again at the next sync
          const p = this.txMsgPkts[sentTo], b = this.txMsgBytes[sentTo];
          st[C.txFrames] -= pkts - p;
          st[C.txBytes] -= bytes - b;
          pkts = p;
          bytes = b;
          hwcur = this.txMsgSlot[sentTo];
          break;
        }
      }
      hwcur = k;
      if (gso) {
        const r = this.sendGso(gNfr, now);
        if (r < 0) break; // the socket is full: the super-frame again at the next sync
        if (r === 0) drops++;
        else { pkts++; bytes += gLen; }
        hwcur = gEnd;
      }
      if (stuck) break;
    }
    txEpilogue(region, t, hwcur, pkts, bytes, drops);
    if (bad >= 0) badSlot(region, t, bad, this.name);
  }

  /**
   * Send the first `count` prepared datagrams, in order: how many left (the kernel refusing
   * one drops it, counted in tx_errors; a full socket stops there). With UDP GSO (an
   * offload-aware port), each run of at least MIN_RUN datagrams to one VTEP from one source
   * port with one length goes as GSO messages on the flow's UDP socket (gso-tx.ts), the rest
   * on the raw socket.
   */
  private sendVector(count: number): number {
    const g = this.gso;
    if (g === null || g.refused !== '' || count < MIN_RUN) return this.sendRaw(0, count);
    let raw = 0, i = 0; // [raw, i): datagrams waiting for the raw socket
    while (i < count) {
      const end = this.runEnd(i, count);
      if (end - i >= MIN_RUN) {
        const fd = g.socketFor(this.sportOf(i));
        if (fd >= 0) {
          if (raw < i) {
            const s = this.sendRaw(raw, i);
            if (s < i) return s;
          }
          const s = this.sendRun(g, fd, i, end);
          if (s < end) return s;
          raw = end;
        }
      }
      i = end;
    }
    return raw < count ? this.sendRaw(raw, count) : count;
  }

  /** The UDP source port prepared datagram i carries. */
  private sportOf(i: number): number {
    const at = this.txHdr + i * HDR + this.hlen - 16;
    return (this.v8[at] << 8) | this.v8[at + 1];
  }

  /** The end of the run of prepared datagrams from i (before `count`) that share i's VTEP, source port and length. */
  private runEnd(i: number, count: number): number {
    const v8 = this.v8, v32 = this.v32, hl = this.hlen - 16;
    const li = (this.txIov + i * 2 * K.iovec.size + K.iovec.size + K.iovec.iov_len) >> 2;
    const hi = this.txHdr + i * HDR + hl;
    const ni = (this.txName + i * NAME + (this.v6 ? K.sockaddr_in6.sin6_addr : K.sockaddr_in.sin_addr)) >> 2;
    const len = v32[li], s0 = v8[hi], s1 = v8[hi + 1], a0 = v32[ni];
    const a1 = this.v6 ? v32[ni + 1] : 0, a2 = this.v6 ? v32[ni + 2] : 0, a3 = this.v6 ? v32[ni + 3] : 0;
    const iovStep = (2 * K.iovec.size) >> 2, nameStep = NAME >> 2;
    let j = i + 1;
    for (; j < count; j++) {
      const d = j - i;
      if (v32[li + d * iovStep] !== len) break;
      const h = hi + d * HDR;
      if (v8[h] !== s0 || v8[h + 1] !== s1) break;
      const n = ni + d * nameStep;
      if (v32[n] !== a0 || (this.v6 && (v32[n + 1] !== a1 || v32[n + 2] !== a2 || v32[n + 3] !== a3))) break;
    }
    return j;
  }

  /**
   * Send prepared datagrams [from, end) (one run: one VTEP, source port and length) as UDP
   * GSO messages on socket fd, RUN_MSGS per sendmmsg: the index reached (end when all went).
   * A full socket stops there; another error the kernel tolerates drops that message's
   * datagrams (tx_errors); EIO or EINVAL (the underlay takes no UDP GSO) turns GSO off for
   * the port and sends the rest raw.
   */
  private sendRun(g: GsoTx, fd: number, from: number, end: number): number {
    const st = this.stats2.c, len = this.v32[(this.txIov + from * 2 * K.iovec.size + K.iovec.size + K.iovec.iov_len) >> 2];
    const stride = 8 + len;
    const per = Math.max(1, Math.min(UDP_MAX_SEGMENTS, Math.floor(GSO_MAX_CHUNK / stride)));
    // runStage reads a 16-byte VTEP (IPv4 in its last 4 bytes): the prepared name's address, as one
    const vtepAt = this.v6 ? K.sockaddr_in6.sin6_addr : K.sockaddr_in.sin_addr - 12;
    let pos = from;
    while (pos < end) {
      let m = 0, at = pos;
      for (; m < RUN_MSGS && at < end; m++) {
        const n = end - at < per ? end - at : per;
        g.runStage(m, n, stride, this.v8, this.txName + at * NAME + vtepAt);
        for (let j = 0; j < n; j++) {
          const d = at + j;
          const io = this.txIov + d * 2 * K.iovec.size + K.iovec.size;
          g.runPiece(m, j, this.vbase + this.txHdr + d * HDR + this.hlen - 8, get64(this.v32, io + K.iovec.iov_base), len);
        }
        at += n;
      }
      const r = g.runSend(fd, m, TOLERATE);
      if (r > 0) {
        // every message holds `per` datagrams but the run's last
        const sent = r * per < end - pos ? r * per : end - pos;
        st[C.txGsoSends] += r;
        st[C.txDatagrams] += sent;
        pos += sent;
        continue;
      }
      if (RETRY.includes(-r)) return pos;
      if (r === -K.EIO || r === -K.EINVAL) {
        g.refused = `UDP GSO refused by the underlay (${r === -K.EIO ? 'EIO' : 'EINVAL'})`;
        return this.sendRaw(pos, end);
      }
      const n = end - pos < per ? end - pos : per; // the kernel dropped the first message
      st[C.txErrors] += n;
      pos += n;
    }
    return pos;
  }

  /** Send prepared datagrams [from, to) on the raw socket: the index reached. */
  private sendRaw(from: number, to: number): number {
    const st = this.stats2.c;
    let sentTo = from;
    while (sentTo < to) {
      const r = sendmmsgAt(this.rawFd, this.vbase + this.txMsg + sentTo * K.mmsghdr.size, to - sentTo, this.spec.name, TOLERATE);
      if (r > 0) { st[C.txDatagrams] += r; sentTo += r; continue; }
      if (RETRY.includes(-r)) break;
      st[C.txErrors]++;
      sentTo++;
    }
    return sentTo;
  }

  /**
   * Send the super-frame in seg's pieces (gathered by txsyncVnet: its virtio-net header at the
   * start of the first piece, nfr pieces) as its segments, each
   * behind a VXLAN header: with UDP GSO on the flow's UDP socket (gso-tx.ts), one send per
   * chunk of up to 64 segments and destination, else one raw datagram per segment. Returns
   * the segments sent (0: the frame dropped, counted by cause), or -1 when the first send
   * found the socket full (nothing sent: the frame is tried again at the next sync).
   */
  private sendGso(nfr: number, now: number): number {
    const seg = this.seg!, g = this.gso!, u8 = this.region.u8, st = this.stats2.c, hl = this.hdr;
    const bo = seg.fragOff[0];
    const gsoType = u8[bo + VNET_GSO_TYPE], gsoSize = u8[bo + VNET_GSO_SIZE] | (u8[bo + VNET_GSO_SIZE + 1] << 8);
    if (nfr > GSO_MAX_FRAGS) { st[C.txBadVnet]++; return 0; }
    seg.fragOff[0] = bo + hl;
    seg.fragLen[0] -= hl;
    if (seg.begin(u8, nfr, gsoType, gsoSize) !== VNET_OK) { st[C.txBadVnet]++; return 0; }
    const fo = bo + hl, segs = seg.count, seg0 = seg.segmentLength(0);
    if (seg0 > this.maxInner) { st[C.txTooBig] += segs; return 0; }
    const en = (u8[fo] & 1) === 0 ? this.fdb.lookup(u8, fo, now) : 0;
    const need = en !== 0 ? 1 : this.nBum;
    if (need === 0) { st[C.txNoRemote] += segs; return 0; }
    const a = en !== 0 ? this.fdb.addr : this.bum, aOff = en !== 0 ? (en - 1) << 4 : 0;
    const sport = vxlanSourcePort(u8, fo, seg.fragLen[0]);
    const stride = 8 + seg0;
    const per = Math.max(1, Math.min(UDP_MAX_SEGMENTS, Math.floor(GSO_MAX_CHUNK / stride), Math.floor(TX_BATCH / need)));
    let fd = g.socketFor(sport);
    for (let j = 0; j < segs; j += per) {
      const m = segs - j < per ? segs - j : per;
      const len = g.writeChunk(seg, j, m);
      if (fd >= 0) {
        const r = g.send(fd, len, stride, a, aOff, need, TOLERATE);
        if (r > 0) {
          st[C.txGsoSends] += r;
          st[C.txDatagrams] += r * m;
          st[C.txErrors] += (need - r) * m;
          continue;
        }
        if (r === -K.EIO || r === -K.EINVAL) {
          // the underlay takes no UDP GSO (no checksum offload on the interface): raw datagrams from now on
          g.refused = `UDP GSO refused by the underlay (${r === -K.EIO ? 'EIO' : 'EINVAL'})`;
          fd = -1;
        } else if (RETRY.includes(-r)) {
          if (j === 0) return -1;
          st[C.txErrors] += (segs - j) * need;
          break;
        } else {
          st[C.txErrors] += m * need;
          continue;
        }
      }
      // one raw datagram per segment and destination, from the staging area
      let c = 0;
      const sv = this.v6 ? wholeView(g.stage) : null, sw = this.v6 ? wholeWords(g.stage) : undefined;
      for (let i = 0; i < m; i++) {
        const off = i * stride + 8, l = seg.segmentLength(j + i);
        const psum = sv !== null ? sumWords(sv, g.stage.byteOffset + off, l, this.hdrSum, sw) : 0;
        for (let r = 0; r < need; r++) this.prepareTx(c++, 0, g.stageAddr + off, l, a, aOff + (r << 4), sport, psum);
      }
      const sent = this.sendVector(c);
      if (sent < c) {
        if (j === 0 && sent === 0) return -1;
        st[C.txErrors] += c - sent + (segs - j - m) * need;
        break;
      }
    }
    if (en !== 0) st[C.txUnicast] += segs; else st[C.txFlooded] += segs;
    st[C.txFrames] += segs;
    st[C.txBytes] += (segs - 1) * seg0 + seg.segmentLength(segs - 1);
    return segs;
  }

  protected rxsyncRing(r: number): void {
    const region = this.region, u32 = region.u32, st = this.stats2.c;
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
    const region = this.region, u32 = region.u32, v8 = this.v8, v32 = this.v32, st = this.stats2.c;
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
      const got = recvmmsg(fd, this.vbase + this.rxMsg, want, this.spec.name);
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
    const region = this.region, u32 = region.u32, u8 = region.u8, f64 = region.f64, st = this.stats2.c, g = this.gro!;
    const t8 = g.v8, t32 = g.v32, t64 = g.v64;
    const s = u32[(r + RR.slotsOfs) >> 2] >> 2;
    const stop = hwcur === 0 ? n - 1 : hwcur - 1;
    const nbufs = region.nbufs, room = region.bufSize - this.hdr, hl = this.hdr, merge = this.merge;
    let now = -1;
    for (;;) {
      let free = hwtail <= stop ? stop - hwtail : n - hwtail + stop;
      if (free < TRAIN_MAX && (free === 0 || free < n - 1)) break;
      const want = free >= TRAIN_MSGS * TRAIN_MAX ? TRAIN_MSGS : free >= TRAIN_MAX ? Math.floor(free / TRAIN_MAX) : 1;
      const got = g.receive(fd, want, this.spec.name);
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
    const st = this.stats2.c, vni = readVxlanHeader(v8, h, l);
    if (vni === VX_SHORT) { st[C.rxShort]++; this.rxDrops++; return false; }
    if (vni === VX_BAD_FLAGS) { st[C.rxBadFlags]++; this.rxDrops++; return false; }
    if (vni !== this.config.vni) { st[C.rxWrongVni]++; this.rxDrops++; return false; }
    return true;
  }

  /** The 16-byte address learning files a received frame under: rxFrom16[rxFromOff..] (set by fromSelf). */
  private rxFrom16: Uint8Array = this.from16;
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

  /** stats(): datagrams the kernel dropped on the UDP socket (buffer full), and those it refused to send. */
  protected kernelCounters(): { rxDrops: number; txDrops: number } {
    const c = this.config;
    return { rxDrops: udpSocketDrops(c.group ? [c.local, c.group] : [c.local], c.port) ?? 0, txDrops: this.stats2.c[C.txErrors] };
  }

  protected closeKernel(): void {
    for (const fd of this.rxFds) close(fd);
    close(this.rawFd);
    this.gso?.close();
    this.gro?.close();
    munmap(this.vec.addr, this.vec.size);
    this.stats2.close();
    try { closeSync(this.cfgFd); } catch { /* closed */ }
  }
}

function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)));
}

/** Open netmap:NAME for the VXLAN port NAME (its config exists: the port-kind table checked). */
export function openVxlanPort(spec: PortSpec, opts: OpenOptions): Port {
  if (spec.share) throw new NetmapError('ENOTSUP', `${spec.raw}: @share is not supported for VXLAN ports`);
  if (spec.mode !== 'all-nic' && !(spec.mode === 'one-nic' && spec.ringId === 0)) {
    throw new NetmapError('EINVAL', `${spec.raw}: a VXLAN port has one ring pair and no host rings (open netmap:${spec.name})`);
  }
  const { config: c, fd: cfg } = loadVxlanConfig(spec.name, true);
  let udp = -1, mc = -1, raw = -1, mem: PrivateRegion | null = null, stats: VxlanStats | null = null;
  try {
    if (!flock(cfg, LOCK_SH | LOCK_NB)) throw new NetmapError('EBUSY', `${spec.raw}: VXLAN port ${spec.name} is being removed`);
    const u = underlay(c, spec.raw);
    const local = parseVtep(c.local)!, v6 = isIpv6(c.local);
    const at = v6 ? `[${c.local}]:${c.port}` : `${c.local}:${c.port}`;
    try {
      udp = udpSocket(local, c.port, 4 << 20, spec.name);
      // multicast: a socket bound to the group (one bound to local gets none of its datagrams)
      if (c.group) {
        const g = parseVtep(c.group)!;
        mc = udpSocket(g, c.port, 4 << 20, spec.name, v6 ? u.ifindex : 0);
        joinGroup(mc, g, u.ifindex, spec.name);
      }
    } catch (e) {
      if (e instanceof NetError && e.errno === K.EADDRINUSE) {
        throw new NetmapError('EBUSY', `${spec.raw}: ${at}${c.group ? ` or ${c.group}` : ''} is in use (another opener of ${spec.name}, a Linux vxlan device on this port, or another program): one opener at a time`);
      }
      if (e instanceof NetError && e.code === 'EADDRNOTAVAIL') throw new NetmapError('EADDRNOTAVAIL', `${spec.raw}: ${c.local} is not an address of this network namespace${v6 ? ' (or still tentative: duplicate address detection takes a moment; ip addr add ... nodad skips it)' : ''}`);
      throw e;
    }
    raw = rawIpSocket(v6, c.dev, c.group ? u.ifindex : 0, 4 << 20, spec.name);
    // an offload-aware opener (vale-ctl -a's forwarder) takes super-frames whole with a header
    // (unless the config says offloads=0); a program asks with vnetHdrLen
    const vnet = opts.vnetHdrLen ?? (c.offloads && (opts as InterfaceOpenOptions).offloadAware ? 10 : 0);
    const txSlots = opts.txSlots ?? DEFAULT_SLOTS, rxSlots = opts.rxSlots ?? DEFAULT_SLOTS;
    mem = createPrivateRegion(txSlots + rxSlots + (opts.extraBufs ?? 0), 0, `${spec.name} buffers`);
    const rec = createKernelPortRecord(mem.region, 1, txSlots, rxSlots);
    stats = VxlanStats.open(spec.name);
    const rings = { tx: spec.flags & NR_RX_RINGS_ONLY ? [] : [0], rx: spec.flags & NR_TX_RINGS_ONLY ? [] : [0] };
    const port = new VxlanPort(mem, rec, spec, rings, opts, c, { udp, mc, raw, cfg }, u, stats, vnet);
    return port.bindOpener();
  } catch (e) {
    if (udp >= 0) close(udp);
    if (mc >= 0) close(mc);
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
