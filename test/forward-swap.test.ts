// The zero-copy forwarding loops that move whole runs of slots at once: Direction.swapAll
// (apps/common/port-forward.ts: a bridge, an attachment or the n-1 I/O thread's way back, when
// both ports share a region) and Spreader.moveAll (apps/vnf/dist-spread.ts: one worker, all
// frames to its pipe). Both read slots another process may have written: a bad buffer index,
// a length past the limit or a chain where chains cannot go must stop the fast loop and be
// dropped and counted by the slot-by-slot loop, and every frame before and after it must
// arrive whole, with its own buffer (nothing copied). With several workers (Spreader.spreadAll)
// each frame must reach the pipe its hash names, in order. Pipes of one region; needs no root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, type Port } from '../src/index.js';
import { NS_BUF_CHANGED, NS_MOREFRAG } from '../src/core/constants.js';
import { Direction } from '../src/apps/common/port-forward.js';
import { SP, Spreader } from '../src/apps/vnf/dist-spread.js';
import { hashBucket } from '../src/packet/flow-hash.js';
import { rssFrameHashBits } from '../src/packet/toeplitz.js';

const ID = process.pid;
let seq = 0;

/** A frame of `len` bytes, EtherType `type`, every byte from 14 on equal to `fill`. */
function frame(len: number, fill: number, type = 0x0800): Uint8Array {
  const f = new Uint8Array(len).fill(fill);
  f.fill(0xff, 0, 6);
  f.set([0x02, 0, 0, 0, 0, 0x01], 6);
  if (len >= 14) { f[12] = type >> 8; f[13] = type & 0xff; }
  return f;
}

/** Queue each frame (a frame given as several pieces goes as one NS_MOREFRAG chain) and txsync. */
function send(port: Port, frames: Uint8Array[][]): void {
  const ring = port.txRings[0]!;
  for (const pieces of frames) {
    pieces.forEach((p, i) => {
      const h = ring.head;
      port.u8.set(p, ring.buf(h));
      ring.setLen(h, p.length);
      ring.setSlotFlags(h, i + 1 < pieces.length ? NS_MOREFRAG : 0);
      ring.advance(ring.next(h));
    });
  }
  port.txsync();
}

/** A received slot; `fill`: its frame's last byte. */
interface Slot { idx: number; len: number; flags: number; fill: number }
/** The slots the port has received (rxsync), released. */
function take(port: Port): Slot[] {
  port.rxsync();
  const ring = port.rxRings[0]!, out: Slot[] = [];
  for (let i = ring.head; i !== ring.tail; i = ring.next(i)) {
    out.push({ idx: ring.bufIdx(i), len: ring.len(i), flags: ring.slotFlags(i), fill: port.u8[ring.buf(i) + ring.len(i) - 1]! });
  }
  ring.advance(ring.tail);
  port.rxsync();
  return out;
}

/** Two pipes in one region: a -> b (the forwarder's source), c -> d (its destination). */
function pipes(slots = 64): { a: Port; b: Port; c: Port; d: Port; close: () => void } {
  const n = `fsw${ID}x${seq++}`;
  const opts = { txSlots: slots, rxSlots: slots };
  const a = open(`${n}{0`, opts), b = open(`${n}}0`, opts), c = open(`${n}{1`, opts), d = open(`${n}}1`, opts);
  assert.equal(b.region, c.region, 'the pipes share a region');
  return { a, b, c, d, close: () => { for (const p of [a, b, c, d]) { try { p.close(); } catch { /* a reset ring */ } } } };
}

test('Direction moves runs of slots by swapping buffers and drops a bad slot, an oversize length and nothing else', () => {
  const { a, b, c, d, close } = pipes();
  try {
    // 0..1 plain, 2 spoiled below (buffer index), 3 spoiled (length), 4+5 a chain, 6..9 plain
    send(a, [[frame(60, 10)], [frame(61, 11)], [frame(62, 12)], [frame(63, 13)], [frame(100, 14), frame(40, 15)],
      [frame(64, 16)], [frame(65, 17)], [frame(66, 18)], [frame(67, 19)]]);
    b.rxsync();
    const rx = b.rxRings[0]!;
    const want: number[] = [];
    for (let i = rx.head, k = 0; i !== rx.tail; i = rx.next(i), k++) want.push(rx.bufIdx(i));
    assert.equal(want.length, 10, 'ten slots at b');
    const s2 = (rx.head + 2) % rx.numSlots, s3 = (rx.head + 3) % rx.numSlots;
    const kept2 = rx.bufIdx(s2);
    rx.setBufIdx(s2, 0x7fffffff); // as another process could write them
    rx.setLen(s3, 0xffff);
    const f = new Direction(b, c, true);
    assert.ok(f.zerocopy, 'same region: zero-copy');
    assert.equal(f.run(64), 8, 'the eight good slots moved');
    assert.equal(f.drops, 2, 'the bad index and the oversize length dropped and counted');
    assert.equal(f.bytes, 60 + 61 + 100 + 40 + 64 + 65 + 66 + 67, 'bytes of the slots moved');
    assert.equal(rx.head, rx.tail, 'every slot of b taken');
    rx.setBufIdx(s2, kept2); // (else b's next rxsync resets its ring, as it should)
    c.txsync();
    const got = take(d);
    assert.deepEqual(got.map((s) => [s.len, s.fill]), [[60, 10], [61, 11], [100, 14], [40, 15], [64, 16], [65, 17], [66, 18], [67, 19]],
      'the good frames, in order, the chain whole');
    assert.deepEqual(got.map((s) => s.idx), [want[0], want[1], want[4], want[5], want[6], want[7], want[8], want[9]], 'each in the buffer it came in: no copy');
    assert.deepEqual(got.map((s) => s.flags), [0, 0, NS_MOREFRAG, 0, 0, 0, 0, 0].map((m) => m | NS_BUF_CHANGED), 'NS_BUF_CHANGED, the chain flag kept');
    for (let i = 0; i < rx.numSlots; i++) {
      if (rx.slotFlags(i) & NS_BUF_CHANGED) assert.equal(rx.slotFlags(i) & NS_MOREFRAG, 0, 'b\'s swapped slots carry no chain flag');
    }
  } finally {
    close();
  }
});

test('Direction stops where the destination is full and goes on from there next round', () => {
  const { a, b, c, d, close } = pipes(16);
  try {
    send(a, Array.from({ length: 12 }, (_, i) => [frame(60, i)]));
    send(c, Array.from({ length: 8 }, (_, i) => [frame(60, 100 + i)])); // c's ring: 8 of its 15 slots used
    b.rxsync();
    const f = new Direction(b, c, true);
    assert.equal(f.run(64), 7, 'as many as c has room for');
    c.txsync();
    assert.equal(b.rxRings[0]!.tail - b.rxRings[0]!.head, 5, 'the rest waits at b');
    const first = take(d);
    assert.deepEqual(first.map((s) => s.fill), [...Array.from({ length: 8 }, (_, i) => 100 + i), ...Array.from({ length: 7 }, (_, i) => i)]);
    c.txsync();
    assert.equal(f.run(64), 5, 'the rest moved');
    c.txsync();
    assert.deepEqual(take(d).map((s) => s.fill), [7, 8, 9, 10, 11]);
    assert.equal(f.drops, 0);
  } finally {
    close();
  }
});

test('one worker: the spreader moves every frame to its pipe, counts the non-IP ones, and holds what the pipe cannot take', () => {
  const { a, b, c, d, close } = pipes(32);
  try {
    // IPv4, ARP, a 12-byte runt, a chain of two (left to the frame-by-frame loop), IPv4 again
    send(a, [[frame(60, 1)], [frame(60, 2, 0x0806)], [frame(12, 3)], [frame(100, 4), frame(30, 5)], [frame(60, 6)], [frame(60, 7)]]);
    b.rxsync();
    const sp = new Spreader(b, [c], null, false);
    assert.ok(sp.zerocopy());
    assert.equal(sp.run(64), 6, 'six frames (the chain counts once)');
    assert.equal(sp.counters[SP.received], 6);
    assert.equal(sp.counters[SP.nonIp], 2, 'the ARP frame and the runt');
    assert.equal(sp.toWorker[0], 6);
    const got = take(d);
    assert.deepEqual(got.map((s) => [s.len, s.flags & NS_MOREFRAG]), [[60, 0], [60, 0], [12, 0], [100, NS_MOREFRAG], [30, 0], [60, 0], [60, 0]]);
    assert.deepEqual(got.filter((s) => s.len >= 21).map((s) => s.fill), [1, 2, 4, 5, 6, 7]);

    // a pipe with 5 free slots: 5 frames go, the rest stays in the port's ring (hold, not drop)
    c.txsync(); // (the slots d released)
    send(c, Array.from({ length: 26 }, (_, i) => [frame(60, 50 + i)]));
    send(a, Array.from({ length: 9 }, (_, i) => [frame(60, 80 + i)]));
    b.rxsync();
    assert.equal(sp.run(64), 5, 'what the pipe had room for');
    assert.ok(sp.blocked, 'blocked on the full pipe');
    assert.equal(sp.counters[SP.pipeFull], 0, 'nothing dropped');
    const rx = b.rxRings[0]!;
    assert.equal((rx.tail - rx.head + rx.numSlots) % rx.numSlots, 4, 'four wait at the port');
    assert.deepEqual(take(d).map((s) => s.fill), [...Array.from({ length: 26 }, (_, i) => 50 + i), 80, 81, 82, 83, 84]);
    c.txsync();
    assert.equal(sp.run(64), 4, 'the rest once the pipe has room');
    assert.deepEqual(take(d).map((s) => s.fill), [85, 86, 87, 88]);
    assert.equal(sp.counters[SP.received], 15);
  } finally {
    close();
  }
});

/** An IPv4/UDP frame of 60 bytes from 10.0.0.2:sport to 10.0.0.1:7 (the hash reads addresses and ports). */
function udp(sport: number, fill: number): Uint8Array {
  const f = frame(60, fill);
  f.set([0x45, 0, 0, 46, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1], 14);
  f.set([sport >> 8, sport & 255, 0, 7, 0, 26, 0, 0], 34);
  return f;
}

test('several workers: the spreader hands each frame to its hash\'s pipe, copies ARP answers to all, drops at a full pipe and counts it there', () => {
  const n = `fsw${ID}x${seq++}`;
  const opts = { txSlots: 32, rxSlots: 32 };
  const a = open(`${n}{0`, opts), b = open(`${n}}0`, opts);
  const pm = [open(`${n}{1`, opts), open(`${n}{2`, opts), open(`${n}{3`, opts)];
  const ps = [open(`${n}}1`, opts), open(`${n}}2`, opts), open(`${n}}3`, opts)];
  try {
    const frames = Array.from({ length: 12 }, (_, i) => udp(1000 + i * 7, 30 + i));
    const arpReply = frame(60, 99, 0x0806); // op 2 (bytes 20-21 = 0, 2): every worker gets it
    arpReply[20] = 0; arpReply[21] = 2;
    const want = frames.map((f) => hashBucket(rssFrameHashBits(f, 0, f.length), 3));
    send(a, [...frames.slice(0, 6).map((f) => [f]), [arpReply], ...frames.slice(6).map((f) => [f])]);
    b.rxsync();
    const sp = new Spreader(b, pm, null, false);
    assert.equal(sp.run(64), 13, 'twelve frames and the ARP answer');
    assert.equal(sp.counters[SP.arpCopies], 2, 'the ARP answer copied to workers 1 and 2');
    for (let w = 0; w < 3; w++) {
      const got = take(ps[w]!).map((s) => s.fill);
      const mine = frames.map((_, i) => i).filter((i) => want[i] === w).map((i) => 30 + i);
      // the ARP answer goes to every worker, between frames 5 and 6
      const expect = [...mine.filter((x) => x < 36), 99, ...mine.filter((x) => x >= 36)];
      assert.deepEqual(got, expect, `worker ${w}: its hash's frames, in order`);
    }
    assert.ok(want.some((w) => w !== want[0]), 'the flows spread over more than one worker');

    // worker want[0]'s pipe left with 2 free slots: its third frame on is dropped, the others go
    for (const p of pm) p.txsync();
    const w0 = want[0]!, pipe = pm[w0]!;
    send(pipe, Array.from({ length: 29 }, (_, i) => [frame(60, 120 + i)])); // 31 slots, 29 used
    const burst = Array.from({ length: 4 }, () => frames[0]!);
    send(a, [...burst.map((f) => [f]), [frames.find((_, i) => want[i] !== w0)!]]);
    b.rxsync();
    const before = sp.counters[SP.pipeFull];
    assert.equal(sp.run(64), 5, 'all five taken');
    assert.equal(sp.counters[SP.pipeFull] - before, 2, 'two dropped at the full pipe');
    assert.equal(sp.pipeFull[w0], 2, 'counted on that worker');
    assert.equal(take(ps[w0]!).length, 29 + 2, 'the pipe\'s 29 and the two that fit');
  } finally {
    for (const p of [a, b, ...pm, ...ps]) { try { p.close(); } catch { /* a reset ring */ } }
  }
});
