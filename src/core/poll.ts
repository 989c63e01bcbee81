// netmap's poll() over several descriptors: wait until any of several ports is ready.
import { RH } from './layout.js';
import { clock, SPIN_CHECKS_PER_US, type Port } from './port.js';
import { NetmapError } from './region.js';

/**
 * poll() over several ports of one region, as netmap's poll() over several descriptors:
 * revents[i] receives the ready events of ports[i] for events[i]. Spins briefly, then
 * sleeps until any port of the region publishes or the timeout expires. Returns the number
 * of ports with events (0 on timeout).
 */
export function pollPorts(ports: readonly Port[], events: ArrayLike<number>, revents: Int32Array, timeoutMs = -1): number {
  if (ports.length === 0) return 0;
  const region = ports[0].region;
  if (events.length !== ports.length || revents.length < ports.length) throw new NetmapError('EINVAL', 'pollPorts: events and revents need one entry per port');
  // One futex word per region: ports spread over several regions are re-checked at least
  // every millisecond while the thread sleeps on the first region's word.
  let slice = Infinity;
  for (const p of ports) if (p.region !== region) slice = 1;
  const scan = (): number => {
    let n = 0;
    for (let i = 0; i < ports.length; i++) {
      revents[i] = ports[i].check(events[i]);
      if (revents[i]) n++;
    }
    return n;
  };
  let n = scan();
  if (n || timeoutMs === 0) return n;
  const spins = Math.max(...ports.map((p) => p.spinUs)) * SPIN_CHECKS_PER_US / ports.length;
  for (let i = 0; i < spins; i++) if ((n = scan())) return n;
  const deadline = timeoutMs < 0 ? Infinity : clock.now() + timeoutMs;
  const i32 = region.i32;
  const seqIdx = RH.anyWakeSeq >> 2, waitIdx = RH.anyWaiters >> 2;
  for (;;) {
    const seq = Atomics.load(i32, seqIdx);
    Atomics.add(i32, waitIdx, 1);
    try {
      n = scan();
      if (!n) {
        const left = Math.min(slice, deadline - clock.now());
        if (left > 0) region.wait(seqIdx, seq, left === Infinity ? -1 : left);
        n = scan();
      }
    } finally {
      Atomics.sub(i32, waitIdx, 1);
    }
    if (n || clock.now() >= deadline) return n;
  }
}
