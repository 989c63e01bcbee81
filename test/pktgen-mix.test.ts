// pkt-gen beyond netmap's: size mixes (-l imix, -l len:weight,...), VLAN tags (--vlan ID and
// QinQ --vlan OUTER,INNER) and IPv6 (an IPv6 -d selects -6; ping/pong over IPv6). Frames go
// through a pipe (back-pressure: none lost) into `capture -w`; tshark decodes the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capture } from '../src/apps/capture/capture.js';
import { pktGen } from '../src/apps/pkt-gen/run.js';
import { parsePktGenArgs, PktGenUsageError } from '../src/apps/pkt-gen/options.js';
import { buildFrame, sizeSchedule } from '../src/apps/pkt-gen/frame.js';
import { swapForPong } from '../src/packet/frame-builder.js';
import { needs } from './fixtures/requires.js';

const skip = needs(['tshark'], 'tshark decodes the frames');
const id = process.pid;
let n = 0;
const dir = mkdtempSync(join(tmpdir(), 'nmts-pktgen-mix-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Run pkt-gen -f tx with `args` on a pipe and capture `count` frames at its other end; returns the file. */
async function sendAndCapture(args: string[], count: number): Promise<string> {
  const pipe = `mix${id}n${n++}`;
  const file = join(dir, `${pipe}.pcap`);
  let ready!: () => void;
  const opened = new Promise<void>((r) => { ready = r; });
  const cap = capture({ port: `${pipe}}1`, file, count }, { err: () => {}, onReady: () => ready() });
  await opened;
  const tx = await pktGen(parsePktGenArgs(['-i', `${pipe}{1`, '-f', 'tx', '-n', String(count), ...args]), { out: () => {}, err: () => {} });
  assert.equal(tx.packets, count);
  const r = await cap;
  assert.equal(r.captured, count);
  return file;
}

/** tshark's fields, one array per frame. */
function tshark(file: string, fields: string[]): string[][] {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=/t', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trimEnd().split('\n').map((l) => l.split('\t'));
}

test('size schedule: a cycle holds each length weight times, interleaved; prefixes stay within weight', () => {
  const mix: Array<[number, number]> = [[64, 7], [570, 4], [1518, 1]];
  const s = sizeSchedule(mix);
  assert.equal(s.length, 12);
  for (const [l, w] of mix) assert.equal(s.filter((x) => x === l).length, w);
  assert.notDeepEqual([...s.slice(0, 7)], [64, 64, 64, 64, 64, 64, 64], 'interleaved, not in runs');
  for (let N = 1; N <= 100; N++) {
    for (const [l, w] of mix) {
      let c = 0;
      for (let k = 0; k < N; k++) if (s[k % s.length] === l) c++;
      assert.ok(Math.abs(c - (N * w) / 12) <= w, `${l} after ${N}: ${c}`);
    }
  }
});

test('grammar: -l imix / len:weight, --vlan, an IPv6 -d selects -6, combinations refused', () => {
  assert.deepEqual(parsePktGenArgs(['-i', 'p', '-l', 'imix']).sizeMix, [[64, 7], [570, 4], [1518, 1]]);
  const o = parsePktGenArgs(['-i', 'p', '-l', '100:1,200:3']);
  assert.deepEqual(o.sizeMix, [[100, 1], [200, 3]]);
  assert.equal(o.frameLen, 200);
  assert.deepEqual(parsePktGenArgs(['-i', 'p', '--vlan', '100']).vlan, [100]);
  assert.deepEqual(parsePktGenArgs(['-i', 'p', '--vlan=10,20']).vlan, [10, 20]);
  assert.equal(parsePktGenArgs(['-i', 'p', '-d', 'fd00::2']).family, 6);
  assert.equal(parsePktGenArgs(['-i', 'p', '-d', '[fd00::9]:99']).family, 6);
  assert.equal(parsePktGenArgs(['-i', 'p', '-d', '10.0.0.9:99']).family, 4);
  assert.equal(parsePktGenArgs(['-i', 'p', '-d', '10.0.0.1:1000-10.0.0.9:1099']).family, 4);
  assert.equal(parsePktGenArgs(['-i', 'p', '-d', 'fd00::1-fd00::9']).family, 6);
  assert.equal(parsePktGenArgs(['-i', 'p', '-6']).frameLen, 78, 'IPv6 default length: headers + 16');
  assert.equal(parsePktGenArgs(['-i', 'p', '--vlan', '1,2']).frameLen, 66);
  for (const argv of [['-l', 'imix', '-l', '60'], ['-l', '60', '-l', 'imix'], ['-l', '10:1'], ['-l', '64:0'], ['-l', 'mix:1'],
    ['--vlan', '4096'], ['--vlan', '1,2,3'], ['--vlan', 'x'], ['-l', 'imix', '-f', 'ping'], ['-l', 'imix', '-F', '2'],
    ['--vlan', '5', '-P', 'x.pcap'], ['-4', '-d', 'fd00::2']]) {
    assert.throws(() => parsePktGenArgs(['-i', 'p', ...argv]), PktGenUsageError, argv.join(' '));
  }
});

test('pong swaps IPv6 addresses and ports behind two VLAN tags', () => {
  const b = buildFrame(parsePktGenArgs(['-i', 'p', '-s', '[fd00::1]:1000', '-d', '[fd00::2]:2000', '--vlan', '7,8']));
  assert.equal(b.tagLen, 8);
  const f = b.frame;
  assert.equal(swapForPong(f, 0, b.frameLen), true);
  const ip = 14 + 8;
  assert.deepEqual([...f.subarray(ip + 8, ip + 24)], [0xfd, ...Array(14).fill(0), 2], 'source is the old destination');
  assert.deepEqual([...f.subarray(ip + 24, ip + 40)], [0xfd, ...Array(14).fill(0), 1]);
  assert.deepEqual([f[ip + 40]! << 8 | f[ip + 41]!, f[ip + 42]! << 8 | f[ip + 43]!], [2000, 1000]);
});

test('-l imix: tshark\'s frame lengths match the 7:4:1 weights (within each weight, by construction)', { skip }, async () => {
  const N = 1000;
  const file = await sendAndCapture(['-l', 'imix'], N);
  const lens = tshark(file, ['frame.len']).map((r) => Number(r[0]));
  assert.equal(lens.length, N);
  for (const [l, w] of [[64, 7], [570, 4], [1518, 1]] as const) {
    const c = lens.filter((x) => x === l).length;
    assert.ok(Math.abs(c - (N * w) / 12) <= w, `${c} frames of ${l} bytes, ${(N * w / 12).toFixed(1)} expected`);
  }
  assert.equal(lens.filter((x) => x !== 64 && x !== 570 && x !== 1518).length, 0);
  const file2 = await sendAndCapture(['-l', '100:1,300:3'], 400);
  const l2 = tshark(file2, ['frame.len', 'udp.length']).map((r) => r.map(Number));
  assert.equal(l2.filter(([f]) => f === 300).length, 300);
  assert.ok(l2.every(([f, u]) => u === f! - 34), 'UDP length follows every frame length');
});

test('--vlan 100 and QinQ --vlan 10,20: tshark decodes the tags, the IPv4 and UDP inside', { skip }, async () => {
  const one = tshark(await sendAndCapture(['--vlan', '100', '-d', '10.1.0.7:5000'], 50),
    ['eth.type', 'vlan.id', 'vlan.etype', 'ip.dst', 'udp.dstport', 'frame.len']);
  assert.equal(one.length, 50);
  // default length: 60, or headers + 16 bytes when longer (42 + 4 + 16 = 62)
  for (const r of one) assert.deepEqual(r, ['0x8100', '100', '0x0800', '10.1.0.7', '5000', '62']);
  const two = tshark(await sendAndCapture(['--vlan', '10,20', '-s', '10.0.0.3', '-l', '80'], 50),
    ['eth.type', 'ieee8021ad.id', 'vlan.id', 'vlan.etype', 'ip.src', 'udp.srcport', 'frame.len']);
  assert.equal(two.length, 50);
  // tshark: the 802.1ad S-tag carries 10, the 802.1Q tag inside it 20, then IPv4
  for (const r of two) assert.deepEqual(r, ['0x88a8', '10', '20', '0x0800', '10.0.0.3', '1234', '80']);
});

test('an IPv6 -d sends IPv6 UDP (tshark: addresses, ports, checksum good)', { skip }, async () => {
  const rows = tshark(await sendAndCapture(['-d', '[fd00::2:5]:7777', '-s', '[fd00::9]:1111', '--vlan', '3'], 20),
    ['vlan.id', 'ipv6.src', 'ipv6.dst', 'udp.srcport', 'udp.dstport', 'frame.len']);
  for (const r of rows) assert.deepEqual(r, ['3', 'fd00::9', 'fd00::2:5', '1111', '7777', '82']);
  const cs = spawnSync('tshark', ['-r', join(dir, `mix${id}n${n - 1}.pcap`), '-o', 'udp.check_checksum:TRUE', '-T', 'fields', '-e', 'udp.checksum.status'], { encoding: 'utf8' });
  assert.deepEqual([...new Set(cs.stdout.trim().split('\n'))], ['1'], 'tshark: every UDP checksum good (1)');
});

test('IPv6 ping/pong with a VLAN tag through VALE: every ping answered', async () => {
  const sw = `valemix${id}`;
  const out: string[] = [];
  const ac = new AbortController();
  let up!: () => void;
  const working = new Promise<void>((r) => { up = r; });
  const pong = pktGen(parsePktGenArgs(['-i', `${sw}:b`, '-f', 'pong', '-6', '--vlan', '9']),
    { out: (l) => { if (l.startsWith('Working on')) up(); }, err: () => {}, signal: ac.signal });
  await working; // its port is open: nothing sent to it from now on is missed
  const ping = await pktGen(parsePktGenArgs(['-i', `${sw}:a`, '-f', 'ping', '-6', '--vlan', '9', '-n', '20']), { out: (l) => out.push(l), err: () => {} });
  ac.abort();
  const p = await pong;
  assert.equal(ping.packets, 20, out.join('\n'));
  assert.equal(ping.lost, 0);
  assert.equal(p.packets, 20);
  assert.ok(ping.rttMinNs! > 0);
  assert.equal(out[0], `Working on ${sw}:a: 1 queues, 1 threads and 1 cpus.`);
  assert.ok(out.some((l) => /RTT/.test(l)), out.join('\n'));
});
