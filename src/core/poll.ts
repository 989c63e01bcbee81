// netmap's poll() over several descriptors: wait until any of several ports is ready.
import { POLLIN, POLLOUT } from './constants.js';
import { clock, SPIN_CHECKS_PER_US, type Port } from './port.js';
import { NetmapError, type Region } from './region.js';
import { PollSet } from '../sys/net.js';
import { ANY_WORD, sleepOn } from './wait.js';
import { spinEnd, spinPastEnd } from './spin.js';

/** One reusable pollfd array per ports array (a poll loop calls with the same array each time). */
const pollSets = new WeakMap<readonly Port[], { set: PollSet; owner: Int32Array; events: Int32Array }>();

function pollSetFor(ports: readonly Port[], fds: ReadonlyArray<readonly number[]>): { set: PollSet; owner: Int32Array; events: Int32Array } {
  const have = pollSets.get(ports);
  const total = fds.reduce((n, f) => n + f.length, 0);
  if (have && have.owner.length === total) return have;
  const all: number[] = [], owner: number[] = [];
  fds.forEach((f, i) => { for (const fd of f) { all.push(fd); owner.push(i); } });
  const made = { set: new PollSet(all), owner: Int32Array.from(owner), events: new Int32Array(ports.length).fill(-1) };
  pollSets.set(ports, made);
  return made;
}

/**
 * poll() over several ports, as netmap's poll() over several descriptors: revents[i]
 * receives the ready events of ports[i] for events[i]. Returns the number of ports with
 * events (0 on timeout). Spins briefly, then sleeps:
 *
 * - when only one port is asked for events (the others' are 0): as that port's poll(), on its
 *   own wake-up word, so that publishes to the region's other ports do not wake it;
 * - ports of one shared region: on the region's wake-up word, woken by any publish in it;
 * - ports that all sit on kernel objects (netmap:IF): in one poll(2) over all their sockets;
 * - a mix (or several regions): on the wake-up word of the first shared region, re-checking
 *   every millisecond, so a kernel port or another region is served within about 1 ms.
 */
export function pollPorts(ports: readonly Port[], events: ArrayLike<number>, revents: Int32Array, timeoutMs = -1): number {
  if (ports.length === 0) return 0;
  if (events.length !== ports.length || revents.length < ports.length) throw new NetmapError('EINVAL', 'pollPorts: events and revents need one entry per port');
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

  // only one port asked for anything: wait on that port's own word, so that what the region's
  // other ports publish does not wake this thread for nothing (a distribution's I/O thread
  // waiting for room in one pipe while a generator floods the port it holds back)
  let only = -1;
  for (let i = 0; i < ports.length; i++) {
    if (!events[i]) continue;
    if (only !== -1) { only = -2; break; }
    only = i;
  }
  if (only >= 0 && ports[only].pollFds() === null) {
    const r = ports[only].poll(events[only], timeoutMs);
    revents[only] = r;
    return r ? 1 : 0;
  }

  let waitRegion: Region | null = null, kernel = 0, slice = Infinity;
  for (const p of ports) {
    if (p.pollFds()) kernel++;
    else if (waitRegion === null) waitRegion = p.region;
    else if (p.region !== waitRegion) slice = 1;
  }
  if (kernel > 0) slice = 1;
  // a check of a kernel port may cost a system call: spin less
  const spinUs = ports.reduce((m, p) => Math.max(m, p.spinUs), 0);
  const spins = (spinUs * SPIN_CHECKS_PER_US / ports.length) / (kernel > 0 ? 4 : 1);
  const end = spins > 0 ? spinEnd(timeoutMs) : 0;
  for (let i = 0; i < spins; i++) {
    if ((n = scan())) return n;
    if (spinPastEnd(i, end)) break;
  }
  const deadline = timeoutMs < 0 ? Infinity : clock.now() + timeoutMs;

  if (waitRegion === null) return pollKernel(ports, events, deadline, scan);

  // sleep on the region's word for pollers of several ports (core/wait.ts), re-checking once announced
  const check = {
    beforeSleep(): number {
      n = scan();
      return n ? 0 : Math.min(slice, deadline - clock.now());
    },
  };
  for (;;) {
    n = 0;
    sleepOn(waitRegion, ANY_WORD, check);
    if (!n) n = scan();
    if (n || clock.now() >= deadline) return n;
  }
}

/** Every port sits on kernel objects: one poll(2) over all their descriptors. */
function pollKernel(ports: readonly Port[], events: ArrayLike<number>, deadline: number, scan: () => number): number {
  const p = pollSetFor(ports, ports.map((x) => x.pollFds()!));
  for (let i = 0; i < ports.length; i++) {
    const e = (events[i] & POLLIN ? POLLIN : 0) | (events[i] & POLLOUT ? POLLOUT : 0);
    if (p.events[i] === e) continue;
    p.events[i] = e;
    for (let k = 0; k < p.owner.length; k++) if (p.owner[k] === i) p.set.setEvents(k, e);
  }
  for (;;) {
    const left = deadline - clock.now();
    // an endless wait is cut into 1 s polls
    p.set.poll(left === Infinity ? 1000 : Math.max(0, Math.min(1000, Math.ceil(left))));
    const n = scan();
    if (n || clock.now() >= deadline) return n;
  }
}
