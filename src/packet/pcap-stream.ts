// Streaming reader for classic pcap and pcapng files (auto-detected by the
// magic number) over a file descriptor, through one fixed-size read buffer
// refilled with fs.readSync, so files larger than memory can be replayed.
//
// Per-packet use allocates nothing:
//
//   const r = PcapStreamReader.open('x.pcapng');
//   while (r.next()) use(r.buf, r.offset, r.caplen, r.tsSec, r.tsNsec);
//
// or copy packets in batches straight into caller buffers (ring slots):
//
//   const n = r.readBatch(region, offs, lens, ts, max, bufSize);
//
// Limits (documented choices):
//  - A packet record (pcap) or packet/section/interface block (pcapng) must
//    fit in the read buffer; otherwise next() throws PcapngError
//    'block-exceeds-buffer' naming the record's offset. Other pcapng blocks
//    of any size are skipped without reading their body (only their trailing
//    length is checked).
//  - readBatch truncates a packet longer than the destination slot
//    (bufStride) to the slot: lens[i] = bufStride, and `truncated` counts
//    such packets; the reader's caplen/origLen keep the file's values for the
//    last packet read.
//  - Errors are sticky: once next() has thrown, it throws the same error
//    until rewind(). readBatch returns the packets copied before an error
//    and throws it on the following call.
//  - A regular file is read with explicit positions (pread): its file
//    position is not used or changed. Any other fd (a pipe: `-r -` reads
//    standard input) is read in order from where it stands; rewind() is then
//    refused, and a block too large for the buffer is read through and
//    dropped instead of skipped.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  PCAP_FILE_HDR_LEN, PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAP_MAX_CAPLEN, PCAP_REC_HDR_LEN, PcapError,
} from './pcap.js';
import { PCAPNG_KIND_PACKET, PCAPNG_SHB, PcapngError, PcapngParser, pcapngBlockNeeded } from './pcapng.js';
import { rd16, rd32 } from './byte-order.js';

const WAIT = new Int32Array(new SharedArrayBuffer(4));

export const PCAP_STREAM_DEFAULT_BUF = 1 << 20;
/** Smallest read buffer accepted (records/blocks larger than the buffer are errors). */
export const PCAP_STREAM_MIN_BUF = 4096;

export interface PcapStreamOptions {
  /** Read buffer size in bytes (default 1 MiB, at least 4096). */
  bufSize?: number;
  /** Close the fd in close() (default: true for open(), false for the constructor). */
  ownFd?: boolean;
}

export class PcapStreamReader {
  /** The read buffer; the current packet is buf[offset, offset+caplen), valid until the next call. */
  readonly buf: Uint8Array;
  offset = 0;
  caplen = 0;
  origLen = 0;
  tsSec = 0;
  /** Nanoseconds, whatever the file's resolution. */
  tsNsec = 0;
  linkType = 0;
  /** pcapng: interface id within the current section; pcap: 0. */
  ifIndex = 0;
  /** pcapng: section index of the current packet; pcap: 0. */
  section = 0;
  /** Number of packets returned since open/rewind. */
  count = 0;
  /** Packets readBatch cut to the slot size. */
  truncated = 0;

  readonly format: 'pcap' | 'pcapng';
  /** Classic pcap header fields (pcapng: those of the current section / last packet). */
  littleEndian = true;
  nanosecond = false;
  snapLen = 0;

  private readonly fd: number;
  private readonly ownFd: boolean;
  /** File offset of buf[0]. */
  private base = 0;
  /** Valid bytes in buf. */
  private end = 0;
  /** Read cursor in buf. */
  private pos = 0;
  private eof = false;
  private err: PcapError | null = null;
  private readonly ng: PcapngParser | null;
  private readonly scratch = new Uint8Array(4);
  private snapLimit = 0;
  /** A regular file (pread at positions); false: a pipe or terminal read in order. */
  private readonly seekable: boolean;

  static open(path: string, o: PcapStreamOptions = {}): PcapStreamReader {
    const fd = openSync(path, 'r');
    try {
      return new PcapStreamReader(fd, { ...o, ownFd: o.ownFd ?? true });
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Reads and checks the file header at once; throws PcapError when it is bad. */
  constructor(fd: number, o: PcapStreamOptions = {}) {
    const size = o.bufSize ?? PCAP_STREAM_DEFAULT_BUF;
    if (!Number.isInteger(size) || size < PCAP_STREAM_MIN_BUF) {
      throw new RangeError(`PcapStreamReader: bufSize ${size} below ${PCAP_STREAM_MIN_BUF}`);
    }
    this.fd = fd;
    this.ownFd = o.ownFd ?? false;
    this.seekable = fstatSync(fd).isFile();
    this.buf = new Uint8Array(size);
    const have = this.fill(4);
    if (have < 4) throw new PcapError('truncated-file-header', 0, `file header needs 4 bytes, have ${have}`);
    const mLE = rd32(this.buf, 0, true);
    const mBE = rd32(this.buf, 0, false);
    if (mLE === PCAPNG_SHB) {
      this.format = 'pcapng';
      this.ng = new PcapngParser();
    } else if (mLE === PCAP_MAGIC_US || mLE === PCAP_MAGIC_NS || mBE === PCAP_MAGIC_US || mBE === PCAP_MAGIC_NS) {
      this.format = 'pcap';
      this.ng = null;
      this.readPcapHeader();
    } else {
      throw new PcapError('bad-magic', 0, `bad magic 0x${mBE.toString(16).padStart(8, '0')} (neither pcap nor pcapng)`);
    }
  }

  private readPcapHeader(): void {
    const have = this.fill(PCAP_FILE_HDR_LEN);
    if (have < PCAP_FILE_HDR_LEN) {
      throw new PcapError('truncated-file-header', 0, `file header needs ${PCAP_FILE_HDR_LEN} bytes, have ${have}`);
    }
    const b = this.buf;
    const mLE = rd32(b, 0, true);
    const le = mLE === PCAP_MAGIC_US || mLE === PCAP_MAGIC_NS;
    const magic = rd32(b, 0, le);
    const major = rd16(b, 4, le);
    if (major !== 2) throw new PcapError('bad-version', 0, `unsupported version ${major}.${rd16(b, 6, le)}`);
    this.littleEndian = le;
    this.nanosecond = magic === PCAP_MAGIC_NS;
    this.snapLen = rd32(b, 16, le);
    this.snapLimit = this.snapLen === 0 ? PCAP_MAX_CAPLEN : this.snapLen;
    this.linkType = rd32(b, 20, le) & 0xffff;
    this.pos = PCAP_FILE_HDR_LEN;
  }

  /** Make at least n bytes available at pos if the file has them; returns the bytes available (may be < n at EOF). */
  private fill(n: number): number {
    let avail = this.end - this.pos;
    if (avail >= n || this.eof) return avail;
    if (this.pos > 0) {
      this.buf.copyWithin(0, this.pos, this.end);
      this.base += this.pos;
      this.end = avail;
      this.pos = 0;
    }
    while (this.end < n && this.end < this.buf.length) {
      const got = this.read(this.buf, this.end, this.buf.length - this.end, this.base + this.end);
      if (got === 0) { this.eof = true; break; }
      this.end += got;
    }
    avail = this.end - this.pos;
    return avail;
  }

  /** pread on a regular file; on a pipe, read in order (waiting out EAGAIN on a non-blocking one). */
  private read(dst: Uint8Array, at: number, len: number, pos: number): number {
    if (this.seekable) return readSync(this.fd, dst, at, len, pos);
    for (;;) {
      try {
        return readSync(this.fd, dst, at, len, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        Atomics.wait(WAIT, 0, 0, 5);
      }
    }
  }

  /** File offset of the next record/block. */
  get filePosition(): number { return this.base + this.pos; }

  /**
   * Advance to the next packet. Returns false at end of file; throws
   * PcapError (PcapngError for pcapng and buffer limits) on a malformed or
   * truncated file. The packet is buf[offset, offset+caplen).
   */
  next(): boolean {
    if (this.err) throw this.err;
    try {
      const ok = this.ng ? this.nextNg(this.ng) : this.nextPcap();
      if (ok) this.count++;
      return ok;
    } catch (e) {
      if (e instanceof PcapError) this.err = e;
      throw e;
    }
  }

  private nextPcap(): boolean {
    let avail = this.fill(PCAP_REC_HDR_LEN);
    if (avail === 0) return false;
    const at = this.base + this.pos;
    if (avail < PCAP_REC_HDR_LEN) {
      throw new PcapError('truncated-record-header', at, `record header needs ${PCAP_REC_HDR_LEN} bytes, have ${avail}`);
    }
    const b = this.buf;
    const p = this.pos;
    const le = this.littleEndian;
    const capLen = rd32(b, p + 8, le);
    if (capLen > PCAP_MAX_CAPLEN) {
      throw new PcapError('caplen-too-large', at, `caplen ${capLen} exceeds the ${PCAP_MAX_CAPLEN}-byte limit`);
    }
    if (capLen > this.snapLimit) {
      throw new PcapError('caplen-exceeds-snaplen', at, `caplen ${capLen} exceeds snaplen ${this.snapLen}`);
    }
    const need = PCAP_REC_HDR_LEN + capLen;
    if (need > this.buf.length) {
      const have = this.seekable ? fstatSync(this.fd).size - at - PCAP_REC_HDR_LEN : capLen;
      if (have < capLen) throw new PcapError('truncated-packet', at, `packet needs ${capLen} bytes, have ${have}`);
      throw new PcapngError('block-exceeds-buffer', at, `record of ${need} bytes exceeds the ${this.buf.length}-byte read buffer`);
    }
    avail = this.fill(need);
    if (avail < need) {
      throw new PcapError('truncated-packet', at, `packet needs ${capLen} bytes, have ${avail - PCAP_REC_HDR_LEN}`);
    }
    const q = this.pos; // fill may have moved the data
    this.tsSec = rd32(b, q, le);
    const frac = rd32(b, q + 4, le);
    this.tsNsec = this.nanosecond ? frac : frac * 1000;
    this.caplen = capLen;
    this.origLen = rd32(b, q + 12, le);
    this.offset = q + PCAP_REC_HDR_LEN;
    this.pos = q + need;
    return true;
  }

  private nextNg(ng: PcapngParser): boolean {
    for (;;) {
      let avail = this.fill(12);
      if (avail === 0) return false;
      const at = this.base + this.pos;
      const len = ng.head(this.buf, this.pos, avail, at);
      if (len > this.buf.length) {
        // Too big for the buffer: check it is complete and its trailing
        // length, then skip it unread unless its body is needed.
        const tailPos = at + len - 4;
        let got = 0;
        if (!this.seekable) {
          // a pipe cannot skip: read the block through, the buffer's bytes first
          let left = len - 4 - (this.end - this.pos);
          while (left > 0) {
            const r = this.read(this.buf, 0, Math.min(left, this.buf.length), 0);
            if (r === 0) break;
            left -= r;
          }
          if (left > 0) throw new PcapngError('truncated-block', at, `block needs ${len} bytes, file ends first`);
        }
        while (got < 4) {
          const r = this.seekable ? readSync(this.fd, this.scratch, got, 4 - got, tailPos + got) : this.read(this.scratch, got, 4 - got, 0);
          if (r === 0) break;
          got += r;
        }
        if (got < 4) throw new PcapngError('truncated-block', at, `block needs ${len} bytes, file ends first`);
        ng.checkTrailer(this.scratch, 0, len, at);
        if (pcapngBlockNeeded(ng.blockType)) {
          throw new PcapngError('block-exceeds-buffer', at, `block of ${len} bytes exceeds the ${this.buf.length}-byte read buffer`);
        }
        this.base = at + len;
        this.pos = 0;
        this.end = 0;
        this.eof = false;
        continue;
      }
      avail = this.fill(len);
      if (avail < len) throw new PcapngError('truncated-block', at, `block needs ${len} bytes, have ${avail}`);
      const p = this.pos;
      const kind = ng.body(this.buf, p, len, at);
      this.pos = p + len;
      if (kind === PCAPNG_KIND_PACKET) {
        this.caplen = ng.capLen;
        this.origLen = ng.origLen;
        this.tsSec = ng.tsSec;
        this.tsNsec = ng.tsNsec;
        this.linkType = ng.linkType;
        this.ifIndex = ng.ifIndex;
        this.section = ng.section;
        this.littleEndian = ng.littleEndian;
        this.snapLen = ng.ifSnapLen[ng.ifIndex]!;
        this.nanosecond = ng.ifTsResol[ng.ifIndex] === 9;
        this.offset = ng.dataOff;
        return true;
      }
    }
  }

  /**
   * Copy up to `max` packets into caller buffers: packet i goes to
   * dst[offs[i], offs[i] + lens[i]) with lens[i] = min(caplen, bufStride)
   * (longer packets are truncated to the slot, counted in `truncated`), and
   * ts[i] = tsSec + tsNsec / 1e9 (seconds as a double). Returns the number
   * of packets copied; 0 at end of file.
   */
  readBatch(dst: Uint8Array, offs: Uint32Array, lens: Uint16Array, ts: Float64Array, max: number, bufStride: number): number {
    if (max > offs.length || max > lens.length || max > ts.length) {
      throw new RangeError('PcapStreamReader.readBatch: max exceeds offs/lens/ts length');
    }
    if (bufStride > 0xffff) bufStride = 0xffff; // lens is Uint16
    const src = this.buf;
    let n = 0;
    while (n < max) {
      try {
        if (!this.next()) break;
      } catch (e) {
        if (n > 0 && e instanceof PcapError) break; // reported on the next call (sticky)
        throw e;
      }
      let len = this.caplen;
      if (len > bufStride) { len = bufStride; this.truncated++; }
      const d = offs[n]!;
      if (d + len > dst.length) throw new RangeError(`PcapStreamReader.readBatch: slot ${n} at ${d} overruns dst`);
      const s = this.offset;
      if (len <= 64) {
        for (let k = 0; k < len; k++) dst[d + k] = src[s + k]!;
      } else {
        dst.set(src.subarray(s, s + len), d);
      }
      lens[n] = len;
      ts[n] = this.tsSec + this.tsNsec / 1e9;
      n++;
    }
    return n;
  }

  /** Go back to the first packet (for looping replays). */
  rewind(): void {
    if (!this.seekable) throw new RangeError('PcapStreamReader.rewind: the input is not a regular file (a pipe cannot be read twice)');
    this.base = 0;
    this.pos = 0;
    this.end = 0;
    this.eof = false;
    this.err = null;
    this.count = 0;
    if (this.ng) {
      this.ng.reset();
    } else {
      this.readPcapHeader();
    }
  }

  close(): void {
    if (this.ownFd) closeSync(this.fd);
  }
}
