// pkt-gen's worker pool: one data thread per -p thread (worker.ts), started together; resolves
// once every thread has its port open (with what the first one found: rings, slots, backend),
// or fails with the first thread's error. The pool counts the threads that finished, keeps the
// errors they report, and stops them all: the stop word, then terminate() after 3 s.
import { Worker } from 'node:worker_threads';
import type { BackendInfo } from '../../core/port.js';
import { C, ROW, S } from './shared.js';
import type { WorkerInput } from './worker.js';

export interface PortShape { txRings: number; rxRings: number; slots: number }

/** What a data thread posts to the main thread. */
export type WorkerMessage =
  | { type: 'log'; line: string }
  | ({ type: 'ready'; backend: BackendInfo | null } & PortShape)
  | { type: 'error'; message: string }
  | { type: 'done' };

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly exited: boolean[] = [];
  /** Errors the threads reported, as pkt-gen prints them. */
  readonly errors: string[] = [];
  /** Threads whose loop finished. */
  done = 0;
  /** Rings and slots of the first thread's port. */
  shape: PortShape = { txRings: 0, rxRings: 0, slots: 0 };
  /** How each thread's port moves frames (null: a software port). */
  readonly backends: (BackendInfo | null)[] = [];
  private readonly ctrl: Int32Array;

  /** Start one thread per input; `log` gets the lines the threads print. */
  constructor(inputs: readonly WorkerInput[], stats: Float64Array, ctrl: Int32Array, log: (line: string) => void) {
    this.ctrl = ctrl;
    this.ready = new Promise<void>((resolve, reject) => {
      let ready = 0;
      inputs.forEach((input, i) => {
        const name = input.port;
        const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: input });
        w.on('message', (m: WorkerMessage) => {
          if (m.type === 'log') log(m.line);
          else if (m.type === 'ready') {
            if (i === 0) this.shape = { txRings: m.txRings, rxRings: m.rxRings, slots: m.slots };
            this.backends[i] = m.backend;
            if (++ready === inputs.length) resolve();
          } else if (m.type === 'error') {
            // port errors already start with the port's name
            this.errors.push(`pkt-gen: ${m.message.startsWith(`${name}:`) ? '' : `${name}: `}${m.message}`);
            reject(new Error(this.errors[this.errors.length - 1]));
          } else if (m.type === 'done') this.done++;
        });
        w.on('error', (e) => { this.errors.push(`pkt-gen: thread ${i}: ${e.message}`); reject(e); });
        w.on('exit', () => { this.exited[i] = true; if (stats[i * ROW + S.done] === 0) stats[i * ROW + S.done] = 1; });
        this.workers.push(w);
      });
    });
    this.ready.catch(() => { /* the caller awaits it */ });
  }

  /** Resolves once every thread has its port open; rejects on the first failure. */
  readonly ready: Promise<void>;

  /** Tell the threads to go. */
  go(): void {
    Atomics.store(this.ctrl, C.go, 1);
    Atomics.notify(this.ctrl, C.go);
  }

  /** Threads stopAll() had to terminate (they wrote no end time). */
  readonly terminated: number[] = [];

  /** Stop every thread (a thread that does not exit within 3 s is terminated). */
  async stopAll(): Promise<void> {
    Atomics.store(this.ctrl, C.stop, 1);
    Atomics.notify(this.ctrl, C.go);
    await Promise.all(this.workers.map((w, i) => new Promise<void>((res) => {
      if (this.exited[i]) return res();
      const t = setTimeout(() => { this.terminated.push(i); void w.terminate().then(() => res()); }, 3000);
      w.once('exit', () => { clearTimeout(t); res(); });
    })));
  }
}
