// The vhost-user back end (ports/vhost-user) against a front end written in the test
// (fixtures/vhost-front.ts), in one thread: negotiation, frames both ways through split rings
// with the 12-byte header and num_buffers, interrupt suppression (EVENT_IDX), and a hostile
// driver: bad addresses, looping chains, indices past the ring, indirect descriptors. Each
// stops its queue with a reason; the other queue and the protocol keep working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VhostUserDevice } from '../src/ports/vhost-user/device.js';
import { bit, F, REQ } from '../src/ports/vhost-user/protocol.js';
import { BROKEN, EMPTY } from '../src/ports/vhost-user/virtqueue.js';
import { BUF_SIZE, BUFS, GPA, MEM_SIZE, N, TestFrontEnd, testFrame } from './fixtures/vhost-front.js';

function setup(want: bigint): { dev: VhostUserDevice; fe: TestFrontEnd; logs: string[]; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhost-'));
  const logs: string[] = [];
  const dev = new VhostUserDevice({ path: join(dir, 'vm.sock'), log: (l) => logs.push(l) });
  const fe = new TestFrontEnd(dev.path, () => dev.service());
  fe.setup(want);
  return { dev, fe, logs, done: () => { fe.close(); dev.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** A 32-bit view of a frame (its buffer starts 4-byte aligned). */
const w32 = (a: Uint8Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.byteLength >> 2);
const w64 = (a: Uint8Array): Float64Array => new Float64Array(a.buffer, a.byteOffset, a.byteLength >> 3);
const t1 = testFrame(1);

const ALL = bit(F.VERSION_1) | bit(F.MRG_RXBUF) | bit(F.EVENT_IDX) | bit(F.PROTOCOL_FEATURES);

test('negotiation: features offered and taken, queues running after kick and enable', () => {
  const { dev, done } = setup(ALL | bit(F.CSUM));
  try {
    assert.equal(dev.features, ALL, 'CSUM is not offered in this version');
    assert.ok(dev.connected);
    assert.ok(dev.queues[0].running && dev.queues[1].running);
    assert.equal(dev.queues[1].hdrLen, 12);
  } finally { done(); }
});

test('guest TX: frames come out without their header, in order; used ring and interrupts', () => {
  const { dev, fe, done } = setup(ALL);
  try {
    const txq = dev.queues[1];
    fe.setUsedEvent(1, 0xffff); // no interrupt wanted until used idx passes 0xffff
    fe.send([testFrame(1), testFrame(2, 1514), testFrame(3)]);
    const out = new Uint8Array(4096), out32 = w32(out), out64 = w64(out);
    assert.equal(txq.txPop(out, out32, out64, 0, 2048), 60);
    assert.deepEqual(out.slice(0, 60), testFrame(1));
    assert.equal(txq.txPop(out, out32, out64, 101, 2048), 1514, 'to an unaligned place: bytewise');
    assert.deepEqual(out.slice(101, 1615), testFrame(2, 1514));
    assert.equal(txq.txPop(out, out32, out64, 0, 2048), 60);
    assert.equal(txq.txPop(out, out32, out64, 0, 2048), EMPTY);
    txq.finish();
    assert.deepEqual(fe.takeUsed(1).map((e) => e[0]), [0, 1, 2]);
    assert.equal(fe.interrupts(1), 0, 'used_event not passed: no interrupt');
    fe.setUsedEvent(1, 3);
    fe.send([testFrame(4)], 3);
    assert.equal(txq.txPop(out, out32, out64, 0, 2048), 60);
    txq.finish();
    assert.equal(fe.interrupts(1), 1, 'used idx passed used_event: one interrupt');
    assert.equal(txq.packets, 4);
    // kick suppression: avail_event set to the next entry only when asked
    txq.wantKicks(true);
    assert.equal(fe.availEvent(1), 4);
  } finally { done(); }
});

test('guest RX: header with num_buffers, frames split over merged buffers, EMPTY without buffers', () => {
  const { dev, fe, done } = setup(ALL);
  try {
    const rxq = dev.queues[0];
    const f = testFrame(9, 1000);
    assert.equal(rxq.rxPush(f, w32(f), w64(f), 0, f.length), EMPTY, 'no buffers posted');
    fe.postRx(4, 512);
    assert.equal(rxq.rxPush(f, w32(f), w64(f), 0, f.length), 1000);
    rxq.finish();
    const used = fe.takeUsed(0);
    assert.deepEqual(used, [[0, 512], [1, 500]], '1012 bytes (header + frame) over two 512-byte buffers');
    const a = fe.rxBuffer(0, 512), b = fe.u8.slice(BUFS + (N + 1) * BUF_SIZE, BUFS + (N + 1) * BUF_SIZE + 500);
    assert.equal(a.hdr[10] | (a.hdr[11] << 8), 2, 'num_buffers = 2');
    assert.deepEqual(Buffer.concat([a.frame, b]), Buffer.from(f));
    const g = testFrame(10, 1500);
    assert.equal(rxq.rxPush(g, w32(g), w64(g), 0, g.length), EMPTY, 'two buffers left cannot hold 1512 bytes: nothing taken');
    assert.equal(rxq.lastAvail, 2);
    // a frame at an odd offset of its buffer (bytewise copy) arrives intact too
    const odd = new Uint8Array(128);
    odd.set(testFrame(11, 100), 1);
    assert.equal(rxq.rxPush(odd, w32(odd), w64(odd), 1, 100), 100);
    rxq.finish();
    const [[id, len]] = fe.takeUsed(0);
    assert.deepEqual(fe.rxBuffer(id, len).frame, testFrame(11, 100));
  } finally { done(); }
});

test('hostile driver: each bad ring stops its queue with a reason; the rest keeps working', () => {
  const out = new Uint8Array(4096), out32 = w32(out), out64 = w64(out);
  const cases: [string, (fe: TestFrontEnd) => void, RegExp][] = [
    ['address outside memory', (fe) => { fe.writeDesc(1, 0, GPA + MEM_SIZE - 10, 100, 0, 0); fe.pushAvail(1, 0); }, /outside the guest's memory/],
    ['address below memory', (fe) => { fe.writeDesc(1, 0, 0, 100, 0, 0); fe.pushAvail(1, 0); }, /outside/],
    ['huge address', (fe) => { fe.writeDesc(1, 0, 2 ** 60, 100, 0, 0); fe.pushAvail(1, 0); }, /beyond 2\^53/],
    ['looping chain', (fe) => { fe.writeDesc(1, 0, GPA + BUFS, 100, 1, 1); fe.writeDesc(1, 1, GPA + BUFS, 100, 1, 0); fe.pushAvail(1, 0); }, /loop/],
    ['next past the ring', (fe) => { fe.writeDesc(1, 0, GPA + BUFS, 100, 1, N + 5); fe.pushAvail(1, 0); }, /past the ring/],
    ['head past the ring', (fe) => { fe.pushAvail(1, 4000); }, /past the ring/],
    ['avail index past the ring', (fe) => { fe.setAvailIdx(1, N + 7); }, /more than the ring/],
    ['indirect', (fe) => { fe.writeDesc(1, 0, GPA + BUFS, 64, 4, 0); fe.pushAvail(1, 0); }, /indirect/],
    ['writable buffer in TX', (fe) => { fe.writeDesc(1, 0, GPA + BUFS, 64, 2, 0); fe.pushAvail(1, 0); }, /device-writable/],
  ];
  for (const [what, bad, reason] of cases) {
    const { dev, fe, logs, done } = setup(ALL);
    try {
      bad(fe);
      const txq = dev.queues[1], rxq = dev.queues[0];
      assert.equal(txq.txPop(out, out32, out64, 0, 2048), BROKEN, what);
      assert.ok(txq.broken && reason.test(txq.error), `${what}: ${txq.error}`);
      assert.equal(txq.txPop(out, out32, out64, 0, 2048), BROKEN, 'stays stopped');
      assert.ok(logs.some((l) => /queue 1 .*stopped/.test(l)), `${what}: logged`);
      // the RX queue and the control channel still work
      fe.postRx(1);
      assert.equal(rxq.rxPush(t1, w32(t1), w64(t1), 0, 60), 60, `${what}: rx still works`);
      assert.equal(fe.getU64(REQ.GET_FEATURES) & bit(F.VERSION_1), bit(F.VERSION_1));
      assert.ok(dev.connected);
    } finally { done(); }
  }
});

test('RX hostile: read-only buffer in the receive queue stops it', () => {
  const { dev, fe, done } = setup(ALL);
  try {
    fe.writeDesc(0, 0, GPA + BUFS, 2048, 0, 0);
    fe.pushAvail(0, 0);
    assert.equal(dev.queues[0].rxPush(t1, w32(t1), w64(t1), 0, 60), BROKEN);
    assert.match(dev.queues[0].error, /read-only/);
  } finally { done(); }
});

test('protocol errors end the connection, the back end keeps listening; GET_VRING_BASE stops a queue', () => {
  const { dev, fe, logs, done } = setup(ALL);
  try {
    const r = fe.state(REQ.GET_VRING_BASE, 1, 0)!;
    assert.equal(r.readUInt32LE(0), 1);
    assert.equal(dev.queues[1].running, false);
    fe.state(REQ.SET_VRING_NUM, 0, 100); // not a power of 2
    assert.equal(dev.connected, false);
    assert.ok(logs.some((l) => /disconnected: SET_VRING_NUM/.test(l)));
    const fe2 = new TestFrontEnd(dev.path, () => dev.service());
    fe2.setup(ALL);
    assert.ok(dev.connected && dev.queues[1].running, 'a new front end is served');
    fe2.close();
  } finally { done(); }
});
