// A thread that turns "a kernel socket became readable" into a futex wake-up, so that a
// forwarder between a Linux-interface port (woken by poll(2) on its sockets) and a VALE port
// (woken through a futex word in the switch's shared file) can sleep on one thing: the futex.
//
// Protocol (a SharedArrayBuffer of Int32 words shared by the forwarder and the waker):
//   forwarder, going to sleep:  seq = word; waiters++; check both ports; arm(); futex_wait(word, seq)
//   waker, while armed:         poll(2) on the sockets; when one is ready: disarm, word++, futex_wake
// The forwarder re-checks the ports after registering as a waiter and before sleeping, and the
// waker's poll(2) is level-triggered, so a frame arriving at any moment wakes the forwarder.
// The waker disarms after each wake-up and waits (on the SharedArrayBuffer) to be armed again:
// while the forwarder is busy the waker costs nothing, even with frames queued in the sockets.
import { Worker } from 'node:worker_threads';

/** Word indices in the control buffer. */
export const W = { armed: 0, stop: 1, done: 2, wakes: 3, size: 4 } as const;

export interface FdWakerOptions {
  /** Sockets to poll(2) for input. */
  fds: readonly number[];
  /** The shared file holding the futex word (a switch's region file). */
  path: string;
  /** Byte offset of the word in that file (a port's wakeSeq, or the region's anyWakeSeq). */
  wordOfs: number;
}

export class FdWaker {
  private readonly ctrl: Int32Array;
  private readonly worker: Worker;

  constructor(o: FdWakerOptions) {
    const sab = new SharedArrayBuffer(W.size * 4);
    this.ctrl = new Int32Array(sab);
    this.worker = new Worker(new URL('./fd-waker-worker.js', import.meta.url), {
      workerData: { fds: [...o.fds], path: o.path, wordOfs: o.wordOfs, ctrl: sab },
    });
    // the waker reports nothing; an error in it only costs latency (the forwarder also wakes
    // on its own every 100 ms), so it is not allowed to take the process down
    this.worker.on('error', () => { Atomics.store(this.ctrl, W.done, 1); });
    this.worker.unref();
  }

  /** The forwarder is about to sleep: wake it when a socket becomes readable. */
  arm(): void {
    if (Atomics.compareExchange(this.ctrl, W.armed, 0, 1) === 0) Atomics.notify(this.ctrl, W.armed);
  }

  /** Wake-ups delivered so far. */
  get wakes(): number {
    return Atomics.load(this.ctrl, W.wakes);
  }

  /**
   * Stop, and wait (blocking, at most `timeoutMs`) until the waker no longer uses the sockets:
   * only then may they be closed. Returns false if it did not confirm in time.
   */
  stop(timeoutMs = 2000): boolean {
    Atomics.store(this.ctrl, W.stop, 1);
    Atomics.store(this.ctrl, W.armed, 1);
    Atomics.notify(this.ctrl, W.armed);
    const end = Date.now() + timeoutMs;
    while (Atomics.load(this.ctrl, W.done) === 0) {
      const left = end - Date.now();
      if (left <= 0) return false;
      Atomics.wait(this.ctrl, W.done, 0, left);
    }
    return true;
  }
}
