// open(): name errors, unsupported ports, ring selection errors, monitors of missing ports,
// closed ports; the null port; inject() + receiveBatch() on a pipe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetmapError, NS_MOREFRAG, open, POLLIN, POLLOUT, PortSpecError } from '../src/index.js';

function netmapError(code: string, re?: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof NetmapError, `expected a NetmapError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  };
}

test('bad names throw PortSpecError with the position of the fault', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['', 0, /empty port name/],
    ['x{', 2, /empty pipe id/],
    ['vale0:', 6, /empty port name/],
    ['vale0:1/q', 8, /unknown flag 'q'/],
    ['vale0:1-', 8, /ring number/],
    ['vale0:1-4096', 8, /out of range/],
    ['a b', 1, /not allowed/],
    ['vale0:1@conf:bogus=1', 13, /unknown key 'bogus'/],
  ];
  for (const [name, position, re] of cases) {
    assert.throws(() => open(name), (e: unknown) => {
      assert.ok(e instanceof PortSpecError, `${JSON.stringify(name)}: got ${String(e)}`);
      assert.equal(e.position, position, `${JSON.stringify(name)}: ${e.message}`);
      assert.match(e.message, re);
      assert.match(e.message, new RegExp(`at position ${position}`));
      return true;
    });
  }
});

test('a monitor of an interface port is ENOTSUP, pointing at nmts capture (no shared file is left)', () => {
  for (const name of ['netmap:nmtsnone0/r', 'netmap:nmtsnone0/rt', 'nmtsnone0/z']) {
    assert.throws(() => open(name), netmapError('ENOTSUP', /monitors of Linux-interface ports are not supported.*nmts capture -i netmap:nmtsnone0/));
  }
});

test('netmap:IF and bare interface names reach the interface kind: a missing one is ENXIO naming it', () => {
  // (never a real interface here: opening one would take its traffic; see test/netif-*.test.ts)
  for (const name of ['netmap:nmtsnone0', 'nmtsnone0', 'netmap:nmtsnone0-1', 'netmap:nmtsnone0*', 'netmap:nmtsnone0^']) {
    assert.throws(() => open(name), netmapError('ENXIO', /no such interface 'nmtsnone0' in this network namespace/));
  }
});

// The switch's region lives as long as one of its ports is open: a keeper port holds it so
// that its free buffers can be compared before and after the failed opens.
test('host rings (^, *) are rejected on VALE ports (without leaking) and pipes', () => {
  const keeper = open('valehost0:keeper');
  const region = keeper.region;
  const before = region.freeBuffers();
  assert.throws(() => open('valehost0:1^'), netmapError('EINVAL', /host rings/));
  assert.throws(() => open('valehost0:1^1'), netmapError('EINVAL', /host rings/));
  assert.throws(() => open('valehost0:1*'), netmapError('EINVAL', /host rings/));
  assert.equal(region.freeBuffers(), before, 'the VALE port created for the failed open is gone');
  const p = open('valehost0:1'); // the name is usable afterwards
  assert.equal(p.region, region);
  p.close();
  // pipe endpoints are refused by the parser already
  for (const [name, position] of [['hostpipe{1^', 10], ['hostpipe}1*', 10], ['vale0:1{2^', 9]] as const) {
    assert.throws(() => open(name), (e: unknown) => e instanceof PortSpecError && e.position === position && /no host rings/.test(e.message));
  }
  assert.equal(region.freeBuffers(), before);
  keeper.close();
});

test('a ring number beyond the port rings: EINVAL', () => {
  const keeper = open('valeopen0:keeper');
  const region = keeper.region;
  const before = region.freeBuffers();
  assert.throws(() => open('valeopen0:1-3'), netmapError('EINVAL', /ring 3 does not exist \(the port has 1\)/));
  assert.equal(region.freeBuffers(), before);
  const p = open('valeopen0:1');
  try {
    assert.throws(() => open('valeopen0:1-3'), netmapError('EINVAL', /ring 3 does not exist/));
    assert.throws(() => open('valeopen0:1-1'), netmapError('EINVAL', /ring 1 does not exist/));
    const one = open('valeopen0:1-0');
    assert.equal(one.txRings.length, 1);
    assert.equal(one.rxRings.length, 1);
    assert.equal(one.txRings[0].ofs, p.txRings[0].ofs);
    one.close();
  } finally {
    p.close();
    keeper.close();
  }
});

test('monitoring a port that is not open: ENXIO', () => {
  for (const name of ['valeopen1:nobody/r', 'valeopen1:nobody/t', 'valeopen1:nobody/rt', 'valeopen1:nobody/z', 'ghost{1/r']) {
    assert.throws(() => open(name), netmapError('ENXIO', /no such port is open/));
  }
  // ... nor one that was open and has been closed
  const p = open('valeopen1:gone');
  const mon = open('valeopen1:gone/r');
  mon.close();
  p.close();
  assert.throws(() => open('valeopen1:gone/r'), netmapError('ENXIO'));
});

test('unsupported options and unknown regions', () => {
  assert.throws(() => open('vale0:1@extmem=/tmp/x'), netmapError('ENOTSUP', /extmem/));
  assert.throws(() => open('vale0:1@3'), netmapError('EINVAL', /memory region @3/));
});

test('a closed port refuses syncs and poll with EBADF', () => {
  const m = open('closed{1@conf:slots=16');
  const s = open('closed}1');
  m.close();
  assert.equal(m.isClosed, true);
  assert.throws(() => m.txsync(), netmapError('EBADF', /closed/));
  assert.throws(() => m.rxsync(), netmapError('EBADF', /closed/));
  assert.throws(() => m.poll(POLLOUT, 0), netmapError('EBADF'));
  // the other end still works on its own
  s.txsync();
  s.rxsync();
  s.close();
  assert.throws(() => s.txsync(), netmapError('EBADF'));
});

test('the null port consumes everything and receives nothing', () => {
  const n = open('null', { txSlots: 16 });
  try {
    const t = n.txRings[0], r = n.rxRings[0];
    assert.equal(t.numSlots, 16);
    for (let round = 0; round < 3; round++) {
      let k = 0;
      while (n.inject(new Uint8Array(100))) k++;
      assert.equal(k, 15, 'the whole ring is free after every sync');
      n.txsync();
      assert.equal(t.space(), 15);
      assert.equal(t.txPending(), false);
    }
    assert.equal(n.poll(POLLOUT, 0), POLLOUT);
    assert.equal(n.poll(POLLIN, 0), 0);
    n.rxsync();
    assert.equal(r.empty(), true);
    const st = n.stats();
    assert.equal(st.txPackets, 45);
    assert.equal(st.txBytes, 4500);
    assert.equal(st.rxPackets, 0);
    // two null ports are independent
    const n2 = open('null');
    assert.equal(n2.stats().txPackets, 0);
    assert.notEqual(n2.txRings[0].ofs, t.ofs);
    n2.close();
  } finally {
    n.close();
  }
});

test('inject + receiveBatch round trip on a pipe (zero-copy, released on the next call)', () => {
  const m = open('batch{1@conf:slots=16');
  const s = open('batch}1');
  try {
    const t = m.txRings[0], r = s.rxRings[0];
    const frames = [60, 1000, 2048].map((len, k) => Uint8Array.from({ length: len }, (_, i) => (i * 7 + k) & 0xff));
    for (const f of frames) assert.equal(m.inject(f), true);
    assert.equal(t.head, 3, 'inject advances head and cur');
    assert.equal(t.cur, 3);
    const offs = new Uint32Array(8), lens = new Uint16Array(8);
    assert.equal(s.receiveBatch(offs, lens), 0, 'inject does not sync');
    m.txsync();
    assert.equal(s.receiveBatch(offs, lens), 3);
    for (let k = 0; k < 3; k++) {
      assert.equal(offs[k], r.buf(k));
      assert.equal(offs[k], t.buf(k), 'the sender buffer itself');
      assert.equal(lens[k], frames[k].length);
      assert.deepEqual(s.u8.slice(offs[k], offs[k] + lens[k]), frames[k]);
    }
    // the slots are still held by the receiver
    m.txsync();
    assert.equal(t.space(), 12);
    assert.equal(r.head, 0);
    // the next call hands them back
    assert.equal(s.receiveBatch(offs, lens), 0);
    assert.equal(r.head, 3);
    m.txsync();
    assert.equal(t.space(), 15);

    // max limits the batch; what is left comes with the next calls
    for (let k = 0; k < 5; k++) assert.ok(m.inject(new Uint8Array([k + 1]), 1));
    m.txsync();
    const got: number[] = [];
    for (const want of [2, 2, 1, 0]) {
      const n = s.receiveBatch(offs, lens, 2);
      assert.equal(n, want);
      for (let k = 0; k < n; k++) {
        assert.equal(lens[k], 1);
        got.push(s.u8[offs[k]]);
      }
    }
    assert.deepEqual(got, [1, 2, 3, 4, 5]);
    m.txsync();
    assert.equal(t.space(), 15);

    // flags are reported (a two-fragment packet)
    for (const [k, f] of [[0, NS_MOREFRAG], [1, 0]]) {
      const h = t.head;
      t.setLen(h, 10 + k);
      t.setSlotFlags(h, f);
      t.advance(t.next(h));
    }
    m.txsync();
    const flags = new Uint16Array(8);
    assert.equal(s.receiveBatch(offs, lens, 8, flags), 2);
    assert.deepEqual([...lens.subarray(0, 2)], [10, 11]);
    assert.deepEqual([...flags.subarray(0, 2)], [NS_MOREFRAG, 0]);
  } finally {
    m.close();
    s.close();
  }
});

test('inject: a prefix of a frame, oversize frames, full rings', () => {
  const m = open('inj{1@conf:slots=4');
  const s = open('inj}1');
  try {
    assert.ok(m.inject(Uint8Array.from([1, 2, 3, 4, 5]), 3));
    assert.throws(() => m.inject(new Uint8Array(2049)), netmapError('EINVAL', /exceeds the buffer size/));
    assert.ok(m.inject(new Uint8Array(2048)));
    assert.ok(m.inject(new Uint8Array(1)));
    assert.equal(m.inject(new Uint8Array(1)), false, '3 slots: numSlots-1');
    m.txsync();
    s.rxsync();
    const r = s.rxRings[0];
    assert.equal(r.space(), 3);
    assert.equal(r.len(0), 3);
    assert.deepEqual([...s.u8.subarray(r.buf(0), r.buf(0) + 3)], [1, 2, 3]);
    assert.equal(r.len(1), 2048);
    assert.equal(m.inject(new Uint8Array(1)), false, 'still full until the receiver releases');
  } finally {
    m.close();
    s.close();
  }
});
