// The l4lb end to end in user space, no privileges: nmts vnf udp-client sends to the VIP through
// nmts vnf l4lb (NAT) to two nmts vnf udp-echo backends, all four processes on one VALE switch.
// The backends answer the balancer's ARP health checks, echo each datagram back to the MAC it
// came from (the balancer's), which gives it back to the client from the VIP: the client
// resolves the VIP by ARP and counts every echo, each of its flows on one backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { NMTS, Proc } from './fixtures/netif-helpers.js';

const SW = `valenfv${process.pid}`;
const nmts = (args: string[]): Proc => new Proc(spawn(process.execPath, [NMTS, 'vnf', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }), `nmts vnf ${args.join(' ')}`);

test('udp-client -> l4lb (NAT) -> two udp-echo backends and back, through VALE', { timeout: 120_000 }, async () => {
  const be = [11, 12].map((b) => nmts(['udp-echo', '-i', `${SW}:b${b}`, '--ip', `10.0.0.${b}/24`, '--udp-port', '80', '--json']));
  for (const b of be) await b.waitFor(/^udp-echo: /m, 20_000, 'stderr');
  const lb = nmts(['l4lb', '-i', `${SW}:lb`, '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80', '--backend', '10.0.0.11', '--backend', '10.0.0.12', '--json']);
  await lb.waitFor(/backends 10\.0\.0\.11 up, 10\.0\.0\.12 up/, 20_000, 'stderr');
  const c = await nmts(['udp-client', '-i', `${SW}:cli`, '--ip', '10.0.0.2/24', '--server', '10.0.0.100:80', '--flows', '32', '--rate', '2000', '-n', '3000', '--json']).wait(60_000);
  assert.equal(c.code, 0, c.stderr);
  const cr = JSON.parse(c.stdout.trim()) as { sent: number; received: number; lost: number };
  assert.equal(cr.sent, 3000);
  assert.equal(cr.received + cr.lost, cr.sent);
  assert.ok(cr.received >= 2700, `echoes came back from the VIP (${cr.received} of 3000)`);
  lb.kill('SIGTERM');
  const l = await lb.wait(10_000);
  assert.equal(l.code, 0, l.stderr);
  const lr = JSON.parse(l.stdout.trim()) as { counters: Record<string, number>; backends: { ip: string; up: boolean; flows: number; packets: number }[] };
  assert.ok(lr.counters.toBackend! >= cr.received && lr.counters.toClient! >= cr.received);
  assert.equal(lr.counters.moved, 0);
  assert.equal(lr.backends[0]!.flows + lr.backends[1]!.flows, 32, 'each of the 32 flows placed once');
  assert.ok(lr.backends.every((b) => b.up && b.flows > 0), JSON.stringify(lr.backends));
  const echoed: number[] = [];
  for (const b of be) {
    b.kill('SIGTERM');
    const r = await b.wait(10_000);
    assert.equal(r.code, 0, r.stderr);
    echoed.push((JSON.parse(r.stdout.trim()) as { echoed: number }).echoed);
  }
  echoed.forEach((n, i) => assert.ok(n > 0 && n <= lr.backends[i]!.packets, `backend ${i + 1} echoed ${n} of the ${lr.backends[i]!.packets} the balancer sent it`));
  assert.ok(echoed[0]! + echoed[1]! >= cr.received, 'every echo the client got came from a backend');
});
