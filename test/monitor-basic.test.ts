// Monitors: /t, /r, /rt copies, /z zero-copy, several monitors per ring, a slow monitor,
// detaching, and monitors on pipes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NS_BUF_CHANGED, NS_MOREFRAG, NS_TXMON, NetmapError, open, type Port } from '../src/index.js';
import { BROADCAST, drain, firstDiff, mac, pending, put, putRaw, send, type Rx } from './fixtures/vale-helpers.js';

const A = mac(0xa), B = mac(0xb);

function closeAll(...ports: Port[]): void {
  for (const p of ports) p.close();
}

/** Switch `sw` with ports a and b, B learned on b. */
function pair(sw: string): [Port, Port] {
  const a = open(`${sw}:a`), b = open(`${sw}:b`);
  send(b, BROADCAST, B);
  drain(a);
  return [a, b];
}

/** A frame from `src` to `dst` whose payload starts with `tag`. */
function frame(dst: Uint8Array, src: Uint8Array, tag: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.set(dst, 0); f.set(src, 6); f[12] = 0x08;
  for (let i = 14; i < len; i++) f[i] = (tag + i) & 0xff;
  f[14] = tag;
  return f;
}

const tags = (fs: Rx[]): number[] => fs.map((f) => f.data[14]);

test('monitoring a port that is not open fails with ENXIO', () => {
  assert.throws(() => open('valeM0:nobody/t'), (e: unknown) => e instanceof NetmapError && e.code === 'ENXIO');
  assert.throws(() => open('nosuchpipe{3/r'), (e: unknown) => e instanceof NetmapError && e.code === 'ENXIO');
});

test('/t sees transmitted frames flagged NS_TXMON; /r sees received frames unflagged; /rt both', () => {
  const [a, b] = pair('valeM1');
  const ta = open('valeM1:a/t'), rb = open('valeM1:b/r'), rtb = open('valeM1:b/rt'), ra = open('valeM1:a/r');
  try {
    assert.equal(ta.txRings.length, 0, 'monitors have no tx rings');
    const sent = [frame(B, A, 1, 60), frame(B, A, 2, 1514), frame(B, A, 3, 200)];
    for (const f of sent) putRaw(a, f);
    a.txsync();

    const seenT = drain(ta);
    assert.equal(seenT.length, 3);
    seenT.forEach((f, i) => {
      assert.equal(f.flags & NS_TXMON, NS_TXMON, 'tx copies carry NS_TXMON');
      assert.equal(firstDiff(f.data, sent[i]), -1, `tx copy ${i} is byte-exact`);
    });
    assert.equal(drain(ra).length, 0, 'a received nothing');

    // /r is fed when b picks the frames up (rxsync)
    assert.equal(drain(rb).length, 0);
    const atB = drain(b);
    assert.equal(atB.length, 3);
    const seenR = drain(rb);
    assert.deepEqual(tags(seenR), [1, 2, 3]);
    seenR.forEach((f, i) => {
      assert.equal(f.flags & NS_TXMON, 0, 'rx copies have no NS_TXMON');
      assert.equal(firstDiff(f.data, sent[i]), -1);
    });

    // b transmits: /rt on b sees that too (flagged), /r on b does not
    putRaw(b, frame(A, B, 9));
    b.txsync();
    assert.equal(drain(a).length, 1);
    const seenRT = drain(rtb);
    assert.deepEqual(tags(seenRT), [1, 2, 3, 9]);
    assert.deepEqual(seenRT.map((f) => f.flags & NS_TXMON), [0, 0, 0, NS_TXMON]);
    assert.equal(drain(rb).length, 0);
    const seenRa = drain(ra);
    assert.deepEqual(tags(seenRa), [9]);
    assert.equal(seenRa[0].flags & NS_TXMON, 0);

    // the monitored ports' own counters are untouched by the monitors
    assert.equal(a.stats().txPackets, 3);
    assert.equal(b.stats().rxPackets, 3);
    assert.equal(a.stats().txDrops + b.stats().rxDrops, 0);
  } finally {
    closeAll(ta, rb, rtb, ra, a, b);
  }
});

test('/t also sees frames the switch drops, and fragments keep NS_MOREFRAG', () => {
  const [a, b] = pair('valeM2');
  const ta = open('valeM2:a/t');
  try {
    put(a, B, A, { len: 13 }); // runt: dropped by the switch, but it was transmitted
    put(a, B, A, { len: 100, flags: NS_MOREFRAG });
    put(a, B, A, { len: 100 });
    a.txsync();
    const seen = drain(ta);
    assert.deepEqual(seen.map((f) => f.len), [13, 100, 100]);
    assert.deepEqual(seen.map((f) => f.flags & (NS_MOREFRAG | NS_TXMON)), [NS_TXMON, NS_MOREFRAG | NS_TXMON, NS_TXMON]);
    assert.equal(drain(b).length, 2);
  } finally {
    closeAll(ta, a, b);
  }
});

test('copy monitors see a held-back chain once, when it is complete', () => {
  const [a, b] = pair('valeM9');
  const ta = open('valeM9:a/t'), zb = open('valeM9:b/z'), rb = open('valeM9:b/r');
  try {
    put(a, B, A, { len: 60, payload: Uint8Array.of(1) });
    put(a, B, A, { len: 100, flags: NS_MOREFRAG, payload: Uint8Array.of(2) });
    a.txsync(); // the chain is incomplete: only the first frame goes
    assert.deepEqual(drain(ta).map((f) => f.len), [60]);
    a.txsync();
    assert.equal(drain(ta).length, 0, 'not re-fed on the next txsync');
    put(a, B, A, { len: 70, flags: NS_MOREFRAG });
    put(a, B, A, { len: 80 });
    a.txsync();
    const seen = drain(ta);
    assert.deepEqual(seen.map((f) => f.len), [100, 70, 80], 'the chain, exactly once');
    assert.deepEqual(seen.map((f) => f.flags & NS_MOREFRAG), [NS_MOREFRAG, NS_MOREFRAG, 0]);
    assert.deepEqual(drain(b).map((f) => f.len), [60, 100, 70, 80]);
    assert.deepEqual(drain(rb).map((f) => f.len), [60, 100, 70, 80]);
    assert.deepEqual(drain(zb).map((f) => f.len), [60, 100, 70, 80]);
  } finally {
    closeAll(ta, zb, rb, a, b);
  }
});

test('a zero-copy monitor without room for a whole chain takes none of it', () => {
  const [a, b] = pair('valeM10');
  const zb = open('valeM10:b/z@conf:slots=4'); // 3 usable slots
  try {
    send(a, B, A); // one frame, released by b: the monitor holds it (2 slots left)
    drain(b);
    put(a, B, A, { len: 100, flags: NS_MOREFRAG });
    put(a, B, A, { len: 100, flags: NS_MOREFRAG });
    put(a, B, A, { len: 100 });
    a.txsync();
    assert.equal(drain(b).length, 3); // released: 3-slot chain offered to a monitor with 2 free slots
    const got = drain(zb);
    assert.deepEqual(got.map((f) => f.flags & NS_MOREFRAG), [0], 'only the single frame; the chain is dropped whole');
    assert.equal(zb.stats().rxDrops, 1);
  } finally {
    closeAll(zb, a, b);
  }
});

test('two (and up to 7) monitors on one ring all see everything; an 8th is refused', () => {
  const [a, b] = pair('valeM3');
  const mons: Port[] = [];
  try {
    for (let i = 0; i < 7; i++) mons.push(open(i % 2 ? 'valeM3:a/t' : 'valeM3:a/rt'));
    assert.throws(() => open('valeM3:a/t'), (e: unknown) => e instanceof NetmapError && e.code === 'EBUSY');
    // a failed monitor open leaves the 7 in place
    for (let i = 0; i < 50; i++) putRaw(a, frame(B, A, i));
    a.txsync();
    for (const m of mons) assert.deepEqual(tags(drain(m)), Array.from({ length: 50 }, (_, i) => i), m.name);
    assert.equal(drain(b).length, 50);
    // an /r monitor on the same port is a separate ring entry: rx side not full
    mons.pop()!.close();
    const r = open('valeM3:a/r');
    mons.push(r);
    send(b, A, B);
    drain(a);
    assert.equal(drain(r).length, 1);
    for (const m of mons.slice(0, 6).filter((_, i) => i % 2 === 0)) assert.equal(drain(m).length, 1, `${m.name} (/rt) sees the rx frame`);
  } finally {
    closeAll(...mons, a, b);
  }
});

test('a zero-copy /z monitor receives the very buffers the port released', () => {
  const [a, b] = pair('valeM4');
  const za = open('valeM4:a/z'), zb = open('valeM4:b/z');
  try {
    // tx side: the buffers in a's tx slots after the switch copied them out
    const t = a.txRings[0];
    const idx: number[] = [], slots: number[] = [];
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      const f = frame(B, A, 0x10 + i, 60 + 100 * i);
      sent.push(f);
      slots.push(t.head);
      idx.push(t.bufIdx(t.head));
      putRaw(a, f);
    }
    a.txsync();
    const seen = drain(za, false);
    assert.deepEqual(seen.map((f) => f.bufIdx), idx, 'same buffer indices');
    seen.forEach((f, i) => {
      assert.equal(f.flags & NS_TXMON, NS_TXMON);
      assert.equal(f.flags & NS_BUF_CHANGED, NS_BUF_CHANGED);
      assert.equal(firstDiff(f.data, sent[i]), -1);
    });
    // a's tx slots got other buffers in exchange (flagged), none of the handed-over ones
    for (let i = 0; i < 5; i++) {
      assert.equal(t.slotFlags(slots[i]) & NS_BUF_CHANGED, NS_BUF_CHANGED);
      assert.ok(!idx.includes(t.bufIdx(slots[i])), `tx slot ${slots[i]} got a new buffer`);
    }
    za.rxRings[0].advance(za.rxRings[0].tail);
    za.rxsync();

    // rx side: b's buffers go to the monitor when b releases them, not before
    const atB = drain(b, false);
    assert.equal(atB.length, 5);
    assert.equal(drain(zb, false).length, 0, 'nothing released yet');
    const r = b.rxRings[0];
    const rxIdx = atB.map((f) => f.bufIdx);
    r.advance((r.head + 3) % r.numSlots); // release 3 of 5
    b.rxsync();
    const z1 = drain(zb, false);
    assert.deepEqual(z1.map((f) => f.bufIdx), rxIdx.slice(0, 3));
    assert.deepEqual(z1.map((f) => f.flags & NS_TXMON), [0, 0, 0]);
    z1.forEach((f, i) => assert.equal(firstDiff(f.data, sent[i]), -1));
    r.advance(r.tail);
    b.rxsync();
    const z2 = drain(zb, false);
    assert.deepEqual(z2.map((f) => f.bufIdx), rxIdx, 'the last 2 follow on release');

    // the buffers swapped into the ports are valid: traffic keeps flowing, payload exact
    zb.rxRings[0].advance(zb.rxRings[0].tail);
    zb.rxsync();
    for (let round = 0; round < 3; round++) {
      const fs = Array.from({ length: 300 }, (_, i) => frame(B, A, (round * 300 + i) & 0xff, 60 + (i % 7) * 200));
      for (const f of fs) putRaw(a, f);
      a.txsync();
      const got = drain(b);
      assert.equal(got.length, 300);
      got.forEach((g, i) => assert.equal(firstDiff(g.data, fs[i]), -1, `round ${round} frame ${i}`));
      drain(za); drain(zb);
    }
    // every buffer index is distinct across the four rings involved
    const all = [a.txRings[0], a.rxRings[0], b.txRings[0], b.rxRings[0], za.rxRings[0], zb.rxRings[0]]
      .flatMap((ring) => Array.from({ length: ring.numSlots }, (_, i) => ring.bufIdx(i)));
    assert.equal(new Set(all).size, all.length, 'no buffer is in two slots');
  } finally {
    closeAll(za, zb, a, b);
  }
});

test('a monitor that is never read drops its own excess; the port delivers 100%', () => {
  const [a, b] = pair('valeM5');
  const slow = open('valeM5:a/t@conf:slots=64'), slowR = open('valeM5:b/r@conf:slots=64');
  try {
    assert.equal(slow.rxRings[0].numSlots, 64);
    const n = 3000;
    let got = 0;
    for (let i = 0; i < n; i++) {
      if (a.txRings[0].space() === 0) { a.txsync(); got += drain(b).length; }
      putRaw(a, frame(B, A, i & 0xff));
    }
    a.txsync();
    got += drain(b).length;
    assert.equal(got, n, 'the monitored port delivered every frame');
    assert.equal(a.stats().txPackets, n);
    assert.equal(a.stats().txDrops, 0);
    assert.equal(b.stats().rxDrops, 0);
    assert.equal(pending(slow), 63, 'the monitor kept what fit');
    assert.equal(slow.stats().rxDrops, n - 63, 'and dropped (and counted) the rest');
    assert.equal(pending(slowR), 63);
    assert.equal(slowR.stats().rxDrops, n - 63);
    // what it kept is the oldest frames
    assert.deepEqual(tags(drain(slow)), Array.from({ length: 63 }, (_, i) => i));
    // once read, it sees new frames again
    putRaw(a, frame(B, A, 0xab));
    a.txsync();
    assert.deepEqual(tags(drain(slow)), [0xab]);
  } finally {
    closeAll(slow, slowR, a, b);
  }
});

test('closing a monitor detaches it; the port keeps working; a new monitor works', () => {
  const [a, b] = pair('valeM6');
  let m = open('valeM6:a/t');
  const keep = open('valeM6:a/t');
  try {
    putRaw(a, frame(B, A, 1));
    a.txsync();
    assert.deepEqual(tags(drain(m)), [1]);
    assert.deepEqual(tags(drain(keep)), [1]);
    assert.deepEqual(tags(drain(b)), [1]);
    m.close();
    assert.throws(() => m.rxsync(), (e: unknown) => e instanceof NetmapError && e.code === 'EBADF');
    for (let i = 0; i < 2000; i++) {
      if (a.txRings[0].space() === 0) { a.txsync(); drain(b); drain(keep); }
      putRaw(a, frame(B, A, 2));
    }
    a.txsync();
    drain(b);
    drain(keep);
    assert.equal(b.stats().rxPackets, 2001);
    assert.equal(b.stats().rxDrops, 0);
    assert.equal(keep.stats().rxPackets, 2001, 'the other monitor still sees everything');
    assert.equal(keep.stats().rxDrops, 0);
    m = open('valeM6:a/t');
    assert.equal(drain(m).length, 0, 'a new monitor starts empty');
    putRaw(a, frame(B, A, 3));
    a.txsync();
    assert.deepEqual(tags(drain(m)), [3]);
    assert.deepEqual(tags(drain(keep)), [3]);
    assert.deepEqual(tags(drain(b)), [3]);
  } finally {
    closeAll(m, keep, a, b);
  }
});

test('monitors of a multi-ring port: ring i goes to monitor ring i; -N watches one ring', () => {
  const a = open('valeM8:a@conf:rings=2'), b = open('valeM8:b@conf:rings=2');
  const all = open('valeM8:a/t'), one = open('valeM8:a-1/t'), rx1 = open('valeM8:b-1/r');
  try {
    send(b, BROADCAST, B);
    drain(a);
    assert.equal(all.rxRings.length, 2);
    assert.equal(one.rxRings.length, 1);
    for (let ring = 0; ring < 2; ring++) for (let k = 0; k < 3; k++) putRaw(a, frame(B, A, 10 * ring + k), 0, ring);
    a.txsync();
    const seen = drain(all);
    assert.deepEqual(seen.map((f) => [f.ring, f.data[14]]), [[0, 0], [0, 1], [0, 2], [1, 10], [1, 11], [1, 12]]);
    assert.deepEqual(tags(drain(one)), [10, 11, 12], '-1 sees only ring 1');
    const atB = drain(b);
    assert.deepEqual(atB.map((f) => [f.ring, f.data[14]]), [[0, 0], [0, 1], [0, 2], [1, 10], [1, 11], [1, 12]]);
    assert.deepEqual(tags(drain(rx1)), [10, 11, 12]);
    assert.throws(() => open('valeM8:a-2/t'), (e: unknown) => e instanceof NetmapError && e.code === 'EINVAL');
  } finally {
    closeAll(all, one, rx1, a, b);
  }
});

test('a monitor outlives the port it watches without harm', () => {
  const [a, b] = pair('valeM7');
  const m = open('valeM7:a/t');
  try {
    putRaw(a, frame(B, A, 1));
    a.txsync();
    a.close();
    assert.deepEqual(tags(drain(m)), [1], 'frames already copied stay readable');
    // a new port of the same name is not watched by the old monitor
    const a2 = open('valeM7:a');
    putRaw(a2, frame(B, A, 2));
    a2.txsync();
    assert.equal(drain(m).length, 0);
    assert.deepEqual(tags(drain(b)), [1, 2]);
    m.close();
    a2.close();
  } finally {
    closeAll(m, a, b);
  }
});

test('monitoring pipe ends: /t on the master, /r on the slave, /z on the slave', () => {
  const master = open('mpipe{1'), slave = open('mpipe}1');
  const tm = open('mpipe{1/t'), rs = open('mpipe}1/r'), zs = open('mpipe}1/z');
  try {
    const sent = Array.from({ length: 10 }, (_, i) => frame(BROADCAST, A, i, 60 + i * 100));
    for (const f of sent) putRaw(master, f);
    master.txsync();
    const t = drain(tm);
    assert.equal(t.length, 10);
    t.forEach((f, i) => {
      assert.equal(f.flags & NS_TXMON, NS_TXMON);
      assert.equal(firstDiff(f.data, sent[i]), -1);
    });
    const got = drain(slave, false);
    assert.equal(got.length, 10);
    const r = drain(rs);
    assert.equal(r.length, 10);
    r.forEach((f, i) => {
      assert.equal(f.flags & NS_TXMON, 0);
      assert.equal(firstDiff(f.data, sent[i]), -1);
    });
    // zero-copy on the slave: the buffers it releases
    assert.equal(drain(zs, false).length, 0);
    const ring = slave.rxRings[0];
    ring.advance(ring.tail);
    slave.rxsync();
    const z = drain(zs);
    assert.deepEqual(z.map((f) => f.bufIdx), got.map((f) => f.bufIdx));
    z.forEach((f, i) => assert.equal(firstDiff(f.data, sent[i]), -1));
    // the pipe keeps working with the buffers it got back
    master.txsync();
    const again = Array.from({ length: 20 }, (_, i) => frame(BROADCAST, A, 100 + i, 1000));
    for (const f of again) putRaw(master, f);
    master.txsync();
    const got2 = drain(slave);
    assert.equal(got2.length, 20);
    got2.forEach((f, i) => assert.equal(firstDiff(f.data, again[i]), -1));
    assert.equal(drain(tm).length, 20);
    assert.equal(drain(rs).length, 20);
    assert.equal(drain(zs).length, 20);
    // the other direction: slave -> master seen by /t on the slave side only if asked
    const ts = open('mpipe}1/t');
    try {
      putRaw(slave, frame(BROADCAST, B, 0x77));
      slave.txsync();
      assert.deepEqual(tags(drain(ts)), [0x77]);
      assert.deepEqual(tags(drain(master)), [0x77]);
      assert.equal(drain(tm).length, 0, '/t on the master does not see what the master receives');
    } finally {
      ts.close();
    }
  } finally {
    closeAll(tm, rs, zs, master, slave);
  }
});

test('a /z monitor on a pipe end sees what that end transmitted once the peer released it', () => {
  const master = open('zpipe{1'), slave = open('zpipe}1');
  const zm = open('zpipe{1/z');
  try {
    const sent = Array.from({ length: 4 }, (_, i) => frame(BROADCAST, A, 0x40 + i, 200));
    const idx = sent.map((f) => { const h = putRaw(master, f); return master.txRings[0].bufIdx(h); });
    master.txsync();
    const got = drain(slave); // the slave consumes and releases them
    assert.equal(got.length, 4);
    master.txsync(); // the master learns they are done
    const z = drain(zm);
    assert.deepEqual(z.map((f) => f.bufIdx), idx, 'transmitted buffers handed to the /z monitor');
    assert.ok(z.every((f) => (f.flags & NS_TXMON) === NS_TXMON));
  } finally {
    closeAll(zm, master, slave);
  }
});
