// Packet sources for `nmts replay`: a file streamed through PcapStreamReader, or the same
// file loaded into memory first (-K). Both expose the current packet the same way
// (buf[offset, offset + caplen), linkType, tsRel = milliseconds since the first packet of
// the pass) so the send loop sees one shape; next() allocates nothing. MergeSource plays two
// sources at once by timestamp (--dualfile): `side` tells which file a packet came from.
import { statSync } from 'node:fs';
import { PcapError } from '../../packet/pcap.js';
import { PcapStreamReader } from '../../packet/pcap-stream.js';

/** A file that cannot be opened or read; the message names the file (and the offset). */
export class ReplayFileError extends Error {
  override name = 'ReplayFileError';
  readonly file: string;
  /** File offset of the bad record, when the file is malformed. */
  readonly offset: number | undefined;
  constructor(file: string, message: string, offset?: number) {
    super(message);
    this.file = file;
    this.offset = offset;
  }
}

export function fileError(file: string, e: unknown): Error {
  if (e instanceof ReplayFileError) return e;
  if (e instanceof PcapError) {
    // PcapError's message already ends with "(at offset N)"
    return new ReplayFileError(file, `${file}: ${e.message}`, e.offset);
  }
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string') {
    const why: Record<string, string> = {
      ENOENT: 'No such file or directory', EACCES: 'Permission denied', EISDIR: 'Is a directory',
    };
    return new ReplayFileError(file, `${file}: ${why[err.code] ?? err.message}`);
  }
  return e instanceof Error ? e : new Error(String(e));
}

export interface PacketSource {
  readonly file: string;
  buf: Uint8Array;
  /** A DataView over buf (unaligned word reads for the copy into slots). */
  dv: DataView;
  /** 8-byte words over buf when every packet starts 8-aligned (the -K cache), else null. */
  f64: Float64Array | null;
  offset: number;
  caplen: number;
  linkType: number;
  /** ms since the first packet of this pass (negative if the capture goes back in time). */
  tsRel: number;
  /** The capture's timestamp: seconds and nanoseconds. */
  tsSec: number;
  tsNsec: number;
  /** The packet's length on the wire (the record's origlen). */
  origLen: number;
  /** MergeSource: 0 = from the first file, 1 = from the second; else 0. */
  side: number;
  /** Packets returned in this pass. */
  index: number;
  /** Size of the file in bytes (weighs the files of a pass for the progress line). */
  readonly fileBytes: number;
  /** Share of this file gone through in this pass, 0..1 (for the progress line). */
  passed(): number;
  next(): boolean;
  rewind(): void;
  close(): void;
}

export class StreamSource implements PacketSource {
  readonly file: string;
  buf: Uint8Array;
  dv: DataView;
  f64: Float64Array | null = null;
  offset = 0;
  caplen = 0;
  linkType = 0;
  tsRel = 0;
  tsSec = 0;
  tsNsec = 0;
  origLen = 0;
  side = 0;
  index = 0;
  readonly fileBytes: number;
  private readonly r: PcapStreamReader;
  private sec0 = 0;
  private nsec0 = 0;

  constructor(file: string, bufSize?: number) {
    this.file = file;
    try {
      const st = statSync(file);
      if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      this.fileBytes = st.size;
      this.r = PcapStreamReader.open(file, bufSize ? { bufSize } : {});
    } catch (e) {
      throw fileError(file, e);
    }
    this.buf = this.r.buf;
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.linkType = this.r.linkType;
  }

  next(): boolean {
    const r = this.r;
    let ok: boolean;
    try {
      ok = r.next();
    } catch (e) {
      throw fileError(this.file, e);
    }
    if (!ok) return false;
    this.offset = r.offset;
    this.caplen = r.caplen;
    this.linkType = r.linkType;
    this.origLen = r.origLen;
    this.tsSec = r.tsSec;
    this.tsNsec = r.tsNsec;
    if (this.index === 0) { this.sec0 = r.tsSec; this.nsec0 = r.tsNsec; }
    this.tsRel = (r.tsSec - this.sec0) * 1000 + (r.tsNsec - this.nsec0) / 1e6;
    this.index++;
    return true;
  }

  passed(): number {
    return this.fileBytes > 0 ? Math.min(1, this.r.filePosition / this.fileBytes) : 1;
  }

  rewind(): void {
    this.r.rewind();
    this.index = 0;
  }

  close(): void {
    this.r.close();
  }
}

/** Every packet of a file in one growing buffer (-K / --preload-pcap). */
export class CachedSource implements PacketSource {
  readonly file: string;
  buf: Uint8Array;
  dv: DataView;
  /** Packets are stored 8-byte aligned, with 8 bytes of slack at the end, for word copies. */
  f64: Float64Array | null;
  offset = 0;
  caplen = 0;
  linkType = 0;
  tsRel = 0;
  tsSec = 0;
  tsNsec = 0;
  origLen = 0;
  side = 0;
  index = 0;
  readonly count: number;
  readonly fileBytes: number;
  private readonly offs: Float64Array;
  private readonly lens: Uint32Array;
  private readonly ts: Float64Array;
  private readonly links: Uint16Array;
  private readonly origs: Uint32Array;
  /** Absolute timestamps: seconds, nanoseconds. */
  private readonly secs: Float64Array;
  private readonly nsecs: Uint32Array;

  constructor(file: string) {
    this.file = file;
    const s = new StreamSource(file);
    this.fileBytes = s.fileBytes;
    let data = new Uint8Array(1 << 16), used = 0, n = 0;
    let offs = new Float64Array(1024), lens = new Uint32Array(1024), ts = new Float64Array(1024), links = new Uint16Array(1024);
    let origs = new Uint32Array(1024), secs = new Float64Array(1024), nsecs = new Uint32Array(1024);
    try {
      while (s.next()) {
        if (n === offs.length) {
          const m = n * 2;
          const o2 = new Float64Array(m); o2.set(offs); offs = o2;
          const l2 = new Uint32Array(m); l2.set(lens); lens = l2;
          const t2 = new Float64Array(m); t2.set(ts); ts = t2;
          const k2 = new Uint16Array(m); k2.set(links); links = k2;
          const g2 = new Uint32Array(m); g2.set(origs); origs = g2;
          const s2 = new Float64Array(m); s2.set(secs); secs = s2;
          const n2 = new Uint32Array(m); n2.set(nsecs); nsecs = n2;
        }
        used = (used + 7) & ~7; // 8-aligned: the replay copies 8-byte words
        if (used + s.caplen + 8 > data.length) {
          const d2 = new Uint8Array(Math.max(data.length * 2, (used + s.caplen + 8 + 7) & ~7));
          d2.set(data.subarray(0, used));
          data = d2;
        }
        data.set(s.buf.subarray(s.offset, s.offset + s.caplen), used);
        offs[n] = used;
        lens[n] = s.caplen;
        ts[n] = s.tsRel;
        links[n] = s.linkType;
        origs[n] = s.origLen;
        secs[n] = s.tsSec;
        nsecs[n] = s.tsNsec;
        used += s.caplen;
        n++;
      }
    } finally {
      s.close();
    }
    this.buf = data;
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.f64 = new Float64Array(data.buffer, data.byteOffset, data.byteLength >> 3);
    this.count = n;
    this.offs = offs;
    this.lens = lens;
    this.ts = ts;
    this.links = links;
    this.origs = origs;
    this.secs = secs;
    this.nsecs = nsecs;
  }

  next(): boolean {
    const i = this.index;
    if (i >= this.count) return false;
    this.offset = this.offs[i]!;
    this.caplen = this.lens[i]!;
    this.tsRel = this.ts[i]!;
    this.linkType = this.links[i]!;
    this.origLen = this.origs[i]!;
    this.tsSec = this.secs[i]!;
    this.tsNsec = this.nsecs[i]!;
    this.index = i + 1;
    return true;
  }

  passed(): number {
    return this.count > 0 ? this.index / this.count : 1;
  }

  rewind(): void {
    this.index = 0;
  }

  close(): void { /* nothing held */ }
}

/**
 * Two sources played together (--dualfile): the packet with the earlier capture timestamp
 * first; tsRel counts from the earlier of the two first packets. The current packet stays
 * valid until the next next() (only the side it came from is read again).
 */
export class MergeSource implements PacketSource {
  readonly file: string;
  buf: Uint8Array;
  dv: DataView;
  f64: Float64Array | null = null;
  offset = 0;
  caplen = 0;
  linkType = 0;
  tsRel = 0;
  tsSec = 0;
  tsNsec = 0;
  origLen = 0;
  side = 0;
  index = 0;
  readonly fileBytes: number;
  /** Which sides hold an unsent packet, and which side the current packet came from (-1: none). */
  private has0 = false;
  private has1 = false;
  private last = -1;
  private t0 = 0;

  constructor(readonly a: PacketSource, readonly b: PacketSource) {
    this.file = `${a.file} + ${b.file}`;
    this.fileBytes = a.fileBytes + b.fileBytes;
    this.buf = a.buf;
    this.dv = a.dv;
  }

  next(): boolean {
    const a = this.a, b = this.b;
    if (this.index === 0) {
      this.has0 = a.next();
      this.has1 = b.next();
      const ta = this.has0 ? a.tsSec * 1000 + a.tsNsec / 1e6 : Infinity;
      const tb = this.has1 ? b.tsSec * 1000 + b.tsNsec / 1e6 : Infinity;
      this.t0 = Math.min(ta, tb);
    } else if (this.last === 0) this.has0 = a.next();
    else if (this.last === 1) this.has1 = b.next();
    let s: PacketSource;
    if (this.has0 && this.has1) {
      const first = a.tsSec < b.tsSec || (a.tsSec === b.tsSec && a.tsNsec <= b.tsNsec);
      s = first ? a : b;
      this.last = first ? 0 : 1;
    } else if (this.has0) { s = a; this.last = 0; }
    else if (this.has1) { s = b; this.last = 1; }
    else { this.last = -1; return false; }
    this.side = this.last;
    this.buf = s.buf; this.dv = s.dv; this.f64 = s.f64; this.offset = s.offset; this.caplen = s.caplen;
    this.linkType = s.linkType; this.tsSec = s.tsSec; this.tsNsec = s.tsNsec; this.origLen = s.origLen;
    this.tsRel = s.tsSec * 1000 + s.tsNsec / 1e6 - this.t0;
    this.index++;
    return true;
  }

  passed(): number {
    return this.fileBytes > 0 ? (this.a.passed() * this.a.fileBytes + this.b.passed() * this.b.fileBytes) / this.fileBytes : 1;
  }

  rewind(): void {
    this.a.rewind();
    this.b.rewind();
    this.index = 0;
    this.last = -1;
  }

  close(): void {
    this.a.close();
    this.b.close();
  }
}
