// The metrics reader (vale/metrics.ts): counters, drops by cause, occupancy and learned MACs
// read back from the shared files without locks; damaged records reported, never followed
// and never written; rates from two snapshots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { open, type Port } from '../src/index.js';
import { regionPath } from '../src/core/shm.js';
import { DIR, DirType, PR, RR, SW } from '../src/core/layout.js';
import { portRates, readMetrics, totalDrops, type MetricsSnapshot, type PortMetrics } from '../src/vale/metrics.js';
import { BROADCAST, drain, mac, put, send } from './fixtures/vale-helpers.js';

const A = mac(0x1a), B = mac(0x1b);
const id = process.pid % 100000;

function sendMany(p: Port, n: number, dst: Uint8Array, src: Uint8Array): void {
  for (let i = 0; i < n; i++) {
    if (p.txRings[0].space() === 0) p.txsync();
    put(p, dst, src);
  }
  p.txsync();
}

function port(snap: MetricsSnapshot, name: string): PortMetrics {
  for (const s of snap.switches) for (const p of s.ports) if (p.port === name) return p;
  throw new Error(`${name} not in the snapshot: ${JSON.stringify(snap.switches.map((s) => s.ports.map((p) => p.port)))}`);
}

test('packets, bytes, ring-full drops, occupancy and learned MACs of each port', () => {
  const sw = `valeMa${id}`;
  const a = open(`${sw}:a`), b = open(`${sw}:b@conf:slots=64`);
  try {
    send(b, BROADCAST, B); // learn B
    drain(a);
    sendMany(a, 200, B, A); // 63 fit in B's ring, 137 dropped
    const snap = readMetrics();
    const s = snap.switches.find((x) => x.name === sw);
    assert.ok(s, 'the switch is listed');
    assert.equal(s.learnedMacs, 2);
    assert.deepEqual(s.ports.map((p) => p.port), [`${sw}:a`, `${sw}:b`]);
    const pa = port(snap, `${sw}:a`), pb = port(snap, `${sw}:b`);
    assert.equal(pa.txPackets, 200);
    assert.equal(pa.txBytes, 200 * 60);
    assert.equal(pa.drops.undelivered, 137);
    assert.equal(pa.rxPackets, 1);
    assert.equal(pb.rxPackets, 63);
    assert.equal(pb.rxBytes, 63 * 60);
    assert.equal(pb.drops.ringFull, 137);
    assert.equal(pb.drops.badSlot, 0);
    assert.equal(pb.learnedMacs, 1);
    assert.equal(pa.learnedMacs, 1);
    const rx = pb.rings.find((r) => r.direction === 'rx')!;
    assert.equal(rx.slots, 64);
    assert.equal(rx.occupancy, 63, 'the frames B has not released');
    assert.equal(totalDrops(pb), 137);
    assert.equal(pa.txPackets, pb.rxPackets + pa.drops.undelivered, 'sent = received + drops');
    drain(b);
    assert.equal(port(readMetrics(), `${sw}:b`).rings.find((r) => r.direction === 'rx')!.occupancy, 0);
  } finally {
    a.close(); b.close();
  }
});

test('a damaged slot of the receiver counts as bad_slot, not ring_full', () => {
  const sw = `valeMb${id}`;
  const a = open(`${sw}:a`), b = open(`${sw}:b`);
  try {
    send(b, BROADCAST, B);
    drain(a);
    const r = b.rxRings[0], u32 = r.region.u32;
    const prod = u32[(r.ofs + RR.prod) >> 2];
    const slot = (u32[(r.ofs + RR.slotsOfs) >> 2] >> 2) + (prod << 2);
    const saved = u32[slot];
    u32[slot] = 1; // a reserved buffer index: the receiver broke its ring
    sendMany(a, 5, B, A);
    let p = port(readMetrics(), `${sw}:b`);
    assert.equal(p.drops.badSlot, 5);
    assert.equal(p.drops.ringFull, 0);
    assert.equal(port(readMetrics(), `${sw}:a`).drops.undelivered, 5);
    u32[slot] = saved;
    sendMany(a, 5, B, A);
    p = port(readMetrics(), `${sw}:b`);
    assert.equal(p.rxPackets, 5);
    assert.equal(p.drops.badSlot, 5);
  } finally {
    a.close(); b.close();
  }
});

test("a monitor that does not read counts monitor_full on the monitored port", () => {
  const sw = `valeMc${id}`;
  const a = open(`${sw}:a`), b = open(`${sw}:b`);
  const mon = open(`${sw}:b/r`);
  try {
    send(b, BROADCAST, B);
    drain(a);
    const cap = mon.rxRings[0].numSlots - 1;
    for (let k = 0; k < 3; k++) { sendMany(a, cap, B, A); drain(b); }
    const p = port(readMetrics(), `${sw}:b`);
    assert.equal(p.monitors, 1);
    assert.equal(p.rxPackets, 3 * cap);
    assert.equal(p.drops.ringFull, 0);
    assert.equal(p.drops.monitorFull, 2 * cap, 'the monitor kept the first ring-full and dropped the rest');
  } finally {
    mon.close(); a.close(); b.close();
  }
});

test('a damaged switch record is reported and skipped, and nothing is written', () => {
  const sw = `valeMd${id}`;
  const a = open(`${sw}:a`), b = open(`${sw}:b`);
  try {
    const region = a.txRings[0].region, u32 = region.u32;
    const e = region.dirFind(DirType.Switch, sw);
    const swRec = u32[(e + DIR.recOfs) >> 2];
    // a planted port entry pointing outside the object area, and a port whose ring count is absurd
    const free = ((swRec + SW.ports) >> 2) + 200;
    u32[free] = 12345;
    const recB = u32[((swRec + SW.ports) >> 2) + 1];
    const nrx = u32[(recB + PR.nrx) >> 2];
    u32[(recB + PR.nrx) >> 2] = 5000;
    const before = region.u8.slice(region.objOfs, region.objOfs + (1 << 20));
    const snap = readMetrics();
    const after = region.u8.slice(region.objOfs, region.objOfs + (1 << 20));
    u32[free] = 0;
    u32[(recB + PR.nrx) >> 2] = nrx;
    assert.deepEqual(after, before, 'the reader wrote nothing');
    const s = snap.switches.find((x) => x.name === sw)!;
    assert.deepEqual(s.ports.map((p) => p.port), [`${sw}:a`]);
    assert.ok(snap.problems.some((m) => m.includes('port 200') && m.includes('outside the object area')), snap.problems.join('\n'));
    assert.ok(snap.problems.some((m) => m.includes('port 1') && m.includes('nrx=5000')), snap.problems.join('\n'));
    assert.deepEqual(port(readMetrics(), `${sw}:b`).rings.length, 2, 'readable again once repaired');
  } finally {
    a.close(); b.close();
  }
});

test('rates come from the growth of counters between snapshots', () => {
  const mk = (mono: number, rx: number, tx: number, drops: number, gen = 1): MetricsSnapshot => ({
    time: 0, mono, skipped: [], problems: [],
    switches: [{
      name: 'vale0', file: '', rss: false, lookup: null, learnedMacs: 0,
      ports: [{
        switch: 'vale0', port: 'vale0:1', index: 0, gen, openers: 1, monitors: 0, learnedMacs: 0,
        rxPackets: rx, rxBytes: rx * 60, txPackets: tx, txBytes: tx * 60,
        drops: { undelivered: drops, badVnetHdr: 0, ringFull: 0, badSlot: 0, monitorFull: 0 }, rings: [],
      }, {
        switch: 'vale0', port: 'vale0:2', index: 1, gen: 9, openers: 1, monitors: 0, learnedMacs: 0,
        rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0,
        drops: { undelivered: 0, badVnetHdr: 0, ringFull: 0, badSlot: 0, monitorFull: 0 }, rings: [],
      }],
    }],
  });
  const r = portRates(mk(1000, 100, 0, 5), mk(3000, 2100, 1000, 25));
  assert.equal(r[0].port, 'vale0:1', 'sorted by rate');
  assert.equal(r[0].rxPps, 1000);
  assert.equal(r[0].txPps, 500);
  assert.equal(r[0].rxBps, 60000);
  assert.equal(r[0].dropsPs, 10);
  assert.equal(r[0].drops, 25);
  assert.equal(r[1].rxPps, 0);
  // the same name created again (new generation) counts from zero; no previous snapshot: 0
  assert.equal(portRates(mk(1000, 5000, 0, 0), mk(2000, 300, 0, 0, 2))[0].rxPps, 300);
  assert.equal(portRates(null, mk(2000, 300, 0, 0))[0].rxPps, 0);
});

test('a planted or damaged file is listed as skipped with the reason; the other switches are read', () => {
  const sw = `valeMe${id}`;
  const junk = regionPath(`valeJunk${id}`), empty = regionPath(`valeEmpty${id}`);
  writeFileSync(junk, Buffer.alloc(8192, 0x41));
  writeFileSync(empty, '');
  const a = open(`${sw}:a`);
  try {
    const snap = readMetrics();
    assert.ok(snap.switches.some((s) => s.name === sw), 'the sound switch is read');
    const j = snap.skipped.find((s) => s.file === junk), e = snap.skipped.find((s) => s.file === empty);
    assert.ok(j && /bad magic|not a usable/.test(j.reason), JSON.stringify(snap.skipped));
    assert.ok(e && /nobody is creating it/.test(e.reason), JSON.stringify(snap.skipped));
  } finally {
    a.close();
    rmSync(junk, { force: true });
    rmSync(empty, { force: true });
  }
});
