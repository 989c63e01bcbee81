// nmts vnf udp-echo and udp-client as processes on one VALE switch (no privileges needed): the
// client resolves the server by ARP, every echo is matched and timed, the histogram accounts for
// every echo, the server echoes all it receives; usage errors and an unanswered ARP fail cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { NMTS, Proc } from './fixtures/netif-helpers.js';

const SW = `valevnfc${process.pid}`;
const nmts = (args: string[]): Proc => new Proc(spawn(process.execPath, [NMTS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }), `nmts ${args.join(' ')}`);

test('udp-client against udp-echo through VALE: ARP resolved, every datagram sent is echoed or counted lost, latencies filed', { timeout: 90_000 }, async () => {
  const echo = nmts(['vnf', 'udp-echo', '-i', `${SW}:echo`, '--ip', '10.0.0.1/24', '--udp-port', '7', '--json']);
  await echo.waitFor(/^udp-echo: 10\.0\.0\.1\/24 on valevnfc\d+:echo/m, 20_000, 'stderr');
  const cli = nmts(['vnf', 'udp-client', '-i', `${SW}:cli`, '--ip', '10.0.0.2/24', '--server', '10.0.0.1:7', '-n', '3000', '--rate', '20k', '--size', '100', '--flows', '4', '--json']);
  const c = await cli.wait(60_000);
  assert.equal(c.code, 0, c.stderr);
  const r = JSON.parse(c.stdout.trim()) as { sent: number; received: number; lost: number; histogram: number[]; latencyUs: { min: number; p50: number; p99: number }; stats: Record<string, number> };
  assert.equal(r.sent, 3000);
  assert.equal(r.received + r.lost, r.sent);
  assert.ok(r.received > 0, 'echoes came back');
  assert.equal(r.histogram.reduce((a, b) => a + b, 0), r.received, 'the histogram holds every echo');
  assert.ok(r.latencyUs.min > 0 && r.latencyUs.p50 <= r.latencyUs.p99);
  assert.ok(r.stats.arpRepliesIn! >= 1, 'the server was resolved by ARP');
  assert.equal(r.stats.udpOut, 3000);
  echo.kill('SIGTERM');
  const e = await echo.wait(10_000);
  assert.equal(e.code, 0, e.stderr);
  const s = JSON.parse(e.stdout.trim()) as { received: number; echoed: number; stats: Record<string, number> };
  assert.equal(s.echoed, s.received);
  assert.ok(s.received >= r.received, 'the client got no more echoes than the server sent');
  assert.ok(s.stats.arpRepliesOut! >= 1);
});

test('udp-client: no ARP answer is an error (exit 1); usage errors exit 2 and name the option', { timeout: 30_000 }, async () => {
  const c = await nmts(['vnf', 'udp-client', '-i', `${SW}:lonely`, '--ip', '10.0.0.2/24', '--server', '10.0.0.9', '-n', '1']).wait(20_000);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /vnf udp-client: no ARP answer from 10\.0\.0\.9 within 3 s/);
  for (const [args, msg] of [
    [['udp-echo', '-i', 'vale0:x'], /missing --ip/],
    [['udp-echo', '-i', 'vale0:x', '--ip', '10.0.0.1'], /invalid --ip '10\.0\.0\.1'/],
    [['udp-echo', '-i', 'vale0:x', '--ip', '10.0.0.1/24', '--udp-port', '70000'], /invalid --udp-port '70000'/],
    [['udp-client', '-i', 'vale0:x', '--ip', '10.0.0.1/24'], /missing --server/],
    [['udp-client', '-i', 'vale0:x', '--ip', '10.0.0.1/24', '--server', '10.0.0.2', '--size', '8'], /invalid --size '8'/],
    [['udp-echo', '-i', 'vale0:x', '--ip', '10.0.0.1/24', '--workers', '0'], /invalid --workers '0': an integer 1\.\.64/],
    [['udp-echo', '-i', 'vale0:x', '--ip', '10.0.0.1/24', '--workers', '65'], /invalid --workers '65'/],
    [['udp-echo', '-i', 'vale0:x', '--ip', '10.0.0.1/24', '--layout', 'n-3'], /invalid --layout 'n-3': n-1 .* or n-2/],
  ] as const) {
    const r = spawnSync(process.execPath, [NMTS, 'vnf', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
  const h = spawnSync(process.execPath, [NMTS, 'vnf', 'udp-client', '--help'], { encoding: 'utf8' });
  assert.equal(h.status, 0);
  assert.match(h.stdout, /--rate PPS/);
});
