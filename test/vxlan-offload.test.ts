// VXLAN with a container keeping Linux's default offloads (issue 13, item 5): container A's veth
// keeps tx checksumming, TSO and GSO on, so `vale-ctl -a` attaches it with AF_PACKET and a
// virtio-net header and its switch port carries TCP super-frames (up to 64 KiB) with partial
// checksums. The VXLAN port, attached the same way, takes the same header: it cuts each
// super-frame into MSS-sized segments itself and sends them, each behind its VXLAN header, with
// UDP GSO (one send per super-frame: counted in tx_gso_sends); the TCP segments it receives are
// merged back into super-frames for container A (rx_merged; over IPv6 inside the overlay too). iperf3 TCP both ways to the plain
// Linux host B. With the underlay's UDP segmentation offload off (the kernel then cuts the GSO
// sends into datagrams before the interface, where tcpdump sees them), tcpdump on host A's
// underlay shows no datagram over the MTU, and more datagrams than the frames the container
// handed the switch (super-frames were cut).
// Namespaces start with vxo.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needs } from './fixtures/requires.js';
import { A_IP, B_IP, CA_IP, CB_IP, VxlanTopology } from './fixtures/vxlan-topology.js';

const skip = needs(['root', 'ip', 'iperf3', 'tcpdump', 'tshark', 'ethtool'], 'network namespaces, veth pairs, a Linux vxlan device');
const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const topo = new VxlanTopology({ prefix: 'vxo', offloadsA: 'default' });
const dir = mkdtempSync(join(tmpdir(), 'nmts-vxo-'));
const env = { ...process.env, NMTS_SHM_DIR: dir, NMTS_SOCKET: join(dir, 'nmts.sock'), NMTS_DAEMON_AUTOSTART: '0' };
const SW = `valeo${process.pid % 100000}`;
const children: ChildProcess[] = [];

function nmts(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', topo.a, process.execPath, NMTS, ...args], { encoding: 'utf8', env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Counters of a `vale-ctl -v` line starting with `prefix` (key value pairs whose key matches re). */
function counters(prefix: string, re: RegExp): Record<string, number> {
  const r = nmts('vale-ctl', '-v');
  assert.equal(r.status, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => l.startsWith(prefix));
  assert.ok(line, `vale-ctl -v lists ${prefix}: ${r.stdout}`);
  const w = line.split(' '), out: Record<string, number> = {};
  for (let i = 0; i < w.length - 1; i++) if (re.test(w[i])) out[w[i]] = Number(w[i + 1]);
  return out;
}
const vx = (): Record<string, number> => counters('vx0 vxlan ', /^(tx|rx|fdb)_/);
const port = (name: string): Record<string, number> => counters(`${SW}:${name} `, /^(tx|rx)_/);

function start(ns: string, cmd: string, args: string[]): ChildProcess {
  const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.push(c);
  return c;
}

function output(c: ChildProcess, re: RegExp, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}: ${text}`)), ms);
    const on = (d: Buffer): void => {
      text += d.toString();
      if (re.test(text)) { clearTimeout(t); resolve(); }
    };
    c.stdout?.on('data', on);
    c.stderr?.on('data', on);
  });
}

const exited = (c: ChildProcess): Promise<number | null> => new Promise((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

/** iperf3 TCP from a client in `from` to a server in `server` at dst: -t seconds, or -n bytes. */
async function iperf(from: string, server: string, dst: string, p: number, amount: string[]): Promise<{ bps: number; bytes: number }> {
  const s = start(server, 'iperf3', ['-s', '-1', '--forceflush', '-p', String(p)]);
  await output(s, /Server listening/);
  const r = spawnSync('ip', ['netns', 'exec', from, 'iperf3', '-c', dst, '-p', String(p), ...amount, '-J'], { encoding: 'utf8', timeout: 60_000 });
  await exited(s);
  assert.equal(r.status, 0, r.stdout.slice(-2000) + r.stderr);
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number; bytes: number } } };
  return { bps: j.end.sum_received.bits_per_second, bytes: j.end.sum_received.bytes };
}

/**
 * tcpdump of what host A sends on the underlay into `name` (snap length `snap`), with the
 * underlay's UDP segmentation offload off for the test, so that the kernel cuts GSO sends into
 * datagrams before the capture (as for a NIC without the offload).
 */
async function captureUnderlay(t: { after: (fn: () => void) => void }, name: string, snap: number): Promise<{ file: string; dump: ChildProcess }> {
  const off = spawnSync('ip', ['netns', 'exec', topo.a, 'ethtool', '-K', 'vxlua', 'tx-udp-segmentation', 'off'], { encoding: 'utf8' });
  assert.equal(off.status, 0, off.stderr);
  t.after(() => { spawnSync('ip', ['netns', 'exec', topo.a, 'ethtool', '-K', 'vxlua', 'tx-udp-segmentation', 'on']); });
  const file = join(dir, name);
  const dump = start(topo.a, 'tcpdump', ['-i', 'vxlua', '-n', '-Z', 'root', '-s', String(snap), '-B', '65536', '-U', '-w', file, 'udp port 4789 and src host', A_IP]);
  await output(dump, /listening on/);
  return { file, dump };
}

describe('VXLAN: TCP from a container with default offloads (TSO, tx checksumming) through the overlay', { skip }, () => {
  before(async () => {
    topo.create();
    const daemon = start(topo.a, process.execPath, [NMTS, 'daemon', '--socket', env.NMTS_SOCKET]);
    await output(daemon, /started: socket/);
    const n = nmts('vale-ctl', '-n', 'vx0', '--vxlan', `vni=42,local=${A_IP},remote=${B_IP},dev=vxlua`);
    assert.equal(n.status, 0, n.stderr);
    const a1 = nmts('vale-ctl', '-v', '-a', `${SW}:vxlca1`);
    assert.equal(a1.status, 0, a1.stderr);
    assert.match(a1.stdout, /^netmap:vxlca1: backend AF_PACKET \(\d+-byte virtio-net header/m, 'the container\'s offloads choose a header');
    const a2 = nmts('vale-ctl', '-a', `${SW}:vx0`);
    assert.equal(a2.status, 0, a2.stderr);
  });
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    topo.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('super-frames are segmented before encapsulation: no datagram over the underlay MTU', { timeout: 90_000 }, async (t) => {
    // the kernel cuts the GSO sends before the veth, as a NIC without UDP segmentation offload needs
    const { file, dump } = await captureUnderlay(t, 'underlay.pcap', 96);
    const into = port('vxlca1').tx_packets, before = vx();
    const r = await iperf(topo.ca, topo.cb, CB_IP, 5311, ['-n', '8M']);
    await new Promise((res) => setTimeout(res, 300));
    dump.kill('SIGINT');
    await exited(dump);
    assert.ok(r.bytes > 1e6, `iperf3 moved ${r.bytes} bytes`);
    const frames = port('vxlca1').tx_packets - into, c = vx();
    const sent = c.tx_frames - before.tx_frames;
    t.diagnostic(`the container handed the switch ${frames} frames; vx0 sent ${sent} (${(r.bps / 1e6).toFixed(0)} Mbit/s)`);
    assert.equal(c.tx_too_big - before.tx_too_big, 0, JSON.stringify(c));
    assert.ok(sent > frames * 1.5, `super-frames were cut into segments: ${frames} frames in, ${sent} out`);
    const gso = c.tx_gso_sends - before.tx_gso_sends, dgrams = c.tx_datagrams - before.tx_datagrams;
    t.diagnostic(`${gso} UDP GSO sends carried ${dgrams} datagrams`);
    assert.ok(gso > 0 && dgrams > gso * 2, `super-frames left with UDP GSO: ${gso} sends, ${dgrams} datagrams`);
    const ts = spawnSync('tshark', ['-r', file, '-d', 'udp.port==4789,vxlan', '-T', 'fields', '-E', 'separator=|', '-e', 'ip.len', '-e', 'vxlan.vni'],
      { encoding: 'utf8', timeout: 60_000, maxBuffer: 256 << 20 });
    assert.equal(ts.status, 0, ts.stderr);
    const rows = ts.stdout.trim().split('\n').map((l) => l.split('|'));
    // (tcpdump's own kernel drops on a loaded machine are not ours: the check is over what it kept,
    // and tx_too_big above covers every datagram)
    assert.ok(rows.length >= sent * 0.5, `the capture holds most of the transfer: ${rows.length} datagrams of ${sent}`);
    const biggest = rows.reduce((m, x) => Math.max(m, Number(x[0].split(',')[0])), 0);
    t.diagnostic(`${rows.length} datagrams on the underlay, the largest IP packet ${biggest} bytes`);
    assert.ok(biggest <= 1500 && biggest > 1400, `the largest outer IP packet: ${biggest} bytes (MTU 1500)`);
    for (const x of rows.slice(0, 100)) assert.equal(x[1], '42');
  });

  test('a stream of small frames of one flow leaves in UDP GSO runs; Linux host B gets each frame in a datagram of its own', { timeout: 90_000 }, async (t) => {
    // the kernel cuts the GSO sends before the veth, where tcpdump sees them
    const { file, dump } = await captureUnderlay(t, 'runs.pcap', 128);
    const rxB = (): number => Number(spawnSync('ip', ['netns', 'exec', topo.cb, 'cat', '/sys/class/net/vxlcb0/statistics/rx_packets'], { encoding: 'utf8' }).stdout.trim());
    const mac = spawnSync('ip', ['netns', 'exec', topo.cb, 'cat', '/sys/class/net/vxlcb0/address'], { encoding: 'utf8' }).stdout.trim();
    const N = 4000, before = vx(), got0 = rxB(), in0 = port('vxlca1');
    // paced so that nothing on the way drops; pkt-gen's frames are one UDP flow of 60 bytes
    const gen = spawnSync('ip', ['netns', 'exec', topo.ca, process.execPath, NMTS, 'pkt-gen', '-i', 'netmap:vxlca0', '-f', 'tx', '-l', '60', '-n', String(N), '-R', '20000',
      '-D', mac, '-s', `${CA_IP}:2000`, '-d', `${CB_IP}:2001`], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(gen.status, 0, gen.stderr);
    await new Promise((res) => setTimeout(res, 500));
    dump.kill('SIGINT');
    await exited(dump);
    const c = vx(), got = rxB() - got0, in1 = port('vxlca1');
    const gso = c.tx_gso_sends - before.tx_gso_sends, dgrams = c.tx_datagrams - before.tx_datagrams;
    t.diagnostic(`pkt-gen sent ${N} frames; the switch took ${in1.tx_packets - in0.tx_packets} from container A (dropped ${in1.tx_drops - in0.tx_drops}); vx0: ${dgrams} datagrams in ${gso} UDP GSO sends (and raw); container B received ${got}`);
    // what the kernel gave the attachment is not ours to count exactly (its drops are reported
    // apart): from the switch on, every frame is accounted for
    const took = in1.tx_packets - in0.tx_packets, dropped = in1.tx_drops - in0.tx_drops;
    assert.ok(took >= N * 0.9, `the switch took most of the stream from container A: ${took} of ${N}`);
    assert.equal(c.tx_errors - before.tx_errors, 0);
    assert.equal(dgrams, took - dropped, 'vx0 sent a datagram for every frame the switch gave it');
    assert.ok(gso > 0 && gso < N / 4, `runs of frames went as GSO sends: ${gso} sends for ${dgrams} datagrams`);
    assert.ok(got >= dgrams, `Linux host B's vxlan delivered every datagram to container B: ${got} of ${dgrams}`);
    const ts = spawnSync('tshark', ['-r', file, '-d', 'udp.port==4789,vxlan', '-Y', 'udp.dstport==2001', '-T', 'fields', '-E', 'separator=|', '-e', 'ip.len', '-e', 'vxlan.vni', '-e', 'udp.length'],
      { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
    assert.equal(ts.status, 0, ts.stderr);
    const rows = ts.stdout.trim().split('\n').filter((l) => l !== '').map((l) => l.split('|'));
    t.diagnostic(`${rows.length} of them in the underlay capture`);
    // (tcpdump's own drops on a loaded machine are not ours: the check is over what it kept)
    assert.ok(rows.length >= dgrams * 0.5, `the capture holds most of the stream: ${rows.length} of ${dgrams}`);
    for (const x of rows) {
      // one 60-byte inner frame per datagram: outer IPv4 20 + UDP 8 + VXLAN 8 + 60; the inner UDP length 60 - 14 - 20
      assert.deepEqual([x[0].split(',')[0], x[1], x[2].split(',')[1]], ['96', '42', '26'], `a datagram: ${x.join('|')}`);
    }
  });

  test('iperf3 TCP both ways with the container\'s offloads on', { timeout: 90_000 }, async (t) => {
    const ab = await iperf(topo.ca, topo.cb, CB_IP, 5312, ['-t', '3']);
    const ba = await iperf(topo.cb, topo.ca, CA_IP, 5313, ['-t', '3']);
    assert.ok(ab.bytes > 1e6 && ba.bytes > 1e6, `${ab.bytes} ${ba.bytes}`);
    t.diagnostic(`iperf3 TCP A->B ${(ab.bps / 1e6).toFixed(0)} Mbit/s, B->A ${(ba.bps / 1e6).toFixed(0)} Mbit/s (container A: TSO and tx checksumming on)`);
    const c = vx();
    for (const k of ['tx_too_big', 'tx_errors', 'rx_too_big', 'tx_bad_vnet']) assert.equal(c[k], 0, `${k}: ${JSON.stringify(c)}`);
    assert.ok(c.tx_gso_sends > 0, `UDP GSO with the underlay's offload on too: ${JSON.stringify(c)}`);
    t.diagnostic(`vx0: ${c.tx_gso_sends} UDP GSO sends, ${c.rx_frames} datagrams received, ${c.rx_merged} super-frames merged from them`);
    assert.ok(c.rx_merged > 0, `B->A: received TCP segments merged into super-frames for container A: ${JSON.stringify(c)}`);
  });

  test('IPv6 inside the overlay: TCPv6 segments from Linux host B are merged into super-frames for container A too', { timeout: 90_000 }, async (t) => {
    for (const [ns, dev, addr] of [[topo.ca, 'vxlca0', 'fd42::a'], [topo.cb, 'vxlcb0', 'fd42::b']]) {
      topo.run(ns, 'sh', ['-c', `echo 0 > /proc/sys/net/ipv6/conf/${dev}/disable_ipv6`]);
      topo.run(ns, 'ip', ['addr', 'add', `${addr}/64`, 'dev', dev, 'nodad']);
    }
    const before = vx();
    const ba = await iperf(topo.cb, topo.ca, 'fd42::a', 5314, ['-t', '3']);
    assert.ok(ba.bytes > 1e6, `iperf3 -6 moved ${ba.bytes} bytes`);
    const c = vx(), merged = c.rx_merged - before.rx_merged, got = c.rx_frames - before.rx_frames;
    t.diagnostic(`iperf3 TCP over IPv6 B->A ${(ba.bps / 1e6).toFixed(0)} Mbit/s; ${got} datagrams received, ${merged} super-frames merged from them`);
    for (const k of ['rx_too_big', 'tx_bad_vnet']) assert.equal(c[k], before[k], `${k}: ${JSON.stringify(c)}`);
    assert.ok(merged > 0 && merged <= got / 2, `TCPv6 segments merged: ${merged} super-frames from ${got} datagrams`);
  });
});
