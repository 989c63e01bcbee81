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
// Two ports (-I): with -c each packet goes where tcpprep's cache says (or is skipped), with
// --dualfile the packets of the second file of a pair go out -I; -w writes a pcap instead
// (output.ts). --include/--exclude skip packets by number, --unique-ip edits the copy in the
// slot (unique-ip.ts), --maxsleep caps each pause by moving the rest of the schedule earlier,
// -o asks on the terminal before each packet (io.ask).
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
import { inPacketList, type ReplayOptions } from './options.js';
import { CachedSource, MergeSource, StreamSource, type PacketSource } from './source.js';
import { PcapOutput, PortOutput, type ReplayOutput } from './output.js';
import { cacheDir, DIR_NOSEND, DIR_PRIMARY, readCacheFile, type TcpprepCache } from './tcpprep-cache.js';
import { uniqueIpEdit, uniqueIteration } from './unique-ip.js';
import { Pacer } from './pacer.js';
import { replayProgressLine } from './progress.js';
import type { ProgressLine } from '../common/progress.js';
import { deviceStatsLines, describePacket, flowStatsLine, FlowTable, formatDateTime, packetStatsLines } from './stats.js';

export { parseReplayArgs, replayUsage, ReplayUsageError, defaultReplayOptions, type ReplayOptions, type ReplaySpeed } from './options.js';
export { CacheFileError } from './tcpprep-cache.js';
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
  /** -o: show the prompt, resolve with the line typed (null: input closed). */
  ask?: (prompt: string) => Promise<string | null>;
}

/** 'empty': a whole pass over the files found no packet (so --loop 0 cannot go on forever). */
export type ReplayStop = 'done' | 'limit' | 'duration' | 'signal' | 'error' | 'empty';

/** tcpreplay's per-device counters (sendpacket_getstat()). */
export interface DeviceResult {
  name: string;
  sent: number;
  failed: number;
  retriedEagain: number;
}

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
  /** Flows (new + expired), unique (new) and expired; -1 flows = not tracked (--no-flow-stats). */
  flows: number;
  flowsUnique: number;
  flowsExpired: number;
  flowPackets: number;
  nonFlowPackets: number;
  /** Whether --flow-expiry was given (the Flows line then shows unique and expired). */
  flowExpiry: boolean;
  /** Packets not sent by choice: the cache said "don't send", or --include/--exclude. */
  skipped: number;
  /** Per output (-i, then -I; or the -w file). */
  devices: DeviceResult[];
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
  if (r.flows >= 0) {
    const f = flowStatsLine(r.flows, r.flowPackets, r.nonFlowPackets, r.elapsedUs,
      r.flowExpiry ? { unique: r.flowsUnique, expired: r.flowsExpired } : undefined);
    if (f) lines.push(f);
  }
  const devs = r.devices.length > 0 ? r.devices : [{ name: r.intf, sent: r.packets, failed: r.failed, retriedEagain: r.retriedEagain }];
  for (const d of devs) {
    lines.push(...deviceStatsLines(d.name, {
      sent: d.sent, failed: d.failed, truncated: 0, retriedEnobufs: 0, retriedEagain: d.retriedEagain,
    }));
  }
  return lines;
}

function openSources(o: ReplayOptions): PacketSource[] {
  const srcs: PacketSource[] = [];
  const one = (f: string): PacketSource => (o.preload ? new CachedSource(f) : new StreamSource(f));
  try {
    if (o.dualfile) {
      for (let i = 0; i + 1 < o.files.length; i += 2) {
        const a = one(o.files[i]!);
        try { srcs.push(new MergeSource(a, one(o.files[i + 1]!))); } catch (e) { a.close(); throw e; }
      }
    } else {
      for (const f of o.files) srcs.push(one(f));
    }
  } catch (e) {
    for (const s of srcs) s.close();
    throw e;
  }
  return srcs;
}

/** Packets per pass with -K (for the progress line), else 0. */
function preloadedCount(s: PacketSource): number {
  if (s instanceof CachedSource) return s.count;
  if (s instanceof MergeSource) return preloadedCount(s.a) + preloadedCount(s.b);
  return 0;
}

function openOutputs(o: ReplayOptions, sources: PacketSource[], io: ReplayIo): ReplayOutput[] {
  if (o.write) {
    let linkType = 1;
    for (const s of sources) { linkType = s.linkType; break; }
    return [new PcapOutput(o.write, linkType)];
  }
  const outs: ReplayOutput[] = [];
  try {
    for (const name of o.intf2 ? [o.intf, o.intf2] : [o.intf]) {
      const port = open(name);
      try {
        outs.push(new PortOutput(port));
      } catch (e) {
        port.close();
        throw e;
      }
      if (!o.quiet) for (const line of portBackendLines(port)) io.err(line);
    }
  } catch (e) {
    for (const x of outs) x.close();
    throw e;
  }
  return outs;
}

/**
 * Replay o.files onto port o.intf (and o.intf2, or into the pcap o.write). Throws (before
 * sending anything) when a port cannot be opened or a file or the cache cannot be read / has
 * a bad header (with -K: any bad record); a file that goes bad later stops the replay with
 * stop = 'error' and the counters so far. The caller prints statsBlock(result); with --stats
 * the periodic lines and the "Test start:" / "Test complete:" lines are printed here.
 */
export async function replay(o: ReplayOptions, io: ReplayIo): Promise<ReplayResult> {
  const quiet = o.quiet;
  const cache = o.cachefile ? readCacheFile(o.cachefile) : null;
  if (o.preload && !quiet) io.err('File Cache is enabled');
  const sources = openSources(o);
  let outs: ReplayOutput[];
  try {
    outs = openOutputs(o, sources, io);
  } catch (e) {
    for (const s of sources) s.close();
    throw e;
  }
  const res: ReplayResult = {
    intf: o.write || o.intf, packets: 0, bytes: 0, elapsedUs: 0, startTime: 0, endTime: 0, failed: 0, truncated: 0,
    retriedEnobufs: 0, retriedEagain: 0, flows: -1, flowsUnique: 0, flowsExpired: 0, flowPackets: 0, nonFlowPackets: 0,
    flowExpiry: o.flowExpiry > 0, skipped: 0, devices: [], loops: 0, stop: 'done',
  };
  try {
    await run(o, io, outs, sources, cache, res);
  } finally {
    for (const s of sources) s.close();
    for (const x of outs) x.close(io.signal);
  }
  res.devices = outs.map((x) => ({ name: x.name, sent: x.sent, failed: x.failed, retriedEagain: x.retriedEagain }));
  res.retriedEagain = outs.reduce((n, x) => n + x.retriedEagain, 0);
  return res;
}

async function run(o: ReplayOptions, io: ReplayIo, outs: ReplayOutput[], sources: PacketSource[], cache: TcpprepCache | null, res: ReplayResult): Promise<void> {
  const maxBatch = o.oneAtATime ? 1 : o.batch > 0 ? o.batch : 256;
  const limit = o.limit > 0 ? o.limit : Infinity;
  const loops = o.loop > 0 ? o.loop : Infinity;
  const verbose = o.verbose && !o.quiet;
  const signal = io.signal;
  const preload = o.preload;
  const flowsTab = o.flowStats ? new FlowTable() : null;
  const expiry = o.flowExpiry;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const statsEvery = o.statsSec > 0 ? o.statsSec * 1000 : 0;
  const progress = io.progress?.enabled && o.progressSec > 0 ? io.progress : null;
  const perPass = preload ? sources.reduce((n, s) => n + preloadedCount(s), 0) : 0;
  const list = o.list, exclude = o.listExclude;
  const cacheData = cache?.data ?? null, cacheCount = cache?.count ?? 0;
  const dual = o.dualfile;
  const pktlen = o.pktlen;
  const maxSleep = o.maxSleepMs > 0 ? o.maxSleepMs : Infinity;
  const unique = o.uniqueIp;
  const nOuts = outs.length;
  let fileNo = 0;
  let rateT = 0, rateSent = 0, rate = 0;

  let sent = 0, bytes = 0, failed = 0, skipped = 0;
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
  let askLeft = 0; // -o: packets still to send before asking again

  if (o.statsSec >= 0) io.out(`Test start: ${formatDateTime(res.startTime)} ...`);

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
  /** Hand every output's batch over. */
  const flushAll = (): void => {
    let n = 0;
    for (let k = 0; k < nOuts; k++) n += outs[k]!.flush();
    if (n > 0) lastSyncAt = clock.now();
  };

  const pacer = new Pacer(o, start);
  // --maxsleep: the schedule moves earlier by `shift` ms whenever a pause would exceed it
  let shift = 0, lastDue = start;

  outer:
  for (loopNo = 0; loopNo < loops; loopNo++) {
    if (loopNo > 0) {
      if (o.loopDelayMs > 0) {
        if (!(await waitUntil(clock.now() + o.loopDelayMs))) break;
      }
      pacer.passStart(clock.now(), o.loopDelayMs > 0);
    }
    if (signal?.aborted) { stop = 'signal'; break; }
    if (clock.now() - lastYield > YIELD_MS) { await yieldNow(); lastYield = clock.now(); }
    // -K: flows are counted in the first pass only (tcpreplay), unless --unique-ip makes every pass new
    const countFlows = flowsTab !== null && (!preload || loopNo === 0 || unique);
    const uniq = unique ? uniqueIteration(loopNo, o.uniqueIpLoops) : 0;
    let passPackets = 0;
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
      shift = 0; lastDue = clock.now();
      let horizon = -Infinity; // packets due before this join the open batch
      let inBatch = 0;
      let step = 0; // packets looked at since the last batch boundary (sent, failed or skipped)
      while (pending) {
        if (sent + inBatch >= limit) { stop = 'limit'; break outer; }
        // which output, if any
        const pno = src.index;
        let target = dual ? src.side : 0;
        let skip = list !== null && inPacketList(list, pno) === exclude;
        if (!skip && cacheData !== null) {
          const d = cacheDir(cacheData, cacheCount, pno);
          if (d < 0) {
            res.error = new Error(`${o.cachefile} describes ${cacheCount} packets, ${src.file} has more: packet ${pno} and later not sent`);
            stop = 'error'; break outer;
          }
          if (d === DIR_NOSEND) skip = true;
          else target = d === DIR_PRIMARY ? 0 : 1;
        }
        if (!skip) {
          // when is it due?
          let due = pacer.due(src.tsRel) - shift;
          if (due - lastDue > maxSleep) { shift += due - lastDue - maxSleep; due = lastDue + maxSleep; }
          lastDue = due;
          if (due >= horizon || step >= maxBatch) {
            // a batch boundary (also every maxBatch packets that all failed or were skipped, so
            // that stop requests and the event loop are still seen)
            step = 0;
            if (inBatch > 0) { flushAll(); sent += inBatch; inBatch = 0; }
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
            horizon = (due > now ? due : now) + QUANTUM_MS;
            if (o.oneAtATime && io.ask) {
              const name = outs[target < nOuts ? target : 0]!.name;
              if (askLeft === 0) {
                const line = await io.ask(`**** Next packet #${sent + 1} out ${name}.  How many packets do you wish to send? `);
                if (line === null || signal?.aborted) { stop = 'signal'; break outer; }
                const n = Number.parseInt(line.trim(), 10);
                askLeft = Number.isFinite(n) && n > 0 ? n : 1;
              }
              io.out(`Sending packet ${sent + 1} out: ${name}`);
              askLeft--;
            }
          }
          const out = outs[target < nOuts ? target : 0]!;
          const len = pktlen ? src.origLen : src.caplen;
          const cap = src.caplen < len ? src.caplen : len;
          if (len > out.bufSize) {
            failed++;
            out.failed++;
            if (!warnedBig && !o.quiet) {
              warnedBig = true;
              io.err(`Warning: ${src.file}: packet ${pno} of ${len} bytes exceeds the port's ${out.bufSize}-byte buffers: not sent (counted as failed)`);
            }
          } else {
            let d = out.slot();
            while (d < 0) {
              // every tx ring of this output is full: hand the batch over, then wait for room
              if (inBatch > 0) { flushAll(); sent += inBatch; inBatch = 0; }
              d = out.slot();
              if (d >= 0) break;
              out.waitRoom(20);
              if (signal?.aborted) { stop = 'signal'; break outer; }
              d = out.slot();
            }
            const b = src.buf, off = src.offset, f = src.f64, u8 = out.u8;
            if (f !== null && (off & 7) === 0 && (d & 7) === 0 && ((cap + 7) & ~7) <= out.bufSize) {
              // the -K cache keeps packets 8-aligned: 8-byte words, as VALE copies
              const f64 = out.f64;
              let i = off >>> 3, j = d >>> 3; // byte offsets past 2^31: unsigned shifts
              const end = i + ((cap + 7) >> 3);
              while (i < end) f64[j++] = f[i++]!;
            } else {
              copyFrame(u8, out.u32, d, b, src.dv, off, cap);
            }
            for (let z = cap; z < len; z++) u8[d + z] = 0; // --pktlen: past the captured bytes
            if (uniq > 0) uniqueIpEdit(u8, d, len, src.linkType, uniq);
            out.commit(len, src.origLen, src.tsSec, src.tsNsec);
            inBatch++;
            bytes += len;
            if (countFlows) flowsTab.add(u8, d, cap, src.linkType, src.tsSec, expiry);
            if (verbose) io.out(`${(src.tsRel / 1000).toFixed(6)} ${describePacket(u8, d, cap, src.linkType)}`);
          }
          pacer.scheduled(len);
        } else {
          skipped++;
          if (step >= maxBatch) {
            step = 0;
            if (signal?.aborted) { stop = 'signal'; break outer; }
            const now = clock.now();
            if (now - lastYield > YIELD_MS) { periodic(now); await yieldNow(); lastYield = clock.now(); }
          }
        }
        step++;
        try {
          pending = src.next();
        } catch (e) {
          res.error = e as Error; stop = 'error'; pending = false;
        }
      }
      if (inBatch > 0) { flushAll(); sent += inBatch; inBatch = 0; }
      if (stop === 'error') break outer;
    }
    if (passPackets === 0) {
      stop = 'empty';
      res.error = new Error(`no packets in ${o.files.join(', ')}: nothing to replay`);
      break;
    }
    res.loops = loopNo + 1;
    if (o.statsSec === 0) {
      for (const l of packetStatsLines({ packets: sent, bytes, failed }, (clock.now() - start) * 1000)) io.out(l);
    }
  }
  // a batch left open by a stop: hand it over (its packets count as sent)
  let left = 0;
  for (let k = 0; k < nOuts; k++) left += outs[k]!.queued;
  if (left > 0) { flushAll(); sent += left; }
  res.packets = sent; res.bytes = bytes; res.failed = failed; res.skipped = skipped;
  res.elapsedUs = (lastSyncAt - start) * 1000;
  progress?.clear();
  res.stop = stop;
  res.endTime = performance.timeOrigin + lastSyncAt;
  if (flowsTab !== null) {
    res.flows = flowsTab.flows;
    res.flowsUnique = flowsTab.unique;
    res.flowsExpired = flowsTab.expired;
    res.flowPackets = flowsTab.flowPackets;
    res.nonFlowPackets = flowsTab.nonFlowPackets;
  }
  if (o.statsSec >= 0) io.out(`Test complete: ${formatDateTime(res.endTime)}`);
}
