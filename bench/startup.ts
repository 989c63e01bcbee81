// How long starting one `nmts` process takes on this machine right now (node, koffi, the
// library): cases that start processes before their measured window (the xproc ones) get
// that time on top of their budget, so a loaded machine does not turn them into timeouts.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));

/** Wall time of `nmts pkt-gen -h` (start-up, load, exit), in ms; measured at each call (load varies). */
export function measureStartupMs(): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [NMTS, 'pkt-gen', '-h'], { stdio: 'ignore' });
    c.once('error', reject);
    c.once('exit', () => resolve(performance.now() - t0));
  });
}
