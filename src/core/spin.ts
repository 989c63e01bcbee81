// How a poller spends the time between "nothing ready" and going to sleep (core/wait.ts).
//
// Every poll first checks for about `spinUs` (default 50 µs): a peer thread usually publishes
// within that time, and a sleep/wake-up pair costs far more. That is not enough while a
// stream flows in batches further apart than the spin: the receiver then sleeps between
// batches, and each wake-up costs tens of µs on a quiet machine (measured: median ~30 µs, from
// the sender's publish to the receiver's poll returning) and whole milliseconds when the
// waking thread must wait for a CPU; a 1024-slot ring holds 40-200 µs of an unpaced sender.
//
// So a poller may be told to keep checking while a stream flows: a port that had something
// ready within the last FLOW_WINDOW_MS checks for up to `flowSpinUs` more before it sleeps
// (OpenOptions.flowSpinUs, NMTS_FLOW_SPIN_US; default 0 = off), giving the CPU away
// (sched_yield) every YIELD_EVERY checks. The clock read after each round is the probe that
// keeps this from hurting a busy machine: a round that took longer than CONTENDED_MS means
// another thread had this CPU, and a spinning thread only pushes itself back in the
// scheduler's queue (one waking from sleep is favoured over one that used its share), so the
// poller goes to sleep at once and does not flow-spin again for CONTENDED_BACKOFF_MS. When no
// stream flows nothing changes: the first poll after the stream stops spins at most
// flowSpinUs, later ones sleep after the ordinary spin, using no CPU.
//
// Why it is off by default (bench/xproc-delivery.ts, docs/benchmarks.md "Delivery across
// processes"): on the shared 2-vCPU machine, with other processes' work on both CPUs, a
// receiver that flow-spins delivered less than one that sleeps (2 Mpps paced: median 68 %
// against 79 %, unpaced 8 % against 12 %), as earlier sessions found for longer spins; it
// helped only in a lighter moment (48-51 % against 13-15 % unpaced, traced). Turn it on where
// the receiver has a CPU of its own (pinned, quiet machine).
import { schedYield } from '../sys/sched.js';

// `performance` is a lazy global getter in Node: keep one reference
const clock = performance;

/** A port counts as receiving a stream if it had something ready this recently (ms). */
export const FLOW_WINDOW_MS = 2;
/** Checks between two yields while flow-spinning. */
export const YIELD_EVERY = 32;
/** A round of checks plus its yield that takes longer than this (ms): another thread had the CPU. */
export const CONTENDED_MS = 0.05;
/** After a contended yield, the poller does not flow-spin for this long (ms). */
export const CONTENDED_BACKOFF_MS = 20;

/** A poll's first spin reads the clock once per this many checks, when it has a timeout. */
export const SPIN_CLOCK_EVERY = 256;

/**
 * Where a poll's first spin must stop at the latest (clock.now() ms): its timeout
 * (`timeoutMs` < 0: none, Infinity). The spin's length is counted in checks
 * (SPIN_CHECKS_PER_US, an estimate that runs long when checks are slow, as the receivers'
 * tuning assumes); with a timeout it also reads the clock every SPIN_CLOCK_EVERY checks, so a
 * long NMTS_SPIN_US never keeps poll(events, 200) from returning within its 200 ms.
 */
export function spinEnd(timeoutMs: number): number {
  return timeoutMs < 0 ? Infinity : clock.now() + timeoutMs;
}

/** Whether a first spin, at its check `i`, has reached `end` (spinEnd): the clock is read every SPIN_CLOCK_EVERY checks only. */
export function spinPastEnd(i: number, end: number): boolean {
  return (i & (SPIN_CLOCK_EVERY - 1)) === SPIN_CLOCK_EVERY - 1 && clock.now() >= end;
}

/** poll()'s first spin when neither the caller nor NMTS_SPIN_US says (µs). */
export const DEFAULT_SPIN_US = 50;

/**
 * Default first spin (µs) from NMTS_SPIN_US: unset or empty gives DEFAULT_SPIN_US
 * (spinEnvGiven, which distribution's spin rule also reads); a value that is not a number >= 0 is refused, not
 * ignored (it used to make the spin silently 0 or NaN checks).
 */
export function defaultSpinUs(): number {
  const v = process.env.NMTS_SPIN_US;
  if (!spinEnvGiven(v)) return DEFAULT_SPIN_US;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`NMTS_SPIN_US=${v}: microseconds (a number >= 0) expected`);
  return n;
}

/** Whether NMTS_SPIN_US (`v`) says anything: unset or empty (blanks) leaves the default. */
export function spinEnvGiven(v: string | undefined = process.env.NMTS_SPIN_US): v is string {
  return v !== undefined && v.trim() !== '';
}

/** Default flow spin (µs) from NMTS_FLOW_SPIN_US; a bad value is refused, not ignored. */
export function defaultFlowSpinUs(): number {
  const v = process.env.NMTS_FLOW_SPIN_US;
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`NMTS_FLOW_SPIN_US=${v}: microseconds (a number >= 0) expected`);
  return n;
}

/** What the spinner checks: returns the ready events (0: nothing yet). */
export interface SpinCheck {
  ready(): number;
}

/**
 * A poller's flow state: when it last found something ready, and whether its CPU was found
 * contended. One per poller (a Port has one); not shared between threads.
 */
export class FlowSpin {
  private lastReady = -Infinity;
  private noSpinUntil = 0;
  constructor(public flowSpinUs: number) {}

  /** Note that the poll found something ready (one clock read; none when the flow spin is off). */
  sawReady(): void {
    if (this.flowSpinUs > 0) this.lastReady = clock.now();
  }

  /**
   * If a stream is flowing, keep checking `c` (yielding the CPU between rounds) for up to
   * flowSpinUs or until the CPU is contended; returns the events found, 0 to go to sleep.
   */
  spin(c: SpinCheck): number {
    if (this.flowSpinUs <= 0) return 0;
    const t = clock.now();
    if (t - this.lastReady > FLOW_WINDOW_MS || t < this.noSpinUntil) return 0;
    const until = t + this.flowSpinUs / 1000;
    let t0 = t;
    for (;;) {
      for (let i = 0; i < YIELD_EVERY; i++) {
        const r = c.ready();
        if (r) return r;
      }
      schedYield();
      const t1 = clock.now();
      if (t1 - t0 > CONTENDED_MS) {
        this.noSpinUntil = t1 + CONTENDED_BACKOFF_MS;
        return 0;
      }
      if (t1 >= until) return 0;
      t0 = t1;
    }
  }
}
