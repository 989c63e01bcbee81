// The one routine that copies a frame between two buffers of a region (VALE delivery, copy
// monitors). Offsets are byte offsets that may exceed 2^31 (regions up to 4 GiB): they are
// turned into element indices with unsigned shifts only.
/**
 * Copy len bytes from byte offset src to dst. Buffers are 64-byte aligned, so short frames
 * move as 8-byte words (measured faster than copyWithin below ~256 bytes, and bit-exact);
 * longer ones use copyWithin (memmove).
 */
export function copyFrame(u8: Uint8Array, f64: Float64Array, src: number, dst: number, len: number): void {
  if (len <= 256) {
    let s = src >>> 3, d = dst >>> 3;
    const end = s + ((len + 7) >>> 3);
    while (s < end) f64[d++] = f64[s++];
  } else {
    u8.copyWithin(dst, src, src + len);
  }
}
