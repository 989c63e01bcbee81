// A real browser on the dashboard: Debian's chromium, driven by playwright-core (no browser
// download), loads `nmts daemon --http`'s page while pkt-gen sends through a switch with three
// ports. The page lists every port; the sender's chart's latest value is within 20 % of
// pkt-gen's own rate (paced with -R, so it is steady); stopping the receiver (SIGSTOP: its ring
// fills) makes its drop counter rise on the page; a daemon restart shows "disconnected", then
// the page reconnects by itself. As root (with `ip`), everything runs in a network namespace of
// its own (the browser too, through a wrapper) and the third port is a veth the daemon attaches
// (kind nic, its backend, its peer); otherwise the third port is one the daemon holds. A fourth
// port is a VM: a vhost-user port of the daemon driven by the test's own front end
// (fixtures/vhost-front.ts): its row says kind vm, and its detail lists its queues with the
// frames the guest sent, its kicks and interrupts.
// NMTS_UPDATE_SCREENSHOT=1 writes docs/observability.png.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonRequest } from '../src/apps/daemon/client.js';
import { needs } from './fixtures/requires.js';
import { Netns } from './fixtures/netif-helpers.js';
import { ALL_FEATURES_FOR_TEST } from './fixtures/vhost-features.js';
import { TestFrontEnd, testFrame } from './fixtures/vhost-front.js';

const nmts = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const RATE = 100_000;

type Playwright = typeof import('playwright-core');
let pw: Playwright | null = null;
try { pw = await import('playwright-core'); } catch { pw = null; }
const skip = needs(['chromium']) || (existsSync(CHROMIUM) ? false : `needs ${CHROMIUM} (apt-get install chromium)`)
  || (pw ? false : 'needs playwright-core (npm install: a devDependency)');

const id = process.pid % 100000;
const dir = mkdtempSync(join(tmpdir(), 'nmts-dash-'));
const kids = new Set<ChildProcess>();
/** The VXLAN port the page shows (made by the test, removed after it). */
const vxName = `vxd${process.pid % 100000}`;
let closeBrowser: (() => Promise<void>) | null = null;
let fe: TestFrontEnd | null = null;
// as root: a namespace of the test's own, with a veth pair whose end dshx the daemon attaches
const ns = !skip && needs(['root', 'ip']) === false ? new Netns('dashb') : null;
if (ns) ns.create([['dshx', 'dshy']]);
after(async () => {
  await closeBrowser?.().catch(() => {});
  fe?.close();
  for (const k of kids) { k.kill('SIGCONT'); k.kill('SIGKILL'); }
  await ns?.destroy();
  spawnSync(process.execPath, [nmts, 'vale-ctl', '-r', vxName], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
});
/** A command, in the namespace if there is one (`ip netns exec` execs it: the pid is the command's). */
const inNs = (cmd: string, args: string[]): [string, string[]] => (ns ? ['ip', ['netns', 'exec', ns.name, cmd, ...args]] : [cmd, args]);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
  });
}

/** A child nmts command; `out` collects its stdout and stderr. */
function run(args: string[]): { child: ChildProcess; out: () => string } {
  const [cmd, argv] = inNs(process.execPath, [nmts, ...args]);
  const c = spawn(cmd, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  kids.add(c);
  c.once('exit', () => kids.delete(c));
  let out = '';
  c.stdout!.on('data', (d) => { out += d; });
  c.stderr!.on('data', (d) => { out += d; });
  return { child: c, out: () => out };
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms: number, detail: () => string = () => ''): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail() ? `: ${detail()}` : ''}`);
    await sleep(200);
  }
}

async function startDaemon(socket: string, port: number): Promise<{ child: ChildProcess; out: () => string }> {
  const d = run(['daemon', '--socket', socket, '--http', `127.0.0.1:${port}`]);
  // (generous: on a loaded machine a node process may take many seconds to start)
  await until('the daemon to listen', async () => /HTTP http:\/\/127\.0\.0\.1:\d+ \(read-only\)/.test(d.out()) || (d.child.exitCode !== null ? assert.fail(`the daemon exited: ${d.out()}`) : false), 45_000, d.out);
  return d;
}

/** pkt-gen's latest per-second rate line ("97.439 Kpps (...)") in packets per second. */
function lastInterval(out: string): number | null {
  const m = [...out.matchAll(/main_thread ([\d.]+) ([KMG]?)pps \(/g)].pop();
  if (!m) return null;
  return Number(m[1]) * ({ '': 1, K: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[m[2]];
}

test('the dashboard in a real browser: every port, a chart within 20 % of pkt-gen, drops rise when the receiver stops, reconnects after a restart', { skip, timeout: 240_000 }, async () => {
  const sw = `valeDash${id}`;
  const socket = join(dir, 'nmts.sock');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  // a VXLAN port (closed: its configuration is what the page can show of it)
  const vxMade = run(['vale-ctl', '-n', vxName, '--vxlan', 'vni=4243,local=127.0.0.1,remote=127.0.0.2']);
  await new Promise((r) => vxMade.child.once('exit', r));
  assert.equal(vxMade.child.exitCode, 0, vxMade.out());
  let daemon = await startDaemon(socket, port);

  // three ports: a third one (the veth dshx the daemon attaches; else one it holds, read by
  // nobody: broadcast frames fill it), a receiver, a paced sender
  const third = ns ? 'dshx' : 'c';
  const r3 = await daemonRequest(socket, ns ? { id: 1, cmd: 'attach', port: `${sw}:dshx` } : { id: 1, cmd: 'hold', port: `${sw}:c` }, 20_000);
  assert.equal(r3.ok, true, JSON.stringify(r3));
  // the VM: a vhost-user port of the daemon, attached, with the test's front end sending 30 frames
  const vsock = join(dir, 'vm1.sock');
  const vc = await daemonRequest(socket, { id: 3, cmd: 'vhost-create', port: 'vm1', path: vsock }, 30_000);
  assert.equal(vc.ok, true, JSON.stringify(vc));
  const va = await daemonRequest(socket, { id: 4, cmd: 'attach', port: `${sw}:vm1` }, 30_000);
  assert.equal(va.ok, true, JSON.stringify(va));
  fe = new TestFrontEnd(vsock);
  fe.setup(ALL_FEATURES_FOR_TEST);
  fe.send(Array.from({ length: 30 }, (_, k) => testFrame(k)));
  const rx = run(['pkt-gen', '-i', `${sw}:b`, '-f', 'rx']);
  await until('the receiver', async () => /Receiving from/.test(rx.out()) || null, 45_000, rx.out);
  const tx = run(['pkt-gen', '-i', `${sw}:a`, '-f', 'tx', '-R', String(RATE), '--duration', '200']);

  let executablePath = CHROMIUM;
  if (ns) { // the browser in the namespace too: its 127.0.0.1 is the daemon's
    executablePath = join(dir, 'chromium-in-netns');
    writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec ${ns.name} ${CHROMIUM} "$@"\n`);
    chmodSync(executablePath, 0o755);
  }
  const browser = await pw!.chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  closeBrowser = () => browser.close();
  const page = browser.pages()[0] ?? await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  let restarting = false; // requests cut by the daemon's restart fail, as they should
  page.on('requestfailed', (r) => { if (!restarting && !r.url().endsWith('/api/stream')) errors.push(`request failed: ${r.url()}`); });
  await page.goto(`${url}?points=6`); // a short ring buffer: the test sees it wrap

  // every port of the switch is listed
  for (const p of ['a', 'b', third, 'vm1']) await page.locator(`#switches tr[data-port="${sw}:${p}"]`).waitFor({ timeout: 30_000 });
  assert.equal(await page.locator(`#switches tr[data-switch="${sw}"]`).count(), 4);
  const row = async (p: string): Promise<string> => page.locator(`#switches tr[data-port="${sw}:${p}"]`).innerText();
  assert.match(await row('a'), /\bvale\b.*shared memory.*1 opener/s);
  if (ns) assert.match(await row('dshx'), /\bnic\b.*\baf_(xdp|packet)\b.*NIC dshx/s);
  assert.match(await row('vm1'), /\bvm\b.*vhost-user.*VM vm1/s);
  // the VXLAN port: its own table below the switches, with its configuration and state
  await page.locator(`#vxlan tr[data-vxlan="${vxName}"]`).waitFor({ timeout: 15_000 });
  assert.match(await page.locator(`#vxlan tr[data-vxlan="${vxName}"]`).innerText(), /vni=4243,local=127\.0\.0\.1,remote=127\.0\.0\.2.*\bclosed\b/s);
  assert.equal(await page.title(), 'netmap-ts dashboard');

  // the sender's chart: its latest value (the uPlot instance's data) within 20 % of pkt-gen's rate
  let seen = '';
  await until('the chart of the sender to show pkt-gen\'s rate', async () => {
    const pg = lastInterval(tx.out());
    const v = await page.evaluate((name) => {
      const c = (globalThis as unknown as { nmtsDashboard: { chart(p: string): { data: number[][] } | null } }).nmtsDashboard.chart(name);
      if (!c || c.data[0].length < 3) return null;
      return c.data[2][c.data[2].length - 1]; // series 2: tx pps
    }, `${sw}:a`);
    seen = `chart ${v}, pkt-gen ${pg}`;
    return pg !== null && v !== null && Math.abs(v - pg) <= 0.2 * pg && Math.abs(v - RATE) <= 0.2 * RATE;
  }, 60_000, () => `${seen}\n${tx.out().slice(-600)}`);
  // the page's text says the same
  assert.match(await page.locator(`#switches tr[data-port="${sw}:a"] .tx`).innerText(), /\d K?pps/);

  // the receiver stops: its ring fills and its drop counter rises on the page
  const drops = async (): Promise<number> => Number((await page.locator(`#switches tr[data-port="${sw}:b"] .drops`).innerText()).replace(/[^\d]/g, '') || '0');
  await sleep(1500);
  const before = await drops();
  rx.child.kill('SIGSTOP');
  await until('the receiver\'s drop counter to rise', async () => (await drops()) > before + RATE / 10, 30_000, () => `${before} -> ?`);
  await page.locator(`#switches tr[data-port="${sw}:b"].dropping`).waitFor({ timeout: 15_000 });
  // memory stays bounded: each chart holds the last 6 samples, however long the page runs
  const lengths = (): Promise<number[][]> => page.evaluate((names) => names.map((n) => (globalThis as unknown as { nmtsDashboard: { chart(p: string): { data: number[][] } | null } }).nmtsDashboard.chart(n)!.data.map((c) => c.length)), [`${sw}:a`, `${sw}:b`]);
  await until('the ring buffers to fill', async () => (await lengths()).every((l) => l[0] === 6), 30_000, () => 'lengths');
  const t0 = await page.evaluate((n) => (globalThis as unknown as { nmtsDashboard: { chart(p: string): { data: number[][] } } }).nmtsDashboard.chart(n).data[0][5], `${sw}:a`);
  await until('two more samples', async () => (await page.evaluate((n) => (globalThis as unknown as { nmtsDashboard: { chart(p: string): { data: number[][] } } }).nmtsDashboard.chart(n).data[0][3], `${sw}:a`)) >= t0, 30_000);
  for (const l of await lengths()) assert.deepEqual(l, [6, 6, 6, 6], 'the ring buffer wrapped: still 6 samples per series');

  // a port's detail: rings and learned MACs
  await page.locator(`#switches tr[data-port="${sw}:a"]`).click();
  await page.locator('#detail h3', { hasText: 'Rings' }).waitFor({ timeout: 15_000 });
  await page.locator('#detail h3', { hasText: 'Learned MACs (1)' }).waitFor({ timeout: 15_000 }); // the sender's source MAC
  assert.match(await page.locator('#detail').innerText(), /tx 0\s+1024/);
  // the VM's detail: its queues, the 30 frames the guest sent, its kicks and interrupts
  await page.locator(`#switches tr[data-port="${sw}:vm1"]`).click();
  await page.locator('#detail h3', { hasText: 'VM port vm1' }).waitFor({ timeout: 15_000 });
  const q1 = await page.locator('#detail table.queues tr[data-queue="1"]').innerText();
  assert.match(q1, /from the guest.*running\s+256\s+30\s/s, q1);
  assert.ok(Number((await page.locator('#detail table.queues tr[data-queue="1"] .kicks').innerText()).replace(/\D/g, '')) >= 1, 'kicks shown');
  assert.match(await page.locator('#detail table.queues tr[data-queue="0"]').innerText(), /to the guest/);
  assert.match(await page.locator('#detail table.queues thead').innerText(), /kicks\s+interrupts/);

  const shot = join(dir, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 10_000);
  if (process.env.NMTS_UPDATE_SCREENSHOT === '1') copyFileSync(shot, fileURLToPath(new URL('../../docs/observability.png', import.meta.url)));
  await page.locator('#detail button', { hasText: 'close' }).click();
  rx.child.kill('SIGCONT');

  // the daemon restarts (detaching the interface, releasing the held port): the page says so,
  // then reconnects by itself
  if (!ns) await daemonRequest(socket, { id: 2, cmd: 'release', port: `${sw}:c` });
  restarting = true;
  daemon.child.kill('SIGTERM');
  await new Promise((r) => daemon.child.once('exit', r));
  await page.locator('#status', { hasText: 'disconnected' }).waitFor({ timeout: 20_000 });
  daemon = await startDaemon(socket, port);
  await page.locator('#status', { hasText: /^connected$/ }).waitFor({ timeout: 30_000 });
  await page.locator(`#switches tr[data-port="${sw}:a"]`).waitFor({ timeout: 20_000 });
  await until('the third port to leave the page', async () => (await page.locator(`#switches tr[data-port="${sw}:${third}"]`).count()) === 0, 20_000);
  await until('the VM port to leave the page', async () => (await page.locator(`#switches tr[data-port="${sw}:vm1"]`).count()) === 0, 20_000);

  assert.deepEqual(errors, []);
  await browser.close();
  closeBrowser = null;
  tx.child.kill('SIGINT');
  rx.child.kill('SIGINT');
  daemon.child.kill('SIGTERM');
  await new Promise((r) => daemon.child.once('exit', r));
});
