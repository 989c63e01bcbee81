// nmts bridge: both directions, zero-copy when the ports share a region (proven by buffer
// indices), copies between regions (two switches), -L loops, chains stay whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bridge } from '../src/apps/bridge/bridge.js';
import { NS_MOREFRAG, open, type Port } from '../src/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const id = process.pid;

/** Put `n` frames (byte pattern i) into port's tx ring 0 and sync; returns their buffer indices. */
function send(p: Port, n: number, len = 60, dst = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]): number[] {
  const r = p.txRings[0];
  const idx: number[] = [];
  let h = r.head;
  for (let i = 0; i < n; i++) {
    const o = r.buf(h);
    p.u8.fill(i & 0xff, o, o + len);
    p.u8.set(dst, o);
    p.u8.set([2, 0, 0, 0, 0, 0x11], o + 6);
    r.setLen(h, len);
    r.setSlotFlags(h, 0);
    idx.push(r.bufIdx(h));
    h = r.next(h);
  }
  r.advance(h);
  p.txsync();
  return idx;
}

/** Drain port's rx rings: [len, first payload byte, buf_idx, flags] per slot. */
function drain(p: Port): Array<[number, number, number, number]> {
  p.rxsync();
  const out: Array<[number, number, number, number]> = [];
  for (const r of p.rxRings) {
    for (let i = r.head; i !== r.tail; i = r.next(i)) out.push([r.len(i), p.u8[r.buf(i) + 20], r.bufIdx(i), r.slotFlags(i)]);
    r.advance(r.tail);
  }
  p.rxsync();
  return out;
}

test('pipes of one parent: both directions, zero-copy (the very buffers arrive)', async () => {
  const outA = open(`brz${id}{1`), outB = open(`brz${id}{2`);
  const sentA = send(outA, 300), sentB = send(outB, 200);
  const r = await bridge({ a: `brz${id}}1`, b: `brz${id}}2`, maxPackets: 500 }, () => {});
  assert.equal(r.zerocopy, true);
  assert.deepEqual([r.aToB, r.bToA], [300, 200]);
  const atB = drain(outB), atA = drain(outA);
  assert.equal(atB.length, 300);
  assert.equal(atA.length, 200);
  assert.deepEqual(atB.map((x) => x[2]), sentA, 'B received the buffers A sent: nothing was copied');
  assert.deepEqual(atA.map((x) => x[2]), sentB);
  assert.deepEqual(atB.map((x) => x[1]), sentA.map((_, i) => i & 0xff));
  outA.close();
  outB.close();
});

test('two switches: frames are copied across regions, bytes intact', async () => {
  const s = open(`valebra${id}:s`), rcv = open(`valebrb${id}:r`);
  const lines: string[] = [];
  // the bridge opens its ports in the call, before its first await: start it, then send
  // (a switch floods only to ports that exist)
  const running = bridge({ a: `valebra${id}:x`, b: `valebrb${id}:y`, maxPackets: 500 }, (l) => lines.push(l));
  const sent = send(s, 500, 1514);
  const r = await running;
  assert.equal(r.zerocopy, false);
  assert.match(lines[0], /^------- zerocopy NOT supported$/);
  assert.equal(r.aToB, 500);
  const got = drain(rcv);
  assert.equal(got.length, 500);
  assert.deepEqual(got.map((x) => x[0]), sent.map(() => 1514));
  assert.deepEqual(got.map((x) => x[1]), sent.map((_, i) => i & 0xff));
  s.close();
  rcv.close();
});

test('-L sends a port\'s traffic back out on it; -c copies even within a region', async () => {
  const peer = open(`brl${id}{1`);
  const sent = send(peer, 100);
  const r = await bridge({ a: `brl${id}}1`, loop: true, copy: true, maxPackets: 100 }, () => {});
  assert.equal(r.zerocopy, false);
  assert.equal(r.aToB, 100);
  const back = drain(peer);
  assert.equal(back.length, 100);
  assert.notDeepEqual(back.map((x) => x[2]), sent, 'copied: other buffers');
  assert.deepEqual(back.map((x) => x[1]), sent.map((_, i) => i & 0xff));
  peer.close();
});

test('a NS_MOREFRAG chain crosses the bridge whole', async () => {
  const outA = open(`brf${id}{1`), outB = open(`brf${id}{2`);
  const t = outA.txRings[0];
  let h = t.head;
  for (let f = 0; f < 3; f++) {
    outA.u8.fill(f, t.buf(h), t.buf(h) + 100);
    t.setLen(h, 100);
    t.setSlotFlags(h, f < 2 ? NS_MOREFRAG : 0);
    h = t.next(h);
  }
  t.advance(h);
  outA.txsync();
  await bridge({ a: `brf${id}}1`, b: `brf${id}}2`, maxPackets: 3 }, () => {});
  const got = drain(outB);
  assert.deepEqual(got.map((x) => x[3] & NS_MOREFRAG), [NS_MOREFRAG, NS_MOREFRAG, 0]);
  outA.close();
  outB.close();
});

test('command line: errors and help', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, ['bin/nmts.js', 'bridge', ...args], { cwd: root, encoding: 'utf8', timeout: 20_000 });
  const one = run('-i', `valebr1${id}:a`);
  assert.equal(one.status, 1);
  assert.match(one.stderr, /host stack .*-L/);
  const bad = run('-i', 'a{1', '-i', 'a{2', '-b', '0');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /invalid -b '0'/);
  assert.equal(run('-Q').status, 2);
  const help = run('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /zero-copy/);
});
