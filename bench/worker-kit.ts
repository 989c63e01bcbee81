/**
 * Worker-side counterpart of harness.ts: attach the control block, count
 * GCs, say 'ready', and report 'done' (with GCs inside the measured window).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { F_WIN_END, F_WIN_START, attachControl, type Control, type WorkerMessage } from './control.js';
import { countGc, type GcCounter } from './gc.js';

export interface BenchWorker<P> {
  ctl: Control;
  role: string;
  params: P;
  gc: GcCounter;
  ready(info?: Record<string, number | string>): void;
  /** Flush GC entries, post 'done' with the window's GC counts, stop observing. */
  finish(extra?: Record<string, number | string>): Promise<void>;
  fail(err: unknown): void;
}

export function benchWorker<P>(): BenchWorker<P> {
  if (!parentPort) throw new Error('bench worker started outside a worker thread');
  const port = parentPort;
  const wd = workerData as { control: SharedArrayBuffer; role: string; params: P };
  const ctl = attachControl(wd.control);
  const gc = countGc();
  const post = (m: WorkerMessage): void => port.postMessage(m);
  const fail = (err: unknown): void => {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  };
  process.on('uncaughtException', (e) => {
    fail(e);
    process.exit(1);
  });
  return {
    ctl,
    role: wd.role,
    params: wd.params,
    gc,
    ready: (info) => post({ type: 'ready', info }),
    finish: async (extra) => {
      await gc.flush();
      const from = ctl.f64[F_WIN_START]!;
      const to = ctl.f64[F_WIN_END]! || Infinity;
      const gcCount = gc.count(from, to);
      const gcMajor = gc.countMajor(from, to);
      gc.stop();
      post({ type: 'done', gcCount, gcMajor, extra });
    },
    fail,
  };
}
