// `nmts top`: per-port rates and drops of every switch, refreshed every second, sorted by
// rate; from the shared files (no daemon needed). q or Ctrl-C quits.
import { runTop } from '../apps/top/run.js';
import { askVms } from '../apps/top/vms.js';
import { withStopSignal } from './tool.js';

const USAGE = `usage: nmts top [--once] [--json] [-d SECONDS] [-n COUNT]

One line per port of every VALE switch, busiest first: receive and transmit rates (packets
and bits per second), drops per second and in total (every cause: undelivered, rx ring full,
bad slot, monitor full; a line ending in '!' is dropping now), the fullest rx ring's
occupancy and the MACs learned on the port. Read from the shared files (NMTS_SHM_DIR):
works without the daemon and never slows the data path. When the daemon answers (NMTS_SOCKET),
its VM ports (vhost-user) follow: rates each way from the guest's side, drops, kicks and
interrupts per second, connected or not, the switch port. Then the VXLAN ports (from their
files): frames and bits each way, datagrams sent and frames flooded per second, drops (every
cause vale-ctl -v lists), open or closed. q or Ctrl-C quits.
  --once       print one table after one interval and exit (for scripts)
  --json       one JSON object per interval instead of the table (with --once: one)
  -d SECONDS   refresh interval (1; 0.1..60)
  -n COUNT     stop after COUNT refreshes
`;

export async function topCommand(argv: string[]): Promise<number> {
  let once = false, json = false, intervalMs = 1000, count = 0;
  const fail = (m: string): number => { process.stderr.write(`top: ${m}\nTry 'nmts top --help'.\n`); return 2; };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') { process.stdout.write(USAGE); return 0; }
    if (a === '--once') once = true;
    else if (a === '--json') json = true;
    else if (a === '-d') { const v = Number(argv[++i]); if (!(v >= 0.1 && v <= 60)) return fail(`invalid -d '${argv[i]}': 0.1..60 seconds`); intervalMs = Math.round(v * 1000); }
    else if (a === '-n') { const v = Number(argv[++i]); if (!Number.isInteger(v) || v < 1) return fail(`invalid -n '${argv[i]}'`); count = v; }
    else return fail(`unknown argument '${a}'`);
  }
  const tty = process.stdout.isTTY === true;
  const stdin = process.stdin;
  await withStopSignal(async (signal) => {
    const ac = new AbortController();
    signal.addEventListener('abort', () => ac.abort(), { once: true });
    const interactive = tty && !once && !json && stdin.isTTY === true;
    const onKey = (d: Buffer): void => { if (d.includes(0x71) || d.includes(0x03)) ac.abort(); }; // q, Ctrl-C
    if (interactive) { stdin.setRawMode(true); stdin.on('data', onKey); }
    try {
      await runTop({
        intervalMs, once, json, count, tty,
        columns: process.stdout.columns, rows: process.stdout.rows,
        write: (s) => { process.stdout.write(s); }, signal: ac.signal,
        vms: () => askVms(),
      });
    } finally {
      if (interactive) { stdin.off('data', onKey); stdin.setRawMode(false); stdin.pause(); }
    }
  });
  return 0;
}
