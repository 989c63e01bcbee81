// `nmts daemon --http`: the daemon serves the read-only HTTP server (apps/http/server.ts) with
// its own figures added: /metrics has the daemon's connections, requests by command, errors by
// code and reclaims with HELP, TYPE and labels, equal to what the protocol saw; /api/daemon and
// /api/interfaces answer JSON; the dashboard's files are served from the package (the page,
// its script, uPlot) with a content security policy; /api/macs lists the MACs a switch
// learned; the server is off unless asked, closes with the daemon, and the CLI says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, type ValePort } from '../src/index.js';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { mac, put } from './fixtures/vale-helpers.js';
import { sample } from './fixtures/prom.js';

const nmts = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const id = process.pid % 100000;

test('daemon --http: its metrics and JSON count what the control socket saw; the dashboard and uPlot are served', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-dh-'));
  const sock = join(dir, 'd.sock');
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l), http: { port: 0 } });
  const sw = `valeDh${id}`;
  try {
    assert.match(d.httpUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(logs[0], /HTTP http:\/\/127\.0\.0\.1:\d+ \(read-only\)/);
    const get = async (path: string): Promise<Response> => fetch(d.httpUrl + path);

    assert.equal((await daemonRequest(sock, { id: 1, cmd: 'ping' })).ok, true);
    assert.equal((await daemonRequest(sock, { id: 2, cmd: 'hold', port: `${sw}:h` })).ok, true);
    const bad = await daemonRequest(sock, { id: 3, cmd: 'release', port: `${sw}:nope` });
    assert.equal(bad.code, 'ENOENT');
    assert.equal((await daemonRequest(sock, { id: 4, cmd: 'frobnicate' })).code, 'ENOSYS');
    assert.equal((await daemonRequest(sock, { id: 5, cmd: 'list' })).ok, true); // a reclaim pass

    const text = await (await get('/metrics')).text();
    for (const [name, type] of [['nmts_daemon_requests_total', 'counter'], ['nmts_daemon_errors_total', 'counter'], ['nmts_daemon_connections', 'gauge'],
      ['nmts_daemon_connections_total', 'counter'], ['nmts_daemon_reclaim_passes_total', 'counter'], ['nmts_daemon_reclaimed_openers_total', 'counter'],
      ['nmts_daemon_held_ports', 'gauge'], ['nmts_daemon_attached_interfaces', 'gauge'], ['nmts_daemon_uptime_seconds', 'gauge'],
      ['nmts_interface_kernel_drops_total', 'counter'], ['nmts_interface_info', 'gauge']]) {
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), name);
      assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
    }
    assert.equal(sample(text, 'nmts_daemon_requests_total', { command: 'ping' }), 1);
    assert.equal(sample(text, 'nmts_daemon_requests_total', { command: 'hold' }), 1);
    assert.equal(sample(text, 'nmts_daemon_requests_total', { command: 'release' }), 1);
    assert.equal(sample(text, 'nmts_daemon_requests_total', { command: 'invalid' }), 1);
    assert.equal(sample(text, 'nmts_daemon_errors_total', { code: 'ENOENT' }), 1);
    assert.equal(sample(text, 'nmts_daemon_errors_total', { code: 'ENOSYS' }), 1);
    assert.equal(sample(text, 'nmts_daemon_connections_total', { result: 'accepted' }), 5);
    assert.equal(sample(text, 'nmts_daemon_held_ports', {}), 1);
    assert.equal(sample(text, 'nmts_daemon_attached_interfaces', {}), 0);
    assert.ok(sample(text, 'nmts_daemon_reclaim_passes_total', {})! >= 1); // list/stats/periodic passes
    // the switch's own metrics are in the same scrape
    assert.equal(sample(text, 'nmts_port_openers', { switch: sw, port: `${sw}:h` }), 1);

    const dv = await (await get('/api/daemon')).json() as Record<string, unknown> & { requests: Record<string, number>; errors: Record<string, number>; held: { port: string }[] };
    assert.equal(dv.pid, process.pid);
    assert.equal(dv.requests.ping, 1);
    assert.equal(dv.requestsTotal, 5);
    assert.deepEqual(dv.errors, { ENOENT: 1, ENOSYS: 1 });
    assert.deepEqual(dv.held.map((h) => h.port), [`${sw}:h`]);
    assert.deepEqual((await (await get('/api/interfaces')).json() as { interfaces: unknown[] }).interfaces, []);

    // learned MACs: a frame from a's MAC teaches the switch where it is
    const a = open(`${sw}:a`);
    try {
      put(a, mac(0xff), mac(0x42));
      a.txsync();
      const macs = await (await get('/api/macs')).json() as { switches: { name: string; macs: { mac: string; index: number }[] }[] };
      const w = macs.switches.find((x) => x.name === sw)!;
      assert.deepEqual(w.macs, [{ mac: Array.from(mac(0x42), (b) => b.toString(16).padStart(2, '0')).join(':'), index: (a as ValePort).portIndex }]);
    } finally {
      a.close();
    }

    // the dashboard: the page, its script and style, uPlot from its npm package; nothing from elsewhere
    const page = await get('/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await page.text();
    assert.doesNotMatch(html, /https?:\/\//, 'the page loads nothing from the network');
    for (const src of [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((s) => s.startsWith('/'))) {
      const r = await get(src);
      assert.equal(r.status, 200, src);
      assert.ok((await r.arrayBuffer()).byteLength > 500, src);
    }
    assert.match(await (await get('/vendor/uPlot.iife.min.js')).text(), /uPlot/);
    assert.equal((await get('/dashboard.js')).headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal((await fetch(d.httpUrl + '/', { method: 'POST' })).status, 405); // read-only
  } finally {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
  // closed with the daemon
  await assert.rejects(fetch(d.httpUrl + '/metrics'));
});

test('daemon: no HTTP server unless asked; an address in use fails the start cleanly; the CLI documents --http and refuses a bad address', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-dh-'));
  try {
    const d = await runDaemon({ socketPath: join(dir, 'd.sock'), log: () => {} });
    assert.equal(d.httpUrl, null);
    await d.close();
    const busy = await runDaemon({ socketPath: join(dir, 'b.sock'), log: () => {}, http: { port: 0 } });
    try {
      const port = Number(new URL(busy.httpUrl!).port);
      await assert.rejects(runDaemon({ socketPath: join(dir, 'c.sock'), log: () => {}, http: { port } }),
        (e: Error & { code?: string }) => e.code === 'EADDRINUSE' && /cannot serve HTTP on 127\.0\.0\.1:\d+/.test(e.message));
      assert.equal(existsSync(join(dir, 'c.sock')), false, 'the control socket is removed again');
    } finally {
      await busy.close();
    }
    const cli = (args: string[]): Promise<{ code: number | null; out: string; err: string }> => new Promise((resolve) => {
      const c = spawn(process.execPath, [nmts, 'daemon', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '';
      c.stdout.on('data', (b) => { out += b; });
      c.stderr.on('data', (b) => { err += b; });
      c.once('exit', (code) => resolve({ code, out, err }));
    });
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /--http \[HOST:\]PORT/);
    assert.match(help.out, /\/api\/interfaces/);
    const bad = await cli(['--socket', join(dir, 'e.sock'), '--http', '127.0.0.1:99999']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /invalid --http: .*out of range/);
    const none = await cli(['--socket', join(dir, 'e.sock'), '--http']);
    assert.equal(none.code, 2);
    assert.match(none.err, /requires an address/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('daemon --http: refused connections and the openers of a dead process it reclaims are counted', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-dhr-'));
  const sock = join(dir, 'd.sock');
  const d = await runDaemon({ socketPath: sock, log: () => {}, http: { port: 0, cacheMs: 0 }, maxConnectionsPerUid: 2 });
  const sw = `valeDr${id}`;
  const idle: import('node:net').Socket[] = [];
  let child: import('node:child_process').ChildProcess | null = null;
  try {
    // two idle connections, then a third of the same uid: refused
    const { createConnection } = await import('node:net');
    for (let i = 0; i < 2; i++) {
      const s = createConnection(sock);
      await new Promise((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
      s.on('error', () => {});
      idle.push(s);
    }
    await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(daemonRequest(sock, { cmd: 'ping' }).then((r) => { if (r.code === 'EUSERS') throw new Error('EUSERS'); return r; }));
    for (const s of idle) s.destroy();
    await new Promise((r) => setTimeout(r, 100));

    // a process opens a port and dies with it open: a reclaim pass (list) releases and destroys it
    const script = `const m = await import(${JSON.stringify(join(root, 'dist/src/index.js'))}); m.open(${JSON.stringify(`${sw}:dead`)}); process.stdout.write('open\\n'); setInterval(() => {}, 1000);`;
    child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => { child!.stdout!.once('data', () => resolve()); child!.once('exit', () => reject(new Error('the child exited'))); });
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    child = null;
    assert.equal((await daemonRequest(sock, { cmd: 'list' })).ok, true);

    const text = await (await fetch(d.httpUrl + '/metrics')).text();
    assert.equal(sample(text, 'nmts_daemon_connections_total', { result: 'refused' }), 1);
    assert.ok(sample(text, 'nmts_daemon_reclaimed_openers_total', {})! >= 1, 'the dead opener reclaimed');
    assert.ok(sample(text, 'nmts_daemon_reclaimed_ports_total', {})! >= 1, 'its port destroyed');
    assert.equal(sample(text, 'nmts_daemon_errors_total', { code: 'reclaim' }), 0);
    const dv = await (await fetch(d.httpUrl + '/api/daemon')).json() as { connections: { refused: number }; reclaims: { openers: number; ports: number; failures: number } };
    assert.equal(dv.connections.refused, 1);
    assert.ok(dv.reclaims.openers >= 1 && dv.reclaims.ports >= 1 && dv.reclaims.failures === 0, JSON.stringify(dv.reclaims));
  } finally {
    child?.kill('SIGKILL');
    for (const s of idle) s.destroy();
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
