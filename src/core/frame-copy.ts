// The one routine that copies frame bytes between buffers: within a region (VALE delivery,
// copy monitors) and between two memories (a region and another region or a private queue:
// vale-ctl -a, bridge, tlem). Offsets are byte offsets that may exceed 2^31 (regions up to
// 4 GiB): they become element indices through unsigned shifts only.

/**
 * Copy len bytes from byte offset s of src to byte offset d of dst as 8-byte words. Both
 * offsets must be 8-byte aligned (buffers are 64-byte aligned in every region kind) and the
 * destination must have room up to the next multiple of 8 (a buffer is a whole number of
 * words long).
 */
export function copyWords(src: Float64Array, s: number, dst: Float64Array, d: number, len: number): void {
  let i = s >>> 3, j = d >>> 3;
  const end = i + ((len + 7) >>> 3);
  while (i < end) dst[j++] = src[i++];
}

/**
 * Copy len bytes from byte offset src to dst within one region. Short frames move as 8-byte
 * words (measured faster than copyWithin below ~256 bytes, and bit-exact); longer ones use
 * copyWithin (memmove).
 */
export function copyFrame(u8: Uint8Array, f64: Float64Array, src: number, dst: number, len: number): void {
  if (len <= 256) copyWords(f64, src, f64, dst, len);
  else u8.copyWithin(dst, src, src + len);
}
