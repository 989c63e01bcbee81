// When a forwarder's round moves nothing, should it sleep at once or look again? Sleeping
// costs a hand-off per batch: the forwarder announces itself, arms its fd waker, sleeps on a
// futex; the next frames wake the waker thread (poll(2) returns), which wakes the forwarder.
// On a busy 2-core machine that is two or three thread switches for a batch of a few frames,
// and measured (docs/vxlan.md, "Measured") it costs far more than moving the frames.
//
// So while traffic flows a forwarder spins for a short window, re-syncing its rings and
// yielding the CPU (sched_yield) between looks, so a runnable producer is not starved: the next
// batch is usually caught without a sleep, and batches grow as frames gather meanwhile. The
// window adapts: a spin that catches frames doubles it (up to the maximum), one that expires
// halves it (down to a sixteenth of the maximum), and an idle forwarder (nothing moved since
// its last sleep) does not spin at all: an idle attachment costs what it cost before.
//
// The clock is also the probe that keeps spinning from hurting a busy machine, as in
// core/spin.ts's flow spin (whose constants this shares): an idle round that took longer than
// CONTENDED_MS since the previous look means another thread had this CPU (a spinning thread
// only pushes itself back in the scheduler's queue), so the forwarder sleeps at once and does
// not spin again for CONTENDED_BACKOFF_MS.
//
// Pure bookkeeping, time given by the caller (performance.now() in ms): deterministic to test.
import { CONTENDED_BACKOFF_MS, CONTENDED_MS } from '../../core/spin.js';

export class AdaptiveSpin {
  /** The longest window, ms (0: never spin). */
  readonly maxMs: number;
  /** The current window, ms. */
  windowMs: number;
  /** Spins that found frames before the window ended (sleeps avoided). */
  caught = 0;
  /** Spins that ended in a sleep. */
  expired = 0;
  /** Spins cut short because another thread had the CPU. */
  contended = 0;
  private active = false; // frames moved since the last sleep
  private start = -1; // when the current spin began, -1: not spinning
  private last = 0; // the previous look of the current spin
  private noSpinUntil = -Infinity;

  constructor(maxUs: number) {
    this.maxMs = Number.isFinite(maxUs) && maxUs > 0 ? Math.min(maxUs, 10_000) / 1000 : 0;
    this.windowMs = this.maxMs;
  }

  /** A round moved frames. */
  moved(): void {
    if (this.start >= 0) {
      this.caught++;
      this.windowMs = Math.min(this.maxMs, this.windowMs * 2);
      this.start = -1;
    }
    this.active = true;
  }

  /** A round moved nothing at `now`: true to look again (spin), false to sleep. */
  idle(now: number): boolean {
    if (!this.active || this.maxMs === 0) return false;
    if (now < this.noSpinUntil) {
      this.slept();
      return false;
    }
    if (this.start < 0) {
      this.start = this.last = now;
      return true;
    }
    if (now - this.last > CONTENDED_MS) {
      this.contended++;
      this.noSpinUntil = now + CONTENDED_BACKOFF_MS;
      this.slept();
      return false;
    }
    this.last = now;
    if (now - this.start < this.windowMs) return true;
    this.expired++;
    this.windowMs = Math.max(this.maxMs / 16, this.windowMs / 2);
    this.start = -1;
    this.active = false;
    return false;
  }

  /** The forwarder slept (or was told to stop spinning): the next frames start a new flow. */
  slept(): void {
    this.start = -1;
    this.active = false;
  }
}

/**
 * The spin window of attachment forwarders, µs: NMTS_ATTACH_SPIN_US, default 0 (off: sleep at
 * once, as before). Off by default because on the shared 2-core machine it did not pay (docs/
 * vxlan.md "Measured", 2026-12-06: a forwarder spinning 50 µs used 45 % of a core and the
 * 60-byte rate fell, 0.012 against 0.024 Mpps median in one locked run), as core/spin.ts's flow
 * spin found for the receivers; it is for a machine where the forwarders have cores of their own.
 */
export function attachSpinUs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.NMTS_ATTACH_SPIN_US;
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, 10_000) : 0;
}
