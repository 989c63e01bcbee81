// --unique-ip: every pass (or every --unique-ip-loops passes) gets its own addresses, the way
// tcpreplay's fast_edit_packet() does it: of the source and destination addresses (IPv4, or
// the last 32 bits of IPv6 ones) the larger one goes up by k and the smaller one down by k,
// k = the unique iteration (0 in the first pass). The sum of the two stays the same, so the
// IP, TCP and UDP checksums stay valid without being recomputed; when a change wraps past
// 0 or 2^32 one address moves by one more to keep the sum (tcpreplay's "CRC compensation").
// Edits the frame in place (the copy in the tx slot, never the source); allocation-free.

/** Edit the frame at u8[off, off+len) for iteration k; false when it is not IPv4/IPv6 (left alone). */
export function uniqueIpEdit(u8: Uint8Array, off: number, len: number, linkType: number, k: number): boolean {
  let l3 = off, etype = 0;
  const end = off + len;
  if (linkType === 1) {
    if (len < 14) return false;
    etype = (u8[off + 12]! << 8) | u8[off + 13]!;
    l3 = off + 14;
    while ((etype === 0x8100 || etype === 0x88a8 || etype === 0x9100) && l3 + 4 <= end) {
      etype = (u8[l3 + 2]! << 8) | u8[l3 + 3]!;
      l3 += 4;
    }
  } else if (linkType === 101 || linkType === 228 || linkType === 229) {
    if (len < 1) return false;
    const v = u8[off]! >> 4;
    etype = v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0;
  } else {
    return false;
  }
  let sa: number, da: number;
  if (etype === 0x0800) {
    if (l3 + 20 > end) return false;
    sa = l3 + 12; da = l3 + 16;
  } else if (etype === 0x86dd) {
    if (l3 + 40 > end) return false;
    sa = l3 + 20; da = l3 + 36;
  } else {
    return false;
  }
  const s0 = rd(u8, sa), d0 = rd(u8, da);
  let s = s0, d = d0;
  if (d0 > s0) {
    s = (s0 - k) >>> 0; d = (d0 + k) >>> 0;
    if (s > s0 && d > d0) s = (s - 1) >>> 0;
    else if (d < d0 && s < s0) d = (d + 1) >>> 0;
  } else {
    s = (s0 + k) >>> 0; d = (d0 - k) >>> 0;
    if (d > d0 && s > s0) d = (d - 1) >>> 0;
    else if (s < s0 && d < d0) s = (s + 1) >>> 0;
  }
  wr(u8, sa, s);
  wr(u8, da, d);
  return true;
}

function rd(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
function wr(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 255; b[o + 2] = (v >>> 8) & 255; b[o + 3] = v & 255;
}

/** tcpreplay's unique iteration of pass `loopNo` (0-based): floor(loopNo * 1000 / floor(loops * 1000)). */
export function uniqueIteration(loopNo: number, uniqueLoops: number): number {
  return Math.floor((loopNo * 1000) / Math.floor(uniqueLoops * 1000));
}
