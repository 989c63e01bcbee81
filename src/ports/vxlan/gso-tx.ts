// UDP GSO for a VXLAN port's TCP (and UDP) super-frames: what lets a TCP stream cross the
// underlay in 64 KiB units instead of one system call and one trip through the kernel's IP
// stack per 1.4 KB datagram.
//
//   super-frame (virtio-net header: gso_type, gso_size) -> packet/gso.ts Segmenter writes each
//   segment's headers into a staging area behind an 8-byte VXLAN header, and the message's
//   iovecs gather them with the segments' payloads where they are, in the port's tx slots:
//       [VXLAN + headers 0][payload 0 (one or two pieces)][VXLAN + headers 1][payload 1] ...
//   (no copy of the payload in JavaScript: the kernel's copy into its buffers is the only one;
//   UFO, whose first fragment's UDP header is rewritten, and a payload in more than
//   GATHER_PIECES pieces are written whole into the staging area instead)
//   -> one sendmmsg(2) on a UDP socket bound to local:<the flow's source port>, one message
//   per destination VTEP (1, or each remote and the group for a flood), each with a UDP_SEGMENT
//   control message (8 + the first segment's length): the kernel routes the whole once and
//   cuts it into that many datagrams (in the driver, or in software just before it), each with
//   its UDP, IP and outer Ethernet headers and a UDP checksum (a GSO send always has one).
//
// Why sockets per source port: a UDP socket has one source port, and the port gives every
// flow its own (the inner flow hash, as Linux's vxlan does, for the underlay's ECMP/RSS), so
// a flow's super-frames go through a socket bound to that port, opened at its first
// super-frame (at most MAX_SOCKETS; a port taken by another socket of the namespace, or a
// table full, and the port's raw socket sends the segments one datagram each instead). A raw
// socket has no GSO (UDP_SEGMENT is a UDP socket's), and a packet socket with a virtio-net
// header would need the next hop's MAC address (neighbour resolution of our own).
//
// A chunk holds at most UDP_MAX_SEGMENTS segments and 65507 bytes (one UDP datagram's most
// payload before GSO): a longer super-frame is several sends. Nothing is allocated per frame.
//
// Runs of small frames: the port's txsync prepares one raw datagram per frame; where several
// in a row go to the same VTEP from the same source port with the same length (a flow's
// frames of one size: a stream of small UDP packets), they are sent as one GSO message on that
// flow's socket instead, gathered without a copy — the message's iovecs alternate the
// prepared VXLAN header and the frame in its slot — and up to RUN_MSGS such messages go in
// one sendmmsg(2). The kernel then routes and crosses its IP layer once per message instead
// of once per frame (runStage/runSend; the run detection is the port's).
import { close, mmapAnonymous, munmap, NetError, type Mapping } from '../../sys/net.js';
import { put64, sendmmsgAt, udpGsoSocket } from '../../sys/udp.js';
import * as K from '../../sys/kernel-abi.js';
import type { Segmenter } from '../../packet/gso.js';
import { VXLAN_SPORT_MIN, writeVxlanHeader } from '../../packet/vxlan.js';

/** Most per-flow UDP sockets open at once. */
const MAX_SOCKETS = 1024;
/** Most bytes in one send (a UDP datagram's payload before GSO cuts it). */
export const GSO_MAX_CHUNK = 65507;
/** the kernel's most segments per UDP GSO send (its UDP_MAX_SEGMENTS, not in the uapi headers: 64, 128 since Linux 6.9) */
export const UDP_MAX_SEGMENTS = 64;
/** Most destinations of one chunk per sendmmsg (more: another call). */
const MAX_DESTS = 64;
const STAGE = 65536 + 64;
const NAME = K.sockaddr_in6.size;
const CMSG = 24; // CMSG_SPACE(sizeof(uint16_t))
const NO_SOCKET = -2;
/** Most GSO messages of small-frame runs per sendmmsg. */
export const RUN_MSGS = 16;
/** iovecs per run message: a VXLAN header and a frame per datagram */
const RUN_IOVS = 2 * UDP_MAX_SEGMENTS;
/** Most pieces of one segment's payload in a gathered chunk (it crosses a slot's end at most once or twice). */
const GATHER_PIECES = 4;
/** iovecs of a gathered chunk: per segment, its VXLAN header and headers, then its payload's pieces */
const GATHER_IOVS = UDP_MAX_SEGMENTS * (1 + GATHER_PIECES);

export interface GsoConfig { local16: Uint8Array; v6: boolean; vni: number; port: number; dev: string | null; ttl: number; df: boolean; mcIfindex: number }

export class GsoTx {
  /** fd per source port (index: sport - VXLAN_SPORT_MIN); -1 not opened yet, NO_SOCKET: unavailable */
  private readonly fds = new Int32Array(16384).fill(-1);
  private open = 0;
  private readonly m: Mapping;
  readonly stage: Uint8Array;
  /** the staging area's address (stage[0]) */
  readonly stageAddr: number;
  private readonly v32: Uint32Array;
  private readonly v8: Uint8Array;
  private readonly base: number;
  private readonly msg = STAGE;
  private readonly iov = this.msg + MAX_DESTS * K.mmsghdr.size;
  private readonly name = this.iov + MAX_DESTS * K.iovec.size;
  private readonly ctl = this.name + MAX_DESTS * NAME;
  // small-frame runs: RUN_MSGS messages, each with its iovecs, name and UDP_SEGMENT message
  private readonly runMsg = this.ctl + CMSG;
  private readonly runIov = this.runMsg + RUN_MSGS * K.mmsghdr.size;
  private readonly runName = this.runIov + RUN_MSGS * RUN_IOVS * K.iovec.size;
  private readonly runCtl = this.runName + RUN_MSGS * NAME;
  private readonly gatherIov = (this.runCtl + RUN_MSGS * CMSG + 7) & ~7;
  /** iovecs of the chunk gatherChunk prepared last */
  private gathered = 0;
  /** a segment's payload pieces (Segmenter.payloadPieces) */
  private readonly pieces = new Float64Array(2 * GATHER_PIECES);
  /** Set once the kernel refuses UDP GSO on the underlay (EIO: no checksum offload): the raw path from then on. */
  refused = '';

  constructor(private readonly c: GsoConfig, private readonly what: string) {
    this.m = mmapAnonymous(this.gatherIov + GATHER_IOVS * K.iovec.size, `${what} UDP GSO staging`);
    this.v8 = new Uint8Array(this.m.buffer);
    this.v32 = new Uint32Array(this.m.buffer);
    this.stage = this.v8;
    this.base = Number(this.m.addr);
    this.stageAddr = this.base;
    const nameLen = c.v6 ? K.sockaddr_in6.size : K.sockaddr_in.size;
    for (let i = 0; i < MAX_DESTS; i++) {
      const mh = this.msg + i * K.mmsghdr.size, io = this.iov + i * K.iovec.size, nm = this.name + i * NAME;
      put64(this.v32, mh + K.msghdr.msg_name, this.base + nm);
      this.v32[(mh + K.msghdr.msg_namelen) >> 2] = nameLen;
      put64(this.v32, mh + K.msghdr.msg_iov, this.base + io);
      put64(this.v32, mh + K.msghdr.msg_iovlen, 1);
      put64(this.v32, io + K.iovec.iov_base, this.base);
      put64(this.v32, mh + K.msghdr.msg_control, this.base + this.ctl);
      this.initName(nm);
    }
    for (const at of [this.ctl, ...Array.from({ length: RUN_MSGS }, (_, i) => this.runCtl + i * CMSG)]) {
      put64(this.v32, at + K.cmsghdr.cmsg_len, K.cmsghdr.size + 2);
      this.v32[(at + K.cmsghdr.cmsg_level) >> 2] = K.SOL_UDP;
      this.v32[(at + K.cmsghdr.cmsg_type) >> 2] = K.UDP_SEGMENT;
    }
    for (let i = 0; i < RUN_MSGS; i++) {
      const mh = this.runMsg + i * K.mmsghdr.size, nm = this.runName + i * NAME;
      put64(this.v32, mh + K.msghdr.msg_name, this.base + nm);
      this.v32[(mh + K.msghdr.msg_namelen) >> 2] = nameLen;
      put64(this.v32, mh + K.msghdr.msg_iov, this.base + this.runIov + i * RUN_IOVS * K.iovec.size);
      put64(this.v32, mh + K.msghdr.msg_control, this.base + this.runCtl + i * CMSG);
      this.initName(nm);
    }
  }

  /** The fixed part of a message name at nm: the family and the VXLAN port (sin_port / sin6_port). */
  private initName(nm: number): void {
    this.v8[nm] = this.c.v6 ? K.AF_INET6 : K.AF_INET;
    this.v8[nm + 2] = this.c.port >> 8;
    this.v8[nm + 3] = this.c.port & 0xff;
  }

  /** The destination of the message whose name is at nm: the VTEP at a[aOff..+16] (IPv4 in its last 4 bytes). */
  private setVtep(nm: number, a: Uint8Array, aOff: number): void {
    const v8 = this.v8;
    if (this.c.v6) {
      const d = nm + K.sockaddr_in6.sin6_addr;
      for (let b = 0; b < 16; b++) v8[d + b] = a[aOff + b]!;
    } else {
      const d = nm + K.sockaddr_in.sin_addr;
      v8[d] = a[aOff + 12]!; v8[d + 1] = a[aOff + 13]!; v8[d + 2] = a[aOff + 14]!; v8[d + 3] = a[aOff + 15]!;
    }
  }

  /**
   * Run message `m` (< RUN_MSGS): `n` (1..UDP_MAX_SEGMENTS) datagrams of `stride` bytes each
   * (8 + the frame length) to the VTEP at a[aOff..+16]; their pieces are set with runPiece.
   */
  runStage(m: number, n: number, stride: number, a: Uint8Array, aOff: number): void {
    const mh = this.runMsg + m * K.mmsghdr.size, v8 = this.v8;
    this.setVtep(this.runName + m * NAME, a, aOff);
    put64(this.v32, mh + K.msghdr.msg_iovlen, 2 * n);
    this.v32[(mh + K.msghdr.msg_controllen) >> 2] = n > 1 ? CMSG : 0;
    this.v32[((mh + K.msghdr.msg_controllen) >> 2) + 1] = 0;
    const c = this.runCtl + m * CMSG + K.cmsghdr.size;
    v8[c] = stride & 0xff;
    v8[c + 1] = stride >> 8;
  }

  /** Datagram `j` of run message `m`: its 8-byte VXLAN header at hdrAddr, its frame of `len` bytes at frameAddr. */
  runPiece(m: number, j: number, hdrAddr: number, frameAddr: number, len: number): void {
    const io = this.runIov + (m * RUN_IOVS + 2 * j) * K.iovec.size;
    put64(this.v32, io + K.iovec.iov_base, hdrAddr);
    put64(this.v32, io + K.iovec.iov_len, 8);
    put64(this.v32, io + K.iovec.iov_base + K.iovec.size, frameAddr);
    put64(this.v32, io + K.iovec.iov_len + K.iovec.size, len);
  }

  /** Send run messages [0, n) on socket fd in one sendmmsg: messages sent, or -errno when the first failed. */
  runSend(fd: number, n: number, tolerate: readonly number[]): number {
    return sendmmsgAt(fd, this.base + this.runMsg, n, this.what, tolerate);
  }

  /** The UDP socket for source port `sport`, opened at first use; -1 when there is none (the raw path then). */
  socketFor(sport: number): number {
    if (this.refused) return -1;
    const i = sport - VXLAN_SPORT_MIN;
    if (!(i >= 0 && i < 16384)) return -1;
    const fd = this.fds[i]!;
    if (fd >= 0) return fd;
    if (fd === NO_SOCKET || this.open >= MAX_SOCKETS) return -1;
    try {
      const c = this.c;
      const s = udpGsoSocket(c.local16, sport, { dev: c.dev, ttl: c.ttl, df: c.df, mcIfindex: c.mcIfindex, sndbuf: 4 << 20 }, this.what);
      this.fds[i] = s;
      this.open++;
      return s;
    } catch (e) {
      if (!(e instanceof NetError)) throw e;
      this.fds[i] = NO_SOCKET; // (the source port is another socket's: this flow takes the raw path)
      return -1;
    }
  }

  /**
   * Write segments [j, j + m) of the frame `seg` began into the staging area, each behind a
   * VXLAN header; the chunk's length. Segment j + i then starts at i * (8 + seg.segmentLength(j))
   * + 8 (every segment but the frame's last has the first one's length).
   */
  writeChunk(seg: Segmenter, j: number, m: number): number {
    let off = 0;
    for (let i = j; i < j + m; i++) {
      writeVxlanHeader(this.v8, off, this.c.vni);
      const w = seg.write(i, this.v8, off + 8, STAGE - off - 8);
      if (w < 0) return -1; // (cannot happen: the caller sized the chunk from the segment lengths)
      off += 8 + w;
    }
    return off;
  }

  /**
   * Prepare segments [j, j + m) of the frame `seg` began (TCP or USO: seg.gatherable) as a
   * gathered chunk: each segment's VXLAN header and headers written into the staging area, its
   * payload left in the source, whose element 0 is at address srcAddr. The chunk's length, or
   * -1 when a payload would need more than GATHER_PIECES pieces (writeChunk then).
   */
  gatherChunk(seg: Segmenter, j: number, m: number, srcAddr: number): number {
    const v32 = this.v32, pieces = this.pieces, hl = seg.hdrLen;
    let off = 0, len = 0, n = 0;
    for (let i = j; i < j + m; i++) {
      writeVxlanHeader(this.v8, off, this.c.vni);
      const w = seg.writeHeaders(i, this.v8, off + 8, STAGE - off - 8);
      if (w < 0) return -1;
      let io = this.gatherIov + n * K.iovec.size;
      put64(v32, io + K.iovec.iov_base, this.base + off);
      put64(v32, io + K.iovec.iov_len, 8 + hl);
      n++;
      const pc = seg.payloadPieces(i, pieces, GATHER_PIECES);
      if (pc < 0) return -1;
      for (let k = 0; k < pc; k++) {
        io += K.iovec.size;
        put64(v32, io + K.iovec.iov_base, srcAddr + pieces[2 * k]!);
        put64(v32, io + K.iovec.iov_len, pieces[2 * k + 1]!);
      }
      n += pc;
      off += (8 + hl + 7) & ~7;
      len += 8 + w;
    }
    this.gathered = n;
    return len;
  }

  /**
   * Send the chunk of `len` bytes cut into `stride`-byte datagrams on socket fd to the `n`
   * VTEPs at a[aOff + 16 * i], i < n: the one gatherChunk prepared (`gathered`), else the one
   * writeChunk staged. Destinations sent to, or -errno when the first one failed (RETRY or
   * DROP errors of the caller; EIO / EINVAL mean the underlay takes no GSO).
   */
  send(fd: number, len: number, stride: number, a: Uint8Array, aOff: number, n: number, tolerate: readonly number[], gathered: boolean): number {
    const ctlLen = len > stride ? CMSG : 0;
    this.v8[this.ctl + K.cmsghdr.size] = stride & 0xff;
    this.v8[this.ctl + K.cmsghdr.size + 1] = stride >> 8;
    let done = 0;
    while (done < n) {
      const batch = n - done < MAX_DESTS ? n - done : MAX_DESTS;
      for (let i = 0; i < batch; i++) {
        const mh = this.msg + i * K.mmsghdr.size, io = this.iov + i * K.iovec.size;
        this.setVtep(this.name + i * NAME, a, aOff + (done + i) * 16);
        if (gathered) {
          put64(this.v32, mh + K.msghdr.msg_iov, this.base + this.gatherIov);
          put64(this.v32, mh + K.msghdr.msg_iovlen, this.gathered);
        } else {
          put64(this.v32, mh + K.msghdr.msg_iov, this.base + io);
          put64(this.v32, mh + K.msghdr.msg_iovlen, 1);
          put64(this.v32, io + K.iovec.iov_len, len);
        }
        this.v32[(mh + K.msghdr.msg_controllen) >> 2] = ctlLen;
        this.v32[((mh + K.msghdr.msg_controllen) >> 2) + 1] = 0;
      }
      const r = sendmmsgAt(fd, this.base + this.msg, batch, this.what, tolerate);
      if (r < 0) return done === 0 ? r : done;
      done += r;
      if (r < batch) return done;
    }
    return done;
  }

  close(): void {
    for (let i = 0; i < this.fds.length; i++) if (this.fds[i]! >= 0) close(this.fds[i]!);
    this.fds.fill(-1);
    this.open = 0;
    munmap(this.m.addr, this.m.size);
  }
}
