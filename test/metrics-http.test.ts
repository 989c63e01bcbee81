// The read-only HTTP server (apps/http/server.ts) with real clients: Prometheus text with
// names, types, HELP and labels, the JSON API with the same numbers, the rates stream, bad
// input (unknown paths, other methods, bodies, oversized and slow requests), and 200
// concurrent scrapes while pkt-gen runs through the switch.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Gauge } from 'prom-client';
import { open, type Port } from '../src/index.js';
import { readMetrics } from '../src/vale/metrics.js';
import { startReceiver } from './fixtures/pktgen-receiver.js';
import { parseListen, startMetricsServer, type MetricsServer } from '../src/apps/http/server.js';
import { BROADCAST, drain, mac, put, send } from './fixtures/vale-helpers.js';
import { sample } from './fixtures/prom.js';

const nmts = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const id = process.pid % 100000;
const A = mac(0x2a), B = mac(0x2b);
const servers: MetricsServer[] = [];
after(async () => { for (const s of servers) await s.close(); });

async function serve(opts: Parameters<typeof startMetricsServer>[1] = {}, extra: Partial<Parameters<typeof startMetricsServer>[0]> = {}): Promise<MetricsServer> {
  const s = await startMetricsServer({ snapshot: readMetrics, ...extra }, { port: 0, cacheMs: 0, ...opts });
  servers.push(s);
  return s;
}

function sendMany(p: Port, n: number, dst: Uint8Array, src: Uint8Array): void {
  for (let i = 0; i < n; i++) {
    if (p.txRings[0].space() === 0) p.txsync();
    put(p, dst, src);
  }
  p.txsync();
}

/** A raw HTTP exchange: what the server answered before closing (or '' on a reset). */
function raw(port: number, data: string | Buffer, waitMs: number): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => { sock.destroy(); resolve({ text, closed: false, ms: Date.now() - t0 }); }, waitMs);
    sock.on('data', (d) => { text += d.toString('latin1'); });
    sock.on('error', () => { /* reset: reported as closed */ });
    sock.on('close', () => { clearTimeout(timer); resolve({ text, closed: true, ms: Date.now() - t0 }); });
    sock.write(data);
  });
}

test('GET /metrics: Prometheus text with HELP, TYPE and labels; the JSON API shows the same numbers', async () => {
  const sw = `valeH${id}`;
  const a = open(`${sw}:a`), b = open(`${sw}:b@conf:slots=64`);
  try {
    send(b, BROADCAST, B);
    drain(a);
    sendMany(a, 100, B, A); // 63 delivered, 37 dropped (ring full)
    const s = await serve();
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'loopback by default');
    const res = await fetch(`${s.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^# HELP nmts_port_packets_total .+$/m);
    assert.match(text, /^# TYPE nmts_port_packets_total counter$/m);
    assert.match(text, /^# TYPE nmts_port_drops_total counter$/m);
    assert.match(text, /^# TYPE nmts_ring_occupancy_slots gauge$/m);
    const port = { switch: sw, port: `${sw}:a` };
    assert.equal(sample(text, 'nmts_port_packets_total', { ...port, direction: 'tx' }), 100);
    assert.equal(sample(text, 'nmts_port_bytes_total', { ...port, direction: 'tx' }), 6000);
    assert.equal(sample(text, 'nmts_port_drops_total', { ...port, direction: 'tx', cause: 'undelivered' }), 37);
    const pb = { switch: sw, port: `${sw}:b` };
    assert.equal(sample(text, 'nmts_port_packets_total', { ...pb, direction: 'rx' }), 63);
    assert.equal(sample(text, 'nmts_port_drops_total', { ...pb, direction: 'rx', cause: 'ring_full' }), 37);
    assert.equal(sample(text, 'nmts_ring_drops_total', { ...pb, ring: '0', direction: 'rx', cause: 'ring_full' }), 37);
    assert.equal(sample(text, 'nmts_ring_occupancy_slots', { ...pb, ring: '0', direction: 'rx' }), 63);
    assert.equal(sample(text, 'nmts_ring_slots', { ...pb, ring: '0', direction: 'rx' }), 64);
    assert.equal(sample(text, 'nmts_port_learned_macs', pb), 1);
    assert.equal(sample(text, 'nmts_switch_ports', { switch: sw }), 2);

    const sws = await (await fetch(`${s.url}/api/switches`)).json() as { switches: Array<{ name: string; ports: string[]; learnedMacs: number }> };
    const mine = sws.switches.find((x) => x.name === sw)!;
    assert.deepEqual(mine.ports, [`${sw}:a`, `${sw}:b`]);
    assert.equal(mine.learnedMacs, 2);
    const ports = await (await fetch(`${s.url}/api/ports`)).json() as { ports: Array<{ port: string; txPackets: number; rxPackets: number; drops: { undelivered: number; ringFull: number } }> };
    const ja = ports.ports.find((p) => p.port === `${sw}:a`)!, jb = ports.ports.find((p) => p.port === `${sw}:b`)!;
    assert.equal(ja.txPackets, 100);
    assert.equal(ja.drops.undelivered, 37);
    assert.equal(jb.rxPackets, 63);
    assert.equal(jb.drops.ringFull, 37);
    const head = await fetch(`${s.url}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  } finally {
    a.close(); b.close();
  }
});

test('bad input: unknown paths 404, other methods 405, bodies 413, long URLs 414, big headers 431, slow requests cut off', async () => {
  const s = await serve({ headersTimeoutMs: 400, requestTimeoutMs: 600 });
  const nope = await fetch(`${s.url}/nope`);
  assert.equal(nope.status, 404);
  assert.match(((await nope.json()) as { error: string }).error, /no \/nope here/);
  assert.equal((await fetch(`${s.url}/`)).status, 200); // the dashboard
  assert.equal((await fetch(`${s.url}/api`)).status, 404);
  const post = await fetch(`${s.url}/metrics`, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  assert.equal((await fetch(`${s.url}/api/ports`, { method: 'DELETE' })).status, 405);
  const withBody = await new Promise<number>((resolve, reject) => {
    const r = request(`${s.url}/metrics`, { method: 'GET', headers: { 'content-length': '5' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    r.on('error', reject);
    r.end('hello');
  });
  assert.equal(withBody, 413);
  assert.equal((await fetch(`${s.url}/metrics?${'x'.repeat(3000)}`)).status, 414);
  const big = await raw(s.port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'y'.repeat(20000)}\r\n\r\n`, 5000);
  assert.match(big.text, /^HTTP\/1\.1 431 /);
  assert.ok(big.closed);
  // headers that never end: the connection is cut once headersTimeoutMs is over
  const slow = await raw(s.port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n', 8000);
  assert.ok(slow.closed, 'a request whose headers never end is cut off');
  assert.ok(slow.ms >= 350, `not before the timeout (${slow.ms} ms)`);
  assert.match(slow.text, /^(HTTP\/1\.1 408 |)/);
  const garbage = await raw(s.port, 'NOT HTTP AT ALL\r\n\r\n', 5000);
  assert.match(garbage.text, /^HTTP\/1\.1 400 /);
  // the server still answers
  assert.equal((await fetch(`${s.url}/metrics`)).status, 200);
  // and it counted all of it: requests by path class and code, refusals by reason
  const h = await (await fetch(`${s.url}/api/http`)).json() as { requests: Record<string, Record<string, number>>; refused: Record<string, number> };
  assert.deepEqual(h.refused, { oversized: 3, slow: 1, bad_request: 1, method: 2, too_many_connections: 0, too_many_streams: 0 });
  assert.equal(h.requests.unknown['404'], 2);
  assert.equal(h.requests.dashboard['200'], 1);
  assert.equal(h.requests.metrics['405'], 1);
  assert.equal(h.requests.api['405'], 1);
  const text = await (await fetch(`${s.url}/metrics`)).text();
  assert.equal(sample(text, 'nmts_http_refused_total', { reason: 'oversized' }), 3);
  assert.equal(sample(text, 'nmts_http_requests_total', { path: 'unknown', code: '404' }), 2);
  assert.equal(sample(text, 'nmts_http_requests_total', { path: 'metrics', code: '200' }), 1); // (this scrape is counted once answered)
});

test('the stream sends per-port rates every interval; streams are limited; extras plug in', async () => {
  const sw = `valeS${id}`;
  const a = open(`${sw}:a`), b = open(`${sw}:b`);
  const s = await serve({ intervalMs: 200, maxStreams: 1, headersTimeoutMs: 300, requestTimeoutMs: 400 }, {
    extras: { daemon: () => ({ connections: 3 }) },
    extendRegistry: (registry) => { new Gauge({ name: 'nmts_daemon_connections', help: 'Connections to the control socket.', registers: [registry] }).set(3); },
  });
  const ac = new AbortController();
  try {
    send(b, BROADCAST, B);
    drain(a);
    const res = await fetch(`${s.url}/api/stream`, { signal: ac.signal });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal((await fetch(`${s.url}/api/stream`)).status, 503, 'one stream at most here');
    assert.equal(s.stats.refused.too_many_streams, 1, 'counted');
    assert.equal(s.streams(), 1);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '', seen = 0, rate = 0;
    for (let k = 0; k < 100 && (rate === 0 || seen < 8); k++) {
      sendMany(a, 500, B, A);
      drain(b);
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value);
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = /^event: rates\ndata: (.*)$/m.exec(ev);
        if (!data) continue;
        seen++;
        const ports = (JSON.parse(data[1]) as { ports: Array<{ port: string; rxPps: number }> }).ports;
        rate = ports.find((p) => p.port === `${sw}:b`)?.rxPps ?? 0;
      }
    }
    assert.ok(seen >= 8, `rates events keep arriving past the request timeouts (${seen})`);
    assert.ok(rate > 0, 'the receiving port shows a rate');
    assert.equal(s.streams(), 1);
    ac.abort();
    for (let k = 0; k < 100 && s.streams() > 0; k++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.streams(), 0, 'a client that goes away leaves the stream');
    assert.deepEqual(await (await fetch(`${s.url}/api/daemon`)).json(), { connections: 3 });
    assert.match(await (await fetch(`${s.url}/metrics`)).text(), /^nmts_daemon_connections 3$/m);
  } finally {
    ac.abort();
    a.close(); b.close();
  }
});

test('parseListen: HOST:PORT, [v6]:PORT, PORT', () => {
  assert.deepEqual(parseListen('127.0.0.1:9180'), { host: '127.0.0.1', port: 9180 });
  assert.deepEqual(parseListen('[::1]:80'), { host: '::1', port: 80 });
  assert.deepEqual(parseListen('9999'), { host: '127.0.0.1', port: 9999 });
  assert.deepEqual(parseListen(':9999'), { host: '127.0.0.1', port: 9999 });
  assert.throws(() => parseListen('host'), /HOST:PORT/);
  assert.throws(() => parseListen('1.2.3.4:70000'), /out of range/);
});

/** Run a command, resolve with its stdout once it exits. */
function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [nmts, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    c.once('exit', (code) => resolve({ code, out, err }));
  });
}

test('200 concurrent scrapes while pkt-gen runs: all answered, and the final counters are what pkt-gen reports', async () => {
  const sw = `valeP${id}`;
  const s = await serve({ cacheMs: 100 });
  const rx = await startReceiver(nmts, ['-i', `${sw}:rx`], { cwd: root }); // runs until the sender is done
  const tx = run(['pkt-gen', '-i', `${sw}:tx`, '-f', 'tx', '-R', '50000', '-n', '200000', '--json']);
  const txLine = `nmts_port_packets_total{switch="${sw}",port="${sw}:tx",direction="tx"} `;
  for (let k = 0; k < 100; k++) { // until the sender has sent something (a loaded machine starts it slowly)
    const line = (await (await fetch(`${s.url}/metrics`)).text()).split('\n').find((l) => l.startsWith(txLine));
    if (line && Number(line.slice(txLine.length)) > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const scrapes = await Promise.all(Array.from({ length: 200 }, () => fetch(`${s.url}/metrics`).then(async (r) => ({ status: r.status, text: await r.text() }))));
  assert.deepEqual(scrapes.map((x) => x.status), new Array(200).fill(200));
  const counts = scrapes.map((x) => sample(x.text, 'nmts_port_packets_total', { switch: sw, port: `${sw}:tx`, direction: 'tx' }));
  assert.ok(counts.every((c) => c !== undefined && c > 0 && c <= 200000), `every scrape shows the sender's count: ${counts.slice(0, 5).join(' ')}`);
  const t = await tx;
  const r = await rx.stop();
  assert.equal(t.code, 0, t.err);
  assert.equal(r.code, 0, r.err);
  const sent = JSON.parse(t.out.trim().split('\n').pop()!) as { packets: number; dropped?: number };
  const got = JSON.parse(r.out.trim().split('\n').pop()!) as { packets: number; dropped?: number };
  // the ports are gone once pkt-gen exits: the last scrape while they lived is checked by
  // construction instead: sent = received + reported drops, and what pkt-gen printed
  assert.equal(sent.packets, 200000);
  assert.equal(typeof sent.dropped, 'number');
  assert.equal(sent.packets, got.packets + (sent.dropped ?? 0), `sent ${sent.packets} = received ${got.packets} + dropped ${sent.dropped}`);
});

test('nmts metrics: Prometheus text or JSON once; --http serves until SIGINT; bad arguments exit 2', async () => {
  const sw = `valeC${id}`;
  const a = open(`${sw}:a`);
  try {
    sendMany(a, 7, BROADCAST, A);
    const text = await run(['metrics']);
    assert.equal(text.code, 0, text.err);
    assert.equal(sample(text.out, 'nmts_port_packets_total', { switch: sw, port: `${sw}:a`, direction: 'tx' }), 7);
    const json = await run(['metrics', '--json']);
    const snap = JSON.parse(json.out) as { switches: Array<{ name: string; ports: Array<{ txPackets: number }> }> };
    assert.equal(snap.switches.find((x) => x.name === sw)?.ports[0].txPackets, 7);
    assert.equal((await run(['metrics', '--bogus'])).code, 2);
    assert.equal((await run(['metrics', '--http', 'nohost'])).code, 2);

    const c = spawn(process.execPath, [nmts, 'metrics', '--http', '127.0.0.1:0'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const url = await new Promise<string>((resolve, reject) => {
      c.stderr.on('data', (d) => { err += d; const m = /serving (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(err); if (m) resolve(m[1]); });
      c.once('exit', () => reject(new Error(`exited: ${err}`)));
    });
    const body = await (await fetch(`${url}/metrics`)).text();
    assert.equal(sample(body, 'nmts_port_packets_total', { switch: sw, port: `${sw}:a`, direction: 'tx' }), 7);
    const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
    c.kill('SIGINT');
    assert.equal(await exited, 0);
  } finally {
    a.close();
  }
});
