// Ethernet / IPv4 / IPv6 / UDP header layouts and in-place accessors.
// All multi-byte fields are big-endian on the wire.

import { ipv4HeaderChecksum } from './checksum.js';

export const ETH_ALEN = 6;
export const ETH_HLEN = 14;
export const ETH_ZLEN = 60; // minimum frame without CRC
export const VLAN_HLEN = 4;
export const IPV4_HLEN = 20; // without options
export const IPV6_HLEN = 40;
export const UDP_HLEN = 8;

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
export const ETH_P_IPV6 = 0x86dd;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

export const IP_DF = 0x4000;
export const IPTOS_LOWDELAY = 0x10;
export const IPDEFTTL = 64;

// Field offsets, relative to the start of each header.
export const ETH_DST = 0;
export const ETH_SRC = 6;
export const ETH_TYPE = 12;
export const IPV4_TOTLEN = 2;
export const IPV4_ID = 4;
export const IPV4_TTL = 8;
export const IPV4_PROTO = 9;
export const IPV4_CSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
export const IPV6_PLEN = 4;
export const IPV6_NXT = 6;
export const IPV6_HLIM = 7;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;
export const UDP_SPORT = 0;
export const UDP_DPORT = 2;
export const UDP_LEN = 4;
export const UDP_CSUM = 6;

// ------------------------------------------------------------ raw fields

export function readU16(u8: Uint8Array, off: number): number {
  return (u8[off]! << 8) | u8[off + 1]!;
}

export function writeU16(u8: Uint8Array, off: number, v: number): void {
  u8[off] = v >>> 8;
  u8[off + 1] = v;
}

export function readU32(u8: Uint8Array, off: number): number {
  return ((u8[off]! << 24) | (u8[off + 1]! << 16) | (u8[off + 2]! << 8) | u8[off + 3]!) >>> 0;
}

export function writeU32(u8: Uint8Array, off: number, v: number): void {
  u8[off] = v >>> 24;
  u8[off + 1] = v >>> 16;
  u8[off + 2] = v >>> 8;
  u8[off + 3] = v;
}

// ------------------------------------------------------------ Ethernet

/** Write dst, src MAC and ethertype; returns the offset just past the header. */
export function writeEther(u8: Uint8Array, off: number, dst: Uint8Array, src: Uint8Array, type: number): number {
  for (let i = 0; i < 6; i++) {
    u8[off + i] = dst[i]!;
    u8[off + 6 + i] = src[i]!;
  }
  writeU16(u8, off + ETH_TYPE, type);
  return off + ETH_HLEN;
}

/** The ethertype field at off+12 (0x8100 for a VLAN-tagged frame; see etherPayload). */
export function readEtherType(u8: Uint8Array, off: number): number {
  return (u8[off + ETH_TYPE]! << 8) | u8[off + ETH_TYPE + 1]!;
}

/**
 * Offset of the L3 header after skipping up to two VLAN tags (802.1Q/802.1ad),
 * relative to the frame start; the inner type is at the returned value - 2.
 */
export function etherPayload(u8: Uint8Array, off: number, len: number): number {
  let p = ETH_HLEN;
  for (let i = 0; i < 2 && p + VLAN_HLEN <= len; i++) {
    const t = (u8[off + p - 2]! << 8) | u8[off + p - 1]!;
    if (t !== ETH_P_8021Q && t !== ETH_P_8021AD) break;
    p += VLAN_HLEN;
  }
  return p;
}

// ------------------------------------------------------------ IPv4

export interface IPv4Fields {
  src: number; // uint32, host order
  dst: number;
  proto: number;
  totalLen: number;
  ttl?: number; // default 64
  id?: number; // default 0
  tos?: number; // default 0
  df?: boolean; // set Don't Fragment, default false
}

/** Write a 20-byte IPv4 header (no options) with its checksum; returns the offset past it. */
export function writeIPv4(u8: Uint8Array, off: number, f: IPv4Fields): number {
  u8[off] = 0x45;
  u8[off + 1] = f.tos ?? 0;
  writeU16(u8, off + IPV4_TOTLEN, f.totalLen);
  writeU16(u8, off + IPV4_ID, f.id ?? 0);
  writeU16(u8, off + 6, f.df ? IP_DF : 0);
  u8[off + IPV4_TTL] = f.ttl ?? IPDEFTTL;
  u8[off + IPV4_PROTO] = f.proto;
  writeU16(u8, off + IPV4_CSUM, 0);
  writeU32(u8, off + IPV4_SRC, f.src);
  writeU32(u8, off + IPV4_DST, f.dst);
  writeU16(u8, off + IPV4_CSUM, ipv4HeaderChecksum(u8, off));
  return off + IPV4_HLEN;
}

export function ipv4HeaderLen(u8: Uint8Array, ipOff: number): number {
  return (u8[ipOff]! & 0x0f) << 2;
}
export function readIPv4Src(u8: Uint8Array, ipOff: number): number {
  return readU32(u8, ipOff + IPV4_SRC);
}
export function readIPv4Dst(u8: Uint8Array, ipOff: number): number {
  return readU32(u8, ipOff + IPV4_DST);
}

// ------------------------------------------------------------ IPv6

export interface IPv6Fields {
  src: Uint8Array; // 16 bytes
  dst: Uint8Array;
  nextHeader: number;
  payloadLen: number;
  hopLimit?: number; // default 64
  trafficClass?: number; // default 0
  flowLabel?: number; // default 0
}

/** Write a 40-byte IPv6 header; returns the offset past it. */
export function writeIPv6(u8: Uint8Array, off: number, f: IPv6Fields): number {
  const tc = f.trafficClass ?? 0;
  const fl = f.flowLabel ?? 0;
  u8[off] = 0x60 | (tc >>> 4);
  u8[off + 1] = ((tc & 0x0f) << 4) | ((fl >>> 16) & 0x0f);
  writeU16(u8, off + 2, fl & 0xffff);
  writeU16(u8, off + IPV6_PLEN, f.payloadLen);
  u8[off + IPV6_NXT] = f.nextHeader;
  u8[off + IPV6_HLIM] = f.hopLimit ?? 64;
  for (let i = 0; i < 16; i++) {
    u8[off + IPV6_SRC + i] = f.src[i]!;
    u8[off + IPV6_DST + i] = f.dst[i]!;
  }
  return off + IPV6_HLEN;
}

// ------------------------------------------------------------ UDP

/** Write a UDP header (checksum as given, 0 = none/fill in later); returns the offset past it. */
export function writeUdp(u8: Uint8Array, off: number, srcPort: number, dstPort: number, udpLen: number, csum = 0): number {
  writeU16(u8, off + UDP_SPORT, srcPort);
  writeU16(u8, off + UDP_DPORT, dstPort);
  writeU16(u8, off + UDP_LEN, udpLen);
  writeU16(u8, off + UDP_CSUM, csum);
  return off + UDP_HLEN;
}
