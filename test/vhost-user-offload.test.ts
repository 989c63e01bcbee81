// The back end's multi-queue and offload pieces against the test front end (fixtures/vhost-front.ts),
// in one thread: a device of several queue pairs offers MQ and answers GET_QUEUE_NUM; a device
// with offloads offers the checksum and TSO features, keeps the guest's virtio-net header on
// transmit (written into pieces, as into a switch ring's slot chain) and gives the guest the
// switch's header on receive (num_buffers set across merged buffers). With DPDK: testpmd's
// frames through a port with offloads lose their header at a port without one, every frame counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { VhostUserDevice } from '../src/ports/vhost-user/device.js';
import { bit, F, OFFLOAD_FEATURES, PF, REQ } from '../src/ports/vhost-user/protocol.js';
import { EMPTY } from '../src/ports/vhost-user/virtqueue.js';
import { needs } from './fixtures/requires.js';
import { BUF_SIZE, BUFS, N, TestFrontEnd, testFrame } from './fixtures/vhost-front.js';

function setup(want: bigint, o: { queuePairs?: number; offloads?: boolean }): { dev: VhostUserDevice; fe: TestFrontEnd; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhost-'));
  const dev = new VhostUserDevice({ path: join(dir, 'vm.sock'), ...o });
  const fe = new TestFrontEnd(dev.path, () => dev.service());
  fe.setup(want);
  return { dev, fe, done: () => { fe.close(); dev.close(); rmSync(dir, { recursive: true, force: true }); } };
}

const w32 = (a: Uint8Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.byteLength >> 2);
const w64 = (a: Uint8Array): Float64Array => new Float64Array(a.buffer, a.byteOffset, a.byteLength >> 3);
const BASE = bit(F.VERSION_1) | bit(F.MRG_RXBUF) | bit(F.EVENT_IDX) | bit(F.PROTOCOL_FEATURES);

test('multi-queue: MQ offered with several pairs (not with one), GET_QUEUE_NUM answers the pairs, protocol feature MQ', () => {
  const one = setup(BASE | bit(F.MQ), {});
  try {
    assert.equal(one.dev.features & bit(F.MQ), 0n);
    assert.equal(one.fe.getU64(REQ.GET_QUEUE_NUM), 1n);
  } finally { one.done(); }
  const four = setup(BASE | bit(F.MQ), { queuePairs: 4 });
  try {
    assert.equal(four.dev.queues.length, 8);
    assert.notEqual(four.dev.features & bit(F.MQ), 0n);
    assert.notEqual(four.fe.getU64(REQ.GET_PROTOCOL_FEATURES) & bit(PF.MQ), 0n);
    assert.equal(four.fe.getU64(REQ.GET_QUEUE_NUM), 4n);
    // queues 2..7 exist (their set-up messages are valid) and are idle until set up
    assert.ok(four.dev.queues[0].running && !four.dev.queues[2].running);
    four.fe.state(REQ.SET_VRING_NUM, 7, N);
    assert.ok(four.dev.connected, 'queue 7 exists');
    four.fe.state(REQ.SET_VRING_NUM, 8, N);
    assert.ok(!four.dev.connected, 'queue 8 does not: the connection ends');
  } finally { four.done(); }
  assert.throws(() => new VhostUserDevice({ path: '/tmp/unused.sock', queuePairs: 9 }), /queue pairs/);
});

test('offloads: offered only when asked for; TX keeps the guest\'s header, written into pieces', () => {
  const plain = setup(BASE | OFFLOAD_FEATURES, {});
  try {
    assert.equal(plain.dev.features & OFFLOAD_FEATURES, 0n, 'no offloads on a port made without them');
  } finally { plain.done(); }
  const { dev, fe, done } = setup(BASE | OFFLOAD_FEATURES, { offloads: true });
  try {
    assert.equal(dev.features & OFFLOAD_FEATURES, OFFLOAD_FEATURES);
    const txq = dev.queues[1];
    assert.ok(txq.keepHdr);
    const f = testFrame(5, 1500);
    fe.send([f]);
    // the header the guest wrote: NEEDS_CSUM, TCPV4, gso_size 1448, csum_start 34, offset 16
    const h = BUFS; // descriptor 0's buffer
    fe.u8.set([1, 1, 66, 0, 0xa8, 5, 34, 0, 16, 0, 0, 0], h);
    const out = new Uint8Array(8192), out32 = w32(out), out64 = w64(out);
    const pieces = Float64Array.from([4096, 64, 2048, 7000]); // anywhere, any order: a slot chain's buffers
    const len = txq.txPop(out, out32, out64, 0, 4 * 512, pieces, 512);
    assert.equal(len, 1512, 'header and frame');
    const whole = new Uint8Array(1512);
    for (let p = 0, at = 0; at < 1512; p++) { const k = Math.min(512, 1512 - at); whole.set(out.subarray(pieces[p], pieces[p] + k), at); at += k; }
    assert.deepEqual([...whole.subarray(0, 10)], [1, 1, 66, 0, 0xa8, 5, 34, 0, 16, 0]);
    assert.deepEqual(whole.subarray(12), f);
    assert.equal(txq.txPop(out, out32, out64, 0, 2048), EMPTY);
    assert.equal(txq.bytes, 1512);
  } finally { done(); }
});

test('offloads: RX gives the guest the switch\'s header (bytes 0-9) and sets num_buffers over merged buffers', () => {
  const { dev, fe, done } = setup(BASE | OFFLOAD_FEATURES, { offloads: true });
  try {
    const rxq = dev.queues[0];
    const pkt = new Uint8Array(12 + 3000);
    pkt.set([1, 4, 74, 0, 0x94, 5, 54, 0, 16, 0, 0xee, 0xee], 0); // TCPV6 super-frame, num_buffers to be replaced
    const f = testFrame(7, 3000);
    pkt.set(f, 12);
    fe.postRx(4, BUF_SIZE);
    assert.equal(rxq.rxPush(pkt, w32(pkt), w64(pkt), 12, 3000, pkt, 0), 3000);
    rxq.finish();
    const used = fe.takeUsed(0);
    assert.deepEqual(used, [[0, BUF_SIZE], [1, 3012 - BUF_SIZE]]);
    const a = fe.rxBuffer(0, BUF_SIZE);
    assert.deepEqual([...a.hdr], [1, 4, 74, 0, 0x94, 5, 54, 0, 16, 0, 2, 0], 'the switch\'s header, num_buffers 2');
    const rest = fe.u8.slice(BUFS + (N + 1) * BUF_SIZE, BUFS + (N + 1) * BUF_SIZE + 3012 - BUF_SIZE);
    assert.deepEqual(Buffer.concat([a.frame, rest]), Buffer.from(f));
    // without a header source: zeros, as before
    const g = testFrame(8, 100);
    assert.equal(rxq.rxPush(g, w32(g), w64(g), 0, 100), 100);
    rxq.finish();
    const [[id, len]] = fe.takeUsed(0);
    assert.deepEqual([...fe.rxBuffer(id, len).hdr], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  } finally { done(); }
});

// ---- with DPDK: a port with offloads, frames losing their header at a port without one ----

const root = resolve(import.meta.dirname, '../..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(what: string, f: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

test('DPDK virtio_user txonly -> port with offloads (12-byte header in the switch) -> pkt-gen -f rx (no header): exact counts, 60-byte frames', { skip: needs(['root', 'dpdk-testpmd'], 'DPDK testpmd'), timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhoff-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock'), sw = `valeqd${process.pid}`;
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  let rx: ChildProcess | null = null, tp: ChildProcess | null = null;
  try {
    assert.equal((await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: vsock, offloads: true }, 30_000)).ok, true);
    assert.equal((await daemonRequest(sock, { cmd: 'attach', port: `${sw}:vm1` }, 30_000)).ok, true);
    rx = spawn(process.execPath, ['bin/nmts.js', 'pkt-gen', '-i', `${sw}:rx@conf:slots=4096`, '-f', 'rx', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let rxOut = '';
    rx.stdout!.on('data', (b: Buffer) => { rxOut += b.toString(); });
    const rxExit = new Promise<void>((r) => rx!.once('exit', () => r()));
    await until('pkt-gen -f rx on the switch', async () => {
      const l = await daemonRequest(sock, { cmd: 'list' }, 30_000);
      return (l.switches as { name: string; ports: { name: string }[] }[]).some((s) => s.name === sw && s.ports.some((p) => p.name === `${sw}:rx`));
    });
    await sleep(300);
    tp = spawn('dpdk-testpmd', ['-l', '0-1', '--no-huge', '-m', '512', '--no-pci', `--file-prefix=nmtsqo${process.pid}`,
      '--vdev', `virtio_user0,path=${vsock},queues=1`, '--', '--forward-mode=txonly', '--total-num-mbufs=16384', '--stats-period', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    tp.stdout!.on('data', (b: Buffer) => { text += b.toString(); });
    tp.stderr!.on('data', (b: Buffer) => { text += b.toString(); });
    const tpExit = new Promise<void>((r) => tp!.once('exit', () => r()));
    const txPackets = async (): Promise<number> => ((await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000)).ports as { queues: { packets: number }[] }[])[0].queues[1].packets;
    await until('testpmd sending through the port', async () => (await txPackets()) > 20_000).catch((e: Error) => { throw new Error(`${e.message}\n${logs.join('\n')}\n${text.slice(-2000)}`); });
    tp.kill('SIGINT');
    await tpExit;
    const i = text.lastIndexOf('Accumulated forward statistics');
    const sent = Number(/TX-packets:\s+(\d+)/.exec(text.slice(i))![1]);
    await until('the port counted every frame', async () => (await txPackets()) === sent, 10_000);
    const st = (await daemonRequest(sock, { cmd: 'stats', port: `${sw}:vm1` }, 30_000)).stats as { txPackets: number; txBytes: number };
    assert.equal(st.txPackets, sent);
    await sleep(500);
    rx.kill('SIGINT');
    await rxExit;
    const r = JSON.parse(rxOut.trim().split('\n').pop()!) as { packets: number; dropped: number; bytes?: number };
    assert.equal(r.packets + r.dropped, sent, `pkt-gen received ${r.packets} + dropped ${r.dropped} = testpmd's ${sent}`);
  } finally {
    tp?.kill('SIGKILL');
    rx?.kill('SIGKILL');
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
