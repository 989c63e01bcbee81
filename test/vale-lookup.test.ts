// Programmable VALE lookup (registerLookup / setLookup) and software RSS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { NM_BDG_BROADCAST, NM_BDG_NOPORT, NetmapError, open, registerLookup, valeSwitch, type Port, type ValePort } from '../src/index.js';
import { BROADCAST, drain, mac, pending, put, putRaw, send, udpFrame } from './fixtures/vale-helpers.js';

const A = mac(0xa), B = mac(0xb), C = mac(0xc), D = mac(0xd);

/** Frame to `dst` MAC whose IPv4 destination ends in `ipLast`. */
function ipTo(p: Port, dst: Uint8Array, ipLast: number, tag = 0, src = A): void {
  const payload = new Uint8Array(46);
  payload[19] = ipLast; // frame byte 33
  payload[20] = tag;
  put(p, dst, src, { payload });
}

// destination port = last byte of the IPv4 destination address (frame byte 33)
const calls: Array<[number, number, number]> = [];
registerLookup('bylastip', (u8, off, len, srcPort, ring) => {
  calls.push([len, srcPort, ring]);
  return len >= 34 ? u8[off + 33] : NM_BDG_NOPORT;
});

function closeAll(...ports: Port[]): void {
  for (const p of ports) p.close();
}

test('a custom lookup overrides learning; 255 drops, 254 floods; null restores learning', () => {
  const ports = ['a', 'b', 'c', 'd'].map((n) => open(`valeK1:${n}`) as ValePort);
  const [a, b, c, d] = ports;
  try {
    assert.deepEqual(ports.map((p) => p.portIndex), [0, 1, 2, 3]);
    // learning first: B lives on b
    send(b, BROADCAST, B);
    ports.forEach((p) => drain(p));
    const sw = valeSwitch('valeK1');
    assert.equal(sw.info().lookup, null);
    sw.setLookup('bylastip');
    assert.equal(sw.info().lookup, 'bylastip');

    // to MAC B but IP .2 -> port c (index 2): the lookup wins over the learned MAC
    calls.length = 0;
    ipTo(a, B, 2, 1);
    ipTo(a, B, 3, 2);
    ipTo(a, BROADCAST, 2, 3); // even a broadcast MAC goes where the lookup says
    a.txsync();
    assert.deepEqual(calls, [[60, 0, 0], [60, 0, 0], [60, 0, 0]], 'called once per packet with (len, srcPort, ring)');
    assert.equal(drain(b).length, 0);
    assert.deepEqual(drain(c).map((f) => f.data[34]), [1, 3]);
    assert.deepEqual(drain(d).map((f) => f.data[34]), [2]);

    // 255: drop
    const before = ports.map((p) => p.stats().rxPackets);
    ipTo(a, B, NM_BDG_NOPORT);
    a.txsync();
    assert.deepEqual(ports.map((p) => p.stats().rxPackets), before, 'dropped: nobody receives');
    for (const p of ports) assert.equal(drain(p).length, 0);

    // 254: flood to all but the sender
    ipTo(a, B, NM_BDG_BROADCAST, 9);
    a.txsync();
    assert.equal(drain(a).length, 0);
    for (const p of [b, c, d]) assert.deepEqual(drain(p).map((f) => f.data[34]), [9], p.name);

    // never back to the sender, a port index with no port, out-of-range values: dropped
    ipTo(a, B, 0);
    ipTo(a, B, 7);
    ipTo(a, B, 200);
    a.txsync();
    for (const p of ports) assert.equal(drain(p).length, 0);

    // from another port and ring the lookup sees that port's index
    calls.length = 0;
    ipTo(d, B, 0, 5, D); // D sends while the custom lookup is in charge
    d.txsync();
    assert.deepEqual(calls, [[60, 3, 0]]);
    assert.deepEqual(drain(a).map((f) => f.data[34]), [5]);

    // a runt never reaches the lookup
    calls.length = 0;
    put(a, B, A, { len: 13 });
    a.txsync();
    assert.equal(calls.length, 0);

    // back to learning: B's entry, learned before, still points at b
    sw.setLookup(null);
    assert.equal(sw.info().lookup, null);
    ipTo(a, B, 2);
    a.txsync();
    assert.equal(drain(b).length, 1);
    assert.equal(drain(c).length, 0);
    assert.equal(drain(d).length, 0);
    // while the custom lookup ran nothing was learned: D (which sent from d) is unknown
    send(a, D, A);
    assert.equal(drain(b).length + drain(c).length + drain(d).length, 3, 'D unknown: flooded');
    send(d, BROADCAST, D);
    ports.forEach((p) => drain(p));
    send(a, D, A);
    assert.equal(drain(d).length, 1, 'learned now');
    assert.equal(drain(b).length + drain(c).length, 0);
  } finally {
    closeAll(...ports);
  }
});

test('setLookup of an unknown name fails and changes nothing', () => {
  const a = open('valeK2:a');
  try {
    assert.throws(() => valeSwitch('valeK2').setLookup('no-such-lookup'), (e: unknown) => e instanceof NetmapError && e.code === 'ENOENT');
    assert.equal(valeSwitch('valeK2').info().lookup, null);
    assert.throws(() => valeSwitch('valeK-none').setLookup('bylastip'), (e: unknown) => e instanceof NetmapError && e.code === 'ENOENT');
  } finally {
    a.close();
  }
});

function runWorker(data: unknown): Promise<{ ok: boolean; code?: string; message?: string; name?: string; txPackets?: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./fixtures/vale-lookup-worker.js', import.meta.url), { workerData: data });
    let msg: unknown;
    w.on('message', (m) => { msg = m; });
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 && msg ? resolve(msg as never) : reject(new Error(`worker exit ${code}`))));
  });
}

test('a thread sending without the lookup registered gets a clear error; registering fixes it', async () => {
  const a = open('valeK3:a') as ValePort, b = open('valeK3:b') as ValePort;
  try {
    valeSwitch('valeK3').setLookup('bylastip');
    // the worker opens valeK3:w (index 2) and sends to IP .1 (port b)
    const frames = [{ dst: [...B], src: [...mac(0x99)], ipLast: 1 }];
    const bad = await runWorker({ port: 'valeK3:w', register: null, frames });
    assert.equal(bad.ok, false);
    assert.equal(bad.name, 'NetmapError');
    assert.equal(bad.code, 'ENOENT');
    assert.match(bad.message!, /bylastip/);
    assert.match(bad.message!, /registerLookup/);
    assert.equal(pending(b), 0, 'nothing forwarded');

    const good = await runWorker({ port: 'valeK3:w', register: 'bylastip', frames: [...frames, { dst: [...B], src: [...mac(0x99)], ipLast: 0 }] });
    assert.deepEqual(good, { ok: true, txPackets: 2 });
    assert.equal(drain(b).length, 1);
    assert.equal(drain(a).length, 1);
    // the main thread still uses its own copy
    ipTo(a, BROADCAST, 1);
    a.txsync();
    assert.equal(drain(b).length, 1);
  } finally {
    closeAll(a, b);
  }
});

test('without RSS, unicast goes to rx ring (sender tx ring % receiver rx rings)', () => {
  const a = open('valeK4:a@conf:rings=3'), r = open('valeK4:r@conf:rings=2');
  try {
    send(r, BROADCAST, B); // learn r's MAC B (from r's tx ring 0 -> a's rx ring 0)
    assert.deepEqual(drain(a).map((f) => f.ring), [0]);
    for (let ring = 0; ring < 3; ring++) {
      for (let k = 0; k < 3; k++) put(a, B, A, { ring, payload: Uint8Array.of(ring) });
    }
    a.txsync();
    const got = drain(r);
    assert.equal(got.length, 9);
    for (const f of got) assert.equal(f.ring, f.data[14] % 2, `from tx ring ${f.data[14]}`);
    assert.equal(valeSwitch('valeK4').info().rss, false);
  } finally {
    closeAll(a, r);
  }
});

test('RSS spreads flows over all rx rings; a flow and its reverse always share a ring', () => {
  const a = open('valeK5:a'), c = open('valeK5:c@conf:rings=2'), r = open('valeK5:r@conf:rings=4');
  try {
    send(r, BROADCAST, B);
    drain(a); drain(c);
    const sw = valeSwitch('valeK5');
    sw.setRss(true);
    assert.equal(sw.info().rss, true);
    const flows = 64;
    const key = (i: number) => ({ ipA: 0x0a000001 + i * 7, ipB: 0xc0a80001 + (i % 5), sp: 1024 + i * 13, dp: 80 + (i % 3) });
    const ringOf = new Map<number, number>();
    for (let round = 0; round < 4; round++) {
      // forward direction from a (ring 0), reverse from c on both of its tx rings
      for (let i = 0; i < flows; i++) {
        const k = key(i);
        const fwd = udpFrame(B, A, k.ipA, k.ipB, k.sp, k.dp, 60 + round);
        fwd[59] = i; // flow id in the last byte
        putRaw(a, fwd);
        const rev = udpFrame(B, C, k.ipB, k.ipA, k.dp, k.sp, 60 + round);
        rev[59] = i;
        putRaw(c, rev, 0, (i + round) % 2);
      }
      a.txsync();
      c.txsync();
      const got = drain(r);
      assert.equal(got.length, 2 * flows);
      for (const f of got) {
        const id = f.data[59];
        const seen = ringOf.get(id);
        if (seen === undefined) ringOf.set(id, f.ring);
        else assert.equal(f.ring, seen, `flow ${id} (${f.data[6 + 5] === 0xa ? 'forward' : 'reverse'}) moved from ring ${seen} to ${f.ring}`);
      }
    }
    assert.equal(ringOf.size, flows);
    const perRing = [0, 1, 2, 3].map((q) => [...ringOf.values()].filter((x) => x === q).length);
    assert.ok(perRing.every((n) => n > 0), `every ring gets flows: ${perRing}`);
    assert.ok(Math.max(...perRing) <= 32, `spread is not degenerate: ${perRing}`);

    // IPv6 and VLAN-tagged IPv4 flows: forward and reverse on the same ring too
    const v6 = (src: Uint8Array, a6: number, b6: number, sp: number, dp: number): Uint8Array => {
      const f = new Uint8Array(80);
      f.set(B, 0); f.set(src, 6); f[12] = 0x86; f[13] = 0xdd;
      f[14] = 0x60; f[19] = 26; f[20] = 17; f[21] = 64;
      f[22] = 0x20; f[23] = 0x01; f[37] = a6; // 2001::a6
      f[38] = 0x20; f[39] = 0x01; f[53] = b6; // 2001::b6
      f[54] = sp >> 8; f[55] = sp & 0xff; f[56] = dp >> 8; f[57] = dp & 0xff;
      return f;
    };
    const vlan = (f: Uint8Array): Uint8Array => {
      const g = new Uint8Array(f.length + 4);
      g.set(f.subarray(0, 12), 0); g[12] = 0x81; g[13] = 0x00; g[15] = 7;
      g.set(f.subarray(12), 16);
      return g;
    };
    const ring6 = new Set<number>();
    for (let i = 0; i < 32; i++) {
      putRaw(a, v6(A, i, 200 + (i % 3), 5000 + i, 443));
      putRaw(c, v6(C, 200 + (i % 3), i, 443, 5000 + i));
      putRaw(a, vlan(udpFrame(B, A, 0x0a000100 + i, 0x0a000200, 7000 + i, 53)));
      putRaw(c, vlan(udpFrame(B, C, 0x0a000200, 0x0a000100 + i, 53, 7000 + i)));
      a.txsync(); c.txsync();
      const got = drain(r);
      assert.equal(got.length, 4);
      assert.equal(got.filter((f) => f.data[12] === 0x86).length, 2);
      const r6 = got.filter((f) => f.data[12] === 0x86).map((f) => f.ring);
      const rv = got.filter((f) => f.data[12] === 0x81).map((f) => f.ring);
      assert.equal(r6[0], r6[1], `IPv6 flow ${i}: forward ring ${r6[0]}, reverse ring ${r6[1]}`);
      assert.equal(rv[0], rv[1], `VLAN flow ${i}: forward ring ${rv[0]}, reverse ring ${rv[1]}`);
      ring6.add(r6[0]);
    }
    assert.ok(ring6.size > 1, 'IPv6 flows are spread too');

    // a non-IP frame is hashed by its MAC pair; still all of one "flow" on one ring
    for (let i = 0; i < 10; i++) put(a, B, A, { type: 0x88b5 });
    a.txsync();
    assert.equal(new Set(drain(r).map((f) => f.ring)).size, 1);

    // RSS off: back to the sender-ring rule (a has one tx ring: everything on ring 0)
    sw.setRss(false);
    for (let i = 0; i < flows; i++) { const k = key(i); putRaw(a, udpFrame(B, A, k.ipA, k.ipB, k.sp, k.dp)); }
    a.txsync();
    assert.deepEqual([...new Set(drain(r).map((f) => f.ring))], [0]);
  } finally {
    closeAll(a, c, r);
  }
});
