// A vhost-user port served by the daemon (vale-ctl -n NAME --vhost-user PATH, then -a valeX:NAME),
// driven by the test's own front end (fixtures/vhost-front.ts) from this thread while the port's
// thread serves it: frames the guest sends reach another port of the switch with exact counts,
// frames sent to the guest land in its receive buffers, counters in vhost-list; a hostile ring
// stops that queue (logged) and the daemon keeps serving a new front end; -d and -r.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { open, type Port } from '../src/index.js';
import { ALL_FEATURES_FOR_TEST } from './fixtures/vhost-features.js';
import { GPA, MEM_SIZE, TestFrontEnd, testFrame } from './fixtures/vhost-front.js';
import { receiveAll, until } from './fixtures/wait.js';


test('daemon vhost-user port: guest <-> switch with exact counts, hostile ring stops one queue, -d, -r', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhd-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock');
  const sw = `valevh${process.pid}`;
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  let fe: TestFrontEnd | null = null;
  let peer: Port | null = null;
  try {
    const c = await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: vsock }, 30_000);
    assert.equal(c.ok, true, String(c.error));
    assert.ok((c.qemu as string[]).includes('vhost-user,id=net0,chardev=chr0'));
    assert.equal((await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: vsock + 'x' }, 30_000)).code, 'EEXIST');
    const a = await daemonRequest(sock, { cmd: 'attach', port: `${sw}:vm1` }, 30_000);
    assert.equal(a.ok, true, String(a.error));
    peer = open(`${sw}:peer`);

    fe = new TestFrontEnd(vsock);
    fe.setup(ALL_FEATURES_FOR_TEST);
    // guest -> switch: 200 frames (in batches the ring can hold), all reach the peer
    const got: Uint8Array[] = [];
    for (let b = 0; b < 4; b++) {
      fe.send(Array.from({ length: 50 }, (_, k) => testFrame(b * 50 + k)), b * 50);
      await until('frames at the peer', () => { receiveAll(peer!, got); return got.length >= (b + 1) * 50; });
    }
    assert.equal(got.length, 200);
    got.forEach((f, k) => assert.deepEqual(f, testFrame(k), `frame ${k}`));
    // switch -> guest: broadcast frames from the peer fill the posted buffers
    fe.postRx(100);
    for (let k = 0; k < 100; k++) assert.ok(peer.inject(testFrame(1000 + k, 100)));
    peer.txsync();
    const used: [number, number][] = [];
    await until('frames in guest buffers', () => { used.push(...fe!.takeUsed(0)); return used.length >= 100; });
    used.forEach(([id, len], k) => {
      assert.equal(len, 112);
      const b = fe!.rxBuffer(id, len);
      assert.equal(b.hdr[10], 1, 'num_buffers 1');
      assert.deepEqual(b.frame, testFrame(1000 + k, 100));
    });
    const list = await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000);
    const info = (list.ports as { connected: boolean; switch: string; queues: { packets: number; drops: number; kicks: number }[] }[])[0];
    assert.equal(info.connected, true);
    assert.equal(info.switch, sw);
    assert.equal(info.queues[1].packets, 200);
    assert.equal(info.queues[0].packets, 100);
    assert.ok(info.queues[1].kicks >= 1);

    // hostile: a descriptor outside guest memory stops the TX queue; the daemon logs it and keeps serving
    fe.writeDesc(1, 200, GPA + MEM_SIZE + 4096, 64, 0, 0);
    fe.pushAvail(1, 200);
    fe.send([testFrame(7)], 201);
    await until('queue stopped in the log', () => logs.some((l) => /vm1: .*queue 1 \(guest tx\) stopped: descriptor 200/.test(l)));
    const l2 = await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000);
    assert.equal((l2.ports as { queues: { broken: boolean }[] }[])[0].queues[1].broken, true);
    assert.equal((await daemonRequest(sock, { cmd: 'ping' }, 30_000)).ok, true);
    fe.close();
    fe = null;
    await until('disconnect seen', async () => ((await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000)).ports as { connected: boolean }[])[0].connected === false);
    fe = new TestFrontEnd(vsock);
    fe.setup(ALL_FEATURES_FOR_TEST);
    fe.send([testFrame(42)]);
    const again: Uint8Array[] = [];
    await until('a new front end is served', () => { receiveAll(peer!, again); return again.length === 1; });
    assert.deepEqual(again[0], testFrame(42));

    const det = await daemonRequest(sock, { cmd: 'detach', port: `${sw}:vm1` }, 30_000);
    assert.equal(det.ok, true, String(det.error));
    const rm = await daemonRequest(sock, { cmd: 'vhost-remove', port: 'vm1' }, 30_000);
    assert.equal(rm.ok, true, String(rm.error));
    assert.equal(existsSync(vsock), false, 'socket removed');
  } finally {
    fe?.close();
    peer?.close();
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
