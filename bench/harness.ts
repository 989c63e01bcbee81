/**
 * Main-thread helpers for writing cases.
 *
 * runPhased(): start workers (one after the other, each must say 'ready'),
 * drive the SETUP -> WARMUP -> MEASURE -> STOP phases through the shared
 * control block, snapshot the counters at the window edges, collect each
 * worker's 'done' report (GC counts, extra fields), terminate everything.
 * Always settles within warmup + duration + CASE_SLACK_MS.
 *
 * runInThread(): the same timing discipline for a synchronous loop in the
 * calling thread.
 */
import { Worker, type Transferable } from 'node:worker_threads';
import { CASE_SLACK_MS, DEFAULT_WARMUP_MS, type CaseResult, type RunOptions } from './cases.js';
import {
  F_AUX0,
  F_AUX1,
  F_AUX2,
  F_AUX3,
  F_RX,
  F_TX,
  F_WIN_END,
  F_WIN_START,
  I_PHASE,
  PHASE_MEASURE,
  PHASE_STOP,
  PHASE_WARMUP,
  createControl,
  epochNow,
  setPhase,
  type Control,
  type WorkerMessage,
} from './control.js';
import { countGc } from './gc.js';

export type Info = Record<string, number | string>;

export interface WorkerSpec {
  /** Short role name used in errors and report keys ('tx', 'rx', ...). */
  role: string;
  /** Compiled worker entry, e.g. new URL('./peer-udp-worker.js', import.meta.url). */
  url: URL;
  /** Case parameters, delivered as workerData.params. */
  params?: unknown;
  /**
   * Alternative to `params`: computed from the merged 'ready' infos of the
   * workers started before this one (for example the UDP port the receiver
   * bound).
   */
  paramsFrom?: (infos: Info) => unknown;
  /** Transferables referenced by params (MessagePorts, ...). */
  transferList?: Transferable[];
}

export interface Counters {
  rx: number;
  tx: number;
  aux0: number;
  aux1: number;
  aux2: number;
  aux3: number;
}

export interface PhasedRun {
  seconds: number;
  /** Counter deltas over the measured window. */
  counters: Counters;
  /** 'done' reports by role. */
  reports: Map<string, Extract<WorkerMessage, { type: 'done' }>>;
  /** Sum of GCs in the window over all workers. */
  gcCount: number;
  gcMajor: number;
  infos: Info;
}

export interface PhasedOptions {
  workers: WorkerSpec[];
  durationMs: number;
  warmupMs?: number;
  /** Hard limit for the whole run (default warmup + duration + CASE_SLACK_MS - 100). */
  limitMs?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function snapshot(c: Control): Counters {
  Atomics.load(c.i32, I_PHASE); // fence before reading the plain counters
  const f = c.f64;
  return { rx: f[F_RX]!, tx: f[F_TX]!, aux0: f[F_AUX0]!, aux1: f[F_AUX1]!, aux2: f[F_AUX2]!, aux3: f[F_AUX3]! };
}

function delta(a: Counters, b: Counters): Counters {
  return {
    rx: b.rx - a.rx,
    tx: b.tx - a.tx,
    aux0: b.aux0 - a.aux0,
    aux1: b.aux1 - a.aux1,
    aux2: b.aux2 - a.aux2,
    aux3: b.aux3 - a.aux3,
  };
}

interface Tracked {
  role: string;
  worker: Worker;
  ready: Promise<Info>;
  done: Promise<Extract<WorkerMessage, { type: 'done' }>>;
}

function track(role: string, worker: Worker): Tracked {
  let resolveReady!: (i: Info) => void;
  let resolveDone!: (m: Extract<WorkerMessage, { type: 'done' }>) => void;
  let fail!: (e: Error) => void;
  const failed = new Promise<never>((_, rej) => (fail = rej));
  failed.catch(() => undefined);
  const ready = Promise.race([new Promise<Info>((r) => (resolveReady = r)), failed]);
  const done = Promise.race([
    new Promise<Extract<WorkerMessage, { type: 'done' }>>((r) => (resolveDone = r)),
    failed,
  ]);
  ready.catch(() => undefined);
  done.catch(() => undefined);
  let finished = false;
  worker.on('message', (m: WorkerMessage) => {
    if (m.type === 'ready') resolveReady(m.info ?? {});
    else if (m.type === 'done') {
      finished = true;
      resolveDone(m);
    } else if (m.type === 'error') fail(new Error(`${role} worker: ${m.message}`));
  });
  worker.on('error', (e) => fail(new Error(`${role} worker: ${e instanceof Error ? e.message : String(e)}`)));
  worker.on('exit', (code) => {
    if (!finished) fail(new Error(`${role} worker exited (code ${code}) before reporting`));
  });
  return { role, worker, ready, done };
}

export async function runPhased(opts: PhasedOptions): Promise<PhasedRun> {
  const warmupMs = opts.warmupMs ?? DEFAULT_WARMUP_MS;
  const limitMs = opts.limitMs ?? warmupMs + opts.durationMs + CASE_SLACK_MS - 100;
  const ctl = createControl();
  const tracked: Tracked[] = [];
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`timeout after ${(limitMs / 1000).toFixed(1)} s`)), limitMs);
  });
  expired.catch(() => undefined);
  const within = <T>(p: Promise<T>): Promise<T> => Promise.race([p, expired]);

  try {
    const infos: Info = {};
    for (const spec of opts.workers) {
      const params = spec.paramsFrom ? spec.paramsFrom(infos) : spec.params;
      const w = new Worker(spec.url, {
        workerData: { control: ctl.sab, role: spec.role, params },
        transferList: spec.transferList,
      });
      const t = track(spec.role, w);
      tracked.push(t);
      Object.assign(infos, await within(t.ready));
    }

    setPhase(ctl, PHASE_WARMUP);
    await within(sleep(warmupMs));

    const c0 = snapshot(ctl);
    const t0 = performance.now();
    ctl.f64[F_WIN_START] = performance.timeOrigin + t0;
    setPhase(ctl, PHASE_MEASURE);

    await within(sleep(opts.durationMs));

    const t1 = performance.now();
    const c1 = snapshot(ctl);
    ctl.f64[F_WIN_END] = performance.timeOrigin + t1;
    setPhase(ctl, PHASE_STOP);

    const reports = new Map<string, Extract<WorkerMessage, { type: 'done' }>>();
    let gcCount = 0;
    let gcMajor = 0;
    for (const t of tracked) {
      const r = await within(t.done);
      reports.set(t.role, r);
      gcCount += r.gcCount ?? 0;
      gcMajor += r.gcMajor ?? 0;
    }
    return { seconds: (t1 - t0) / 1000, counters: delta(c0, c1), reports, gcCount, gcMajor, infos };
  } finally {
    clearTimeout(timer);
    setPhase(ctl, PHASE_STOP);
    await Promise.all(tracked.map((t) => t.worker.terminate().catch(() => 0)));
  }
}

export interface InThreadOptions {
  durationMs: number;
  warmupMs?: number;
  frameLen: number;
  /** Do one batch of work; return how many frames it moved. */
  step: () => number;
}

/**
 * Run `step` in a tight loop in the calling thread: warm-up, then a measured
 * window. The clock is read after every CLOCK_EVERY steps (as the C references
 * read theirs every 8 batches: a clock read costs as much as a few hundred
 * frames of a pipe and its result is a heap number), so keep a step in the
 * microseconds. GCs of this thread in the window are counted.
 */
const CLOCK_EVERY = 8;

export async function runInThread(o: InThreadOptions): Promise<CaseResult> {
  const warmupMs = o.warmupMs ?? DEFAULT_WARMUP_MS;
  const gc = countGc();
  try {
    const step = o.step;
    let end = performance.now() + warmupMs;
    while (performance.now() < end) step();
    let packets = 0;
    const w0 = epochNow();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    end = t0 + o.durationMs;
    let t = t0;
    while (t < end) {
      for (let i = 0; i < CLOCK_EVERY; i++) packets += step();
      t = performance.now();
    }
    const w1 = performance.timeOrigin + t;
    const cpu = process.cpuUsage(cpu0);
    await gc.flush();
    return {
      // CPU time of the whole process in the window: with one busy thread, packets per
      // CPU-second is a rate that holds on a loaded machine
      extra: { cpuSeconds: (cpu.user + cpu.system) / 1e6 },
      packets,
      bytes: packets * o.frameLen,
      seconds: (t - t0) / 1000,
      gcCount: gc.count(w0, w1),
    };
  } finally {
    gc.stop();
  }
}

/** Convenience for cases: run options with defaults filled in. */
export function warmupOf(opts?: RunOptions): number {
  return opts?.warmupMs ?? DEFAULT_WARMUP_MS;
}
