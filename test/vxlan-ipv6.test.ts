// VXLAN over an IPv6 underlay, interop with Linux (issue 13): host A runs netmap-ts
// (`vale-ctl -n vx0 --vxlan vni=42,local=fd00::1,remote=fd00::2`, a VALE switch with a
// veth-attached container), host B is plain Linux (`ip link add vxlan42 type vxlan id 42 local
// fd00::2 remote fd00::1 dstport 4789`, a bridge, a container): fixtures/vxlan-topology.ts with
// underlay6. The containers ping each other and run iperf3 TCP both ways (the Linux side checks
// every outer UDP checksum, which IPv6 makes mandatory); tcpdump on the underlay shows IPv6/UDP
// VXLAN that tshark decodes, with good UDP checksums; frames over 1500 - 56 bytes are dropped and
// counted. Namespaces start with vxo.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needs } from './fixtures/requires.js';
import { A_IP6, B_IP6, CA_IP, CB_IP, VxlanTopology } from './fixtures/vxlan-topology.js';

const skip = needs(['root', 'ip', 'ping', 'iperf3', 'tcpdump', 'tshark', 'ethtool'], 'network namespaces, veth pairs, a Linux vxlan device over IPv6');
const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const topo = new VxlanTopology({ prefix: 'vxo6', underlay6: true });
const dir = mkdtempSync(join(tmpdir(), 'nmts-vxo6-'));
const env = { ...process.env, NMTS_SHM_DIR: dir, NMTS_SOCKET: join(dir, 'nmts.sock'), NMTS_DAEMON_AUTOSTART: '0' };
const SW = `valev${process.pid % 100000}`;
const children: ChildProcess[] = [];

function nmts(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', topo.a, process.execPath, NMTS, ...args], { encoding: 'utf8', env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function vx(): Record<string, number> {
  const r = nmts('vale-ctl', '-v');
  assert.equal(r.status, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => l.startsWith('vx0 vxlan '));
  assert.ok(line, `vale-ctl -v lists vx0: ${r.stdout}`);
  const w = line.split(' '), out: Record<string, number> = {};
  for (let i = 0; i < w.length - 1; i++) if (/^(tx|rx|fdb)_/.test(w[i])) out[w[i]] = Number(w[i + 1]);
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

async function iperf(from: string, server: string, dst: string, p: number): Promise<{ bps: number; bytes: number }> {
  const s = start(server, 'iperf3', ['-s', '-1', '--forceflush', '-p', String(p)]);
  await output(s, /Server listening/);
  const r = spawnSync('ip', ['netns', 'exec', from, 'iperf3', '-c', dst, '-p', String(p), '-t', '3', '-J'], { encoding: 'utf8', timeout: 30_000 });
  await exited(s);
  assert.equal(r.status, 0, r.stdout.slice(-2000) + r.stderr);
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number; bytes: number } } };
  return { bps: j.end.sum_received.bits_per_second, bytes: j.end.sum_received.bytes };
}

describe('VXLAN over IPv6: a netmap-ts host and a Linux host (local fd00::1, remote fd00::2)', { skip }, () => {
  before(async () => {
    topo.create();
    const daemon = start(topo.a, process.execPath, [NMTS, 'daemon', '--socket', env.NMTS_SOCKET]);
    await output(daemon, /started: socket/);
    const n = nmts('vale-ctl', '-n', 'vx0', '--vxlan', `vni=42,local=${A_IP6},remote=${B_IP6},dev=vxlua`);
    assert.equal(n.status, 0, n.stderr);
    const a1 = nmts('vale-ctl', '-a', `${SW}:vxlca1`);
    assert.equal(a1.status, 0, a1.stderr);
    const a2 = nmts('vale-ctl', '-a', `${SW}:vx0`);
    assert.equal(a2.status, 0, a2.stderr);
    assert.match(a2.stderr, /vx0: the underlay vxlua has MTU 1500: inner frames over 1444 bytes are dropped .*set MTU 1430 on the overlay's hosts, or MTU 1570 on the underlay/);
  });
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    topo.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('ping both ways; the port lists its IPv6 config and learns container B behind fd00::2', { timeout: 60_000 }, (t) => {
    const ab = topo.ping(topo.ca, CB_IP, 10);
    assert.equal(ab.received, 10, ab.text);
    const ba = topo.ping(topo.cb, CA_IP, 10);
    assert.equal(ba.received, 10, ba.text);
    t.diagnostic(`ping A->B avg ${ab.avg} ms, B->A avg ${ba.avg} ms`);
    assert.match(nmts('vale-ctl', '-v').stdout, /^vx0 vxlan vni=42,local=fd00::1,remote=fd00::2,dev=vxlua,port=4789,.* open /m);
    const c = vx();
    assert.ok(c.rx_frames >= 20 && c.tx_unicast >= 18, JSON.stringify(c));
    assert.ok(c.fdb_learned >= 1);
    for (const k of ['tx_too_big', 'tx_errors', 'rx_wrong_vni', 'rx_bad_flags', 'rx_short', 'rx_too_big']) assert.equal(c[k], 0, k);
  });

  test('the underlay carries IPv6/UDP VXLAN: tshark decodes VNI 42, UDP checksums good', { timeout: 60_000 }, async () => {
    const file = join(dir, 'underlay6.pcap');
    const dump = start(topo.b, 'tcpdump', ['-i', 'vxlub', '-n', '-Z', 'root', '--immediate-mode', '-U', '-w', file, 'ip6 and udp port 4789']);
    await output(dump, /listening on/);
    const p = topo.ping(topo.ca, CB_IP, 5, ['-s', '1000']);
    assert.equal(p.received, 5, p.text);
    await new Promise((r) => setTimeout(r, 300));
    dump.kill('SIGINT');
    await exited(dump);
    const r = spawnSync('tshark', ['-r', file, '-o', 'udp.check_checksum:TRUE', '-d', 'udp.port==4789,vxlan', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=f',
      '-e', 'ipv6.src', '-e', 'ipv6.dst', '-e', 'udp.srcport', '-e', 'vxlan.vni', '-e', 'udp.checksum.status', '-e', 'icmp.type', '-e', 'ipv6.hlim'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('|'));
    const fromA = rows.filter((x) => x[0] === A_IP6), fromB = rows.filter((x) => x[0] === B_IP6);
    assert.ok(fromA.length >= 5 && fromB.length >= 5, r.stdout);
    for (const x of rows) assert.equal(x[3], '42', `VNI: ${x.join(' ')}`);
    for (const x of fromA) {
      assert.equal(x[1], B_IP6);
      assert.ok(Number(x[2]) >= 49152, `source port from the flow hash: ${x[2]}`);
      assert.equal(x[4], '1', `our UDP checksum verified good: ${x.join(' ')}`);
      assert.equal(x[6], '64', 'hop limit (ttl=)');
    }
    assert.ok(fromA.some((x) => x[5] === '8') && fromB.some((x) => x[5] === '0'), `echo requests from A, replies from B: ${r.stdout}`);
  });

  test('iperf3 TCP both ways over the IPv6 underlay', { timeout: 90_000 }, async (t) => {
    const ab = await iperf(topo.ca, topo.cb, CB_IP, 5321);
    const ba = await iperf(topo.cb, topo.ca, CA_IP, 5322);
    assert.ok(ab.bytes > 1e6 && ba.bytes > 1e6, `${ab.bytes} ${ba.bytes}`);
    t.diagnostic(`iperf3 TCP A->B ${(ab.bps / 1e6).toFixed(0)} Mbit/s, B->A ${(ba.bps / 1e6).toFixed(0)} Mbit/s (IPv6 underlay)`);
    assert.equal(vx().tx_too_big, 0, 'TCP segments fit the overlay MTU (1430)');
  });

  test('container A with its offloads on: super-frames leave with UDP GSO over IPv6, TCP both ways', { timeout: 90_000 }, async (t) => {
    // the attachment chooses the header by the interface's offloads: attach it again with them on
    topo.run(topo.ca, 'ethtool', ['-K', 'vxlca0', 'tx', 'on', 'tso', 'on', 'gso', 'on']);
    assert.equal(nmts('vale-ctl', '-d', `${SW}:vxlca1`).status, 0);
    const a = nmts('vale-ctl', '-v', '-a', `${SW}:vxlca1`);
    assert.equal(a.status, 0, a.stderr);
    try {
      const before = vx();
      const ab = await iperf(topo.ca, topo.cb, CB_IP, 5323);
      const ba = await iperf(topo.cb, topo.ca, CA_IP, 5324);
      assert.ok(ab.bytes > 1e6 && ba.bytes > 1e6, `${ab.bytes} ${ba.bytes}`);
      const c = vx();
      t.diagnostic(`iperf3 TCP A->B ${(ab.bps / 1e6).toFixed(0)} Mbit/s, B->A ${(ba.bps / 1e6).toFixed(0)} Mbit/s; ${c.tx_gso_sends - before.tx_gso_sends} UDP GSO sends, ${c.rx_merged - before.rx_merged} super-frames merged`);
      assert.ok(c.tx_gso_sends > before.tx_gso_sends, `UDP GSO over IPv6: ${JSON.stringify(c)}`);
      for (const k of ['tx_too_big', 'tx_errors', 'tx_bad_vnet']) assert.equal(c[k] - before[k], 0, `${k}: ${JSON.stringify(c)}`);
    } finally {
      topo.run(topo.ca, 'ethtool', ['-K', 'vxlca0', 'tx', 'off']);
      nmts('vale-ctl', '-d', `${SW}:vxlca1`);
      assert.equal(nmts('vale-ctl', '-a', `${SW}:vxlca1`).status, 0);
    }
  });

  test('inner frames over 1444 bytes (MTU 1500 less 56) are dropped and counted', { timeout: 30_000 }, () => {
    topo.run(topo.ca, 'ip', ['link', 'set', 'vxlca0', 'mtu', '1500']);
    topo.run(topo.a, 'ip', ['link', 'set', 'vxlca1', 'mtu', '1500']);
    try {
      const before = vx().tx_too_big;
      const p = topo.ping(topo.ca, CB_IP, 3, ['-s', '1410', '-M', 'do']); // a 1452-byte frame
      assert.equal(p.received, 0, p.text);
      assert.equal(vx().tx_too_big - before, 3);
      assert.equal(topo.ping(topo.ca, CB_IP, 3, ['-s', '1402', '-M', 'do']).received, 3, 'a 1444-byte frame fits');
    } finally {
      topo.run(topo.ca, 'ip', ['link', 'set', 'vxlca0', 'mtu', topo.mtu]);
      topo.run(topo.a, 'ip', ['link', 'set', 'vxlca1', 'mtu', topo.mtu]);
    }
  });
});
