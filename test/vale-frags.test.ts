// NS_MOREFRAG chains through VALE: delivered whole and in consecutive slots, dropped whole
// when they do not fit, held back by the sender until complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NS_MOREFRAG, open, type Port } from '../src/index.js';
import { BROADCAST, drain, mac, pending, put, send } from './fixtures/vale-helpers.js';

const A = mac(0xa), B = mac(0xb);

/** Put a chain of fragments (first one carries the Ethernet header), without syncing. */
function putChain(p: Port, dst: Uint8Array, lens: number[], tag: number): void {
  lens.forEach((len, i) => {
    const more = i < lens.length - 1 ? NS_MOREFRAG : 0;
    if (i === 0) {
      put(p, dst, A, { len, flags: more, payload: new Uint8Array(len).fill(tag) });
    } else {
      const r = p.txRings[0], h = r.head;
      p.u8.fill(tag + i, r.buf(h), r.buf(h) + len);
      r.setLen(h, len);
      r.setSlotFlags(h, more);
      r.advance(r.next(h));
    }
  });
}

function pair(sw: string, bConf = ''): [Port, Port] {
  const a = open(`${sw}:a`), b = open(`${sw}:b${bConf}`);
  send(b, BROADCAST, B);
  drain(a);
  return [a, b];
}

test('a 3-slot chain arrives as 3 consecutive slots, MOREFRAG on the first two', () => {
  const [a, b] = pair('valeF1');
  try {
    put(a, B, A, { payload: Uint8Array.of(0x11) }); // a single frame before
    putChain(a, B, [1000, 1500, 300], 0x20);
    put(a, B, A, { payload: Uint8Array.of(0x33) }); // and one after
    a.txsync();
    const got = drain(b);
    assert.equal(got.length, 5);
    assert.deepEqual(got.map((f) => f.flags & NS_MOREFRAG), [0, NS_MOREFRAG, NS_MOREFRAG, 0, 0]);
    assert.deepEqual(got.map((f) => f.len), [60, 1000, 1500, 300, 60]);
    // consecutive slots
    for (let i = 1; i < got.length; i++) assert.equal(got[i].slot, (got[i - 1].slot + 1) % b.rxRings[0].numSlots);
    assert.deepEqual(got[1].data.subarray(0, 6), B);
    assert.ok(got[1].data.subarray(14).every((x) => x === 0x20));
    assert.ok(got[2].data.every((x) => x === 0x21), 'second fragment content');
    assert.ok(got[3].data.every((x) => x === 0x22), 'third fragment content');
    assert.equal(got[0].data[14], 0x11);
    assert.equal(got[4].data[14], 0x33);
    // a chain counts as one packet
    assert.equal(a.stats().txPackets, 3);
    assert.equal(b.stats().rxPackets, 3);
  } finally {
    a.close(); b.close();
  }
});

test('a chain that does not fit is dropped whole; later frames that fit still arrive', () => {
  const [a, b] = pair('valeF2', '@conf:slots=8'); // 7 usable rx slots
  try {
    for (let i = 0; i < 5; i++) put(a, B, A, { payload: Uint8Array.of(i) });
    a.txsync();
    assert.equal(pending(b), 5); // 2 slots left
    putChain(a, B, [100, 100, 100], 0x40);
    put(a, B, A, { payload: Uint8Array.of(0x55) });
    a.txsync();
    const got = drain(b);
    assert.equal(got.length, 6, 'the 3-slot chain did not fit in 2 slots; the single frame did');
    assert.ok(got.every((f) => (f.flags & NS_MOREFRAG) === 0), 'no partial chain at the receiver');
    assert.equal(got[5].data[14], 0x55);
    assert.equal(b.stats().rxDrops, 1, 'one packet (the chain) dropped');
    assert.equal(a.stats().txDrops, 1);

    // exactly fitting chain: 7 free slots, a 7-slot chain goes in whole
    putChain(a, B, [64, 64, 64, 64, 64, 64, 64], 0x60);
    a.txsync();
    const whole = drain(b);
    assert.equal(whole.length, 7);
    assert.deepEqual(whole.map((f) => (f.flags & NS_MOREFRAG) !== 0), [true, true, true, true, true, true, false]);
    // an 8-slot chain never fits a 7-slot ring
    putChain(a, B, [64, 64, 64, 64, 64, 64, 64, 64], 0x70);
    a.txsync();
    assert.equal(drain(b).length, 0);
    assert.equal(b.stats().rxDrops, 2);
  } finally {
    a.close(); b.close();
  }
});

test('a chain dropped for one destination of a flood still reaches the others whole', () => {
  const a = open('valeF3:a'), b = open('valeF3:b@conf:slots=4'), c = open('valeF3:c');
  try {
    putChain(a, BROADCAST, [200, 200, 200, 200], 0x10); // 4 slots: never fit b (3 usable)
    a.txsync();
    assert.equal(drain(b).length, 0);
    const atC = drain(c);
    assert.equal(atC.length, 4);
    assert.deepEqual(atC.map((f) => (f.flags & NS_MOREFRAG) !== 0), [true, true, true, false]);
    assert.equal(b.stats().rxDrops, 1);
    assert.equal(c.stats().rxDrops, 0);
  } finally {
    a.close(); b.close(); c.close();
  }
});

test('an incomplete chain at the end of a txsync is held back until completed', () => {
  const [a, b] = pair('valeF4');
  try {
    const r = a.txRings[0];
    put(a, B, A, { payload: Uint8Array.of(0x01) }); // complete frame
    putChain(a, B, [300, 300], 0x80); // two fragments ...
    // ... turn the last one into "more follows" as well: the chain is incomplete
    const last = (r.head + r.numSlots - 1) % r.numSlots;
    r.setSlotFlags(last, NS_MOREFRAG);
    a.txsync();
    let got = drain(b);
    assert.equal(got.length, 1, 'only the complete frame goes out');
    assert.equal(got[0].data[14], 0x01);
    // the chain's slots are still owned by the kernel side: tail stops before them
    assert.equal(r.space(), r.numSlots - 1 - 2, 'two slots still pending');
    assert.ok(r.txPending());
    // more txsyncs without completing: still nothing
    a.txsync();
    a.txsync();
    assert.equal(drain(b).length, 0);
    // complete it with a final fragment
    const h = r.head;
    a.u8.fill(0x99, r.buf(h), r.buf(h) + 50);
    r.setLen(h, 50);
    r.setSlotFlags(h, 0);
    r.advance(r.next(h));
    a.txsync();
    got = drain(b);
    assert.equal(got.length, 3);
    assert.deepEqual(got.map((f) => f.len), [300, 300, 50]);
    assert.deepEqual(got.map((f) => (f.flags & NS_MOREFRAG) !== 0), [true, true, false]);
    assert.ok(got[1].data.every((x) => x === 0x81));
    assert.ok(got[2].data.every((x) => x === 0x99));
    assert.equal(r.space(), r.numSlots - 1, 'all slots back');
    assert.equal(a.stats().txPackets, 2);
  } finally {
    a.close(); b.close();
  }
});

test('chains across the tx and rx ring wrap-around', () => {
  const [a, b] = pair('valeF5', '@conf:slots=16');
  try {
    let total = 0;
    for (let round = 0; round < 20; round++) {
      // 5-slot chains: 3 per round fill 15 slots of the 15 usable
      for (let k = 0; k < 3; k++) putChain(a, B, [70, 80, 90, 100, 110], (round * 3 + k) & 0x7f);
      a.txsync();
      const got = drain(b);
      assert.equal(got.length, 15, `round ${round}`);
      for (let k = 0; k < 3; k++) {
        const chain = got.slice(5 * k, 5 * k + 5);
        assert.deepEqual(chain.map((f) => f.len), [70, 80, 90, 100, 110]);
        assert.deepEqual(chain.map((f) => (f.flags & NS_MOREFRAG) !== 0), [true, true, true, true, false]);
        const tag = (round * 3 + k) & 0x7f;
        assert.ok(chain[4].data.every((x) => x === tag + 4));
      }
      total += 3;
    }
    assert.equal(b.stats().rxPackets, total);
    assert.equal(b.stats().rxDrops, 0);
  } finally {
    a.close(); b.close();
  }
});

test('a chain straddling the forwarding batch boundary goes out in the same txsync', () => {
  // the switch forwards in batches of up to 1024 slots; a chain that starts near the end of
  // one batch must not be mistaken for an incomplete one
  const [a, b] = [open('valeF6:a@conf:slots=2048'), open('valeF6:b@conf:slots=2048')];
  try {
    send(b, BROADCAST, B);
    drain(a);
    for (const before of [1020, 1022, 1023, 1024, 1025]) {
      for (let i = 0; i < before; i++) put(a, B, A, { payload: Uint8Array.of(i & 0xff) });
      putChain(a, B, [100, 100, 100, 100, 100], 0x30);
      for (let i = 0; i < 10; i++) put(a, B, A, { payload: Uint8Array.of(0xee) });
      a.txsync();
      const r = a.txRings[0];
      assert.equal(r.space(), r.numSlots - 1, `${before} singles + chain: every slot released by one txsync`);
      const got = drain(b);
      assert.equal(got.length, before + 5 + 10, `${before} singles + 5-slot chain + 10 singles in one txsync`);
      assert.deepEqual(got.slice(before, before + 5).map((f) => (f.flags & NS_MOREFRAG) !== 0), [true, true, true, true, false]);
      assert.ok(got.slice(before + 5).every((f) => f.flags === 0 && f.data[14] === 0xee));
    }
    assert.equal(b.stats().rxDrops, 0);
  } finally {
    a.close(); b.close();
  }
});

test('a 64-slot chain (NETMAP_MAX_FRAGS) is delivered whole', () => {
  const [a, b] = pair('valeF7');
  try {
    const lens = Array.from({ length: 64 }, (_, i) => 20 + i);
    putChain(a, B, lens, 0);
    a.txsync();
    const got = drain(b);
    assert.equal(got.length, 64);
    assert.deepEqual(got.map((f) => f.len), lens);
    assert.equal(got.filter((f) => f.flags & NS_MOREFRAG).length, 63);
    assert.equal(got[63].flags & NS_MOREFRAG, 0);
    assert.equal(b.stats().rxPackets, 1);
  } finally {
    a.close(); b.close();
  }
});
