// The ring contract netmap's kernel enforces at every sync (nm_txsync_prologue,
// nm_rxsync_prologue, netmap_ring_reinit): each violation throws EINVAL naming the problem,
// resets the ring to the last kernel position, repairs bad slots, and the port keeps working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetmapError, open, type Port, type Ring } from '../src/index.js';

const SLOTS = 8;
let pipeSeq = 0;

/** A fresh 8-slot pipe where the master has sent 3 frames (tx hwcur 3) and the slave received them. */
/** Run a scenario on a fresh pipe from setup(), closing it whatever happens. */
function withSetup(fn: (ctx: ReturnType<typeof setup>) => void): void {
  const ctx = setup();
  try {
    fn(ctx);
  } finally {
    ctx.close();
  }
}

function setup(): { m: Port; s: Port; t: Ring; r: Ring; close(): void } {
  const name = `contract${pipeSeq++}`;
  const m = open(`${name}{1@conf:slots=${SLOTS}`);
  const s = open(`${name}}1`);
  for (let k = 0; k < 3; k++) assert.ok(m.inject(new Uint8Array(60).fill(0xa0 + k)));
  m.txsync();
  s.rxsync();
  const t = m.txRings[0], r = s.rxRings[0];
  assert.equal(t.head, 3);
  assert.equal(t.tail, SLOTS - 1);
  assert.equal(r.tail, 3);
  return { m, s, t, r, close: () => { m.close(); s.close(); } };
}

/** Runs `sync`, expects a NetmapError EINVAL matching `re`, then checks the ring was reset. */
function expectReset(sync: () => void, ring: Ring, re: RegExp, head: number, tail: number): void {
  assert.throws(sync, (e: unknown) => {
    assert.ok(e instanceof NetmapError, `expected a NetmapError, got ${String(e)}`);
    assert.equal(e.code, 'EINVAL');
    assert.match(e.message, re);
    return true;
  });
  assert.equal(ring.head, head, 'head reset to the last kernel position');
  assert.equal(ring.cur, head, 'cur reset to the last kernel position');
  assert.equal(ring.tail, tail, 'tail restored');
}

/** The pipe still works: one frame from master to slave arrives intact. */
function sendOneGood(m: Port, s: Port, byte = 0x5a): void {
  const t = m.txRings[0], r = s.rxRings[0];
  const h = t.head;
  m.u8.fill(byte, t.buf(h), t.buf(h) + 100);
  t.setLen(h, 100);
  t.setSlotFlags(h, 0);
  t.advance(t.next(h));
  m.txsync();
  assert.equal(t.head, t.next(h));
  const before = r.space();
  s.rxsync();
  assert.equal(r.space(), before + 1, 'exactly one new frame');
  const last = (r.tail + SLOTS - 1) % SLOTS;
  assert.equal(r.len(last), 100);
  assert.equal(r.bufIdx(last), t.bufIdx(h), 'same buffer (zero-copy)');
  assert.ok(s.u8.subarray(r.buf(last), r.buf(last) + 100).every((b) => b === byte));
}

test('tx: head beyond tail', () => {
  withSetup(({ m, s, t }) => {
    t.advance(0); // tail is 7, so 0 is one past it
    expectReset(() => m.txsync(), t, /head 0 is beyond tail 7/, 3, 7);
    sendOneGood(m, s);
  });
});

test('tx: cur before head', () => {
  withSetup(({ m, s, t }) => {
    t.head = 5;
    t.cur = 4;
    expectReset(() => m.txsync(), t, /cur 4 is before head 5/, 3, 7);
    sendOneGood(m, s);
  });
});

test('tx: head >= numSlots', () => {
  withSetup(({ m, s, t }) => {
    t.advance(SLOTS);
    expectReset(() => m.txsync(), t, /head 8 >= num_slots/, 3, 7);
    t.advance(1000);
    expectReset(() => m.txsync(), t, /head 1000 >= num_slots/, 3, 7);
    t.head = 4;
    t.cur = SLOTS;
    expectReset(() => m.txsync(), t, /cur 8 >= num_slots/, 3, 7);
    sendOneGood(m, s);
  });
});

test('tx: the violation is also caught by poll()', () => {
  withSetup(({ m, s, t }) => {
    t.advance(SLOTS + 1);
    expectReset(() => m.poll(4 /* POLLOUT */, 0), t, /head 9 >= num_slots/, 3, 7);
    sendOneGood(m, s);
  });
});

test('rx: head beyond tail', () => {
  withSetup(({ m, s, r }) => {
    r.advance(5); // the slave holds 3 frames: [0, 3)
    expectReset(() => s.rxsync(), r, /head 5 is beyond tail 3/, 0, 3);
    // the frames are still there and can be released normally
    for (let k = 0; k < 3; k++) assert.equal(s.u8[r.buf(k)], 0xa0 + k);
    r.cur = 3; // cur may run ahead of head (up to tail)
    s.rxsync();
    r.advance(3);
    s.rxsync();
    assert.equal(r.empty(), true);
    sendOneGood(m, s);
  });
});

test('rx: cur beyond tail', () => {
  withSetup(({ s, m, r }) => {
    r.head = 1;
    r.cur = 6;
    expectReset(() => s.rxsync(), r, /cur 6 is before head 1 or beyond tail 3/, 0, 3);
    sendOneGood(m, s);
  });
});

for (const bad of [0, 1, 'nbufs', 'huge'] as const) {
  test(`tx: buf_idx ${bad} in a slot being sent`, () => {
    const { m, s, t, r, close } = setup();
    try {
      const nbufs = m.region.nbufs;
      const idx = bad === 'nbufs' ? nbufs : bad === 'huge' ? 0xffffffff : bad;
      // a good frame first, then the bad one: the whole sync must fail
      t.setLen(3, 60);
      t.setBufIdx(4, idx);
      t.setLen(4, 60);
      t.advance(5);
      expectReset(() => m.txsync(), t, new RegExp(`slot 4: invalid buf_idx ${idx}\\b`), 3, 7);
      const repaired = t.bufIdx(4);
      assert.ok(repaired >= 2 && repaired < nbufs, `slot repaired with a valid buffer (got ${repaired})`);
      assert.equal(t.len(4), 0, 'repaired slot has length 0');
      s.rxsync();
      assert.equal(r.tail, 3, 'nothing of the failed sync was published');
      sendOneGood(m, s); // slot 3
      sendOneGood(m, s, 0x77); // slot 4, with the repaired buffer
      assert.equal(r.bufIdx(4), repaired);
    } finally {
      close();
    }
  });
}

test('tx: len > bufSize', () => {
  withSetup(({ m, s, t }) => {
    assert.equal(t.bufSize, 2048);
    t.setLen(3, 2049);
    const idx = t.bufIdx(3);
    t.advance(4);
    expectReset(() => m.txsync(), t, /slot 3: len 2049 over the buffer size 2048/, 3, 7);
    assert.equal(t.len(3), 0, 'oversize length cleared');
    assert.equal(t.bufIdx(3), idx, 'a valid buffer index is kept');
    t.setLen(3, 2048); // exactly bufSize is fine
    t.advance(4);
    m.txsync();
    assert.equal(t.head, 4);
    s.rxsync();
    assert.equal(s.rxRings[0].len(3), 2048);
    sendOneGood(m, s);
  });
});

test('rx: a released slot with a bad buf_idx', () => {
  withSetup(({ m, s, r }) => {
    r.setBufIdx(1, 0);
    r.advance(2);
    expectReset(() => s.rxsync(), r, /slot 1: invalid buf_idx 0/, 0, 3);
    assert.ok(r.bufIdx(1) >= 2);
    r.advance(3);
    s.rxsync();
    assert.equal(r.empty(), true);
    sendOneGood(m, s);
  });
});

test('a tail overwritten by the user is silently restored', () => {
  withSetup(({ m, s, t, r }) => {
    const ti = (t.ofs + 28) >> 2, ri = (r.ofs + 28) >> 2; // netmap_ring.tail
    t.u32[ti] = 2;
    m.txsync();
    assert.equal(t.tail, 7);
    r.u32[ri] = 7;
    s.rxsync();
    assert.equal(r.tail, 3);
    sendOneGood(m, s);
  });
});

test('VALE and null ports enforce the same contract', () => {
  const a = open('valecontract0:a@conf:slots=16');
  const b = open('valecontract0:b@conf:slots=16');
  const n = open('null', { txSlots: 16 });
  try {
    for (const p of [a, n]) {
      const t = p.txRings[0];
      t.advance(16);
      expectReset(() => p.txsync(), t, /head 16 >= num_slots/, 0, 15);
      t.setBufIdx(0, 1);
      t.setLen(0, 60);
      t.advance(1);
      expectReset(() => p.txsync(), t, /slot 0: invalid buf_idx 1/, 0, 15);
      t.setLen(0, 4000);
      t.advance(1);
      expectReset(() => p.txsync(), t, /slot 0: len 4000 over the buffer size/, 0, 15);
    }
    // a still works: a broadcast frame reaches b
    const t = a.txRings[0];
    a.u8.fill(0xff, t.buf(0), t.buf(0) + 6);
    a.u8.fill(0x02, t.buf(0) + 6, t.buf(0) + 12);
    t.setLen(0, 60);
    t.advance(1);
    a.txsync();
    b.rxsync();
    assert.equal(b.rxRings[0].space(), 1);
    const rb = b.rxRings[0];
    rb.advance(4); // beyond tail 1
    expectReset(() => b.rxsync(), rb, /head 4 is beyond tail 1/, 0, 1);
  } finally {
    a.close();
    b.close();
    n.close();
  }
});
