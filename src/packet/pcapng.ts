// pcapng (draft-ietf-opsawg-pcapng): a file is a sequence of blocks
// {type u32, total_length u32, body, total_length u32}, each a multiple of 4
// bytes. A Section Header Block (SHB) starts every section and fixes its byte
// order; Interface Description Blocks (IDB) number the section's interfaces
// 0, 1, ... and give link type, snap length and timestamp resolution
// (if_tsresol, default microseconds); Enhanced/Simple/(obsolete) Packet
// Blocks carry the packets. Every other block type is validated (length at
// both ends, alignment, bounds) and skipped.
//
// PcapngParser is the allocation-free block decoder shared by readPcapng
// (whole file in memory) and PcapStreamReader (pcap-stream.ts).

import { LINKTYPE_ETHERNET, PCAP_MAX_CAPLEN, PcapError } from './pcap.js';
import { rd16, rd32, wr16, wr32 } from './byte-order.js';
import { FdBuffer } from './fd-buffer.js';

export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_IDB = 0x00000001;
export const PCAPNG_PB = 0x00000002; // obsolete Packet Block
export const PCAPNG_SPB = 0x00000003;
export const PCAPNG_NRB = 0x00000004;
export const PCAPNG_ISB = 0x00000005;
export const PCAPNG_EPB = 0x00000006;
export const PCAPNG_BOM = 0x1a2b3c4d;
/** Smallest block: type + two lengths. */
export const PCAPNG_MIN_BLOCK = 12;

export type PcapngErrorReason =
  | 'truncated-block-header'
  | 'truncated-block'
  | 'bad-block-length'
  | 'block-length-mismatch'
  | 'no-section-header'
  | 'bad-byte-order-magic'
  | 'bad-version'
  | 'bad-option'
  | 'unknown-interface'
  | 'caplen-exceeds-block'
  | 'block-exceeds-buffer';

/**
 * A malformed pcapng file (or a pcap/pcapng block that cannot be handled by a
 * stream reader's buffer). It is a PcapError, so `catch (e) { e instanceof
 * PcapError }` covers both formats; `offset` is the file offset of the block
 * at fault; `reason` and `code` hold a PcapngErrorReason.
 */
export class PcapngError extends PcapError {
  readonly code: PcapngErrorReason;
  constructor(code: PcapngErrorReason, offset: number, detail: string) {
    super(code, offset, detail);
    this.message = `pcapng: ${detail} (at offset ${offset})`;
    this.name = 'PcapngError';
    this.code = code;
  }
}

const pad4 = (n: number): number => (n + 3) & ~3;

/** What PcapngParser.body() found. */
export const PCAPNG_KIND_PACKET = 1;
export const PCAPNG_KIND_SECTION = 2;
export const PCAPNG_KIND_INTERFACE = 3;
export const PCAPNG_KIND_OTHER = 4;

/** Minimum total length per block type (0: only the generic 12). */
function minLength(type: number): number {
  switch (type) {
    case PCAPNG_SHB: return 28;
    case PCAPNG_IDB: return 20;
    case PCAPNG_EPB: case PCAPNG_PB: return 32;
    case PCAPNG_SPB: return 16;
    default: return PCAPNG_MIN_BLOCK;
  }
}

/** Block types whose body the parser needs (the rest can be skipped unread). */
export function pcapngBlockNeeded(type: number): boolean {
  return type === PCAPNG_SHB || type === PCAPNG_IDB || type === PCAPNG_EPB || type === PCAPNG_SPB || type === PCAPNG_PB;
}

/**
 * Incremental, allocation-free (per packet) pcapng block decoder. The caller
 * finds blocks (head), makes the whole block available in a buffer and calls
 * body(); results are left in the public fields.
 */
export class PcapngParser {
  /** Byte order of the current section. */
  littleEndian = true;
  /** Index of the current section, -1 before the first SHB. */
  section = -1;
  versionMajor = 0;
  versionMinor = 0;
  /** Interfaces of the current section. */
  ifCount = 0;
  readonly ifLinkType: number[] = [];
  readonly ifSnapLen: number[] = [];
  /** if_tsresol byte as stored (6 when absent). */
  readonly ifTsResol: number[] = [];
  /** Units per second when it is 10^n, n <= 9 (fast path), else 0. */
  private readonly ifDiv: number[] = [];
  private readonly ifBigDiv: bigint[] = [];
  readonly ifTsOffset: number[] = [];

  // Set by head():
  blockType = 0;
  // Set by body() for PCAPNG_KIND_PACKET:
  ifIndex = 0;
  linkType = 0;
  tsSec = 0;
  tsNsec = 0;
  capLen = 0;
  origLen = 0;
  /** Offset of the packet bytes in the buffer given to body(). */
  dataOff = 0;

  reset(): void {
    this.littleEndian = true;
    this.section = -1;
    this.ifCount = 0;
    this.blockType = 0;
  }

  /**
   * Validate a block header at buf[off] with `avail` bytes readable there and
   * return the block's total length. `fileOff` is the block's file offset for
   * errors. Needs 8 bytes, 12 for an SHB (to see its byte-order magic).
   */
  head(buf: Uint8Array, off: number, avail: number, fileOff: number): number {
    if (avail < 8) throw new PcapngError('truncated-block-header', fileOff, `block header needs 8 bytes, have ${avail}`);
    let le = this.littleEndian;
    const rawType = rd32(buf, off, true);
    if (rawType === PCAPNG_SHB) {
      if (avail < 12) throw new PcapngError('truncated-block-header', fileOff, `section header needs 12 bytes, have ${avail}`);
      const bomLE = rd32(buf, off + 8, true);
      if (bomLE === PCAPNG_BOM) le = true;
      else if (rd32(buf, off + 8, false) === PCAPNG_BOM) le = false;
      else throw new PcapngError('bad-byte-order-magic', fileOff, `bad byte-order magic 0x${bomLE.toString(16).padStart(8, '0')}`);
      this.littleEndian = le;
      this.blockType = PCAPNG_SHB;
    } else {
      if (this.section < 0) {
        throw new PcapngError('no-section-header', fileOff, `block type 0x${rawType.toString(16)} before any section header`);
      }
      this.blockType = rd32(buf, off, le);
    }
    const len = rd32(buf, off + 4, le);
    const min = minLength(this.blockType);
    if (len < min || (len & 3) !== 0) {
      throw new PcapngError('bad-block-length', fileOff,
        `block type 0x${this.blockType.toString(16)} has total length ${len} (must be a multiple of 4, at least ${min})`);
    }
    return len;
  }

  /** Check the trailing copy of the length (4 bytes at buf[off]). */
  checkTrailer(buf: Uint8Array, off: number, len: number, fileOff: number): void {
    const tail = rd32(buf, off, this.littleEndian);
    if (tail !== len) {
      throw new PcapngError('block-length-mismatch', fileOff, `block length ${len} at the start but ${tail} at the end`);
    }
  }

  /** Decode the whole block buf[off, off+len) (len from head()). */
  body(buf: Uint8Array, off: number, len: number, fileOff: number): number {
    const le = this.littleEndian;
    this.checkTrailer(buf, off + len - 4, len, fileOff);
    switch (this.blockType) {
      case PCAPNG_SHB: {
        const major = rd16(buf, off + 12, le);
        const minor = rd16(buf, off + 14, le);
        if (major !== 1) throw new PcapngError('bad-version', fileOff, `unsupported pcapng version ${major}.${minor}`);
        this.versionMajor = major;
        this.versionMinor = minor;
        this.section++;
        this.ifCount = 0;
        return PCAPNG_KIND_SECTION;
      }
      case PCAPNG_IDB: {
        const i = this.ifCount;
        this.ifLinkType[i] = rd16(buf, off + 8, le);
        this.ifSnapLen[i] = rd32(buf, off + 12, le);
        let resol = 6;
        let tsOffset = 0;
        const end = off + len - 4;
        let p = off + 16;
        while (end - p >= 4) {
          const code = rd16(buf, p, le);
          const olen = rd16(buf, p + 2, le);
          if (code === 0) break;
          if (p + 4 + pad4(olen) > end) {
            throw new PcapngError('bad-option', fileOff, `option ${code} of length ${olen} at block offset ${p - off} overruns the block`);
          }
          if (code === 9) {
            if (olen !== 1) throw new PcapngError('bad-option', fileOff, `if_tsresol has length ${olen}, not 1`);
            resol = buf[p + 4]!;
          } else if (code === 14) {
            if (olen !== 8) throw new PcapngError('bad-option', fileOff, `if_tsoffset has length ${olen}, not 8`);
            const a = rd32(buf, p + 4, le);
            const b = rd32(buf, p + 8, le);
            const hi = le ? b : a;
            const lo = le ? a : b;
            tsOffset = (hi | 0) * 4294967296 + lo; // signed 64-bit seconds
          }
          p += 4 + pad4(olen);
        }
        this.ifTsResol[i] = resol;
        this.ifTsOffset[i] = tsOffset;
        if ((resol & 0x80) === 0 && resol <= 9) {
          this.ifDiv[i] = 10 ** resol;
          this.ifBigDiv[i] = 0n;
        } else {
          this.ifDiv[i] = 0;
          this.ifBigDiv[i] = (resol & 0x80) !== 0 ? 1n << BigInt(resol & 0x7f) : 10n ** BigInt(resol);
        }
        this.ifCount = i + 1;
        return PCAPNG_KIND_INTERFACE;
      }
      case PCAPNG_EPB:
      case PCAPNG_PB: {
        const ifIndex = this.blockType === PCAPNG_EPB ? rd32(buf, off + 8, le) : rd16(buf, off + 8, le);
        if (ifIndex >= this.ifCount) {
          throw new PcapngError('unknown-interface', fileOff, `packet for interface ${ifIndex}, section has ${this.ifCount}`);
        }
        const capLen = rd32(buf, off + 20, le);
        if (capLen > len - 32) {
          throw new PcapngError('caplen-exceeds-block', fileOff, `caplen ${capLen} does not fit a ${len}-byte block`);
        }
        this.ifIndex = ifIndex;
        this.linkType = this.ifLinkType[ifIndex]!;
        this.capLen = capLen;
        this.origLen = rd32(buf, off + 24, le);
        this.dataOff = off + 28;
        this.setTime(ifIndex, rd32(buf, off + 12, le), rd32(buf, off + 16, le));
        return PCAPNG_KIND_PACKET;
      }
      case PCAPNG_SPB: {
        if (this.ifCount === 0) {
          throw new PcapngError('unknown-interface', fileOff, 'simple packet block in a section without interfaces');
        }
        const origLen = rd32(buf, off + 8, le);
        let capLen = len - 16;
        if (origLen < capLen) capLen = origLen;
        const snap = this.ifSnapLen[0]!;
        if (snap !== 0 && snap < capLen) capLen = snap;
        this.ifIndex = 0;
        this.linkType = this.ifLinkType[0]!;
        this.capLen = capLen;
        this.origLen = origLen;
        this.dataOff = off + 12;
        this.tsSec = 0;
        this.tsNsec = 0;
        return PCAPNG_KIND_PACKET;
      }
      default:
        return PCAPNG_KIND_OTHER;
    }
  }

  /** 64-bit timestamp hi:lo in the interface's units → tsSec, tsNsec. */
  private setTime(i: number, hi: number, lo: number): void {
    const d = this.ifDiv[i]!;
    if (d !== 0) {
      // Long division of the 64-bit value in base 2^16; every step < 2^53.
      let r = 0;
      let q = 0;
      let cur = r * 65536 + (hi >>> 16); q = Math.floor(cur / d); r = cur - q * d;
      let sec = q;
      cur = r * 65536 + (hi & 0xffff); q = Math.floor(cur / d); r = cur - q * d;
      sec = sec * 65536 + q;
      cur = r * 65536 + (lo >>> 16); q = Math.floor(cur / d); r = cur - q * d;
      sec = sec * 65536 + q;
      cur = r * 65536 + (lo & 0xffff); q = Math.floor(cur / d); r = cur - q * d;
      sec = sec * 65536 + q;
      this.tsSec = sec + this.ifTsOffset[i]!;
      this.tsNsec = r * (1e9 / d);
    } else {
      const div = this.ifBigDiv[i]!;
      const t = (BigInt(hi) << 32n) | BigInt(lo);
      this.tsSec = Number(t / div) + this.ifTsOffset[i]!;
      this.tsNsec = Number(((t % div) * 1000000000n) / div);
    }
  }
}

export interface PcapngInterface {
  linkType: number;
  snapLen: number;
  /** Raw if_tsresol value (6 = µs when absent, 9 = ns; bit 7 set = power of 2). */
  tsResol: number;
}

export interface PcapngSection {
  littleEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  /** File offset of the section header block. */
  offset: number;
  interfaces: PcapngInterface[];
}

export interface PcapngPacket {
  /** Index into PcapngFile.sections. */
  section: number;
  /** Interface id within the section. */
  ifIndex: number;
  linkType: number;
  tsSec: number;
  /** Always nanoseconds, whatever the interface's resolution. */
  tsNsec: number;
  capLen: number;
  origLen: number;
  /** Offset of the packet bytes in the buffer given to readPcapng. */
  offset: number;
}

export interface PcapngFile {
  sections: PcapngSection[];
  packets: PcapngPacket[];
}

/** Parse a whole pcapng file held in memory. Throws PcapngError (a PcapError) on any malformation. */
export function readPcapng(buf: Uint8Array): PcapngFile {
  if (buf.length < 4 || rd32(buf, 0, true) !== PCAPNG_SHB) {
    const m = buf.length >= 4 ? rd32(buf, 0, false) : -1;
    throw new PcapError(buf.length < 4 ? 'truncated-file-header' : 'bad-magic', 0,
      buf.length < 4 ? `file header needs 4 bytes, have ${buf.length}` : `bad pcapng magic 0x${m.toString(16).padStart(8, '0')}`);
  }
  const p = new PcapngParser();
  const sections: PcapngSection[] = [];
  const packets: PcapngPacket[] = [];
  let off = 0;
  while (off < buf.length) {
    const len = p.head(buf, off, buf.length - off, off);
    if (len > buf.length - off) {
      throw new PcapngError('truncated-block', off, `block needs ${len} bytes, have ${buf.length - off}`);
    }
    const kind = p.body(buf, off, len, off);
    if (kind === PCAPNG_KIND_PACKET) {
      packets.push({
        section: p.section, ifIndex: p.ifIndex, linkType: p.linkType, tsSec: p.tsSec, tsNsec: p.tsNsec,
        capLen: p.capLen, origLen: p.origLen, offset: p.dataOff,
      });
    } else if (kind === PCAPNG_KIND_SECTION) {
      sections.push({ littleEndian: p.littleEndian, versionMajor: p.versionMajor, versionMinor: p.versionMinor, offset: off, interfaces: [] });
    } else if (kind === PCAPNG_KIND_INTERFACE) {
      const i = p.ifCount - 1;
      sections[sections.length - 1]!.interfaces.push({ linkType: p.ifLinkType[i]!, snapLen: p.ifSnapLen[i]!, tsResol: p.ifTsResol[i]! });
    }
    off += len;
  }
  return { sections, packets };
}

export interface PcapngInterfaceOptions {
  linkType?: number; // default 1 (Ethernet)
  snapLen?: number; // default 65535; longer packets are truncated to it
  nanosecond?: boolean; // default false: µs (no if_tsresol option written)
  name?: string; // if_name option
}

export interface PcapngWriterOptions {
  littleEndian?: boolean; // default true
  /** One IDB each; default a single Ethernet interface. */
  interfaces?: PcapngInterfaceOptions[];
}

const EPB_OVERHEAD = 32;

/**
 * Encodes a pcapng section (SHB + one IDB per interface) and Enhanced Packet
 * Blocks into caller-supplied buffers (no allocation per packet), with
 * allocating conveniences for small jobs. Timestamps are (tsSec, tsFrac)
 * with tsFrac in the interface's unit (µs, or ns when nanosecond).
 */
export class PcapngWriter {
  readonly littleEndian: boolean;
  readonly interfaces: ReadonlyArray<Required<Omit<PcapngInterfaceOptions, 'name'>> & { name?: string }>;
  private readonly hdr: Uint8Array;

  constructor(o: PcapngWriterOptions = {}) {
    this.littleEndian = o.littleEndian ?? true;
    const ifs = o.interfaces ?? [{}];
    if (ifs.length === 0) throw new RangeError('PcapngWriter: at least one interface');
    this.interfaces = ifs.map((i) => {
      const linkType = i.linkType ?? LINKTYPE_ETHERNET;
      const snapLen = i.snapLen ?? 65535;
      if (!Number.isInteger(linkType) || linkType < 0 || linkType > 0xffff) throw new RangeError(`PcapngWriter: bad linkType ${linkType}`);
      if (!Number.isInteger(snapLen) || snapLen < 1 || snapLen > PCAP_MAX_CAPLEN) {
        throw new RangeError(`PcapngWriter: snapLen ${snapLen} out of range 1..${PCAP_MAX_CAPLEN}`);
      }
      return { linkType, snapLen, nanosecond: i.nanosecond ?? false, ...(i.name !== undefined ? { name: i.name } : {}) };
    });
    this.hdr = this.buildHeader();
  }

  private buildHeader(): Uint8Array {
    const le = this.littleEndian;
    const enc = new TextEncoder();
    const names = this.interfaces.map((i) => (i.name !== undefined ? enc.encode(i.name) : null));
    let size = 28;
    this.interfaces.forEach((i, k) => {
      const n = names[k];
      const opts = (i.nanosecond ? 8 : 0) + (n ? 4 + pad4(n.length) : 0);
      size += 20 + (opts ? opts + 4 : 0);
    });
    const b = new Uint8Array(size);
    wr32(b, 0, PCAPNG_SHB, le);
    wr32(b, 4, 28, le);
    wr32(b, 8, PCAPNG_BOM, le);
    wr16(b, 12, 1, le);
    wr16(b, 14, 0, le);
    wr32(b, 16, 0xffffffff, le); // section length: unknown
    wr32(b, 20, 0xffffffff, le);
    wr32(b, 24, 28, le);
    let at = 28;
    this.interfaces.forEach((i, k) => {
      const start = at;
      const n = names[k];
      wr32(b, at, PCAPNG_IDB, le);
      wr16(b, at + 8, i.linkType, le);
      wr32(b, at + 12, i.snapLen, le);
      at += 16;
      if (n) {
        wr16(b, at, 2, le); wr16(b, at + 2, n.length, le); b.set(n, at + 4);
        at += 4 + pad4(n.length);
      }
      if (i.nanosecond) {
        wr16(b, at, 9, le); wr16(b, at + 2, 1, le); b[at + 4] = 9;
        at += 8;
      }
      if (at !== start + 16) { wr32(b, at, 0, le); at += 4; } // opt_endofopt
      const len = at + 4 - start;
      wr32(b, start + 4, len, le);
      wr32(b, at, len, le);
      at += 4;
    });
    return b;
  }

  /** Bytes of the SHB + IDBs. */
  get headerLength(): number { return this.hdr.length; }

  /** Bytes an EPB for a len-byte packet on interface ifIndex takes. */
  recordLength(len: number, ifIndex = 0): number {
    const snap = this.iface(ifIndex).snapLen;
    return EPB_OVERHEAD + pad4(len < snap ? len : snap);
  }

  private iface(ifIndex: number): { snapLen: number; nanosecond: boolean } {
    const i = this.interfaces[ifIndex];
    if (i === undefined) throw new RangeError(`PcapngWriter: no interface ${ifIndex}`);
    return i;
  }

  /** Write SHB + IDBs at dst[at]; returns the offset past them. */
  writeHeader(dst: Uint8Array, at: number): number {
    if (at + this.hdr.length > dst.length) throw new RangeError('PcapngWriter.writeHeader: buffer too small');
    dst.set(this.hdr, at);
    return at + this.hdr.length;
  }

  /**
   * Write one EPB for u8[off, off+len) captured on interface ifIndex at
   * dst[at]; returns the offset past it. origLen defaults to len.
   */
  writeRecord(dst: Uint8Array, at: number, ifIndex: number, u8: Uint8Array, off: number, len: number,
    tsSec: number, tsFrac: number, origLen: number = len): number {
    const itf = this.iface(ifIndex);
    const cap = len < itf.snapLen ? len : itf.snapLen;
    const blen = EPB_OVERHEAD + pad4(cap);
    if (at + blen > dst.length) throw new RangeError('PcapngWriter.writeRecord: buffer too small');
    const unit = itf.nanosecond ? 1e9 : 1e6;
    if (tsFrac < 0 || tsFrac >= unit || !Number.isInteger(tsFrac)) {
      throw new RangeError(`PcapngWriter.writeRecord: tsFrac ${tsFrac} out of range for ${itf.nanosecond ? 'ns' : 'µs'}`);
    }
    if (tsSec < 0 || tsSec > 0xffffffff || !Number.isInteger(tsSec)) throw new RangeError(`PcapngWriter.writeRecord: bad tsSec ${tsSec}`);
    // t = tsSec * unit + tsFrac as hi:lo without losing precision.
    const y = Math.floor(tsSec / 65536) * unit; // < 2^46
    const lowSum = (tsSec % 65536) * unit + tsFrac + (y % 65536) * 65536; // < 2^49
    const lo = lowSum % 4294967296;
    const hi = Math.floor(y / 65536) + Math.floor(lowSum / 4294967296);
    const le = this.littleEndian;
    wr32(dst, at, PCAPNG_EPB, le);
    wr32(dst, at + 4, blen, le);
    wr32(dst, at + 8, ifIndex, le);
    wr32(dst, at + 12, hi, le);
    wr32(dst, at + 16, lo, le);
    wr32(dst, at + 20, cap, le);
    wr32(dst, at + 24, origLen, le);
    const d = at + 28;
    if (cap <= 64) {
      for (let i = 0; i < cap; i++) dst[d + i] = u8[off + i]!;
    } else {
      dst.set(u8.subarray(off, off + cap), d);
    }
    for (let i = cap; i < pad4(cap); i++) dst[d + i] = 0;
    wr32(dst, at + blen - 4, blen, le);
    return at + blen;
  }

  /** SHB + IDBs as a new array. */
  header(): Uint8Array { return this.hdr.slice(); }

  /** One EPB as a new array. */
  record(ifIndex: number, u8: Uint8Array, off: number, len: number, tsSec: number, tsFrac: number, origLen: number = len): Uint8Array {
    const b = new Uint8Array(this.recordLength(len, ifIndex));
    this.writeRecord(b, 0, ifIndex, u8, off, len, tsSec, tsFrac, origLen);
    return b;
  }

  /** Largest EPB this writer can produce. */
  maxRecordLength(): number {
    let m = 0;
    for (let i = 0; i < this.interfaces.length; i++) m = Math.max(m, this.recordLength(this.interfaces[i]!.snapLen, i));
    return m;
  }
}

/**
 * Streams a pcapng file to an open file descriptor through a fixed buffer
 * (synchronous writes; one writeSync per bufSize bytes).
 */
export class PcapngFdWriter {
  readonly writer: PcapngWriter;
  private readonly out: FdBuffer;

  constructor(fd: number, o: PcapngWriterOptions = {}, bufSize = 1 << 16) {
    this.writer = new PcapngWriter(o);
    this.out = new FdBuffer(fd, Math.max(bufSize, this.writer.headerLength + this.writer.maxRecordLength()));
    this.out.used = this.writer.writeHeader(this.out.buf, 0);
  }

  write(ifIndex: number, u8: Uint8Array, off: number, len: number, tsSec: number, tsFrac: number, origLen: number = len): void {
    const at = this.out.reserve(this.writer.recordLength(len, ifIndex));
    this.out.used = this.writer.writeRecord(this.out.buf, at, ifIndex, u8, off, len, tsSec, tsFrac, origLen);
  }

  /** Write out everything buffered so far. Does not close the fd. */
  flush(): void {
    this.out.flush();
  }
}

/** Builds a pcapng file in memory (a growing buffer); bytes() returns the file so far. */
export class PcapngMemWriter {
  readonly writer: PcapngWriter;
  private buf: Uint8Array;
  private used: number;

  constructor(o: PcapngWriterOptions = {}, initialSize = 1 << 16) {
    this.writer = new PcapngWriter(o);
    this.buf = new Uint8Array(Math.max(initialSize, this.writer.headerLength));
    this.used = this.writer.writeHeader(this.buf, 0);
  }

  write(ifIndex: number, u8: Uint8Array, off: number, len: number, tsSec: number, tsFrac: number, origLen: number = len): void {
    const need = this.used + this.writer.recordLength(len, ifIndex);
    if (need > this.buf.length) {
      const nb = new Uint8Array(Math.max(need, this.buf.length * 2));
      nb.set(this.buf.subarray(0, this.used));
      this.buf = nb;
    }
    this.used = this.writer.writeRecord(this.buf, this.used, ifIndex, u8, off, len, tsSec, tsFrac, origLen);
  }

  get length(): number { return this.used; }

  /** A view of the file written so far (valid until the next write). */
  bytes(): Uint8Array { return this.buf.subarray(0, this.used); }
}
