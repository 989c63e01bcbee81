// What the text decoders print, as tcpdump's flags set it (-v, -e, -q, -S), and the small
// helpers every dissector shares (big-endian reads, the checksum of a byte range).
//
// The dissectors (link.ts → arp.ts / ip.ts → tcp.ts, udp-icmp.ts) each append to one
// string for one packet: they read only inside [off, end) (the captured bytes) and print
// tcpdump's truncation marks ("[|tcp]") instead of reading past it. They build strings, so
// they are for people and greps, never for the forwarding paths.

export interface DecodeOptions {
  /** -v count: 0, 1 (-v), 2 (-vv), 3 (-vvv). */
  verbose: number;
  /** -e: the link-level header on each line. */
  linkHeader: boolean;
  /** -q: shorter lines ("tcp LEN"). */
  quick: boolean;
  /** -S: absolute TCP sequence numbers (default: relative to the conversation's first ones). */
  absoluteSeq: boolean;
}

export const DEFAULT_DECODE: DecodeOptions = { verbose: 0, linkHeader: false, quick: false, absoluteSeq: false };

export const rd16 = (u: Uint8Array, o: number): number => (u[o]! << 8) | u[o + 1]!;
export const rd32 = (u: Uint8Array, o: number): number => ((u[o]! << 24) | (u[o + 1]! << 16) | (u[o + 2]! << 8) | u[o + 3]!) >>> 0;

/** One's-complement sum of u[off, off+len) added to `sum` (not folded). */
export function sum16(u: Uint8Array, off: number, len: number, sum: number): number {
  let i = 0;
  for (; i + 1 < len; i += 2) sum += (u[off + i]! << 8) | u[off + i + 1]!;
  if (i < len) sum += u[off + i]! << 8;
  return sum;
}

/** Fold a 32-bit one's-complement sum to 16 bits. */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * The checksum a transport header should carry: the pseudo header (addresses at
 * u[addr, addr + 2*alen), protocol, length) plus u[l4, l4+len) with the checksum field at
 * `csumAt` counted as 0.
 */
export function l4Checksum(u: Uint8Array, addr: number, alen: number, proto: number, l4: number, len: number, csumAt: number): number {
  let s = sum16(u, addr, 2 * alen, 0);
  s += proto + (len & 0xffff) + Math.floor(len / 0x10000);
  s = sum16(u, l4, len, s);
  s -= rd16(u, csumAt);
  while (s < 0) s += 0xffff;
  return (~fold(s)) & 0xffff;
}
