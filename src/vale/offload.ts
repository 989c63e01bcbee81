// VALE between ports whose virtio-net header lengths differ (netmap's netmap_offloadings.c):
// the FrameConverter that core/deliver.ts calls for each packet going from a port with a
// header of A bytes to a port with B (A != B; each 0, 10 or 12).
//
//   A == 0, B > 0   a header asking for nothing is put before the frame (vnetClear: zeros,
//                   num_buffers 1 in the 12-byte form)
//   A > 0,  B > 0   the header is re-laid in the other length (num_buffers 1 in the 12-byte form)
//   A > 0,  B == 0  the header is removed, and what it asked for is done here:
//                   gso_type TCPV4/TCPV6/UDP_L4/UDP: the frame is cut into gso_size segments by
//                   the Segmenter (packet/gso.ts: what Linux's GSO makes), each its own frame;
//                   else NEEDS_CSUM: the checksum at csum_start + csum_offset is completed.
//
// The frame (an NS_MOREFRAG chain of up to 64 slots) and its header come from another process,
// so everything is checked before use: the header with vnetCheck(), the frame's length (at most
// VNET_MAX_FRAME after the header), the frame's own headers by the Segmenter. A packet that
// fails is refused (plan() returns 0) and counted in `refused`, which the forwarder adds to the
// sender's tx ring (RR.txBadVnet: the `bad_vnet_hdr` drop cause); nothing here throws on input.
//
// Output goes straight into the destination ring's buffers: a segment that fits a buffer is
// written there by the Segmenter; a frame longer than a buffer becomes a chain, copied piece by
// piece from the source chain (a completed checksum is summed from the source first and its
// two bytes patched into whichever slot holds them); only a segment longer than a buffer is
// written once into a scratch buffer and split from there. All state is allocated once.
//
// The source and the destination may be different memories: plan() reads the packet from the
// array it is given and fill() writes into the array it is given. VALE passes its region to
// both; `nmts bridge` and the interface forwarders (apps/common/port-forward.ts) pass two
// ports' regions, so the one conversion serves every place frames move between header lengths.
import { NETMAP_MAX_FRAGS, NS_MOREFRAG } from '../core/constants.js';
import type { FrameConverter, FrameTable } from '../core/deliver.js';
import { PR } from '../core/layout.js';
import type { Region } from '../core/region.js';
import { checksumFold } from '../packet/checksum.js';
import { sumWords, swapSum, wholeView, wholeWords } from '../packet/csum-complete.js';
import { Segmenter } from '../packet/gso.js';
import {
  VNET_BAD_CSUM_OFFSET, VNET_BAD_CSUM_START, VNET_BAD_SIZE, VNET_CSUM_OFFSET, VNET_CSUM_START, VNET_DST_TOO_SMALL, VNET_F_NEEDS_CSUM, VNET_FLAGS,
  VNET_GSO_ECN, VNET_GSO_NONE, VNET_GSO_SIZE, VNET_GSO_TYPE, VNET_HDRLEN, VNET_OK, vnetCheck, vnetClear, vnetWrite,
} from '../packet/vnet-hdr.js';

/**
 * The longest frame (after its header) converted: an IP packet of 65535 bytes behind Ethernet
 * with two VLAN tags. Longer is refused (a virtio-net frame is at most 64 KiB of IP).
 */
export const VNET_MAX_FRAME = 65535 + 14 + 8;
/** Refusal reason (beyond packet/vnet-hdr.ts's codes): a frame longer than VNET_MAX_FRAME. */
export const VNET_FRAME_TOO_LONG = 13;

/** Node's native byte copy between two arrays at any offsets (no subarray per copy). */
const bufferCopy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;

const MODE_COPY = 1;
const MODE_SEG = 2;
/** Scratch for one segment longer than a destination buffer (plus a word of slack). */
const SCRATCH = (VNET_MAX_FRAME + 8 + 63) & ~63;

/**
 * The virtio-net header length of VALE port record `rec`: 0, 10 or 12, or -1 when the record
 * holds anything else (a planted or damaged file): a user of the value checks for -1.
 */
export function portVnetHdrLen(region: Region, rec: number): number {
  const v = region.u32[(rec + PR.vnetHdrLen) >> 2];
  return v === 0 || v === 10 || v === 12 ? v : -1;
}

export class VnetConverter implements FrameConverter {
  /** Header lengths: the sender's, the destination's (set by setup()). */
  srcHdr = 0;
  dstHdr = 0;
  frames = 0;
  /** Packets refused since the last takeRefused(), and the last reason (VNET_* code). */
  refused = 0;
  lastReason = VNET_OK;

  private readonly seg = new Segmenter();
  // the frame after its header, as pieces of the region: offset, length, position in the frame
  private readonly pOff = new Float64Array(NETMAP_MAX_FRAGS);
  private readonly pLen = new Uint32Array(NETMAP_MAX_FRAGS);
  private readonly pPos = new Uint32Array(NETMAP_MAX_FRAGS + 1);
  private nPieces = 0;
  private mode = 0;
  // the header's fields (read once: the sender may change its buffer meanwhile)
  private hFlags = 0;
  private hGsoType = 0;
  private hHdrLen = 0;
  private hGsoSize = 0;
  private hCsumStart = 0;
  private hCsumOffset = 0;
  /** COPY: output length (header + frame); the completed checksum's position (-1: none) and value. */
  private outLen = 0;
  private csumAt = -1;
  private csumVal = 0;
  /** SEG: slots per segment but the last, slots of the last; segment lengths. */
  private segSlots = 1;
  private lastSlots = 1;
  private segLen0 = 0;
  private segLenLast = 0;
  /** The memory plan() read the packet from (fill() reads its bytes from here). */
  private src: Uint8Array = new Uint8Array(0);
  private readonly scratch = new Uint8Array(SCRATCH);
  private readonly scratch32 = new Uint32Array(this.scratch.buffer);

  /** Convert from a port with an A-byte header to one with B (both 0, 10 or 12). */
  setup(srcHdr: number, dstHdr: number): void {
    this.srcHdr = srcHdr;
    this.dstHdr = dstHdr;
  }

  /** Packets refused since the last call (and resets the count). */
  takeRefused(): number {
    const n = this.refused;
    this.refused = 0;
    return n;
  }

  private refuse(reason: number): number {
    this.refused++;
    this.lastReason = reason;
    this.frames = 0;
    return 0;
  }

  plan(u8: Uint8Array, ft: FrameTable, p: number, bufSize: number): number {
    const A = this.srcHdr, B = this.dstHdr;
    this.src = u8;
    const nf = ft.frags[p];
    if (!(nf >= 1 && nf <= NETMAP_MAX_FRAGS) || p + nf > ft.cap) return this.refuse(VNET_BAD_SIZE);
    const len0 = ft.len[p];
    if (len0 < A) return this.refuse(VNET_BAD_SIZE);
    // the pieces of the frame after the header
    let pos = 0, n = 0;
    for (let f = p; f < p + nf; f++) {
      const l = f === p ? len0 - A : ft.len[f];
      if (l === 0) continue;
      this.pOff[n] = f === p ? ft.src[f] + A : ft.src[f];
      this.pLen[n] = l;
      this.pPos[n] = pos;
      pos += l;
      n++;
    }
    this.pPos[n] = pos;
    this.nPieces = n;
    if (pos > VNET_MAX_FRAME) return this.refuse(VNET_FRAME_TOO_LONG);
    if (A > 0) {
      const h = ft.src[p];
      const r = vnetCheck(u8, h, A, pos);
      if (r !== VNET_OK) return this.refuse(r);
      this.hFlags = u8[h + VNET_FLAGS];
      this.hGsoType = u8[h + VNET_GSO_TYPE];
      this.hHdrLen = u8[h + VNET_HDRLEN] | (u8[h + VNET_HDRLEN + 1] << 8);
      this.hGsoSize = u8[h + VNET_GSO_SIZE] | (u8[h + VNET_GSO_SIZE + 1] << 8);
      this.hCsumStart = u8[h + VNET_CSUM_START] | (u8[h + VNET_CSUM_START + 1] << 8);
      this.hCsumOffset = u8[h + VNET_CSUM_OFFSET] | (u8[h + VNET_CSUM_OFFSET + 1] << 8);
      // (vnetCheck read the same bytes; a sender changing them meanwhile gets what it wrote
      // second checked below as well, by the Segmenter or the checksum positions)
    } else {
      this.hFlags = 0;
      this.hGsoType = VNET_GSO_NONE;
    }
    if (B === 0 && (this.hGsoType & ~VNET_GSO_ECN) !== VNET_GSO_NONE) return this.planSegments(u8, n, bufSize);
    this.mode = MODE_COPY;
    this.csumAt = -1;
    if (B === 0 && (this.hFlags & VNET_F_NEEDS_CSUM) !== 0) {
      const start = this.hCsumStart, at = start + this.hCsumOffset;
      if (!(start < pos)) return this.refuse(VNET_BAD_CSUM_START);
      if (!(at + 2 <= pos && (this.hCsumOffset & 1) === 0)) return this.refuse(VNET_BAD_CSUM_OFFSET);
      this.csumVal = this.checksum(u8, start, pos - start);
      this.csumAt = at;
    }
    this.outLen = B + pos;
    this.frames = 1;
    const slots = this.outLen <= bufSize ? 1 : Math.ceil(this.outLen / bufSize);
    // (a chain longer than NETMAP_MAX_FRAGS slots could not be read back as one frame)
    return slots <= NETMAP_MAX_FRAGS ? slots : this.refuse(VNET_DST_TOO_SMALL);
  }

  private planSegments(u8: Uint8Array, n: number, bufSize: number): number {
    const s = this.seg;
    for (let i = 0; i < n; i++) { s.fragOff[i] = this.pOff[i]; s.fragLen[i] = this.pLen[i]; }
    const r = s.begin(u8, n, this.hGsoType, this.hGsoSize);
    if (r !== VNET_OK) return this.refuse(r);
    this.mode = MODE_SEG;
    const count = s.count;
    this.segLen0 = s.segmentLength(0);
    this.segLenLast = s.segmentLength(count - 1);
    this.segSlots = Math.ceil(this.segLen0 / bufSize);
    this.lastSlots = Math.ceil(this.segLenLast / bufSize);
    if (this.segSlots > NETMAP_MAX_FRAGS || this.segLen0 > SCRATCH - 8) return this.refuse(VNET_DST_TOO_SMALL);
    this.frames = count;
    return (count - 1) * this.segSlots + this.lastSlots;
  }

  fill(u8: Uint8Array, j: number, dst: number, bufSize: number): number {
    if (this.mode === MODE_SEG) {
      const s = this.seg;
      if (this.segSlots === 1) { // every segment fits a buffer: written in place
        const len = s.write(j, u8, dst, bufSize);
        return len > 0 ? len : 0;
      }
      // segments longer than a buffer: each is written once into the scratch, then split
      const per = this.segSlots;
      const i = Math.floor(j / per), part = j - i * per;
      const segLen = i === s.count - 1 ? this.segLenLast : this.segLen0;
      if (part === 0 && s.write(i, this.scratch, 0, SCRATCH) < 0) return 0;
      const from = part * bufSize;
      if (from >= segLen) return 0; // (the last segment may take fewer slots: never asked)
      const len = segLen - from < bufSize ? segLen - from : bufSize;
      this.copyFromScratch(u8, from, dst, len);
      return len | (from + len < segLen ? NS_MOREFRAG << 16 : 0);
    }
    // MODE_COPY: output byte q is the header's for q < B, else frame byte q - B
    const B = this.dstHdr;
    const q0 = j * bufSize;
    const left = this.outLen - q0;
    const len = left < bufSize ? left : bufSize;
    let d = dst, q = q0, want = len;
    if (j === 0 && B > 0) {
      if (this.srcHdr === 0) vnetClear(u8, dst, B);
      else vnetWrite(u8, dst, B, this.hFlags, this.hGsoType, this.hHdrLen, this.hGsoSize, this.hCsumStart, this.hCsumOffset);
      d += B; q += B; want -= B;
    }
    this.copyFrame(this.src, u8, q - B, d, want);
    const at = this.csumAt;
    if (at >= 0) { // B == 0 here: output positions are frame positions
      const v = this.csumVal;
      if (at >= q0 && at < q0 + len) u8[dst + at - q0] = v >>> 8;
      if (at + 1 >= q0 && at + 1 < q0 + len) u8[dst + at + 1 - q0] = v & 0xff;
    }
    return len | (len < left ? NS_MOREFRAG << 16 : 0);
  }

  /** Copy frame bytes [pos, pos+len) (in `src`, across pieces) to offset d of `dst`. */
  private copyFrame(src: Uint8Array, dst: Uint8Array, pos: number, d: number, len: number): void {
    if (len <= 0) return;
    let k = 0;
    while (k + 1 < this.nPieces && this.pPos[k + 1] <= pos) k++;
    while (len > 0 && k < this.nPieces) {
      const inPiece = pos - this.pPos[k];
      const avail = this.pLen[k] - inPiece;
      const n = avail < len ? avail : len;
      const s = this.pOff[k] + inPiece;
      if (n <= 32) for (let i = 0; i < n; i++) dst[d + i] = src[s + i];
      else if (src === dst) dst.copyWithin(d, s, s + n);
      else bufferCopy.call(src, dst, d, s, s + n); // memmove between memories, no view made
      pos += n; d += n; len -= n; k++;
    }
  }

  /** Copy scratch bytes [from, from+len) to region offset d (a buffer: 64-byte aligned, from a multiple of bufSize). */
  private copyFromScratch(u8: Uint8Array, from: number, d: number, len: number): void {
    const w = wholeWords(u8), sw = this.scratch32;
    const words = (len + 3) >>> 2; // the buffer and the scratch both have room for the last word
    let si = from >>> 2, di = (u8.byteOffset + d) >>> 2;
    const end = si + words;
    while (si < end) w[di++] = sw[si++];
  }

  /** The completed checksum of frame bytes [start, start+len): summed from the pieces, 0 sent as 0xffff. */
  private checksum(u8: Uint8Array, start: number, len: number): number {
    const dv = wholeView(u8), w = wholeWords(u8), base = u8.byteOffset;
    let k = 0;
    while (k + 1 < this.nPieces && this.pPos[k + 1] <= start) k++;
    let sum = 0, rel = 0, pos = start;
    while (len > 0 && k < this.nPieces) {
      const inPiece = pos - this.pPos[k];
      const avail = this.pLen[k] - inPiece;
      const n = avail < len ? avail : len;
      const abs = base + this.pOff[k] + inPiece;
      // a piece that starts at an odd distance from `start` adds its sum byte-swapped
      if ((rel & 1) === 0) sum = sumWords(dv, abs, n, sum, w);
      else sum += swapSum(checksumFold(sumWords(dv, abs, n, 0, w)));
      rel += n; pos += n; len -= n; k++;
    }
    const c = ~checksumFold(sum) & 0xffff;
    return c === 0 ? 0xffff : c;
  }
}
