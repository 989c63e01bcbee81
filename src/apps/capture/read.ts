// `nmts capture -r FILE`: tcpdump's reading of a saved capture. The file (pcap or pcapng,
// '-' for standard input) is streamed through PcapStreamReader's one read buffer, so a file
// of any size takes bounded memory; each packet goes through the compiled filter where it
// lies in that buffer, then to the text printer or to the -w sink (with the file's
// timestamps and original lengths, -C/-G/-W rotation by packet time). Only Ethernet
// (link-type 1) captures are decoded and filtered: another link type stops the reading
// with an error naming it.
import { compileFilter, type PacketFilter } from '../../packet/filter.js';
import { LINKTYPE_ETHERNET, PCAP_MAX_CAPLEN } from '../../packet/pcap.js';
import { PcapStreamReader } from '../../packet/pcap-stream.js';
import { CaptureSink } from './sink.js';
import { TextPrinter, type TextOptions } from './print.js';

export interface ReadOptions extends TextOptions {
  /** The saved capture; '-' reads io.stdinFd (default 0). */
  readFile: string;
  /** -w: output file ('-' = io.stdoutFd); undefined: text lines through io.out. */
  file?: string;
  pcapng?: boolean;
  count?: number;
  /** 0/undefined: the input's snap length. */
  snaplen?: number;
  rotateSeconds?: number;
  rotateBytes?: number;
  fileLimit?: number;
  filter?: string;
}

export interface ReadIo {
  out?: (line: string) => void;
  err?: (line: string) => void;
  signal?: AbortSignal;
  stdinFd?: number;
  stdoutFd?: number;
  /** Called once the input is open, before the output file is (tcpdump -Z drops privileges here). */
  afterOpen?: () => void;
}

export interface ReadResult {
  /** Packets read from the file. */
  read: number;
  /** Packets that matched the filter (printed or written). */
  matched: number;
  files: string[];
}

export class ReadError extends Error {
  constructor(message: string) { super(message); this.name = 'ReadError'; }
}

const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));

export async function readCapture(opts: ReadOptions, io: ReadIo = {}): Promise<ReadResult> {
  const expr = (opts.filter ?? '').trim();
  const filter: PacketFilter | null = expr === '' ? null : compileFilter(expr);
  const out = io.out ?? ((l: string) => { process.stdout.write(l + '\n'); });
  const err = io.err ?? ((l: string) => { process.stderr.write(l + '\n'); });
  const limit = opts.count && opts.count > 0 ? opts.count : 0;
  const nano = opts.nano ?? false;
  const r = opts.readFile === '-'
    ? new PcapStreamReader(io.stdinFd ?? 0, { ownFd: false })
    : PcapStreamReader.open(opts.readFile);
  let sink: CaptureSink | null = null;
  let read = 0, matched = 0;
  try {
    const inSnap = r.snapLen > 0 && r.snapLen <= PCAP_MAX_CAPLEN ? r.snapLen : PCAP_MAX_CAPLEN;
    const snaplen = opts.snaplen && opts.snaplen < inSnap ? opts.snaplen : inSnap;
    const name = opts.readFile === '-' ? '-' : opts.readFile;
    if (r.format === 'pcap') err(`reading from file ${name}, link-type ${linkName(r.linkType)}, snapshot length ${r.snapLen}`);
    else err(`reading from file ${name} (pcapng)`);
    const printer = opts.file === undefined ? new TextPrinter(opts) : null;
    const openSink = (ms: number): CaptureSink => new CaptureSink({
      file: opts.file!, pcapng: opts.pcapng ?? false, nano, snaplen, rotateSeconds: opts.rotateSeconds ?? 0,
      rotateBytes: opts.rotateBytes ?? 0, fileLimit: opts.fileLimit ?? 0, ifName: name, stdoutFd: io.stdoutFd ?? 1,
    }, ms);
    io.afterOpen?.();
    // the output opens now, or with -G at the first packet (its time names the file)
    if (opts.file !== undefined && !opts.rotateSeconds) sink = openSink(Date.now());
    for (;;) {
      if (!r.next()) break;
      read++;
      if (r.linkType !== LINKTYPE_ETHERNET) {
        throw new ReadError(`packet ${read}: link-type ${linkName(r.linkType)}: only Ethernet (EN10MB) captures are read`);
      }
      const u = r.buf, off = r.offset, cap = r.caplen;
      if (filter !== null && !filter(u, off, cap)) continue;
      matched++;
      if (printer !== null) {
        out(printer.line(u, off, cap, r.origLen, r.tsSec, r.tsNsec));
      } else {
        const ms = r.tsSec * 1000 + r.tsNsec / 1e6;
        if (sink === null) sink = openSink(ms);
        if (!sink.tick(ms)) break;
        sink.write(u, off, cap, r.tsSec, nano ? r.tsNsec : Math.floor(r.tsNsec / 1000), r.origLen);
      }
      if (matched === limit) break;
      if ((read & 4095) === 0) {
        await yieldNow();
        if (io.signal?.aborted) break;
      }
    }
    if (opts.file !== undefined && sink === null) sink = openSink(Date.now()); // nothing matched: an empty file, as tcpdump
    sink?.close();
    return { read, matched, files: sink?.files ?? [] };
  } finally {
    sink?.close();
    r.close();
  }
}

function linkName(t: number): string {
  const names: Record<number, string> = { 1: 'EN10MB (Ethernet)', 101: 'RAW (Raw IP)', 113: 'LINUX_SLL (Linux cooked v1)', 276: 'LINUX_SLL2 (Linux cooked v2)', 0: 'NULL (BSD loopback)' };
  return names[t] ?? String(t);
}

/** The closing line: "N packets read, M matched". */
export function formatReadCounters(r: ReadResult): string {
  return `${r.read} packet${r.read === 1 ? '' : 's'} read, ${r.matched} matched`;
}
