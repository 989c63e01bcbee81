// tcpprep's cache file (format version 04), read by `nmts replay -c` and written by `nmts prep`.
// Facts of the format (tcpreplay's src/common/cache.h): a 24-byte header
//   magic "tcpprep\0" (8 bytes), version "04" NUL-padded (4), packet count (u64, big-endian),
//   packets per byte (u16 BE, always 4), comment length (u16 BE)
// then the comment (no NUL), then ceil(count / 4) data bytes. Packet n (1-based) owns two
// bits of byte (n-1)/4 starting at bit 2*((n-1)%4): the high bit of the pair = send it, the
// low bit = out the primary interface (-i), else the secondary (-I).
// Everything read from a file is checked before use (a cache is user input).
import { readFileSync } from 'node:fs';

export const CACHE_HDR_LEN = 24;
export const CACHE_MAGIC = 'tcpprep';
export const CACHE_VERSION = '04';
/** Where a packet goes. */
export const DIR_NOSEND = 0, DIR_PRIMARY = 1, DIR_SECONDARY = 2;

export class CacheFileError extends Error {
  override name = 'CacheFileError';
}

export interface TcpprepCache {
  /** Packets the cache describes. */
  count: number;
  /** The embedded comment (tcpprep's command line, then -C text). */
  comment: string;
  /** ceil(count / 4) bytes of 2-bit entries. */
  data: Uint8Array;
}

/** Parse a cache file's bytes; throws CacheFileError naming what is wrong. */
export function parseCache(b: Uint8Array, name = 'cache file'): TcpprepCache {
  if (b.length < CACHE_HDR_LEN) throw new CacheFileError(`${name}: doesn't contain a full header (${b.length} of ${CACHE_HDR_LEN} bytes)`);
  for (let i = 0; i < 8; i++) {
    const want = i < CACHE_MAGIC.length ? CACHE_MAGIC.charCodeAt(i) : 0;
    if (b[i] !== want) throw new CacheFileError(`${name}: not a tcpprep cache file`);
  }
  const ver = String.fromCharCode(b[8]!, b[9]!);
  if (ver !== CACHE_VERSION) throw new CacheFileError(`${name}: cache file version mismatch (${JSON.stringify(ver)}, want ${CACHE_VERSION})`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const count64 = dv.getBigUint64(12, false);
  const perByte = dv.getUint16(20, false);
  const commentLen = dv.getUint16(22, false);
  if (perByte !== 4) throw new CacheFileError(`${name}: ${perByte} packets per byte (only 4 is defined)`);
  if (count64 > BigInt(Number.MAX_SAFE_INTEGER)) throw new CacheFileError(`${name}: packet count ${count64} is too large`);
  const count = Number(count64);
  const dataLen = Math.ceil(count / 4);
  const want = CACHE_HDR_LEN + commentLen + dataLen;
  if (b.length < CACHE_HDR_LEN + commentLen) throw new CacheFileError(`${name}: comment of ${commentLen} bytes is cut short`);
  if (b.length !== want) {
    throw new CacheFileError(`${name}: cache data length (${b.length - CACHE_HDR_LEN - commentLen} bytes) doesn't match the header (${dataLen} bytes for ${count} packets)`);
  }
  const comment = Buffer.from(b.subarray(CACHE_HDR_LEN, CACHE_HDR_LEN + commentLen)).toString('latin1');
  return { count, comment, data: b.slice(CACHE_HDR_LEN + commentLen) };
}

export function readCacheFile(file: string): TcpprepCache {
  let b: Uint8Array;
  try {
    b = readFileSync(file);
  } catch (e) {
    throw new CacheFileError(`unable to open ${file}: ${(e as Error).message}`);
  }
  return parseCache(b, file);
}

/** Direction of packet n (1-based): DIR_NOSEND, DIR_PRIMARY or DIR_SECONDARY; n past the end: -1. */
export function cacheDir(data: Uint8Array, count: number, n: number): number {
  if (n < 1 || n > count) return -1;
  const i = n - 1;
  const v = (data[i >>> 2]! >>> ((i & 3) << 1)) & 3;
  return (v & 2) === 0 ? DIR_NOSEND : (v & 1) !== 0 ? DIR_PRIMARY : DIR_SECONDARY;
}

/** Builds a cache packet by packet (nmts prep). */
export class CacheBuilder {
  count = 0;
  private data = new Uint8Array(1024);

  add(dir: number): void {
    const i = this.count;
    if ((i >>> 2) >= this.data.length) {
      const d = new Uint8Array(this.data.length * 2);
      d.set(this.data);
      this.data = d;
    }
    let v = 0;
    if (dir === DIR_PRIMARY) v = 3;
    else if (dir === DIR_SECONDARY) v = 2;
    this.data[i >>> 2] = this.data[i >>> 2]! | (v << ((i & 3) << 1));
    this.count = i + 1;
  }

  /** The whole file: header, comment (latin1, at most 65535 bytes), data. */
  build(comment: string): Uint8Array {
    const c = Buffer.from(comment, 'latin1');
    if (c.length > 0xffff) throw new CacheFileError(`comment of ${c.length} bytes is longer than 65535`);
    const dataLen = Math.ceil(this.count / 4);
    const out = new Uint8Array(CACHE_HDR_LEN + c.length + dataLen);
    for (let i = 0; i < CACHE_MAGIC.length; i++) out[i] = CACHE_MAGIC.charCodeAt(i);
    out[8] = CACHE_VERSION.charCodeAt(0);
    out[9] = CACHE_VERSION.charCodeAt(1);
    const dv = new DataView(out.buffer);
    dv.setBigUint64(12, BigInt(this.count), false);
    dv.setUint16(20, 4, false);
    dv.setUint16(22, c.length, false);
    out.set(c, CACHE_HDR_LEN);
    out.set(this.data.subarray(0, dataLen), CACHE_HDR_LEN + c.length);
    return out;
  }
}
