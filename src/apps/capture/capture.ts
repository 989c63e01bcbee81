// `nmts capture`: tcpdump's common job on a netmap-ts port. Receive in batches
// (Port.receiveBatch into preallocated arrays), run the compiled filter on each frame where
// it lies in the port's buffers, and either write it through the pcap/pcapng fd writers'
// fixed buffers or print one text line. The receive/filter/write path allocates nothing
// per packet; the text path builds a string per packet (for a terminal).
//
// Waiting uses Port.pollAsync, so the event loop keeps running (signals, AbortSignal);
// while traffic keeps the port busy the loop still yields every ~50 ms.

import { NS_MOREFRAG, POLLIN, open, type Port } from '../../index.js'; // the entry installs the port-kind table
import { portBackendLines } from '../common/port-backend.js';
import { compileFilter, type PacketFilter } from '../../packet/filter.js';
import { DEFAULT_SNAPLEN } from './options.js';
import { CaptureSink } from './sink.js';
import { TextPrinter, type TextOptions } from './print.js';
import { parsePortSpec, formatPortSpec } from '../../core/portspec.js';
import { NR_MONITOR_RX, NR_MONITOR_TX, NR_ZCOPY_MON } from '../../core/constants.js';
import { progressText, type ProgressLine } from '../common/progress.js';

export { parseCaptureArgs, captureUsage, CaptureUsageError, DEFAULT_SNAPLEN, type CaptureArgs } from './options.js';
export { describePacket, formatTime, strftime, numberedName } from './format.js';
export { readCapture, formatReadCounters, ReadError, type ReadOptions, type ReadResult } from './read.js';
export { listInterfaces, formatInterfaces } from './list.js';
export { TextPrinter } from './print.js';

export interface CaptureOptions extends Omit<TextOptions, 'nano' | 'quick' | 'linkHeader'> {
  /** A port name to open (and close at the end), or a port the caller opened (left open). */
  port: string | Port;
  /** Output file; '-' = io.stdoutFd; undefined: one text line per packet through io.out. */
  file?: string;
  pcapng?: boolean;
  nano?: boolean;
  /** Stop after this many packets captured (0 / undefined: no limit). */
  count?: number;
  /** Default and 0: 262144. */
  snaplen?: number;
  rotateSeconds?: number;
  rotateBytes?: number;
  fileLimit?: number;
  /** Shorter text lines (-q). */
  quick?: boolean;
  /** Ethernet header on text lines (-e). */
  linkHeader?: boolean;
  /** Flush after every batch (-U); otherwise when the port idles, on rotation and at the end. */
  packetBuffered?: boolean;
  /** tcpdump filter expression; '' or undefined = everything. Compiled once. */
  filter?: string;
  /** Slots taken per receiveBatch (default 512). */
  batch?: number;
  /** Longest wait in pollAsync before the loop checks the signal again (default 100 ms). */
  pollMs?: number;
  /** -Q: the direction of a monitored port's frames (see portForDirection). */
  direction?: 'in' | 'out' | 'inout';
}

export class CaptureDirectionError extends Error {
  constructor(message: string) { super(message); this.name = 'CaptureDirectionError'; }
}

/**
 * The port name -Q makes of -i's. A monitor (PORT/r, /t, /rt) takes the direction asked
 * for: in = /r, out = /t, inout = /rt. Any other port only receives (a VALE port or a pipe
 * end gets what is sent to it; netmap:IF gets the interface's received frames, AF_PACKET
 * leaving out what the host sends): -Q in is what it does anyway, -Q out and inout are
 * refused with the monitor to use instead.
 */
export function portForDirection(name: string, dir: 'in' | 'out' | 'inout' | undefined): string {
  if (dir === undefined) return name;
  const spec = parsePortSpec(name, { defaultPrefix: true });
  const mon = spec.flags & (NR_MONITOR_RX | NR_MONITOR_TX | NR_ZCOPY_MON);
  if (mon === 0) {
    if (dir === 'in') return name;
    throw new CaptureDirectionError(`-Q ${dir}: ${name} only receives (a capture port sees what comes in); to see what it sends, monitor it: -i '${name}/${dir === 'out' ? 't' : 'rt'}' (it must be open already)`);
  }
  if (mon & NR_ZCOPY_MON) {
    if (dir === 'inout') return name;
    throw new CaptureDirectionError(`-Q ${dir}: a zero-copy monitor (/z) sees both directions; use ${dir === 'in' ? '/r' : '/t'}`);
  }
  const flags = (spec.flags & ~(NR_MONITOR_RX | NR_MONITOR_TX)) | (dir === 'in' ? NR_MONITOR_RX : dir === 'out' ? NR_MONITOR_TX : NR_MONITOR_RX | NR_MONITOR_TX);
  return formatPortSpec({ ...spec, flags });
}

export interface CaptureIo {
  /** Text lines (no -w). Default: standard output. */
  out?: (line: string) => void;
  /** The "listening on" notice. Default: standard error. */
  err?: (line: string) => void;
  /** Stops the capture (SIGINT/SIGTERM in the CLI). */
  signal?: AbortSignal;
  /** Called once the port is open, before the output file is (tcpdump -Z drops privileges here). */
  afterOpen?: () => void;
  /** Called once the port is open and the output ready, before the first receive. */
  onReady?: (port: Port) => void | Promise<void>;
  /** fd for -w - (default 1). */
  stdoutFd?: number;
  /** Wall clock in ms since the epoch (default performance.timeOrigin + performance.now()). */
  clock?: () => number;
  /** The status line (captured/-c, rate, drops, ETA), updated from the receive loop; erased at the end. */
  progress?: ProgressLine;
}

export interface CaptureResult {
  /** Packets that matched the filter and were written or printed ("packets captured"). */
  captured: number;
  /** Packets the filter examined ("packets received by filter"). */
  received: number;
  /** The port's rxDrops while capturing ("packets dropped by kernel"). */
  dropped: number;
  /** Output files in the order they were opened ('-' for stdout, none for text). */
  files: string[];
}

/** Largest frame reassembled from NS_MOREFRAG slots (longer ones are cut, origLen kept). */
const MAX_FRAME = 1 << 18;

const perf = performance; // a lazy global getter in Node: look it up once
const defaultClock = (): number => perf.timeOrigin + perf.now();
const yieldNow = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function capture(opts: CaptureOptions, io: CaptureIo = {}): Promise<CaptureResult> {
  const filterExpr = (opts.filter ?? '').trim();
  // compile before opening anything: a syntax error leaves no port or file behind
  const filter: PacketFilter | null = filterExpr === '' ? null : compileFilter(filterExpr);
  const snaplen = !opts.snaplen || opts.snaplen > DEFAULT_SNAPLEN ? DEFAULT_SNAPLEN : opts.snaplen;
  const nano = opts.nano ?? false;
  const limit = opts.count && opts.count > 0 ? opts.count : 0;
  const clock = io.clock ?? defaultClock;
  const out = io.out ?? ((l: string) => { process.stdout.write(l + '\n'); });
  const err = io.err ?? ((l: string) => { process.stderr.write(l + '\n'); });
  const batch = opts.batch ?? 512;
  const pollMs = opts.pollMs ?? 100;
  const signal = io.signal;

  const owned = typeof opts.port === 'string';
  const port: Port = typeof opts.port === 'string' ? open(portForDirection(opts.port, opts.direction)) : opts.port;
  const printer = opts.file === undefined ? new TextPrinter({ ...opts, nano }) : null;
  let sink: CaptureSink | null = null;
  let captured = 0, received = 0;
  const drops0 = port.stats().rxDrops;
  try {
    io.afterOpen?.();
    if (opts.file !== undefined) {
      sink = new CaptureSink({
        file: opts.file, pcapng: opts.pcapng ?? false, nano, snaplen,
        rotateSeconds: opts.rotateSeconds ?? 0, rotateBytes: opts.rotateBytes ?? 0, fileLimit: opts.fileLimit ?? 0,
        ifName: port.name, stdoutFd: io.stdoutFd ?? 1,
      }, clock());
    }
    for (const line of portBackendLines(port)) err(line);
    err(`listening on ${port.name}, link-type EN10MB (Ethernet), snapshot length ${snaplen} bytes`);
    if (io.onReady) await io.onReady(port);

    const offs = new Uint32Array(batch), lens = new Uint32Array(batch), flags = new Uint16Array(batch);
    const scratch = new Uint8Array(MAX_FRAME);
    const u8 = port.u8;
    let asm = 0, asmOrig = 0; // bytes gathered in scratch / whole frame length so far
    const flushEach = opts.packetBuffered ?? false;
    let lastYield = clock();
    // the status line: checked once per batch or idle wake-up, drawn once per its interval
    const progress = io.progress?.enabled ? io.progress : null;
    const t0 = lastYield;
    let rateT = t0, rateN = 0;
    const showProgress = (t: number): void => {
      const rate = t > rateT ? (captured - rateN) * 1000 / (t - rateT) : 0;
      rateT = t; rateN = captured;
      const drops = port.isClosed ? 0 : port.stats().rxDrops - drops0;
      progress!.update(progressText({
        tool: 'capture', done: captured, total: limit || undefined, unit: 'packets', rate, elapsedSec: (t - t0) / 1000,
        fraction: limit ? captured / limit : undefined, extra: `${received} seen, ${drops} dropped`,
      }));
    };
    let running = true;
    while (running && !(signal?.aborted ?? false)) {
      const n = port.receiveBatch(offs, lens, batch, flags);
      if (n === 0) {
        if (sink !== null) sink.flush();
        await port.pollAsync(POLLIN, pollMs);
        lastYield = clock();
        if (progress !== null && progress.due(lastYield)) showProgress(lastYield);
        continue;
      }
      const t = clock();
      const tsSec = Math.floor(t / 1000);
      let tsFrac = nano ? Math.floor((t - tsSec * 1000) * 1e6) : Math.floor((t - tsSec * 1000) * 1e3);
      const fracMax = nano ? 999_999_999 : 999_999;
      if (tsFrac > fracMax) tsFrac = fracMax;
      if (sink !== null && !sink.tick(t)) break;
      for (let i = 0; i < n; i++) {
        let buf = u8, off = offs[i]!, len = lens[i]!;
        if ((flags[i]! & NS_MOREFRAG) !== 0 || asmOrig > 0) {
          // a frame spread over several slots: gather it (the slots go back on the next batch)
          const room = MAX_FRAME - asm;
          const c = len < room ? len : room;
          scratch.set(u8.subarray(off, off + c), asm);
          asm += c;
          asmOrig += len;
          if ((flags[i]! & NS_MOREFRAG) !== 0) continue;
          buf = scratch; off = 0; len = asm;
          asm = 0; asmOrig = 0;
        }
        received++;
        if (filter !== null && !filter(buf, off, len)) continue;
        captured++;
        if (sink !== null) sink.write(buf, off, len, tsSec, tsFrac);
        else {
          const cap = len < snaplen ? len : snaplen;
          out(printer!.line(buf, off, cap, len, tsSec, nano ? tsFrac : tsFrac * 1000));
        }
        if (captured === limit) { running = false; break; }
      }
      if (flushEach && sink !== null) sink.flush();
      if (progress !== null && progress.due(t)) showProgress(t);
      if (t - lastYield > 50) {
        await yieldNow();
        lastYield = clock();
      }
    }
    progress?.clear();
    if (sink !== null) sink.close();
    return { captured, received, dropped: port.isClosed ? 0 : port.stats().rxDrops - drops0, files: sink?.files ?? [] };
  } finally {
    io.progress?.clear();
    if (sink !== null) sink.close();
    if (owned) port.close();
  }
}

/** tcpdump's closing counters, one line each (singular for 1 as tcpdump prints). */
export function formatCounters(r: CaptureResult): string[] {
  const s = (n: number): string => (n === 1 ? '' : 's');
  return [
    `${r.captured} packet${s(r.captured)} captured`,
    `${r.received} packet${s(r.received)} received by filter`,
    `${r.dropped} packet${s(r.dropped)} dropped by kernel`,
  ];
}
