// The sending half of a VXLAN port (vxlan-port.ts): its tx ring's frames put on the underlay.
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
//
// With a virtio-net header before each frame (an offload-aware opener), frames with a partial
// checksum have it completed, TCP super-frames (NS_MOREFRAG chains) are cut into segments and
// leave with UDP GSO on the flow's UDP socket (gso-tx.ts), and runs of at least MIN_RUN
// prepared datagrams to one VTEP, from one source port, of one length leave as UDP GSO
// messages too; everything else goes raw, in order. Every frame not sent is counted by cause
// (stats.ts): too big for the underlay MTU, no remote, a bad header, send errors. No
// allocation per frame.
import { NETMAP_MAX_FRAGS, NS_MOREFRAG } from '../../core/constants.js';
import { RR } from '../../core/layout.js';
import type { Region } from '../../core/region.js';
import { badSlot, checkHeadCur, txEpilogue } from '../../core/sync.js';
import { mmapAnonymous, munmap, type Mapping } from '../../sys/net.js';
import { get64, put64, sendmmsgAt } from '../../sys/udp.js';
import * as K from '../../sys/kernel-abi.js';
import { completeChecksum, sumWords, wholeView, wholeWords } from '../../packet/csum-complete.js';
import { GSO_MAX_FRAGS, Segmenter } from '../../packet/gso.js';
import {
  VNET_CSUM_OFFSET, VNET_CSUM_START, VNET_F_NEEDS_CSUM, VNET_FLAGS, VNET_GSO_ECN, VNET_GSO_NONE, VNET_GSO_SIZE, VNET_GSO_TYPE, VNET_OK, vnetCheck,
} from '../../packet/vnet-hdr.js';
import { parseVtep, readU32, vxlanHeaderSum, vxlanSourcePort, writeOuterIpv4Udp, writeOuterIpv6Udp, writeVxlanHeader, type VxlanOuter } from '../../packet/vxlan.js';
import type { VxlanConfig } from './config.js';
import type { Fdb } from './fdb.js';
import { GSO_MAX_CHUNK, GsoTx, RUN_MSGS, UDP_MAX_SEGMENTS } from './gso-tx.js';
import { C, type VxlanStats } from './stats.js';

/** Datagrams per sendmmsg (replicas included). */
const TX_BATCH = 1024;
/** Datagrams in a row (one VTEP, source port and length) sent as UDP GSO instead of raw. */
const MIN_RUN = 4;
const HDR = 64; // bytes of header scratch per tx message (36 used, 56 over IPv6)
const NAME = K.sockaddr_in6.size; // bytes per message name, either family
/** sendmmsg errors after which the datagrams are retried at the next sync */
const RETRY = [K.EAGAIN, K.ENOBUFS];
/** errors that drop the first datagram of the batch (no route, neighbour unreachable, too big) */
const DROP = [K.EINVAL, K.EMSGSIZE, K.ENETDOWN, K.ENETUNREACH, K.EHOSTUNREACH, K.ENXIO, K.ECONNREFUSED, K.EPERM];
const TOLERATE = [...RETRY, ...DROP];

/** What the sender works with, all owned by the port but the message vectors and the GSO state. */
export interface VxlanSenderParts {
  region: Region;
  /** The port's name (ring errors) and its spec name (socket errors). */
  name: string;
  portName: string;
  config: VxlanConfig;
  fdb: Fdb;
  stats: VxlanStats;
  /** The raw IP socket datagrams leave on. */
  rawFd: number;
  /** The virtio-net header before each frame: 0, 10 or 12. */
  hdr: number;
  /** Largest inner frame the underlay carries. */
  maxInner: number;
  /** This VTEP, 16 bytes (IPv4 as ::ffff:a.b.c.d). */
  local16: Uint8Array;
  v6: boolean;
  /** The IP + UDP + VXLAN header length: 36, or 56 over IPv6. */
  hlen: number;
  /** The underlay's interface index, for multicast sends over GSO (0: no group). */
  mcIfindex: number;
}

export class VxlanSender {
  private readonly region: Region;
  private readonly name: string;
  private readonly portName: string;
  private readonly config: VxlanConfig;
  private readonly fdb: Fdb;
  private readonly stats: VxlanStats;
  private readonly rawFd: number;
  private readonly hdr: number;
  private readonly maxInner: number;
  private readonly local16: Uint8Array;
  private readonly v6: boolean;
  private readonly hlen: number;
  private readonly vec: Mapping;
  private readonly v8: Uint8Array;
  private readonly v32: Uint32Array;
  private readonly base: number; // region address
  private readonly vbase: number; // vector address
  private readonly outer: VxlanOuter;
  /** BUM destinations, 16 bytes each: the remotes, then the group. */
  private readonly bum: Uint8Array;
  private readonly nBum: number;
  private readonly hdrSum: number;
  private readonly txMsgSlot = new Int32Array(TX_BATCH); // the tx slot of each prepared datagram
  private ipId = 0;
  // vector layout (byte offsets in vec)
  private readonly txMsg = 0;
  private readonly txIov = TX_BATCH * K.mmsghdr.size;
  private readonly txHdr = this.txIov + TX_BATCH * 2 * K.iovec.size;
  private readonly txName = this.txHdr + TX_BATCH * HDR;
  private readonly seg: Segmenter | null;
  private readonly gso: GsoTx | null;
  /** per prepared datagram: the ring's frame, byte and drop counts before its frame (a send that stops part way takes them back) */
  private readonly txMsgPkts = new Float64Array(TX_BATCH);
  private readonly txMsgBytes = new Float64Array(TX_BATCH);
  /** IPv6: views of the whole region for the payload sums, set by txBegin */
  private txDv: DataView | null = null;
  private txWords: Uint32Array | undefined = undefined;

  constructor(p: VxlanSenderParts) {
    const c = p.config;
    this.region = p.region;
    this.name = p.name;
    this.portName = p.portName;
    this.config = c;
    this.fdb = p.fdb;
    this.stats = p.stats;
    this.rawFd = p.rawFd;
    this.hdr = p.hdr;
    this.maxInner = p.maxInner;
    this.local16 = p.local16;
    this.v6 = p.v6;
    this.hlen = p.hlen;
    this.seg = p.hdr ? new Segmenter() : null;
    this.gso = p.hdr ? new GsoTx({ local16: p.local16, v6: p.v6, vni: c.vni, port: c.port, dev: c.dev, ttl: c.ttl, df: c.df, mcIfindex: p.mcIfindex }, p.portName) : null;
    const bum = [...c.remotes, ...(c.group ? [c.group] : [])];
    this.nBum = bum.length;
    this.bum = new Uint8Array(16 * Math.max(1, bum.length));
    bum.forEach((a, i) => this.bum.set(parseVtep(a)!, i * 16));
    this.hdrSum = vxlanHeaderSum(c.vni);
    this.outer = { vni: c.vni, src: readU32(p.local16, 12), dst: 0, ttl: c.ttl, df: c.df, dstPort: c.port };
    try {
      this.vec = mmapAnonymous(this.txName + TX_BATCH * NAME, 'VXLAN send vectors');
    } catch (e) {
      this.gso?.close();
      throw e;
    }
    try {
      this.v8 = new Uint8Array(this.vec.buffer);
      this.v32 = new Uint32Array(this.vec.buffer);
      this.base = Number(p.region.addr);
      this.vbase = Number(this.vec.addr);
      this.prepareVectors();
    } catch (e) {
      this.close();
      throw e;
    }
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
   * The start of both txsyncs: head/cur checked, and for IPv6 the whole-region views the
   * payload sums read (txDv, txWords; null and undefined for IPv4). Returns the time the
   * forwarding table's entries age by.
   */
  private txBegin(t: number): number {
    const region = this.region;
    checkHeadCur(region, t, this.name);
    if (this.v6) {
      this.txDv = wholeView(region.u8);
      this.txWords = wholeWords(region.u8);
    }
    return performance.now();
  }

  /** txsync of the port's tx ring t (head/cur checked here): what the header comment says. */
  sync(t: number): void {
    if (this.hdr !== 0) { this.txsyncVnet(t); return; }
    const region = this.region, u32 = region.u32, u8 = region.u8, st = this.stats.c;
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
    const region = this.region, u32 = region.u32, u8 = region.u8, st = this.stats.c, seg = this.seg!, hl = this.hdr;
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
    const st = this.stats.c, len = this.v32[(this.txIov + from * 2 * K.iovec.size + K.iovec.size + K.iovec.iov_len) >> 2];
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
    const st = this.stats.c;
    let sentTo = from;
    while (sentTo < to) {
      const r = sendmmsgAt(this.rawFd, this.vbase + this.txMsg + sentTo * K.mmsghdr.size, to - sentTo, this.portName, TOLERATE);
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
    const seg = this.seg!, g = this.gso!, u8 = this.region.u8, st = this.stats.c, hl = this.hdr;
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
    const srcAddr = this.base + u8.byteOffset;
    for (let j = 0; j < segs; j += per) {
      const m = segs - j < per ? segs - j : per;
      if (fd >= 0) {
        let len = seg.gatherable ? g.gatherChunk(seg, j, m, srcAddr) : -1;
        const gathered = len >= 0;
        if (!gathered) len = g.writeChunk(seg, j, m);
        const r = g.send(fd, len, stride, a, aOff, need, TOLERATE, gathered);
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
      g.writeChunk(seg, j, m);
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

  close(): void {
    this.gso?.close();
    munmap(this.vec.addr, this.vec.size);
  }
}
