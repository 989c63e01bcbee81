// A forwarder's rings are input (apps/common/port-forward.ts): a switch port's slots sit in a
// shared file any participant can write. A source slot whose buffer index is out of range is
// dropped and counted, never read; a destination slot whose index is out of range gets nothing
// written, and its port's txsync reports it (as netmap resets a ring with a bad slot). Two
// switches, so the Direction copies between two regions; one of the frames fills its buffer
// (2048 bytes), the length copied by one set() from a view of the source buffer, which an
// index out of range once turned into a RangeError that stopped the forwarder. Needs no root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetmapError, open } from '../src/index.js';
import { Direction } from '../src/apps/common/port-forward.js';
import { drain } from './fixtures/vale-helpers.js';
import { sendChain } from './fixtures/vnet-chain.js';

const ID = process.pid;

/** A broadcast frame of `len` bytes whose payload bytes are `fill`. */
function frame(len: number, fill: number): Uint8Array {
  const f = new Uint8Array(len).fill(fill);
  f.fill(0xff, 0, 6);
  f.set([0x02, 0, 0, 0, 0, 0x01], 6);
  f[12] = 0x08;
  f[13] = 0x00;
  return f;
}

test('a forwarder drops a source slot with a bad buffer index and writes nothing through a bad destination slot', () => {
  const S1 = `valefi${ID}a`, S2 = `valefi${ID}b`;
  const a = open(`${S1}:a`), b = open(`${S1}:b`), c = open(`${S2}:c`), d = open(`${S2}:d`);
  try {
    const bufSize = b.rxRings[0].bufSize;
    for (const [len, fill] of [[60, 1], [bufSize, 2], [1000, 3]] as const) sendChain(a, frame(len, fill));
    b.rxsync();
    const rx = b.rxRings[0];
    assert.equal((rx.tail - rx.head + rx.numSlots) % rx.numSlots, 3, 'three frames at b');
    const spoiled = rx.next(rx.head), kept = rx.bufIdx(spoiled);
    rx.setBufIdx(spoiled, 0x7fffffff); // the whole-buffer frame's slot, as another process could write it
    const bc = new Direction(b, c, false);
    assert.equal(bc.run(64), 2, 'the two good frames moved');
    assert.equal(bc.drops, 1, 'the bad slot dropped and counted');
    assert.equal(rx.head, rx.tail, 'every slot taken');
    rx.setBufIdx(spoiled, kept); // (else b's next rxsync resets its ring, as it should)
    c.txsync();
    const got = drain(d);
    assert.deepEqual(got.map((f) => [f.len, f.data[20]]), [[60, 1], [1000, 3]], 'the good frames, whole');

    // a destination slot spoiled the same way
    const tx = c.txRings[0];
    const badSlot = tx.head, keptTx = tx.bufIdx(badSlot);
    tx.setBufIdx(badSlot, 0x7fffffff);
    sendChain(a, frame(bufSize, 4));
    b.rxsync();
    assert.equal(bc.run(64), 1, 'taken');
    assert.equal(tx.len(badSlot), bufSize, 'its length set, nothing written');
    assert.throws(() => c.txsync(), (e: unknown) => e instanceof NetmapError && /invalid buf_idx 2147483647/.test(e.message),
      'c\'s txsync reports the bad slot');
    void keptTx;
  } finally {
    for (const p of [a, b, c, d]) { try { p.close(); } catch { /* a reset ring */ } }
  }
});
