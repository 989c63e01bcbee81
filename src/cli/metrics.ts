// `nmts metrics`: the switches' metrics from the shared files, without the daemon: printed
// once (Prometheus text, or --json), or served over HTTP (--http HOST:PORT) until Ctrl-C.
import { readMetrics } from '../vale/metrics.js';
import { exposition } from '../apps/metrics/prometheus.js';
import { addVxlanMetrics } from '../apps/metrics/vxlan-metrics.js';
import { DEFAULT_HTTP_PORT, parseListen, startMetricsServer } from '../apps/http/server.js';
import { stderrLine, withStopSignal } from './tool.js';

const USAGE = `usage: nmts metrics [--json] [--http HOST:PORT] [--interval MS]

Reads every switch's counters from the shared files (NMTS_SHM_DIR, /dev/shm): packets and
bytes per port and ring, drops by cause, learned MACs, ring occupancy. Read-only and
lock-free: the data path never waits for it, and the daemon is not needed.
  (no option)        print the Prometheus text once
  --json             print the snapshot as JSON once
  --http HOST:PORT   serve GET / (the live dashboard), /metrics, /api/switches, /api/ports,
                     /api/macs and /api/stream (Server-Sent Events of per-port rates) until
                     Ctrl-C; HOST defaults to 127.0.0.1
                     (a bare PORT binds loopback), e.g. --http 127.0.0.1:${DEFAULT_HTTP_PORT}
  --interval MS      period of the rates stream (1000)
Metric names and the API: docs/observability.md.
`;

export async function metricsCommand(argv: string[]): Promise<number> {
  let json = false, listen: string | undefined, interval = 1000;
  const fail = (m: string): number => { process.stderr.write(`metrics: ${m}\nTry 'nmts metrics --help'.\n`); return 2; };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') { process.stdout.write(USAGE); return 0; }
    if (a === '--json') json = true;
    else if (a === '--http') { listen = argv[++i]; if (!listen) return fail('--http requires HOST:PORT'); }
    else if (a === '--interval') { interval = Number(argv[++i]); if (!Number.isInteger(interval) || interval < 100 || interval > 60000) return fail(`invalid --interval '${argv[i]}': 100..60000 ms`); }
    else return fail(`unknown argument '${a}'`);
  }
  if (listen === undefined) {
    const snap = readMetrics();
    for (const s of snap.skipped) stderrLine(`metrics: ${s.file} not read: ${s.reason}`);
    for (const p of snap.problems) stderrLine(`metrics: ${p}`);
    process.stdout.write(json ? JSON.stringify(snap) + '\n' : (await exposition(snap, addVxlanMetrics)).text);
    return 0;
  }
  let where: { host: string; port: number };
  try { where = parseListen(listen); } catch (e) { return fail((e as Error).message); }
  const server = await startMetricsServer({ snapshot: readMetrics }, { ...where, intervalMs: interval });
  stderrLine(`metrics: serving ${server.url}/metrics and the dashboard at ${server.url}/ (also /api/switches, /api/ports, /api/macs, /api/stream, /api/http); Ctrl-C stops`);
  await withStopSignal((signal) => new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  }));
  await server.close();
  return 0;
}
