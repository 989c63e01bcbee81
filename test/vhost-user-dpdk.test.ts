// DPDK as the vhost-user front end, no VM needed: testpmd with a virtio_user port connects to a
// daemon-served vhost-user port attached to a switch. txonly: every frame testpmd counts as sent
// is counted by the port's TX queue and reaches pkt-gen -f rx on another port of the switch
// (received + dropped for a full ring = sent, exactly). rxonly: pkt-gen -f tx sends a fixed count
// into the switch and testpmd's RX-packets equals what the port put in the guest's queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { needs } from './fixtures/requires.js';
import { accumulated, testpmd } from './fixtures/testpmd.js';

const skip = needs(['root', 'dpdk-testpmd'], 'DPDK testpmd (its runtime directory /var/run/dpdk)');
const root = resolve(import.meta.dirname, '../..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Q { packets: number; drops: number; running: boolean; kicks: number; interrupts: number }
async function queues(sock: string): Promise<Q[]> {
  const r = await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000);
  return (r.ports as { queues: Q[] }[])[0].queues;
}

async function until(what: string, f: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

test('DPDK virtio_user txonly -> vhost-user port -> switch -> pkt-gen -f rx: exact counts', { skip, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhdpdk-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock'), sw = `valevp${process.pid}`;
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  let rx: ChildProcess | null = null;
  try {
    { const r = await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: vsock }, 30_000); assert.equal(r.ok, true, `${String(r.error)}\n${logs.join('\n')}`); }
    { const r = await daemonRequest(sock, { cmd: 'attach', port: `${sw}:vm1` }, 30_000); assert.equal(r.ok, true, `${String(r.error)}\n${logs.join('\n')}`); }
    rx = spawn(process.execPath, ['bin/nmts.js', 'pkt-gen', '-i', `${sw}:rx@conf:slots=4096`, '-f', 'rx', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let rxOut = '';
    rx.stdout!.on('data', (b: Buffer) => { rxOut += b.toString(); });
    const rxExit = new Promise<void>((r) => rx!.once('exit', () => r()));
    // pkt-gen's port is on the switch (frames sent before would find no destination)
    await until('pkt-gen -f rx on the switch', async () => {
      const l = await daemonRequest(sock, { cmd: 'list' }, 30_000);
      return (l.switches as { name: string; ports: { name: string }[] }[]).some((s) => s.name === sw && s.ports.some((p) => p.name === `${sw}:rx`));
    });
    await sleep(300);
    const tp = testpmd(`nmtsvt${process.pid}`, vsock, 'txonly');
    await until('testpmd sending through the port', async () => (await queues(sock))[1].packets > 20_000);
    tp.child.kill('SIGINT');
    await tp.exited;
    const sent = accumulated(tp.out()).tx;
    assert.ok(sent > 20_000, `testpmd sent ${sent}`);
    let seen = -1;
    await until(`the port counted every frame testpmd sent (${sent})`, async () => (seen = (await queues(sock))[1].packets) === sent, 10_000)
      .catch((e: Error) => { throw new Error(`${e.message}: it counted ${seen}`); });
    const q = await queues(sock);
    assert.equal(q[1].drops, 0);
    await sleep(500);
    rx.kill('SIGINT');
    await rxExit;
    const r = JSON.parse(rxOut.trim().split('\n').pop()!) as { packets: number; dropped: number };
    assert.equal(r.packets + r.dropped, sent, `pkt-gen received ${r.packets} + dropped ${r.dropped} (ring full) = testpmd's ${sent}`);
  } finally {
    rx?.kill('SIGKILL');
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pkt-gen -f tx -> switch -> vhost-user port -> DPDK virtio_user rxonly: exact counts', { skip, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhdpdk-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock'), sw = `valevq${process.pid}`;
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  try {
    { const r = await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: vsock }, 30_000); assert.equal(r.ok, true, `${String(r.error)}\n${logs.join('\n')}`); }
    { const r = await daemonRequest(sock, { cmd: 'attach', port: `${sw}:vm1` }, 30_000); assert.equal(r.ok, true, `${String(r.error)}\n${logs.join('\n')}`); }
    const tp = testpmd(`nmtsvr${process.pid}`, vsock, 'rxonly');
    await until('testpmd receiving (guest RX queue running)', async () => (await queues(sock))[0].running);
    await sleep(500);
    const N = 20_000;
    const tx = spawnSync(process.execPath, ['bin/nmts.js', 'pkt-gen', '-i', `${sw}:tx`, '-f', 'tx', '-n', String(N), '-R', '20k', '--json'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.equal(tx.status, 0, tx.stderr);
    const s = JSON.parse(tx.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop()!) as { packets: number; dropped: number };
    assert.equal(s.packets, N);
    // every frame the switch took is accounted for: in the guest's queue, or dropped at the port
    let last = '';
    await until('frames given to the guest', async () => {
      const q = (await queues(sock))[0];
      const t = (await daemonRequest(sock, { cmd: 'stats', port: `${sw}:vm1` }, 30_000)).stats as { rxPackets: number; rxDrops: number };
      last = `guest queue ${q.packets} + dropped ${q.drops}, switch delivered ${t.rxPackets} + dropped ${t.rxDrops}, pkt-gen sent ${N} - ${s.dropped}; running ${q.running}`;
      // pkt-gen's "dropped" are the frames the switch dropped at vm1's full ring
      return q.packets + q.drops === t.rxPackets && t.rxPackets + t.rxDrops === N && t.rxDrops === s.dropped;
    }, 10_000).catch((e: Error) => { throw new Error(`${e.message}: ${last}`); });
    await sleep(1200); // testpmd's forwarding core has taken them
    tp.child.kill('SIGINT');
    await tp.exited;
    const q = (await queues(sock))[0];
    assert.ok(q.packets > 0);
    assert.equal(accumulated(tp.out()).rx, q.packets, `testpmd received what the port gave the guest (${q.packets}, ${q.drops} dropped by the port)`);
  } finally {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
