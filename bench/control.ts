/**
 * Shared control block between the benchmark main thread and its workers.
 *
 * One SharedArrayBuffer holds:
 *  - an Int32Array (for Atomics): the phase word and a few small integers;
 *  - a Float64Array: packet/byte counters that workers bump with plain stores
 *    (a double never overflows where an Int32 would, and a plain store does
 *    not allocate the way a BigInt would) and the measured window's bounds
 *    as epoch milliseconds (so workers can attribute GC events to it).
 *
 * The main thread flips the phase SETUP -> WARMUP -> MEASURE -> STOP and
 * snapshots the counters itself at the MEASURE and STOP transitions, so the
 * timing does not depend on when a worker happens to notice a transition.
 */

export const PHASE_SETUP = 0;
export const PHASE_WARMUP = 1;
export const PHASE_MEASURE = 2;
export const PHASE_STOP = 3;

/** Int32 slots. */
export const I_PHASE = 0;
/** Free for cases (e.g. a port number, an ack counter for Atomics.wait). */
export const I_USER0 = 4;
export const I_USER1 = 5;
export const I_USER2 = 6;
export const I_USER3 = 7;
const I32_SLOTS = 16;

/** Float64 slots. */
export const F_RX = 0; // packets counted by the receiving side
export const F_TX = 1; // packets sent by the sending side
export const F_AUX0 = 2; // case specific (e.g. sequence errors)
export const F_AUX1 = 3;
export const F_AUX2 = 4;
export const F_AUX3 = 5;
export const F_WIN_START = 14; // epoch ms, written before PHASE_MEASURE
export const F_WIN_END = 15; // epoch ms, written before PHASE_STOP
const F64_SLOTS = 16;

export const COUNTER_SLOTS = [F_RX, F_TX, F_AUX0, F_AUX1, F_AUX2, F_AUX3] as const;

const F64_OFFSET = I32_SLOTS * 4;
export const CONTROL_BYTES = F64_OFFSET + F64_SLOTS * 8;

export interface Control {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
}

export function createControl(): Control {
  return attachControl(new SharedArrayBuffer(CONTROL_BYTES));
}

export function attachControl(sab: SharedArrayBuffer): Control {
  return {
    sab,
    i32: new Int32Array(sab, 0, I32_SLOTS),
    f64: new Float64Array(sab, F64_OFFSET, F64_SLOTS),
  };
}

export function phase(c: Control): number {
  return Atomics.load(c.i32, I_PHASE);
}

export function setPhase(c: Control, p: number): void {
  Atomics.store(c.i32, I_PHASE, p);
  Atomics.notify(c.i32, I_PHASE);
}

/**
 * Block the calling worker (never the main thread) until the phase is at
 * least `p` or `timeoutMs` elapsed. Returns the phase seen.
 */
export function waitPhaseAtLeast(c: Control, p: number, timeoutMs: number): number {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const cur = Atomics.load(c.i32, I_PHASE);
    if (cur >= p) return cur;
    const left = end - Date.now();
    if (left <= 0) return cur;
    Atomics.wait(c.i32, I_PHASE, cur, Math.min(left, 50));
  }
}

/** Epoch milliseconds with sub-millisecond resolution. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Messages a bench worker posts to its parent. */
export type WorkerMessage =
  | { type: 'ready'; info?: Record<string, number | string> }
  | { type: 'done'; gcCount?: number; gcMajor?: number; extra?: Record<string, number | string> }
  | { type: 'error'; message: string };
