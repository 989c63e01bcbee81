// The frames the host writes, in place into a tx buffer: ARP requests and replies, and the
// Ethernet + IPv4 + UDP headers in front of a payload. Plain functions over the region's bytes
// (no object per frame); the caller owns the buffer and knows it is large enough.
import { checksumAdd, checksumFold } from '../packet/checksum.js';
import { ETH_HLEN } from '../packet/headers.js';

export { ETH_HLEN };
export const ARP_LEN = 28;
/** Ethernet's minimum frame without FCS: ARP frames are padded to it. */
export const MIN_FRAME = 60;
/** Ethernet + IPv4 (no options) + UDP. */
export const UDP_HDRS = 42;
export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export function copyMac(u8: Uint8Array, to: number, src: Uint8Array, from: number): void {
  u8[to] = src[from]!; u8[to + 1] = src[from + 1]!; u8[to + 2] = src[from + 2]!;
  u8[to + 3] = src[from + 3]!; u8[to + 4] = src[from + 4]!; u8[to + 5] = src[from + 5]!;
}

function w16(u8: Uint8Array, o: number, v: number): void { u8[o] = v >>> 8; u8[o + 1] = v; }
function w32(u8: Uint8Array, o: number, v: number): void { u8[o] = v >>> 24; u8[o + 1] = v >>> 16; u8[o + 2] = v >>> 8; u8[o + 3] = v; }

/**
 * An ARP frame (padded to 60 bytes) at `o`: op 1 request or 2 reply; `dstMac`/`tha` at their
 * offsets in their arrays. Returns the frame length.
 */
export function writeArp(u8: Uint8Array, o: number, op: 1 | 2, dstMac: Uint8Array, dstOff: number, ourMac: Uint8Array,
  spa: number, tha: Uint8Array, thaOff: number, tpa: number): number {
  copyMac(u8, o, dstMac, dstOff);
  copyMac(u8, o + 6, ourMac, 0);
  w16(u8, o + 12, 0x0806);
  w16(u8, o + 14, 1); // Ethernet
  w16(u8, o + 16, 0x0800);
  u8[o + 18] = 6;
  u8[o + 19] = 4;
  w16(u8, o + 20, op);
  copyMac(u8, o + 22, ourMac, 0);
  w32(u8, o + 28, spa);
  copyMac(u8, o + 32, tha, thaOff);
  w32(u8, o + 38, tpa);
  u8.fill(0, o + 42, o + MIN_FRAME);
  return MIN_FRAME;
}

/**
 * Ethernet + 20-byte IPv4 + UDP headers at `o` for a payload of `plen` bytes already at
 * o + 42 (or written there later: the UDP checksum is left to udpChecksumAt). `dstMac` at
 * dstOff of its array. The IPv4 header checksum is computed here (ten words).
 */
export function writeUdpHeaders(u8: Uint8Array, o: number, dstMac: Uint8Array, dstOff: number, srcMac: Uint8Array,
  src: number, dst: number, sport: number, dport: number, plen: number, ttl: number, id: number): void {
  copyMac(u8, o, dstMac, dstOff);
  copyMac(u8, o + 6, srcMac, 0);
  w16(u8, o + 12, 0x0800);
  const ip = o + ETH_HLEN;
  u8[ip] = 0x45;
  u8[ip + 1] = 0;
  w16(u8, ip + 2, 28 + plen);
  w16(u8, ip + 4, id);
  w16(u8, ip + 6, 0x4000); // DF: the host never fragments
  u8[ip + 8] = ttl;
  u8[ip + 9] = 17;
  w32(u8, ip + 12, src);
  w32(u8, ip + 16, dst);
  // the header checksum from the values rather than the bytes: ten words, no reads
  let s = 0x4500 + 28 + plen + id + 0x4000 + ((ttl << 8) | 17) + (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  w16(u8, ip + 10, ~s & 0xffff);
  const udp = ip + 20;
  w16(u8, udp, sport);
  w16(u8, udp + 2, dport);
  w16(u8, udp + 4, 8 + plen);
  w16(u8, udp + 6, 0);
}

/** Store the UDP checksum of the datagram whose headers writeUdpHeaders wrote at `o` (one pass over the payload). */
export function udpChecksumAt(u8: Uint8Array, o: number, plen: number): void {
  const ip = o + ETH_HLEN, udp = ip + 20, ulen = 8 + plen;
  // pseudo-header (addresses, protocol, length) + the UDP header (checksum field 0) + payload
  let s = checksumAdd(u8, ip + 12, 8, 17 + ulen);
  s = checksumAdd(u8, udp, ulen, s);
  let c = ~checksumFold(s) & 0xffff;
  if (c === 0) c = 0xffff;
  w16(u8, udp + 6, c);
}
