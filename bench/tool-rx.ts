// A receiver process for the --tools rate cases:
//   node tool-rx.js PORT DEADLINE_MS IDLE_MS SKIP_MS
// Opens PORT, says "ready" on stdout, counts frames and notes when each batch arrived; it
// ends IDLE_MS after the last frame (once frames have come) or at DEADLINE_MS, and prints
// one JSON line (ToolRxReport). The first SKIP_MS after the first frame are the warm-up
// (both processes compile their loops then, and the sender catches up in bursts); the
// measured window starts after it. The rate is the slope of the frame count over the
// arrival times in the window (least squares over every batch), so one late wake-up at
// either end does not move it.
import '../src/index.js';
import { open } from '../src/core/open.js';
import { POLLIN } from '../src/core/constants.js';
import { RateFit } from './tool-fit.js';

export interface ToolRxReport {
  /** Frames received in all. */
  packets: number;
  /** Frames received in the measured window. */
  windowPackets: number;
  /** Fitted arrival rate in the window, packets per second. */
  pps: number;
  /** Length of the window: from its first to its last batch. */
  seconds: number;
  /** The port's rx drops (a full ring): in all, and in the window. */
  rxDrops: number;
  windowDrops: number;
}

const [name, deadlineArg, idleArg, skipArg] = process.argv.slice(2);
if (!name) throw new Error('usage: tool-rx PORT [DEADLINE_MS] [IDLE_MS] [SKIP_MS]');
const deadline = performance.now() + Number(deadlineArg ?? 10_000);
const idleMs = Number(idleArg ?? 300);
const skipMs = Number(skipArg ?? 0);
const port = open(name, { rxSlots: 4096 });
const drops = (): number => port.stats().rxDrops;
const drops0 = drops();
process.stdout.write('ready\n');

const fit = new RateFit();
let packets = 0, tFirst = 0, tLast = 0, wStart = -1, wPackets0 = 0, wDrops0 = 0;
for (;;) {
  port.poll(POLLIN, 5);
  const now = performance.now();
  let n = 0;
  for (const ring of port.rxRings) {
    const h = ring.head, t = ring.tail;
    if (h === t) continue;
    n += t >= h ? t - h : t + ring.numSlots - h;
    ring.advance(t);
  }
  if (n > 0) {
    if (packets === 0) tFirst = now;
    packets += n;
    tLast = now;
    if (wStart < 0 && now - tFirst >= skipMs) { wStart = now; wPackets0 = packets - n; wDrops0 = drops(); }
    if (wStart >= 0) fit.add((now - wStart) / 1000, packets);
    port.rxsync();
  } else if ((packets > 0 && now - tLast > idleMs) || now > deadline) {
    break;
  }
}
const d = drops();
const report: ToolRxReport = {
  packets, windowPackets: wStart < 0 ? 0 : packets - wPackets0, pps: fit.slope(), seconds: wStart < 0 ? 0 : (tLast - wStart) / 1000,
  rxDrops: d - drops0, windowDrops: wStart < 0 ? 0 : d - wDrops0,
};
port.close();
process.stdout.write(`${JSON.stringify(report)}\n`);
