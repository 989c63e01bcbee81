// VXLAN (RFC 7348): Ethernet frames carried in UDP, port 4789, with an 8-byte header holding a
// 24-bit VNI. Encapsulation adds 50 bytes on the wire: outer Ethernet (14), IPv4 (20), UDP (8),
// VXLAN (8); of those, 36 count against the underlay's MTU, so an inner frame (its own
// Ethernet header included) may be at most MTU - 36 bytes (an inner MTU of MTU - 50, which is
// what Linux gives a vxlan device by default).
//
// Helpers for the header layers, in place on byte arrays, allocating nothing:
//  * writeVxlanHeader / readVxlanHeader: the 8-byte header (flags 0x08 = "VNI valid", VNI);
//    a header with other flag or reserved bits set is refused, as Linux's vxlan does.
//  * writeOuterIpv4Udp: the outer IPv4 header (TTL, DF, header checksum) and UDP header
//    (source port from the inner flow hash, so the underlay's ECMP/RSS spreads flows;
//    checksum 0, which RFC 7348 allows over IPv4 and Linux sends by default).
//  * writeOuterIpv6Udp: the outer IPv6 header (hop limit, flow label 0) and UDP header with its
//    checksum, which IPv6 makes mandatory (RFC 8200 §8.1; Linux's vxlan computes it unless
//    udp6zerocsumtx is set): the caller passes the sum of the payload, so a frame flooded to
//    several VTEPs is summed once and each copy adds only its pseudo-header.
//  * VTEP addresses in one 16-byte form for both families (IPv6 as is, IPv4 as ::ffff:a.b.c.d,
//    so the two never compare equal): parseVtep / formatVtep, for the FDB and the port.
//  * encapsulate / decapsulate: the whole 50-byte outer stack, for paths that build Ethernet
//    frames themselves (tests, benchmark frames, a raw-interface path), with every field of a
//    received frame checked and a cause code for each reason to drop it.
import { formatIPv6, parseIPv6 } from './addr.js';
import { checksumAdd, checksumFold } from './checksum.js';
import { symmetricFlowHashBits } from './flow-hash.js';

export const VXLAN_PORT = 4789;
export const VXLAN_HLEN = 8;
/** Outer Ethernet + IPv4 + UDP + VXLAN. */
export const VXLAN_OVERHEAD = 50;
/** The part of the overhead that counts against the underlay MTU (IPv4 + UDP + VXLAN). */
export const VXLAN_IP_OVERHEAD = 36;
/** The outer IPv4 + UDP + VXLAN headers, as written in front of an inner frame on a raw IP socket. */
export const VXLAN_IP_HLEN = 36;
/** Over an IPv6 underlay: IPv6 (40) + UDP + VXLAN count against the MTU; 70 bytes on the wire. */
export const VXLAN_IP6_OVERHEAD = 56;
export const VXLAN_IP6_HLEN = 56;
/** Flags byte of a valid header: the I bit (VNI present). */
export const VXLAN_FLAG_VNI = 0x08;
export const VNI_MAX = 0xffffff;

/** RFC 7348 §5: the source port should come from the dynamic range 49152-65535. */
export const VXLAN_SPORT_MIN = 49152;
export const VXLAN_SPORT_MAX = 65535;

/** Why a received datagram is not delivered (negative results of readVxlanHeader / decapsulate). */
export const VX_SHORT = -1; // shorter than the headers plus an inner Ethernet header
export const VX_BAD_FLAGS = -2; // I flag clear, or reserved bits / flags set
export const VX_NOT_IPV4 = -3; // outer EtherType, IP version or header length wrong
export const VX_NOT_UDP = -4; // not UDP, or not to the VXLAN port
export const VX_FRAGMENT = -5; // an outer IP fragment (MF set or an offset)
export const VX_BAD_LENGTH = -6; // IP total length or UDP length inconsistent with the frame

export const VX_CAUSES: Readonly<Record<number, string>> = {
  [VX_SHORT]: 'short', [VX_BAD_FLAGS]: 'bad-flags', [VX_NOT_IPV4]: 'not-ipv4', [VX_NOT_UDP]: 'not-udp',
  [VX_FRAGMENT]: 'fragment', [VX_BAD_LENGTH]: 'bad-length',
};

/** Write the 8-byte VXLAN header for `vni` at u8[off]. */
export function writeVxlanHeader(u8: Uint8Array, off: number, vni: number): void {
  u8[off] = VXLAN_FLAG_VNI;
  u8[off + 1] = 0;
  u8[off + 2] = 0;
  u8[off + 3] = 0;
  u8[off + 4] = (vni >>> 16) & 0xff;
  u8[off + 5] = (vni >>> 8) & 0xff;
  u8[off + 6] = vni & 0xff;
  u8[off + 7] = 0;
}

/**
 * The VNI of the VXLAN header at u8[off..off+len) (len: what the datagram holds from off),
 * or VX_SHORT (no room for the header and an inner Ethernet header), VX_BAD_FLAGS.
 */
export function readVxlanHeader(u8: Uint8Array, off: number, len: number): number {
  if (len < VXLAN_HLEN + 14) return VX_SHORT;
  if (u8[off] !== VXLAN_FLAG_VNI || u8[off + 1] !== 0 || u8[off + 2] !== 0 || u8[off + 3] !== 0 || u8[off + 7] !== 0) return VX_BAD_FLAGS;
  return (u8[off + 4] << 16) | (u8[off + 5] << 8) | u8[off + 6];
}

/** The UDP source port for an inner frame: its symmetric flow hash folded into 49152-65535. */
export function vxlanSourcePort(u8: Uint8Array, off: number, len: number): number {
  const h = symmetricFlowHashBits(u8, off, len);
  return VXLAN_SPORT_MIN + ((h ^ (h >>> 16)) & 0x3fff);
}

/** The outer fields of a tunnel, set once; encapsulation reads them, per frame it writes nothing here. */
export interface VxlanOuter {
  vni: number;
  /** IPv4 addresses as unsigned 32-bit numbers (a.b.c.d = a << 24 | ...). */
  src: number;
  dst: number;
  ttl: number;
  df: boolean;
  dstPort: number;
  /** Outer Ethernet addresses (encapsulate only), 6 bytes each. */
  srcMac?: Uint8Array;
  dstMac?: Uint8Array;
}

/**
 * IPv4 + UDP headers at u8[off] for a VXLAN payload (VXLAN header and inner frame) of
 * `payloadLen` bytes: 28 bytes written, IP checksum computed, UDP checksum 0.
 */
export function writeOuterIpv4Udp(u8: Uint8Array, off: number, o: VxlanOuter, srcPort: number, payloadLen: number, ipId = 0): void {
  const total = 28 + payloadLen;
  u8[off] = 0x45;
  u8[off + 1] = 0;
  u8[off + 2] = total >>> 8;
  u8[off + 3] = total & 0xff;
  u8[off + 4] = (ipId >>> 8) & 0xff;
  u8[off + 5] = ipId & 0xff;
  u8[off + 6] = o.df ? 0x40 : 0;
  u8[off + 7] = 0;
  u8[off + 8] = o.ttl;
  u8[off + 9] = 17;
  u8[off + 10] = 0;
  u8[off + 11] = 0;
  writeU32(u8, off + 12, o.src);
  writeU32(u8, off + 16, o.dst);
  const c = ~checksumFold(checksumAdd(u8, off, 20, 0)) & 0xffff;
  u8[off + 10] = c >>> 8;
  u8[off + 11] = c & 0xff;
  const u = off + 20, ulen = 8 + payloadLen;
  u8[u] = srcPort >>> 8;
  u8[u + 1] = srcPort & 0xff;
  u8[u + 2] = o.dstPort >>> 8;
  u8[u + 3] = o.dstPort & 0xff;
  u8[u + 4] = ulen >>> 8;
  u8[u + 5] = ulen & 0xff;
  u8[u + 6] = 0; // no checksum (RFC 7348 §5, Linux's default over IPv4)
  u8[u + 7] = 0;
}

/**
 * IPv6 + UDP headers at u8[off] (48 bytes) for a VXLAN payload of `payloadLen` bytes whose
 * unfolded 16-bit big-endian word sum is `payloadSum` (from an even offset: checksumAdd or
 * sumWords): source src[srcOff..+16), destination dst[dstOff..+16), the UDP checksum over the
 * pseudo-header, the UDP header and the payload (0 sent as 0xffff).
 */
export function writeOuterIpv6Udp(u8: Uint8Array, off: number, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number,
  hopLimit: number, srcPort: number, dstPort: number, payloadLen: number, payloadSum: number): void {
  const ulen = 8 + payloadLen;
  u8[off] = 0x60; u8[off + 1] = 0; u8[off + 2] = 0; u8[off + 3] = 0; // version 6, traffic class 0, flow label 0
  u8[off + 4] = ulen >>> 8;
  u8[off + 5] = ulen & 0xff;
  u8[off + 6] = 17;
  u8[off + 7] = hopLimit;
  let sum = payloadSum + 17 + ulen + ulen + srcPort + dstPort; // pseudo-header next header and length; UDP header
  for (let i = 0; i < 16; i += 2) {
    const a = (src[srcOff + i] << 8) | src[srcOff + i + 1], b = (dst[dstOff + i] << 8) | dst[dstOff + i + 1];
    u8[off + 8 + i] = src[srcOff + i]; u8[off + 9 + i] = src[srcOff + i + 1];
    u8[off + 24 + i] = dst[dstOff + i]; u8[off + 25 + i] = dst[dstOff + i + 1];
    sum += a + b;
  }
  const c = ~checksumFold(sum) & 0xffff;
  const u = off + 40;
  u8[u] = srcPort >>> 8;
  u8[u + 1] = srcPort & 0xff;
  u8[u + 2] = dstPort >>> 8;
  u8[u + 3] = dstPort & 0xff;
  u8[u + 4] = ulen >>> 8;
  u8[u + 5] = ulen & 0xff;
  const cs = c === 0 ? 0xffff : c;
  u8[u + 6] = cs >>> 8;
  u8[u + 7] = cs & 0xff;
}

/** The word sum of the 8-byte VXLAN header for `vni` (what checksumAdd gives for it). */
export function vxlanHeaderSum(vni: number): number {
  return (VXLAN_FLAG_VNI << 8) + ((vni >>> 8) & 0xffff) + ((vni & 0xff) << 8);
}

/**
 * A VTEP address as 16 bytes (IPv6 as is, IPv4 as ::ffff:a.b.c.d), or null when `text` is
 * neither a dotted quad nor an IPv6 address.
 */
export function parseVtep(text: string): Uint8Array | null {
  const v4 = parseIpv4(text);
  if (!Number.isNaN(v4)) {
    const a = new Uint8Array(16);
    a[10] = 0xff; a[11] = 0xff;
    writeU32(a, 12, v4);
    return a;
  }
  if (!text.includes(':') || text.includes('%')) return null;
  try {
    return parseIPv6(text);
  } catch {
    return null;
  }
}

/** Whether the 16-byte VTEP address at u8[off] is an IPv4 one (::ffff:a.b.c.d). */
export function vtepIsIpv4(u8: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (u8[off + i] !== 0) return false;
  return u8[off + 10] === 0xff && u8[off + 11] === 0xff;
}

/** The 16-byte VTEP address at u8[off] as text: a dotted quad for IPv4, RFC 5952 for IPv6. */
export function formatVtep(u8: Uint8Array, off: number): string {
  return vtepIsIpv4(u8, off) ? formatIpv4(readU32(u8, off + 12)) : formatIPv6(u8, off);
}

function writeU32(u8: Uint8Array, off: number, v: number): void {
  u8[off] = v >>> 24;
  u8[off + 1] = (v >>> 16) & 0xff;
  u8[off + 2] = (v >>> 8) & 0xff;
  u8[off + 3] = v & 0xff;
}

export function readU32(u8: Uint8Array, off: number): number {
  return ((u8[off] << 24) | (u8[off + 1] << 16) | (u8[off + 2] << 8) | u8[off + 3]) >>> 0;
}

/**
 * Encapsulate the inner frame src[srcOff..+len) into dst at dstOff: outer Ethernet (o.dstMac,
 * o.srcMac, IPv4), IPv4, UDP, VXLAN, the frame. Returns the outer frame's length (len + 50).
 * src and dst may be the same array when the frame lies at least 50 bytes after dstOff.
 */
export function encapsulate(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, len: number, o: VxlanOuter, ipId = 0): number {
  const inner = dstOff + VXLAN_OVERHEAD;
  if (dst !== src || srcOff !== inner) copyBytes(dst, inner, src, srcOff, len);
  const sport = vxlanSourcePort(dst, inner, len);
  const m = o.dstMac, s = o.srcMac;
  for (let i = 0; i < 6; i++) {
    dst[dstOff + i] = m ? m[i] : 0xff;
    dst[dstOff + 6 + i] = s ? s[i] : 0;
  }
  dst[dstOff + 12] = 0x08;
  dst[dstOff + 13] = 0x00;
  writeOuterIpv4Udp(dst, dstOff + 14, o, sport, VXLAN_HLEN + len, ipId);
  writeVxlanHeader(dst, dstOff + 42, o.vni);
  return len + VXLAN_OVERHEAD;
}

function copyBytes(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): void {
  if (dst === src) { dst.copyWithin(dOff, sOff, sOff + len); return; }
  for (let i = 0; i < len; i++) dst[dOff + i] = src[sOff + i];
}

/** Where decapsulate found things: set on success (the inner frame, and the outer source for learning). */
export interface VxlanFound {
  vni: number;
  innerOff: number;
  innerLen: number;
  /** outer IPv4 source (the remote VTEP) */
  src: number;
  srcPort: number;
}

/**
 * Check an outer Ethernet frame u8[off..off+len) as VXLAN on UDP port `port` and fill `found`.
 * Returns 0, or a negative cause (VX_*). The VNI is returned in found.vni for the caller to
 * compare (a wrong VNI is the caller's cause).
 */
export function decapsulate(u8: Uint8Array, off: number, len: number, port: number, found: VxlanFound): number {
  if (len < VXLAN_OVERHEAD + 14) return VX_SHORT;
  if (u8[off + 12] !== 0x08 || u8[off + 13] !== 0x00) return VX_NOT_IPV4;
  const ip = off + 14;
  if (u8[ip] !== 0x45) return VX_NOT_IPV4; // IPv4 without options, as every VTEP sends
  if (u8[ip + 9] !== 17) return VX_NOT_UDP;
  if ((u8[ip + 6] & 0x3f) !== 0 || u8[ip + 7] !== 0) return VX_FRAGMENT;
  const total = (u8[ip + 2] << 8) | u8[ip + 3];
  if (total < 28 + VXLAN_HLEN + 14 || total > len - 14) return VX_BAD_LENGTH;
  const udp = ip + 20;
  if (((u8[udp + 2] << 8) | u8[udp + 3]) !== port) return VX_NOT_UDP;
  const ulen = (u8[udp + 4] << 8) | u8[udp + 5];
  if (ulen !== total - 20) return VX_BAD_LENGTH;
  const vni = readVxlanHeader(u8, udp + 8, ulen - 8);
  if (vni < 0) return vni;
  found.vni = vni;
  found.innerOff = udp + 16;
  found.innerLen = ulen - 16;
  found.src = readU32(u8, ip + 12);
  found.srcPort = (u8[udp] << 8) | u8[udp + 1];
  return 0;
}

/** 'a.b.c.d' as an unsigned 32-bit number; NaN when it is not a dotted quad. */
export function parseIpv4(text: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return NaN;
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) return NaN;
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

export function formatIpv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}
