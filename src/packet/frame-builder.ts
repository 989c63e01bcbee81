// The UDP frame pkt-gen sends: Ethernet + IPv4/IPv6 + UDP + a text payload,
// plus the per-packet edits it makes (address/port walk, random addresses,
// random sizes, sequence numbers, ping timestamps, pong swap). Every
// per-packet method writes in place and allocates nothing.

import { AddrRange, AddrRange4, AddrRange6, parseAddrRange, parseMac } from './addr.js';
import { checksumAdd, checksumAdjust, checksumApplyDelta, checksumFold, udpChecksumV4, udpChecksumV6 } from './checksum.js';
import {
  ETH_HLEN, ETH_P_IP, ETH_P_IPV6, IPDEFTTL, IPPROTO_UDP, IPTOS_LOWDELAY, IPV4_CSUM, IPV4_DST, IPV4_HLEN, IPV4_SRC,
  IPV4_TOTLEN, IPV6_DST, IPV6_HLEN, IPV6_PLEN, IPV6_SRC, IP_DF, UDP_CSUM, UDP_DPORT, UDP_HLEN, UDP_LEN, UDP_SPORT,
  etherPayload, ipv4HeaderLen, readU16, readU32, writeEther, writeU16, writeU32,
} from './headers.js';

/** Start of the UDP payload, where txseq/rxseq keep a 32-bit big-endian sequence number (IPv4). */
export const SEQ_OFFSET = ETH_HLEN + IPV4_HLEN + UDP_HLEN; // 42
/** Same for IPv6 frames. */
export const SEQ_OFFSET_V6 = ETH_HLEN + IPV6_HLEN + UDP_HLEN; // 62
/** ping/pong layout: u32 sequence, then {sec u32, nsec u32} (IPv4 offsets; add 20 for IPv6). */
export const PING_SEQ_OFFSET = SEQ_OFFSET; // 42
export const PING_TS_OFFSET = SEQ_OFFSET + 4; // 46

export const MIN_FRAME_V4 = SEQ_OFFSET;
export const MIN_FRAME_V6 = SEQ_OFFSET_V6;
export const MAX_FRAME = 65535;
export const DEFAULT_FRAME_LEN = 60;
export const PAYLOAD_TEXT = 'netmap-ts pkt-gen ';

export function seqOffset(family: 4 | 6): number {
  return family === 4 ? SEQ_OFFSET : SEQ_OFFSET_V6;
}

/** Offset of the UDP checksum in one of our frames (no IP options, no VLAN). */
function udpCsumAt(family: 4 | 6): number {
  return family === 4 ? ETH_HLEN + IPV4_HLEN + UDP_CSUM : ETH_HLEN + IPV6_HLEN + UDP_CSUM;
}

// ------------------------------------------------------------ field patching
// Each returns the ones'-complement difference (~old + new) of the words it
// rewrote, to be applied to the covering checksums in one go.

function put16(u8: Uint8Array, p: number, v: number): number {
  const old = (u8[p]! << 8) | u8[p + 1]!;
  u8[p] = v >>> 8;
  u8[p + 1] = v;
  return (~old & 0xffff) + (v & 0xffff);
}

// v may be given as int32 (v | 0) so that hot callers stay on small integers.
function put32(u8: Uint8Array, p: number, v: number): number {
  return put16(u8, p, v >>> 16) + put16(u8, p + 2, v & 0xffff);
}

function put128(u8: Uint8Array, p: number, a: Uint8Array): number {
  let d = 0;
  for (let i = 0; i < 16; i += 2) d += put16(u8, p + i, (a[i]! << 8) | a[i + 1]!);
  return d;
}

/** Apply a delta to a stored UDP checksum; keeps "0 = no checksum" and never produces 0. */
function fixUdp(u8: Uint8Array, p: number, delta: number, family: 4 | 6): void {
  const c = (u8[p]! << 8) | u8[p + 1]!;
  if (c === 0 && family === 4) return; // checksum disabled on this frame
  const n = checksumApplyDelta(c, delta);
  writeU16(u8, p, n === 0 ? 0xffff : n);
}

function inc128(a: Uint8Array): void {
  for (let i = 15; i >= 0; i--) {
    a[i] = (a[i]! + 1) & 0xff;
    if (a[i] !== 0) return;
  }
}

function eq128(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 15; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

function cmp128(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

// ------------------------------------------------------------ sequence / ping helpers

/** Store a big-endian u32 at frame offset `at` (in the UDP payload) and patch the UDP checksum. */
export function writePayloadU32(u8: Uint8Array, off: number, at: number, v: number, family: 4 | 6 = 4): void {
  fixUdp(u8, off + udpCsumAt(family), put32(u8, off + at, v), family);
}

/** txseq: write the sequence number at the start of the UDP payload, keeping the checksum valid. */
export function writeSeq(u8: Uint8Array, off: number, seq: number, family: 4 | 6 = 4): void {
  fixUdp(u8, off + udpCsumAt(family), put32(u8, off + seqOffset(family), seq), family);
}

export function readSeq(u8: Uint8Array, off: number, family: 4 | 6 = 4): number {
  return readU32(u8, off + seqOffset(family));
}

/** ping: sequence plus {sec, nsec} timestamp, checksum kept valid. */
export function writePingStamp(u8: Uint8Array, off: number, seq: number, sec: number, nsec: number, family: 4 | 6 = 4): void {
  const p = off + seqOffset(family);
  const d = put32(u8, p, seq) + put32(u8, p + 4, sec) + put32(u8, p + 8, nsec);
  fixUdp(u8, off + udpCsumAt(family), d, family);
}

export function readPingSec(u8: Uint8Array, off: number, family: 4 | 6 = 4): number {
  return readU32(u8, off + seqOffset(family) + 4);
}

export function readPingNsec(u8: Uint8Array, off: number, family: 4 | 6 = 4): number {
  return readU32(u8, off + seqOffset(family) + 8);
}

function swapBytes(u8: Uint8Array, a: number, b: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const t = u8[a + i]!;
    u8[a + i] = u8[b + i]!;
    u8[b + i] = t;
  }
}

/**
 * Turn a received UDP frame into its reply: swap MACs, IP addresses and UDP
 * ports. Swapping words inside a checksummed area leaves every checksum
 * unchanged, so nothing is recomputed. Non-UDP frames get only the MAC swap.
 * Returns true when the IP/UDP part was swapped too.
 */
export function swapForPong(u8: Uint8Array, off: number, len: number): boolean {
  if (len < ETH_HLEN) return false;
  swapBytes(u8, off, off + 6, 6);
  const l3 = etherPayload(u8, off, len);
  const type = (u8[off + l3 - 2]! << 8) | u8[off + l3 - 1]!;
  const ip = off + l3;
  if (type === ETH_P_IP) {
    if (len < l3 + IPV4_HLEN) return false;
    const hl = ipv4HeaderLen(u8, ip);
    if (u8[ip + 9] !== IPPROTO_UDP || hl < IPV4_HLEN || len < l3 + hl + UDP_HLEN) return false;
    swapBytes(u8, ip + IPV4_SRC, ip + IPV4_DST, 4);
    swapBytes(u8, ip + hl, ip + hl + 2, 2);
    return true;
  }
  if (type === ETH_P_IPV6) {
    if (len < l3 + IPV6_HLEN + UDP_HLEN || u8[ip + 6] !== IPPROTO_UDP) return false;
    swapBytes(u8, ip + IPV6_SRC, ip + IPV6_DST, 16);
    swapBytes(u8, ip + IPV6_HLEN, ip + IPV6_HLEN + 2, 2);
    return true;
  }
  return false;
}

// ------------------------------------------------------------ the template

export interface UdpFrameOptions {
  family: 4 | 6;
  srcMac: Uint8Array | string;
  dstMac: Uint8Array | string;
  /** parseAddrRange() result or its text form. */
  src: AddrRange | string;
  dst: AddrRange | string;
  /** Frame length without CRC: default 60, at least 42 (IPv4) / 62 (IPv6), at most 65535. */
  frameLen?: number;
  /** Fill the payload with this byte instead of the text pattern. */
  payloadByte?: number;
  /** Seed for randomize() (xorshift32); any non-zero 32-bit value. */
  seed?: number;
}

function checkRange(r: AddrRange, family: 4 | 6, name: string): void {
  const v4 = typeof r.ipStart === 'number';
  if (v4 !== (family === 4)) throw new TypeError(`UdpFrameTemplate: ${name} range is IPv${v4 ? 4 : 6} but family is ${family}`);
  for (const [k, p] of [['portStart', r.portStart], ['portEnd', r.portEnd]] as const) {
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new RangeError(`UdpFrameTemplate: ${name}.${k} ${p} is not a port number`);
  }
  if (r.portStart > r.portEnd) throw new RangeError(`UdpFrameTemplate: ${name} ports ${r.portStart}-${r.portEnd} are reversed`);
  if (v4) {
    const a = r as AddrRange4;
    for (const x of [a.ipStart, a.ipEnd]) {
      if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new RangeError(`UdpFrameTemplate: ${name} address ${x} is not a uint32`);
    }
    if (a.ipStart > a.ipEnd) throw new RangeError(`UdpFrameTemplate: ${name} addresses are reversed`);
  } else {
    const a = r as AddrRange6;
    if (a.ipStart.length !== 16 || a.ipEnd.length !== 16) throw new RangeError(`UdpFrameTemplate: ${name} IPv6 addresses must be 16 bytes`);
    if (cmp128(a.ipStart, a.ipEnd) > 0) throw new RangeError(`UdpFrameTemplate: ${name} addresses are reversed`);
  }
}

function toMac(m: Uint8Array | string, name: string): Uint8Array {
  if (typeof m === 'string') return parseMac(m);
  if (m.length !== 6) throw new RangeError(`UdpFrameTemplate: ${name} must be 6 bytes, got ${m.length}`);
  return Uint8Array.from(m);
}

/**
 * Builds and edits pkt-gen's UDP frame. The template keeps a cursor (current
 * src/dst address and port); write() emits the frame for the cursor and
 * advance() steps the cursor and patches a frame previously produced by this
 * template (write/advance/setLength/randomize) with incremental checksums.
 */
export class UdpFrameTemplate {
  readonly family: 4 | 6;
  readonly frameLen: number;
  /** Offset of the UDP payload in the frame (= seqOffset(family)). */
  readonly payloadOffset: number;
  readonly srcMac: Uint8Array;
  readonly dstMac: Uint8Array;
  /** True when the src or dst range has more than one address/port combination. */
  readonly hasRange: boolean;

  private readonly l4: number; // UDP header offset
  private readonly pattern: Uint8Array; // payload for the largest frame
  private readonly payload: Uint8Array; // view of pattern for frameLen
  private readonly payloadSum: number;

  // Ranges and cursor. Both IPv4 (numbers) and IPv6 (arrays) fields always
  // exist so the object shape never depends on the family.
  private readonly sPort0: number; private readonly sPort1: number; private sPort: number;
  private readonly dPort0: number; private readonly dPort1: number; private dPort: number;
  private readonly sIp0: number; private readonly sIp1: number; private sIp: number;
  private readonly dIp0: number; private readonly dIp1: number; private dIp: number;
  private readonly sIp60: Uint8Array; private readonly sIp61: Uint8Array; private readonly sIp6: Uint8Array;
  private readonly dIp60: Uint8Array; private readonly dIp61: Uint8Array; private readonly dIp6: Uint8Array;
  private rng: number;

  constructor(o: UdpFrameOptions) {
    const family = o.family;
    if (family !== 4 && family !== 6) throw new TypeError(`UdpFrameTemplate: family must be 4 or 6, got ${String(family)}`);
    this.family = family;
    const min = family === 4 ? MIN_FRAME_V4 : MIN_FRAME_V6;
    const len = o.frameLen ?? DEFAULT_FRAME_LEN;
    if (!Number.isInteger(len) || len < min || len > MAX_FRAME) {
      throw new RangeError(`UdpFrameTemplate: frameLen ${len} out of range ${min}..${MAX_FRAME} for IPv${family}`);
    }
    this.frameLen = len;
    this.payloadOffset = min;
    this.l4 = min - UDP_HLEN;
    this.srcMac = toMac(o.srcMac, 'srcMac');
    this.dstMac = toMac(o.dstMac, 'dstMac');
    const src = typeof o.src === 'string' ? parseAddrRange(o.src, family) : o.src;
    const dst = typeof o.dst === 'string' ? parseAddrRange(o.dst, family) : o.dst;
    checkRange(src, family, 'src');
    checkRange(dst, family, 'dst');

    this.sPort0 = this.sPort = src.portStart; this.sPort1 = src.portEnd;
    this.dPort0 = this.dPort = dst.portStart; this.dPort1 = dst.portEnd;
    const zero = new Uint8Array(16);
    if (family === 4) {
      const s = src as AddrRange4, d = dst as AddrRange4;
      this.sIp0 = this.sIp = s.ipStart; this.sIp1 = s.ipEnd;
      this.dIp0 = this.dIp = d.ipStart; this.dIp1 = d.ipEnd;
      this.sIp60 = this.sIp61 = this.dIp60 = this.dIp61 = zero;
      this.sIp6 = new Uint8Array(16); this.dIp6 = new Uint8Array(16);
    } else {
      const s = src as AddrRange6, d = dst as AddrRange6;
      this.sIp0 = this.sIp = this.sIp1 = this.dIp0 = this.dIp = this.dIp1 = 0;
      this.sIp60 = Uint8Array.from(s.ipStart); this.sIp61 = Uint8Array.from(s.ipEnd); this.sIp6 = Uint8Array.from(s.ipStart);
      this.dIp60 = Uint8Array.from(d.ipStart); this.dIp61 = Uint8Array.from(d.ipEnd); this.dIp6 = Uint8Array.from(d.ipStart);
    }
    this.hasRange = this.sPort0 !== this.sPort1 || this.dPort0 !== this.dPort1 ||
      (family === 4 ? this.sIp0 !== this.sIp1 || this.dIp0 !== this.dIp1
        : !eq128(this.sIp60, this.sIp61) || !eq128(this.dIp60, this.dIp61));

    this.pattern = new Uint8Array(MAX_FRAME - min);
    if (o.payloadByte !== undefined) {
      if (!Number.isInteger(o.payloadByte) || o.payloadByte < 0 || o.payloadByte > 255) {
        throw new RangeError(`UdpFrameTemplate: payloadByte ${o.payloadByte} is not a byte`);
      }
      this.pattern.fill(o.payloadByte);
    } else {
      for (let i = 0; i < this.pattern.length; i++) this.pattern[i] = PAYLOAD_TEXT.charCodeAt(i % PAYLOAD_TEXT.length);
    }
    this.payload = this.pattern.subarray(0, len - min);
    this.payloadSum = checksumAdd(this.payload, 0, this.payload.length, 0);
    const seed = (o.seed ?? 0x2545f491) | 0;
    this.rng = seed === 0 ? 0x2545f491 : seed;
  }

  // ---- cursor (for display and tests)
  get srcPort(): number { return this.sPort; }
  get dstPort(): number { return this.dPort; }
  /** Current IPv4 source address (0 for IPv6 templates). */
  get srcIp(): number { return this.sIp; }
  get dstIp(): number { return this.dIp; }
  /** Copy of the current IPv6 source address (all zero for IPv4 templates). */
  get srcIp6(): Uint8Array { return this.sIp6.slice(); }
  get dstIp6(): Uint8Array { return this.dIp6.slice(); }

  /** Put the cursor back at the start of both ranges. */
  reset(): void {
    this.sPort = this.sPort0; this.dPort = this.dPort0;
    this.sIp = this.sIp0; this.dIp = this.dIp0;
    this.sIp6.set(this.sIp60); this.dIp6.set(this.dIp60);
  }

  /** Write the complete frame for the current cursor at u8[off]; returns frameLen. */
  write(u8: Uint8Array, off: number): number {
    const len = this.frameLen;
    const l4 = off + this.l4;
    const ip = off + ETH_HLEN;
    const udpLen = len - this.l4;
    if (off < 0 || off + len > u8.length) throw new RangeError(`UdpFrameTemplate.write: ${len} bytes at ${off} exceed buffer of ${u8.length}`);
    if (this.family === 4) {
      writeEther(u8, off, this.dstMac, this.srcMac, ETH_P_IP);
      // Same header as pkt-gen: TOS low-delay, DF, TTL 64, id 0.
      u8[ip] = 0x45;
      u8[ip + 1] = IPTOS_LOWDELAY;
      writeU16(u8, ip + IPV4_TOTLEN, len - ETH_HLEN);
      writeU32(u8, ip + 4, IP_DF);
      u8[ip + 8] = IPDEFTTL;
      u8[ip + 9] = IPPROTO_UDP;
      writeU32(u8, ip + IPV4_SRC, this.sIp);
      writeU32(u8, ip + IPV4_DST, this.dIp);
      const sum = checksumAdd(u8, ip, 10, checksumAdd(u8, ip + 12, 8, 0));
      writeU16(u8, ip + IPV4_CSUM, ~checksumFold(sum) & 0xffff);
    } else {
      writeEther(u8, off, this.dstMac, this.srcMac, ETH_P_IPV6);
      writeU32(u8, ip, 0x60000000);
      writeU16(u8, ip + IPV6_PLEN, udpLen);
      u8[ip + 6] = IPPROTO_UDP;
      u8[ip + 7] = 64;
      u8.set(this.sIp6, ip + IPV6_SRC);
      u8.set(this.dIp6, ip + IPV6_DST);
    }
    writeU16(u8, l4 + UDP_SPORT, this.sPort);
    writeU16(u8, l4 + UDP_DPORT, this.dPort);
    writeU16(u8, l4 + UDP_LEN, udpLen);
    u8.set(this.payload, l4 + UDP_HLEN);
    // Pseudo-header + UDP header + precomputed payload sum.
    let sum = this.family === 4
      ? checksumAdd(u8, ip + IPV4_SRC, 8, IPPROTO_UDP + udpLen)
      : checksumAdd(u8, ip + IPV6_SRC, 32, IPPROTO_UDP + udpLen);
    sum = checksumAdd(u8, l4, 6, sum) + this.payloadSum;
    const c = ~checksumFold(sum) & 0xffff;
    writeU16(u8, l4 + UDP_CSUM, c === 0 ? 0xffff : c);
    return len;
  }

  /**
   * Random-size mode: make the frame at u8[off] `len` bytes long, rewriting
   * the length fields and checksums. Bytes beyond the frame's previous length
   * are filled with the payload pattern. Returns len.
   */
  setLength(u8: Uint8Array, off: number, len: number): number {
    const min = this.payloadOffset;
    if (len < min || len > MAX_FRAME || off + len > u8.length || (len | 0) !== len) {
      throw new RangeError(`UdpFrameTemplate.setLength: ${len} out of range ${min}..${MAX_FRAME} or past buffer end`);
    }
    const ip = off + ETH_HLEN;
    const l4 = off + this.l4;
    const udpLen = len - this.l4;
    const oldLen = this.family === 4 ? readU16(u8, ip + IPV4_TOTLEN) + ETH_HLEN : readU16(u8, ip + IPV6_PLEN) + this.l4;
    for (let i = oldLen; i < len; i++) u8[off + i] = this.pattern[i - min]!;
    if (this.family === 4) {
      const oldTot = readU16(u8, ip + IPV4_TOTLEN);
      writeU16(u8, ip + IPV4_TOTLEN, len - ETH_HLEN);
      writeU16(u8, ip + IPV4_CSUM, checksumAdjust(readU16(u8, ip + IPV4_CSUM), oldTot, len - ETH_HLEN));
      writeU16(u8, l4 + UDP_LEN, udpLen);
      writeU16(u8, l4 + UDP_CSUM, udpChecksumV4(u8, ip, l4, udpLen));
    } else {
      writeU16(u8, ip + IPV6_PLEN, udpLen);
      writeU16(u8, l4 + UDP_LEN, udpLen);
      writeU16(u8, l4 + UDP_CSUM, udpChecksumV6(u8, ip, l4, udpLen));
    }
    return len;
  }

  /**
   * Step to the next address/port combination and patch the frame at u8[off].
   * Order (as pkt-gen): source port fastest, then source address, then
   * destination port, then destination address; after the last one it wraps
   * to the start of every range.
   */
  advance(u8: Uint8Array, off: number): void {
    const ip = off + ETH_HLEN;
    const l4 = off + this.l4;
    let dPorts = 0; // covered by the UDP checksum only
    let dAddrs = 0; // covered by the UDP checksum and (IPv4) the header checksum
    if (this.sPort < this.sPort1) {
      dPorts = put16(u8, l4 + UDP_SPORT, ++this.sPort);
    } else {
      this.sPort = this.sPort0;
      dPorts = put16(u8, l4 + UDP_SPORT, this.sPort);
      if (this.family === 4) {
        if (this.sIp < this.sIp1) {
          this.sIp = this.sIp + 1;
          dAddrs = put32(u8, ip + IPV4_SRC, this.sIp | 0);
        } else {
          this.sIp = this.sIp0;
          dAddrs = put32(u8, ip + IPV4_SRC, this.sIp | 0);
          if (this.dPort < this.dPort1) {
            dPorts += put16(u8, l4 + UDP_DPORT, ++this.dPort);
          } else {
            this.dPort = this.dPort0;
            dPorts += put16(u8, l4 + UDP_DPORT, this.dPort);
            this.dIp = this.dIp < this.dIp1 ? this.dIp + 1 : this.dIp0;
            dAddrs += put32(u8, ip + IPV4_DST, this.dIp | 0);
          }
        }
      } else {
        if (!eq128(this.sIp6, this.sIp61)) {
          inc128(this.sIp6);
          dAddrs = put128(u8, ip + IPV6_SRC, this.sIp6);
        } else {
          this.sIp6.set(this.sIp60);
          dAddrs = put128(u8, ip + IPV6_SRC, this.sIp6);
          if (this.dPort < this.dPort1) {
            dPorts += put16(u8, l4 + UDP_DPORT, ++this.dPort);
          } else {
            this.dPort = this.dPort0;
            dPorts += put16(u8, l4 + UDP_DPORT, this.dPort);
            if (!eq128(this.dIp6, this.dIp61)) inc128(this.dIp6);
            else this.dIp6.set(this.dIp60);
            dAddrs += put128(u8, ip + IPV6_DST, this.dIp6);
          }
        }
      }
    }
    if (this.family === 4 && dAddrs !== 0) {
      writeU16(u8, ip + IPV4_CSUM, checksumApplyDelta(readU16(u8, ip + IPV4_CSUM), dAddrs));
    }
    fixUdp(u8, l4 + UDP_CSUM, dPorts + dAddrs, this.family);
  }

  private next(): number {
    // xorshift32
    let x = this.rng;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rng = x;
    return x; // int32; callers use the bits
  }

  /**
   * -z / -Z: random source and/or destination address and port, written into
   * the frame with incremental checksums (as pkt-gen, ignoring the ranges).
   * IPv4 randomizes all 32 address bits; IPv6 the low 32 bits (the prefix
   * stays). The cursor used by advance() is not changed.
   */
  randomize(u8: Uint8Array, off: number, src: boolean, dst: boolean): void {
    const ip = off + ETH_HLEN;
    const l4 = off + this.l4;
    let dPorts = 0, dAddrs = 0;
    const a = this.family === 4 ? 0 : 12; // address bytes to replace
    if (src) {
      dAddrs += put32(u8, ip + (this.family === 4 ? IPV4_SRC : IPV6_SRC) + a, this.next());
      dPorts += put16(u8, l4 + UDP_SPORT, this.next() >>> 16);
    }
    if (dst) {
      dAddrs += put32(u8, ip + (this.family === 4 ? IPV4_DST : IPV6_DST) + a, this.next());
      dPorts += put16(u8, l4 + UDP_DPORT, this.next() >>> 16);
    }
    if (this.family === 4 && dAddrs !== 0) {
      writeU16(u8, ip + IPV4_CSUM, checksumApplyDelta(readU16(u8, ip + IPV4_CSUM), dAddrs));
    }
    if (dPorts + dAddrs !== 0) fixUdp(u8, l4 + UDP_CSUM, dPorts + dAddrs, this.family);
  }

  /** txseq helper bound to this template's family. */
  writeSeq(u8: Uint8Array, off: number, seq: number): void {
    writeSeq(u8, off, seq, this.family);
  }
}
