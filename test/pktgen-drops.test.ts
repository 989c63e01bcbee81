// What pkt-gen reports as dropped (apps/pkt-gen/drops.ts): a sender's frames the switch could
// not deliver, a receiver's or a monitor's frames its ring had no room for, counted on the
// rings this opener bound only (pkt-gen -p N: one ring per thread).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, type Port } from '../src/index.js';
import { boundDrops } from '../src/apps/pkt-gen/drops.js';
import { BROADCAST, mac } from './fixtures/vale-helpers.js';

/** Queue `n` broadcast frames on tx ring `ring` of `p` and txsync. */
function blast(p: Port, n: number, ring = 0): void {
  const r = p.txRings[ring];
  for (let i = 0; i < n; i++) {
    const h = r.head, o = r.buf(h);
    p.u8.set(BROADCAST, o);
    p.u8.set(mac(0x51), o + 6);
    r.setLen(h, 60);
    r.setSlotFlags(h, 0);
    r.advance(r.next(h));
  }
  p.txsync();
}

test('sender and receiver drops: what the switch could not deliver, on both sides', () => {
  const rx = open('valepd1:rx@conf:slots=64'), tx = open('valepd1:tx');
  try {
    assert.equal(boundDrops(tx, false), 0);
    blast(tx, 200);
    assert.equal(boundDrops(tx, false), 200 - 63);
    assert.equal(boundDrops(rx, true), 200 - 63);
    assert.equal(boundDrops(rx, false), 0, 'the receiver sent nothing');
  } finally {
    rx.close(); tx.close();
  }
});

test('a monitor\'s drops: copies its ring had no room for, while the port lost nothing', () => {
  const a = open('valepd2:a@conf:slots=256'), m = open('valepd2:a/r@conf:slots=64'), b = open('valepd2:b');
  try {
    assert.equal(m.rxRings[0].numSlots, 64);
    blast(b, 200);
    a.rxsync(); // the port's sync feeds its copy monitor
    assert.equal(boundDrops(a, true), 0);
    assert.equal(boundDrops(m, true), 200 - 63, 'the monitor reports what it missed');
    assert.equal(m.stats().rxDrops, 200 - 63);
  } finally {
    m.close(); a.close(); b.close();
  }
});

test('an opener of one ring counts that ring only (pkt-gen -p: threads add up)', () => {
  const small = '@conf:rings=2,slots=64', big = '@conf:rings=2';
  const rx0 = open(`valepd3:rx-0${small}`), rx1 = open(`valepd3:rx-1${small}`);
  const tx0 = open(`valepd3:tx-0${big}`), tx1 = open(`valepd3:tx-1${big}`);
  try {
    blast(tx0, 100); // tx ring 0 delivers to rx ring 0 % 2
    blast(tx1, 80);
    assert.equal(boundDrops(tx0, false), 100 - 63);
    assert.equal(boundDrops(tx1, false), 80 - 63);
    assert.equal(boundDrops(rx0, true), 100 - 63);
    assert.equal(boundDrops(rx1, true), 80 - 63);
    assert.equal(rx0.stats().rxDrops, 100 + 80 - 2 * 63, 'the port as a whole');
  } finally {
    for (const p of [rx0, rx1, tx0, tx1]) p.close();
  }
});
