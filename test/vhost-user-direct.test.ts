// netmap:vm1 opened directly (ports/vhost-user/direct-port.ts): a program serves a daemon-made
// vhost-user port's socket itself, with no switch. The test's own front end (fixtures/vhost-front.ts)
// in this thread, the port pumped by it: frames both ways with their bytes and exact counts. The
// hand-over with the daemon's thread (claim.ts): attach and -r refused while open, a second opener
// refused, open refused while attached, a stream port refused, and a killed opener's socket served
// by the daemon again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { open, POLLIN, POLLOUT, type Port } from '../src/index.js';
import { ALL_FEATURES_FOR_TEST } from './fixtures/vhost-features.js';
import { TestFrontEnd, testFrame } from './fixtures/vhost-front.js';
import { receiveAll, until } from './fixtures/wait.js';
import { unixConnect } from '../src/sys/unix.js';
import { close } from '../src/sys/libc.js';

/** A name of its own: VM port names are global to the shared-file directory (claim.ts). */
const VM = `vd${process.pid}`;
const root = resolve(import.meta.dirname, '../..');

async function rejects(what: Promise<unknown> | (() => unknown), code: string, text: RegExp): Promise<void> {
  try {
    const r = typeof what === 'function' ? what() : await what;
    if (r && typeof r === 'object' && 'ok' in r) {
      const o = r as { ok: boolean; code?: string; error?: string };
      assert.equal(o.ok, false, 'the request should fail');
      assert.equal(o.code, code);
      assert.match(String(o.error), text);
      return;
    }
    if (r && typeof (r as Port).close === 'function') (r as Port).close();
    assert.fail('expected an error');
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.equal((e as { code?: string }).code, code, String(e));
    assert.match((e as Error).message, text);
  }
}

test('netmap:vm1 opened directly: frames both ways with exact bytes and counts, no switch', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhdir-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock');
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  let port: Port | null = null;
  let fe: TestFrontEnd | null = null;
  try {
    { const r = await daemonRequest(sock, { cmd: 'vhost-create', port: VM, path: vsock }, 30_000); assert.equal(r.ok, true, String(r.error)); }
    port = open(`netmap:${VM}`);
    const p = port;
    assert.equal(p.backend()?.backend, 'vhost-user');
    await until('the daemon logs the hand-over', () => logs.some((l) => l.includes(`opened directly as netmap:${VM}`)));
    fe = new TestFrontEnd(vsock, () => { p.poll(POLLIN, 0); });
    fe.setup(ALL_FEATURES_FOR_TEST);
    // guest -> program: 600 frames (several rounds of the 256-entry queue)
    const got: Uint8Array[] = [];
    let sent = 0;
    for (let round = 0; round < 3; round++) {
      const frames = Array.from({ length: 200 }, (_, k) => testFrame(sent + k, 60 + ((sent + k) % 7) * 100));
      fe.send(frames, sent);
      sent += frames.length;
      await until(`the program received ${sent} frames`, () => { p.poll(POLLIN, 0); receiveAll(p, got); return got.length === sent; });
      fe.takeUsed(1);
    }
    for (let i = 0; i < sent; i++) assert.deepEqual(got[i], testFrame(i, 60 + (i % 7) * 100), `frame ${i}`);
    assert.equal(p.stats().rxPackets, sent);
    // program -> guest: 100 frames into 100 posted buffers; the 101st waits for a buffer (back-pressure)
    fe.postRx(100);
    for (let i = 0; i < 101; i++) assert.ok(p.inject(testFrame(1000 + i, 64 + i)), `inject ${i}`);
    p.txsync();
    const used = fe.takeUsed(0);
    assert.equal(used.length, 100);
    used.forEach(([id, len], k) => {
      assert.equal(id, k);
      assert.equal(len, 12 + 64 + k);
      assert.deepEqual(fe!.rxBuffer(id, len).frame, testFrame(1000 + k, 64 + k));
    });
    assert.equal(p.txRings[0].txPending(), true, 'the frame without a guest buffer stays in the ring');
    fe.postRx(1, 2048, 100);
    assert.ok(p.poll(POLLOUT, 2000) & POLLOUT);
    p.txsync();
    const last = fe.takeUsed(0);
    assert.equal(last.length, 1);
    assert.deepEqual(fe.rxBuffer(100, last[0][1]).frame, testFrame(1100, 164));
    const st = p.stats();
    assert.equal(st.txPackets, 101);
    assert.equal(st.txDrops, 0);
  } finally {
    fe?.close();
    port?.close();
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('netmap:vm1: exclusive with attach, one opener, -r refused while open, a killed opener gives the socket back', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhdir-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock'), ssock = join(dir, 'vm2.sock');
  const sw = `valevd${process.pid}`;
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  let port: Port | null = null;
  try {
    { const r = await daemonRequest(sock, { cmd: 'vhost-create', port: VM, path: vsock }, 30_000); assert.equal(r.ok, true, String(r.error)); }
    { const r = await daemonRequest(sock, { cmd: 'vhost-create', port: `${VM}s`, path: ssock, kind: 'stream' }, 30_000); assert.equal(r.ok, true, String(r.error)); }
    port = open(`netmap:${VM}`);
    await rejects(daemonRequest(sock, { cmd: 'attach', port: `${sw}:${VM}` }, 30_000), 'EBUSY', new RegExp(`${VM} is open directly \\(netmap:${VM}, pid \\d+\\): close it before attaching`));
    await rejects(daemonRequest(sock, { cmd: 'vhost-remove', port: VM }, 30_000), 'EBUSY', /open directly/);
    await rejects(() => open(`netmap:${VM}`), 'EBUSY', /open directly by another program \(pid \d+\): one opener at a time/);
    port.close();
    port = null;
    await until('the daemon serves the socket again', () => logs.some((l) => l.includes(`netmap:${VM}: closed by its opener`)));
    { const r = await daemonRequest(sock, { cmd: 'attach', port: `${sw}:${VM}` }, 30_000); assert.equal(r.ok, true, String(r.error)); }
    await rejects(() => open(`netmap:${VM}`), 'EBUSY', new RegExp(`attached to ${sw}: detach it first \\(vale-ctl -d ${sw}:${VM}\\)`));
    { const r = await daemonRequest(sock, { cmd: 'detach', port: `${sw}:${VM}` }, 30_000); assert.equal(r.ok, true, String(r.error)); }
    await rejects(() => open(`netmap:${VM}s`), 'ENOTSUP', /-netdev stream port: attach it to a switch/);
    // an opener killed with SIGKILL: the daemon's thread finds its lock gone and listens again
    const child = spawn(process.execPath, ['bin/nmts.js', 'pkt-gen', '-i', `netmap:${VM}`, '-f', 'rx', '-w', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await until('pkt-gen opened the port', () => logs.filter((l) => l.includes(`opened directly as netmap:${VM}`)).length === 2, 20_000)
      .catch((e: Error) => { throw new Error(`${e.message}\n${out}`); });
    child.kill('SIGKILL');
    await exited;
    await until('the daemon took the socket back', () => logs.some((l) => new RegExp(`netmap:${VM}: its opener \\(pid \\d+\\) is gone`).test(l)));
    const fd = unixConnect(vsock); // the daemon listens on it again
    close(fd);
    { const r = await daemonRequest(sock, { cmd: 'vhost-remove', port: VM }, 30_000); assert.equal(r.ok, true, String(r.error)); }
    await rejects(() => open(`netmap:${VM}`), 'ENXIO', new RegExp(`no such interface '${VM}'`));
  } finally {
    port?.close();
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
