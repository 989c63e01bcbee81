// Software segmentation of virtio-net GSO super-frames (what a NIC's TSO, or Linux's GSO, does
// with a frame of up to 64 KiB): TCPv4/TCPv6 (TSO), UDP over IPv4/IPv6 cut into datagrams
// (USO, gso_type UDP_L4), and UDP over IPv4 cut into IP fragments (UFO, gso_type UDP).
//
// Each segment gets the frame's headers with, as Linux's tcp/udp/inet GSO code writes them:
// - IPv4: total length; id = the frame's id + segment number (UFO: the same id in every
//   fragment, with MF on all but the last and the offset in 8-byte units; DF cleared); header
//   checksum. IPv6: payload length.
// - TCP: sequence number + segment number * gso_size; FIN and PSH only on the last segment, CWR
//   only on the first; a full checksum. UDP (USO): length and a full checksum. UFO: the
//   datagram's checksum is computed once and travels in the first fragment.
// The frame's own checksum fields (partial or not) are ignored: every checksum is computed.
//
// The API has no callbacks and allocates nothing per frame or segment, so that a switch can
// write segments straight into destination ring buffers:
//
//   const s = new Segmenter();                  // once; holds the parse of the current frame
//   s.fragOff[0] = off; s.fragLen[0] = len;     // the frame: one or more pieces (an NS_MOREFRAG
//   if (s.begin(u8, 1, gsoType, gsoSize) === VNET_OK)   // chain) of the same byte array
//     for (let i = 0; i < s.count; i++) n = s.write(i, dst, dstOff, dstCap);  // length or -reason
//
// Segments may be written in any order and more than once (a flood writes them once per port).
// The headers must be in the first piece; payload may span pieces. The source is only read.
// Copies within one ArrayBuffer (a switch's region) use copyWithin; between two buffers a
// word loop. Checksums are summed from the source, 32 bits at a time (csum-complete.ts).

import { checksumAdd, checksumFold } from './checksum.js';
import { sumWords, swapSum, wholeBytes, wholeView, wholeWords } from './csum-complete.js';
import {
  ETH_P_IP, ETH_P_IPV6, IPPROTO_TCP, IPPROTO_UDP, etherPayload,
} from './headers.js';
import {
  VNET_DST_TOO_SMALL, VNET_GSO_ECN, VNET_GSO_SIZE_ZERO, VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_UDP,
  VNET_GSO_UDP_L4, VNET_GSO_UNSUPPORTED, VNET_HDRS_SPLIT, VNET_NOT_GSO_FRAME, VNET_OK, VNET_TOO_MANY_SEGMENTS,
  VNET_BAD_GSO_TYPE, VNET_BAD_SIZE,
} from './vnet-hdr.js';

/** Pieces a frame may come in (a 64 KiB frame in 2 KiB buffers is 33; room for 256-byte ones). */
export const GSO_MAX_FRAGS = 320;
/** Most segments one frame may be cut into (Linux's GSO_MAX_SEGS is 65535; 64 KiB / 8 B = 8192). */
export const GSO_MAX_SEGS = 8192;

const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;
const IP_MF = 0x2000;

/** What begin() found the frame to be. */
const K_TCP = 1;
const K_USO = 2;
const K_UFO = 3;

export class Segmenter {
  /** The frame's pieces: offsets into the source array and lengths. Filled by the caller. */
  readonly fragOff = new Float64Array(GSO_MAX_FRAGS);
  readonly fragLen = new Uint32Array(GSO_MAX_FRAGS);
  /** Logical start of each piece within the frame (computed by begin). */
  private readonly fragPos = new Float64Array(GSO_MAX_FRAGS + 1);
  private nfrags = 0;
  /** The piece fragAt() found last. */
  private fragHint = 0;
  private src: Uint8Array = new Uint8Array(0);

  /** After a successful begin(): how many segments the frame makes. */
  count = 0;
  /** Total length of the frame (all pieces). */
  frameLen = 0;
  /** Bytes of headers copied into every segment (UFO: L2 + IP; else L2 + IP + L4). */
  hdrLen = 0;
  /** Payload bytes per segment but the last (UFO: IP payload bytes per fragment). */
  mss = 0;
  /** Offsets within the frame: L3 header, L4 header. */
  l3 = 0;
  l4 = 0;
  /** 4 or 6 */
  family = 0;

  private kind = 0;
  private payload = 0;
  private ipId = 0;
  private seq = 0;
  private tcpFlags = 0;
  /** pseudo-header sum without the length: addresses + protocol */
  private pseudo = 0;
  /** UFO: the datagram's final UDP checksum */
  private ufoCsum = 0;
  /** IPv4: sum of the header words that are the same in every segment */
  private ipBase = 0;
  /** TCP/USO: pseudo-header addresses + protocol + the L4 header words the same in every segment */
  private l4Base = 0;
  /** TCP: the data offset byte (high half of the flags word) */
  private doffByte = 0;
  /** views of the source's whole ArrayBuffer (csum-complete.ts), taken once per frame */
  private srcView: DataView = new DataView(new ArrayBuffer(0));
  private srcAll: Uint8Array = new Uint8Array(0);
  private srcWords: Uint32Array = new Uint32Array(0);
  /** src.byteOffset, read once per frame (the getter is not free on every kind of buffer) */
  private srcBase = 0;

  /**
   * Parse the frame in pieces fragOff/fragLen[0, nfrags) of `src` for the GSO type (with or
   * without the ECN bit) and size from its virtio-net header. Returns VNET_OK (then count,
   * hdrLen, mss... describe it) or the reason the frame cannot be cut. A frame whose payload
   * fits in one segment gives count 1: write() then just completes its checksums.
   */
  begin(src: Uint8Array, nfrags: number, gsoType: number, gsoSize: number): number {
    this.count = 0;
    if (!(nfrags >= 1 && nfrags <= GSO_MAX_FRAGS)) return VNET_BAD_SIZE;
    let pos = 0;
    for (let i = 0; i < nfrags; i++) {
      const o = this.fragOff[i]!;
      const l = this.fragLen[i]!;
      if (!(o >= 0) || o + l > src.length) return VNET_BAD_SIZE;
      this.fragPos[i] = pos;
      pos += l;
    }
    this.fragPos[nfrags] = pos;
    this.nfrags = nfrags;
    this.src = src;
    this.srcView = wholeView(src);
    this.srcAll = wholeBytes(src);
    this.srcWords = wholeWords(src);
    this.srcBase = src.byteOffset;
    this.frameLen = pos;
    const f0 = this.fragOff[0]!;
    const len0 = this.fragLen[0]!;

    const type = gsoType & ~VNET_GSO_ECN;
    let wantProto: number;
    if (type === VNET_GSO_TCPV4 || type === VNET_GSO_TCPV6) wantProto = IPPROTO_TCP;
    else if (type === VNET_GSO_UDP || type === VNET_GSO_UDP_L4) wantProto = IPPROTO_UDP;
    else return VNET_BAD_GSO_TYPE;
    if (!(gsoSize >= 1 && gsoSize <= 0xffff)) return VNET_GSO_SIZE_ZERO;

    // ---- L2, L3
    if (len0 < 14) return VNET_HDRS_SPLIT;
    const l3 = etherPayload(src, f0, len0);
    const etype = (src[f0 + l3 - 2]! << 8) | src[f0 + l3 - 1]!;
    let l4: number;
    let proto: number;
    if (etype === ETH_P_IP) {
      if (type === VNET_GSO_TCPV6) return VNET_NOT_GSO_FRAME;
      if (l3 + 20 > len0) return VNET_HDRS_SPLIT;
      const vihl = src[f0 + l3]!;
      if ((vihl >>> 4) !== 4 || (vihl & 15) < 5) return VNET_NOT_GSO_FRAME;
      l4 = l3 + ((vihl & 15) << 2);
      if (l4 > len0) return VNET_HDRS_SPLIT;
      const frag = (src[f0 + l3 + 6]! << 8) | src[f0 + l3 + 7]!;
      if ((frag & 0x3fff) !== 0) return VNET_GSO_UNSUPPORTED; // already a fragment
      proto = src[f0 + l3 + 9]!;
      this.family = 4;
      this.ipId = (src[f0 + l3 + 4]! << 8) | src[f0 + l3 + 5]!;
      this.pseudo = checksumAdd(src, f0 + l3 + 12, 8, proto);
      // every header word but total length (2), id (4), flags/fragment (6, UFO rewrites it)
      // and the checksum (10): added per segment
      this.ipBase = checksumAdd(src, f0 + l3 + 8, 2, checksumAdd(src, f0 + l3 + 12, l4 - l3 - 12, (src[f0 + l3]! << 8) | src[f0 + l3 + 1]!));
    } else if (etype === ETH_P_IPV6) {
      if (type === VNET_GSO_TCPV4) return VNET_NOT_GSO_FRAME;
      if (type === VNET_GSO_UDP) return VNET_GSO_UNSUPPORTED; // UFO over IPv6 needs a fragment header
      if (l3 + 40 > len0) return VNET_HDRS_SPLIT;
      if ((src[f0 + l3]! >>> 4) !== 6) return VNET_NOT_GSO_FRAME;
      proto = src[f0 + l3 + 6]!;
      l4 = l3 + 40;
      // hop-by-hop, routing and destination options may sit between IPv6 and TCP/UDP
      for (let n = 0; n < 8 && (proto === 0 || proto === 43 || proto === 60); n++) {
        if (l4 + 8 > len0) return VNET_HDRS_SPLIT;
        proto = src[f0 + l4]!;
        l4 += (src[f0 + l4 + 1]! + 1) << 3;
      }
      if (proto === 44) return VNET_GSO_UNSUPPORTED;
      this.family = 6;
      this.ipId = 0;
      this.pseudo = checksumAdd(src, f0 + l3 + 8, 32, proto);
    } else {
      return VNET_NOT_GSO_FRAME;
    }
    if (proto !== wantProto) return VNET_NOT_GSO_FRAME;

    // ---- L4
    let hdrEnd: number;
    if (proto === IPPROTO_TCP) {
      if (l4 + 20 > len0) return VNET_HDRS_SPLIT;
      const doff = src[f0 + l4 + 12]! >>> 4;
      if (doff < 5) return VNET_NOT_GSO_FRAME;
      hdrEnd = l4 + (doff << 2);
      if (hdrEnd > len0) return VNET_HDRS_SPLIT;
      this.seq = ((src[f0 + l4 + 4]! << 24) | (src[f0 + l4 + 5]! << 16) | (src[f0 + l4 + 6]! << 8) | src[f0 + l4 + 7]!) >>> 0;
      this.tcpFlags = src[f0 + l4 + 13]!;
      this.doffByte = src[f0 + l4 + 12]!;
      // ports, ack, window, urgent pointer, options: all but seq (4..7), flags (12..13), checksum
      this.l4Base = checksumAdd(src, f0 + l4 + 18, hdrEnd - l4 - 18, checksumAdd(src, f0 + l4 + 8, 4,
        checksumAdd(src, f0 + l4 + 14, 2, checksumAdd(src, f0 + l4, 4, this.pseudo))));
      this.kind = K_TCP;
    } else {
      hdrEnd = l4 + 8;
      if (hdrEnd > len0) return VNET_HDRS_SPLIT;
      this.kind = type === VNET_GSO_UDP ? K_UFO : K_USO;
      this.l4Base = checksumAdd(src, f0 + l4, 4, this.pseudo); // ports
    }
    if (hdrEnd > pos) return VNET_HDRS_SPLIT;
    this.l3 = l3;
    this.l4 = l4;

    let mss = gsoSize;
    if (this.kind === K_UFO) {
      // fragments carry IP payload (UDP header included) in multiples of 8 bytes
      mss = gsoSize & ~7;
      if (mss === 0) return VNET_GSO_SIZE_ZERO;
      this.hdrLen = l4;
      this.payload = pos - l4;
      if (this.payload > 0xffff) return VNET_NOT_GSO_FRAME; // a UDP length that does not fit
      // the datagram's checksum: pseudo-header (with the length), ports, the length field
      // (as it will be written), a zero checksum field, the data
      const udpLen = this.payload;
      let sum = checksumAdd(src, f0 + l4, 4, this.pseudo + udpLen + udpLen);
      sum = this.sumRange(l4 + 8, udpLen - 8, sum);
      const c = ~checksumFold(sum) & 0xffff;
      this.ufoCsum = c === 0 ? 0xffff : c;
    } else {
      this.hdrLen = hdrEnd;
      this.payload = pos - hdrEnd;
    }
    this.mss = mss;
    const first = this.payload < mss ? this.payload : mss;
    if (this.hdrLen - l3 + first > 0xffff) return VNET_GSO_UNSUPPORTED; // an IP length that does not fit
    const n = this.payload === 0 ? 1 : Math.ceil(this.payload / mss);
    if (n > GSO_MAX_SEGS) return VNET_TOO_MANY_SEGMENTS;
    this.count = n;
    return VNET_OK;
  }

  /** Length of segment i (headers + its payload), 0 when i is out of range. */
  segmentLength(i: number): number {
    if (!(i >= 0 && i < this.count)) return 0;
    const start = i * this.mss;
    const left = this.payload - start;
    return this.hdrLen + (left < this.mss ? left : this.mss);
  }

  /**
   * Write segment i into dst[dstOff, dstOff + cap). Returns its length, or -reason
   * (VNET_DST_TOO_SMALL, VNET_BAD_SIZE for an i out of range) with nothing written.
   */
  write(i: number, dst: Uint8Array, dstOff: number, cap: number): number {
    const segLen = this.headers(i, dst, dstOff, cap, true);
    if (segLen > 0) {
      this.copyRange(this.hdrLen + i * this.mss, segLen - this.hdrLen, dst, dstOff + this.hdrLen);
      if (this.kind === K_UFO && i === 0) this.ufoFirst(dst, dstOff + this.l4);
    }
    return segLen;
  }

  /** Whether a segment's payload is the frame's bytes unchanged (TCP, USO; not UFO, whose first fragment's UDP header is rewritten): payloadPieces may then stand for it. */
  get gatherable(): boolean {
    return this.kind === K_TCP || this.kind === K_USO;
  }

  /**
   * Write segment i's headers only (hdrLen bytes, every field and checksum final) into
   * dst[dstOff...]; the payload is left to the caller (payloadPieces: a gather send). Returns
   * the whole segment's length as write() does, or -reason; room for the whole segment from
   * dstOff is not needed, only for the headers. Not for UFO (see gatherable).
   */
  writeHeaders(i: number, dst: Uint8Array, dstOff: number, cap: number): number {
    if (!this.gatherable) return -VNET_GSO_UNSUPPORTED;
    return this.headers(i, dst, dstOff, cap, false);
  }

  /** Segment i's headers into dst[dstOff...] (`whole`: there must be room for the payload after them too); its length or -reason. */
  private headers(i: number, dst: Uint8Array, dstOff: number, cap: number, whole: boolean): number {
    if (!(i >= 0 && i < this.count) || !(dstOff >= 0)) return -VNET_BAD_SIZE;
    const mss = this.mss;
    const start = i * mss;
    const left = this.payload - start;
    const plen = left < mss ? left : mss;
    const hl = this.hdrLen;
    const segLen = hl + plen;
    const room = whole ? segLen : hl;
    if (room > cap || dstOff + room > dst.length) return -VNET_DST_TOO_SMALL;
    const last = i === this.count - 1;
    const src = this.src;
    const f0 = this.fragOff[0]!;
    const d = dstOff;

    // headers (32-bit words through the DataViews)
    const sv = this.srcView;
    const dv = dst === src || dst.buffer === src.buffer ? sv : wholeView(dst);
    const sa = this.srcBase + f0;
    const da = (dst === src ? this.srcBase : dst.byteOffset) + d;
    const hl4 = hl & ~3;
    let k = 0;
    for (; k < hl4; k += 4) dv.setUint32(da + k, sv.getUint32(sa + k, true), true);
    for (; k < hl; k++) dst[d + k] = src[f0 + k]!;

    const l3 = this.l3;
    const l4 = this.l4;
    if (this.family === 4) {
      const ip = d + l3;
      const tot = segLen - l3;
      dst[ip + 2] = tot >>> 8;
      dst[ip + 3] = tot;
      let hs = this.ipBase + tot;
      if (this.kind === K_UFO) {
        const fo = (start >>> 3) | (last ? 0 : IP_MF);
        dst[ip + 6] = fo >>> 8;
        dst[ip + 7] = fo;
        hs += fo + this.ipId;
      } else {
        const id = (this.ipId + i) & 0xffff;
        dst[ip + 4] = id >>> 8;
        dst[ip + 5] = id;
        hs += id + ((dst[ip + 6]! << 8) | dst[ip + 7]!);
      }
      const hc = ~checksumFold(hs) & 0xffff;
      dst[ip + 10] = hc >>> 8;
      dst[ip + 11] = hc;
    } else {
      const pl = segLen - l3 - 40;
      dst[d + l3 + 4] = pl >>> 8;
      dst[d + l3 + 5] = pl;
    }

    const t = d + l4;
    if (this.kind === K_TCP) {
      const seq = (this.seq + start) >>> 0;
      dst[t + 4] = seq >>> 24;
      dst[t + 5] = seq >>> 16;
      dst[t + 6] = seq >>> 8;
      dst[t + 7] = seq;
      let fl = this.tcpFlags;
      if (!last) fl &= ~(TCP_FIN | TCP_PSH);
      if (i !== 0) fl &= ~TCP_CWR;
      dst[t + 13] = fl;
      const sum = this.sumRange(hl + start, plen,
        this.l4Base + (segLen - l4) + (seq >>> 16) + (seq & 0xffff) + ((this.doffByte << 8) | fl));
      const c = ~checksumFold(sum) & 0xffff;
      dst[t + 16] = c >>> 8;
      dst[t + 17] = c;
    } else if (this.kind === K_USO) {
      const ulen = segLen - l4;
      dst[t + 4] = ulen >>> 8;
      dst[t + 5] = ulen;
      const sum = this.sumRange(hl + start, plen, this.l4Base + ulen + ulen);
      const c0 = ~checksumFold(sum) & 0xffff;
      const c = c0 === 0 ? 0xffff : c0;
      dst[t + 6] = c >>> 8;
      dst[t + 7] = c;
    }
    return segLen;
  }

  /** UFO: the first fragment carries the UDP header (in its payload), with the datagram's length and checksum; t: where it is in dst. */
  private ufoFirst(dst: Uint8Array, t: number): void {
    const ulen = this.payload;
    dst[t + 4] = ulen >>> 8;
    dst[t + 5] = ulen;
    dst[t + 6] = this.ufoCsum >>> 8;
    dst[t + 7] = this.ufoCsum;
  }

  /**
   * Where segment i's payload is in the source: pairs (offset into the source array, length)
   * written to out[2 * k], out[2 * k + 1] for its pieces in order (one, or more where the
   * payload crosses from one piece of the frame into the next). Returns how many, or -1 when
   * more than `max` would be needed (or i is out of range). With writeHeaders, a segment is
   * sent as gathered memory with no copy of its payload.
   */
  payloadPieces(i: number, out: Float64Array, max: number): number {
    if (!(i >= 0 && i < this.count)) return -1;
    const start = i * this.mss;
    const left = this.payload - start;
    let len = left < this.mss ? left : this.mss;
    let p = this.hdrLen + start;
    if (len <= 0) return 0;
    let k = this.nfrags === 1 ? 0 : this.fragAt(p);
    let n = 0;
    while (len > 0) {
      if (n === max || k >= this.nfrags) return -1;
      const inFrag = p - this.fragPos[k]!;
      const avail = this.fragLen[k]! - inFrag;
      const c = avail < len ? avail : len;
      out[2 * n] = this.fragOff[k]! + inFrag;
      out[2 * n + 1] = c;
      n++;
      p += c;
      len -= c;
      k++;
    }
    return n;
  }

  /**
   * Index of the piece that holds frame position p (p < frameLen). Segments are mostly written
   * in order, so the search starts from the piece found last when that is not past p.
   */
  private fragAt(p: number): number {
    let k = this.fragHint < this.nfrags && this.fragPos[this.fragHint]! <= p ? this.fragHint : 0;
    while (k + 1 < this.nfrags && this.fragPos[k + 1]! <= p) k++;
    this.fragHint = k;
    return k;
  }

  /** Sum frame bytes [p, p+len) into an accumulator; p - (start of the checksummed data) is even. */
  private sumRange(p: number, len: number, sum: number): number {
    if (len <= 0) return sum;
    const dv = this.srcView;
    const base = this.srcBase;
    if (this.nfrags === 1) return sumWords(dv, base + this.fragOff[0]! + p, len, sum, this.srcWords);
    let k = this.fragAt(p);
    let rel = 0; // bytes summed so far; odd => the next piece starts mid-word
    while (len > 0) {
      const inFrag = p - this.fragPos[k]!;
      const avail = this.fragLen[k]! - inFrag;
      const n = avail < len ? avail : len;
      const abs = base + this.fragOff[k]! + inFrag;
      if ((rel & 1) === 0) sum = sumWords(dv, abs, n, sum, this.srcWords);
      else sum += swapSum(checksumFold(sumWords(dv, abs, n, 0, this.srcWords)));
      rel += n;
      p += n;
      len -= n;
      k++;
    }
    return sum;
  }

  /** Copy frame bytes [p, p+len) to dst[d...]. */
  private copyRange(p: number, len: number, dst: Uint8Array, d: number): void {
    if (len <= 0) return;
    const src = this.src;
    let k = this.nfrags === 1 ? 0 : this.fragAt(p);
    const all = dst === src || src.buffer === dst.buffer ? this.srcAll : null;
    while (len > 0) {
      const inFrag = p - this.fragPos[k]!;
      const avail = this.fragLen[k]! - inFrag;
      const n = avail < len ? avail : len;
      const s = this.fragOff[k]! + inFrag;
      if (all !== null) {
        const sa = this.srcBase + s;
        all.copyWithin((dst === src ? this.srcBase : dst.byteOffset) + d, sa, sa + n);
      } else {
        copyBytes(src, s, dst, d, n);
      }
      p += n;
      d += n;
      len -= n;
      k++;
    }
  }
}

/**
 * Copy between two different buffers without a view per call: when both ends have the same
 * address modulo 4 (a segment's payload usually does: same header length, gso_size a multiple
 * of 4), 32-bit words through the buffers' Uint32Arrays; else through their DataViews.
 */
function copyBytes(src: Uint8Array, s: number, dst: Uint8Array, d: number, n: number): void {
  const sa = src.byteOffset + s;
  const da = dst.byteOffset + d;
  let i = 0;
  if (((sa ^ da) & 3) === 0) {
    while (i < n && ((sa + i) & 3) !== 0) { dst[d + i] = src[s + i]!; i++; }
    const sw = wholeWords(src);
    const dw = wholeWords(dst);
    let si = (sa + i) >>> 2;
    let di = (da + i) >>> 2;
    const words = (n - i) >>> 2;
    const end4 = si + (words & ~3);
    while (si < end4) {
      dw[di] = sw[si]!;
      dw[di + 1] = sw[si + 1]!;
      dw[di + 2] = sw[si + 2]!;
      dw[di + 3] = sw[si + 3]!;
      si += 4;
      di += 4;
    }
    const end = end4 + (words & 3);
    while (si < end) dw[di++] = sw[si++]!;
    i += words << 2;
  } else {
    const sv = wholeView(src);
    const dv = wholeView(dst);
    const n4 = n & ~3;
    while (i < n4) {
      dv.setUint32(da + i, sv.getUint32(sa + i, true), true);
      i += 4;
    }
  }
  while (i < n) {
    dst[d + i] = src[s + i]!;
    i++;
  }
}
