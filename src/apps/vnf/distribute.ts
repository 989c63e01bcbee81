// Distribution of a VNF over worker threads, the VNF manual's layouts (issue 15, item 2):
//
//   n-1: one I/O thread reads the port(s) and hands each frame, by its symmetric RSS hash, to
//        worker i over the zero-copy pipe `PORT{i` / `PORT}i`; the workers answer into the same
//        pipes, which the I/O thread drains to the output port.
//   n-2: the same with the two halves in two I/O threads (rx: port -> pipes; tx: pipes -> port).
//
// `distribute()` is the library call: it starts the threads (dist-thread.ts; the stages of
// each VNF are dist-stages.ts, the spreading dist-spread.ts), waits until every one is up,
// relays their counters (a snapshot per statsMs; the final totals at the end), stops them on
// the signal or after durationSec (draining: what entered a pipe is handled and sent), joins
// them and sums the totals. A thread that throws stops the run and distribute() rejects with
// its error; a thread that does not finish within the grace period is terminated.
//
// The main thread only coordinates (it sleeps in the event loop): n-1 with N workers runs
// N + 1 busy threads, n-2 N + 2.
//
// How those threads wait (distributionSpinUs): a port's poll() checks for 50 µs before it
// sleeps, which pays when the thread it waits for runs on another CPU. When the distribution's
// threads, plus one for whatever feeds them, outnumber the CPUs, they share CPUs with each
// other, and a thread that spins for an empty or full pipe takes that time from the very
// thread that would fill or drain it: so they sleep at once (spin 0) and the wake-up protocol
// hands the CPU over. Measured on 2 vCPUs (udp-echo n-1, 1 worker, a flooding client):
// 3.13-3.15 Mpps against 1.91-1.97 with the spin (docs/vnf.md).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { parsePortSpec } from '../../core/portspec.js';
import { spinEnvGiven } from '../../core/spin.js';
import { NetmapError } from '../../core/region.js';
import { formatMac, parseIPv4 } from '../../packet/addr.js';
import { lbPipeNames } from '../lb/lb.js';
import type { Steer } from './dist-spread.js';
import type { VnfSpec } from './dist-stages.js';
import type { IoStats, ThreadInput, ThreadMessage, ThreadRole, WorkerSnapshot } from './dist-thread.js';

export type Layout = 'n-1' | 'n-2';
/** The control words shared with the threads (an Int32Array): stop; no more frames enter the pipes; workers exited. */
export const CTRL_STOP = 0, CTRL_RX_DONE = 1, CTRL_WORKERS_DONE = 2;
export const MAX_WORKERS = 64;
export const LAYOUTS: readonly Layout[] = ['n-1', 'n-2'];

export interface DistributeOptions {
  vnf: VnfSpec;
  /** the port(s) read: one (udp-echo, l4lb) or two (firewall) */
  ports: string[];
  /** a worker's answers to port k's frames leave by port out[k] (default: the same port) */
  out?: number[];
  workers: number;
  layout: Layout;
  /** the l4lb (NAT): hash a connection by its client side */
  steer?: Steer | null;
  /** frames per round of the I/O stage (512) */
  batch?: number;
  busyWait?: boolean;
  /**
   * µs each thread's ports and pipes check before sleeping (OpenOptions.spinUs). Default
   * (distributionSpinUs): 0 when the threads oversubscribe the CPUs, else the port default.
   */
  spinUs?: number;
  /** copy frames into the pipes even when the port and the pipes share a region */
  copy?: boolean;
  durationSec?: number;
  signal?: AbortSignal;
  statsMs?: number;
  onStats?: (r: DistResult) => void;
  onReady?: (info: { zerocopy: boolean; pipes: string[] }) => void;
  /** ms the shutdown waits for the workers to drain their pipes (2000) */
  drainMs?: number;
}

export interface DistWorkerStats extends WorkerSnapshot {
  worker: number;
  /** frames the I/O stage handed to this worker (ARP copies included) */
  handed: number;
  /** frames dropped because this worker's pipe was full */
  pipeFull: number;
}

export interface DistResult {
  seconds: number;
  layout: Layout;
  workers: number;
  zerocopy: boolean;
  /** the I/O stage's counters, `dropped` their drops */
  distribution: IoStats & { dropped: number };
  perWorker: DistWorkerStats[];
  /** the workers' VNF statistics summed (numbers added, arrays element by element; text from worker 0) */
  total: Record<string, unknown>;
}

/** Members that name a thing rather than count (a rule's line, a backend's share of the same Maglev table): kept, not added. */
const NOT_COUNTS = new Set(['line', 'tableEntries']);

/** a + b for plain statistics objects: numbers added, arrays and objects member by member, anything else (and NOT_COUNTS) a's. */
export function sumStats<T>(a: T, b: T): T {
  if (typeof a === 'number' && typeof b === 'number') return (a + b) as T;
  if (Array.isArray(a) && Array.isArray(b)) return a.map((x, i) => (i < b.length ? sumStats(x, b[i]) : x)) as T;
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = !(k in out) ? v : NOT_COUNTS.has(k) ? out[k] : sumStats(out[k], v);
    return out as T;
  }
  return a;
}

/** Busy threads of a distribution: the workers and one (n-1) or two (n-2) I/O threads. */
export function distributionThreads(workers: number, layout: Layout): number {
  return workers + (layout === 'n-1' ? 1 : 2);
}

/**
 * The spin of a distribution's threads when the caller gives none: 0 when they, plus one
 * thread for whatever feeds them (a generator, the kernel's softirq, another VNF), outnumber
 * `cpus`; null (the port default: NMTS_SPIN_US, else 50 µs) when each can have a CPU, or
 * when NMTS_SPIN_US says otherwise.
 */
export function distributionSpinUs(threads: number, cpus = availableParallelism(), env = process.env.NMTS_SPIN_US): number | null {
  if (spinEnvGiven(env)) return null;
  return threads + 1 > cpus ? 0 : null;
}

/** Check a worker count and a layout (from a command line or a caller). */
export function checkDistribution(workers: number, layout: string): void {
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) throw new RangeError(`workers ${workers}: an integer 1..${MAX_WORKERS}`);
  if (!LAYOUTS.includes(layout as Layout)) throw new RangeError(`layout '${layout}': n-1 or n-2`);
}

/**
 * The MAC every worker's host uses: `mac`, else the interface's own for netmap:IF, else
 * 02:6e + the address (the host's own default, computed once for all workers).
 */
export function workerMac(port: string, ip: string, mac?: string): string {
  if (mac) return mac;
  try {
    const s = parsePortSpec(port, { defaultPrefix: true });
    if (s.kind === 'netmap' && !s.pipe) return readFileSync(`/sys/class/net/${s.name}/address`, 'utf8').trim();
  } catch { /* not an interface: derived below */ }
  const a = parseIPv4(ip.split('/')[0]!);
  return formatMac(Uint8Array.from([0x02, 0x6e, a >>> 24, a >>> 16, a >>> 8, a], (b) => b & 0xff), 0);
}

interface Thread { role: ThreadRole; id: number; w: Worker; exited: Promise<void>; last: ThreadMessage | null; done: ThreadMessage | null; ready: boolean; zc: boolean }

/** Run `o.vnf` on `o.workers` threads in layout `o.layout` until the signal (or durationSec). */
export async function distribute(o: DistributeOptions): Promise<DistResult> {
  checkDistribution(o.workers, o.layout);
  if (o.spinUs !== undefined && !(Number.isFinite(o.spinUs) && o.spinUs >= 0)) throw new RangeError(`spinUs ${o.spinUs}: microseconds (a number >= 0) expected`);
  const n = o.workers;
  if (o.ports.length === 0) throw new RangeError('distribute: no port');
  if (o.layout === 'n-2' && o.ports.some((p) => p.includes('/'))) throw new NetmapError('EINVAL', 'layout n-2 binds the ports\' rx and tx rings in two threads (/R, /T): give the port names without a /flags suffix');
  const pipes = o.ports.map((p) => lbPipeNames(p, [{ count: n }]).map((x) => ({ master: x.master.replace(/\/xT$/, ''), slave: x.consumer })));
  const ctrlSab = new SharedArrayBuffer(16), ctrl = new Int32Array(ctrlSab);
  const statsMs = o.statsMs ?? 1000;
  const base: Omit<ThreadInput, 'role' | 'id'> = {
    ports: o.ports, out: o.out ?? o.ports.map((_, k) => k), pipes, workers: n, spec: o.vnf, steer: o.steer ?? null,
    batch: o.batch ?? 512, busyWait: o.busyWait ?? false,
    spinUs: o.spinUs ?? distributionSpinUs(distributionThreads(n, o.layout)), copy: o.copy ?? false, ctrl: ctrlSab,
    statsMs: o.onStats ? statsMs : 0, drainMs: o.drainMs ?? 2000,
  };
  const ioRoles: [ThreadRole, number][] = o.layout === 'n-1' ? [['io', 0]] : [['rx', 0], ['tx', 0]];
  let failure: Error | null = null;
  let wake: () => void = () => {};
  const stop = (): void => { Atomics.store(ctrl, CTRL_STOP, 1); Atomics.notify(ctrl, CTRL_STOP); wake(); };
  const threads: Thread[] = [];
  const spawn = (role: ThreadRole, id: number): Thread => {
    const w = new Worker(new URL('./dist-thread.js', import.meta.url), { workerData: { ...base, role, id } satisfies ThreadInput });
    const t: Thread = { role, id, w, exited: Promise.resolve(), last: null, done: null, ready: false, zc: true };
    w.on('message', (m: ThreadMessage) => {
      if (m.t === 'ready') { t.ready = true; t.zc = m.zerocopy; wake(); } else if (m.t === 'stats') t.last = m; else t.done = t.last = m;
    });
    // a bad address or option is a RangeError in any thread; anything else a runtime failure (NetmapError): CLI exit 1
    w.on('error', (e) => { failure ??= threadError(role, id, e); stop(); });
    t.exited = new Promise((resolve) => w.once('exit', () => {
      if (role === 'worker') Atomics.add(ctrl, CTRL_WORKERS_DONE, 1);
      else if (role !== 'tx') Atomics.store(ctrl, CTRL_RX_DONE, 1); // (a failed rx side: the workers stop waiting)
      Atomics.notify(ctrl, CTRL_RX_DONE);
      if (!t.done && !failure) { failure = new NetmapError('EIO', `${threadName(role, id)} exited early`); stop(); }
      resolve();
      wake();
    }));
    threads.push(t);
    return t;
  };
  let t0 = performance.now(); // (from every thread up)
  const result = (): DistResult => collect(threads, o.layout, n, (performance.now() - t0) / 1000);
  const onAbort = (): void => stop();
  o.signal?.addEventListener('abort', onAbort);
  let timer: NodeJS.Timeout | null = null, ticker: NodeJS.Timeout | null = null;
  try {
    // up: the I/O threads one after the other (the first opener of a port creates it, its
    // switch's region and the pipes: never two threads at once), then the workers, which open
    // pipe ends that exist by then; every thread ready (or one failed)
    const upTo = async (): Promise<void> => {
      while (!failure && !threads.every((t) => t.ready) && !o.signal?.aborted) await new Promise<void>((r) => { wake = r; });
    };
    for (const [role, id] of ioRoles) { spawn(role, id); await upTo(); }
    if (!failure && !o.signal?.aborted) for (let i = 0; i < n; i++) spawn('worker', i);
    await upTo();
    if (!failure && !o.signal?.aborted) {
      t0 = performance.now();
      o.onReady?.({ zerocopy: threads.every((t) => t.zc), pipes: pipes.flatMap((r) => r.map((p) => p.master)) });
      if (o.durationSec) timer = setTimeout(stop, o.durationSec * 1000);
      // (once every thread has reported: a VNF's stats object is complete only then)
      if (o.onStats) ticker = setInterval(() => { if (threads.every((t) => t.last !== null)) o.onStats!(result()); }, statsMs);
      while (!Atomics.load(ctrl, CTRL_STOP)) await new Promise<void>((r) => { wake = r; });
    }
    stop();
    const grace = setTimeout(() => { for (const t of threads) void t.w.terminate(); }, (o.drainMs ?? 2000) + 3000);
    await Promise.all(threads.map((t) => t.exited));
    clearTimeout(grace);
    if (failure) throw failure;
    return result();
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    if (timer) clearTimeout(timer);
    if (ticker) clearInterval(ticker);
    for (const t of threads) void t.w.terminate();
  }
}

const threadName = (role: ThreadRole, id: number): string => (role === 'worker' ? `worker ${id}` : `${role} thread`);

function threadError(role: ThreadRole, id: number, e: Error): Error {
  const msg = `${threadName(role, id)}: ${e.message}`;
  return e.name === 'RangeError' ? new RangeError(msg, { cause: e }) : new NetmapError('EIO', msg);
}

function collect(threads: Thread[], layout: Layout, n: number, seconds: number): DistResult {
  let io: IoStats | null = null, zerocopy = true;
  const perWorker: DistWorkerStats[] = [];
  let total: Record<string, unknown> = {};
  for (const t of threads) {
    const m = t.done ?? t.last;
    if (t.role !== 'worker') {
      zerocopy &&= t.zc;
      if (m && m.t !== 'ready' && m.io) io = io ? sumStats(io, m.io) : m.io;
    }
  }
  io ??= { received: 0, nonIp: 0, arpCopies: 0, pipeFull: 0, badChain: 0, toWorker: new Array<number>(n).fill(0), pipeFullPerWorker: new Array<number>(n).fill(0), fromWorker: new Array<number>(n).fill(0), sent: 0, tooLong: 0 };
  for (const t of threads) {
    if (t.role !== 'worker') continue;
    const m = t.done ?? t.last;
    const s: WorkerSnapshot = m && m.t !== 'ready' && m.worker ? m.worker : { rx: 0, tx: 0, drops: 0, stats: {} };
    perWorker.push({ worker: t.id, handed: io.toWorker[t.id] ?? 0, pipeFull: io.pipeFullPerWorker[t.id] ?? 0, ...s });
    total = t.id === 0 ? s.stats : sumStats(total, s.stats);
  }
  return { seconds, layout, workers: n, zerocopy, distribution: { ...io, dropped: io.pipeFull + io.badChain + io.tooLong }, perWorker, total };
}

/** The per-worker part of a stats line: `w0 rx/tx/drops ...`, then the distribution's drops. */
export function distLine(layout: string, perWorker: DistWorkerStats[], distribution: DistResult['distribution']): string {
  const ws = perWorker.map((w) => `w${w.worker} ${w.rx}/${w.tx}/${w.drops}`).join(' ');
  return `[${layout} rx/tx/drops ${ws}; pipe full ${distribution.pipeFull}]`;
}
