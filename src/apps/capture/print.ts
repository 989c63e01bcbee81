// The text output of `nmts capture` (live and -r): the timestamp column (-t...), the
// decoded line (src/packet/decode: -v, -e, -q, -S) and the dumps (-x, -xx, -X, -XX, -A),
// laid out as tcpdump prints them. One string per packet: for people and greps.
import { asciiLines, FrameDecoder, hexLines, linkHeaderLength, TimestampFormat } from '../../packet/decode/index.js';

export interface TextOptions {
  verbose?: number;
  linkHeader?: boolean;
  quick?: boolean;
  absoluteSeq?: boolean;
  /** -x count. */
  hex?: number;
  /** -X count. */
  hexAscii?: number;
  /** -A. */
  ascii?: boolean;
  /** -t count. */
  tsMode?: number;
  /** 9 fraction digits. */
  nano?: boolean;
}

export class TextPrinter {
  private readonly dec: FrameDecoder;
  private readonly ts: TimestampFormat;
  private readonly hex: number;
  private readonly hexAscii: number;
  private readonly ascii: boolean;

  constructor(o: TextOptions) {
    this.dec = new FrameDecoder({
      verbose: o.verbose ?? 0, linkHeader: o.linkHeader ?? false, quick: o.quick ?? false, absoluteSeq: o.absoluteSeq ?? false,
    });
    this.ts = new TimestampFormat(o.tsMode ?? 0, o.nano ?? false);
    this.hex = o.hex ?? 0;
    this.hexAscii = o.hexAscii ?? 0;
    this.ascii = o.ascii ?? false;
  }

  /** The text for the Ethernet frame u[off, off+capLen) of origLen bytes stamped sec + ns/1e9 (no final newline). */
  line(u: Uint8Array, off: number, capLen: number, origLen: number, sec: number, ns: number): string {
    let s = this.ts.format(sec, ns) + this.dec.ethernet(u, off, capLen, origLen);
    if (this.hexAscii > 0 || this.hex > 0) {
      const whole = this.hexAscii > 0 ? this.hexAscii > 1 : this.hex > 1;
      const skip = whole ? 0 : linkHeaderLength(u, off, capLen);
      if (capLen > skip) s += hexLines(u, off + skip, capLen - skip, this.hexAscii > 0);
    } else if (this.ascii) {
      const skip = linkHeaderLength(u, off, capLen);
      if (capLen > skip) s += asciiLines(u, off + skip, capLen - skip);
    }
    return s;
  }
}
