// TCP and UDP through VALE with the hosts' offloads as Linux sets them (issue #10): two hosts in
// network namespaces whose veths keep tx checksumming, TSO and GSO on, their peers attached to
// one switch through the daemon (`vale-ctl -a`, `-h` for the host stack). The attachment sees the
// offloads and takes AF_PACKET with a virtio-net header, the switch ports carry the same header,
// so the hosts' super-frames and partial checksums cross the switch whole and the far host's
// kernel finishes them. ping, iperf3 TCP both ways (> 0 bytes, Gbit/s reported), UDP datagrams
// with checksum offload whose payloads are checked (some IP-fragmented), a large ping, and TCP
// both ways through the host-stack TAP (IFF_VNET_HDR, TUNSETOFFLOAD). Namespaces start with kvn.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { daemonRequest } from '../src/apps/daemon/daemon.js';
import { IP2, ip, skipReason, Topology, type Proc } from './fixtures/nmtsv-topology.js';
import { udpCheck } from './fixtures/udp-check.js';

const skip = skipReason();
const topo = new Topology('o', { prefix: 'kvn', offloads: 'default' });
const SW = `valeo${process.pid % 100000}`;
const SOCK = `/tmp/kvn-${process.pid}.sock`;
const env = { NMTS_SOCKET: SOCK };
const VNET_CHILD = fileURLToPath(new URL('./fixtures/vnet-port-child.js', import.meta.url));
const DIRECT_CHILD = fileURLToPath(new URL('./fixtures/vnet-direct-child.js', import.meta.url));
const IP3 = '10.201.0.3'; // b2^, the middle's host stack through the switch
let daemon: Proc | null = null;
let port = 5301 + (process.pid % 500);

const valeCtl = (...args: string[]) => topo.nmtsRun(['vale-ctl', ...args], env);

/** iperf3 TCP for `seconds` between a client in cns and a server at sip in sns (a port of this file's); reverse: the server sends. */
function iperf(cns: string, sns: string, sip: string, reverse: boolean, seconds = 3): ReturnType<Topology['iperfBetween']> {
  return topo.iperfBetween(cns, sns, sip, port++, reverse, seconds);
}

function gbps(bps: number): string {
  return (bps / 1e9).toFixed(2);
}

describe('TCP/UDP through VALE with default offloads (AF_PACKET and TAP with virtio-net headers)', { skip }, () => {
  before(async () => {
    topo.create();
    daemon = topo.nmts(['daemon', '--socket', SOCK]);
    await daemon.waitFor(/started: socket/);
  });
  after(async () => {
    daemon?.kill('SIGKILL');
    await topo.destroy();
    rmSync(SOCK, { force: true });
  });

  test('the offloads choose AF_PACKET with a virtio-net header; ping and TCP both ways cross the switch, super-frames whole', { timeout: 90_000 }, async (t) => {
    const a = await valeCtl('-v', '-a', `${SW}:a2`);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^netmap:a2: backend AF_PACKET \(10-byte virtio-net header/m);
    assert.match(a.stdout, /^netmap:a2: not AF_XDP because a2 has tx-checksumming, TSO, GSO on/m);
    const b = await valeCtl('-v', '-h', `${SW}:b2`);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /^netmap:b2\^: backend TAP \(host stack of b2: TAP b2\^, made for this port, 10-byte virtio-net header/m);
    const g = await valeCtl('-g', `${SW}:a2`);
    assert.match(g.stdout, /hdr_len:\s+10/, g.stdout + g.stderr);

    const ping = await topo.ping(20, 0.05);
    assert.equal(ping.received, 20, ping.text);
    t.diagnostic(`ping rtt min/avg/max ${ping.min}/${ping.avg}/${ping.max} ms`);
    for (const reverse of [false, true]) {
      const r = await iperf(topo.ns1, topo.ns2, IP2, reverse);
      assert.equal(r.error, null);
      assert.ok(r.bytes > 0, `TCP ${reverse ? 'ns2 -> ns1' : 'ns1 -> ns2'} moved data`);
      t.diagnostic(`iperf3 TCP ${reverse ? 'ns2 -> ns1' : 'ns1 -> ns2'}: ${gbps(r.bps)} Gbit/s, ${(r.bytes / 1e6).toFixed(0)} MB in 3 s, ${r.retransmits} retransmits`);
    }
    const att = await daemonRequest(SOCK, { cmd: 'attached' });
    const list = att.attachments as Array<{ port: string; backend: string }>;
    assert.equal(list.find((x) => x.port === `${SW}:a2`)?.backend, 'af_packet');
    // the switch counts frames (the forwarder's counters count slots): a host with TSO on hands
    // over super-frames, far more bytes per frame than an MTU holds, and they cross whole
    const v = await valeCtl('-v');
    const row = v.stdout.split('\n').find((l) => l.startsWith(`${SW}:a2 `)) ?? '';
    const m = /tx_packets (\d+) tx_bytes (\d+)/.exec(row);
    assert.ok(m, v.stdout);
    const avg = Number(m[2]) / Number(m[1]);
    assert.ok(avg > 3000, `frames of ${avg.toFixed(0)} bytes on average from a2: ${row}`);
    t.diagnostic(`a2 -> switch: ${m[1]} frames, ${avg.toFixed(0)} bytes on average`);
  });

  test('UDP with checksum offload: every payload arrives intact, IP-fragmented ones too', { timeout: 60_000 }, async () => {
    const r = await udpCheck(topo, topo.ns1, topo.ns2, IP2, port++, [18, 1000, 1472, 4000, 8000]);
    assert.deepEqual(r, { received: 100, bad: 0, sizes: { 18: 20, 1000: 20, 1472: 20, 4000: 20, 8000: 20 } });
  });

  test('a large ping (IP fragments) crosses the switch', { timeout: 30_000 }, async () => {
    const p = topo.spawn(topo.ns1, 'ping', ['-n', '-q', '-c', '5', '-i', '0.1', '-s', '8000', '-W', '2', IP2]);
    await p.wait(20_000);
    assert.match(p.stdout, /5 packets transmitted, 5 received/, p.stdout + p.stderr);
  });

  test('AF_PACKET with a header: a super-frame sent as a chain arrives whole with its header; a malformed header is dropped and counted', { timeout: 30_000 }, () => {
    ip('-n', topo.mid, 'link', 'add', 'kx0', 'type', 'veth', 'peer', 'name', 'kx1');
    ip('-n', topo.mid, 'link', 'set', 'kx0', 'up');
    ip('-n', topo.mid, 'link', 'set', 'kx1', 'up');
    const r = JSON.parse(topo.run(topo.mid, process.execPath, [VNET_CHILD, 'kx0', 'kx1']).trim().split('\n').pop()!) as Record<string, unknown>;
    assert.deepEqual(r, {
      chains: 1, len: r.sentLen, sentLen: 10 + 14 + 20 + 20 + 20000, same: true, gsoType: 1, gsoSize: 1448, flags: 1,
      backend: 'af_packet', vnet: 10, txPackets: 1, txDrops: 1,
    });
  });

  test('the forwarder\'s direct paths: AF_PACKET sends from a switch port\'s rx ring and receives into its tx ring, bad slots and headers dropped and counted', { timeout: 30_000 }, () => {
    ip('-n', topo.mid, 'link', 'add', 'kd0', 'type', 'veth', 'peer', 'name', 'kd1');
    ip('-n', topo.mid, 'link', 'set', 'kd0', 'up');
    ip('-n', topo.mid, 'link', 'set', 'kd1', 'up');
    const out = topo.run(topo.mid, process.execPath, [DIRECT_CHILD, 'kd0', 'kd1', `valedirect${process.pid}`]);
    const r = JSON.parse(out.trim().split('\n').pop()!) as { tx: Record<string, unknown>; rx: Record<string, number | boolean> };
    assert.equal(r.tx.taken, r.tx.slotsInV2, 'every slot of the three chains taken');
    assert.deepEqual({ ...r.tx, taken: 0, slotsInV2: 0 }, {
      slotsInV2: 0, taken: 0, packets: r.tx.slotsInV2, drops: 2, badVnet: 1,
      v2Released: true, atB: 1, same: true, txPackets: 1, txDrops: 2,
    });
    assert.equal(r.rx.engaged, true, 'the interface port takes the direct path');
    assert.equal(r.rx.pollin, 1, 'check() sees the frame waiting in the kernel ring');
    assert.equal(r.rx.wrote, true, 'the super-frame written as a chain of slots');
    assert.equal(r.rx.aRxEmpty, true, 'nothing through the interface port\'s own rx ring');
    assert.equal(r.rx.atV2, 1);
    assert.equal(r.rx.same, true, 'whole, with its header');
    assert.equal(r.rx.rxPackets, true, 'counted on the interface port');
    assert.deepEqual([r.rx.badWrote, r.rx.badLen, r.rx.stillPending, r.rx.txsyncError], [1, 0, 1, true],
      'a bad destination slot is passed with length 0, the frame waits, the switch port\'s txsync reports the slot');
  });

  test('the host-stack TAP (b2^) with a virtio-net header: ping and TCP both ways', { timeout: 90_000 }, async (t) => {
    ip('-n', topo.mid, 'addr', 'add', `${IP3}/24`, 'dev', 'b2^');
    const ping = await topo.ping(10, 0.05, IP3);
    assert.equal(ping.received, 10, ping.text);
    for (const reverse of [false, true]) {
      const r = await iperf(topo.ns1, topo.mid, IP3, reverse);
      assert.equal(r.error, null);
      assert.ok(r.bytes > 0, `TCP ${reverse ? 'b2^ -> ns1' : 'ns1 -> b2^'} moved data`);
      t.diagnostic(`iperf3 TCP through the host-stack TAP, ${reverse ? 'b2^ -> ns1' : 'ns1 -> b2^'}: ${gbps(r.bps)} Gbit/s, ${r.retransmits} retransmits`);
    }
  });
});
