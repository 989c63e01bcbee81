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
// back at once. Median delivery over 5-run series went from 75-78 % to 93 % with this alone.
//
// Which threads: those that exist before the tool starts its data threads (a snapshot taken
// first), but the main thread. Threads started afterwards (data threads, fd wakers) are not
// touched. A thread cannot leave SCHED_IDLE again without privilege, so only a process that
// ends with the tool should do this: the CLIs, not the library functions by default.
import { setIdlePolicy, threadIds } from '../../sys/sched.js';

export class HelperThreads {
  private constructor(private readonly tids: readonly number[]) {}

  /** This process's threads now, but the main one: take it before starting any data thread. */
  static snapshot(): HelperThreads {
    return new HelperThreads(threadIds().filter((t) => t !== process.pid));
  }

  /** How many threads the snapshot holds. */
  get count(): number {
    return this.tids.length;
  }

  /**
   * Move them to SCHED_IDLE. Returns how many were moved and the first failure (a thread that
   * ended since the snapshot is not one).
   */
  idle(): { idled: number; error: string | null } {
    let idled = 0, error: string | null = null;
    for (const tid of this.tids) {
      try {
        setIdlePolicy(tid);
        idled++;
      } catch (e) {
        if ((e as { code?: string }).code !== 'ESRCH' && error === null) error = (e as Error).message;
      }
    }
    return { idled, error };
  }
}

/** NMTS_IDLE_HELPERS: unset, empty or 1 = on (the CLIs' default), 0 = off; anything else is refused. */
export function idleHelpersFromEnv(): boolean {
  const v = process.env.NMTS_IDLE_HELPERS;
  if (v === undefined || v === '' || v === '1') return true;
  if (v === '0') return false;
  throw new RangeError(`NMTS_IDLE_HELPERS=${v}: 0 (off) or 1 (on) expected`);
}
