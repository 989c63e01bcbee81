// vale-ctl -p valeX:vm1 / -P for a daemon-served vhost-user port, with the test's front end
// (fixtures/vhost-front.ts) behaving as a driver does: it kicks only when the used ring asks
// (NO_NOTIFY clear, or avail_event passed with EVENT_IDX). While polling, frames flow with no
// kick at all (the port's thread never sleeps and never asks for one: the kick counter stays
// exactly where it was, and every frame arrives); after -P an idle thread sleeps and asks, so
// the next batch kicks. Also the listing (vale-ctl -v), and the refusals: -p twice, -P when not
// polling, -p on a switch the port is not attached to, -d while polling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { valeCtlAsync } from '../src/apps/vale-ctl/attach.js';
import { open, type Port } from '../src/index.js';
import { bit, F } from '../src/ports/vhost-user/protocol.js';
import { ALL_FEATURES_FOR_TEST } from './fixtures/vhost-features.js';
import { TestFrontEnd, testFrame } from './fixtures/vhost-front.js';
import { receiveAll, until } from './fixtures/wait.js';


interface QueueInfo { packets: number; kicks: number }
interface VmInfo { polling: null | { cpu: number | null; note: string }; queues: QueueInfo[] }

for (const eventIdx of [true, false]) {
  test(`vale-ctl -p/-P on a vhost-user port (${eventIdx ? 'EVENT_IDX' : 'NO_NOTIFY flag'}): no kick while polling, all frames moved; kicks asked again after -P`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nmts-vhp-'));
    const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock');
    const sw = `valevp${process.pid}`, other = `valevq${process.pid}`;
    const logs: string[] = [];
    const saved = process.env.NMTS_SOCKET;
    process.env.NMTS_SOCKET = sock; // vale-ctl talks to this daemon
    const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
    let fe: TestFrontEnd | null = null;
    let peer: Port | null = null;
    const vm = async (): Promise<VmInfo> => ((await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000)).ports as VmInfo[])[0];
    try {
      assert.equal((await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: vsock }, 30_000)).ok, true);
      assert.equal((await valeCtlAsync(['-a', `${sw}:vm1`])).status, 0);
      peer = open(`${sw}:peer`);
      fe = new TestFrontEnd(vsock);
      const features = ALL_FEATURES_FOR_TEST & (eventIdx ? ~0n : ~bit(F.EVENT_IDX));
      assert.equal(fe.setup(features) & bit(F.EVENT_IDX), eventIdx ? bit(F.EVENT_IDX) : 0n);

      // refusals before: -P while not polling, -p of a switch vm1 is not on
      const notPolling = await valeCtlAsync(['-P', `${sw}:vm1`]);
      assert.equal(notPolling.status, 1);
      assert.match(notPolling.stderr, /not in polling mode/);
      const elsewhere = await valeCtlAsync(['-p', `${other}:vm1`]);
      assert.equal(elsewhere.status, 1);
      assert.match(elsewhere.stderr, /vm1 is not attached to valevq/);

      const on = await valeCtlAsync(['-v', '-p', `${sw}:vm1`]);
      assert.equal(on.status, 0, on.stderr);
      assert.match(on.stdout, /polling valevp\d+:vm1: busy polling/);
      assert.notEqual((await vm()).polling, null);
      assert.match((await valeCtlAsync(['-v'])).stdout, /vm1 vhost-user \S+ connected attached valevp\d+:vm1 polling /);
      const again = await valeCtlAsync(['-p', `${sw}:vm1`]);
      assert.equal(again.status, 1);
      assert.match(again.stderr, /already in polling mode/);
      const det = await valeCtlAsync(['-d', `${sw}:vm1`]);
      assert.equal(det.status, 1);
      assert.match(det.stderr, /in polling mode: stop polling first/);

      // polling: the thread told the guest not to kick; 4 x 50 frames, each batch waited for
      const kicks0 = (await vm()).queues[1].kicks;
      const got: Uint8Array[] = [];
      let kicked = 0;
      for (let b = 0; b < 4; b++) {
        if (fe.send(Array.from({ length: 50 }, (_, k) => testFrame(b * 50 + k)), b * 50, true, eventIdx)) kicked++;
        await until('frames at the peer', () => { receiveAll(peer!, got); return got.length >= (b + 1) * 50; });
      }
      assert.equal(kicked, 0, 'the used ring asked for no kick');
      assert.equal(got.length, 200);
      got.forEach((f, k) => assert.deepEqual(f, testFrame(k), `frame ${k}`));
      let info = await vm();
      assert.equal(info.queues[1].kicks, kicks0, 'no kick counted while polling');
      assert.equal(info.queues[1].packets, 200);

      const off = await valeCtlAsync(['-v', '-P', `${sw}:vm1`]);
      assert.equal(off.status, 0, off.stderr);
      assert.match(off.stdout, /stopped polling valevp\d+:vm1/);
      assert.equal((await vm()).polling, null);
      assert.doesNotMatch((await valeCtlAsync(['-v'])).stdout, / polling /);
      // idle now: the thread spins about 50 us, then asks for kicks (for the next entry: 200) and sleeps
      await until('the idle thread asks for kicks', () => eventIdx ? fe!.availEvent(1) === 200 : fe!.kickWanted(1, false, 0));
      assert.equal(fe.send(Array.from({ length: 50 }, (_, k) => testFrame(200 + k)), 200, true, eventIdx), true, 'a sleeping thread asks for a kick');
      await until('frames at the peer after -P', () => { receiveAll(peer!, got); return got.length >= 250; });
      assert.equal(got.length, 250);
      got.slice(200).forEach((f, k) => assert.deepEqual(f, testFrame(200 + k), `frame ${200 + k}`));
      await until('the kick counted', async () => (await vm()).queues[1].kicks >= kicks0 + 1);
      info = await vm();
      assert.equal(info.queues[1].packets, 250);
      assert.equal((await valeCtlAsync(['-d', `${sw}:vm1`])).status, 0, 'detach once polling stopped');
      assert.ok(logs.some((l) => /vm1: busy polling on: no kicks asked/.test(l)), logs.join('\n'));
    } finally {
      fe?.close();
      peer?.close();
      await d.close();
      if (saved === undefined) delete process.env.NMTS_SOCKET; else process.env.NMTS_SOCKET = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
