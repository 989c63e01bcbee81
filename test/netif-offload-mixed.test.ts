// Offloads beyond the all-default case of netif-offload.test (issue #10): two hosts in network
// namespaces, a1 --- a2 [middle] b2 --- b1, forwarded by `nmts bridge` and by a VALE switch
// (the daemon, `vale-ctl -a`), with
//   * both hosts' offloads as Linux sets them (tx checksumming, TSO, GSO on): the bridge opens
//     both interfaces with AF_PACKET and a 10-byte virtio-net header, super-frames pass whole;
//   * a mixed pair: one host (and its veth's middle end) with `tx off tso off gso off`, the other
//     with the defaults, then the reverse: the side without offloads is opened with AF_XDP and no
//     header, the other with AF_PACKET and one, and the bridge (apps/common/port-forward.ts) or
//     the switch (vale/offload.ts, the same converter) cuts the TSO host's super-frames into
//     segments and completes partial checksums for it;
//   * a capture port without a header on the switch, receiving a TSO host's flooded TCP stream:
//     tshark reads MSS-sized segments only, every IP and TCP checksum good.
// Each: ping, iperf3 TCP both ways (> 0 bytes), UDP payloads checked (some IP-fragmented).
// Namespaces start with offl.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonRequest } from '../src/apps/daemon/daemon.js';
import { needs } from './fixtures/requires.js';
import { IP1, IP2, ip, skipReason, Topology, type Proc } from './fixtures/nmtsv-topology.js';
import { udpCheck } from './fixtures/udp-check.js';

const skip = skipReason();
const topo = new Topology('x', { prefix: 'offl', offloads: 'default' });
const SW = `valex${process.pid % 100000}`;
const SOCK = `/tmp/offl-${process.pid}.sock`;
const env = { NMTS_SOCKET: SOCK };
const OFFLOAD = fileURLToPath(new URL('./fixtures/nmtsv-offload.js', import.meta.url));
let daemon: Proc | null = null;
let port = 5801 + (process.pid % 500);
let dir = '';

const valeCtl = (...args: string[]) => topo.nmtsRun(['vale-ctl', ...args], env);

/** Offloads of a host's veth and its middle end: off or back on. */
function offloads(on: boolean, side: 'a' | 'b'): void {
  const [ns, dev] = side === 'a' ? [topo.ns1, 'a1'] : [topo.ns2, 'b1'];
  const args = on ? [OFFLOAD, '--on'] : [OFFLOAD];
  assert.equal(topo.run(ns, process.execPath, [...args, dev]).trim(), 'ok');
  assert.equal(topo.run(topo.mid, process.execPath, [...args, `${side}2`]).trim(), 'ok');
}

/** iperf3 TCP for `seconds` between a client in cns and a server at sip in sns (a port of this file's); reverse: the server sends. */
function iperf(cns: string, sns: string, sip: string, reverse: boolean, seconds = 3): ReturnType<Topology['iperfBetween']> {
  return topo.iperfBetween(cns, sns, sip, port++, reverse, seconds);
}

/** ping, iperf3 TCP both ways, UDP payloads (18..8000 bytes) from ns1 to ns2 and back. */
async function traffic(t: { diagnostic(s: string): void }, what: string): Promise<void> {
  const ping = await topo.ping(10, 0.05);
  assert.equal(ping.received, 10, `${what}: ${ping.text}`);
  for (const reverse of [false, true]) {
    const r = await iperf(topo.ns1, topo.ns2, IP2, reverse);
    assert.equal(r.error, null, what);
    assert.ok(r.bytes > 0, `${what}: TCP ${reverse ? 'ns2 -> ns1' : 'ns1 -> ns2'} moved data`);
    t.diagnostic(`${what}: iperf3 TCP ${reverse ? 'ns2 -> ns1' : 'ns1 -> ns2'} ${(r.bps / 1e9).toFixed(2)} Gbit/s, ${r.retransmits} retransmits`);
  }
  for (const [from, to, dst] of [[topo.ns1, topo.ns2, IP2], [topo.ns2, topo.ns1, IP1]] as const) {
    const r = await udpCheck(topo, from, to, dst, port++, [18, 1000, 1472, 4000, 8000]);
    assert.deepEqual(r, { received: 100, bad: 0, sizes: { 18: 20, 1000: 20, 1472: 20, 4000: 20, 8000: 20 } }, `${what}: UDP to ${dst}`);
  }
}

/** `nmts bridge -i netmap:a2 -i netmap:b2` in the middle, ready; its process. */
async function startBridge(): Promise<Proc> {
  const b = topo.nmts(['bridge', '-i', 'netmap:a2', '-i', 'netmap:b2']);
  await b.waitFor(/Ready to go/, 15_000);
  return b;
}

async function stopBridge(b: Proc): Promise<string> {
  b.kill('SIGINT');
  await b.wait(10_000);
  return b.stdout;
}

describe('offloads: nmts bridge with default offloads, mixed pairs through the bridge and VALE, a capture port', { skip }, () => {
  before(async () => {
    topo.create();
    dir = mkdtempSync(join(tmpdir(), 'offl-'));
    daemon = topo.nmts(['daemon', '--socket', SOCK]);
    await daemon.waitFor(/started: socket/);
  });
  after(async () => {
    daemon?.kill('SIGKILL');
    await topo.destroy();
    rmSync(SOCK, { force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('nmts bridge, both hosts with default offloads: AF_PACKET with headers on both sides, says why; TCP both ways, UDP', { timeout: 120_000 }, async (t) => {
    const b = await startBridge();
    let out = '';
    try {
      assert.match(b.stderr, /^netmap:a2: backend AF_PACKET \(10-byte virtio-net header/m);
      assert.match(b.stderr, /^netmap:b2: backend AF_PACKET \(10-byte virtio-net header/m);
      assert.match(b.stderr, /^netmap:a2: not AF_XDP because a2 has tx-checksumming, TSO, GSO on/m);
      assert.match(b.stderr, /^virtio-net headers: 10 bytes on both sides: super-frames and partial checksums pass whole$/m);
      await traffic(t, 'bridge, default offloads');
    } finally {
      out = await stopBridge(b);
    }
    assert.match(out, /packets netmap:a2 -> netmap:b2, \d+ packets back \(copied\)/);
    assert.doesNotMatch(out, /converted/, 'equal header lengths: nothing converted');
  });

  test('nmts bridge, mixed pair (a1 offloads off, b1 default): AF_XDP and AF_PACKET, super-frames cut for the side without a header', { timeout: 120_000 }, async (t) => {
    offloads(false, 'a');
    const b = await startBridge();
    let out = '';
    try {
      assert.match(b.stderr, /^netmap:a2: backend AF_XDP \(/m);
      assert.match(b.stderr, /^netmap:b2: backend AF_PACKET \(10-byte virtio-net header/m);
      assert.match(b.stderr, /^virtio-net headers: netmap:a2 0 bytes, netmap:b2 10: converted \(netmap:b2's super-frames cut into segments/m);
      await traffic(t, 'bridge, a off / b default');
    } finally {
      out = await stopBridge(b);
    }
    const m = /(\d+) frames converted between header lengths/.exec(out);
    assert.ok(m && Number(m[1]) > 0, out);
    const pk = /(\d+) packets netmap:a2 -> netmap:b2, (\d+) packets back/.exec(out);
    assert.ok(pk, out);
    // b1 hands over super-frames: more frames come out of the conversion than went in
    assert.ok(Number(m[1]) > Number(pk[1]) + Number(pk[2]), `segments ${m[1]} > packets ${pk[1]} + ${pk[2]}`);
  });

  for (const off of ['a', 'b'] as const) {
    test(`VALE, mixed pair (${off}1 offloads off, the other default): the switch converts between the AF_XDP and the AF_PACKET port`, { timeout: 120_000 }, async (t) => {
      if (off === 'b') { offloads(true, 'a'); offloads(false, 'b'); }
      const a = await valeCtl('-v', '-a', `${SW}:a2`);
      assert.equal(a.code, 0, a.stderr);
      const b = await valeCtl('-v', '-a', `${SW}:b2`);
      assert.equal(b.code, 0, b.stderr);
      try {
        const [plain, hdr] = off === 'a' ? [a, b] : [b, a];
        assert.match(plain.stdout, /backend AF_XDP \(/, plain.stdout);
        assert.match(hdr.stdout, /backend AF_PACKET \(10-byte virtio-net header/, hdr.stdout);
        const att = await daemonRequest(SOCK, { cmd: 'attached' });
        const list = att.attachments as Array<{ port: string; backend: string }>;
        assert.equal(list.find((x) => x.port === `${SW}:${off}2`)?.backend, 'af_xdp');
        assert.equal(list.find((x) => x.port === `${SW}:${off === 'a' ? 'b' : 'a'}2`)?.backend, 'af_packet');
        await traffic(t, `VALE, ${off} off`);
      } finally {
        assert.equal((await valeCtl('-d', `${SW}:a2`)).code, 0);
        assert.equal((await valeCtl('-d', `${SW}:b2`)).code, 0);
      }
    });
  }

  test('a capture port without a header receives a TSO host\'s flood as MSS-sized segments, checksums good (tshark)', { timeout: 120_000, skip: needs(['tshark']) }, async (t) => {
    // a1 (offloads on since the last test) sends TCP to b1 through a fresh switch; b1 answers
    // over a direct veth (c2 -> c1), so the switch never learns b1's MAC and floods a1's
    // frames to every port, the capture port among them
    const sw = `${SW}c`;
    ip('-n', topo.ns1, 'link', 'add', 'c1', 'type', 'veth', 'peer', 'name', 'c2', 'netns', topo.ns2);
    ip('-n', topo.ns1, 'link', 'set', 'c1', 'up');
    ip('-n', topo.ns2, 'link', 'set', 'c2', 'up');
    ip('-n', topo.ns2, 'route', 'add', `${IP1}/32`, 'dev', 'c2');
    ip('-n', topo.ns1, 'neigh', 'replace', IP2, 'lladdr', topo.mac(topo.ns2, 'b1'), 'dev', 'a1', 'nud', 'permanent');
    for (const ns of [topo.ns1, topo.ns2]) topo.sh(ns, 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done');
    const a = await valeCtl('-a', `${sw}:a2`);
    assert.equal(a.code, 0, a.stderr);
    const b = await valeCtl('-a', `${sw}:b2`);
    assert.equal(b.code, 0, b.stderr);
    const file = join(dir, 'tso.pcap');
    // (the first 3000 TCP frames: a 2 s stream would be hundreds of MB for tshark to check)
    const cap = topo.nmts(['capture', '-i', `${sw}:cap`, '-c', '3000', '-w', file, 'tcp']);
    try {
      await cap.waitFor(/listening on/, 10_000);
      const r = await iperf(topo.ns1, topo.ns2, IP2, false, 2);
      assert.equal(r.error, null);
      assert.ok(r.bytes > 0, 'TCP a1 -> b1 moved data');
      t.diagnostic(`a1 -> b1 with the capture on the switch: ${(r.bps / 1e9).toFixed(2)} Gbit/s`);
      const v = await valeCtl('-v');
      const row = v.stdout.split('\n').find((l) => l.startsWith(`${sw}:a2 `)) ?? '';
      const m = /tx_packets (\d+) tx_bytes (\d+)/.exec(row);
      assert.ok(m, v.stdout);
      const avg = Number(m[2]) / Number(m[1]);
      assert.ok(avg > 3000, `a1's frames are super-frames (${avg.toFixed(0)} bytes on average): ${row}`);
    } finally {
      cap.kill('SIGINT');
      await cap.wait(10_000);
      await valeCtl('-d', `${sw}:a2`);
      await valeCtl('-d', `${sw}:b2`);
    }
    assert.ok(statSync(file).size > 24, cap.stderr);
    const ts = spawnSync('tshark', ['-r', file, '-n', '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE',
      '-T', 'fields', '-e', 'frame.len', '-e', 'tcp.len', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', 'tcp'], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000 });
    assert.equal(ts.status, 0, ts.stderr);
    const rows = ts.stdout.trim().split('\n').map((l) => l.split('\t'));
    const data = rows.filter((f) => Number(f[1]) > 0);
    assert.ok(data.length > 1000, `${data.length} data segments captured`);
    assert.equal(rows.length, 3000, 'the capture stopped at -c 3000');
    let full = 0;
    for (const f of rows) {
      assert.ok(Number(f[0]) <= 1514, `frame of ${f[0]} bytes`);
      assert.ok(Number(f[1]) <= 1448, `TCP payload of ${f[1]} bytes`);
      assert.equal(f[2], '1', `IP checksum status ${f[2]} (1: good)`);
      assert.equal(f[3], '1', `TCP checksum status ${f[3]} (1: good)`);
      if (Number(f[1]) === 1448) full++;
    }
    assert.ok(full > data.length / 2, `${full} of ${data.length} segments carry a full MSS`);
    t.diagnostic(`captured ${rows.length} TCP frames, ${full} of ${data.length} data segments of MSS 1448, all checksums good`);
  });
});
