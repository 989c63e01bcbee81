// The Toeplitz hash of receive-side scaling (RSS), as NICs compute it, in software.
//
// For each set bit of the input (most significant bit of the first byte first) the result
// is XORed with the 32 key bits starting at that bit position. Keys are compiled once into
// per-byte lookup tables, so hashing is one table lookup and one XOR per input byte, with
// no allocation.
//
// With the symmetric key (0x6d5a repeated: Woo and Park, "Scalable TCP session monitoring
// with symmetric receive-side scaling") the key repeats every 16 bits, so swapping two
// 16-bit-aligned fields of the input (source and destination address, source and
// destination port) leaves the hash unchanged: both directions of a flow hash alike. That
// is what lb needs to send a whole conversation to one worker.
//
// Such a key also makes the hash cheap. Every 16-bit-aligned input word meets the same 32 key
// bits, and the hash is linear (XOR) in its input, so the hash of words w0, w1, ... is the
// hash of the single word w0 ^ w1 ^ ...: rssFrameHash folds the fields into one 16-bit word
// and looks up its two bytes (two lookups for any frame, instead of one per input byte).

/** Microsoft's default RSS key (the one the RSS verification suite uses). */
export const RSS_KEY_MICROSOFT = Uint8Array.from([
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
  0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
  0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
]);

/** The symmetric RSS key: 0x6d 0x5a repeated over 40 bytes. */
export const RSS_KEY_SYMMETRIC = Uint8Array.from({ length: 40 }, (_, i) => (i & 1 ? 0x5a : 0x6d));

/** A key compiled for hashing: table[256 * i + v] is the contribution of byte value v at input byte i. */
export interface ToeplitzKey {
  readonly key: Uint8Array;
  /** Longest input the key covers: key length - 4 bytes. */
  readonly maxInput: number;
  readonly table: Uint32Array;
  /** The key repeats every 16 bits (the symmetric key): rssFrameHash folds its input (above). */
  readonly periodic16: boolean;
}

/** Compile a key (at least 8 bytes) into its lookup table. */
export function toeplitzKey(key: Uint8Array): ToeplitzKey {
  if (key.length < 8) throw new RangeError('toeplitzKey: the key needs at least 8 bytes');
  const maxInput = key.length - 4;
  const table = new Uint32Array(maxInput * 256);
  // window(p): the 32 key bits starting at bit p
  const window = (p: number): number => {
    const byte = p >> 3, bit = p & 7;
    const w = ((key[byte] << 24) | (key[byte + 1] << 16) | (key[byte + 2] << 8) | key[byte + 3]) >>> 0;
    if (bit === 0) return w;
    const next = byte + 4 < key.length ? key[byte + 4] : 0;
    return ((w << bit) | (next >>> (8 - bit))) >>> 0;
  };
  for (let i = 0; i < maxInput; i++) {
    const w = new Uint32Array(8);
    for (let k = 0; k < 8; k++) w[k] = window(8 * i + k);
    for (let v = 0; v < 256; v++) {
      let h = 0;
      for (let k = 0; k < 8; k++) if (v & (0x80 >> k)) h ^= w[k];
      table[256 * i + v] = h >>> 0;
    }
  }
  const periodic16 = key.every((b, i) => b === key[i & 1]);
  return { key: Uint8Array.from(key), maxInput, table, periodic16 };
}

export const MICROSOFT_KEY = toeplitzKey(RSS_KEY_MICROSOFT);
export const SYMMETRIC_KEY = toeplitzKey(RSS_KEY_SYMMETRIC);

/** Toeplitz hash of `input` (at most key length - 4 bytes) with a key. */
export function toeplitz(k: ToeplitzKey, input: ArrayLike<number>): number {
  if (input.length > k.maxInput) throw new RangeError(`toeplitz: input of ${input.length} bytes, the key covers ${k.maxInput}`);
  const t = k.table;
  let h = 0;
  for (let i = 0; i < input.length; i++) h ^= t[(i << 8) | (input[i] & 0xff)];
  return h >>> 0;
}

/** Hash u8[src..src+n) as input bytes pos..pos+n: a piece of a longer input, in place. */
function piece(t: Uint32Array, h: number, u8: Uint8Array, src: number, n: number, pos: number): number {
  for (let i = 0; i < n; i++) h ^= t[((pos + i) << 8) | u8[src + i]];
  return h;
}

/** XOR of the big-endian 16-bit words of u8[src..src+n) (n even) into x. */
function fold(x: number, u8: Uint8Array, src: number, n: number): number {
  for (let i = 0; i < n; i += 2) x ^= (u8[src + i] << 8) | u8[src + i + 1];
  return x;
}

/** The hash of a 16-bit-periodic key's input folded into the word x (see the top), as an int32. */
function folded(t: Uint32Array, x: number): number {
  return t[x >>> 8] ^ t[256 | (x & 0xff)];
}

/** What the last rssFrameHash() call found (lb counts non-IP frames). */
export const FRAME_IPV4 = 4, FRAME_IPV6 = 6, FRAME_OTHER = 0;
let lastKind = FRAME_OTHER;
/** FRAME_IPV4, FRAME_IPV6 or FRAME_OTHER for the frame last hashed by rssFrameHash(). */
export function lastFrameKind(): number { return lastKind; }

const isL4 = (p: number): boolean => p === 6 || p === 17 || p === 132; // TCP, UDP, SCTP

/**
 * RSS hash of the Ethernet frame at u8[off..off+len), read in place: Toeplitz over
 * (src address, dst address[, src port, dst port]) as NICs do (802.1Q / 802.1ad tags are
 * skipped; ports only for unfragmented TCP, UDP and SCTP, the addresses alone otherwise).
 * Non-IP frames hash their source and destination MAC addresses. With the symmetric key
 * (the default) both directions of a flow give the same value.
 */
export function rssFrameHash(u8: Uint8Array, off: number, len: number, k: ToeplitzKey = SYMMETRIC_KEY): number {
  return rssFrameHashBits(u8, off, len, k) >>> 0;
}

/**
 * rssFrameHash() as an int32 holding the same 32 bits, for hot loops: a uint32 above 2^31
 * returned from a call V8 does not inline is a heap number, an allocation per frame.
 */
export function rssFrameHashBits(u8: Uint8Array, off: number, len: number, k: ToeplitzKey = SYMMETRIC_KEY): number {
  const t = k.table, end = off + len;
  lastKind = FRAME_OTHER;
  if (len < 14) return 0;
  let l3 = off + 14;
  let type = (u8[off + 12] << 8) | u8[off + 13];
  for (let tags = 0; (type === 0x8100 || type === 0x88a8) && tags < 2 && l3 + 4 <= end; tags++) {
    type = (u8[l3 + 2] << 8) | u8[l3 + 3];
    l3 += 4;
  }
  const p16 = k.periodic16;
  if (type === 0x0800 && l3 + 20 <= end && (u8[l3] >> 4) === 4) {
    lastKind = FRAME_IPV4;
    const proto = u8[l3 + 9], l4 = l3 + ((u8[l3] & 0x0f) << 2);
    const fragmented = ((u8[l3 + 6] & 0x3f) | u8[l3 + 7]) !== 0; // MF or an offset
    const ports = !fragmented && isL4(proto) && l4 + 4 <= end && k.maxInput >= 12;
    if (p16) return folded(t, ports ? fold(fold(0, u8, l3 + 12, 8), u8, l4, 4) : fold(0, u8, l3 + 12, 8));
    let h = piece(t, 0, u8, l3 + 12, 8, 0); // src, dst
    if (ports) h = piece(t, h, u8, l4, 4, 8);
    return h;
  }
  if (type === 0x86dd && l3 + 40 <= end && k.maxInput >= 32) {
    lastKind = FRAME_IPV6;
    const proto = u8[l3 + 6], l4 = l3 + 40;
    const ports = isL4(proto) && l4 + 4 <= end && k.maxInput >= 36;
    if (p16) return folded(t, ports ? fold(fold(0, u8, l3 + 8, 32), u8, l4, 4) : fold(0, u8, l3 + 8, 32));
    let h = piece(t, 0, u8, l3 + 8, 32, 0);
    if (ports) h = piece(t, h, u8, l4, 4, 32);
    return h;
  }
  // non-IP: the MAC addresses, source first (48-bit fields: symmetric with the 16-bit key)
  if (p16) return folded(t, fold(fold(0, u8, off + 6, 6), u8, off, 6));
  let h = piece(t, 0, u8, off + 6, 6, 0);
  h = piece(t, h, u8, off, 6, 6);
  return h;
}
