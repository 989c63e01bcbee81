// VXLAN interop with Linux (issue 13): host A runs netmap-ts (a VALE switch with a veth-attached
// container and the VXLAN port vx0 made by `vale-ctl -n vx0 --vxlan ...`, both attached with
// `vale-ctl -a` through an nmts daemon), host B is plain Linux (`ip link add vxlan42 type
// vxlan id 42 ...`, a bridge, a container): fixtures/vxlan-topology.ts. The containers ping
// each other and run iperf3 TCP both ways; tcpdump on the underlay shows standard VXLAN that
// tshark decodes with VNI 42 and UDP source ports from the flow hash; datagrams with a wrong
// VNI, bad flags, too short, or too big (a fragmented one, reassembled by the kernel) are
// counted by cause and never reach the switch; an inner frame too big for the underlay MTU is
// dropped and counted; -r refuses while attached and removes after -d.
//
// Offloads: the container veths send with tx checksum offload off (`ethtool -K ... tx off`):
// frames cross a user-space switch, which does not fill checksums left to offload.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needs } from './fixtures/requires.js';
import { A_IP, B_IP, CA_IP, CB_IP, VxlanTopology } from './fixtures/vxlan-topology.js';

const skip = needs(['root', 'ip', 'ping', 'iperf3', 'tcpdump', 'tshark', 'ethtool'], 'network namespaces, veth pairs, a Linux vxlan device');
const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const topo = new VxlanTopology();
const dir = mkdtempSync(join(tmpdir(), 'nmts-vxlan-'));
const env = { ...process.env, NMTS_SHM_DIR: dir, NMTS_SOCKET: join(dir, 'nmts.sock'), NMTS_DAEMON_AUTOSTART: '0' };
const SW = `valex${process.pid % 100000}`;
let daemon: ChildProcess | null = null;
const children: ChildProcess[] = [];

function nmts(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', topo.a, process.execPath, NMTS, ...args], { encoding: 'utf8', env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** vx0's counters from `vale-ctl -v`. */
function vxCounters(): Record<string, number> {
  const r = nmts('vale-ctl', '-v');
  assert.equal(r.status, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => l.startsWith('vx0 vxlan '));
  assert.ok(line, `vale-ctl -v lists vx0: ${r.stdout}`);
  const out: Record<string, number> = {};
  const words = line.split(' ');
  for (let i = 0; i < words.length - 1; i++) if (/^(tx|rx|fdb)_/.test(words[i])) out[words[i]] = Number(words[i + 1]);
  return out;
}

/** The switch-side counters of a port from the listing (tx_packets: frames it sent into the switch). */
function portCounters(port: string): Record<string, number> {
  const r = nmts('vale-ctl', '-v');
  const line = r.stdout.split('\n').find((l) => l.startsWith(`${SW}:${port} `));
  assert.ok(line, r.stdout);
  const w = line.split(' ');
  const out: Record<string, number> = {};
  for (let i = 0; i < w.length - 1; i++) if (/^(tx|rx)_/.test(w[i])) out[w[i]] = Number(w[i + 1]);
  return out;
}

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

async function iperf(from: string, server: string, dst: string, port: number): Promise<{ bps: number; bytes: number }> {
  const s = start(server, 'iperf3', ['-s', '-1', '--forceflush', '-p', String(port)]);
  await output(s, /Server listening/);
  const r = spawnSync('ip', ['netns', 'exec', from, 'iperf3', '-c', dst, '-p', String(port), '-t', '3', '-J'], { encoding: 'utf8', timeout: 30_000 });
  await exited(s);
  assert.equal(r.status, 0, r.stdout.slice(-2000) + r.stderr);
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number; bytes: number } } };
  return { bps: j.end.sum_received.bits_per_second, bytes: j.end.sum_received.bytes };
}

/** Datagrams from host B to A's VXLAN port, built here: [label, bytes]. */
const BAD_SENDER = `
const dgram = require('node:dgram');
const inner = Buffer.alloc(60); inner.fill(0xff, 0, 6); inner.set([2,0,0,0,0,0x99], 6); inner.writeUInt16BE(0x88b5, 12);
const vx = (flags, vni, body) => { const h = Buffer.alloc(8); h[0] = flags; h.writeUIntBE(vni, 4, 3); return Buffer.concat([h, body]); };
const big = Buffer.alloc(3000); big.set(inner);
const msgs = [vx(0x08, 43, inner), vx(0x08, 43, inner), Buffer.alloc(4), Buffer.alloc(0), vx(0x08, 42, inner.subarray(0, 10)), vx(0x0c, 42, inner), vx(0x08, 42, big)];
const s = dgram.createSocket('udp4');
let i = 0;
const next = () => { if (i === msgs.length) return s.close(); s.send(msgs[i++], 4789, '${A_IP}', next); };
next();
`;

describe('VXLAN: a netmap-ts host and a Linux host on one overlay (VNI 42)', { skip }, () => {
  before(async () => {
    topo.create();
    daemon = start(topo.a, process.execPath, [NMTS, 'daemon', '--socket', env.NMTS_SOCKET]);
    await output(daemon, /started: socket/);
    const n = nmts('vale-ctl', '-n', 'vx0', '--vxlan', `vni=42,local=${A_IP},remote=${B_IP},dev=vxlua`);
    assert.equal(n.status, 0, n.stderr);
    const a1 = nmts('vale-ctl', '-a', `${SW}:vxlca1`);
    assert.equal(a1.status, 0, a1.stderr);
    const a2 = nmts('vale-ctl', '-a', `${SW}:vx0`);
    assert.equal(a2.status, 0, a2.stderr);
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    topo.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('ping both ways between the containers; the port learns container B behind host B', { timeout: 60_000 }, (t) => {
    const ab = topo.ping(topo.ca, CB_IP, 10);
    assert.equal(ab.received, 10, ab.text);
    const ba = topo.ping(topo.cb, CA_IP, 10);
    assert.equal(ba.received, 10, ba.text);
    t.diagnostic(`ping A->B avg ${ab.avg} ms, B->A avg ${ba.avg} ms`);
    const c = vxCounters();
    assert.ok(c.rx_frames >= 20 && c.tx_frames >= 20, JSON.stringify(c));
    assert.ok(c.tx_unicast >= 18, `unicast to the learned VTEP: ${JSON.stringify(c)}`);
    assert.ok(c.fdb_learned >= 1);
    for (const k of ['tx_too_big', 'tx_errors', 'rx_wrong_vni', 'rx_bad_flags', 'rx_short', 'rx_too_big', 'rx_socket_drops']) assert.equal(c[k], 0, k);
  });

  test('the underlay carries standard VXLAN: tshark decodes VNI 42, source ports from the flow hash', { timeout: 60_000 }, async () => {
    const file = join(dir, 'underlay.pcap');
    const dump = start(topo.b, 'tcpdump', ['-i', 'vxlub', '-n', '-Z', 'root', '--immediate-mode', '-U', '-w', file, 'udp port 4789']);
    await output(dump, /listening on/);
    const p = topo.ping(topo.ca, CB_IP, 5);
    assert.equal(p.received, 5, p.text);
    await new Promise((r) => setTimeout(r, 300));
    dump.kill('SIGINT');
    await exited(dump);
    const r = spawnSync('tshark', ['-r', file, '-d', 'udp.port==4789,vxlan', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=f',
      '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.srcport', '-e', 'vxlan.vni', '-e', 'udp.checksum', '-e', 'icmp.type'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('|'));
    const fromA = rows.filter((x) => x[0] === A_IP), fromB = rows.filter((x) => x[0] === B_IP);
    assert.ok(fromA.length >= 5 && fromB.length >= 5, `${r.stdout} ${r.stderr} (${statSync(file).size} bytes captured)`);
    for (const x of rows) assert.equal(x[3], '42', `VNI: ${x.join(' ')}`);
    for (const x of fromA) {
      assert.equal(x[1], B_IP);
      assert.ok(Number(x[2]) >= 49152, `source port from the flow hash: ${x[2]}`);
      assert.equal(x[4], '0x0000', 'UDP checksum 0');
    }
    assert.ok(fromA.some((x) => x[5] === '8') && fromB.some((x) => x[5] === '0'), `echo requests from A, replies from B: ${r.stdout}`);
  });

  test('iperf3 TCP both ways through the overlay', { timeout: 90_000 }, async (t) => {
    const ab = await iperf(topo.ca, topo.cb, CB_IP, 5301);
    const ba = await iperf(topo.cb, topo.ca, CA_IP, 5302);
    assert.ok(ab.bytes > 1e6 && ba.bytes > 1e6, `${ab.bytes} ${ba.bytes}`);
    t.diagnostic(`iperf3 TCP A->B ${(ab.bps / 1e6).toFixed(0)} Mbit/s, B->A ${(ba.bps / 1e6).toFixed(0)} Mbit/s (container tx checksum offload off)`);
    assert.equal(vxCounters().tx_too_big, 0, 'TCP segments fit the overlay MTU');
  });

  test('wrong VNI, bad flags, short, empty and too-big (fragmented) datagrams: counted by cause, never delivered', { timeout: 30_000 }, async () => {
    const before = vxCounters(), into = portCounters('vx0').tx_packets;
    topo.run(topo.b, process.execPath, ['-e', BAD_SENDER]);
    let c = vxCounters();
    for (let i = 0; i < 50 && c.rx_too_big - before.rx_too_big < 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      c = vxCounters();
    }
    assert.equal(c.rx_wrong_vni - before.rx_wrong_vni, 2, JSON.stringify(c));
    assert.equal(c.rx_short - before.rx_short, 3, 'a 4-byte datagram, an empty one, and one whose inner frame is under 14 bytes');
    assert.equal(c.rx_bad_flags - before.rx_bad_flags, 1);
    assert.equal(c.rx_too_big - before.rx_too_big, 1, 'the 3008-byte datagram, sent in two fragments');
    assert.equal(c.rx_frames, before.rx_frames, 'none delivered');
    assert.equal(portCounters('vx0').tx_packets, into, 'nothing reached the switch');
    // the port still works
    assert.equal(topo.ping(topo.ca, CB_IP, 3).received, 3);
  });

  test('inner frames too big for the underlay MTU are dropped and counted', { timeout: 30_000 }, () => {
    topo.run(topo.ca, 'ip', ['link', 'set', 'vxlca0', 'mtu', '1500']);
    topo.run(topo.a, 'ip', ['link', 'set', 'vxlca1', 'mtu', '1500']);
    try {
      const before = vxCounters().tx_too_big;
      const p = topo.ping(topo.ca, CB_IP, 3, ['-s', '1472', '-M', 'do']); // a 1514-byte frame: over 1500 - 36
      assert.equal(p.received, 0, p.text);
      assert.equal(vxCounters().tx_too_big - before, 3);
      assert.equal(topo.ping(topo.ca, CB_IP, 3, ['-s', '1422', '-M', 'do']).received, 3, 'a 1464-byte frame fits');
    } finally {
      topo.run(topo.ca, 'ip', ['link', 'set', 'vxlca0', 'mtu', '1450']);
      topo.run(topo.a, 'ip', ['link', 'set', 'vxlca1', 'mtu', '1450']);
    }
  });

  test('-r refuses while attached; -d then -r removes the port', { timeout: 30_000 }, () => {
    const busy = nmts('vale-ctl', '-r', 'vx0');
    assert.equal(busy.status, 1);
    assert.match(busy.stderr, /failed to remove vx0: Device or resource busy/);
    const d = nmts('vale-ctl', '-d', `${SW}:vx0`);
    assert.equal(d.status, 0, d.stderr);
    const r = nmts('vale-ctl', '-r', 'vx0');
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!nmts('vale-ctl', '-v').stdout.includes('vx0 vxlan'));
    const again = nmts('vale-ctl', '-r', 'vx0');
    assert.equal(again.status, 1);
  });
});
