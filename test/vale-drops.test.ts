// VALE without back-pressure: a full destination drops and counts, others are unaffected;
// the 254-port limit; switches disappear with their last port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetmapError, listSwitches, open, valeSwitch, type Port } from '../src/index.js';
import { BROADCAST, drain, mac, pending, put, send } from './fixtures/vale-helpers.js';

const A = mac(0xa), B = mac(0xb), C = mac(0xc);

/** Send `n` frames from `p` (txsync whenever the ring fills, and at the end). */
function sendMany(p: Port, n: number, dst: Uint8Array, src: Uint8Array, tag = 0): void {
  for (let i = 0; i < n; i++) {
    if (p.txRings[0].space() === 0) p.txsync();
    put(p, dst, src, { payload: Uint8Array.of(tag, i & 0xff, i >> 8) });
  }
  p.txsync();
}

test('a full rx ring drops and counts; other receivers are unaffected', () => {
  const a = open('valeD1:a'), b = open('valeD1:b@conf:slots=64'), c = open('valeD1:c');
  try {
    assert.equal(b.rxRings[0].numSlots, 64);
    send(b, BROADCAST, B); // learn B
    send(c, BROADCAST, C); // learn C
    drain(a); drain(c);
    const b0 = b.stats();
    assert.equal(b0.rxPackets, 1); // C's broadcast
    drain(b);

    // 200 unicast frames to B, which does not read: exactly 63 fit (one slot stays empty)
    sendMany(a, 200, B, A, 1);
    assert.equal(pending(b), 63);
    assert.equal(b.stats().rxDrops, 137);
    assert.equal(a.stats().txDrops, 137);
    assert.equal(a.stats().txPackets, 200, 'the sender transmitted all of them');
    assert.equal(b.stats().rxPackets, 1 + 63);
    assert.equal(drain(c).length, 0, 'unicast to B never reaches C, even when B is full');

    // while B stays full, broadcasts from A still reach C, every one of them
    sendMany(a, 300, BROADCAST, A, 2);
    const atC = drain(c);
    assert.equal(atC.length, 300);
    assert.deepEqual(atC.map((f) => f.data[15] | (f.data[16] << 8)), Array.from({ length: 300 }, (_, i) => i));
    assert.equal(c.stats().rxDrops, 0);
    assert.equal(b.stats().rxDrops, 137 + 300, 'B drops its copy of each broadcast');
    assert.equal(a.stats().txDrops, 137 + 300, 'one drop per copy a destination could not take');

    // the 63 frames B holds are the first 63 sent, in order
    const atB = drain(b);
    assert.equal(atB.length, 63);
    assert.deepEqual(atB.map((f) => f.data[14]), new Array(63).fill(1));
    assert.deepEqual(atB.map((f) => f.data[15] | (f.data[16] << 8)), Array.from({ length: 63 }, (_, i) => i));

    // once drained, B receives again
    sendMany(a, 10, B, A, 3);
    assert.equal(drain(b).length, 10);
    assert.equal(b.stats().rxDrops, 437);

    // the ring wraps correctly: fill and drain it several times around
    for (let round = 0; round < 5; round++) {
      sendMany(a, 50, B, A, 4);
      const got = drain(b);
      assert.equal(got.length, 50);
      assert.deepEqual(got.map((f) => f.data[15]), Array.from({ length: 50 }, (_, i) => i));
    }
    assert.equal(b.stats().rxDrops, 437);
    // the switch's view of the counters is the ports' own
    const info = valeSwitch('valeD1').info();
    for (const p of [a, b, c]) {
      const e = info.ports.find((x) => x.name === p.name.replace(/@.*/, ''));
      assert.ok(e, p.name);
      assert.deepEqual(e.stats, p.stats());
      assert.equal(e.openers, 1);
    }
    assert.deepEqual(info.ports.find((x) => x.name === 'valeD1:b')!.rxSlots, 64);
  } finally {
    a.close(); b.close(); c.close();
  }
});

test('a partly drained ring takes exactly its free slots', () => {
  const a = open('valeD2:a'), b = open('valeD2:b@conf:slots=16');
  try {
    send(b, BROADCAST, B);
    drain(a);
    sendMany(a, 10, B, A);
    b.rxsync();
    const r = b.rxRings[0];
    assert.equal(r.space(), 10);
    // release 4 of the 10: 15 - 6 = 9 free
    r.advance((r.head + 4) % r.numSlots);
    b.rxsync();
    sendMany(a, 20, B, A, 7);
    b.rxsync();
    assert.equal(r.space(), 15);
    assert.equal(b.stats().rxDrops, 11);
    assert.equal(a.stats().txDrops, 11);
  } finally {
    a.close(); b.close();
  }
});

test('254 ports per switch; the 255th open fails with ENOMEM; the switch goes away with its last port', () => {
  const ports: Port[] = [];
  try {
    for (let i = 0; i < 254; i++) ports.push(open(`valeD3:p${i}@conf:slots=4`));
    assert.deepEqual(ports.map((p) => (p as unknown as { portIndex: number }).portIndex), Array.from({ length: 254 }, (_, i) => i));
    assert.equal(valeSwitch('valeD3').info().ports.length, 254);
    assert.throws(() => open('valeD3:one_too_many@conf:slots=4'), (e: unknown) => e instanceof NetmapError && e.code === 'ENOMEM');
    // the failed open left nothing behind
    assert.equal(valeSwitch('valeD3').info().ports.length, 254);
    assert.ok(!valeSwitch('valeD3').info().ports.some((p) => p.name.includes('one_too_many')));
    // a second opener of an existing port is not a new port
    const again = open('valeD3:p0');
    assert.equal(valeSwitch('valeD3').info().ports.find((p) => p.name === 'valeD3:p0')?.openers, 2);
    again.close();

    // the switch still forwards with 254 ports: a broadcast from p0 reaches all 253 others
    send(ports[0], BROADCAST, mac(1));
    for (let i = 1; i < 254; i++) assert.equal(drain(ports[i]).length, 1, `p${i}`);

    // free one index: the next open takes it
    ports[100].close();
    const p = open('valeD3:late@conf:slots=4');
    assert.equal((p as unknown as { portIndex: number }).portIndex, 100);
    ports[100] = p;
    assert.throws(() => open('valeD3:x@conf:slots=4'), (e: unknown) => e instanceof NetmapError && e.code === 'ENOMEM');
  } finally {
    for (const p of ports) p.close();
  }
  assert.ok(!listSwitches().some((s) => s.name === 'valeD3'), 'switch destroyed with its last port');
  assert.throws(() => valeSwitch('valeD3').info(), (e: unknown) => e instanceof NetmapError && e.code === 'ENOENT');
  // and a new one of the same name starts empty (no learned MACs, default lookup)
  const a = open('valeD3:a'), b = open('valeD3:b'), c = open('valeD3:c');
  try {
    assert.equal(valeSwitch('valeD3').info().ports.length, 3);
    send(a, mac(1), A); // mac(1) was learned on the old switch's p0: here it is unknown
    assert.equal(drain(b).length, 1);
    assert.equal(drain(c).length, 1);
  } finally {
    a.close(); b.close(); c.close();
  }
  assert.ok(!listSwitches().some((s) => s.name === 'valeD3'));
});

test('closing a port removes it from the switch; the others keep working', () => {
  const a = open('valeD4:a'), b = open('valeD4:b'), c = open('valeD4:c');
  try {
    send(b, BROADCAST, B);
    drain(a); drain(c);
    b.close();
    assert.deepEqual(valeSwitch('valeD4').info().ports.map((p) => p.name).sort(), ['valeD4:a', 'valeD4:c']);
    // B was learned on a port that is gone: the frame is dropped (counted), c gets nothing
    send(a, B, A);
    assert.equal(drain(c).length, 0);
    assert.equal(a.stats().txDrops, 1);
    send(a, BROADCAST, A);
    assert.equal(drain(c).length, 1);
    assert.throws(() => b.txsync(), (e: unknown) => e instanceof NetmapError && e.code === 'EBADF');
  } finally {
    a.close(); b.close(); c.close();
  }
  assert.ok(!listSwitches().some((s) => s.name === 'valeD4'));
});

test('a flood that finds no other port is dropped and counted, not lost silently (sent = received + drops)', () => {
  const a = open('valeD9:a');
  try {
    sendMany(a, 40, BROADCAST, A, 1);
    sendMany(a, 25, B, A, 2); // unicast to an unknown address floods
    assert.equal(a.stats().txPackets, 65);
    assert.equal(a.stats().txDrops, 65, 'alone on the switch: every frame reached no one');

    // a receiver comes: the flood reaches it, and nothing is dropped
    const b = open('valeD9:b');
    try {
      sendMany(a, 30, BROADCAST, A, 3);
      assert.equal(drain(b).length, 30);
      assert.equal(a.stats().txDrops, 65);
    } finally {
      b.close();
    }
    // ... and leaves: the switch holds only the sender again
    sendMany(a, 7, BROADCAST, A, 4);
    assert.equal(a.stats().txDrops, 72);
    assert.equal(a.stats().txPackets, 65 + 30 + 7);
  } finally {
    a.close();
  }
});

test('a flood on a switch of two ports goes straight to the other port: in order, intact, a full ring counted (sent = received + drops)', () => {
  const a = open('valeD10:a'), b = open('valeD10:b@conf:slots=64');
  try {
    // 100 broadcast frames into a 64-slot ring: 63 fit, the rest are dropped and counted
    sendMany(a, 100, BROADCAST, A, 5);
    const got = drain(b);
    assert.equal(got.length, 63);
    got.forEach((f, i) => {
      assert.deepEqual(f.data.subarray(0, 12), Uint8Array.of(...BROADCAST, ...A), `frame ${i}: MACs`);
      assert.deepEqual(f.data.subarray(14, 17), Uint8Array.of(5, i & 0xff, i >> 8), `frame ${i}: in order`);
    });
    assert.equal(a.stats().txDrops, 37);
    assert.equal(b.stats().rxDrops, 37);
    assert.equal(b.stats().rxPackets + a.stats().txDrops, 100);
    // a third port: the flood reaches both others again
    const c = open('valeD10:c');
    try {
      sendMany(a, 5, BROADCAST, A, 6);
      assert.equal(drain(b).length, 5);
      assert.equal(drain(c).length, 5);
    } finally {
      c.close();
    }
  } finally {
    a.close();
    b.close();
  }
});
