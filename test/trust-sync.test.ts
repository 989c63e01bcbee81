// The data path trusts nothing it reads from shared memory (issue #9): a destination ring
// damaged by its receiver costs only that receiver its frames, monitors see only what passed
// the sync checks, zero-copy monitors count packets, and futexWaitAsync tells a timeout from a
// wake-up without reading errno on the wrong thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import koffi from 'koffi';
import { NetmapError, NS_MOREFRAG, open, type Port } from '../src/index.js';
import { PR, RH, RR } from '../src/core/layout.js';
import { futexWaitAsync } from '../src/sys/libc.js';
import { deliverSlots } from '../src/core/deliver.js';
import { BROADCAST, drain, mac, putRaw } from './fixtures/vale-helpers.js';

const A = mac(0xa), B = mac(0xb);
const id = process.pid % 100000;

function frame(dst: Uint8Array, src: Uint8Array, tag: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0); f.set(src, 6); f[12] = 0x08;
  for (let i = 14; i < len; i++) f[i] = (tag * 7 + i) & 0xff;
  return f;
}

/** Switch `sw` with ports a (sender), b (to be damaged), c (healthy); returns them. */
function three(sw: string): [Port, Port, Port] {
  return [open(`${sw}:a`), open(`${sw}:b`), open(`${sw}:c`)];
}

const u32 = (p: Port): Uint32Array => p.region.u32;
const rxRing = (p: Port): number => p.rxRings[0].ofs;

/** Broadcast `n` frames from a; c must get all of them intact, a must not throw. */
function floodAndCheck(a: Port, c: Port, n: number, tag0: number): void {
  const sent: Uint8Array[] = [];
  for (let i = 0; i < n; i++) { const f = frame(BROADCAST, A, tag0 + i); sent.push(f); putRaw(a, f); }
  a.txsync(); // the receiver's damage must not surface here
  const got = drain(c);
  assert.equal(got.length, n, 'the healthy destination gets every frame');
  got.forEach((g, i) => assert.deepEqual(g.data, sent[i], `frame ${i} intact`));
}

/** Copy b's port record and rx ring (record and slots); the returned function writes them back. */
function snapshot(b: Port): () => void {
  const saved = new Uint32Array(u32(b).slice(b.rec >> 2, (b.rec >> 2) + 128));
  const savedRing = new Uint32Array(u32(b).slice(rxRing(b) >> 2, (rxRing(b) >> 2) + 64 + 4 * b.rxRings[0].numSlots));
  return () => {
    u32(b).set(saved, b.rec >> 2);
    u32(b).set(savedRing, rxRing(b) >> 2);
  };
}

const damages: Array<[string, (b: Port) => void]> = [
  ['prod beyond num_slots', (b) => { u32(b)[(rxRing(b) + RR.prod) >> 2] = 99999; }],
  ['hwcur beyond num_slots', (b) => { u32(b)[(rxRing(b) + RR.hwcur) >> 2] = 0xfffffff0; }],
  ['num_slots 0', (b) => { u32(b)[(rxRing(b) + RR.numSlots) >> 2] = 0; }],
  ['num_slots huge', (b) => { u32(b)[(rxRing(b) + RR.numSlots) >> 2] = 0x7fffffff; }],
  ['slot array outside the region', (b) => { u32(b)[(rxRing(b) + RR.slotsOfs) >> 2] = 0xfffff000; }],
  ['every free slot with buf_idx 0xffffffff', (b) => {
    const r = b.rxRings[0];
    for (let i = 0; i < r.numSlots; i++) u32(b)[r.slots + 4 * i] = 0xffffffff;
  }],
  // pid 1 is alive and never lets go: before the bound, the sender waited forever
  ['its rx ring lock held by a live task that never lets go', (b) => { u32(b)[(rxRing(b) + RR.lock) >> 2] = 1; }],
  ['nrx 0 in the port record', (b) => { u32(b)[(b.rec + PR.nrx) >> 2] = 0; }],
  ['rx ring offset outside the region', (b) => { u32(b)[((b.rec + PR.ringsOfs) >> 2) + u32(b)[(b.rec + PR.ntx) >> 2]] = 0xffffff00; }],
];

for (const [what, damage] of damages) {
  test(`a destination with ${what}: its frames are dropped and counted, the others unaffected, the sender unharmed`, () => {
    const sw = `valeT${id}d${damages.findIndex(([w]) => w === what)}`;
    const [a, b, c] = three(sw);
    try {
      floodAndCheck(a, c, 3, 0); // b and c learn nothing (no traffic from them), all flood
      assert.equal(drain(b).length, 3);
      const repair = snapshot(b);
      const magic = u32(a)[RH.magic >> 2];
      damage(b);
      const dropsBefore = a.stats().txDrops;
      floodAndCheck(a, c, 5, 10);
      assert.equal(a.stats().txDrops - dropsBefore, 5, 'the sender counts the 5 frames b could not take');
      assert.equal(u32(a)[RH.magic >> 2], magic, 'the region header is intact');
      repair(); // (the test plays the receiver fixing its memory): traffic to it resumes
      floodAndCheck(a, c, 2, 20);
      assert.equal(drain(b).length, 2, 'b receives again once repaired');
    } finally {
      for (const p of [a, b, c]) p.close();
    }
  });
}

// the same damages under unicast: a batch for one learned destination takes the direct path
// (deliverSlots, straight from the sender's slots), which must check the same things
for (const [what, damage] of damages) {
  test(`unicast to a destination with ${what}: its frames are dropped and counted, the sender unharmed`, () => {
    const sw = `valeT${id}u${damages.findIndex(([w]) => w === what)}`;
    const [a, b, c] = three(sw);
    try {
      putRaw(b, frame(A, B, 0)); b.txsync(); // the switch learns B at b
      drain(a); drain(c);
      const repair = snapshot(b);
      const magic = u32(a)[RH.magic >> 2];
      damage(b);
      const dropsBefore = a.stats().txDrops;
      for (let i = 0; i < 5; i++) putRaw(a, frame(B, A, 30 + i));
      a.txsync();
      assert.equal(a.stats().txDrops - dropsBefore, 5, 'the sender counts the 5 frames b could not take');
      assert.equal(u32(a)[RH.magic >> 2], magic, 'the region header is intact');
      assert.equal(drain(c).length, 0, 'nothing leaks to another port');
      repair();
      const sent = [frame(B, A, 40), frame(B, A, 41)];
      for (const f of sent) putRaw(a, f);
      a.txsync();
      assert.deepEqual(drain(b).map((g) => g.data), sent, 'b receives again once repaired');
    } finally {
      for (const p of [a, b, c]) p.close();
    }
  });
}

test('the direct delivery checks each sender slot again as it copies: a slot changed after the gather stops it there', () => {
  const sw = `valeT${id}direct`;
  const [a, b, c] = three(sw);
  try {
    const t = a.txRings[0], r = b.rxRings[0], region = a.region;
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) { const f = frame(B, A, 50 + i); sent.push(f); putRaw(a, f); }
    const ss = t.slots; // slot 0 of a's tx ring (u32 index): the four frames are slots 0..3
    // slot 2 now names a buffer outside the region, slot 3 a length over the buffer size
    const idx2 = u32(a)[ss + 8];
    u32(a)[ss + 8] = 0xfffffff0;
    const before = new Uint8Array(region.u8.slice(r.buf(r.head + 2), r.buf(r.head + 2) + 64));
    const got = deliverSlots(region, r.ofs, u32(a)[(r.ofs + RR.gen) >> 2], ss, 4, 0);
    assert.equal(got, 2, 'the two frames before the changed slot are delivered');
    assert.deepEqual(region.u8.slice(r.buf(r.head + 2), r.buf(r.head + 2) + 64), before, 'the slot after them is not written');
    assert.equal(b.stats().rxDrops, 0, "the sender's damage is not the receiver's drop");
    assert.deepEqual(drain(b).map((g) => g.data), sent.slice(0, 2));
    u32(a)[ss + 8] = idx2;
    region.u16[((ss + 12) << 1) + 2] = 4000;
    assert.equal(deliverSlots(region, r.ofs, u32(a)[(r.ofs + RR.gen) >> 2], ss + 8, 2, 0), 1, 'a len over the buffer size stops it too');
    assert.deepEqual(drain(b).map((g) => g.data), [sent[2]]);
  } finally {
    for (const p of [a, b, c]) p.close();
  }
});

test("a receiver's own rxsync rejects a prod outside its free space, naming the port and field", () => {
  const sw = `valeT${id}p`;
  const [a, b, c] = three(sw);
  try {
    floodAndCheck(a, c, 2, 0);
    u32(b)[(rxRing(b) + RR.prod) >> 2] = 99999;
    assert.throws(() => b.rxsync(), (e: unknown) => e instanceof NetmapError && e.code === 'EINVAL' && /valeT\d+p:b: prod 99999/.test(e.message));
    b.rxsync(); // reset: works again
    floodAndCheck(a, c, 2, 5);
    assert.equal(drain(b).length, 2);
  } finally {
    for (const p of [a, b, c]) p.close();
  }
});

test('a /t monitor sees nothing of a slot the sync refuses (len 4000 on 2048-byte buffers), and the next buffer is intact', () => {
  const sw = `valeT${id}m`;
  const a = open(`${sw}:a`), b = open(`${sw}:b`);
  const mon = open(`${sw}:a/t`);
  try {
    const t = a.txRings[0];
    // the buffer after the one the monitor would copy into holds a canary
    const mr = mon.rxRings[0];
    const canaryOfs = mon.region.bufOffset(mr.bufIdx(mr.tail) + 1);
    const canary = mon.u8.slice(canaryOfs, canaryOfs + 2048);
    const h = t.head;
    a.u8.fill(0x77, t.buf(h), t.buf(h) + 2048);
    t.setLen(h, 4000);
    t.setSlotFlags(h, 0);
    t.advance(t.next(h));
    assert.throws(() => a.txsync(), (e: unknown) => e instanceof NetmapError && e.code === 'EINVAL' && /len 4000/.test(e.message));
    assert.equal(drain(mon).length, 0, 'the monitor got nothing');
    assert.equal(drain(b).length, 0);
    assert.deepEqual(mon.u8.slice(canaryOfs, canaryOfs + 2048), canary, 'the buffer after the monitor slot was not overwritten');
    // a good frame afterwards reaches both
    putRaw(a, frame(BROADCAST, A, 1));
    a.txsync();
    assert.equal(drain(mon).length, 1);
    assert.equal(drain(b).length, 1);
  } finally {
    mon.close(); a.close(); b.close();
  }
});

test('a /r monitor skips and counts a received slot damaged after delivery; its own full ring counts as its drops', () => {
  const sw = `valeT${id}r`;
  const a = open(`${sw}:a`), b = open(`${sw}:b`);
  const mon = open(`${sw}:b/r@conf:slots=4`); // 3 usable slots
  try {
    for (let i = 0; i < 2; i++) putRaw(a, frame(BROADCAST, A, i));
    a.txsync();
    // damage the first delivered slot before b picks it up: len over the buffer size
    const r = b.rxRings[0];
    b.region.u16[((r.slots + 4 * r.head) << 1) + 2] = 4000;
    b.rxsync();
    const seen = drain(mon);
    assert.equal(seen.length, 1, 'the damaged frame is not copied to the monitor');
    assert.ok(seen.every((f) => f.len <= 2048));
    assert.equal(mon.stats().rxDrops, 1, 'and counted as the monitor\'s drop');
    r.advance(r.tail);
    // 5 more frames: the monitor's ring holds 3, it counts the other 2 as its own drops
    for (let i = 0; i < 5; i++) putRaw(a, frame(BROADCAST, A, 10 + i));
    a.txsync();
    b.rxsync();
    assert.equal(mon.stats().rxDrops, 3);
    assert.equal(drain(mon).length, 3);
    assert.equal(a.stats().txDrops, 0, 'the monitored port loses nothing for its monitor');
  } finally {
    mon.close(); a.close(); b.close();
  }
});

test('/z monitor: a 3-slot chain counts as one packet; a chain cut by a partial release fits the last free slot', () => {
  const name = `ztrust${id}`;
  const m = open(`${name}{1`), s = open(`${name}}1`);
  const z = open(`${name}}1/z@conf:slots=4`); // 3 usable slots
  try {
    const t = m.txRings[0];
    for (let k = 0; k < 3; k++) putRaw(m, frame(BROADCAST, B, k, 100), k < 2 ? NS_MOREFRAG : 0);
    assert.equal(t.head, 3);
    m.txsync();
    s.rxsync();
    const r = s.rxRings[0];
    r.advance(r.tail); // release the whole chain
    s.rxsync();
    assert.equal(z.stats().rxPackets, 1, 'one packet, not three slots');
    assert.equal(drain(z, false).length, 3, 'three slots handed over');
    // the monitor holds 3 of its 3 usable slots; let it release 2 so that exactly 2 are free
    const zr = z.rxRings[0];
    zr.advance(zr.next(zr.next(zr.head)));
    z.rxsync();
    // a 3-slot chain, released 2 slots then 1: the first part (2 slots) fits the 2 free slots
    for (let k = 0; k < 3; k++) putRaw(m, frame(BROADCAST, B, 10 + k, 100), k < 2 ? NS_MOREFRAG : 0);
    m.txsync();
    s.rxsync();
    r.advance(r.next(r.next(r.head)));
    s.rxsync();
    assert.equal(z.stats().rxDrops, 0, 'the 2-slot part of the chain was not counted as 3');
    z.rxsync();
    assert.equal(zr.space(), 3, 'the monitor got the 2 slots');
  } finally {
    z.close(); s.close(); m.close();
  }
});

test('futexWaitAsync: a timeout resolves false and a changed word true, whatever errno the main thread holds', async () => {
  const p = open(`valeT${id}f:a`);
  try {
    const region = p.region;
    assert.notEqual(region.addr, 0n, 'a mapped region');
    const idx = (p.rec + PR.wakeSeq) >> 2;
    const addr = region.addr + BigInt(idx << 2);
    const v = Atomics.load(region.i32, idx);
    koffi.errno(0);
    assert.equal(await futexWaitAsync(addr, v, 30), false, 'timed out');
    koffi.errno(110); // ETIMEDOUT on this thread must not matter
    assert.equal(await futexWaitAsync(addr, v + 1, 1000), true, 'value differs: returns at once');
  } finally {
    p.close();
  }
});
