// The `nmts top` loop: a snapshot every interval, redrawn on a terminal (or one JSON line, or
// one table with --once), until stopped. Reads the shared files directly: no daemon needed;
// when a daemon answers, its VM ports (vhost-user) are added below the switch ports (vms.ts),
// and the VXLAN ports below them (vxlan.ts, from their files).
import { readMetrics, type MetricsSnapshot } from '../../vale/metrics.js';
import { renderTop, topRows } from './render.js';
import { vmRows, type VmSample } from './vms.js';
import { sampleVxlan, vxlanRows, type VxlanSample } from './vxlan.js';

export interface TopOptions {
  intervalMs: number;
  /** Print one table (or JSON object) after one interval, then return. */
  once: boolean;
  json: boolean;
  /** Stop after this many refreshes (0: until the signal). */
  count: number;
  /** Redraw in place (a terminal). */
  tty: boolean;
  columns?: number;
  rows?: number;
  write: (s: string) => void;
  signal: AbortSignal;
  /** Where snapshots come from (default: the shared files). */
  snapshot?: () => MetricsSnapshot;
  /** The daemon's VM ports (askVms), or null without a daemon; none by default. */
  vms?: () => Promise<VmSample | null>;
  /** The VXLAN ports (default: the shm directory's, sampleVxlan). */
  vxlan?: () => VxlanSample;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> => new Promise((resolve) => {
  if (signal.aborted) return resolve();
  const t = setTimeout(done, ms);
  function done(): void { clearTimeout(t); signal.removeEventListener('abort', done); resolve(); }
  signal.addEventListener('abort', done, { once: true });
});

export async function runTop(o: TopOptions): Promise<void> {
  const read = o.snapshot ?? readMetrics;
  let prev = read();
  let prevVms = o.vms ? await o.vms() : null;
  const readVx = o.vxlan ?? sampleVxlan;
  let prevVx = readVx();
  const redraw = o.tty && !o.once && !o.json;
  if (redraw) o.write('\x1b[?25l'); // hide the cursor while drawing
  try {
    for (let n = 0; !o.signal.aborted && (o.count === 0 || n < o.count); n++) {
      await sleep(o.intervalMs, o.signal);
      if (o.signal.aborted && n > 0) break;
      const cur = read();
      const rows = topRows(prev, cur);
      prev = cur;
      const curVms = o.vms ? await o.vms() : null;
      const vms = curVms ? vmRows(prevVms, curVms) : [];
      prevVms = curVms;
      const curVx = readVx();
      const vxlan = vxlanRows(prevVx, curVx);
      prevVx = curVx;
      if (o.json) {
        o.write(JSON.stringify({ time: cur.time, intervalMs: o.intervalMs, ports: rows, vms, vxlan, skipped: cur.skipped, problems: cur.problems }) + '\n');
      } else {
        const room = o.rows !== undefined ? o.rows - 3 - (vms.length ? vms.length + 2 : 0) - (vxlan.length ? vxlan.length + 2 : 0) : undefined;
        const lines = renderTop(rows, cur, redraw ? { width: o.columns, maxRows: room, vms, vxlan } : { vms, vxlan });
        o.write(redraw ? `\x1b[H\x1b[2J${lines.join('\n')}\n` : `${lines.join('\n')}\n`);
      }
      if (o.once) break;
    }
  } finally {
    if (redraw) o.write('\x1b[?25h');
  }
}
