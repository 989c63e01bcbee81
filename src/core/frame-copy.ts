// The one routine that copies frame bytes between buffers: within a region (VALE delivery,
// copy monitors) and between two memories (a region and another region or a private queue:
// vale-ctl -a, bridge, tlem), and between a guest's memory or a kernel ring and a region at any
// alignment (copyBytes: vhost-user ports, the AF_PACKET port's receive). Offsets are byte offsets that may exceed 2^31 (regions up to
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
 * Copy len bytes from byte offset src to dst within one region, the way that measured fastest
 * at each size (bench/ref.ts, docs/benchmarks.md): up to 64 bytes (a minimum-size frame) as 8
 * unrolled 8-byte words — a buffer is at least 64 bytes long, so the words past len stay inside
 * both buffers; up to 256 bytes as a word loop; longer frames with copyWithin (memmove). Word
 * copies through a Float64Array are bit-exact (V8 moves the bits, it does not canonicalize).
 */
export function copyFrame(u8: Uint8Array, f64: Float64Array, src: number, dst: number, len: number): void {
  if (len <= 64) {
    const i = src >>> 3, j = dst >>> 3;
    f64[j] = f64[i]; f64[j + 1] = f64[i + 1]; f64[j + 2] = f64[i + 2]; f64[j + 3] = f64[i + 3];
    f64[j + 4] = f64[i + 4]; f64[j + 5] = f64[i + 5]; f64[j + 6] = f64[i + 6]; f64[j + 7] = f64[i + 7];
  } else if (len <= 256) copyWords(f64, src, f64, dst, len);
  else u8.copyWithin(dst, src, src + len);
}

/**
 * Copy n bytes from byte offset s of one memory to byte offset d of another where the offsets
 * have any alignment (guest buffers of a vhost-user front end: a frame after a 12-byte header
 * in a buffer anywhere; a datagram in a received train). Each memory comes as its byte, 32-bit
 * and 64-bit views, made once by the caller. When both offsets have the same remainder modulo
 * 8, the first bytes up to an 8-byte boundary move bytewise and the bulk as 8-byte words (a
 * frame after a 10-byte header into a slot's buffer after the same header: 175 moves for a
 * 1400-byte frame instead of 1400); else, with the same remainder modulo 4, as 4-byte words;
 * else bytewise; the tail bytewise. Not a byte outside [s, s + n) is read nor outside
 * [d, d + n) written: next to a guest buffer is the guest's memory. Offsets past 2^32 (regions
 * up to 2^40 bytes) take the byte loop.
 */
export function copyBytes(s8: Uint8Array, s32: Uint32Array, s64: Float64Array, s: number,
  d8: Uint8Array, d32: Uint32Array, d64: Float64Array, d: number, n: number): void {
  if (n >= 16 && s + n <= 0xffffffff && d + n <= 0xffffffff) {
    const x = s ^ d;
    if ((x & 7) === 0) {
      while ((s & 7) !== 0) { d8[d++] = s8[s++]; n--; }
      let i = s >>> 3, j = d >>> 3;
      const end = i + (n >>> 3);
      while (i < end) d64[j++] = s64[i++];
      const done = n & ~7;
      s += done; d += done; n -= done;
    } else if ((x & 3) === 0) {
      while ((s & 3) !== 0) { d8[d++] = s8[s++]; n--; }
      let i = s >>> 2, j = d >>> 2;
      const end = i + (n >>> 2);
      while (i < end) d32[j++] = s32[i++];
      const done = n & ~3;
      s += done; d += done; n -= done;
    }
  }
  const end = s + n;
  while (s < end) d8[d++] = s8[s++];
}

/** The placeholder of a key whose view is not made yet. */
const EMPTY = new Uint8Array(0);

/**
 * Views of fixed-length pieces of one memory, made on first use and kept under a key, so that a
 * copy of a whole buffer between two memories (two regions, a kernel ring and a region) is one
 * `TypedArray.prototype.set` — V8's memmove — with no allocation per frame once warm. A key
 * names one piece (a ring slot, a ring frame and chunk); if its offset ever differs, the view
 * is made again. Measured against a word loop and process_vm_readv for a 64 KiB super-frame in
 * 2 KiB buffers (docs/benchmarks.md, offloads): about 3.5× faster than either.
 */
export class PieceViews {
  /**
   * Dense from the start, every entry a Uint8Array (EMPTY until made): an array filled at
   * scattered keys (indices in the thousands) would fall into V8's dictionary mode, and
   * every lookup would be a megamorphic keyed load (measured: 2.8 % of a forwarder's profile).
   */
  private readonly views: Uint8Array[];
  readonly len: number;
  private readonly buffer: ArrayBufferLike;

  /** `keys`: how many keys are used (default: one per `len`-byte piece of the buffer). */
  constructor(buffer: ArrayBufferLike, len: number, keys = Math.ceil(buffer.byteLength / len)) {
    this.buffer = buffer;
    this.len = len;
    this.views = new Array<Uint8Array>(keys).fill(EMPTY);
  }

  /** The view of `len` bytes at `byteOffset` of the memory, kept under `key`. */
  at(key: number, byteOffset: number): Uint8Array {
    const views = this.views;
    if (key >= views.length) return new Uint8Array(this.buffer, byteOffset, this.len); // (not a key of the plan: made each time)
    const v = views[key];
    if (v.byteOffset === byteOffset && v.byteLength === this.len) return v;
    const made = new Uint8Array(this.buffer, byteOffset, this.len);
    views[key] = made;
    return made;
  }
}
