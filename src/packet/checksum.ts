// Internet checksum (RFC 1071) helpers. Everything works on big-endian 16-bit
// words read straight from the byte array, so results are host-order numbers
// that can be stored with a plain big-endian write.

/**
 * Add the bytes u8[off, off+len) to a ones'-complement accumulator as
 * big-endian 16-bit words. An odd trailing byte counts as the high half of a
 * word (as if padded with a zero), so only the last chunk of a message may
 * have an odd length. The result is unfolded; feed it back or fold it.
 */
export function checksumAdd(u8: Uint8Array, off: number, len: number, sum: number): number {
  // Fold the incoming sum so the loop stays within small integers: at most
  // 0x1ffff + 32767 * 0xffff < 2^31 for a 64 KiB chunk.
  if (sum > 0xffff) sum = checksumFold(sum);
  let i = off;
  const end = off + (len & ~1);
  // Unrolled by 8 bytes; most packets are a few hundred bytes of this.
  const end8 = off + (len & ~7);
  while (i < end8) {
    sum += ((u8[i]! << 8) | u8[i + 1]!) + ((u8[i + 2]! << 8) | u8[i + 3]!) +
      ((u8[i + 4]! << 8) | u8[i + 5]!) + ((u8[i + 6]! << 8) | u8[i + 7]!);
    i += 8;
  }
  while (i < end) {
    sum += (u8[i]! << 8) | u8[i + 1]!;
    i += 2;
  }
  if (len & 1) sum += u8[end]! << 8;
  return sum;
}

/**
 * checksumAdd through a 16-bit view of the same memory (u16 over u8's buffer, both from
 * offset 0) when `off` is even: each word is read in the machine's little-endian order, the
 * words summed, and the folded sum's bytes swapped back at the end (RFC 1071 2(B): the ones'
 * complement sum does not depend on the byte order). Half the loads of checksumAdd, no shifts.
 * Returns the same accumulator checksumAdd would after folding (16 bits); an odd offset or an
 * offset past 2^32 takes checksumAdd.
 */
export function checksumAdd16(u16: Uint16Array, u8: Uint8Array, off: number, len: number, sum: number): number {
  if ((off & 1) !== 0 || off + len > 0xffffffff) return checksumFold(checksumAdd(u8, off, len, sum));
  sum = checksumFold(sum);
  sum = ((sum & 0xff) << 8) | (sum >>> 8); // into the little-endian order
  let i = off >>> 1;
  const end = i + (len >>> 1);
  for (; i + 4 <= end; i += 4) sum += u16[i]! + u16[i + 1]! + u16[i + 2]! + u16[i + 3]!;
  for (; i < end; i++) sum += u16[i]!;
  if (len & 1) sum += u8[off + len - 1]!; // a trailing byte is a word's first byte: its low half here
  sum = checksumFold(sum);
  return ((sum & 0xff) << 8) | (sum >>> 8);
}

/** Fold an accumulator to 16 bits with end-around carry. Not complemented. */
export function checksumFold(sum: number): number {
  // Accumulators are normally < 2^32; handle anything up to 2^53 anyway.
  if (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum & 0xffff;
}

/** The header checksum to store at ipOff+10 (the current field value is ignored). */
export function ipv4HeaderChecksum(u8: Uint8Array, ipOff: number): number {
  const hl = (u8[ipOff]! & 0x0f) << 2;
  let sum = checksumAdd(u8, ipOff, 10, 0);
  sum = checksumAdd(u8, ipOff + 12, hl - 12, sum);
  return ~checksumFold(sum) & 0xffff;
}

/**
 * UDP checksum over an IPv4 pseudo-header (addresses from the IP header at
 * ipOff) and udpLen bytes of UDP at udpOff. The stored checksum field is
 * ignored. A computed 0 is returned as 0xffff, since 0 means "no checksum".
 */
export function udpChecksumV4(u8: Uint8Array, ipOff: number, udpOff: number, udpLen: number): number {
  let sum = checksumAdd(u8, ipOff + 12, 8, 17 + udpLen);
  sum = checksumAdd(u8, udpOff, 6, sum);
  sum = checksumAdd(u8, udpOff + 8, udpLen - 8, sum);
  const c = ~checksumFold(sum) & 0xffff;
  return c === 0 ? 0xffff : c;
}

/** UDP checksum with the IPv6 pseudo-header (RFC 8200 8.1); 0 becomes 0xffff. */
export function udpChecksumV6(u8: Uint8Array, ipOff: number, udpOff: number, udpLen: number): number {
  // Pseudo-header: src, dst, 32-bit upper-layer length, 3 zero bytes, next header.
  let sum = checksumAdd(u8, ipOff + 8, 32, 17 + (udpLen >>> 16) + (udpLen & 0xffff));
  sum = checksumAdd(u8, udpOff, 6, sum);
  sum = checksumAdd(u8, udpOff + 8, udpLen - 8, sum);
  const c = ~checksumFold(sum) & 0xffff;
  return c === 0 ? 0xffff : c;
}

/**
 * RFC 1624 eqn. 3 incremental update: the new stored checksum after one
 * 16-bit word covered by it changes from oldWord to newWord.
 * HC' = ~(~HC + ~m + m')
 */
export function checksumAdjust(csum: number, oldWord: number, newWord: number): number {
  const sum = (~csum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~checksumFold(sum) & 0xffff;
}

/**
 * Apply an accumulated difference (sum of `~old + new` words, unfolded) to a
 * stored checksum. Used to patch several fields with one update.
 */
export function checksumApplyDelta(csum: number, delta: number): number {
  return ~checksumFold((~csum & 0xffff) + delta) & 0xffff;
}
