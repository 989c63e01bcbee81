// What a sender does when the switch found a destination ring full.
//
// VALE forwards in the sender's own txsync and drops what a full destination ring cannot take
// (netmap's rule: no back-pressure). A destination stays full while its reader does not run,
// and on a machine with fewer cores than busy threads that reader often waits for the very
// CPU the sender holds (a woken thread is placed beside its waker), or for a CPU the host took
// away for a moment: a sender that goes on at full speed then only feeds the drop counter,
// batch after batch, and the receiver gets a fraction of the stream. So after a txsync in
// which a delivery found no room, a tool's sender gives way once, by its policy:
//
//   none       go on at once (netmap's behaviour)
//   yield      sched_yield(): the reader runs if it waits for this CPU; else it returns at once
//   sleep:US   sleep US microseconds (1..10000): the reader catches up wherever it runs
//
// The hint comes from VALE's forwarding (fullDestinationDeliveries, per thread): the drop
// counters of the tx ring would also count frames that had no destination at all (a sender
// alone on a switch), for which giving way helps no one; a full monitor ring does not count
// either (observers drop, as in netmap, and do not slow the traffic they watch). Frames are
// never held back from a destination with room: the sender only pauses between batches.
import { fullDestinationDeliveries } from '../../vale/forward.js';
import { schedYield } from '../../sys/sched.js';

/** How a sender gives way: kind 0 none, 1 yield, 2 sleep for sleepMs. */
export class FullPolicy {
  constructor(readonly kind: 0 | 1 | 2, readonly sleepMs: number) {}

  toString(): string {
    return this.kind === 0 ? 'none' : this.kind === 1 ? 'yield' : `sleep:${Math.round(this.sleepMs * 1000)}`;
  }
}

/** Parse `none`, `yield` or `sleep:US` (1..10000 microseconds); a RangeError names `what` otherwise. */
export function parseFullPolicy(text: string, what: string): FullPolicy {
  if (text === 'none') return new FullPolicy(0, 0);
  if (text === 'yield') return new FullPolicy(1, 0);
  const m = /^sleep:(\d{1,5})$/.exec(text);
  const us = m ? Number(m[1]) : NaN;
  if (!(us >= 1 && us <= 10000)) throw new RangeError(`${what} ${text}: none, yield or sleep:US (US 1..10000 microseconds) expected`);
  return new FullPolicy(2, us / 1000);
}

/** Watches this thread's deliveries for a full destination and gives way as the policy says. */
export class FullDestinationWatch {
  private seen = fullDestinationDeliveries();
  private readonly nap = new Int32Array(new SharedArrayBuffer(4));

  constructor(readonly policy: FullPolicy) {}

  /** After a txsync: true when a delivery of this thread found no room since the last call. */
  noteSync(): boolean {
    const now = fullDestinationDeliveries();
    if (now === this.seen) return false;
    this.seen = now;
    return true;
  }

  /** Give way once as the policy says (none: return at once). */
  giveWay(): void {
    const p = this.policy;
    if (p.kind === 2) Atomics.wait(this.nap, 0, 0, p.sleepMs);
    else if (p.kind === 1) schedYield();
  }
}
