// A forwarding thread's wake-ups, done once per several rounds instead of once per batch.
//
// A thread that moves frames round after round into a switch (the daemon's VM port threads)
// wakes each sleeping receiver in every txsync. When the receiver shares this thread's CPU —
// three busy threads on two cores: a VM's front end, this thread, a receiver — every wake
// switches it in to read one batch and sleep again: a futex wake, two context switches and a
// futex wait per batch, more than the frames themselves cost. Kept over several rounds, the
// wake-ups are done once (core/wait.ts holdWakes: each sleeper once) when
//
//   - a round moved nothing (the thread is about to sleep: nobody is left waiting on it),
//   - `frames` frames went since the last wake-up, or `rounds` rounds passed (the delay a
//     receiver can see is bounded: a handful of rounds, about a ring's worth of frames),
//   - a destination was full (before the thread gives way: the receiver must run to drain it),
//
// and always before the thread sleeps or stops (pause() / stop()). Frames are never held: they
// are in the receiver's ring at once; only the wake-up of a sleeping receiver waits, and a
// receiver that polls sees them without one.
import { flushWakes, holdWakes, releaseWakes } from '../../core/wait.js';

/** Frames between two wake-ups while a stream flows (half of a 4096-slot receive ring). */
export const KEPT_WAKE_FRAMES = 2048;
/** Rounds between two wake-ups at most. */
export const KEPT_WAKE_ROUNDS = 8;

export class KeptWakes {
  private frames = 0;
  private rounds = 0;
  private holding = false;

  constructor(private readonly maxFrames = KEPT_WAKE_FRAMES, private readonly maxRounds = KEPT_WAKE_ROUNDS) {}

  /** Start keeping this thread's wake-ups. */
  start(): void {
    if (this.holding) return;
    holdWakes();
    this.holding = true;
    this.frames = this.rounds = 0;
  }

  /** After a round that moved `moved` frames: wake the sleepers if the rules above say so. */
  afterRound(moved: number): void {
    if (!this.holding) return;
    this.frames += moved;
    if (moved === 0 || this.frames >= this.maxFrames || ++this.rounds >= this.maxRounds) this.flush();
  }

  /** Wake the sleepers now (a destination was full: its reader must run), and go on keeping. */
  flush(): void {
    flushWakes();
    this.frames = this.rounds = 0;
  }

  /** Before sleeping or blocking: do the kept wake-ups and keep none until resume(). */
  pause(): void {
    if (!this.holding) return;
    this.holding = false;
    releaseWakes();
  }

  /** After the sleep: keep again. */
  resume(): void {
    this.start();
  }

  /** The thread stops: nothing stays kept. */
  stop(): void {
    this.pause();
  }
}
