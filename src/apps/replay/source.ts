// Packet sources for `nmts replay`: a file streamed through PcapStreamReader, or the same
// file loaded into memory first (-K). Both expose the current packet the same way
// (buf[offset, offset + caplen), linkType, tsRel = milliseconds since the first packet of
// the pass) so the send loop sees one shape; next() allocates nothing.
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
  index = 0;
  readonly count: number;
  readonly fileBytes: number;
  private readonly offs: Float64Array;
  private readonly lens: Uint32Array;
  private readonly ts: Float64Array;
  private readonly links: Uint16Array;

  constructor(file: string) {
    this.file = file;
    const s = new StreamSource(file);
    this.fileBytes = s.fileBytes;
    let data = new Uint8Array(1 << 16), used = 0, n = 0;
    let offs = new Float64Array(1024), lens = new Uint32Array(1024), ts = new Float64Array(1024), links = new Uint16Array(1024);
    try {
      while (s.next()) {
        if (n === offs.length) {
          const m = n * 2;
          const o2 = new Float64Array(m); o2.set(offs); offs = o2;
          const l2 = new Uint32Array(m); l2.set(lens); lens = l2;
          const t2 = new Float64Array(m); t2.set(ts); ts = t2;
          const k2 = new Uint16Array(m); k2.set(links); links = k2;
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
  }

  next(): boolean {
    const i = this.index;
    if (i >= this.count) return false;
    this.offset = this.offs[i]!;
    this.caplen = this.lens[i]!;
    this.tsRel = this.ts[i]!;
    this.linkType = this.links[i]!;
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
