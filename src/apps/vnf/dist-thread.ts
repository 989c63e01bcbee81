// The entry module of every thread distribute.ts starts, by role:
//
//  - `io` (layout n-1): reads the port(s) and spreads the frames into the workers' pipes
//    (dist-spread.ts), and drains the pipes' answers to the output port(s) (port-forward's
//    Direction: buffer swaps when the pipe and the port share a region);
//  - `rx` / `tx` (layout n-2): the same two halves in two threads; rx binds the ports' rx rings
//    and the pipes' tx rings (`/R`, `/T`), tx the other way round;
//  - `worker`: one VNF stage (dist-stages.ts) on its pipe ends.
//
// Control is a shared Int32Array: STOP (set by the coordinator), RX_DONE (no more frames will
// enter the pipes), WORKERS_DONE (workers that have exited). Shutdown drains: the rx side stops
// reading the ports, the workers handle what their pipes still hold, the tx side sends what
// the workers answered and exits once every worker has: totals add up
// (received = handed to workers + drops). Counters travel as messages: a snapshot every
// statsMs when asked, and the final one before the thread exits.
import { parentPort, workerData } from 'node:worker_threads';
import { POLLIN, POLLOUT } from '../../core/constants.js';
import { pollPorts } from '../../core/poll.js';
import { holdWakes, releaseWakes } from '../../core/wait.js';
import type { Port } from '../../core/port.js';
import { open } from '../../port-kinds.js';
import { Direction } from '../common/port-forward.js';
import { createStage, type VnfSpec, type WaitOptions } from './dist-stages.js';
import { SP, Spreader, type Steer } from './dist-spread.js';
import { CTRL_RX_DONE, CTRL_STOP, CTRL_WORKERS_DONE } from './distribute.js';

export type ThreadRole = 'io' | 'rx' | 'tx' | 'worker';

export interface ThreadInput {
  role: ThreadRole;
  /** the worker's index (workers), 0 otherwise */
  id: number;
  ports: string[];
  /** frames a worker answers on port k's pipe leave by port out[k] */
  out: number[];
  /** pipes[k][i]: port k's pipe to worker i */
  pipes: { master: string; slave: string }[][];
  workers: number;
  spec: VnfSpec;
  steer: Steer | null;
  batch: number;
  busyWait: boolean;
  /** µs each port and pipe of the thread checks before it sleeps (null: the port default) */
  spinUs: number | null;
  copy: boolean;
  ctrl: SharedArrayBuffer;
  statsMs: number;
  /** ms the tx side waits for the workers after the stop */
  drainMs: number;
}

/** The I/O stage's counters (summed over ports; per-worker arrays indexed by worker). */
export interface IoStats {
  /** frames taken from the port(s) */
  received: number;
  nonIp: number;
  arpCopies: number;
  /** dropped: the worker's pipe was full */
  pipeFull: number;
  /** dropped: NS_MOREFRAG chains longer than a ring */
  badChain: number;
  toWorker: number[];
  pipeFullPerWorker: number[];
  /** frames the workers answered, taken from their pipes */
  fromWorker: number[];
  /** frames sent out of the port(s) */
  sent: number;
  /** dropped: too long for the output port */
  tooLong: number;
}

/** A worker's counters and its VNF's statistics. */
export interface WorkerSnapshot { rx: number; tx: number; drops: number; stats: Record<string, unknown> }

export type ThreadMessage =
  | { t: 'ready'; role: ThreadRole; id: number; zerocopy: boolean }
  | { t: 'stats' | 'done'; role: ThreadRole; id: number; io?: IoStats; worker?: WorkerSnapshot };

const waitOptions = (inp: ThreadInput): WaitOptions => (inp.spinUs === null ? { busyWait: inp.busyWait } : { busyWait: inp.busyWait, spinUs: inp.spinUs });

const withFlag = (name: string, f: 'R' | 'T'): string => (name.includes('/') ? name : `${name}/${f}`);

class IoThread {
  private readonly opened: Port[] = [];
  private readonly spreaders: Spreader[] = [];
  private readonly dirs: Direction[] = [];
  private readonly dirWorker: number[] = [];
  private readonly outPorts: Port[] = [];
  private readonly pollSet: Port[] = [];
  /** per pollSet entry: the spreader it is the port of (-1), or of whose pipes it is (k), for back-pressure */
  private readonly pollOf: number[] = [];
  private readonly pollIsPort: boolean[] = [];
  private readonly evs: Int32Array;
  private readonly rev: Int32Array;
  readonly zerocopy: boolean;

  constructor(private readonly inp: ThreadInput) {
    const rxSide = inp.role !== 'tx', txSide = inp.role !== 'rx';
    const portFlag = inp.role === 'rx' ? 'R' : 'T', pipeFlag = inp.role === 'rx' ? 'T' : 'R';
    const name = (n: string, f: 'R' | 'T'): string => (inp.role === 'io' ? n : withFlag(n, f));
    const opt = waitOptions(inp);
    try {
      const ports = inp.ports.map((p) => this.keep(open(name(p, portFlag), opt)));
      const masters = inp.pipes.map((row) => row.map((p) => this.keep(open(name(p.master, pipeFlag), opt))));
      let zc = true;
      if (rxSide) {
        inp.ports.forEach((_, k) => {
          const s = new Spreader(ports[k]!, masters[k]!, inp.steer, inp.copy);
          zc &&= s.zerocopy();
          this.spreaders.push(s);
        });
      }
      // poll: the ports (rx side) for frames, the pipes for answers (tx side) and for room (rx side, when held back)
      if (rxSide) ports.forEach((p, k) => { this.pollSet.push(p); this.pollOf.push(k); this.pollIsPort.push(true); });
      masters.forEach((row, k) => row.forEach((m) => { this.pollSet.push(m); this.pollOf.push(k); this.pollIsPort.push(false); }));
      if (txSide) {
        inp.ports.forEach((_, k) => {
          const dst = ports[inp.out[k]!]!;
          masters[k]!.forEach((m, i) => {
            const d = new Direction(m, dst, !inp.copy);
            zc &&= d.zerocopy;
            this.dirs.push(d);
            this.dirWorker.push(i);
          });
          if (!this.outPorts.includes(dst)) this.outPorts.push(dst);
        });
      }
      this.zerocopy = zc;
    } catch (e) {
      this.close();
      throw e;
    }
    this.evs = new Int32Array(this.pollSet.length);
    this.rev = new Int32Array(this.pollSet.length);
  }

  /** Sleep until a port has frames (unless its spreader is held back), a pipe has answers (tx side) or room (a held-back spreader). */
  private wait(ms: number): void {
    const evs = this.evs, rxSide = this.spreaders.length > 0, txSide = this.dirs.length > 0;
    for (let j = 0; j < evs.length; j++) {
      const held = rxSide && this.spreaders[this.pollOf[j]!]!.blocked;
      evs[j] = this.pollIsPort[j] ? (held ? 0 : POLLIN) : (txSide ? POLLIN : 0) | (held ? POLLOUT : 0);
    }
    pollPorts(this.pollSet, evs, this.rev, ms);
  }

  private keep(p: Port): Port { this.opened.push(p); return p; }

  stats(): IoStats {
    const n = this.inp.workers;
    const s: IoStats = {
      received: 0, nonIp: 0, arpCopies: 0, pipeFull: 0, badChain: 0, toWorker: new Array<number>(n).fill(0),
      pipeFullPerWorker: new Array<number>(n).fill(0), fromWorker: new Array<number>(n).fill(0), sent: 0, tooLong: 0,
    };
    for (const sp of this.spreaders) {
      const c = sp.counters;
      s.received += c[SP.received]!; s.nonIp += c[SP.nonIp]!; s.arpCopies += c[SP.arpCopies]!;
      s.pipeFull += c[SP.pipeFull]!; s.badChain += c[SP.badChain]!;
      for (let i = 0; i < n; i++) { s.toWorker[i]! += sp.toWorker[i]!; s.pipeFullPerWorker[i]! += sp.pipeFull[i]!; }
    }
    this.dirs.forEach((d, j) => {
      s.fromWorker[this.dirWorker[j]!]! += d.packets + d.drops;
      s.sent += d.packets;
      s.tooLong += d.drops;
    });
    return s;
  }

  run(post: (m: ThreadMessage) => void): void {
    const inp = this.inp, ctrl = new Int32Array(inp.ctrl);
    const rxSide = this.spreaders.length > 0, txSide = this.dirs.length > 0;
    const ports = inp.role === 'tx' ? [] : this.opened.slice(0, inp.ports.length);
    let stopping = false, stopAt = 0;
    let nextStats = inp.statsMs ? performance.now() + inp.statsMs : Infinity;
    for (;;) {
      let work = 0;
      // one wake-up per sleeper for the whole round (a worker's batch and the release of its
      // answers' slots; the client's frames): core/wait.ts, done before the wait below
      holdWakes();
      try {
        if (!stopping && Atomics.load(ctrl, CTRL_STOP)) {
          stopping = true;
          stopAt = performance.now();
          if (rxSide) { Atomics.store(ctrl, CTRL_RX_DONE, 1); Atomics.notify(ctrl, CTRL_RX_DONE); }
          if (!txSide) break;
        }
        if (!stopping && rxSide) {
          for (let k = 0; k < ports.length; k++) {
            ports[k]!.rxsync();
            work += this.spreaders[k]!.run(inp.batch);
          }
        }
        const allDone = Atomics.load(ctrl, CTRL_WORKERS_DONE) >= inp.workers;
        if (txSide) {
          const dirs = this.dirs;
          for (let j = 0; j < dirs.length; j++) {
            const d = dirs[j]!;
            d.src.rxsync();
            const n = d.run(inp.batch);
            if (n > 0) d.src.rxsync(); // hand the slots back to the worker now: its next batch of answers has room
            work += n;
          }
          for (let j = 0; j < this.outPorts.length; j++) this.outPorts[j]!.txsync();
          if (stopping && ((allDone && work === 0) || performance.now() - stopAt > inp.drainMs)) break;
        }
      } finally {
        releaseWakes();
      }
      const now = performance.now();
      if (now >= nextStats) { nextStats = now + inp.statsMs; post({ t: 'stats', role: inp.role, id: 0, io: this.stats() }); }
      if (work === 0) this.wait(stopping ? 1 : 20);
    }
  }

  close(): void {
    for (const p of this.opened.reverse()) {
      try { p.txsync(); } catch { /* closing anyway */ }
      p.close();
    }
    this.opened.length = 0;
  }
}

function runWorker(inp: ThreadInput, post: (m: ThreadMessage) => void): void {
  const ctrl = new Int32Array(inp.ctrl);
  const stage = createStage(inp.spec, inp.pipes.map((row) => row[inp.id]!.slave), inp.id, waitOptions(inp));
  const snapshot = (): WorkerSnapshot => ({ ...stage.counters(), stats: stage.stats() });
  try {
    stage.warmup?.();
    post({ t: 'ready', role: 'worker', id: inp.id, zerocopy: true });
    let nextStats = inp.statsMs ? performance.now() + inp.statsMs : Infinity;
    while (!Atomics.load(ctrl, CTRL_STOP)) {
      stage.step(20);
      const now = performance.now();
      if (now >= nextStats) { nextStats = now + inp.statsMs; post({ t: 'stats', role: 'worker', id: inp.id, worker: snapshot() }); }
    }
    // drain: nothing more enters the pipes once RX_DONE is set; take what they hold
    const until = performance.now() + inp.drainMs;
    while (!Atomics.load(ctrl, CTRL_RX_DONE) && performance.now() < until) Atomics.wait(ctrl, CTRL_RX_DONE, 0, 20);
    for (let quiet = 0; quiet < 2 && performance.now() < until;) {
      if (stage.step(0) === 0 && !stage.pending()) quiet++;
      else quiet = 0;
    }
    post({ t: 'done', role: 'worker', id: inp.id, worker: snapshot() });
  } finally {
    stage.close();
  }
}

if (parentPort) {
  const inp = workerData as ThreadInput;
  const post = (m: ThreadMessage): void => parentPort!.postMessage(m);
  if (inp.role === 'worker') runWorker(inp, post);
  else {
    const io = new IoThread(inp);
    try {
      post({ t: 'ready', role: inp.role, id: 0, zerocopy: io.zerocopy });
      io.run(post);
      post({ t: 'done', role: inp.role, id: 0, io: io.stats() });
    } finally {
      io.close();
    }
  }
}
