// Checksum completion for frames a sender left CHECKSUM_PARTIAL (virtio-net NEEDS_CSUM): the
// sender put the folded pseudo-header sum in the checksum field at csum_start + csum_offset
// and left the rest to "the device"; completing it is summing [csum_start, end) (field
// included) and storing the complement there, as a NIC does (a result of 0 is stored as 0xffff,
// as Linux's skb_checksum_help does, so a UDP checksum never reads as "none").
//
// Also the bulk summing the segmenter (gso.ts) uses: 32-bit little-endian words read through a
// DataView over the whole ArrayBuffer (V8 compiles getUint32 to one load, unaligned reads
// included), about three times the speed of the byte loop in checksum.ts. The views are cached
// per ArrayBuffer (the last two seen), so a caller working on a region's buffers creates them
// once and nothing per frame.

import { checksumFold } from './checksum.js';
import { VNET_BAD_CSUM_OFFSET, VNET_BAD_CSUM_START, VNET_OK } from './vnet-hdr.js';

let cacheBuf0: ArrayBufferLike | null = null;
let cacheDv0: DataView | null = null;
let cacheU80: Uint8Array | null = null;
let cacheW0: Uint32Array | null = null;
let cacheBuf1: ArrayBufferLike | null = null;
let cacheDv1: DataView | null = null;
let cacheU81: Uint8Array | null = null;
let cacheW1: Uint32Array | null = null;

function remember(buf: ArrayBufferLike): void {
  if (cacheBuf0 === buf) return;
  if (cacheBuf1 === buf) {
    const d = cacheDv1, u = cacheU81, w = cacheW1;
    cacheBuf1 = cacheBuf0; cacheDv1 = cacheDv0; cacheU81 = cacheU80; cacheW1 = cacheW0;
    cacheBuf0 = buf; cacheDv0 = d; cacheU80 = u; cacheW0 = w;
    return;
  }
  cacheBuf1 = cacheBuf0; cacheDv1 = cacheDv0; cacheU81 = cacheU80; cacheW1 = cacheW0;
  cacheBuf0 = buf;
  cacheDv0 = new DataView(buf);
  cacheU80 = new Uint8Array(buf);
  cacheW0 = new Uint32Array(buf, 0, buf.byteLength >>> 2);
}

/** A DataView over the whole ArrayBuffer under `u8` (address it with u8.byteOffset + off). */
export function wholeView(u8: Uint8Array): DataView {
  remember(u8.buffer);
  return cacheDv0!;
}

/** A Uint32Array over the whole ArrayBuffer under `u8` (its last 0..3 bytes excluded). */
export function wholeWords(u8: Uint8Array): Uint32Array {
  remember(u8.buffer);
  return cacheW0!;
}

/** A Uint8Array over the whole ArrayBuffer under `u8` (for copyWithin between two views of it). */
export function wholeBytes(u8: Uint8Array): Uint8Array {
  remember(u8.buffer);
  return cacheU80!;
}

/**
 * Add `len` bytes at absolute offset `abs` of `dv` to an accumulator, as big-endian 16-bit
 * words (an odd last byte is the high half of a word), like checksumAdd. The result is
 * unfolded; checksumFold handles it.
 */
export function sumWords(dv: DataView, abs: number, len: number, sum: number, w?: Uint32Array): number {
  // Little-endian 32-bit words (native loads, no byte swap), two accumulators; a ones'-complement
  // sum of byte-swapped words is the byte-swapped sum (RFC 1071 §2(B)), so fold and swap once.
  // From an even address, one 16-bit word brings the rest to a multiple of 4, read through the
  // buffer's Uint32Array when the caller has it (cheaper than DataView loads).
  const end = abs + len;
  let i = abs;
  let x = 0;
  if (w !== undefined && (i & 3) === 2 && len >= 2) {
    x = dv.getUint16(i);
    i += 2;
  }
  let a = 0;
  let b = 0;
  if (w !== undefined && (i & 3) === 0) {
    let k = i >>> 2;
    const end8 = k + (((end - i) >>> 5) << 3);
    while (k < end8) {
      a += w[k]! + w[k + 1]! + w[k + 2]! + w[k + 3]!;
      b += w[k + 4]! + w[k + 5]! + w[k + 6]! + w[k + 7]!;
      k += 8;
    }
    i = k << 2;
  } else {
    const end32 = i + ((end - i) & ~31);
    while (i < end32) {
      a += dv.getUint32(i, true) + dv.getUint32(i + 4, true) + dv.getUint32(i + 8, true) + dv.getUint32(i + 12, true);
      b += dv.getUint32(i + 16, true) + dv.getUint32(i + 20, true) + dv.getUint32(i + 24, true) + dv.getUint32(i + 28, true);
      i += 32;
    }
  }
  const end4 = i + ((end - i) & ~3);
  while (i < end4) {
    a += dv.getUint32(i, true);
    i += 4;
  }
  let y = a + b;
  if (y !== 0) {
    y = checksumFold(y);
    x += ((y & 0xff) << 8) | (y >>> 8);
  }
  const rest = end - i;
  if (rest >= 2) {
    x += dv.getUint16(i);
    i += 2;
  }
  if ((rest & 1) !== 0) x += dv.getUint8(i) << 8;
  return sum + x;
}

/** Swap the bytes of a folded 16-bit sum (a chunk summed from an odd offset of the message). */
export function swapSum(folded: number): number {
  return ((folded & 0xff) << 8) | (folded >>> 8);
}

/**
 * Complete the checksum of the frame u8[off, off+len) that a sender left partial: the field at
 * csumStart + csumOffset (relative to the frame) holds the pseudo-header sum; sum from
 * csumStart to the end and store the complement. Returns VNET_OK, or the reason the
 * positions do not fit the frame (nothing written then). Allocates nothing.
 */
export function completeChecksum(u8: Uint8Array, off: number, len: number, csumStart: number, csumOffset: number): number {
  if (!(csumStart >= 0) || csumStart >= len) return VNET_BAD_CSUM_START;
  if (!(csumOffset >= 0) || (csumOffset & 1) !== 0 || csumStart + csumOffset + 2 > len) return VNET_BAD_CSUM_OFFSET;
  const dv = wholeView(u8);
  const abs = u8.byteOffset + off;
  const c = ~checksumFold(sumWords(dv, abs + csumStart, len - csumStart, 0, wholeWords(u8))) & 0xffff;
  const f = off + csumStart + csumOffset;
  const v = c === 0 ? 0xffff : c;
  u8[f] = v >>> 8;
  u8[f + 1] = v;
  return VNET_OK;
}
