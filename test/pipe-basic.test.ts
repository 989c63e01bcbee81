// Zero-copy pipes (x{N master, x}N slave): shared slots, partial releases, full rings,
// NS_MOREFRAG chains, buffer swaps, several pipes, both directions, @conf, /x, /R, /T.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetmapError, NS_BUF_CHANGED, NS_MOREFRAG, open, type Port, type Ring } from '../src/index.js';

/** Fill `count` slots from head with frames of `len` bytes whose first byte is `tag + k`; no sync. */
function fill(port: Port, ring: Ring, count: number, len = 64, tag = 0, flags = 0): number[] {
  const used: number[] = [];
  let h = ring.head;
  for (let k = 0; k < count; k++) {
    const o = ring.buf(h);
    port.u8.fill(0, o, o + len);
    port.u8[o] = (tag + k) & 0xff;
    ring.setLen(h, len);
    ring.setSlotFlags(h, flags);
    used.push(h);
    h = ring.next(h);
  }
  ring.advance(h);
  return used;
}

function isEbusy(e: unknown): boolean {
  return e instanceof NetmapError && e.code === 'EBUSY';
}

test('zero-copy: the buffer index written at tx arrives unchanged at rx', () => {
  const m = open('zc{1@conf:slots=32');
  const s = open('zc}1');
  try {
    const t = m.txRings[0], r = s.rxRings[0];
    const idx = [0, 1, 2, 3, 4].map((i) => t.bufIdx(i));
    assert.equal(new Set(idx).size, 5, 'distinct buffers');
    fill(m, t, 5);
    m.txsync();
    s.rxsync();
    assert.equal(r.space(), 5);
    for (let i = 0; i < 5; i++) {
      assert.equal(r.bufIdx(i), idx[i]);
      assert.equal(r.buf(i), t.buf(i), 'same bytes of the region');
    }
    // no copy was made: a byte changed in the sender's buffer now is seen by the receiver
    m.u8[t.buf(2) + 10] = 0xee;
    assert.equal(s.u8[r.buf(2) + 10], 0xee);
    assert.equal(m.u8, s.u8, 'both ends map the same region');
    assert.equal(m.memId, s.memId);
  } finally {
    m.close();
    s.close();
  }
});

test('payload bytes and lengths arrive intact (1..2048 bytes)', () => {
  const m = open('bytes{1@conf:slots=64');
  const s = open('bytes}1');
  try {
    const t = m.txRings[0], r = s.rxRings[0];
    const lens = [1, 14, 60, 63, 64, 65, 255, 256, 257, 1000, 1514, 2047, 2048];
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    const frames = lens.map((n) => Uint8Array.from({ length: n }, rnd));
    for (const f of frames) assert.ok(m.inject(f));
    m.txsync();
    s.rxsync();
    assert.equal(r.space(), frames.length);
    let h = r.head;
    for (const f of frames) {
      assert.equal(r.len(h), f.length);
      assert.equal(r.slotFlags(h) & NS_MOREFRAG, 0);
      assert.deepEqual(s.u8.slice(r.buf(h), r.buf(h) + f.length), f);
      h = r.next(h);
    }
    const bytes = lens.reduce((a, b) => a + b, 0);
    assert.equal(m.stats().txPackets, frames.length);
    assert.equal(m.stats().txBytes, bytes);
    assert.equal(s.stats().rxPackets, frames.length);
    assert.equal(s.stats().rxBytes, bytes);
    assert.equal(t.head, frames.length);
  } finally {
    m.close();
    s.close();
  }
});

test('partial reads: releasing k slots gives the sender exactly k more', () => {
  const m = open('partial{1@conf:slots=16');
  const s = open('partial}1');
  try {
    const t = m.txRings[0], r = s.rxRings[0];
    fill(m, t, 10);
    m.txsync();
    assert.equal(t.space(), 5);
    s.rxsync();
    assert.equal(r.space(), 10);
    // release half
    r.advance(5);
    s.rxsync();
    assert.equal(r.space(), 5, 'the other 5 are still held');
    m.txsync();
    assert.equal(t.space(), 10, 'sender got exactly 5 back');
    // cur ahead of head: nothing is released
    r.cur = 8;
    s.rxsync();
    m.txsync();
    assert.equal(t.space(), 10);
    for (let k = 5; k < 10; k++) assert.equal(s.u8[r.buf(k)], k, 'held frames untouched');
    r.advance(7);
    s.rxsync();
    m.txsync();
    assert.equal(t.space(), 12);
    r.advance(10);
    s.rxsync();
    m.txsync();
    assert.equal(t.space(), 15);
  } finally {
    m.close();
    s.close();
  }
});

test('full ring: numSlots-1 frames, then nothing more is published', () => {
  const m = open('full{1@conf:slots=16');
  const s = open('full}1');
  try {
    const t = m.txRings[0], r = s.rxRings[0];
    fill(m, t, 15);
    m.txsync();
    assert.equal(t.space(), 0);
    assert.equal(t.head, t.tail);
    assert.equal(m.inject(new Uint8Array(60)), false, 'inject refuses a full ring');
    s.rxsync();
    assert.equal(r.space(), 15);
    m.txsync();
    m.txsync();
    s.rxsync();
    assert.equal(r.space(), 15, 'capacity is numSlots-1');
    assert.equal(m.stats().txPackets, 15);
    assert.equal(m.poll(4 /* POLLOUT */, 0), 0, 'POLLOUT not ready on a full ring');
    // one release makes room for exactly one
    r.advance(1);
    s.rxsync();
    assert.equal(m.poll(4, 0), 4);
    assert.equal(t.space(), 1);
    assert.ok(m.inject(new Uint8Array(60).fill(0x99)));
    assert.equal(m.inject(new Uint8Array(60)), false);
    m.txsync();
    s.rxsync();
    assert.equal(r.space(), 15);
    assert.equal(s.u8[r.buf(15)], 0x99);
  } finally {
    m.close();
    s.close();
  }
});

test('NS_MOREFRAG: an incomplete chain is not published until its last fragment', () => {
  const m = open('frag{1@conf:slots=16');
  const s = open('frag}1');
  try {
    const t = m.txRings[0], r = s.rxRings[0];
    fill(m, t, 1, 60, 0x10); // a complete frame
    fill(m, t, 2, 100, 0x20, NS_MOREFRAG); // two fragments, chain still open
    m.txsync();
    s.rxsync();
    assert.equal(r.space(), 1, 'only the complete frame is visible');
    assert.equal(m.stats().txPackets, 1);
    assert.equal(t.space(), 12);
    m.txsync();
    s.rxsync();
    assert.equal(r.space(), 1, 'still not published on a second sync');
    fill(m, t, 1, 40, 0x30); // last fragment: no MOREFRAG
    m.txsync();
    s.rxsync();
    assert.equal(r.space(), 4);
    assert.deepEqual([1, 2, 3].map((i) => r.slotFlags(i) & NS_MOREFRAG), [NS_MOREFRAG, NS_MOREFRAG, 0]);
    assert.deepEqual([1, 2, 3].map((i) => r.len(i)), [100, 100, 40]);
    assert.deepEqual([1, 2, 3].map((i) => s.u8[r.buf(i)]), [0x20, 0x21, 0x30]);
    assert.equal(m.stats().txPackets, 2, 'a chain counts as one packet');
    assert.equal(m.stats().txBytes, 60 + 240);
    assert.equal(s.stats().rxPackets, 2);
  } finally {
    m.close();
    s.close();
  }
});

test('a buffer swapped in on the rx side (NS_BUF_CHANGED) travels back to the tx side', () => {
  const m = open('swap{1@conf:slots=16');
  const s = open('swap}1');
  try {
    const mt = m.txRings[0], sr = s.rxRings[0], st = s.txRings[0], mr = m.rxRings[0];
    fill(m, mt, 3, 80, 0x40);
    const sent = [0, 1, 2].map((i) => mt.bufIdx(i));
    m.txsync();
    s.rxsync();
    // the slave forwards the frame in slot 1 back without copying it: swap its buffer with
    // the one of a free slot of its own tx ring
    const x = sr.bufIdx(1), y = st.bufIdx(st.head);
    assert.equal(x, sent[1]);
    sr.setBufIdx(1, y);
    sr.setSlotFlags(1, NS_BUF_CHANGED);
    st.setBufIdx(st.head, x);
    st.setLen(st.head, sr.len(1));
    st.setSlotFlags(st.head, NS_BUF_CHANGED);
    st.advance(st.next(st.head));
    sr.advance(3);
    s.rxsync();
    s.txsync();
    // the master's tx ring now holds y in slot 1, flagged so the sender knows
    m.txsync();
    assert.equal(mt.space(), 15);
    assert.equal(mt.bufIdx(1), y);
    assert.ok(mt.slotFlags(1) & NS_BUF_CHANGED);
    assert.equal(mt.bufIdx(0), sent[0]);
    assert.equal(mt.bufIdx(2), sent[2]);
    // and the master receives its own frame, in its original buffer
    m.rxsync();
    assert.equal(mr.space(), 1);
    assert.equal(mr.bufIdx(mr.head), x);
    assert.equal(mr.len(mr.head), 80);
    assert.equal(m.u8[mr.buf(mr.head)], 0x41);
    // the new buffer is used the next time slot 1 is sent: go once around the ring
    assert.equal(mt.head, 3);
    fill(m, mt, 14, 60, 0); // slots 3..15, 0
    m.txsync();
    s.rxsync();
    assert.equal(sr.space(), 14);
    sr.advance(sr.tail);
    s.rxsync();
    m.txsync();
    assert.equal(mt.head, 1);
    fill(m, mt, 1, 70, 0x77);
    m.txsync();
    s.rxsync();
    assert.equal(sr.tail, 2);
    assert.equal(sr.bufIdx(1), y);
    assert.equal(sr.len(1), 70);
    assert.equal(s.u8[sr.buf(1)], 0x77);
  } finally {
    m.close();
    s.close();
  }
});

test('several pipes per parent are independent', () => {
  const m1 = open('multi{1@conf:slots=16');
  const s1 = open('multi}1');
  const m2 = open('multi{2@conf:slots=16');
  const s2 = open('multi}2');
  try {
    const bufs1 = new Set(Array.from({ length: 16 }, (_, i) => m1.txRings[0].bufIdx(i)));
    for (let i = 0; i < 16; i++) assert.ok(!bufs1.has(m2.txRings[0].bufIdx(i)), 'no shared buffers');
    fill(m1, m1.txRings[0], 3, 60, 1);
    m1.txsync();
    fill(m2, m2.txRings[0], 5, 60, 100);
    m2.txsync();
    s1.rxsync();
    s2.rxsync();
    assert.equal(s1.rxRings[0].space(), 3);
    assert.equal(s2.rxRings[0].space(), 5);
    assert.equal(s1.u8[s1.rxRings[0].buf(0)], 1);
    assert.equal(s2.u8[s2.rxRings[0].buf(0)], 100);
    // closing one pipe leaves the other alone
    m1.close();
    s1.close();
    fill(m2, m2.txRings[0], 1, 60, 200);
    m2.txsync();
    s2.rxsync();
    assert.equal(s2.rxRings[0].space(), 6);
  } finally {
    for (const p of [m1, s1, m2, s2]) p.close();
  }
});

test('both directions of one pipe, slave end opened first', () => {
  const s = open('bidir}7@conf:slots=16');
  const m = open('bidir{7');
  try {
    assert.equal(m.txRings[0].numSlots, 16, 'the slave created the pipe with its @conf');
    fill(s, s.txRings[0], 4, 60, 0x50);
    s.txsync();
    fill(m, m.txRings[0], 2, 60, 0x60);
    m.txsync();
    m.rxsync();
    s.rxsync();
    assert.equal(m.rxRings[0].space(), 4);
    assert.equal(s.rxRings[0].space(), 2);
    assert.deepEqual([0, 1, 2, 3].map((i) => m.u8[m.rxRings[0].buf(i)]), [0x50, 0x51, 0x52, 0x53]);
    assert.deepEqual([0, 1].map((i) => s.u8[s.rxRings[0].buf(i)]), [0x60, 0x61]);
    assert.equal(s.stats().txPackets, 4);
    assert.equal(s.stats().rxPackets, 2);
    assert.equal(m.stats().txPackets, 2);
    assert.equal(m.stats().rxPackets, 4);
  } finally {
    m.close();
    s.close();
  }
});

test('@conf:rings=2,slots=64 gives 2 ring pairs of 64 slots; ring i feeds ring i', () => {
  const m = open('conf{1@conf:rings=2,slots=64');
  const s = open('conf}1');
  try {
    for (const p of [m, s]) {
      assert.equal(p.txRings.length, 2);
      assert.equal(p.rxRings.length, 2);
      for (const r of [...p.txRings, ...p.rxRings]) assert.equal(r.numSlots, 64);
      assert.deepEqual(p.txRings.map((r) => r.ringId), [0, 1]);
    }
    fill(m, m.txRings[1], 3, 60, 9);
    m.txsync();
    s.rxsync();
    assert.equal(s.rxRings[0].space(), 0);
    assert.equal(s.rxRings[1].space(), 3);
    assert.equal(s.rxRings[1].bufIdx(0), m.txRings[1].bufIdx(0));
    // one ring pair only with -N
    const one = open('conf}1-1');
    try {
      assert.equal(one.txRings.length, 1);
      assert.equal(one.rxRings.length, 1);
      assert.equal(one.rxRings[0].ringId, 1);
      assert.equal(one.rxRings[0].ofs, s.rxRings[1].ofs, 'same ring record');
    } finally {
      one.close();
    }
  } finally {
    m.close();
    s.close();
  }
});

test('/x: exclusive open refuses a second opener until closed', () => {
  const x = open('excl{1/x@conf:slots=16');
  try {
    assert.throws(() => open('excl{1'), isEbusy);
    assert.throws(() => open('excl{1/x'), isEbusy);
    const slave = open('excl}1'); // the other end is another port
    slave.close();
  } finally {
    x.close();
  }
  // the pipe was destroyed with its last opener; a new one can be opened and shared
  const a = open('excl{1');
  const b = open('excl{1');
  try {
    assert.throws(() => open('excl{1/x'), isEbusy, 'exclusive open of a port in use');
  } finally {
    a.close();
    b.close();
  }
  const again = open('excl{1/x');
  again.close();
});

test('/R binds rx rings only, /T tx rings only', () => {
  const r = open('dirs}1/R@conf:rings=2,slots=16');
  const t = open('dirs{1/T');
  try {
    assert.equal(r.txRings.length, 0);
    assert.equal(r.rxRings.length, 2);
    assert.equal(t.txRings.length, 2);
    assert.equal(t.rxRings.length, 0);
    r.txsync(); // no rings: a no-op
    fill(t, t.txRings[0], 2);
    t.txsync();
    r.rxsync();
    assert.equal(r.rxRings[0].space(), 2);
    assert.equal(r.poll(1 /* POLLIN */, 0), 1);
  } finally {
    r.close();
    t.close();
  }
});

test('a parent has at most 64 pipes (ENOMEM), and closing one frees a place', () => {
  // The parent's region lives while one of its pipes is open: pipe 0 is the keeper, opened
  // first, so that the region can be checked after the 63 others are closed.
  const ends: Port[] = [open('lim{0@conf:slots=4')];
  const keeper = ends[0], region = keeper.region;
  const before = region.freeBuffers();
  try {
    for (let i = 1; i < 64; i++) ends.push(open(`lim{${i}@conf:slots=4`));
    assert.equal(ends[63].region, region);
    assert.equal(before - region.freeBuffers(), 63 * 2 * 4, 'each pipe: one 4-slot tx ring per end');
    assert.throws(() => open('lim{64@conf:slots=4'), (e: unknown) => e instanceof NetmapError && e.code === 'ENOMEM');
    ends.pop()!.close();
    ends.push(open('lim{64@conf:slots=4'));
    const other = open('lim2{0@conf:slots=4'); // another parent is not affected
    assert.notEqual(other.region, region, 'another parent has a region of its own');
    other.close();
  } finally {
    for (const p of ends) if (p !== keeper) p.close();
  }
  assert.equal(region.freeBuffers(), before);
  keeper.close();
  assert.equal(region.dead, true, 'the last pipe closed: the region is retired');
});
