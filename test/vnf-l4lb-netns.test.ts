// nmts vnf l4lb with clients and servers no one here wrote: `curl` in a client namespace asks
// the VIP for a page; two backend namespaces run Python's http.server, each serving its own
// name. A Linux bridge in nf-l4sw-PID joins the balancer's veth (netmap:nflb, AF_XDP), the
// client (10.0.0.2/24) and the backends (10.0.0.11, 10.0.0.12: /32 addresses whose gateway is
// the balancer, 10.0.0.1, as NAT mode needs). Each flow (a fixed source port) always reaches the
// same backend; when a backend goes away (its link down: ARP unanswered) its flows move to the
// other and no other flow moves; when it is back, the first mapping returns.
// Offloads are off on the Linux ends: the balancer patches full checksums (docs/vnf.md).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Netns, type Proc } from './fixtures/netif-helpers.js';
import { needs } from './fixtures/requires.js';

const skip = needs(['root', 'ip', 'curl', 'python3', 'ethtool']);
const PORTS = Array.from({ length: 16 }, (_, i) => 41000 + i * 7);

interface LbJson { counters: Record<string, number>; backends: { ip: string; up: boolean; flows: number }[]; host: Record<string, number> }

describe('nmts vnf l4lb: curl to the VIP over two http.server backends', { skip, timeout: 240_000 }, () => {
  const sw = new Netns('l4sw', 'nf'), cli = new Netns('l4c', 'nf');
  const be = [new Netns('l4b1', 'nf'), new Netns('l4b2', 'nf')];
  const servers: Proc[] = [];
  let natMapping: Map<number, string> | null = null;
  const noTimeWait = 'echo 0 > /proc/sys/net/ipv4/tcp_max_tw_buckets'; // a source port can be used again at once

  function backendNet(i: number): void {
    const ns = be[i]!, dev = `nfb${i + 1}1`;
    ns.ip('link', 'set', dev, 'up');
    ns.ip('route', 'replace', '10.0.0.1', 'dev', dev);
    ns.ip('route', 'replace', 'default', 'via', '10.0.0.1', 'dev', dev);
  }

  before(() => {
    if (skip) return;
    sw.create([['nflb', 'nflp'], ['nfc0', 'nfc1'], ['nfb10', 'nfb11'], ['nfb20', 'nfb21']]);
    sw.ip('link', 'add', 'nfbr', 'type', 'bridge');
    sw.ip('link', 'set', 'nfbr', 'up');
    for (const d of ['nflp', 'nfc0', 'nfb10', 'nfb20']) sw.ip('link', 'set', d, 'master', 'nfbr');
    sw.run('ethtool', ['-K', 'nflb', 'gro', 'off']);
    cli.create([]);
    sw.ip('link', 'set', 'nfc1', 'netns', cli.name);
    cli.ip('addr', 'add', '10.0.0.2/24', 'dev', 'nfc1');
    cli.ip('link', 'set', 'nfc1', 'up');
    cli.run('ethtool', ['-K', 'nfc1', 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off', 'rx', 'off']);
    cli.run('sh', ['-c', noTimeWait]);
    be.forEach((ns, i) => {
      const dev = `nfb${i + 1}1`;
      ns.create([]);
      sw.ip('link', 'set', dev, 'netns', ns.name);
      ns.ip('addr', 'add', `10.0.0.1${i + 1}/32`, 'dev', dev);
      backendNet(i);
      ns.run('ethtool', ['-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off', 'rx', 'off']);
      ns.run('sh', ['-c', noTimeWait]);
      const www = join(ns.dir, 'www');
      mkdirSync(www);
      writeFileSync(join(www, 'who.txt'), `b${i + 1}\n`);
      servers.push(ns.spawn('sh', ['-c', `cd ${www} && exec python3 -m http.server 80`]));
    });
  });
  after(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await cli.destroy();
    for (const ns of be) await ns.destroy();
    await sw.destroy();
  });

  /** One curl per source port: which backend answered each. */
  function round(): Map<number, string> {
    const out = cli.run('sh', ['-c', PORTS.map((p) => `echo "${p} $(curl -sS -m 5 --retry 3 --retry-delay 1 --local-port ${p} http://10.0.0.100/who.txt 2>&1)"`).join('; ')], { timeout: 200_000 });
    const m = new Map<number, string>();
    for (const line of out.trim().split('\n')) {
      const [p, who] = line.split(' ');
      m.set(Number(p), who!);
    }
    return m;
  }

  test('flows stick to a backend; a lost backend\'s flows move, no other does; back up, the first mapping returns', async () => {
    for (const s of servers) await s.waitFor(/Serving HTTP/, 10_000);
    const lb = sw.nmts(['vnf', 'l4lb', '-i', 'netmap:nflb', '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80', '--backend', '10.0.0.11', '--backend', '10.0.0.12', '--check-interval', '300', '--json']);
    await lb.waitFor(/^l4lb: 10\.0\.0\.1\/24 .* backends 10\.0\.0\.11 up, 10\.0\.0\.12 up/m, 20_000, 'stderr');
    const first = round();
    assert.deepEqual(new Set(first.values()), new Set(['b1', 'b2']), `both backends serve: ${[...first]}`);
    assert.deepEqual(round(), first, 'each flow again to the same backend');
    be[1]!.ip('link', 'set', 'nfb21', 'down');
    await lb.waitFor(/backend 10\.0\.0\.12 down/, 10_000, 'stderr');
    const third = round();
    for (const [p, who] of first) assert.equal(third.get(p), 'b1', `port ${p}: ${who === 'b1' ? 'kept' : 'moved'} to b1`);
    backendNet(1);
    await lb.waitFor(/backend 10\.0\.0\.12 down[^]*backend 10\.0\.0\.12 up/, 10_000, 'stderr');
    assert.deepEqual(round(), first, 'b2 back: the first mapping');
    lb.kill('SIGTERM');
    const r = await lb.wait(20_000);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as LbJson;
    const onB2 = [...first.values()].filter((w) => w === 'b2').length;
    assert.ok(j.counters.toBackend > 0 && j.counters.toClient > 0);
    assert.equal(j.counters.tableRebuilds, 3, 'up (both), b2 down, b2 up');
    assert.ok(j.backends[1]!.flows >= onB2 && j.backends[0]!.flows >= PORTS.length - onB2, JSON.stringify(j.backends));
    process.stderr.write(`l4lb: ${onB2} of ${PORTS.length} flows on b2; counters ${JSON.stringify(j.counters)}\n`);
    natMapping = first;
  });

  test('DSR: the backends hold the VIP and answer the client directly; the same table, the same mapping', async () => {
    assert.ok(natMapping, 'runs after the NAT test');
    be.forEach((ns, i) => {
      const dev = `nfb${i + 1}1`;
      ns.ip('addr', 'add', '10.0.0.100/32', 'dev', 'lo');
      ns.run('sh', ['-c', `for c in all ${dev}; do echo 1 > /proc/sys/net/ipv4/conf/$c/arp_ignore; echo 2 > /proc/sys/net/ipv4/conf/$c/arp_announce; done`]);
      ns.ip('route', 'replace', '10.0.0.2', 'dev', dev); // answers go straight to the client
    });
    const lb = sw.nmts(['vnf', 'l4lb', '-i', 'netmap:nflb', '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80', '--backend', '10.0.0.11', '--backend', '10.0.0.12', '--mode', 'dsr', '--json']);
    await lb.waitFor(/^l4lb: .* mode dsr, backends 10\.0\.0\.11 up, 10\.0\.0\.12 up/m, 20_000, 'stderr');
    assert.deepEqual(round(), natMapping, 'DSR places each flow where NAT did');
    lb.kill('SIGTERM');
    const r = await lb.wait(20_000);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as LbJson;
    assert.ok(j.counters.toBackend >= PORTS.length * 3, 'SYN, ACKs and FIN of each flow went through the balancer');
    assert.equal(j.counters.toClient, 0, 'no answer came back through it');
  });
});
