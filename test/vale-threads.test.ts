// Concurrent senders in worker threads into one VALE receiver drained by the main thread:
// per-sender order, payload integrity, and exact accounting of every frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { POLLIN, listSwitches, open, type Port } from '../src/index.js';
import { BROADCAST } from './fixtures/vale-helpers.js';
import { frameLen, patternByte, senderMac, type SenderJob } from './fixtures/vale-sender.js';

const R_MAC = Uint8Array.of(0x02, 0x00, 0x5e, 0x00, 0x00, 0x99);

interface Done { type: 'done'; sent: number; txPackets: number; txDrops: number; pauses: number }

function startSender(job: SenderJob): { ready: Promise<void>; done: Promise<Done> } {
  const w = new Worker(new URL('./fixtures/vale-sender.js', import.meta.url), { workerData: job });
  let onReady!: () => void;
  const ready = new Promise<void>((r) => { onReady = r; });
  const done = new Promise<Done>((resolve, reject) => {
    let result: Done | null = null;
    w.on('message', (m: { type: string }) => {
      if (m.type === 'ready') onReady();
      else result = m as Done;
    });
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`sender ${job.id} exited with ${code}`))));
  });
  // a worker that dies before 'ready' must not leave the test waiting forever
  done.catch(() => onReady());
  return { ready, done };
}

interface Outcome {
  received: number[];
  lastSeq: number[];
  gaps: number;
  errors: string[];
}

/**
 * Drain `r` until every frame is accounted for (received or dropped at r), checking each
 * frame; publishes the released count per sender in ctl[1 + id].
 */
function receive(r: Port, ctl: Int32Array, senders: number, total: number): Outcome {
  const out: Outcome = { received: new Array(senders).fill(0), lastSeq: new Array(senders).fill(-1), gaps: 0, errors: [] };
  const u8 = r.u8, ring = r.rxRings[0];
  let idle = 0;
  // safety net only (no timing assertion): give up after 60 s without progress
  while (out.received.reduce((a, b) => a + b, 0) + r.stats().rxDrops < total && idle < 120) {
    if (!r.poll(POLLIN, 500)) { idle++; continue; }
    idle = 0;
    for (let i = ring.head; i !== ring.tail; i = ring.next(i)) {
      const off = ring.buf(i), len = ring.len(i);
      const id = u8[off + 14];
      const seq = (u8[off + 15] | (u8[off + 16] << 8) | (u8[off + 17] << 16) | (u8[off + 18] << 24)) >>> 0;
      if (id >= senders) { out.errors.push(`slot ${i}: bad sender id ${id}`); continue; }
      if (seq <= out.lastSeq[id]) out.errors.push(`sender ${id}: seq ${seq} after ${out.lastSeq[id]}`);
      if (seq !== out.lastSeq[id] + 1) out.gaps++;
      out.lastSeq[id] = seq;
      out.received[id]++;
      if (len !== frameLen(id, seq)) { out.errors.push(`sender ${id} seq ${seq}: len ${len}`); continue; }
      const src = senderMac(id);
      for (let k = 0; k < 6; k++) {
        if (u8[off + k] !== R_MAC[k] || u8[off + 6 + k] !== src[k]) { out.errors.push(`sender ${id} seq ${seq}: bad MAC`); break; }
      }
      for (let k = 19; k < len; k++) {
        if (u8[off + k] !== patternByte(id, seq, k)) { out.errors.push(`sender ${id} seq ${seq}: byte ${k} is ${u8[off + k]}, expected ${patternByte(id, seq, k)}`); break; }
      }
      if (out.errors.length > 20) throw new Error(out.errors.join('\n'));
    }
    ring.advance(ring.tail);
    r.rxsync(); // release, then tell the senders
    for (let id = 0; id < senders; id++) Atomics.store(ctl, 1 + id, out.received[id]);
  }
  return out;
}

async function run(sw: string, count: number, window: number): Promise<{ out: Outcome; done: Done[]; r: ReturnType<Port['stats']> }> {
  const r = open(`${sw}:r@conf:slots=4096`);
  try {
    assert.equal(r.rxRings[0].numSlots, 4096);
    // make the switch learn the receiver's MAC before the senders exist
    const t = r.txRings[0], h = t.head, off = t.buf(h);
    r.u8.set(BROADCAST, off); r.u8.set(R_MAC, off + 6); r.u8[off + 12] = 0x88; r.u8[off + 13] = 0xb5;
    t.setLen(h, 60); t.advance(t.next(h)); r.txsync();

    const ctl = new Int32Array(new SharedArrayBuffer(16));
    const senders = [0, 1].map((id) => startSender({ id, port: `${sw}:s${id}`, dst: [...R_MAC], count, window, ctl: ctl.buffer as SharedArrayBuffer }));
    await Promise.all(senders.map((s) => s.ready));
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    const out = receive(r, ctl, 2, 2 * count);
    const done = await Promise.all(senders.map((s) => s.done));
    return { out, done, r: r.stats() };
  } finally {
    r.close();
  }
}

test('two sender threads with flow control: every frame arrives, in order, intact', async (t) => {
  const count = 20000;
  const { out, done, r } = await run('vale2', count, 1500);
  assert.deepEqual(out.errors, []);
  assert.deepEqual(done.map((d) => d.sent), [count, count]);
  assert.deepEqual(done.map((d) => d.txPackets), [count, count]);
  // at most 2 * 1500 frames in flight in a 4095-slot ring: nothing can be dropped
  assert.deepEqual(done.map((d) => d.txDrops), [0, 0]);
  assert.equal(r.rxDrops, 0);
  assert.deepEqual(out.received, [count, count]);
  assert.deepEqual(out.lastSeq, [count - 1, count - 1]);
  assert.equal(out.gaps, 0, 'consecutive sequence numbers per sender');
  assert.equal(r.rxPackets, 2 * count);
  assert.ok(!listSwitches().some((s) => s.name === 'vale2'), 'switch gone after all ports closed');
  t.diagnostic(`sender pauses: ${done.map((d) => d.pauses)}`);
});

test('two sender threads without flow control: received + dropped == sent, order and bytes intact', async (t) => {
  const count = 30000;
  const { out, done, r } = await run('vale2', count, 0);
  assert.deepEqual(out.errors, []);
  assert.deepEqual(done.map((d) => d.sent), [count, count]);
  const received = out.received[0] + out.received[1];
  assert.equal(received + r.rxDrops, 2 * count, `received ${received} + dropped ${r.rxDrops}`);
  assert.equal(done[0].txDrops + done[1].txDrops, r.rxDrops, 'drops counted on both sides');
  for (let id = 0; id < 2; id++) assert.equal(out.received[id] + done[id].txDrops, count, `sender ${id}`);
  assert.equal(r.rxPackets, received);
  t.diagnostic(`received ${out.received}, dropped ${r.rxDrops}, sequence gaps ${out.gaps}`);
});

test('port counters stay exact when two threads use different rings of the same ports', async () => {
  // s has 2 tx rings, each bound by its own thread (valeT:s-0 / valeT:s-1); without RSS,
  // tx ring i delivers into rx ring i of r, so both threads update s's and r's per-port
  // counters at the same time (under different ring locks). r is never drained: almost
  // every frame is a counted drop.
  const count = 400000;
  const r = open('valeT:r@conf:rings=2,slots=64');
  const s = open('valeT:s@conf:rings=2'); // keeps s alive; its rings are used by the workers
  try {
    const t = r.txRings[0], h = t.head, off = t.buf(h);
    r.u8.set(BROADCAST, off); r.u8.set(R_MAC, off + 6);
    t.setLen(h, 60); t.advance(t.next(h)); r.txsync();
    s.rxsync(); s.rxRings[0].advance(s.rxRings[0].tail); s.rxsync();
    const startSab = new SharedArrayBuffer(8), start = new Int32Array(startSab);
    const workers = [0, 1].map((i) => new Worker(new URL('./fixtures/vale-blaster.js', import.meta.url), {
      workerData: { port: `valeT:s-${i}`, dst: [...R_MAC], count, start: startSab },
    }));
    const finished = workers.map((w) => new Promise<void>((resolve, reject) => {
      w.on('error', reject);
      w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
    }));
    while (Atomics.load(start, 1) < 2) await new Promise((res) => setTimeout(res, 5));
    Atomics.store(start, 0, 1);
    Atomics.notify(start, 0);
    await Promise.all(finished);
    r.rxsync();
    const inRing = r.rxRings[0].space() + r.rxRings[1].space();
    const ss = s.stats(), rs = r.stats();
    const problems: string[] = [];
    if (ss.txPackets !== 2 * count) problems.push(`s.txPackets ${ss.txPackets} != ${2 * count}`);
    if (rs.rxPackets !== inRing) problems.push(`r.rxPackets ${rs.rxPackets} != ${inRing} frames in its rings`);
    if (rs.rxPackets + rs.rxDrops !== 2 * count) problems.push(`r.rxPackets + r.rxDrops = ${rs.rxPackets + rs.rxDrops} != ${2 * count}`);
    if (ss.txDrops !== 2 * count - inRing) problems.push(`s.txDrops ${ss.txDrops} != ${2 * count - inRing}`);
    assert.deepEqual(problems, [], 'lost counter updates (float64 "+=" by two threads holding different ring locks)');
  } finally {
    r.close();
    s.close();
  }
});
