// Multi-queue vhost-user ports (VIRTIO_NET_F_MQ) with DPDK's virtio_user as the front end:
// a port made with 2 queue pairs is a switch port with 2 ring pairs, the switch's software RSS
// spreads flows over them, and each goes to its own guest RX queue. rxonly: pkt-gen sends a
// fixed count over 64 UDP flows; both guest RX queues receive some, and testpmd's per-queue
// counts equal what the port put in each queue. txonly: testpmd sends on both TX queues, and
// every frame counted by each queue reaches pkt-gen -f rx on the switch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { qemuArgs } from '../src/apps/vhost-user/manager.js';
import { needs } from './fixtures/requires.js';

const skip = needs(['root', 'dpdk-testpmd'], 'DPDK testpmd (its runtime directory /var/run/dpdk)');
const root = resolve(import.meta.dirname, '../..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Q { packets: number; drops: number; running: boolean }
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

function testpmd(prefix: string, path: string, mode: 'txonly' | 'rxonly'): { child: ChildProcess; out: () => string; exited: Promise<void> } {
  const child = spawn('dpdk-testpmd', ['-l', '0-1', '--no-huge', '-m', '512', '--no-pci', `--file-prefix=${prefix}`,
    '--vdev', `virtio_user0,path=${path},queues=2`, '--', '--rxq=2', '--txq=2', `--forward-mode=${mode}`, '--total-num-mbufs=16384', '--stats-period', '1'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => { text += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { text += d.toString(); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return { child, out: () => text, exited };
}

/** testpmd's per-stream blocks at stop ("RX Port= 0/Queue= q -> TX Port= 0/Queue= q"): RX and TX packets by queue. */
function perQueue(text: string): { rx: number[]; tx: number[] } {
  const rx = [0, 0], tx = [0, 0];
  const re = /Forward Stats for RX Port=\s*0\/Queue=\s*(\d+) -> TX Port=\s*0\/Queue=\s*(\d+)\s*-+\s*RX-packets:\s*(\d+)\s+TX-packets:\s*(\d+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    rx[Number(m[1])] += Number(m[3]);
    tx[Number(m[2])] += Number(m[4]);
  }
  return { rx, tx };
}

function accumulated(text: string): { rx: number; tx: number } {
  const i = text.lastIndexOf('Accumulated forward statistics');
  assert.ok(i >= 0, `no final statistics in testpmd's output:\n${text.slice(-2000)}`);
  const block = text.slice(i);
  return { rx: Number(/RX-packets:\s+(\d+)/.exec(block)![1]), tx: Number(/TX-packets:\s+(\d+)/.exec(block)![1]) };
}

test('QEMU arguments for a multi-queue port: queues=N on the netdev, mq=on and vectors=0 on the device', () => {
  const a = qemuArgs('/run/vm1.sock', '52:54:00:00:00:01', 'vhost-user', 4).join(' ');
  assert.match(a, /-netdev vhost-user,id=net0,chardev=chr0,queues=4 /);
  assert.match(a, /virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01,mq=on,vectors=0/);
  assert.doesNotMatch(qemuArgs('/run/vm1.sock').join(' '), /queues=|mq=on/);
});

test('daemon: vhost-create checks queues', { skip: needs(['root']) }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhmq-'));
  const sock = join(dir, 'd.sock');
  const d = await runDaemon({ socketPath: sock, log: () => {} });
  try {
    for (const q of [0, 9, 1.5, '2']) {
      const r = await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: join(dir, 'v.sock'), queues: q }, 30_000);
      assert.equal(r.code, 'EINVAL', JSON.stringify(r));
    }
    const s = await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm2', path: join(dir, 's.sock'), kind: 'stream', queues: 2 }, 30_000);
    assert.equal(s.code, 'EINVAL');
    const r = await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: join(dir, 'v.sock'), queues: 3 }, 30_000);
    assert.equal(r.ok, true, String(r.error));
    assert.equal(r.queuePairs, 3);
    assert.equal((r.queues as unknown[]).length, 6);
    assert.match((r.qemu as string[]).join(' '), /queues=3.*mq=on/);
  } finally {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vale-ctl -n vm1 --vhost-user PATH -C 1024,1024,2: two queue pairs, the QEMU arguments, and -v per queue', { skip: needs(['root']), timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhmq-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock');
  const d = await runDaemon({ socketPath: sock, log: () => {} });
  const env = { ...process.env, NMTS_SOCKET: sock, NMTS_DAEMON_AUTOSTART: '0' };
  // the daemon runs in this process: vale-ctl is awaited, not run synchronously
  const ctl = (...a: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> => new Promise((res) => {
    const c = spawn(process.execPath, ['bin/nmts.js', 'vale-ctl', ...a], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    c.stdout!.on('data', (b: Buffer) => { stdout += b.toString(); });
    c.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    c.once('close', (status) => res({ status, stdout, stderr }));
  });
  try {
    const n = await ctl('-n', 'vm1', '--vhost-user', vsock, '-C', '1024,1024,2');
    assert.equal(n.status, 0, n.stderr);
    assert.match(n.stdout, /vm1: vhost-user port with 2 queue pairs, socket /);
    assert.match(n.stdout, /-netdev vhost-user,id=net0,chardev=chr0,queues=2 -device virtio-net-pci,netdev=net0,mac=[0-9a-f:]+,mq=on,vectors=0/);
    const v = await ctl('-v');
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /^vm1 vhost-user .* not attached queue_pairs 2 features - unattached_drops 0; rx0 idle .*; tx0 idle .*; rx1 idle .*; tx1 idle /m);
    const bad = await ctl('-n', 'vm2', '--vhost-user', join(dir, 'vm2.sock'), '-C', '1024,1024,2,3');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /as many rx as tx rings/);
    // --offloads: the port offers checksum and TSO offloads (docs/vms.md)
    const o = await ctl('-n', 'vm3', '--vhost-user', join(dir, 'vm3.sock'), '--offloads', '-C', '1024,1024,2');
    assert.equal(o.status, 0, o.stderr);
    assert.match(o.stdout, /vm3: vhost-user port with 2 queue pairs and offloads \(12-byte virtio-net header\), socket /);
    assert.match((await ctl('-v')).stdout, /^vm3 vhost-user .* queue_pairs 2 offloads features /m);
    const u = await ctl('-n', 'vm4', '--stream', join(dir, 'vm4.sock'), '--offloads');
    assert.equal(u.status, 2, 'usage error');
    assert.match(u.stderr, /--offloads applies to -n NAME --vhost-user PATH/);
  } finally {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pkt-gen (64 flows) -> switch RSS -> 2-queue vhost-user port -> DPDK virtio_user rxonly on 2 queues: per-queue exact counts', { skip, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhmq-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock'), sw = `valemq${process.pid}`;
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  try {
    { const r = await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: vsock, queues: 2 }, 30_000); assert.equal(r.ok, true, `${String(r.error)}\n${logs.join('\n')}`); }
    { const r = await daemonRequest(sock, { cmd: 'attach', port: `${sw}:vm1` }, 30_000); assert.equal(r.ok, true, `${String(r.error)}\n${logs.join('\n')}`); }
    const tp = testpmd(`nmtsmr${process.pid}`, vsock, 'rxonly');
    await until('testpmd receiving on both queues', async () => { const q = await queues(sock); return q[0].running && q[2].running; })
      .catch((e: Error) => { throw new Error(`${e.message}\n${logs.join('\n')}\n${tp.out().slice(-3000)}`); });
    const feats = ((await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000)).ports as { features: string[] }[])[0].features;
    assert.ok(feats.includes('MQ'), `MQ negotiated: ${feats.join(',')}`);
    await sleep(500);
    const N = 20_000;
    const tx = spawnSync(process.execPath, ['bin/nmts.js', 'pkt-gen', '-i', `${sw}:tx`, '-f', 'tx', '-n', String(N), '-R', '20k',
      '-s', '10.0.0.1:1000-10.0.0.1:1063', '-d', '10.0.0.2:2000', '--json'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.equal(tx.status, 0, tx.stderr);
    const s = JSON.parse(tx.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop()!) as { packets: number; dropped: number };
    assert.equal(s.packets, N);
    let last = '';
    await until('frames given to the guest', async () => {
      const q = await queues(sock);
      const t = (await daemonRequest(sock, { cmd: 'stats', port: `${sw}:vm1` }, 30_000)).stats as { rxPackets: number; rxDrops: number };
      last = `queue 0 ${q[0].packets}+${q[0].drops} dropped, queue 1 ${q[2].packets}+${q[2].drops}; switch delivered ${t.rxPackets} + dropped ${t.rxDrops}`;
      return q[0].packets + q[0].drops + q[2].packets + q[2].drops === t.rxPackets && t.rxPackets + t.rxDrops === N;
    }, 10_000).catch((e: Error) => { throw new Error(`${e.message}: ${last}`); });
    await sleep(1200);
    tp.child.kill('SIGINT');
    await tp.exited;
    const q = await queues(sock);
    assert.ok(q[0].packets > N / 10 && q[2].packets > N / 10, `flows on both queues: ${q[0].packets}, ${q[2].packets}`);
    const pq = perQueue(tp.out());
    t.diagnostic(`testpmd RX queue 0: ${pq.rx[0]}, queue 1: ${pq.rx[1]} (the port: ${q[0].packets}, ${q[2].packets}; dropped ${q[0].drops + q[2].drops})`);
    assert.deepEqual(pq.rx, [q[0].packets, q[2].packets], `testpmd's per-queue RX = what the port put in each queue\n${tp.out().slice(-3000)}`);
    assert.equal(accumulated(tp.out()).rx, q[0].packets + q[2].packets);
    assert.ok(logs.some((l) => /2 queue pairs: software RSS on/.test(l)), logs.join('\n'));
  } finally {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('DPDK virtio_user txonly on 2 queues -> 2-queue vhost-user port -> switch -> pkt-gen -f rx: every frame of both queues', { skip, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vhmq-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock'), sw = `valemt${process.pid}`;
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  let rx: ChildProcess | null = null;
  try {
    { const r = await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: vsock, queues: 2 }, 30_000); assert.equal(r.ok, true, `${String(r.error)}\n${logs.join('\n')}`); }
    { const r = await daemonRequest(sock, { cmd: 'attach', port: `${sw}:vm1` }, 30_000); assert.equal(r.ok, true, `${String(r.error)}\n${logs.join('\n')}`); }
    rx = spawn(process.execPath, ['bin/nmts.js', 'pkt-gen', '-i', `${sw}:rx@conf:slots=4096`, '-f', 'rx', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let rxOut = '';
    rx.stdout!.on('data', (b: Buffer) => { rxOut += b.toString(); });
    const rxExit = new Promise<void>((r) => rx!.once('exit', () => r()));
    await until('pkt-gen -f rx on the switch', async () => {
      const l = await daemonRequest(sock, { cmd: 'list' }, 30_000);
      return (l.switches as { name: string; ports: { name: string; txRings: number }[] }[]).some((s) => s.name === sw && s.ports.some((p) => p.name === `${sw}:rx`));
    });
    const l = await daemonRequest(sock, { cmd: 'list' }, 30_000);
    const vp = (l.switches as { name: string; ports: { name: string; txRings: number; rxRings: number }[] }[]).find((s) => s.name === sw)!.ports.find((p) => p.name === `${sw}:vm1`)!;
    assert.deepEqual([vp.txRings, vp.rxRings], [2, 2], 'one ring pair per queue pair');
    await sleep(300);
    const tp = testpmd(`nmtsmt${process.pid}`, vsock, 'txonly');
    await until('testpmd sending on both queues', async () => { const q = await queues(sock); return q[1].packets > 10_000 && q[3].packets > 10_000; })
      .catch((e: Error) => { throw new Error(`${e.message}\n${logs.join('\n')}\n${tp.out().slice(-3000)}`); });
    tp.child.kill('SIGINT');
    await tp.exited;
    const pq = perQueue(tp.out());
    const sent = accumulated(tp.out()).tx;
    assert.equal(pq.tx[0] + pq.tx[1], sent);
    let q = await queues(sock);
    await until(`the port counted every frame testpmd sent (${pq.tx.join(', ')})`, async () => { q = await queues(sock); return q[1].packets === pq.tx[0] && q[3].packets === pq.tx[1]; }, 10_000)
      .catch((e: Error) => { throw new Error(`${e.message}: it counted ${q[1].packets}, ${q[3].packets}`); });
    assert.equal(q[1].drops + q[3].drops, 0);
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
