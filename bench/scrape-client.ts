// The scraper of the scrape-vale-60 case (bench/scrape.ts), in a process of its own:
//   node dist/bench/scrape-client.js URL CONCURRENCY [PERIOD_MS [WARMUP]]
// runs CONCURRENCY loops against URL, each alternating GET /metrics and GET /api/ports
// (keep-alive connections, one per loop): with PERIOD_MS 0 (the default) each loop sends
// its next request as soon as the last one is answered (CONCURRENCY requests always in
// flight); with PERIOD_MS > 0 every loop sends one request at each multiple of PERIOD_MS
// (CONCURRENCY scrapers scraping together every period). It first sends WARMUP requests
// (default 0) as fast as answers come, CONCURRENCY in flight, and counts none of them: a
// Prometheus scrapes a daemon that has run for hours, so the server's and this client's
// code are optimized by V8 before the measurement (cold, both cost 2-3 times the CPU per
// request for the first ~20 s). Says 'ready' once the warm-up is done and every loop has
// had an answer; on SIGTERM prints one JSON line: requests answered after the warm-up (by
// path), errors, bytes, seconds.
import { Agent, get } from 'node:http';

const [url, conc, per, warm] = process.argv.slice(2);
const concurrency = Number(conc ?? 200);
const periodMs = Number(per ?? 0);
const warmup = Number(warm ?? 0);
if (!url || !(concurrency >= 1) || !(periodMs >= 0) || !(warmup >= 0)) {
  process.stderr.write('usage: scrape-client.js URL CONCURRENCY [PERIOD_MS [WARMUP]]\n');
  process.exit(2);
}
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
const paths = ['/metrics', '/api/ports'];
const ok = [0, 0];
let errors = 0, bytes = 0, answered = 0, stopping = false;
const firstAnswer = new Uint8Array(concurrency);
let t0 = performance.now();

function once(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(`${url}${path}`, { agent }, (res) => {
      res.on('data', (d: Buffer) => { bytes += d.length; });
      res.on('end', () => resolve(res.statusCode === 200));
      res.on('error', () => resolve(false));
    });
    req.on('error', () => resolve(false));
  });
}

async function loop(k: number): Promise<void> {
  for (let i = k; !stopping; i++) {
    const which = i & 1;
    if (await once(paths[which]!)) ok[which]!++;
    else { errors++; await new Promise((r) => setTimeout(r, 10)); }
    if (!firstAnswer[k]) {
      firstAnswer[k] = 1;
      if (++answered === concurrency) process.stdout.write('ready\n');
    }
    if (periodMs > 0 && !stopping) {
      const now = performance.timeOrigin + performance.now();
      await new Promise((r) => setTimeout(r, periodMs - (now % periodMs)));
    }
  }
}

/** The warm-up: `warmup` requests, `concurrency` in flight, none counted. */
async function warmUp(): Promise<void> {
  let left = warmup;
  const one = async (k: number): Promise<void> => {
    for (let i = k; left > 0 && !stopping; i++) {
      left--;
      if (!(await once(paths[i & 1]!))) { errors++; await new Promise((r) => setTimeout(r, 10)); }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, k) => one(k)));
  if (errors > 0) { process.stderr.write(`scrape-client: ${errors} errors during the warm-up\n`); process.exit(1); }
  bytes = 0;
  t0 = performance.now();
}

let loops: Array<Promise<void>> = [];
const started = warmUp().then(() => { loops = Array.from({ length: concurrency }, (_, k) => loop(k)); });
process.once('SIGTERM', () => {
  stopping = true;
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ metrics: ok[0], ports: ok[1], errors, bytes, seconds }) + '\n');
  agent.destroy();
  void Promise.race([started.then(() => Promise.all(loops)), new Promise((r) => setTimeout(r, 500))]).then(() => process.exit(0));
});
