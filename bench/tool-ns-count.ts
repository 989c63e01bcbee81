// Counts what the kernel received on a Linux interface, from inside its network namespace:
//   ip netns exec NS node tool-ns-count.js DEV DEADLINE_MS IDLE_MS SKIP_MS
// Says "ready" on stdout, then reads /sys/class/net/DEV/statistics/rx_packets every 0.2 ms;
// it ends IDLE_MS after the last change (once the count has moved) or at DEADLINE_MS and
// prints one JSON line (NsCountReport). As in tool-rx.ts, the first SKIP_MS after the first
// change are the warm-up and the rate is the slope of the count over the times it changed
// in the window after it (least squares).
import { closeSync, openSync, readSync } from 'node:fs';
import { RateFit } from './tool-fit.js';

export interface NsCountReport {
  /** rx_packets gained while the counter ran. */
  packets: number;
  /** Gained in the measured window. */
  windowPackets: number;
  /** Fitted rate in the window, packets per second. */
  pps: number;
  /** Length of the window: from its first to its last change. */
  seconds: number;
  /** rx_dropped gained while the counter ran. */
  rxDropped: number;
}

const [dev, deadlineArg, idleArg, skipArg] = process.argv.slice(2);
if (!dev) throw new Error('usage: tool-ns-count DEV [DEADLINE_MS] [IDLE_MS] [SKIP_MS]');
const deadline = performance.now() + Number(deadlineArg ?? 10_000);
const idleMs = Number(idleArg ?? 300);
const skipMs = Number(skipArg ?? 0);
const buf = Buffer.alloc(32);
const read = (fd: number): number => Number(buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0)).trim());
const fd = openSync(`/sys/class/net/${dev}/statistics/rx_packets`, 'r');
const fdDrop = openSync(`/sys/class/net/${dev}/statistics/rx_dropped`, 'r');
const nap = new Int32Array(new SharedArrayBuffer(4));

const c0 = read(fd), d0 = read(fdDrop);
process.stdout.write('ready\n');
const fit = new RateFit();
let last = c0, tFirst = -1, tLast = 0, wStart = -1, w0 = 0;
for (;;) {
  Atomics.wait(nap, 0, 0, 0.2);
  const c = read(fd), now = performance.now();
  if (c !== last) {
    if (tFirst < 0) tFirst = now;
    if (wStart < 0 && now - tFirst >= skipMs) { wStart = now; w0 = last; }
    last = c;
    tLast = now;
    if (wStart >= 0) fit.add((now - wStart) / 1000, c - c0);
  } else if ((tFirst >= 0 && now - tLast > idleMs) || now > deadline) {
    break;
  }
}
const report: NsCountReport = {
  packets: last - c0, windowPackets: wStart < 0 ? 0 : last - w0, pps: fit.slope(),
  seconds: wStart < 0 ? 0 : (tLast - wStart) / 1000, rxDropped: read(fdDrop) - d0,
};
closeSync(fd);
closeSync(fdDrop);
process.stdout.write(`${JSON.stringify(report)}\n`);
