// `nmts replay`: tcpreplay onto any netmap-ts port. Packets come from the files (streamed,
// or preloaded with -K), are copied into tx slots in batches with one txsync per batch,
// and are paced against the monotonic clock: every packet has a due time (capture timing,
// --pps, --mbps or --multiplier: pacer.ts), a batch is sent when its first packet is due and
// takes every following packet due within QUANTUM_MS; before that the loop sleeps (a timer
// when far, Atomics.wait when near) and spins the last ~1 ms. The schedule is absolute (due
// times are computed from the start, not from the previous batch), so a late batch is
// made up by the next ones and the average rate stays on target.
//
// Nothing is allocated per packet: the source's next() fills fields of one object, the
// copy goes straight into the region, flows are counted in a Uint32Array table.
//
// Choices (see docs/replay.md):
//  - a packet longer than the port's buffer is not sent and counts as Failed (tcpreplay's
//    "Failed packets", like an EMSGSIZE send), never Truncated (always 0);
//  - a full tx ring is waited out in poll(POLLOUT) and counted once per wait in
//    "Retried packets (EAGAIN)"; ENOBUFS never happens (0);
//  - a VALE port never blocks: frames the switch cannot deliver are counted by the
//    destination port's rxDrops (or this port's txDrops), not as send failures.
import { open } from '../../index.js';
import { portBackendLines } from '../common/port-backend.js';
import { POLLOUT } from '../../core/constants.js';
import type { Port } from '../../core/port.js';
import type { ReplayOptions } from './options.js';
import { CachedSource, StreamSource, type PacketSource } from './source.js';
import { Pacer } from './pacer.js';
import { replayProgressLine } from './progress.js';
import type { ProgressLine } from '../common/progress.js';
import { deviceStatsLines, describePacket, flowStatsLine, FlowTable, formatDateTime, packetStatsLines } from './stats.js';

export { parseReplayArgs, replayUsage, ReplayUsageError, defaultReplayOptions, type ReplayOptions, type ReplaySpeed } from './options.js';
export { ReplayFileError } from './source.js';

export interface ReplayIo {
  /** Statistics and -v lines (stdout in the CLI). */
  out: (line: string) => void;
  /** Notices, warnings and progress (stderr in the CLI). */
  err: (line: string) => void;
  /** Stops the replay (the statistics are still returned). */
  signal?: AbortSignal;
  /** The status line (frames done/total, rate, ETA), updated every progressSec; erased at the end. */
  progress?: ProgressLine;
}

/** 'empty': a whole pass over the files found no packet (so --loop 0 cannot go on forever). */
export type ReplayStop = 'done' | 'limit' | 'duration' | 'signal' | 'error' | 'empty';

export interface ReplayResult {
  intf: string;
  /** Packets and bytes sent (tcpreplay's "Actual"). */
  packets: number;
  bytes: number;
  /** From the start of the replay to the last txsync, in microseconds. */
  elapsedUs: number;
  /** Wall-clock start and end (ms since the epoch). */
  startTime: number;
  endTime: number;
  /** Packets not sent: larger than the port's buffers. */
  failed: number;
  /** Always 0: oversize packets count as failed. */
  truncated: number;
  retriedEnobufs: number;
  /** Times a full tx ring had to be waited out. */
  retriedEagain: number;
  flows: number;
  flowPackets: number;
  nonFlowPackets: number;
  /** Passes over the file list completed. */
  loops: number;
  stop: ReplayStop;
  /** Set when stop === 'error' (a file went bad mid-replay) or 'empty'. */
  error?: Error;
}

/** A batch takes every packet due within this many ms of its first one. */
const QUANTUM_MS = 1;
/** Spin (rather than sleep) when the next due time is closer than this. */
const SPIN_MS = 1;
/** Yield to the event loop at least this often (signals, timers of the caller). */
const YIELD_MS = 50;

const clock = performance; // lazy global getter in Node: look it up once
/** Byte order of Uint32Array stores, for the word copy. */
const NATIVE_LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Copy b[off, off + len) to u8[d, ...) (u32 views the same memory as u8): 32-bit words read
 * through a DataView (any source alignment) into the aligned slot buffer, then the tail.
 * Allocates nothing, where u8.set(b.subarray()) needs a view object per packet.
 */
function copyFrame(u8: Uint8Array, u32: Uint32Array, d: number, b: Uint8Array, dv: DataView, off: number, len: number): void {
  let k = 0;
  if ((d & 3) === 0) {
    const dw = d >>> 2, words = len >> 2; // d may exceed 2^31 (regions up to 4 GiB): unsigned
    if (NATIVE_LE) for (let w = 0; w < words; w++) u32[dw + w] = dv.getUint32(off + (w << 2), true);
    else for (let w = 0; w < words; w++) u32[dw + w] = dv.getUint32(off + (w << 2), false);
    k = words << 2;
  }
  for (; k < len; k++) u8[d + k] = b[off + k]!;
}

/** The final statistics block, as tcpreplay prints it. */
export function statsBlock(r: ReplayResult): string[] {
  const lines = packetStatsLines({ packets: r.packets, bytes: r.bytes, failed: r.failed }, r.elapsedUs);
  const f = flowStatsLine(r.flows, r.flowPackets, r.nonFlowPackets, r.elapsedUs);
  if (f) lines.push(f);
  lines.push(...deviceStatsLines(r.intf, {
    sent: r.packets, failed: r.failed, truncated: r.truncated, retriedEnobufs: r.retriedEnobufs, retriedEagain: r.retriedEagain,
  }));
  return lines;
}

function openSources(o: ReplayOptions): PacketSource[] {
  const srcs: PacketSource[] = [];
  try {
    for (const f of o.files) srcs.push(o.preload ? new CachedSource(f) : new StreamSource(f));
  } catch (e) {
    for (const s of srcs) s.close();
    throw e;
  }
  return srcs;
}

/**
 * Replay o.files onto port o.intf. Throws (before sending anything) when the port cannot
 * be opened or a file cannot be opened / has a bad header (with -K: any bad record); a
 * file that goes bad later stops the replay with stop = 'error' and the counters so far.
 * The caller prints statsBlock(result); with --stats the periodic lines and the
 * "Test start:" / "Test complete:" lines are printed here through io.out.
 */
export async function replay(o: ReplayOptions, io: ReplayIo): Promise<ReplayResult> {
  const quiet = o.quiet;
  if (o.preload && !quiet) io.err('File Cache is enabled');
  const sources = openSources(o);
  let port: Port;
  try {
    port = open(o.intf);
    if (!quiet) for (const line of portBackendLines(port)) io.err(line);
  } catch (e) {
    for (const s of sources) s.close();
    throw e;
  }
  const res: ReplayResult = {
    intf: o.intf, packets: 0, bytes: 0, elapsedUs: 0, startTime: 0, endTime: 0, failed: 0, truncated: 0,
    retriedEnobufs: 0, retriedEagain: 0, flows: 0, flowPackets: 0, nonFlowPackets: 0, loops: 0, stop: 'done',
  };
  try {
    await run(o, io, port, sources, res);
  } finally {
    for (const s of sources) s.close();
    port.close();
  }
  return res;
}

async function run(o: ReplayOptions, io: ReplayIo, port: Port, sources: PacketSource[], res: ReplayResult): Promise<void> {
  const u8 = port.u8, f64 = port.region.f64;
  const rings = port.txRings;
  const nr = rings.length;
  if (nr === 0) throw new Error(`${port.name}: the port has no tx ring bound (opened rx-only?)`);
  const bufSize = rings[0]!.bufSize;
  const maxBatch = o.batch > 0 ? o.batch : 256;
  const limit = o.limit > 0 ? o.limit : Infinity;
  const loops = o.loop > 0 ? o.loop : Infinity;
  const verbose = o.verbose && !o.quiet;
  const signal = io.signal;
  const preload = o.preload;
  const flowsTab = new FlowTable();
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const statsEvery = o.statsSec > 0 ? o.statsSec * 1000 : 0;
  const progress = io.progress?.enabled && o.progressSec > 0 ? io.progress : null;
  const perPass = preload ? sources.reduce((n, s) => n + (s as CachedSource).count, 0) : 0;
  let fileNo = 0;
  let rateT = 0, rateSent = 0, rate = 0;

  // counters: totals in a Float64Array (they grow past 2^31), per-batch values in locals
  let sent = 0, bytes = 0, failed = 0, eagain = 0;
  let warnedBig = false;

  const start = clock.now();
  res.startTime = performance.timeOrigin + start;
  const endAt = o.durationSec > 0 ? start + o.durationSec * 1000 : Infinity;
  let lastYield = start;
  let nextStats = statsEvery ? start + statsEvery : Infinity;
  rateT = start;
  let lastSyncAt = start;
  let stop: ReplayStop = 'done';
  let loopNo = 0;

  if (o.statsSec >= 0) io.out(`Test start: ${formatDateTime(res.startTime)} ...`);

  const publish = (): void => {
    res.packets = sent; res.bytes = bytes; res.failed = failed; res.retriedEagain = eagain;
    res.elapsedUs = (lastSyncAt - start) * 1000;
  };
  const periodic = (t: number): void => {
    if (t >= nextStats) {
      nextStats += statsEvery;
      if (nextStats <= t) nextStats = t + statsEvery;
      for (const l of packetStatsLines({ packets: sent, bytes, failed }, (t - start) * 1000)) io.out(l);
    }
    if (progress !== null && progress.due(t)) {
      if (t > rateT) { rate = (sent - rateSent) * 1000 / (t - rateT); rateT = t; rateSent = sent; }
      progress.update(replayProgressLine({
        sent, rate, elapsedSec: (t - start) / 1000, limit, durationSec: o.durationSec, loops, loopNo,
        sources, fileNo, perPass,
      }));
    }
  };
  /** Wait until clock time t (or the duration deadline, or a stop); false when stopped. */
  const waitUntil = async (t: number): Promise<boolean> => {
    if (t > endAt) t = endAt;
    for (;;) {
      const now = clock.now();
      if (signal?.aborted) { stop = 'signal'; return false; }
      if (now >= endAt) { stop = 'duration'; return false; }
      periodic(now);
      const left = t - now;
      if (left <= 0) return true;
      if (left > 20 || now - lastYield > YIELD_MS) {
        // far away: a timer lets the event loop run (signals, the caller's timers)
        await (left > 20 ? sleepMs(Math.min(left - 5, YIELD_MS)) : yieldNow());
        lastYield = clock.now();
        continue;
      }
      if (left > SPIN_MS + 0.2) Atomics.wait(nap, 0, 0, left - SPIN_MS);
      // else spin
    }
  };

  const pacer = new Pacer(o, start);

  outer:
  for (loopNo = 0; loopNo < loops; loopNo++) {
    if (loopNo > 0) {
      if (o.loopDelayMs > 0) {
        if (!(await waitUntil(clock.now() + o.loopDelayMs))) break;
      }
      pacer.passStart(clock.now(), o.loopDelayMs > 0);
    }
    // a stop request is seen between passes even when a pass sends nothing (no yield inside)
    if (signal?.aborted) { stop = 'signal'; break; }
    if (clock.now() - lastYield > YIELD_MS) { await yieldNow(); lastYield = clock.now(); }
    const countFlows = !preload || loopNo === 0; // -K: flows are counted in the first pass only
    let passPackets = 0; // files in which this pass found a packet
    for (let fi = 0; fi < sources.length; fi++) {
      const src = sources[fi]!;
      fileNo = fi;
      if (loopNo > 0 || src.index > 0) src.rewind();
      let pending: boolean;
      try {
        pending = src.next();
      } catch (e) {
        res.error = e as Error; stop = 'error'; break outer;
      }
      if (!pending) continue;
      passPackets++;
      pacer.fileStart(clock.now());
      while (pending) {
        if (sent >= limit) { stop = 'limit'; break outer; }
        // when is the pending packet due?
        let due = pacer.due(src.tsRel);
        let now = clock.now();
        if (due > now) {
          if (!(await waitUntil(due))) break outer;
          now = clock.now();
        } else {
          if (signal?.aborted) { stop = 'signal'; break outer; }
          if (now >= endAt) { stop = 'duration'; break outer; }
          if (now - lastYield > YIELD_MS) {
            periodic(now);
            await yieldNow();
            lastYield = clock.now();
          }
        }
        const horizon = (due > now ? due : now) + QUANTUM_MS;
        // fill one batch across the tx rings
        let n = 0, nb = 0, room = 0;
        let budget = limit - sent;
        if (budget > maxBatch) budget = maxBatch;
        for (let ri = 0; ri < nr && pending && n < budget; ri++) {
          const r = rings[ri]!;
          const u32 = r.u32, slots = r.slots, ns = r.numSlots, bufsOfs = r.bufsOfs, bs = r.bufSize;
          let space = r.space();
          let h = r.head;
          while (space > 0 && n < budget) {
            room++;
            const len = src.caplen;
            if (len > bufSize) {
              failed++;
              if (!warnedBig && !o.quiet) {
                warnedBig = true;
                io.err(`Warning: ${src.file}: packet ${src.index} of ${len} bytes exceeds the port's ${bufSize}-byte buffers: not sent (counted as failed)`);
              }
            } else {
              const s = slots + (h << 2);
              const d = bufsOfs + u32[s]! * bs;
              const b = src.buf, off = src.offset, f = src.f64;
              if (f !== null && (off & 7) === 0 && ((len + 7) & ~7) <= bs) {
                // the -K cache keeps packets 8-aligned: 8-byte words, as VALE copies
                let i = off >>> 3, j = d >>> 3; // byte offsets past 2^31: unsigned shifts
                const end = i + ((len + 7) >> 3);
                while (i < end) f64[j++] = f[i++];
              } else {
                // words through a DataView (any source alignment) into the aligned buffer,
                // then the tail: no view object per packet, as u8.set(b.subarray()) would need
                copyFrame(u8, u32, d, b, src.dv, off, len);
              }
              u32[s + 1] = len; // len, flags = 0
              h = h + 1 === ns ? 0 : h + 1;
              space--;
              n++;
              nb += len;
              if (countFlows) flowsTab.add(b, off, len, src.linkType);
              if (verbose) io.out(`${(src.tsRel / 1000).toFixed(6)} ${describePacket(b, off, len, src.linkType)}`);
            }
            pacer.scheduled(len);
            try {
              pending = src.next();
            } catch (e) {
              res.error = e as Error; stop = 'error'; pending = false;
            }
            if (!pending) break;
            due = pacer.due(src.tsRel);
            if (due >= horizon) break;
          }
          r.advance(h);
          if (due >= horizon) break;
        }
        if (n > 0) {
          port.txsync();
          lastSyncAt = clock.now();
          sent += n;
          bytes += nb;
        } else if (room === 0) {
          // every tx ring is full: wait for the receiver (a pipe) to make room
          eagain++;
          port.poll(POLLOUT, 20);
        }
        if (stop === 'error') break outer;
      }
    }
    if (passPackets === 0) {
      // nothing to send: end now (with --loop 0 the next pass would find nothing either)
      stop = 'empty';
      res.error = new Error(`no packets in ${o.files.join(', ')}: nothing to replay`);
      break;
    }
    res.loops = loopNo + 1;
    if (o.statsSec === 0) {
      for (const l of packetStatsLines({ packets: sent, bytes, failed }, (clock.now() - start) * 1000)) io.out(l);
    }
  }
  publish();
  progress?.clear();
  res.stop = stop;
  // hand what is still queued to the peer (bounded wait, as pkt-gen)
  port.txsync();
  const drainUntil = clock.now() + 1000;
  for (;;) {
    let pendingTx = false;
    for (let ri = 0; ri < nr; ri++) if (rings[ri]!.txPending()) pendingTx = true;
    if (!pendingTx || clock.now() > drainUntil || signal?.aborted) break;
    port.poll(POLLOUT, 10);
  }
  res.endTime = performance.timeOrigin + lastSyncAt;
  res.flows = flowsTab.flows;
  res.flowPackets = flowsTab.flowPackets;
  res.nonFlowPackets = flowsTab.nonFlowPackets;
  if (o.statsSec >= 0) io.out(`Test complete: ${formatDateTime(res.endTime)}`);
}
