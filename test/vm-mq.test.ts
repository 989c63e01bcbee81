// A multi-queue QEMU guest (2 vCPUs, a vhost-user NIC with queues=2,mq=on) on a 2-queue-pair
// port: the guest's driver enables both queue pairs (its /sys/class/net/eth0/queues lists rx-0,
// rx-1), the switch's software RSS spreads 64 UDP flows from pkt-gen over the port's two rx
// rings, and the port puts frames in both of the guest's RX queues; the guest's own rx_packets
// count grows by exactly what the port gave its queues.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { Guest, guestSkip } from './fixtures/guest.js';

const skip = guestSkip();
const root = resolve(import.meta.dirname, '../..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Q { packets: number; drops: number; running: boolean }
async function queues(sock: string): Promise<Q[]> {
  return ((await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000)).ports as { queues: Q[] }[])[0].queues;
}

test('a 2-queue guest receives flows on both of its RX queues (switch RSS)', { skip, timeout: 240_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vmq-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock'), sw = `valeqg${process.pid}`;
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  let g: Guest | null = null;
  try {
    assert.equal((await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: vsock, queues: 2 }, 30_000)).ok, true);
    assert.equal((await daemonRequest(sock, { cmd: 'attach', port: `${sw}:vm1` }, 30_000)).ok, true);
    g = new Guest('guest', { socket: vsock, mac: '52:54:00:00:00:01', queues: 2, test: { 'ipv6.disable': 1, nt_ip: '10.0.0.1/24', nt_shell: 1 } });
    const ls = await g.run('ls /sys/class/net/eth0/queues', 120_000);
    assert.deepEqual(ls.out.trim().split(/\s+/).sort(), ['rx-0', 'rx-1', 'tx-0', 'tx-1'], ls.out);
    let q = await queues(sock);
    for (let i = 0; i < 100 && !(q[0].running && q[2].running); i++) { await sleep(100); q = await queues(sock); }
    assert.ok(q[0].running && q[2].running, `both guest RX queues running: ${JSON.stringify(q)}\n${logs.join('\n')}`);
    const before = Number((await g.run('cat /sys/class/net/eth0/statistics/rx_packets')).out.trim());
    const rx0 = q[0].packets, rx1 = q[2].packets;
    const N = 2000;
    const tx = spawnSync(process.execPath, ['bin/nmts.js', 'pkt-gen', '-i', `${sw}:tx`, '-f', 'tx', '-n', String(N), '-R', '2k',
      '-D', '52:54:00:00:00:01', '-s', '10.0.0.9:1000-10.0.0.9:1063', '-d', '10.0.0.1:9', '--json'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.equal(tx.status, 0, tx.stderr);
    const s = JSON.parse(tx.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop()!) as { packets: number; dropped: number };
    let got0 = 0, got1 = 0, drops = 0;
    for (let i = 0; i < 200; i++) {
      q = await queues(sock);
      got0 = q[0].packets - rx0; got1 = q[2].packets - rx1; drops = q[0].drops + q[2].drops;
      if (got0 + got1 + drops >= s.packets - s.dropped) break;
      await sleep(100);
    }
    t.diagnostic(`pkt-gen sent ${s.packets} (switch dropped ${s.dropped}); guest RX queue 0: ${got0}, queue 1: ${got1}, port drops ${drops}`);
    assert.equal(got0 + got1 + drops, s.packets - s.dropped);
    assert.ok(got0 > N / 10 && got1 > N / 10, `flows on both queues: ${got0}, ${got1}`);
    await sleep(500);
    const after = Number((await g.run('cat /sys/class/net/eth0/statistics/rx_packets')).out.trim());
    assert.equal(after - before, got0 + got1, 'the guest counted every frame the port put in its queues');
  } finally {
    await g?.kill();
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
