// A data process's helper threads, moved to the SCHED_IDLE class while its data loops run.
//
// Besides the threads that move frames, every Node process has helper threads it starts
// before any of our code runs: V8's platform workers (4 by default), which compile hot
// functions with the optimizing compiler and do the concurrent parts of garbage collection,
// and Node's own. They run at the same priority as the data threads, of this process and of
// every other one on the machine.
//
// What that costs (issue #9, bench/xproc-delivery.ts, traced with `perf sched timehist` on the
// 2-vCPU machine): a receiver started first, and an unpaced sender of 2 M frames at ~15 Mpps,
// each pkt-gen in its own process. The sender's helper threads, compiling while the frames
// flowed, ran 2-5 ms at a time on the receiver's CPU while the receiver waited to run (its
// scheduling delay was 1.6-4.8 ms each time); 4096 slots hold 270 µs of that sender, so each
// such slice cost thousands of frames. Lowering their priority with nice 19 was not enough (the
// scheduler still gave them whole slices); in SCHED_IDLE a waking data thread takes the CPU
// back at once. Median delivery over 5-run series went from 62-78 % to 93-97 % with it.
//
// The other side: a SCHED_IDLE thread gets no CPU at all while every CPU has other work. A
// sender whose code needs compiling again after the go (a path the warm-up did not take) then
// runs unoptimized for as long as other processes keep the CPUs busy: with two busy loops
// beside it, pkt-gen tx alone sent 8-13 Mpps against 45-50 with its helpers left alone. So the
// helpers are watched: every WATCH_MS the main thread reads how long each waited for a CPU
// (/proc schedstat; a thread that never gets one shows no wait there, so one that is runnable
// at two looks in a row and ran less than the rest of the interval counts as waiting too).
// Waiting is the point while the data threads have a burst to move, and it
// ends with the burst; a helper that waited more than STARVED of the interval in STARVED_LOOKS
// looks in a row (a second) is starving, and they all go back to the ordinary class. Leaving SCHED_IDLE needs privilege (CAP_SYS_NICE, or RLIMIT_NICE of
// 20), so without it the helpers are not moved at all: a process could not take it back.
//
// Which threads: those that exist before the tool starts its data threads (a snapshot taken
// first), but the main thread. Threads started afterwards (data threads, fd wakers) are not
// touched.
import { canLeaveIdle, setIdlePolicy, setNormalPolicy, threadIds, threadSched, type ThreadSched } from '../../sys/sched.js';

/** How often the helpers' waiting time is read (ms). */
export const WATCH_MS = 200;
/** A helper that waited this fraction of a watch interval for a CPU waited too long... */
export const STARVED = 0.5;
/** ...and if that happened at this many looks in a row, it starves. */
export const STARVED_LOOKS = 5;

/**
 * How long (ms) a thread waited for a CPU between two looks `intervalMs` apart: the wait the
 * kernel counted, or, for a thread runnable at both looks that ran less than its share, the
 * interval less what it ran. 0 for a thread that ended.
 */
export function waitedMs(prev: ThreadSched | null, cur: ThreadSched | null, intervalMs: number): number {
  if (prev === null || cur === null) return 0;
  const counted = (cur.waitNs - prev.waitNs) / 1e6;
  const ran = (cur.runNs - prev.runNs) / 1e6;
  const unseen = prev.runnable && cur.runnable ? Math.max(0, intervalMs - ran) : 0;
  return Math.max(counted, unseen);
}

/** True if a thread that waited `waited` ms of `intervalMs` waited too long. */
export function starved(waited: number, intervalMs: number): boolean {
  return waited > STARVED * intervalMs;
}

export class HelperThreads {
  private idled: number[] = [];
  private samples: (ThreadSched | null)[] = [];
  private lastCheck = 0;
  private streak = 0; // looks in a row at which a helper waited too long
  private streakWaitMs = 0; // the longest wait of each of the streak's looks, added up

  private constructor(private readonly tids: readonly number[]) {}

  /** This process's threads now, but the main one: take it before starting any data thread. */
  static snapshot(): HelperThreads {
    return new HelperThreads(threadIds().filter((t) => t !== process.pid));
  }

  /** How many are in SCHED_IDLE now (moved and not put back). */
  get idleCount(): number {
    return this.idled.length;
  }

  /**
   * Move them to SCHED_IDLE, if this process may put them back (else `skipped` says why and
   * nothing changes). Returns how many were moved and the first failure (a thread that ended
   * since the snapshot is not one).
   */
  idle(nowMs = performance.now()): { idled: number; error: string | null; skipped: string | null } {
    if (!canLeaveIdle()) return { idled: 0, error: null, skipped: 'no CAP_SYS_NICE nor RLIMIT_NICE 20: they could not be put back if they starved' };
    let error: string | null = null;
    for (const tid of this.tids) {
      try {
        setIdlePolicy(tid);
        this.idled.push(tid);
      } catch (e) {
        if ((e as { code?: string }).code !== 'ESRCH' && error === null) error = (e as Error).message;
      }
    }
    this.samples = this.idled.map(threadSched);
    this.lastCheck = nowMs;
    return { idled: this.idled.length, error, skipped: null };
  }

  /**
   * Read the idle helpers' waiting times. If one waited too long at STARVED_LOOKS looks in a
   * row, put them all back in the ordinary class and return how long they waited over those
   * looks (ms, the longest wait of each look added up); else 0.
   */
  check(nowMs = performance.now()): number {
    if (this.idled.length === 0) return 0;
    const interval = nowMs - this.lastCheck;
    this.lastCheck = nowMs;
    let worst = 0;
    for (let i = 0; i < this.idled.length; i++) {
      const cur = threadSched(this.idled[i]!);
      const w = waitedMs(this.samples[i] ?? null, cur, interval);
      if (starved(w, interval)) worst = Math.max(worst, w);
      this.samples[i] = cur;
    }
    if (worst === 0) {
      this.streak = 0;
      this.streakWaitMs = 0;
      return 0;
    }
    this.streakWaitMs += worst;
    if (++this.streak < STARVED_LOOKS) return 0;
    const waited = this.streakWaitMs;
    this.restore();
    return waited;
  }

  /** Put every idled helper back in the ordinary class (a thread that ended is skipped). */
  restore(): void {
    for (const tid of this.idled) {
      try {
        setNormalPolicy(tid);
      } catch { /* ended, or (unexpected) refused: nothing more to do for it */ }
    }
    this.idled = [];
    this.samples = [];
    this.streak = 0;
    this.streakWaitMs = 0;
  }
}

/** NMTS_IDLE_HELPERS: unset, empty or 1 = on (the CLIs' default), 0 = off; anything else is refused. */
export function idleHelpersFromEnv(): boolean {
  const v = process.env.NMTS_IDLE_HELPERS;
  if (v === undefined || v === '' || v === '1') return true;
  if (v === '0') return false;
  throw new RangeError(`NMTS_IDLE_HELPERS=${v}: 0 (off) or 1 (on) expected`);
}
