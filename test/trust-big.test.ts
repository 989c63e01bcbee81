// Regions over 2 GiB (NMTS_MEMORY allows up to 4095m): byte offsets of buffers above 2^31 must
// never go through a signed shift. Pipes, VALE (copies and MAC learning) and replay move frames
// held in the last buffers of a 3 GiB region (a sparse file: only touched pages cost memory),
// checked byte for byte.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NS_BUF_CHANGED, open, type Port, type Ring } from '../src/index.js';
import { PcapWriter } from '../src/packet/pcap.js';
import { defaultReplayOptions, replay } from '../src/apps/replay/replay.js';
import { drain, mac, prng } from './fixtures/vale-helpers.js';

process.env.NMTS_MEMORY = '3g'; // read by the first open of each region
const id = process.pid % 100000;
const dir = mkdtempSync(join(tmpdir(), 'nmts-big-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const TWO_GIB = 2 ** 31;

/** Give every slot of `r` a buffer from the top of the region (test-only: slots the port owns). */
function highBuffers(p: Port, r: Ring, base: number): void {
  const u32 = p.region.u32;
  for (let i = 0; i < r.numSlots; i++) {
    u32[r.slots + 4 * i] = p.region.nbufs - 1 - base - i;
    assert.ok(r.buf(i) > TWO_GIB, 'buffer above 2 GiB');
  }
}

/** A frame of `len` bytes from `src` to `dst`, pseudo-random payload from `seed`. */
function frame(dst: Uint8Array, src: Uint8Array, seed: number, len: number): Uint8Array {
  const f = new Uint8Array(len), rnd = prng(seed);
  f.set(dst, 0); f.set(src, 6); f[12] = 0x08; f[13] = 0;
  for (let i = 14; i < len; i++) f[i] = rnd();
  return f;
}

function send(p: Port, frames: Uint8Array[]): void {
  const t = p.txRings[0];
  for (const f of frames) {
    const h = t.head;
    p.u8.set(f, t.buf(h));
    t.setLen(h, f.length);
    t.setSlotFlags(h, NS_BUF_CHANGED);
    t.advance(t.next(h));
  }
  p.txsync();
}

const LENS = [60, 64, 200, 256, 257, 1000, 1514, 2048];

test('the region is over 2 GiB', () => {
  const p = open(`bigq${id}{1`);
  try { assert.ok(p.region.size > 3 * 2 ** 30 - 1, `region of ${p.region.size} bytes`); } finally { p.close(); }
});

test('pipe: frames in buffers above 2 GiB arrive byte for byte', () => {
  const m = open(`bigp${id}{1`), s = open(`bigp${id}}1`);
  try {
    highBuffers(m, m.txRings[0], 0);
    const frames = LENS.map((len, i) => frame(mac(2), mac(1), i + 1, len));
    send(m, frames);
    const got = drain(s);
    assert.equal(got.length, frames.length);
    got.forEach((g, i) => assert.deepEqual(g.data, frames[i], `frame ${i} (${frames[i].length} bytes)`));
  } finally {
    s.close(); m.close();
  }
});

test('VALE: copies between buffers above 2 GiB are exact, and MAC learning reads the right bytes', () => {
  const sw = `valeBig${id}`;
  const a = open(`${sw}:a`), b = open(`${sw}:b`), c = open(`${sw}:c`);
  const A = mac(0xa1), B = mac(0xb2);
  try {
    highBuffers(a, a.txRings[0], 0);
    highBuffers(b, b.txRings[0], 2000);
    // receive rings start empty (every slot the switch's): give them high buffers too
    highBuffers(b, b.rxRings[0], 4000);
    highBuffers(c, c.rxRings[0], 6000);
    highBuffers(a, a.rxRings[0], 8000);
    // a floods (unknown destination): b and c get exact copies; A is learned on a
    const frames = LENS.map((len, i) => frame(B, A, 100 + i, len));
    send(a, frames);
    for (const p of [b, c]) {
      const got = drain(p);
      assert.equal(got.length, frames.length, `${p.name} got every frame`);
      got.forEach((g, i) => assert.deepEqual(g.data, frames[i], `${p.name} frame ${i} (${frames[i].length} bytes)`));
    }
    // b answers A: learned, so only a receives it; B is learned on b
    const reply = frame(A, B, 7, 300);
    send(b, [reply]);
    assert.deepEqual(drain(a).map((g) => g.data), [reply]);
    assert.equal(drain(c).length, 0, 'unicast to a learned MAC is not flooded');
    // a to B now goes to b only
    const f2 = frame(B, A, 8, 128);
    send(a, [f2]);
    assert.deepEqual(drain(b).map((g) => g.data), [f2]);
    assert.equal(drain(c).length, 0);
  } finally {
    for (const p of [a, b, c]) p.close();
  }
});

for (const preload of [false, true]) {
  test(`replay${preload ? ' -K' : ''}: frames written into buffers above 2 GiB arrive byte for byte`, { timeout: 30_000 }, async () => {
    const name = `bigr${id}${preload ? 'k' : ''}`;
    const frames = LENS.map((len, i) => frame(mac(2), mac(1), 200 + i, len));
    const w = new PcapWriter({ snapLen: 65535 });
    const parts: Uint8Array[] = [w.header()];
    frames.forEach((f, i) => parts.push(w.record(f, 0, f.length, 1_700_000_000, i)));
    const file = join(dir, `${name}.pcap`);
    writeFileSync(file, Buffer.concat(parts));
    // hold the sending end with its tx slots on high buffers; replay opens it again
    const m = open(`${name}{1`), s = open(`${name}}1`);
    try {
      highBuffers(m, m.txRings[0], 0);
      await replay({ ...defaultReplayOptions(), intf: `${name}{1`, files: [file], speed: 'topspeed', preload, quiet: true, progressSec: 0 },
        { out: () => {}, err: () => {} });
      const got = drain(s);
      assert.equal(got.length, frames.length);
      got.forEach((g, i) => assert.deepEqual(g.data, frames[i], `frame ${i} (${frames[i].length} bytes)`));
    } finally {
      s.close(); m.close();
    }
  });
}
