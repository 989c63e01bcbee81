// A symmetric flow hash: both directions of a flow (a->b and b->a) hash alike, because
// addresses and ports are combined with XOR before mixing. Used to spread a port's traffic
// over its rx rings (software RSS) so one core per ring can serve a multi-queue port.
// Reads the frame in place; no allocation.
//
// Hot loops call symmetricFlowHashBits(), the same 32 bits as an int32: a uint32 above 2^31
// returned from a call V8 does not inline is a heap number, an allocation per frame.

/**
 * The bucket of a hash among n (1 <= n): the hash as an unsigned 32-bit value modulo n, for a
 * hash given as its int32 bits (the ...Bits functions). In integer arithmetic: V8 computes `%`
 * of a number above 2^31 with the x87 remainder loop, so a power of two takes the low bits and
 * other sizes up to 32767 reduce the two 16-bit halves with int32 divisions.
 */
export function hashBucket(h: number, n: number): number {
  if ((n & (n - 1)) === 0) return h & (n - 1);
  if (n > 32767) return (h >>> 0) % n;
  return ((((h >>> 16) % n) << 16) + (h & 0xffff)) % n;
}

/** The hash's finalizer: a 32-bit mix of h, as an int32 (steering hashes of vnf use it too). */
export function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return h ^ (h >>> 16);
}

/** Symmetric hash of the frame at u8[off..off+len): IPv4/IPv6 addresses, ports, protocol (unsigned). */
export function symmetricFlowHash(u8: Uint8Array, off: number, len: number): number {
  return symmetricFlowHashBits(u8, off, len) >>> 0;
}

/** symmetricFlowHash() as an int32 holding the same 32 bits (for hot loops: see the top). */
export function symmetricFlowHashBits(u8: Uint8Array, off: number, len: number): number {
  if (len < 14) return 0;
  let l3 = off + 14;
  let type = (u8[off + 12] << 8) | u8[off + 13];
  if (type === 0x8100 && len >= 18) { type = (u8[off + 16] << 8) | u8[off + 17]; l3 += 4; }
  const end = off + len;
  if (type === 0x0800 && l3 + 20 <= end) {
    const ihl = (u8[l3] & 0x0f) << 2;
    const proto = u8[l3 + 9];
    const a = (u8[l3 + 12] << 24) | (u8[l3 + 13] << 16) | (u8[l3 + 14] << 8) | u8[l3 + 15];
    const b = (u8[l3 + 16] << 24) | (u8[l3 + 17] << 16) | (u8[l3 + 18] << 8) | u8[l3 + 19];
    let ports = 0;
    const l4 = l3 + ihl;
    const fragmented = ((u8[l3 + 6] & 0x3f) | u8[l3 + 7]) !== 0;
    if (!fragmented && (proto === 6 || proto === 17 || proto === 132) && l4 + 4 <= end) {
      ports = ((u8[l4] << 8) | u8[l4 + 1]) ^ ((u8[l4 + 2] << 8) | u8[l4 + 3]);
    }
    return mix((a ^ b) + Math.imul(ports ^ (proto << 16), 0x9e3779b1));
  }
  if (type === 0x86dd && l3 + 40 <= end) {
    let x = 0;
    for (let i = 0; i < 16; i += 4) {
      const s = l3 + 8 + i, d = l3 + 24 + i;
      x = mix(x + (((u8[s] << 24) | (u8[s + 1] << 16) | (u8[s + 2] << 8) | u8[s + 3]) ^ ((u8[d] << 24) | (u8[d + 1] << 16) | (u8[d + 2] << 8) | u8[d + 3])));
    }
    const proto = u8[l3 + 6], l4 = l3 + 40;
    let ports = 0;
    if ((proto === 6 || proto === 17 || proto === 132) && l4 + 4 <= end) {
      ports = ((u8[l4] << 8) | u8[l4 + 1]) ^ ((u8[l4 + 2] << 8) | u8[l4 + 3]);
    }
    return mix(x + Math.imul(ports ^ (proto << 16), 0x9e3779b1));
  }
  // non-IP: the MAC pair
  let m = 0;
  for (let i = 0; i < 6; i++) m = mix(m + (u8[off + i] ^ u8[off + 6 + i]) * (i + 1));
  return m;
}
