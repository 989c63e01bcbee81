/**
 * `node dist/bench/vm-queue.js [--frame BYTES] [--rounds N]`: what one frame costs in the
 * vhost-user back end's own code (ports/vhost-user/virtqueue.ts), stage by stage, in one thread
 * with no other program: the test front end (test/fixtures/vhost-front.ts) lays out its rings in
 * a memfd, and each round it makes 256 descriptors available again (not timed) which the back
 * end then takes. The buffers are placed as DPDK's virtio_user places them (the frame 128 bytes
 * into a 2 KiB buffer, the 12-byte header before it), so the frame is 8-byte aligned.
 *
 *   txPop             guest TX queue -> a private buffer: avail entry, descriptor read and checked,
 *                     address translated, frame copied, used entry written (per frame)
 *   rxPush            a private buffer -> guest RX buffer: the same, header and num_buffers written
 *   copy              the frame copy alone (core/frame-copy.ts copyBytes), 8-byte aligned
 *   copy (4-aligned)  the same with both offsets 4 (not 8) byte aligned
 *   finish            the used index published once per batch (no interrupt wanted), per frame
 *   interrupt         one eventfd write (an interrupt the guest asked for), per call
 *   service           one look at the socket (accept, recvmsg, two eventfd reads), per call
 *   epoll look        one poll(2) of the epoll set instead (what the opener does between frames)
 *
 * Each figure is the minimum over --rounds runs of 256 frames x 200 batches (ns per frame, or per
 * call): the machine is shared, the minimum is what the code costs. Used for docs/benchmarks.md
 * (VMs, the per-stage table).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyBytes } from '../src/core/frame-copy.js';
import { VhostUserDevice } from '../src/ports/vhost-user/device.js';
import { bit, F } from '../src/ports/vhost-user/protocol.js';
import { epollAdd, epollCreate } from '../src/sys/epoll.js';
import { close } from '../src/sys/libc.js';
import { PollSet } from '../src/sys/net.js';
import { eventfd, eventfdSignal } from '../src/sys/unix.js';
import { BUF_SIZE, BUFS, GPA, N, TestFrontEnd } from '../test/fixtures/vhost-front.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const FRAME = arg('--frame', 64), ROUNDS = arg('--rounds', 7), BATCHES = 200;
const HEADROOM = 128, HDR = 12;

const dir = mkdtempSync(join(tmpdir(), 'nmts-vmq-'));
const dev = new VhostUserDevice({ path: join(dir, 'q.sock'), log: () => {} });
const fe = new TestFrontEnd(dev.path, () => dev.service());
fe.setup(bit(F.VERSION_1) | bit(F.MRG_RXBUF) | bit(F.PROTOCOL_FEATURES));
const rxq = dev.queues[0], txq = dev.queues[1];
// descriptors once: TX i -> buffer i (header then frame), RX i -> buffer N + i
for (let i = 0; i < N; i++) {
  const tb = BUFS + i * BUF_SIZE + HEADROOM - HDR, rb = BUFS + (N + i) * BUF_SIZE + HEADROOM - HDR;
  fe.u8.fill(0, tb, tb + HDR);
  for (let b = 0; b < FRAME; b++) fe.u8[tb + HDR + b] = (i + b) & 0xff;
  fe.writeDesc(1, i, GPA + tb, HDR + FRAME, 0, 0);
  fe.writeDesc(0, i, GPA + rb, BUF_SIZE - HEADROOM + HDR, 2, 0);
}
// no interrupts wanted (VRING_AVAIL_F_NO_INTERRUPT), as a polling DPDK front end sets
fe.dv.setUint16(0x1000, 1, true); fe.dv.setUint16(0x5000, 1, true);
const mine = new Uint8Array(N * BUF_SIZE), mine32 = new Uint32Array(mine.buffer), mine64 = new Float64Array(mine.buffer);

/** Make all N descriptors of queue q available again (the front end's part: not timed). */
function refill(q: number): void {
  for (let i = 0; i < N; i++) fe.pushAvail(q, i);
}

/** Minimum over ROUNDS of (time of `batch` over BATCHES batches) / (BATCHES * per). */
function measure(per: number, batch: () => void, before: () => void = () => {}): number {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    let t = 0;
    for (let b = 0; b < BATCHES; b++) {
      before();
      const t0 = performance.now();
      batch();
      t += performance.now() - t0;
    }
    best = Math.min(best, (t * 1e6) / (BATCHES * per));
  }
  return best;
}

const rows: [string, number][] = [];
rows.push(['txPop', measure(N, () => {
  for (let i = 0; i < N; i++) if (txq.txPop(mine, mine32, mine64, i * BUF_SIZE, 2048) !== FRAME) throw new Error('txPop');
}, () => refill(1))]);
txq.finish();
rows.push(['finish (per frame, batch of 256)', measure(N, () => txq.finish(), () => {
  refill(1);
  for (let i = 0; i < N; i++) txq.txPop(mine, mine32, mine64, i * BUF_SIZE, 2048);
})]);
rows.push(['rxPush', measure(N, () => {
  for (let i = 0; i < N; i++) if (rxq.rxPush(mine, mine32, mine64, i * BUF_SIZE, FRAME) !== FRAME) throw new Error('rxPush');
}, () => { refill(0); rxq.finish(); })]);
const gu8 = fe.u8, gu32 = new Uint32Array(gu8.buffer), gf64 = new Float64Array(gu8.buffer);
rows.push(['copy (8-byte aligned)', measure(N, () => {
  for (let i = 0; i < N; i++) copyBytes(gu8, gu32, gf64, BUFS + i * BUF_SIZE + HEADROOM, mine, mine32, mine64, i * BUF_SIZE, FRAME);
})]);
rows.push(['copy (4-byte aligned)', measure(N, () => {
  for (let i = 0; i < N; i++) copyBytes(gu8, gu32, gf64, BUFS + i * BUF_SIZE + HEADROOM + 4, mine, mine32, mine64, i * BUF_SIZE + 4, FRAME);
})]);
const efd = eventfd();
rows.push(['interrupt (eventfd write, per call)', measure(N, () => { for (let i = 0; i < N; i++) eventfdSignal(efd); })]);
close(efd);
rows.push(['service (accept, recvmsg, 2 eventfd reads; per call)', measure(16, () => { for (let i = 0; i < 16; i++) { dev.service(); dev.consumeKicks(); } })]);
const ep = epollCreate();
for (const fd of dev.pollFds()) epollAdd(ep, fd);
const set = new PollSet([ep]);
rows.push(['epoll look (one poll(2); per call)', measure(16, () => { for (let i = 0; i < 16; i++) set.poll(0); })]);
close(ep);

fe.close();
dev.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${FRAME}-byte frames, min of ${ROUNDS} x ${BATCHES} batches of ${N}\n`);
for (const [name, ns] of rows) process.stdout.write(`${name.padEnd(56)} ${ns.toFixed(1).padStart(8)} ns\n`);
