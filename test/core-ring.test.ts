// Ring helpers (nm_ring_next / nm_ring_space / nm_ring_empty / nm_tx_pending) on real rings,
// buffer accounting of the region, and the directory forgetting closed ports.
//
// Every switch and every pipe parent has its own region (a shared file), retired when its
// last port closes. To look at a region after the ports under test are closed, a test keeps
// it alive with a keeper port of its own in the same region (pipe `name{99` for a parent
// `name`, port `keeper` for a switch) and measures against that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetmapError, NS_BUF_CHANGED, open, type Port, type Region } from '../src/index.js';
import { DirType } from '../src/core/layout.js';

/** Names of the ports currently in the region's directory. */
function dirNames(region: Region): string[] {
  return region.dirList(DirType.Port).map(([n]) => n);
}

/** Open `keeper` and return it with its region: the region outlives the ports under test. */
function keep(keeper: string): { keeper: Port; region: Region } {
  const k = open(keeper);
  return { keeper: k, region: k.region };
}

/** Close the keeper: the region, now empty, is retired. */
function release(keeper: Port, region: Region): void {
  keeper.close();
  assert.equal(region.dead, true, 'the region is retired with its last port');
}

/** Send `count` frames of `len` bytes from `tx` port ring 0 (fills slots, head=cur past them, txsync). */
function send(port: Port, count: number, len = 60, first = 0): void {
  const r = port.txRings[0];
  let h = r.head;
  for (let k = 0; k < count; k++) {
    port.u8.fill((first + k) & 0xff, r.buf(h), r.buf(h) + len);
    r.setLen(h, len);
    r.setSlotFlags(h, 0);
    h = r.next(h);
  }
  r.advance(h);
  port.txsync();
}

test('next() wraps at numSlots and only there', () => {
  const m = open('ringnext{1@conf:slots=8');
  try {
    const r = m.txRings[0];
    assert.equal(r.numSlots, 8);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => r.next(i)), [1, 2, 3, 4, 5, 6, 7, 0]);
  } finally {
    m.close();
  }
});

test('fresh tx ring: numSlots-1 free, not empty, nothing pending; fresh rx ring: empty', () => {
  const m = open('ringfresh{1@conf:slots=16');
  const s = open('ringfresh}1');
  try {
    for (const t of [m.txRings[0], s.txRings[0]]) {
      assert.equal(t.head, 0);
      assert.equal(t.cur, 0);
      assert.equal(t.tail, 15);
      assert.equal(t.space(), 15);
      assert.equal(t.empty(), false);
      assert.equal(t.txPending(), false);
    }
    for (const r of [m.rxRings[0], s.rxRings[0]]) {
      assert.equal(r.head, 0);
      assert.equal(r.tail, 0);
      assert.equal(r.space(), 0);
      assert.equal(r.empty(), true);
    }
  } finally {
    m.close();
    s.close();
  }
});

test('space/empty/txPending follow a send, a receive and a release', () => {
  const m = open('ringflow{1@conf:slots=16');
  const s = open('ringflow}1');
  try {
    const t = m.txRings[0], r = s.rxRings[0];
    send(m, 5);
    assert.equal(t.head, 5);
    assert.equal(t.space(), 10, 'tx: 5 slots in flight');
    assert.equal(t.txPending(), true);
    s.rxsync();
    assert.equal(r.space(), 5);
    assert.equal(r.empty(), false);
    // release 2: the sender gets exactly those back after its next txsync
    r.advance(r.next(r.next(r.head)));
    s.rxsync();
    assert.equal(r.space(), 3);
    m.txsync();
    assert.equal(t.space(), 12);
    assert.equal(t.txPending(), true);
    r.advance(r.tail);
    s.rxsync();
    assert.equal(r.empty(), true);
    m.txsync();
    assert.equal(t.space(), 15);
    assert.equal(t.txPending(), false);
  } finally {
    m.close();
    s.close();
  }
});

test('space() is circular: indices wrap around the end of the ring', () => {
  const m = open('ringwrap{1@conf:slots=8');
  const s = open('ringwrap}1');
  try {
    const t = m.txRings[0], r = s.rxRings[0];
    for (let round = 0; round < 5; round++) {
      send(m, 5, 60, round * 5);
      s.rxsync();
      assert.equal(r.space(), 5);
      let h = r.head;
      for (let k = 0; k < 5; k++) {
        assert.equal(s.u8[r.buf(h)], (round * 5 + k) & 0xff);
        h = r.next(h);
      }
      r.advance(h);
      s.rxsync();
      m.txsync();
      assert.equal(t.space(), 7);
    }
    assert.equal(t.head, 25 % 8);
  } finally {
    m.close();
    s.close();
  }
});

test('opening and closing a pipe returns every buffer to the region', () => {
  const { keeper, region } = keep('ringacct{99@conf:slots=4');
  const before = region.freeBuffers();
  const m = open('ringacct{1@conf:rings=2,slots=64');
  assert.equal(m.region, region, 'pipes of one parent share its region');
  // each end owns the slots of its tx rings; rx rings share the peer's
  assert.equal(before - region.freeBuffers(), 2 * 2 * 64);
  const s = open('ringacct}1');
  assert.equal(before - region.freeBuffers(), 2 * 2 * 64, 'the second end allocates nothing');
  send(m, 10);
  m.close();
  assert.equal(before - region.freeBuffers(), 2 * 2 * 64, 'the pipe lives while one end is open');
  s.close();
  assert.equal(region.freeBuffers(), before);
  release(keeper, region);
});

test('buffers swapped between slots of a pipe are all returned on close', () => {
  const { keeper, region } = keep('ringswap{99@conf:slots=4');
  const before = region.freeBuffers();
  const m = open('ringswap{1@conf:slots=16');
  const s = open('ringswap}1');
  assert.equal(s.region, region);
  send(m, 4);
  s.rxsync();
  const rx = s.rxRings[0], stx = s.txRings[0];
  // zero-copy forward: swap every received buffer with a free one of the slave's tx ring
  let h = rx.head, th = stx.head;
  for (let k = 0; k < 4; k++) {
    const a = rx.bufIdx(h), b = stx.bufIdx(th);
    rx.setBufIdx(h, b);
    rx.setSlotFlags(h, NS_BUF_CHANGED);
    stx.setBufIdx(th, a);
    stx.setLen(th, rx.len(h));
    stx.setSlotFlags(th, NS_BUF_CHANGED);
    h = rx.next(h);
    th = stx.next(th);
  }
  rx.advance(h);
  stx.advance(th);
  s.rxsync();
  s.txsync();
  m.close();
  s.close();
  assert.equal(region.freeBuffers(), before);
  release(keeper, region);
});

test('a VALE port returns its buffers on close', () => {
  const { keeper, region } = keep('valering0:keeper@conf:slots=4');
  const before = region.freeBuffers();
  const p = open('valering0:a@conf:rings=2,slots=32');
  assert.equal(p.region, region, 'the ports of a switch share its region');
  assert.equal(before - region.freeBuffers(), 2 * 32 + 2 * 32);
  p.close();
  assert.equal(region.freeBuffers(), before);
  release(keeper, region);
});

test('the directory forgets closed ports: a reopen gets fresh state', () => {
  const { keeper, region } = keep('ringdir{99@conf:slots=4');
  const m = open('ringdir{1@conf:slots=32');
  const s = open('ringdir}1');
  send(m, 3);
  assert.ok(dirNames(region).includes('ringdir{1') && dirNames(region).includes('ringdir}1'));
  assert.equal(m.stats().txPackets, 3);
  m.close();
  s.close();
  assert.ok(!dirNames(region).includes('ringdir{1') && !dirNames(region).includes('ringdir}1'));
  assert.ok(dirNames(region).includes('ringdir{99'), 'the keeper is still listed');

  // no @conf this time: the default geometry shows that the pipe was created anew
  const m2 = open('ringdir{1');
  const s2 = open('ringdir}1');
  try {
    assert.equal(m2.txRings[0].numSlots, 1024);
    assert.equal(m2.txRings[0].head, 0);
    assert.equal(m2.txRings[0].space(), 1023);
    s2.rxsync();
    assert.equal(s2.rxRings[0].empty(), true, 'frames of the old pipe are gone');
    assert.deepEqual(m2.stats(), { txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, txDrops: 0, rxDrops: 0 });
  } finally {
    m2.close();
    s2.close();
    release(keeper, region);
  }
});

test('the directory forgets a closed VALE port', () => {
  const a = open('valering1:a');
  const region = a.region;
  const b = open('valering1:b');
  const t = a.txRings[0];
  const frame = new Uint8Array(60).fill(0xff, 0, 6); // broadcast
  a.u8.set(frame, t.buf(t.head));
  t.setLen(t.head, 60);
  t.advance(t.next(t.head));
  a.txsync();
  assert.equal(a.stats().txPackets, 1);
  a.close();
  assert.ok(!dirNames(region).includes('valering1:a'));
  assert.ok(dirNames(region).includes('valering1:b'), 'b keeps the switch and its region alive');
  const a2 = open('valering1:a');
  try {
    assert.equal(a2.stats().txPackets, 0);
    assert.equal(a2.txRings[0].head, 0);
  } finally {
    a2.close();
    b.close();
  }
});

test('closing twice is harmless and does not free buffers twice', () => {
  const { keeper, region } = keep('ringtwice{99@conf:slots=4');
  const before = region.freeBuffers();
  const m = open('ringtwice{1@conf:slots=16');
  assert.equal(m.region, region);
  m.close();
  m.close();
  assert.equal(region.freeBuffers(), before);
  assert.throws(() => m.txsync(), (e: unknown) => e instanceof NetmapError && e.code === 'EBADF');
  release(keeper, region);
});

test('a pipe open that fails after creating the pipe gives its buffers back', () => {
  const { keeper, region } = keep('ringleak{99@conf:slots=4');
  const before = region.freeBuffers();
  assert.throws(() => open('ringleak{1-3'), (e: unknown) => e instanceof NetmapError && e.code === 'EINVAL');
  assert.ok(!dirNames(region).includes('ringleak{1'), 'the half-created pipe stays in the directory');
  assert.equal(region.freeBuffers(), before);
  release(keeper, region);
});

test('swapIn exchanges buffers within a region and refuses rings of another region', () => {
  const m = open('ringxswap{1@conf:slots=8'), s = open('ringxswap}1');
  const other = open('ringxswap2{1@conf:slots=8');
  try {
    assert.equal(s.region, m.region);
    assert.notEqual(other.region, m.region, 'another parent has its own region');
    const t = s.txRings[0], r = m.txRings[0];
    const a = t.bufIdx(0), b = r.bufIdx(0);
    r.setLen(0, 42);
    t.swapIn(0, r, 0);
    assert.deepEqual([t.bufIdx(0), r.bufIdx(0), t.len(0)], [b, a, 42]);
    assert.equal(t.slotFlags(0) & NS_BUF_CHANGED, NS_BUF_CHANGED);
    assert.equal(r.slotFlags(0) & NS_BUF_CHANGED, NS_BUF_CHANGED);
    const o = other.txRings[0], ob = o.bufIdx(1);
    assert.throws(() => o.swapIn(1, t, 1), RangeError);
    assert.throws(() => t.swapIn(1, o, 1), RangeError);
    assert.equal(o.bufIdx(1), ob, 'a refused swap changes nothing');
  } finally {
    m.close();
    s.close();
    other.close();
  }
});

test('touchFrames reads byte 26 of each frame in the slots, across the ring\'s end, and nothing for a bad buf_idx', () => {
  const p = open(`valetouch${process.pid}:a`, { txSlots: 64, rxSlots: 64 });
  try {
    const t = p.txRings[0];
    const n = t.numSlots;
    for (let i = 0; i < n; i++) p.u8[t.buf(i) + 26] = (i * 37 + 1) & 0xff;
    let want = 0;
    for (const i of [n - 2, n - 1, 0, 1, 2]) want ^= (i * 37 + 1) & 0xff;
    assert.equal(t.touchFrames(n - 2, 5), want, 'five frames from slot n-2: the last two and the first three');
    assert.equal(t.touchFrames(3, 0), 0);
    const idx = t.bufIdx(5);
    t.setBufIdx(5, 0xfffffff0); // a slot a user damaged: the read is out of the memory and gives 0
    assert.equal(t.touchFrames(5, 1), 0);
    t.setBufIdx(5, idx);
  } finally {
    p.close();
  }
});
