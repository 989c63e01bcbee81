// pkt-gen as a library function: starts one worker per thread (pool.ts), prints pkt-gen's
// report lines while they run (reporter.ts), and returns the totals (also printed as
// pkt-gen's summary, or as one JSON line with --json).
import { allowedCpus } from '../../sys/sched.js';
import { ifHwAddr } from '../../sys/net.js';
import { processRegion } from '../../core/memory.js';
import { formatPortSpec, parsePortSpec } from '../../core/portspec.js';
import { factoryKind } from '../../core/open.js';
import { MAX_SLOTS } from '../../core/constants.js';
import { buildFrame, sizeSchedule } from './frame.js';
import { backendLines } from '../common/port-backend.js';
import { HelperThreads, WATCH_MS } from '../common/idle-helpers.js';
import type { LoopConfig } from './loops.js';
import { parseRingConfig, PktGenUsageError, resolveWaitLink, type PktGenOptions } from './options.js';
import { dropLine, jsonSummary, rttSummary, summaryLines, timestampPrefix } from './report.js';
import { makeShared, ROW, S } from './shared.js';
import { WorkerPool } from './pool.js';
import { IntervalReporter } from './reporter.js';
import type { WorkerInput } from './worker.js';

export interface PktGenIo {
  /** Header and summary lines (stdout in the CLI: netmap's pkt-gen prints them there, scripts scrape them). */
  out: (line: string) => void;
  /** Progress and report lines (stderr in the CLI). */
  err: (line: string) => void;
  /** Abort to stop early (SIGINT in the CLI); the summary is still produced. */
  signal?: AbortSignal;
}

export interface PktGenResult {
  function: string;
  port: string;
  packets: number;
  bytes: number;
  events: number;
  seconds: number;
  seqErrors: number;
  /** Frames the port lost: tx, not delivered by the switch (txDrops); rx, its ring was full (rxDrops). */
  dropped: number;
  rttMinNs?: number;
  rttAvgNs?: number;
  lost?: number;
}

/** Names each thread opens: with -p N, thread i binds ring i only. */
function threadPorts(o: PktGenOptions): string[] {
  if (o.threads === 1) return [o.port];
  const spec = parsePortSpec(o.port, { defaultPrefix: true });
  if (spec.mode === 'one-nic') throw new PktGenUsageError(`pkt-gen: -p ${o.threads} needs all rings of the port, not ring ${spec.ringId} ('${o.port}')`);
  const rings = Math.max(o.threads, spec.conf.txRings ?? 0, spec.conf.rxRings ?? 0);
  const conf = spec.kind === 'vale' || spec.pipe ? { ...spec.conf, txRings: rings, rxRings: rings } : spec.conf;
  return Array.from({ length: o.threads }, (_, i) => formatPortSpec({ ...spec, mode: 'one-nic', ringId: i, conf }));
}

/** As netmap's pkt-gen: on an interface, frames come from the interface's own MAC unless -S says otherwise. */
function interfaceSourceMac(o: PktGenOptions): PktGenOptions {
  if (o.srcMacGiven) return o;
  const spec = parsePortSpec(o.port, { defaultPrefix: true });
  if (spec.kind !== 'netmap' || spec.pipe) return o;
  try {
    return { ...o, srcMac: ifHwAddr(spec.name) };
  } catch {
    return o; // no such interface: the open reports it
  }
}

/**
 * rx slots a receiver asks for when -C gives none: on a VALE port, RX_VALE_SLOTS. VALE has no
 * back-pressure (a frame that finds the ring full is dropped), so the ring is all that covers
 * the receiver's absences: a wake-up that waits for a CPU, a descheduled slice. netmap's
 * default ring (1024 slots) holds 40-200 µs of an unpaced sender here; 4096 (netmap's
 * maximum, 8 MiB of buffers) four times that (docs/benchmarks.md "Delivery across
 * processes"). It counts only when this open creates the port, as any ring configuration.
 */
export const RX_VALE_SLOTS = MAX_SLOTS;

function receiverSlots(o: PktGenOptions, name: string): number | undefined {
  if (o.function !== 'rx' && o.function !== 'rxseq') return undefined;
  return factoryKind(parsePortSpec(name, { defaultPrefix: true })) === 'vale' ? RX_VALE_SLOTS : undefined;
}

export async function pktGen(o: PktGenOptions, io: PktGenIo): Promise<PktGenResult> {
  if (o.virtioHdrLen && o.function !== 'tx' && o.function !== 'rx') throw new PktGenUsageError('pkt-gen: -H works with -f tx and -f rx');
  if (o.frags > 1) {
    const wire = (o.pcapFile ? 0 : o.frameLen) + o.virtioHdrLen;
    const fl = o.fragSize ?? Math.ceil(wire / o.frags);
    const last = wire - fl * (o.frags - 1);
    if (!o.pcapFile && (last <= 0 || fl > 2048 || last > 2048)) {
      throw new PktGenUsageError(`pkt-gen: -F ${o.frags}${o.fragSize ? ` -M ${o.fragSize}` : ''} does not fit a ${wire}-byte frame in 2048-byte buffers (each fragment, including the last, must be 1..2048 bytes)`);
    }
  }
  processRegion(); // workers inherit the region
  const built = buildFrame(interfaceSourceMac(o));
  if ((o.function === 'ping' || o.function === 'pong') && built.template && built.frameLen < built.tagLen + (o.family === 4 ? 42 : 62) + 12) {
    throw new PktGenUsageError(`pkt-gen: -f ${o.function} needs -l ${built.tagLen + (o.family === 4 ? 42 : 62) + 12} or more (sequence number and timestamp after the UDP header)`);
  }
  const ports = threadPorts(o);
  const ring = o.ringConfig ? parseRingConfig(o.ringConfig) : null;
  const { stats: statsSab, ctrl: ctrlSab } = makeShared(o.threads);
  const stats = new Float64Array(statsSab), ctrl = new Int32Array(ctrlSab);
  for (let t = 0; t < o.threads; t++) stats[t * ROW + S.minSpace] = -1;
  const perThread = (n: number, i: number): number => (n === 0 ? 0 : Math.floor(n / o.threads) + (i < n % o.threads ? 1 : 0));
  const cfgFor = (i: number): Omit<LoopConfig, 'template'> => ({
    fn: o.function, count: perThread(o.count, i), burst: o.burst, rate: o.rate / o.threads, onFull: o.onFull,
    frame: built.frame.slice(0, built.frameLen), frameLen: built.frameLen,
    frameLenMin: o.frameLenMin ?? built.frameLen,
    randomSrc: o.randomSrc, randomDst: o.randomDst, frags: o.frags, fragSize: o.fragSize ?? 0,
    tagLen: built.tagLen, sizes: o.sizeMix ? sizeSchedule(o.sizeMix) : null,
    vhdr: o.virtioHdrLen, rubbish: o.rubbish, copyMode: o.copyMode, dump: o.dump, exitOnIdle: o.exitOnIdle,
    family: o.family, reportMs: o.reportMs,
  });
  // -a: thread i on CPU (first + i) among the CPUs allowed (-c limits how many are used)
  const allowed = allowedCpus();
  const ncpu = Math.min(o.cpus || allowed.length, allowed.length);
  if (o.cpuPin !== undefined && !allowed.includes(o.cpuPin)) throw new PktGenUsageError(`pkt-gen: invalid -a ${o.cpuPin}: CPU not available (allowed: ${allowed.join(',')})`);
  const cpuOf = (i: number): number | undefined => {
    if (o.cpuPin === undefined) return undefined;
    // the -c CPUs starting at -a (among the allowed ones), used round-robin by the threads
    const first = allowed.indexOf(o.cpuPin);
    return allowed[(first + (i % ncpu)) % allowed.length];
  };

  const inputs: WorkerInput[] = ports.map((name, i) => ({
    port: name,
    openOpts: { busyWait: false, txSlots: ring?.txSlots || undefined, rxSlots: ring?.rxSlots || receiverSlots(o, name), txRings: ring?.txRings || undefined, rxRings: ring?.rxRings || undefined,
      // -H on a VALE port sets its header length, as netmap's pkt-gen does (PORT_HDR_SET); on a
      // Linux interface it takes AF_PACKET (or the TAP) with that header (docs/interfaces.md)
      vnetHdrLen: o.virtioHdrLen && ['vale', 'netmap'].includes(factoryKind(parsePortSpec(name, { defaultPrefix: true }))) ? o.virtioHdrLen : undefined },
    // a region too small for the larger ring: the worker opens with the default instead
    ownRxSlots: !ring?.rxSlots && receiverSlots(o, name) !== undefined,
    cfg: cfgFor(i), template: built.template, index: i, stats: statsSab, ctrl: ctrlSab, cpu: cpuOf(i),
  }));
  // the threads that are not ours, before ours start (idle-helpers.ts)
  const helpers = o.idleHelpers ? HelperThreads.snapshot() : null;
  const pool = new WorkerPool(inputs, stats, ctrl, io.err);
  const errors = pool.errors;
  try {
    await pool.ready;
  } catch {
    await pool.stopAll();
    throw new PktGenUsageError(errors[0] ?? 'pkt-gen: a thread failed to start');
  }
  const info = pool.shape;
  const backend = pool.backends[0];

  const sending = o.function !== 'rx' && o.function !== 'rxseq';
  // netmap's pkt-gen: "Sending on" (tx, txseq), "Receiving from" (rx, rxseq), "Working on"
  // (ping, pong), then for senders the addresses; both on stdout
  const sender = o.function === 'tx' || o.function === 'txseq';
  const queues = sending ? info.txRings : info.rxRings;
  io.out(`${sender ? 'Sending on' : sending ? 'Working on' : 'Receiving from'} ${o.port}: ${queues * ports.length} queues, ${o.threads} threads and ${ncpu} cpus.`);
  if (sender) io.out(built.describe);
  for (const line of backendLines(o.port, backend)) io.err(line);
  // threads on different queues may end up on different backends (another program held the hook)
  pool.backends.forEach((b, i) => {
    if (i > 0 && b && (b.backend !== backend?.backend || b.fallbackReason !== backend?.fallbackReason)) {
      for (const line of backendLines(`${ports[i]} (thread ${i})`, b)) io.err(line);
    }
  });
  if (o.cpuPin !== undefined && o.verbose) io.err(`pinned: ${ports.map((_, i) => `thread ${i} on cpu ${cpuOf(i)}`).join(', ')}`);
  if (o.rate) io.err(`${timestampPrefix(undefined, 'main')}Sending ${o.burst} packets every ${(o.burst / o.rate).toFixed(9)} s`);
  const wait = resolveWaitLink(o);
  if (wait > 0 && !o.port.startsWith('vale') && !o.port.includes('{') && !o.port.includes('}') && o.port !== 'null') {
    io.err(`${timestampPrefix(undefined, 'start_threads')}Wait ${wait} secs for phy reset`);
    await new Promise((r) => setTimeout(r, wait * 1000));
  }

  if (helpers) {
    const r = helpers.idle();
    if (r.error) io.err(`pkt-gen: V8's helper threads keep their priority: ${r.error}`);
    else if (o.verbose) io.err(r.skipped ? `helper threads keep their priority: ${r.skipped}` : `helper threads in SCHED_IDLE: ${r.idled}`);
  }
  pool.go();
  const t0 = performance.now();
  const reporter = new IntervalReporter(o, stats, io.err, t0);
  const sum = (k: number): number => reporter.sum(k);

  const durationMs = o.durationSec !== undefined ? o.durationSec * 1000 : Infinity;
  let nextWatch = t0 + WATCH_MS;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now(), elapsed = now - t0;
      // idle helpers that starve (other processes keep every CPU busy) get their class back
      if (helpers && helpers.idleCount > 0 && now >= nextWatch) {
        nextWatch = now + WATCH_MS;
        const waited = helpers.check(now);
        if (waited > 0 && o.verbose) io.err(`helper threads back to normal priority: other work kept every CPU busy (they waited ${waited.toFixed(0)} ms for one in about a second)`);
      }
      if (pool.done >= ports.length || errors.length || elapsed >= durationMs) return resolve();
      if (io.signal?.aborted) return resolve();
      const nextReport = reporter.dueIn(performance.now());
      if (nextReport <= 0) reporter.report();
      setTimeout(tick, Math.max(1, Math.min(50, nextReport, durationMs - elapsed)));
    };
    tick();
  });
  const stopAt = performance.now();
  await pool.stopAll();
  helpers?.restore();
  for (const e of errors) io.err(e);
  if (pool.terminated.length) io.err(`pkt-gen: thread${pool.terminated.length > 1 ? 's' : ''} ${pool.terminated.join(', ')} did not stop within 3 s and ${pool.terminated.length > 1 ? 'were' : 'was'} terminated: the run's time is taken from the main thread`);

  const pkts = sum(S.pkts), bytes = sum(S.bytes), events = sum(S.events);
  let start = Infinity, end = 0;
  for (let t = 0; t < o.threads; t++) {
    if (stats[t * ROW + S.start] > 0) start = Math.min(start, stats[t * ROW + S.start]);
    end = Math.max(end, stats[t * ROW + S.end]);
  }
  // a terminated thread wrote no end time: then the main thread's time (from the start of the threads to the stop)
  const seconds = pool.terminated.length ? (stopAt - t0) / 1000 : start < end ? (end - start) / 1000 : 0;
  const dropped = sum(S.portDrops);
  const result: PktGenResult = { function: o.function, port: o.port, packets: pkts, bytes, events, seconds, seqErrors: sum(S.seqErrors), dropped };
  if (o.function === 'ping') {
    const cnt = stats[S.rttCount];
    result.rttMinNs = cnt ? stats[S.rttMin] : 0;
    result.rttAvgNs = cnt ? stats[S.rttSum] / cnt : 0;
    result.lost = stats[S.drops];
    io.out(rttSummary(cnt, result.rttMinNs, result.rttAvgNs));
  }
  if (o.json) {
    io.out(jsonSummary({ function: o.function, port: o.port, packets: pkts, bytes, events, seconds, rawBytes: bytes + pkts * o.framingBytes, dropped, rttMinNs: result.rttMinNs, rttAvgNs: result.rttAvgNs }));
  } else {
    for (const line of summaryLines({ direction: sending ? 'Sent' : 'Received', pkts, bytes, events, seconds, rawBytes: bytes + pkts * o.framingBytes }, o.normalize)) io.out(line);
    io.out(dropLine(sending ? 'Sent' : 'Received', dropped));
  }
  if (errors.length) throw new Error(errors[0]);
  return result;
}
