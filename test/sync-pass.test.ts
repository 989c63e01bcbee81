// The one-pass slot loops of issue 14 (core/sync.ts txPrologue/rxPrologue, the VALE gather's
// one-slot loop, pkt-gen's fillFixed and countFrames): they walk the one or two contiguous
// pieces of a range four slots a step. Checked here where that can go wrong: a range that
// wraps at every offset, a bad slot at every position of a step (the error must name that
// slot, and nothing of the batch may be published), chains mixed with one-slot packets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetmapError, NS_MOREFRAG, open, type Port } from '../src/index.js';
import type { Ring } from '../src/core/ring.js';
import { countFrames, RxTally, type LoopConfig } from '../src/apps/pkt-gen/loops.js';
import { fillFixed, TxState } from '../src/apps/pkt-gen/tx-fill.js';
import { mac, putRaw, drain } from './fixtures/vale-helpers.js';

const id = process.pid % 100000;
let seq = 0;

/** A pipe with 64-slot rings whose tx ring's hwcur/head start at `at` (moved there by sending and receiving). */
function pipeAt(at: number): { tx: Port; rx: Port } {
  const name = `sp${id}x${seq++}`;
  const tx = open(`${name}{0`, { txSlots: 64, rxSlots: 64 }), rx = open(`${name}}0`, { txSlots: 64, rxSlots: 64 });
  const t = tx.txRings[0], r = rx.rxRings[0];
  for (let k = 0; k < at; k++) { t.setLen(t.head, 60); t.advance(t.next(t.head)); }
  tx.txsync();
  rx.rxsync();
  r.advance(r.tail);
  rx.rxsync(); // released
  tx.txsync();
  assert.equal(t.head, at % 64);
  return { tx, rx };
}

/** Queue `lens.length` slots from head with these lengths and flags (no sync). */
function queue(t: Ring, lens: number[], flags: number[] = []): void {
  let h = t.head;
  for (let i = 0; i < lens.length; i++) { t.setLen(h, lens[i]); t.setSlotFlags(h, flags[i] ?? 0); h = t.next(h); }
  t.advance(h);
}

test('pipe txsync/rxsync: ranges that wrap at every offset publish every slot, bytes counted', () => {
  for (let at = 0; at < 64; at += 5) {
    for (const n of [1, 3, 4, 5, 17, 63]) {
      const { tx, rx } = pipeAt(at);
      const t = tx.txRings[0], r = rx.rxRings[0];
      const lens = Array.from({ length: n }, (_, i) => 60 + i);
      queue(t, lens);
      const before = tx.stats();
      tx.txsync();
      rx.rxsync();
      assert.equal(r.space(), n, `at ${at}, ${n} slots: all published`);
      const tally = new RxTally();
      assert.equal(countFrames(r, n, tally), n);
      assert.equal(tally.bytes, lens.reduce((a, b) => a + b, 0));
      assert.equal(r.head, (at + n) % 64);
      const after = tx.stats();
      assert.equal(after.txBytes - before.txBytes, tally.bytes, 'the prologue summed the lengths');
      tx.close(); rx.close();
    }
  }
});

test('pipe txsync: a bad buf_idx or len at any position of a wrapped range names that slot and publishes nothing', () => {
  for (const at of [0, 50, 61]) {
    for (let bad = 0; bad < 13; bad++) {
      for (const kind of ['idx0', 'idxHuge', 'len'] as const) {
        const { tx, rx } = pipeAt(at);
        const t = tx.txRings[0];
        queue(t, Array.from({ length: 13 }, () => 60));
        const k = (at + bad) % 64;
        if (kind === 'len') t.setLen(k, 65535);
        else t.setBufIdx(k, kind === 'idx0' ? 0 : 0xffffffff);
        assert.throws(() => tx.txsync(), (e: unknown) => e instanceof NetmapError && e.code === 'EINVAL' && new RegExp(`slot ${k}: ${kind === 'len' ? 'len 65535' : 'invalid buf_idx'}`).test(e.message),
          `at ${at}, bad slot ${k} (${kind})`);
        rx.rxsync();
        assert.equal(rx.rxRings[0].space(), 0, 'nothing of the batch was published');
        tx.close(); rx.close();
      }
    }
  }
});

test('pipe txsync: NS_MOREFRAG chains across the wrap; an unfinished chain stays with the user', () => {
  const { tx, rx } = pipeAt(60);
  const t = tx.txRings[0], r = rx.rxRings[0];
  // packets: [60], [60 60 60] (wraps), [60], [60 60 ...unfinished]
  queue(t, [60, 61, 62, 63, 64, 65, 66], [0, NS_MOREFRAG, NS_MOREFRAG, 0, 0, NS_MOREFRAG, NS_MOREFRAG]);
  tx.txsync();
  rx.rxsync();
  assert.equal(r.space(), 5, 'the complete packets (5 slots) are published, the open chain is not');
  const tally = new RxTally();
  assert.equal(countFrames(r, 5, tally), 3, 'three frames end in those slots');
  assert.equal(tally.bytes, 60 + 61 + 62 + 63 + 64);
  queue(t, [67]);
  tx.txsync();
  rx.rxsync();
  assert.equal(r.space(), 3);
  assert.equal(countFrames(r, 3, tally), 1);
  tx.close(); rx.close();
});

test('pipe rxsync: a released slot with a bad buf_idx at any position names that slot', () => {
  for (const at of [0, 58]) {
    for (let bad = 0; bad < 9; bad++) {
      const { tx, rx } = pipeAt(at);
      const t = tx.txRings[0], r = rx.rxRings[0];
      queue(t, Array.from({ length: 9 }, () => 60));
      tx.txsync();
      rx.rxsync();
      const k = (at + bad) % 64;
      r.setBufIdx(k, 1);
      r.advance(r.tail);
      assert.throws(() => rx.rxsync(), (e: unknown) => e instanceof NetmapError && new RegExp(`slot ${k}: invalid buf_idx 1`).test(e.message), `at ${at}, slot ${k}`);
      tx.close(); rx.close();
    }
  }
});

test('pkt-gen fillFixed: writes only changed slot words, rewrites NS_BUF_CHANGED buffers, wraps', () => {
  const { tx, rx } = pipeAt(59);
  const t = tx.txRings[0];
  const frame = new Uint8Array(60).fill(0xab);
  const cfg = { frame, frameLen: 60, vhdr: 0 } as LoopConfig;
  for (let i = 0; i < 64; i++) t.setLen(i, 60);
  t.setLen((59 + 6) % 64, 7); // a stale length
  t.setSlotFlags((59 + 9) % 64, 1); // NS_BUF_CHANGED: the buffer must get the frame again
  const changed = t.buf((59 + 9) % 64);
  tx.u8.fill(0, changed, changed + 60);
  const st = new TxState();
  assert.equal(fillFixed(t, tx.u8, cfg, 20, 60, st), 20);
  assert.equal(st.bytes, 20 * 60);
  assert.equal(t.head, (59 + 20) % 64);
  for (let i = 0; i < 20; i++) {
    const k = (59 + i) % 64;
    assert.equal(t.len(k), 60, `slot ${k} len`);
    assert.equal(t.slotFlags(k), 0, `slot ${k} flags`);
  }
  assert.deepEqual(tx.u8.subarray(changed, changed + 60), frame, 'the swapped-in buffer holds the frame');
  tx.close(); rx.close();
});

test('VALE gather: one-slot packets and chains mixed across the wrap arrive in order, intact', () => {
  const sw = `valeSP${id}`;
  const a = open(`${sw}:a`, { txSlots: 64, rxSlots: 64 }), b = open(`${sw}:b`, { txSlots: 64, rxSlots: 64 });
  const A = mac(0xa), B = mac(0xb);
  const mk = (tag: number, len: number): Uint8Array => {
    const f = new Uint8Array(len);
    f.set(B, 0); f.set(A, 6); f[12] = 0x08;
    for (let i = 14; i < len; i++) f[i] = (tag * 13 + i) & 0xff;
    return f;
  };
  putRaw(b, (() => { const f = new Uint8Array(60); f.set(A, 0); f.set(B, 6); return f; })()); // b is learned
  b.txsync();
  drain(a);
  const t = a.txRings[0];
  // move the ring near its end
  for (let i = 0; i < 55; i++) putRaw(a, mk(i, 60));
  a.txsync();
  drain(b);
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 8; i++) { const f = mk(100 + i, 60 + i); sent.push(f); putRaw(a, f); }
  // a two-slot chain across the wrap (slots 63 and 0): 100 + 50 bytes
  assert.equal(t.head, 63);
  const whole = mk(200, 150);
  let h = t.head;
  tx2(t, a, h, whole.subarray(0, 100), NS_MOREFRAG); h = t.next(h);
  tx2(t, a, h, whole.subarray(100), 0); h = t.next(h);
  t.advance(h);
  for (let i = 0; i < 5; i++) { const f = mk(300 + i, 60); sent.push(f); putRaw(a, f); }
  a.txsync();
  const got = drain(b);
  assert.equal(got.length, 15, 'every slot arrived');
  const flat = got.map((g) => g.data);
  // order: eight one-slot packets, the chain (as its two slots), five one-slot packets
  assert.deepEqual(flat.slice(0, 8), sent.slice(0, 8));
  assert.equal(got[8].flags & NS_MOREFRAG, NS_MOREFRAG);
  assert.deepEqual([...flat[8], ...flat[9]], [...whole]);
  assert.deepEqual(flat.slice(10), sent.slice(8));
  a.close(); b.close();
});

function tx2(t: Ring, p: Port, k: number, data: Uint8Array, flags: number): void {
  p.u8.set(data, t.buf(k));
  t.setLen(k, data.length);
  t.setSlotFlags(k, flags);
}
