// scrape-vale-60 (--tools; the observability issue's bench row): the data path while the
// metrics server is scraped hard. A VALE pkt-gen pair in two processes (as xproc-vale-60)
// runs at full speed (the sender first, the receiver's rate from its first frame), alternately alone and while a scraper process (scrape-client.ts)
// keeps 200 requests in flight in a loop (GET /metrics and GET /api/ports in turn) against
// `nmts metrics --http 127.0.0.1:0` (apps/http/server.ts) on loopback, which runs in its own
// process throughout (idle in the runs without scrapes). ROUNDS rounds of (without, with),
// interleaved so that slow drifts of the machine hit both alike; each run is warm-up +
// duration of the receiver, its rate counted from its first frame. Before each run with
// scrapes the scraper sends WARMUP_REQUESTS uncounted requests: cold, the server's and the
// scraper's request paths cost 2-3 times their steady CPU (V8 compiling them on its
// background threads), and a daemon that Prometheus scrapes has long been warm.
//
// The row's rate is the median run with scrapes; the notes give min/median/max of both
// series, the change of the medians (the target: a fall of at most 5 %), the
// scrapes answered per second and the errors. On a 2-core machine the four busy processes
// (sender, receiver, server, scraper) share two cores: the figure says what scrapes cost
// there, not on a machine with a core to spare for them.
import { createServer, type AddressInfo } from 'node:net';
import { registerCase, DEFAULT_WARMUP_MS, type CaseResult, type RunOptions } from './cases.js';
import { benchScript, ForeignLoad, foreignNote, NMTS, start } from './tool-kit.js';

const ROUNDS = 3;
const CONCURRENCY = 200;
/** Requests the scraper sends (uncounted) before each measured run, so that V8 has optimized
 *  the server's and the scraper's request paths, as it has in a daemon scraped for hours. */
const WARMUP_REQUESTS = 20_000;

interface ScrapeReport { metrics: number; ports: number; errors: number; bytes: number; seconds: number }

/**
 * One run of the pair: the sender starts first (a VALE port with no peer yet drops what it
 * sends), then the receiver runs for warm-up + duration and its JSON gives the rate from
 * its first frame, so the start-up of either process on a loaded machine does not count.
 */
async function pair(sw: string, durationMs: number, opts?: RunOptions): Promise<number> {
  const warm = (opts?.warmupMs ?? DEFAULT_WARMUP_MS) / 1000, dur = durationMs / 1000;
  const tx = start(process.execPath, [NMTS, 'pkt-gen', '-i', `${sw}:tx`, '-f', 'tx', '-S', '02:00:00:00:00:01', '-D', '02:00:00:00:00:02', '--duration', String(warm + dur + 30)]);
  try {
    await tx.says('Sending on', 'out');
    const rx = await start(process.execPath, [NMTS, 'pkt-gen', '-i', `${sw}:rx`, '-f', 'rx', '--duration', String(warm + dur), '--json']).exited;
    if (rx.code !== 0) throw new Error(`pkt-gen receiver exited with ${rx.code}: ${rx.err.trim().split('\n').pop() ?? ''}`);
    const r = JSON.parse(rx.out.trim().split('\n').pop()!) as { packets: number; seconds: number };
    if (!(r.packets > 0 && r.seconds > 0)) throw new Error(`the receiver got ${r.packets} frames in ${r.seconds} s`);
    return r.packets / r.seconds / 1e6;
  } finally {
    tx.kill('SIGINT');
    const t = setTimeout(() => tx.kill('SIGKILL'), 3000);
    await tx.exited;
    clearTimeout(t);
  }
}

const median = (v: number[]): number => { const s = [...v].sort((a, b) => a - b); return s[s.length >> 1]!; };
const f2 = (v: number): string => v.toFixed(2);
const series = (v: number[]): string => `${f2(Math.min(...v))} / ${f2(median(v))} / ${f2(Math.max(...v))}`;

async function scrapeCase(durationMs: number, opts?: RunOptions): Promise<CaseResult> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = start(process.execPath, [NMTS, 'metrics', '--http', `127.0.0.1:${port}`]);
  try {
    await server.says(`serving ${url}/metrics`, 'err');
    const load = new ForeignLoad();
    load.start();
    const without: number[] = [];
    const loaded = { paced: [] as number[], flood: [] as number[] };
    const reports = { paced: [] as ScrapeReport[], flood: [] as ScrapeReport[] };
    for (let round = 0; round < ROUNDS; round++) {
      const sw = `valesc${process.pid}r${round}`;
      without.push(await pair(`${sw}a`, durationMs, opts));
      for (const mode of ['paced', 'flood'] as const) {
        const scraper = benchScript('./scrape-client.js', [url, String(CONCURRENCY), mode === 'paced' ? '1000' : '0', String(WARMUP_REQUESTS)]);
        try {
          await scraper.says('ready');
          loaded[mode].push(await pair(`${sw}${mode[0]}`, durationMs, opts));
        } finally {
          scraper.kill('SIGTERM');
        }
        const done = await scraper.exited;
        const line = done.out.trim().split('\n').pop() ?? '';
        if (!line.startsWith('{')) throw new Error(`the scraper printed no report: ${done.err.trim().split('\n').pop() ?? ''}`);
        reports[mode].push(JSON.parse(line) as ScrapeReport);
      }
    }
    const other = load.stop();
    const mWithout = median(without);
    const change = (v: number[]): number => (median(v) / mWithout - 1) * 100;
    const pct = (c: number): string => `${c >= 0 ? '+' : '−'}${Math.abs(c).toFixed(1)} %`;
    const answered = (rs: ScrapeReport[]): { perSec: number; errors: number } => {
      const secs = rs.reduce((s, r) => s + r.seconds, 0);
      return { perSec: rs.reduce((s, r) => s + r.metrics + r.ports, 0) / secs, errors: rs.reduce((s, r) => s + r.errors, 0) };
    };
    const ap = answered(reports.paced), af = answered(reports.flood);
    const mPaced = median(loaded.paced);
    const seconds = (durationMs + (opts?.warmupMs ?? DEFAULT_WARMUP_MS)) / 1000;
    return {
      packets: Math.round(mPaced * 1e6 * seconds), bytes: Math.round(mPaced * 1e6 * seconds) * 60, seconds,
      notes: `Mpps min/median/max (${ROUNDS} rounds interleaved): without scrapes ${series(without)}; ` +
        `${CONCURRENCY} scrapers once a second ${series(loaded.paced)} (${pct(change(loaded.paced))}, ${ap.perSec.toFixed(0)} answers/s, ${ap.errors} errors); ` +
        `${CONCURRENCY} always in flight ${series(loaded.flood)} (${pct(change(loaded.flood))}, ${af.perSec.toFixed(0)} answers/s, ${af.errors} errors); ` +
        `target: a fall of at most 5 %${foreignNote(other)}`,
      extra: {
        withoutMpps: without.join(','), pacedMpps: loaded.paced.join(','), floodMpps: loaded.flood.join(','),
        medianWithout: mWithout, medianPaced: mPaced, medianFlood: median(loaded.flood),
        pacedChangePct: change(loaded.paced), floodChangePct: change(loaded.flood),
        pacedAnswersPerSec: ap.perSec, floodAnswersPerSec: af.perSec, scrapeErrors: ap.errors + af.errors,
        concurrency: CONCURRENCY, rounds: ROUNDS, otherCpuPct: other,
      },
    };
  } finally {
    server.kill('SIGTERM');
    await server.exited;
  }
}
/** A loopback TCP port free right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
  });
}

registerCase({
  name: 'scrape-vale-60', frameLen: 60, kind: 'tool', processStarts: 3 * ROUNDS * 3,
  slackMs: 3 * ROUNDS * (5000 + DEFAULT_WARMUP_MS + 4000) + 2 * ROUNDS * 10_000, // and the scraper's warm-ups (3 s each on a quiet machine)
  description: `VALE pkt-gen pair (two processes) without scrapes, with ${CONCURRENCY} scrapers once a second, with ${CONCURRENCY} requests always in flight (GET /metrics, /api/ports) against nmts metrics --http; ${ROUNDS} rounds interleaved`,
  run: scrapeCase,
});
