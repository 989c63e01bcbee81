// VALE learning bridge: unicast to learned MACs, flooding, NS_NO_LEARN, runts, MAC moves,
// and byte-exact copies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NS_NO_LEARN, open, listSwitches, valeSwitch, type Port } from '../src/index.js';
import { BROADCAST, MULTICAST, drain, firstDiff, mac, prng, put, putRaw, send } from './fixtures/vale-helpers.js';

const A = mac(0xa), B = mac(0xb), C = mac(0xc), D = mac(0xd), UNKNOWN = mac(0x77);

function three(sw: string): [Port, Port, Port] {
  return [open(`${sw}:a`), open(`${sw}:b`), open(`${sw}:c`)];
}

function closeAll(...ports: Port[]): void {
  for (const p of ports) p.close();
}

test('unicast to a learned MAC reaches only that port', () => {
  const [a, b, c] = three('valeL1');
  try {
    send(b, BROADCAST, B); // A and C learn nothing, the switch learns B on port b
    assert.equal(drain(a).length, 1);
    assert.equal(drain(c).length, 1);
    assert.equal(drain(b).length, 0, 'never back to the sender');

    for (let i = 0; i < 5; i++) put(a, B, A, { payload: Uint8Array.of(i) });
    a.txsync();
    const got = drain(b);
    assert.equal(got.length, 5);
    assert.deepEqual(got.map((f) => f.data[14]), [0, 1, 2, 3, 4], 'send order kept');
    assert.equal(drain(c).length, 0, 'C must not see unicast to B');
    assert.equal(drain(a).length, 0);
    assert.equal(b.stats().rxPackets, 5);
    assert.equal(c.stats().rxPackets, 1);
    assert.equal(a.stats().txPackets, 5);
    assert.equal(a.stats().txDrops, 0);
  } finally {
    closeAll(a, b, c);
  }
});

test('broadcast, multicast and unknown unicast flood to every other port, never the sender', () => {
  const sw = 'valeL2';
  const ports = [open(`${sw}:a`), open(`${sw}:b`), open(`${sw}:c`), open(`${sw}:d`)];
  const [a, b, c, d] = ports;
  try {
    // learn b, c, d (each floods once; drain everything)
    send(b, BROADCAST, B); send(c, BROADCAST, C); send(d, BROADCAST, D);
    for (const p of ports) drain(p);

    for (const [what, dst] of [['broadcast', BROADCAST], ['multicast', MULTICAST], ['unknown unicast', UNKNOWN]] as const) {
      put(a, dst, A, { payload: Uint8Array.of(0x42) });
      put(a, dst, A, { payload: Uint8Array.of(0x43) });
      a.txsync();
      assert.equal(drain(a).length, 0, `${what}: not back to the sender`);
      for (const p of [b, c, d]) {
        const got = drain(p);
        assert.equal(got.length, 2, `${what}: ${p.name} gets both frames`);
        assert.deepEqual(got.map((f) => f.data[14]), [0x42, 0x43]);
        assert.deepEqual(got[0].data.subarray(0, 6), dst);
      }
    }
    // a multicast *source* is never learned: a frame "from" the multicast MAC does not make
    // the switch send multicast traffic to that port only
    send(b, UNKNOWN, MULTICAST);
    for (const p of [a, c, d]) assert.equal(drain(p).length, 1);
    send(a, MULTICAST, A);
    for (const p of [b, c, d]) assert.equal(drain(p).length, 1, `${p.name}: multicast still floods`);
  } finally {
    closeAll(...ports);
  }
});

test('NS_NO_LEARN: the source MAC is not learned, unicast to it keeps flooding', () => {
  const [a, b, c] = three('valeL3');
  try {
    send(b, BROADCAST, B, { flags: NS_NO_LEARN });
    assert.equal(drain(a).length, 1);
    assert.equal(drain(c).length, 1);
    send(a, B, A);
    assert.equal(drain(b).length, 1);
    assert.equal(drain(c).length, 1, 'B not learned: unicast to B floods to C too');
    // now learn it for real: unicast stops flooding
    send(b, BROADCAST, B);
    drain(a); drain(c);
    send(a, B, A);
    assert.equal(drain(b).length, 1);
    assert.equal(drain(c).length, 0);
    // NS_NO_LEARN from another port does not move the entry
    send(c, BROADCAST, B, { flags: NS_NO_LEARN });
    drain(a); drain(b);
    send(a, B, A);
    assert.equal(drain(b).length, 1, 'entry still points at b');
    assert.equal(drain(c).length, 0);
  } finally {
    closeAll(a, b, c);
  }
});

test('frames shorter than 14 bytes are dropped and delivered nowhere', () => {
  const [a, b, c] = three('valeL4');
  try {
    send(b, BROADCAST, B);
    drain(a); drain(c);
    const before = [a, b, c].map((p) => p.stats());
    for (const len of [13, 0, 1, 12]) put(a, B, A, { len });
    put(a, BROADCAST, A, { len: 13 });
    a.txsync();
    for (const p of [b, c]) assert.equal(drain(p).length, 0, `${p.name} gets no runt`);
    const after = [a, b, c].map((p) => p.stats());
    assert.equal(after[1].rxPackets, before[1].rxPackets);
    assert.equal(after[2].rxPackets, before[2].rxPackets);
    assert.equal(after[1].rxDrops + after[2].rxDrops, 0, 'not counted as a full-ring drop either');
    // the tx slots are released all the same
    assert.equal(a.txRings[0].space(), a.txRings[0].numSlots - 1);
    // a 14-byte frame is fine
    send(a, B, A, { len: 14 });
    const got = drain(b);
    assert.equal(got.length, 1);
    assert.equal(got[0].len, 14);
  } finally {
    closeAll(a, b, c);
  }
});

test('a MAC that moves to another port is followed', () => {
  const [a, b, c] = three('valeL5');
  try {
    send(b, BROADCAST, B);
    drain(a); drain(c);
    send(a, B, A);
    assert.equal(drain(b).length, 1);
    assert.equal(drain(c).length, 0);
    // the host with MAC B now sits behind c
    send(c, BROADCAST, B);
    drain(a); drain(b);
    put(a, B, A); put(a, B, A);
    a.txsync();
    assert.equal(drain(c).length, 2, 'traffic follows the MAC to c');
    assert.equal(drain(b).length, 0);
    // and back
    send(b, A, B);
    assert.equal(drain(a).length, 1);
    send(a, B, A);
    assert.equal(drain(b).length, 1);
    assert.equal(drain(c).length, 0);
  } finally {
    closeAll(a, b, c);
  }
});

test('learning is per switch', () => {
  const a1 = open('valeL6:a'), b1 = open('valeL6:b'), c1 = open('valeL6:c');
  const a2 = open('valeL7:a'), b2 = open('valeL7:b'), c2 = open('valeL7:c');
  try {
    send(b1, BROADCAST, B);
    drain(a1); drain(c1);
    send(a2, B, A); // valeL7 never saw B: flood
    assert.equal(drain(b2).length, 1);
    assert.equal(drain(c2).length, 1);
    assert.equal(drain(a1).length + drain(b1).length + drain(c1).length, 0, 'nothing crosses switches');
    assert.ok(listSwitches().some((s) => s.name === 'valeL6'));
    assert.equal(valeSwitch('valeL6').info().ports.length, 3);
  } finally {
    closeAll(a1, b1, c1, a2, b2, c2);
  }
});

/** Frames whose 8-byte words are NaN bit patterns (signalling, quiet, with payloads, both signs). */
function nanFrame(len: number): Uint8Array {
  const f = new Uint8Array(len);
  const patterns = [
    [0xff, 0xf4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // as the brief: big-endian sNaN
    [0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf4, 0xff], // little-endian sNaN with payload 1
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f].map((x, i) => (i === 0 ? 0x01 : x)), // +sNaN, min payload
    [0xde, 0xad, 0xbe, 0xef, 0x12, 0x34, 0xf7, 0x7f], // +sNaN, big payload
    [0xde, 0xad, 0xbe, 0xef, 0x12, 0x34, 0xf8, 0x7f], // +qNaN, non-canonical payload
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0xff], // -qNaN (x86 default NaN)
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80], // -0
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
  ];
  for (let i = 0; i < len; i++) f[i] = patterns[(i >> 3) % patterns.length][i & 7];
  return f;
}

test('payload bytes arrive intact: random 1514 and 60 bytes, NaN patterns, every length 14..300', () => {
  const [a, b, c] = three('valeL8');
  try {
    send(b, BROADCAST, B);
    drain(a); drain(c);
    const rnd = prng(12345);
    const frames: Uint8Array[] = [];
    const mk = (len: number, fill: (i: number) => number): Uint8Array => {
      const f = new Uint8Array(len);
      for (let i = 0; i < len; i++) f[i] = fill(i);
      f.set(B, 0); f.set(A, 6);
      return f;
    };
    frames.push(mk(1514, () => rnd()));
    frames.push(mk(60, () => rnd()));
    for (const len of [60, 64, 255, 256, 257, 1514, 2048]) {
      const n = nanFrame(len);
      n.set(B, 0); n.set(A, 6);
      frames.push(n);
    }
    // NaN patterns also where the MAC header is (destination must still be B: so only after 12)
    const n2 = nanFrame(200);
    n2.set(B, 0); n2.set(A, 6);
    frames.push(n2);
    for (let len = 14; len <= 300; len++) frames.push(mk(len, () => rnd()));
    // odd and NaN-heavy tails at every alignment
    for (let len = 240; len <= 272; len++) { const f = nanFrame(len); f.set(B, 0); f.set(A, 6); frames.push(f); }

    let sent = 0;
    const got: Uint8Array[] = [];
    while (sent < frames.length) {
      const r = a.txRings[0];
      while (sent < frames.length && r.space() > 0) putRaw(a, frames[sent++]);
      a.txsync();
      for (const f of drain(b)) got.push(f.data);
    }
    assert.equal(got.length, frames.length);
    for (let i = 0; i < frames.length; i++) {
      const d = firstDiff(frames[i], got[i]);
      assert.equal(d, -1, `frame ${i} (len ${frames[i].length}) differs at byte ${d}: sent ${frames[i][d]?.toString(16)} got ${got[i][d]?.toString(16)}`);
    }
    assert.equal(drain(c).length, 0);

    // keep copying NaN-patterned short frames until the copy loop is optimized by the JIT,
    // checking every one (a float64 copy that canonicalizes NaNs would change them)
    const hot = nanFrame(64);
    hot.set(B, 0); hot.set(A, 6);
    let hotBad = 0, hotGot = 0;
    for (let round = 0; round < 30; round++) {
      const r = a.txRings[0];
      while (r.space() > 0) putRaw(a, hot);
      a.txsync();
      for (const f of drain(b)) { hotGot++; if (firstDiff(hot, f.data) !== -1) hotBad++; }
    }
    assert.equal(hotGot, 30 * (a.txRings[0].numSlots - 1));
    assert.equal(hotBad, 0, 'NaN bit patterns changed by the copy');

    // the same frames through a flood (several destinations) and a multi-destination batch
    for (let i = 0; i < 4; i++) {
      const f = nanFrame(60 + i * 100);
      f.set(BROADCAST, 0); f.set(A, 6);
      putRaw(a, f);
    }
    a.txsync();
    for (const p of [b, c]) {
      const fl = drain(p);
      assert.equal(fl.length, 4);
      fl.forEach((x, i) => {
        const f = nanFrame(60 + i * 100);
        f.set(BROADCAST, 0); f.set(A, 6);
        assert.equal(firstDiff(f, x.data), -1, `${p.name} flood frame ${i}`);
      });
    }
  } finally {
    closeAll(a, b, c);
  }
});
