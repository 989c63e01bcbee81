// Classic libpcap file format: a 24-byte file header, then per packet a
// 16-byte record header {ts_sec, ts_frac, caplen, origlen} and caplen bytes.
// The magic number, written in the writer's byte order, tells readers both
// the byte order and whether ts_frac is micro- or nanoseconds.


export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_FILE_HDR_LEN = 24;
export const PCAP_REC_HDR_LEN = 16;
/** Largest caplen accepted when reading (libpcap's limit for most link types). */
export const PCAP_MAX_CAPLEN = 256 * 1024;
export const LINKTYPE_ETHERNET = 1;

import type { PcapngErrorReason } from './pcapng.js';
import { rd16, rd32, wr16, wr32 } from './byte-order.js';
import { FdBuffer } from './fd-buffer.js';

export type PcapErrorReason =
  | 'truncated-file-header'
  | 'bad-magic'
  | 'bad-version'
  | 'truncated-record-header'
  | 'caplen-exceeds-snaplen'
  | 'caplen-too-large'
  | 'truncated-packet'
  | PcapngErrorReason;

/** A malformed file. `offset` is where the bad structure starts (0 for the file header, else the record header). */
export class PcapError extends Error {
  readonly offset: number;
  readonly reason: PcapErrorReason;
  constructor(reason: PcapErrorReason, offset: number, detail: string) {
    super(`pcap: ${detail} (at offset ${offset})`);
    this.name = 'PcapError';
    this.reason = reason;
    this.offset = offset;
  }
}

export interface PcapPacket {
  tsSec: number;
  /** Microseconds or nanoseconds, see PcapFile.nanosecond. */
  tsFrac: number;
  capLen: number;
  origLen: number;
  /** Offset of the packet bytes in the buffer given to readPcap. */
  offset: number;
}

export interface PcapFile {
  linkType: number;
  snapLen: number;
  nanosecond: boolean;
  littleEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  packets: PcapPacket[];
}

/** Parse a whole pcap file held in memory. Throws PcapError on any malformation. */
export function readPcap(buf: Uint8Array): PcapFile {
  if (buf.length < PCAP_FILE_HDR_LEN) {
    throw new PcapError('truncated-file-header', 0, `file header needs ${PCAP_FILE_HDR_LEN} bytes, have ${buf.length}`);
  }
  let le: boolean;
  let ns: boolean;
  const mBE = rd32(buf, 0, false);
  const mLE = rd32(buf, 0, true);
  if (mLE === PCAP_MAGIC_US || mLE === PCAP_MAGIC_NS) {
    le = true; ns = mLE === PCAP_MAGIC_NS;
  } else if (mBE === PCAP_MAGIC_US || mBE === PCAP_MAGIC_NS) {
    le = false; ns = mBE === PCAP_MAGIC_NS;
  } else {
    const hint = mBE === 0x0a0d0d0a ? ' (this is pcapng, not classic pcap)' : '';
    throw new PcapError('bad-magic', 0, `bad magic 0x${mBE.toString(16).padStart(8, '0')}${hint}`);
  }
  const versionMajor = rd16(buf, 4, le);
  const versionMinor = rd16(buf, 6, le);
  if (versionMajor !== 2) throw new PcapError('bad-version', 0, `unsupported version ${versionMajor}.${versionMinor}`);
  const snapLen = rd32(buf, 16, le);
  // Bits 16..31 of the link-type word hold FCS information, not the type.
  const linkType = rd32(buf, 20, le) & 0xffff;
  // Some writers store 0 (or huge values) for "no limit".
  const snapLimit = snapLen === 0 ? PCAP_MAX_CAPLEN : snapLen;

  const packets: PcapPacket[] = [];
  let off = PCAP_FILE_HDR_LEN;
  while (off < buf.length) {
    if (buf.length - off < PCAP_REC_HDR_LEN) {
      throw new PcapError('truncated-record-header', off, `record header needs ${PCAP_REC_HDR_LEN} bytes, have ${buf.length - off}`);
    }
    const tsSec = rd32(buf, off, le);
    const tsFrac = rd32(buf, off + 4, le);
    const capLen = rd32(buf, off + 8, le);
    const origLen = rd32(buf, off + 12, le);
    if (capLen > PCAP_MAX_CAPLEN) {
      throw new PcapError('caplen-too-large', off, `caplen ${capLen} exceeds the ${PCAP_MAX_CAPLEN}-byte limit`);
    }
    if (capLen > snapLimit) {
      throw new PcapError('caplen-exceeds-snaplen', off, `caplen ${capLen} exceeds snaplen ${snapLen}`);
    }
    const data = off + PCAP_REC_HDR_LEN;
    if (buf.length - data < capLen) {
      throw new PcapError('truncated-packet', off, `packet needs ${capLen} bytes, have ${buf.length - data}`);
    }
    packets.push({ tsSec, tsFrac, capLen, origLen, offset: data });
    off = data + capLen;
  }
  return { linkType, snapLen, nanosecond: ns, littleEndian: le, versionMajor, versionMinor, packets };
}

export interface PcapWriterOptions {
  linkType?: number; // default 1 (Ethernet)
  snapLen?: number; // default 65535; longer packets are truncated to it
  nanosecond?: boolean; // default false (microseconds)
  littleEndian?: boolean; // default true (what libpcap writes on x86/arm)
}

/**
 * Encodes pcap headers and records into caller-supplied buffers (no
 * allocation per packet), with allocating conveniences for small jobs.
 */
export class PcapWriter {
  readonly linkType: number;
  readonly snapLen: number;
  readonly nanosecond: boolean;
  readonly littleEndian: boolean;

  constructor(o: PcapWriterOptions = {}) {
    this.linkType = o.linkType ?? LINKTYPE_ETHERNET;
    this.snapLen = o.snapLen ?? 65535;
    this.nanosecond = o.nanosecond ?? false;
    this.littleEndian = o.littleEndian ?? true;
    if (!Number.isInteger(this.linkType) || this.linkType < 0 || this.linkType > 0xffff) {
      throw new RangeError(`PcapWriter: bad linkType ${this.linkType}`);
    }
    if (!Number.isInteger(this.snapLen) || this.snapLen < 1 || this.snapLen > PCAP_MAX_CAPLEN) {
      throw new RangeError(`PcapWriter: snapLen ${this.snapLen} out of range 1..${PCAP_MAX_CAPLEN}`);
    }
  }

  /** Bytes a record for a len-byte packet takes (header + data cut to snapLen). */
  recordLength(len: number): number {
    return PCAP_REC_HDR_LEN + (len < this.snapLen ? len : this.snapLen);
  }

  /** Write the 24-byte file header at dst[at]; returns the offset past it. */
  writeHeader(dst: Uint8Array, at: number): number {
    const le = this.littleEndian;
    if (at + PCAP_FILE_HDR_LEN > dst.length) throw new RangeError('PcapWriter.writeHeader: buffer too small');
    wr32(dst, at, this.nanosecond ? PCAP_MAGIC_NS : PCAP_MAGIC_US, le);
    wr16(dst, at + 4, 2, le);
    wr16(dst, at + 6, 4, le);
    wr32(dst, at + 8, 0, le); // thiszone
    wr32(dst, at + 12, 0, le); // sigfigs
    wr32(dst, at + 16, this.snapLen, le);
    wr32(dst, at + 20, this.linkType, le);
    return at + PCAP_FILE_HDR_LEN;
  }

  /**
   * Write one record for u8[off, off+len) at dst[at]; returns the offset past
   * it. origLen defaults to len (the wire length when the packet was cut).
   */
  writeRecord(dst: Uint8Array, at: number, u8: Uint8Array, off: number, len: number,
    tsSec: number, tsFrac: number, origLen: number = len): number {
    const cap = len < this.snapLen ? len : this.snapLen;
    if (at + PCAP_REC_HDR_LEN + cap > dst.length) throw new RangeError('PcapWriter.writeRecord: buffer too small');
    if (tsFrac < 0 || tsFrac >= (this.nanosecond ? 1e9 : 1e6)) {
      throw new RangeError(`PcapWriter.writeRecord: tsFrac ${tsFrac} out of range for ${this.nanosecond ? 'ns' : 'µs'}`);
    }
    const le = this.littleEndian;
    wr32(dst, at, tsSec, le);
    wr32(dst, at + 4, tsFrac, le);
    wr32(dst, at + 8, cap, le);
    wr32(dst, at + 12, origLen, le);
    const d = at + PCAP_REC_HDR_LEN;
    if (cap <= 64) {
      for (let i = 0; i < cap; i++) dst[d + i] = u8[off + i]!;
    } else {
      dst.set(u8.subarray(off, off + cap), d);
    }
    return d + cap;
  }

  /** The file header as a new array. */
  header(): Uint8Array {
    const b = new Uint8Array(PCAP_FILE_HDR_LEN);
    this.writeHeader(b, 0);
    return b;
  }

  /** One record as a new array. */
  record(u8: Uint8Array, off: number, len: number, tsSec: number, tsFrac: number, origLen: number = len): Uint8Array {
    const b = new Uint8Array(this.recordLength(len));
    this.writeRecord(b, 0, u8, off, len, tsSec, tsFrac, origLen);
    return b;
  }
}

/**
 * Streams a pcap file to an open file descriptor through a fixed buffer
 * (synchronous writes; one writeSync per bufSize bytes).
 */
export class PcapFdWriter {
  readonly writer: PcapWriter;
  private readonly out: FdBuffer;

  constructor(fd: number, o: PcapWriterOptions = {}, bufSize = 1 << 16) {
    this.writer = new PcapWriter(o);
    this.out = new FdBuffer(fd, Math.max(bufSize, PCAP_FILE_HDR_LEN + this.writer.recordLength(this.writer.snapLen)));
    this.out.used = this.writer.writeHeader(this.out.buf, 0);
  }

  write(u8: Uint8Array, off: number, len: number, tsSec: number, tsFrac: number, origLen: number = len): void {
    const at = this.out.reserve(this.writer.recordLength(len));
    this.out.used = this.writer.writeRecord(this.out.buf, at, u8, off, len, tsSec, tsFrac, origLen);
  }

  /** Write out everything buffered so far. Does not close the fd. */
  flush(): void {
    this.out.flush();
  }
}
