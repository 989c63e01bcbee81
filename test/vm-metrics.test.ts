// A VM port's figures in every view: the daemon serves a vhost-user port (vale-ctl -n vm1
// --vhost-user, then -a valeX:vm1) driven by the test's own front end (fixtures/vhost-front.ts);
// after the guest sends N frames and receives M, /metrics (names, types, HELP, labels port,
// queue, direction), /api/vms and the switch port's own counters show exactly N and M, the
// interrupts equal what the front end's call eventfd counted, and `nmts top` (runTop with the
// daemon's VM ports) shows the port with its rate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { runTop } from '../src/apps/top/run.js';
import { renderVms } from '../src/apps/top/render.js';
import { askVms, type VmRow } from '../src/apps/top/vms.js';
import type { VmView } from '../src/apps/daemon/vm-metrics.js';
import { open, type Port } from '../src/index.js';
import { ALL_FEATURES_FOR_TEST } from './fixtures/vhost-features.js';
import { TestFrontEnd, testFrame } from './fixtures/vhost-front.js';
import { sample } from './fixtures/prom.js';
import { sleep, until } from './fixtures/wait.js';

function drain(p: Port): number {
  const offs = new Uint32Array(256), lens = new Uint16Array(256);
  let n = 0;
  for (let k; (k = p.receiveBatch(offs, lens)) > 0;) n += k;
  return n;
}

test('VM port metrics: /metrics, /api/vms and the switch count exactly the frames the guest sent and received; top shows its rate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vmm-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock');
  const sw = `valevm${process.pid % 100000}`;
  const d = await runDaemon({ socketPath: sock, log: () => {}, http: { port: 0, cacheMs: 0 } });
  let fe: TestFrontEnd | null = null;
  let peer: Port | null = null;
  try {
    assert.equal((await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: vsock }, 30_000)).ok, true);
    // before a front end: the port is listed, not connected, not attached
    const v0 = await (await fetch(`${d.httpUrl}/api/vms`)).json() as { vms: VmView[] };
    assert.equal(v0.vms.length, 1);
    assert.equal(v0.vms[0].connected, false);
    assert.equal(v0.vms[0].port, null);
    assert.equal((await daemonRequest(sock, { cmd: 'attach', port: `${sw}:vm1` }, 30_000)).ok, true);
    peer = open(`${sw}:peer`);
    fe = new TestFrontEnd(vsock);
    fe.setup(ALL_FEATURES_FOR_TEST);

    const N = 150, M = 40;
    let got = 0;
    for (let b = 0; b < N / 50; b++) {
      fe.send(Array.from({ length: 50 }, (_, k) => testFrame(b * 50 + k)), b * 50);
      await until('frames at the peer', () => (got += drain(peer!)) >= (b + 1) * 50);
    }
    assert.equal(got, N);
    fe.postRx(M);
    for (let k = 0; k < M; k++) assert.ok(peer.inject(testFrame(1000 + k, 100)));
    peer.txsync();
    let used = 0;
    await until('frames in guest buffers', () => (used += fe!.takeUsed(0).length) >= M);
    assert.equal(used, M);

    const vms = async (): Promise<VmView> => ((await (await fetch(`${d.httpUrl}/api/vms`)).json()) as { vms: VmView[] }).vms[0];
    await until('the counters published', async () => { const v = await vms(); return v.queues[1].packets === N && v.queues[0].packets === M; });
    const v = await vms();
    const text = await (await fetch(`${d.httpUrl}/metrics`)).text();
    const v2 = await vms();
    assert.deepEqual(v2.queues, v.queues, 'nothing moved meanwhile');

    assert.equal(v.name, 'vm1');
    assert.equal(v.connected, true);
    assert.equal(v.switch, sw);
    assert.equal(v.port, `${sw}:vm1`);
    assert.ok(v.features.length > 0);
    assert.equal(v.queues.length, 2);
    assert.deepEqual(v.queues.map((q) => q.dir), ['rx', 'tx']);
    assert.equal(v.totals.txPackets, N);
    assert.equal(v.totals.rxPackets, M);
    assert.equal(v.totals.txBytes, N * 60);
    assert.equal(v.totals.rxBytes, v.queues[0].bytes);
    assert.ok(v.queues[1].kicks >= 1, 'the guest kicked its tx queue');
    assert.ok(v.queues[0].interrupts >= 1, 'the guest was told about its received frames');
    assert.equal(v.queues[0].interrupts, fe.interrupts(0), 'the interrupts the call eventfd counted');

    for (const [name, type] of [['nmts_vm_info', 'gauge'], ['nmts_vm_connected', 'gauge'], ['nmts_vm_connections_total', 'counter'], ['nmts_vm_queues', 'gauge'],
      ['nmts_vm_queue_size', 'gauge'], ['nmts_vm_queue_broken', 'gauge'], ['nmts_vm_queue_packets_total', 'counter'], ['nmts_vm_queue_bytes_total', 'counter'],
      ['nmts_vm_queue_drops_total', 'counter'], ['nmts_vm_queue_kicks_total', 'counter'], ['nmts_vm_queue_interrupts_total', 'counter'], ['nmts_vm_unattached_drops_total', 'counter']]) {
      assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), name);
      assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
    }
    const q = (dir: 'rx' | 'tx'): Record<string, string> => ({ port: 'vm1', queue: dir === 'rx' ? '0' : '1', direction: dir });
    assert.equal(sample(text, 'nmts_vm_queue_packets_total', q('tx')), N);
    assert.equal(sample(text, 'nmts_vm_queue_packets_total', q('rx')), M);
    assert.equal(sample(text, 'nmts_vm_queue_bytes_total', q('tx')), N * 60);
    for (const k of ['packets', 'bytes', 'drops', 'kicks', 'interrupts'] as const) {
      for (const dir of ['rx', 'tx'] as const) assert.equal(sample(text, `nmts_vm_queue_${k}_total`, q(dir)), v.queues[dir === 'rx' ? 0 : 1][k], `${k} ${dir}`);
    }
    assert.equal(sample(text, 'nmts_vm_connected', { port: 'vm1' }), 1);
    assert.equal(sample(text, 'nmts_vm_queues', { port: 'vm1' }), 2);
    assert.equal(sample(text, 'nmts_vm_queue_size', q('tx')), 256);
    assert.equal(sample(text, 'nmts_vm_info', { port: 'vm1', switch: sw, socket: vsock, features: v.features.join(',') }), 1);
    // the switch's side of the same port
    assert.equal(sample(text, 'nmts_port_packets_total', { switch: sw, port: `${sw}:vm1`, direction: 'tx' }), N);
    assert.equal(sample(text, 'nmts_port_packets_total', { switch: sw, port: `${sw}:vm1`, direction: 'rx' }), M);
    const daemon = await (await fetch(`${d.httpUrl}/api/daemon`)).json() as { vms: number };
    assert.equal(daemon.vms, 1);

    // nmts top: the VM port with its rate over one interval (100 frames sent during it)
    const ac = new AbortController();
    let out = '';
    const top = runTop({ intervalMs: 1000, once: true, json: true, count: 1, tty: false, write: (s) => { out += s; }, signal: ac.signal, vms: () => askVms(sock) });
    await sleep(200);
    for (let b = 0; b < 2; b++) {
      fe.send(Array.from({ length: 50 }, (_, k) => testFrame(k)), N + b * 50);
      await until('frames at the peer', () => (got += drain(peer!)) >= N + (b + 1) * 50);
    }
    await top;
    const o = JSON.parse(out) as { vms: VmRow[]; ports: { port: string; txPps: number }[] };
    assert.equal(o.vms.length, 1);
    const row = o.vms[0];
    assert.equal(row.name, 'vm1');
    assert.equal(row.port, `${sw}:vm1`);
    assert.equal(row.connected, true);
    assert.ok(row.txPps > 30 && row.txPps <= 110, `about 100 frames in the interval: ${row.txPps}`);
    assert.ok(row.kicksPs > 0);
    assert.ok(o.ports.some((p) => p.port === `${sw}:vm1` && p.txPps > 30), 'the switch port of the VM too');
    const lines = renderVms(o.vms);
    assert.match(lines[0], /^VM PORT\s+RX pps\s+TX pps\s+RX bit\/s\s+TX bit\/s\s+DROP\/s\s+DROPS\s+KICK\/s\s+IRQ\/s\s+STATE$/);
    assert.match(lines[1], new RegExp(`^vm1\\s+0\\s+\\d+(\\.\\d)?\\s+0\\s+[\\d.]+k\\s+0\\s+0\\s+[\\d.]+\\s+[\\d.]+\\s+connected, ${sw}:vm1$`));
  } finally {
    fe?.close();
    peer?.close();
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
