// nmts vnf udp-echo against Linux clients no one here wrote, in a network namespace of our own
// (vnf-echo-<pid>): one veth end opened by netmap-ts (netmap:vnfa), the other (vnfb) with a
// Linux address. The kernel resolves our address by ARP and pings it, arping sees our ARP
// replies, `nc -u` and a Python client on kernel sockets get their datagrams echoed; then the
// same through VALE (vnfc attached to a switch with vale-ctl -a, udp-echo on a VALE port).
// Bad frames and an ARP storm (AF_PACKET from Python) are counted and the host keeps answering.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Netns, ROOT, type Proc } from './fixtures/netif-helpers.js';
import { needs } from './fixtures/requires.js';

const skip = needs(['root', 'ip', 'ping', 'nc', 'arping', 'python3']);
const PEER = join(ROOT, 'test', 'fixtures', 'vnf-peer.py');
const SW = `valevnf${process.pid}`;
const SOCK = `/tmp/vnf-${process.pid}.sock`;

function linkMac(ns: Netns, dev: string): string {
  return /link\/ether ([0-9a-f:]+)/.exec(ns.ip('link', 'show', dev))![1]!;
}

function sh(ns: Netns, cmd: string, timeout = 30_000): string {
  return ns.run('sh', ['-c', cmd], { timeout });
}

/** One nmts vnf udp-echo, started; resolves once it printed its ready line. */
async function startEcho(ns: Netns, port: string, ip: string, env: NodeJS.ProcessEnv = {}): Promise<Proc> {
  const p = ns.nmts(['vnf', 'udp-echo', '-i', port, '--ip', ip, '--json'], env);
  await p.waitFor(/^udp-echo: .* UDP port 7/m, 20_000, 'stderr');
  return p;
}

/** Stop it (SIGTERM) and return its JSON summary. */
async function stopEcho(p: Proc): Promise<{ received: number; echoed: number; stats: Record<string, number> }> {
  p.kill('SIGTERM');
  const r = await p.wait(10_000);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { received: number; echoed: number; stats: Record<string, number> };
}

function checkClients(ns: Netns, ip: string, dev: string, ourMac: string): void {
  const ping = sh(ns, `ping -c 3 -i 0.3 -W 10 ${ip}`);
  assert.match(ping, /3 packets transmitted, 3 received/, ping);
  const neigh = ns.ip('neigh', 'show', ip, 'dev', dev);
  assert.match(neigh, new RegExp(`lladdr ${ourMac}`), `the kernel resolved ${ip} to our MAC: ${neigh}`);
  const arping = sh(ns, `arping -c 2 -w 20 -I ${dev} ${ip}`);
  assert.match(arping, /Received 2 response\(s\)/, arping);
  assert.match(arping, new RegExp(`reply from ${ip.replace(/\./g, '\\.')} \\[${ourMac.toUpperCase()}\\]`), arping);
  const nc = sh(ns, `printf 'hello from nc' | nc -u -w 3 ${ip} 7`);
  assert.equal(nc, 'hello from nc');
  const py = JSON.parse(sh(ns, `python3 ${PEER} udp ${ip} 7 60`, 120_000)) as { sent: number; ok: number; bad: number; lost: number };
  assert.deepEqual(py, { sent: 60, ok: 60, bad: 0, lost: 0 }, 'every datagram (0..1472 bytes) echoed byte for byte from port 7');
  assert.deepEqual(JSON.parse(sh(ns, `python3 ${PEER} refused ${ip} 9`)), { refused: true }, 'a closed port: ICMP port unreachable, ECONNREFUSED');
}

describe('nmts vnf udp-echo with Linux clients: ping, arping, nc -u, Python sockets', { skip, timeout: 300_000 }, () => {
  const ns = new Netns('echo', 'vnf');
  before(() => {
    if (skip) return;
    ns.create([['vnfa', 'vnfb'], ['vnfc', 'vnfd']]);
    ns.ip('addr', 'add', '10.77.0.2/24', 'dev', 'vnfb');
    ns.ip('addr', 'add', '10.78.0.2/24', 'dev', 'vnfd');
  });
  after(async () => {
    if (!skip) {
      try { await ns.nmts(['vale-ctl', '-d', `${SW}:vnfc`], { NMTS_SOCKET: SOCK }).wait(10_000); } catch { /* not attached */ }
    }
    await ns.destroy();
    rmSync(SOCK, { force: true });
    rmSync(SOCK.replace(/\.sock$/, '.log'), { force: true }); // the daemon vale-ctl -a started logs there
  });

  test('on a veth (netmap:vnfa): the kernel pings and ARPs our address, nc and Python get their datagrams echoed; bad frames and an ARP storm are counted', async () => {
    const echo = await startEcho(ns, 'netmap:vnfa', '10.77.0.1/24');
    const mac = linkMac(ns, 'vnfa');
    assert.match(echo.stderr, new RegExp(`MAC ${mac}`), 'the host uses the interface\'s MAC');
    checkClients(ns, '10.77.0.1', 'vnfb', mac);
    const sent = JSON.parse(sh(ns, `python3 ${PEER} bad vnfb ${mac} 10.77.0.2 10.77.0.1`)) as Record<string, number>;
    // still answering after the storm
    assert.match(sh(ns, 'ping -c 2 -i 0.3 -W 10 10.77.0.1'), /2 packets transmitted, 2 received/);
    const r = await stopEcho(echo);
    const s = r.stats;
    for (const why of ['truncated', 'badIpChecksum', 'badUdpChecksum', 'fragment', 'badTtl', 'vlan', 'ipv6']) {
      assert.equal(s[why], sent[why], `${why}: ${JSON.stringify(s)}`);
    }
    assert.ok(s.arpRequestsIn! >= 2000 + 3, `the storm's requests counted: ${s.arpRequestsIn}`);
    assert.equal(s.arpRepliesOut! + s.txFull!, s.arpRequestsIn!, 'every request for us answered or its drop counted');
    assert.equal(s.arpRequestsIn! + s.arpRepliesIn! + s.icmpEchoIn! + s.udpIn! + s.rxDropped!, s.rxFrames, 'every frame received accounted for');
    assert.ok(s.arpEntries! <= 1024, 'the cache stays bounded');
    assert.equal(r.received, r.echoed, 'every datagram received was echoed');
    assert.ok(s.udpCsumPartial! > 0, 'the kernel\'s unfinished (CHECKSUM_PARTIAL) checksums were accepted and counted');
  });

  test('on a veth with the AF_PACKET backend (NMTS_BACKEND=af_packet): the same clients', async () => {
    const echo = await startEcho(ns, 'netmap:vnfa', '10.77.0.1/24', { NMTS_BACKEND: 'af_packet' });
    assert.match(echo.stderr, /backend af_packet/);
    ns.ip('neigh', 'flush', 'dev', 'vnfb'); // resolved again, against this process's answers
    checkClients(ns, '10.77.0.1', 'vnfb', linkMac(ns, 'vnfa'));
    const r = await stopEcho(echo);
    assert.equal(r.received, r.echoed);
    assert.equal(r.stats.arpRequestsIn! + r.stats.arpRepliesIn! + r.stats.icmpEchoIn! + r.stats.udpIn! + r.stats.rxDropped!, r.stats.rxFrames);
  });

  test('through VALE: vnfc attached to a switch (vale-ctl -a), udp-echo on a VALE port of it', async () => {
    const env = { NMTS_SOCKET: SOCK };
    const a = await ns.nmts(['vale-ctl', '-a', `${SW}:vnfc`], env).wait(20_000);
    assert.equal(a.code, 0, a.stderr);
    const echo = await startEcho(ns, `${SW}:echo`, '10.78.0.1/24', env);
    const mac = /MAC ([0-9a-f:]+)/.exec(echo.stderr)![1]!;
    assert.equal(mac, '02:6e:0a:4e:00:01', 'a VALE port gets 02:6e and the address');
    checkClients(ns, '10.78.0.1', 'vnfd', mac);
    const r = await stopEcho(echo);
    assert.ok(r.echoed >= 61, `echoed ${r.echoed}`);
    assert.equal(r.received, r.echoed);
    const d = await ns.nmts(['vale-ctl', '-d', `${SW}:vnfc`], env).wait(20_000);
    assert.equal(d.code, 0, d.stderr);
  });
});
