// A real Prometheus (Debian's package) scrapes `nmts`'s metrics server while pkt-gen runs
// through a switch: a PromQL query over its HTTP API returns the port's packet counter equal
// to what pkt-gen reported, and rate() within 10 % of pkt-gen's rate.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from '../src/index.js';
import { readMetrics } from '../src/vale/metrics.js';
import { needs } from './fixtures/requires.js';
import { startReceiver } from './fixtures/pktgen-receiver.js';
import { startMetricsServer, type MetricsServer } from '../src/apps/http/server.js';

const nmts = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const id = process.pid % 100000;

let prom: ChildProcess | null = null, server: MetricsServer | null = null, dir = '';
const kids = new Set<ChildProcess>();
after(async () => {
  prom?.kill('SIGKILL');
  for (const k of kids) k.kill('SIGKILL');
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

function pktgen(args: string[]): Promise<{ code: number | null; json: { packets: number; pps: number; seconds: number; dropped: number }; err: string }> {
  const c = spawn(process.execPath, [nmts, 'pkt-gen', ...args, '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  kids.add(c);
  let out = '', err = '';
  c.stdout.on('data', (d) => { out += d; });
  c.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => c.once('exit', (code) => {
    kids.delete(c);
    resolve({ code, json: JSON.parse(out.trim().split('\n').pop() ?? 'null'), err });
  }));
}

interface PromResult { status: string; data: { resultType: string; result: Array<{ metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }> } }

async function query(base: string, path: string, params: Record<string, string>): Promise<PromResult> {
  const r = await fetch(`${base}${path}?${new URLSearchParams(params)}`);
  assert.equal(r.status, 200, await r.clone().text());
  return await r.json() as PromResult;
}

test('Prometheus scrapes the counters: the packet counter equals pkt-gen\'s count, rate() within 10 % of its rate', { skip: needs(['prometheus']), timeout: 90_000 }, async (t) => {
  const sw = `valeProm${id}`;
  // the test holds both ports too, so that their counters outlive the pkt-gen processes
  const holdTx = open(`${sw}:tx`), holdRx = open(`${sw}:rx`);
  try {
    server = await startMetricsServer({ snapshot: readMetrics }, { port: 0, cacheMs: 0 });
    dir = mkdtempSync(join(tmpdir(), 'nmts-prom-'));
    writeFileSync(join(dir, 'prometheus.yml'), [
      'global:', '  scrape_interval: 1s', '  scrape_timeout: 900ms',
      'scrape_configs:', '  - job_name: nmts', '    static_configs:', `      - targets: ['127.0.0.1:${server.port}']`, '',
    ].join('\n'));
    const promPort = await freePort();
    const base = `http://127.0.0.1:${promPort}`;
    let log = '';
    prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stderr!.on('data', (d) => { log += d; });
    prom.stdout!.on('data', (d) => { log += d; });
    let ready = false;
    for (let k = 0; k < 150 && !ready; k++) {
      await sleep(200);
      ready = await fetch(`${base}/-/ready`).then((r) => r.status === 200, () => false);
    }
    assert.ok(ready, `prometheus did not start:\n${log.slice(-2000)}`);

    const rate = 20000, n = 160000; // 8 s of traffic
    const rx = await startReceiver(nmts, ['-i', `${sw}:rx`], { cwd: root }); // runs until the sender is done
    kids.add(rx.child);
    const t0 = Date.now() / 1000;
    const tx = await pktgen(['-i', `${sw}:tx`, '-f', 'tx', '-R', String(rate), '-n', String(n)]);
    const t1 = Date.now() / 1000;
    const got = await rx.stop();
    kids.delete(rx.child);
    assert.equal(tx.code, 0, tx.err);
    assert.equal(got.code, 0, got.err);
    assert.equal(tx.json.packets, n);
    assert.equal(tx.json.packets, got.json.packets + tx.json.dropped, 'sent = received + dropped');
    await sleep(2500); // two more scrapes after the last frame

    const sel = (dir: string): string => `nmts_port_packets_total{switch="${sw}",port="${sw}:${dir}",direction="${dir}"}`;
    // a counter's highest value in the last 20 s is its last one; a scrape that a loaded machine
    // answers after the scrape timeout marks the series stale, so a plain instant query at "now"
    // could find nothing although every earlier sample is there
    const last = (dir: string): string => `max_over_time(${sel(dir)}[20s])`;
    const txNow = await query(base, '/api/v1/query', { query: last('tx') });
    assert.equal(txNow.data.result.length, 1, JSON.stringify(txNow));
    assert.equal(Number(txNow.data.result[0].value![1]), tx.json.packets, 'the tx counter Prometheus holds is what pkt-gen sent');
    const rxNow = await query(base, '/api/v1/query', { query: last('rx') });
    assert.equal(rxNow.data.result.length, 1, JSON.stringify(rxNow));
    assert.equal(Number(rxNow.data.result[0].value![1]), got.json.packets, 'the rx counter is what pkt-gen received');

    // rate() over 3 s windows inside the run, against pkt-gen's own rate
    const r = await query(base, '/api/v1/query_range', { query: `rate(${sel('tx')}[3s])`, start: String(t0 + 4), end: String(t1 - 1), step: '1' });
    const values = (r.data.result[0]?.values ?? []).map(([, v]) => Number(v)).sort((a, b) => a - b);
    assert.ok(values.length >= 2, JSON.stringify(r));
    const median = values[values.length >> 1];
    const err = Math.abs(median - tx.json.pps) / tx.json.pps;
    t.diagnostic(`rate() median ${median.toFixed(0)}/s, pkt-gen ${tx.json.pps}/s, ${(err * 100).toFixed(1)} % apart; values ${values.map((v) => v.toFixed(0)).join(' ')}`);
    assert.ok(err <= 0.1, `rate() ${median.toFixed(0)}/s vs pkt-gen's ${tx.json.pps}/s (${(err * 100).toFixed(1)} %; values ${values.map((v) => v.toFixed(0)).join(' ')})`);
  } finally {
    holdTx.close(); holdRx.close();
  }
});
