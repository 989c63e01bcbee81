// Real QEMU guests (TCG, Debian's kernel, busybox; fixtures/guest.ts) on a VALE switch through
// daemon-served vhost-user ports: two guests and a Linux network namespace (a veth attached to
// the same switch with vale-ctl -a) ping each other and move a TCP stream each way (busybox nc in
// the guests, netcat-openbsd in the namespace), every byte arriving. Both guests boot in parallel,
// once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { Guest, guestSkip, NsHost } from './fixtures/guest.js';
import { needs } from './fixtures/requires.js';

const skip = guestSkip() || needs(['ip', 'nc', 'ping']);

test('two guests and a netns on one switch: ping each way, a TCP stream each way', { skip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vmg-'));
  const sock = join(dir, 'd.sock'), sw = `valevg${process.pid}`;
  const ns = `vmns${process.pid}`;
  const host = new NsHost(ns, `vmh${process.pid % 100000}`, `vmn${process.pid % 100000}`);
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  const guests: Guest[] = [];
  try {
    for (const vm of ['vm1', 'vm2']) {
      const c = await daemonRequest(sock, { cmd: 'vhost-create', port: vm, path: join(dir, `${vm}.sock`) }, 30_000);
      assert.equal(c.ok, true, String(c.error));
      const a = await daemonRequest(sock, { cmd: 'attach', port: `${sw}:${vm}` }, 30_000);
      assert.equal(a.ok, true, String(a.error));
    }
    await host.attach(sock, sw, '10.0.0.3/24', logs);
    const sunk = host.sink(5001); // the namespace receives guest 1's stream

    const g1 = new Guest('guest1', { socket: join(dir, 'vm1.sock'), mac: '52:54:00:00:00:01', test: { nt_ip: '10.0.0.1/24', nt_ping: '10.0.0.2,10.0.0.3', nt_ncsend: '10.0.0.3:5001:2000000', nt_shell: 1 } });
    const g2 = new Guest('guest2', { socket: join(dir, 'vm2.sock'), mac: '52:54:00:00:00:02', test: { nt_ip: '10.0.0.2/24', nt_ping: '10.0.0.1,10.0.0.3', nt_ncrecv: 5002, nt_shell: 1 } });
    guests.push(g1, g2);
    for (const [g, peers] of [[g1, ['10.0.0.2', '10.0.0.3']], [g2, ['10.0.0.1', '10.0.0.3']]] as const) {
      for (const p of peers) {
        const r = await g.result(`NMTS-PING ${p.replace(/\./g, '\\.')}`);
        assert.deepEqual([r.transmitted, r.received], ['5', '5'], `${g.name} pings ${p}: ${JSON.stringify(r)}\n${g.output.slice(-2500)}\n${logs.slice(-20).join('\n')}`);
      }
    }
    // the namespace pings both guests and sends guest 2 its stream
    for (const t of ['10.0.0.1', '10.0.0.2']) {
      const out = execFileSync('ip', ['netns', 'exec', ns, 'ping', '-c', '3', '-i', '0.2', '-W', '5', t], { encoding: 'utf8' });
      assert.match(out, /3 packets transmitted, 3 received/, out);
    }
    execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', 'head -c 1500000 /dev/zero | nc -N -w 30 10.0.0.2 5002'], { timeout: 60_000 });
    assert.equal((await g2.result('NMTS-NC-RECV')).bytes, '1500000');
    assert.equal((await g1.result('NMTS-NC-SEND')).bytes, '2000000');
    assert.equal(await sunk, '2000000', 'the namespace received guest 1\'s whole stream');
    const list = await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000);
    for (const p of list.ports as { name: string; connected: boolean; features: string[]; queues: { packets: number }[] }[]) {
      assert.equal(p.connected, true, p.name);
      assert.ok(p.queues[0].packets > 0 && p.queues[1].packets > 0, `${p.name}: ${JSON.stringify(p.queues)}`);
    }
  } finally {
    await Promise.all(guests.map((g) => g.kill()));
    host.close();
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
