// A sender learns that the switch found a destination full (apps/common/full-destination.ts),
// told apart from frames that had no destination at all, and gives way as its policy says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, type Port } from '../src/index.js';
import { FullDestinationWatch, FullPolicy, parseFullPolicy } from '../src/apps/common/full-destination.js';
import { fullDestinationDeliveries } from '../src/vale/forward.js';
import { BROADCAST, mac } from './fixtures/vale-helpers.js';

/** Queue `n` frames from `src` to `dst` on `p`'s tx ring 0 and txsync. */
function send(p: Port, n: number, dst: Uint8Array = BROADCAST, src: Uint8Array = mac(0x61)): void {
  const r = p.txRings[0];
  for (let i = 0; i < n; i++) {
    const h = r.head, o = r.buf(h);
    p.u8.set(dst, o);
    p.u8.set(src, o + 6);
    r.setLen(h, 60);
    r.setSlotFlags(h, 0);
    r.advance(r.next(h));
  }
  p.txsync();
}

/** Take everything `p` received. */
function drain(p: Port): void {
  p.rxsync();
  for (const r of p.rxRings) r.advance(r.tail);
  p.rxsync();
}

test('policies: none, yield, sleep:US; anything else refused with the accepted forms', () => {
  assert.deepEqual([parseFullPolicy('none', 'x').kind, parseFullPolicy('yield', 'x').kind], [0, 1]);
  const s = parseFullPolicy('sleep:50', 'x');
  assert.equal(s.kind, 2);
  assert.equal(s.sleepMs, 0.05);
  assert.equal(s.toString(), 'sleep:50');
  assert.equal(parseFullPolicy('sleep:10000', 'x').toString(), 'sleep:10000');
  for (const bad of ['sleep:0', 'sleep:10001', 'sleep:', 'sleep:-5', 'sleep:1.5', 'nap', '']) {
    assert.throws(() => parseFullPolicy(bad, '--on-full'), { name: 'RangeError', message: `--on-full ${bad}: none, yield or sleep:US (US 1..10000 microseconds) expected` });
  }
});

test('a full destination is noticed once per sync that met it; a frame with no destination is not', () => {
  const tx = open('valefd1:tx');
  try {
    const watch = new FullDestinationWatch(new FullPolicy(0, 0));
    // alone on the switch: the flood reaches no one and is dropped, but no ring was full
    send(tx, 100);
    assert.equal(tx.stats().txDrops, 100);
    assert.equal(watch.noteSync(), false, 'no destination is not a full destination');
    const rx = open('valefd1:rx@conf:slots=64');
    try {
      send(tx, 50); // fits (63 free slots)
      assert.equal(watch.noteSync(), false);
      send(tx, 50); // 13 fit, 37 dropped at the full ring
      assert.equal(watch.noteSync(), true);
      assert.equal(watch.noteSync(), false, 'noticed once');
      drain(rx);
      send(tx, 10);
      assert.equal(watch.noteSync(), false, 'room again after the receiver took its frames');
      // unicast to the learned receiver takes the direct path (deliverSlots): the same hint
      send(rx, 1, BROADCAST, mac(0x62)); // rx announces its MAC: learned on rx's port
      drain(tx);
      send(tx, 100, mac(0x62));
      assert.equal(watch.noteSync(), true);
    } finally {
      rx.close();
    }
  } finally {
    tx.close();
  }
});

test('a full monitor ring is no full destination: observers drop, the sender does not give way for them', () => {
  const tx = open('valefd3:tx'), rx = open('valefd3:rx'), mon = open('valefd3:tx/t@conf:slots=64');
  try {
    const watch = new FullDestinationWatch(new FullPolicy(0, 0));
    send(tx, 200); // the receiver's 1024-slot ring takes all; the monitor's 64 slots do not
    assert.equal(mon.stats().rxDrops, 200 - 63, 'the monitor dropped what did not fit');
    assert.equal(tx.stats().txDrops, 0, 'the destination took everything');
    assert.equal(watch.noteSync(), false);
  } finally {
    mon.close(); rx.close(); tx.close();
  }
});

test('the count is per thread and only grows', () => {
  const before = fullDestinationDeliveries();
  const tx = open('valefd2:tx'), rx = open('valefd2:rx@conf:slots=64');
  try {
    send(tx, 100);
    send(tx, 100);
    assert.equal(fullDestinationDeliveries(), before + 2, 'two deliveries without room');
  } finally {
    rx.close(); tx.close();
  }
});

test('giving way: sleep sleeps at least its time, yield and none return', () => {
  const sleep = new FullDestinationWatch(parseFullPolicy('sleep:2000', 'x'));
  const t0 = performance.now();
  sleep.giveWay();
  assert.ok(performance.now() - t0 >= 1.9, 'slept about 2 ms or more');
  new FullDestinationWatch(parseFullPolicy('yield', 'x')).giveWay();
  new FullDestinationWatch(parseFullPolicy('none', 'x')).giveWay();
});
