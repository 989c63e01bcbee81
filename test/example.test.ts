// examples/filter-forwarder.ts: traffic in both directions through two pipes, the forwarder
// in between. Exactly the UDP port 9 frames from outside are dropped (port 9 frames from
// inside pass), every other frame arrives once, in order, with the same bytes and in the
// very buffer it was written to (zero-copy). The two pipes are pipes 1 and 2 of one parent
// (as the example's defaults `fw}1` / `fw}2`): they share the parent's region, which is what
// makes swapping buffers between them legal. Each test uses a parent of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { NS_BUF_CHANGED, open, POLLIN, type Port } from '../src/index.js';
import { UdpFrameTemplate, readSeq, writeSeq } from '../src/packet/frame-builder.js';
import { dropFromOutside, forward, type ForwardCounters } from '../examples/filter-forwarder.js';

const OUT = 0, IN = 1;
// per direction: [template for UDP port 9 (60 bytes), template for port 7 (128 bytes)]
const templates = [OUT, IN].map((dir) => {
  const [src, dst] = dir === OUT ? ['10.9.9.9:1234', '10.0.0.2'] : ['10.0.0.2:1234', '10.9.9.9'];
  return [
    new UdpFrameTemplate({ family: 4, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src, dst: `${dst}:9`, frameLen: 60 }),
    new UdpFrameTemplate({ family: 4, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src, dst: `${dst}:7`, frameLen: 128 }),
  ];
});
/** Every third frame goes to UDP port 9, in both directions. */
const isPort9 = (seq: number): boolean => seq % 3 === 0;

/** Write frame `seq` of direction `dir` at u8[off]; returns its length. */
function writeFrame(u8: Uint8Array, off: number, dir: number, seq: number): number {
  const len = templates[dir]![isPort9(seq) ? 0 : 1]!.write(u8, off);
  writeSeq(u8, off, (dir << 24) | seq);
  return len;
}
const scratch = new Uint8Array(2048);

interface Sent { seq: number; slot: number; bufIdx: number }

/** Queue frames seq0.. on the port's tx ring while there is room (at most `max`); no sync. */
function send(port: Port, dir: number, seq0: number, max: number): Sent[] {
  const r = port.txRings[0]!;
  const out: Sent[] = [];
  let h = r.head;
  while (out.length < max && h !== r.tail) {
    const seq = seq0 + out.length;
    r.setLen(h, writeFrame(port.u8, r.buf(h), dir, seq));
    r.setSlotFlags(h, 0);
    out.push({ seq, slot: h, bufIdx: r.bufIdx(h) });
    h = r.next(h);
  }
  r.advance(h);
  return out;
}

/** Take every frame of the port's rx ring (no sync), check its bytes, release the slots. */
function receive(port: Port, dir: number): Array<{ seq: number; bufIdx: number }> {
  const r = port.rxRings[0]!;
  const got: Array<{ seq: number; bufIdx: number }> = [];
  let h = r.head;
  for (; h !== r.tail; h = r.next(h)) {
    const off = r.buf(h), len = r.len(h);
    const tagged = readSeq(port.u8, off);
    assert.equal(tagged >>> 24, dir, 'frame from the other direction');
    const seq = tagged & 0xffffff;
    const want = writeFrame(scratch, 0, dir, seq);
    assert.equal(len, want, `length of frame ${seq}`);
    assert.deepEqual(port.u8.subarray(off, off + len), scratch.subarray(0, len), `bytes of frame ${seq}`);
    got.push({ seq, bufIdx: r.bufIdx(h) });
  }
  r.advance(h);
  return got;
}

test('the rule drops IPv4 UDP to port 9 only', () => {
  const u8 = new Uint8Array(256);
  assert.equal(dropFromOutside(u8, 0, writeFrame(u8, 0, OUT, 3)), true);
  assert.equal(dropFromOutside(u8, 0, writeFrame(u8, 0, OUT, 4)), false);
  writeFrame(u8, 0, OUT, 3);
  u8[23] = 6; // TCP, same port bytes
  assert.equal(dropFromOutside(u8, 0, 60), false);
  writeFrame(u8, 0, OUT, 3);
  u8[12] = 0x86; u8[13] = 0xdd; // not IPv4
  assert.equal(dropFromOutside(u8, 0, 60), false);
  assert.equal(dropFromOutside(u8, 0, 20), false); // runt
});

test('in-thread rounds: port 9 dropped outside->inside only, everything else arrives zero-copy', async () => {
  const outside = open('fwa{1'), inside = open('fwa{2');
  try {
    assert.equal(outside.region, inside.region, 'pipes of one parent: one region');
    let seqOut = 0, seqIn = 0;
    for (let round = 0; round < 6; round++) { // 6 x 700 frames: the 1024-slot rings wrap
      const sentOut = send(outside, OUT, seqOut, 700);
      const sentIn = send(inside, IN, seqIn, 500);
      assert.equal(sentOut.length, 700);
      assert.equal(sentIn.length, 500);
      seqOut += 700; seqIn += 500;
      outside.txsync(); inside.txsync();

      const c = await forward('fwa}1', 'fwa}2', { maxPackets: 1200 });
      const dropped = sentOut.filter((p) => isPort9(p.seq));
      const passed = sentOut.filter((p) => !isPort9(p.seq));
      assert.deepEqual(c, { extToInt: passed.length, intToExt: 500, dropped: dropped.length });

      inside.rxsync(); outside.rxsync();
      const atInside = receive(inside, OUT), atOutside = receive(outside, IN);
      // outside -> inside: exactly the frames not for port 9, in order, in their own buffers
      assert.deepEqual(atInside, passed.map((p) => ({ seq: p.seq, bufIdx: p.bufIdx })));
      // inside -> outside: everything, port 9 included
      assert.deepEqual(atOutside, sentIn.map((p) => ({ seq: p.seq, bufIdx: p.bufIdx })));

      // the sender's slots: a forwarded frame's slot came back holding another buffer, flagged
      // NS_BUF_CHANGED; a dropped frame's slot came back untouched
      outside.txsync();
      const t = outside.txRings[0]!;
      for (const p of sentOut) {
        if (isPort9(p.seq)) {
          assert.equal(t.bufIdx(p.slot), p.bufIdx);
          assert.equal(t.slotFlags(p.slot) & NS_BUF_CHANGED, 0);
        } else {
          assert.notEqual(t.bufIdx(p.slot), p.bufIdx);
          assert.equal(t.slotFlags(p.slot) & NS_BUF_CHANGED, NS_BUF_CHANGED);
        }
      }
      inside.rxsync(); outside.rxsync(); // release what we read
    }
    // no buffer was lost or duplicated by the swaps: the 4 slot arrays of the two pipes
    // still hold 4 x 1024 distinct valid buffers
    const all = [outside.txRings[0]!, outside.rxRings[0]!, inside.txRings[0]!, inside.rxRings[0]!]
      .flatMap((r) => Array.from({ length: r.numSlots }, (_, i) => r.bufIdx(i)));
    assert.equal(new Set(all).size, 4 * 1024);
    assert.ok(all.every((b) => b >= 2));
  } finally {
    outside.close(); inside.close();
  }
});

test('forwarder in a worker, its poll loop against a concurrent sender/receiver', async () => {
  const N_OUT = 30000, N_IN = 20000;
  // the worker maps the pipes' region (the shared file of parent fwc) when it opens them
  const outside = open('fwc{1'), inside = open('fwc{2');
  assert.equal(outside.region, inside.region);
  const worker = new Worker(
    `const { parentPort, workerData: w } = require('node:worker_threads');
     import(w.url).then((m) => m.forward(w.ext, w.int, { maxPackets: w.max })).then((c) => parentPort.postMessage(c));`,
    { eval: true, workerData: { url: new URL('../examples/filter-forwarder.js', import.meta.url).href, ext: 'fwc}1', int: 'fwc}2', max: N_OUT + N_IN } },
  );
  const result = new Promise<ForwardCounters>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`forwarder worker exited (${code}) without a result`)));
  });
  try {
    const sentOut: Sent[] = [], sentIn: Sent[] = [];
    const atInside: Array<{ seq: number; bufIdx: number }> = [], atOutside: Array<{ seq: number; bufIdx: number }> = [];
    const expectInside = Array.from({ length: N_OUT }, (_, s) => s).filter((s) => !isPort9(s)).length;
    const giveUp = performance.now() + 8000; // a safety net against a hang, not a timing check
    while (atInside.length < expectInside || atOutside.length < N_IN) {
      if (performance.now() > giveUp) assert.fail(`stuck: inside got ${atInside.length}/${expectInside}, outside ${atOutside.length}/${N_IN}`);
      sentOut.push(...send(outside, OUT, sentOut.length, Math.min(256, N_OUT - sentOut.length)));
      sentIn.push(...send(inside, IN, sentIn.length, Math.min(256, N_IN - sentIn.length)));
      outside.txsync(); inside.txsync();
      inside.rxsync(); outside.rxsync();
      const a = receive(inside, OUT), b = receive(outside, IN);
      atInside.push(...a); atOutside.push(...b);
      if (a.length === 0 && b.length === 0) inside.poll(POLLIN, 1);
    }
    outside.rxsync(); inside.rxsync();
    const c = await result;
    const passed = sentOut.filter((p) => !isPort9(p.seq));
    assert.deepEqual(c, { extToInt: passed.length, intToExt: N_IN, dropped: N_OUT - passed.length });
    assert.deepEqual(atInside, passed.map((p) => ({ seq: p.seq, bufIdx: p.bufIdx })));
    assert.deepEqual(atOutside, sentIn.map((p) => ({ seq: p.seq, bufIdx: p.bufIdx })));
  } finally {
    await worker.terminate();
    outside.close(); inside.close();
  }
});

test('the stop signal ends an idle forwarder, which leaves the pipes usable', async () => {
  const outside = open('fwe{1'), inside = open('fwe{2');
  try {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    assert.deepEqual(await forward('fwe}1', 'fwe}2', { stopSignal: ac.signal }), { extToInt: 0, intToExt: 0, dropped: 0 });
    // frames queued while nobody forwards are picked up by the next forwarder
    send(outside, OUT, 1, 2); // seq 1 and 2: neither goes to port 9
    outside.txsync();
    assert.deepEqual(await forward('fwe}1', 'fwe}2', { maxPackets: 2 }), { extToInt: 2, intToExt: 0, dropped: 0 });
    inside.rxsync();
    assert.deepEqual(receive(inside, OUT).map((p) => p.seq), [1, 2]);
  } finally {
    outside.close(); inside.close();
  }
});
