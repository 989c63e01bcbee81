// A QEMU guest on a `-netdev stream` port (vale-ctl -n NAME --stream PATH: the daemon listens on
// PATH, QEMU connects, 4-byte big-endian length then the frame) and a guest on a vhost-user port
// of the same switch, with a Linux network namespace: the stream guest pings both and sends the
// namespace a TCP stream (every byte arrives); the listing shows the port's kind and counters;
// -r removes it. vale-ctl's --stream parsing is checked on the way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { parseValeCtlArgs } from '../src/apps/vale-ctl/vale-ctl.js';
import { Guest, guestSkip, NsHost } from './fixtures/guest.js';
import { needs } from './fixtures/requires.js';

const skip = guestSkip() || needs(['ip', 'nc', 'ping']);

test('vale-ctl -n NAME --stream PATH parses; --stream and --vhost-user exclude each other', () => {
  const a = parseValeCtlArgs(['-n', 'vm2', '--stream', '/run/vm2.sock']);
  assert.deepEqual([a.request, a.name, a.vhostUser, a.vmKind], ['create', 'vm2', '/run/vm2.sock', 'stream']);
  assert.throws(() => parseValeCtlArgs(['-n', 'vm2', '--stream', '/a', '--vhost-user', '/b']), /not both/);
  assert.throws(() => parseValeCtlArgs(['-a', 'vale0:vm2', '--stream', '/a']), /--stream applies to -n/);
});

test('a stream guest and a vhost-user guest on one switch with a netns: ping, TCP, listing, -r', { skip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vms-'));
  const sock = join(dir, 'd.sock'), sw = `valevs${process.pid}`;
  const host = new NsHost(`vmns${process.pid}`, `vmhs${process.pid % 10000}`, `vmns${process.pid % 10000}`);
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  const guests: Guest[] = [];
  try {
    const s = await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm2', path: join(dir, 'vm2.sock'), kind: 'stream' }, 30_000);
    assert.equal(s.ok, true, String(s.error));
    assert.ok((s.qemu as string[]).some((x) => x.startsWith('stream,id=net0,server=off,addr.type=unix,addr.path=')), String(s.qemu));
    assert.equal((await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm9', path: join(dir, 'vm9.sock'), kind: 'tap' }, 30_000)).code, 'EINVAL');
    assert.equal((await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: join(dir, 'vm1.sock') }, 30_000)).ok, true);
    for (const p of ['vm1', 'vm2']) assert.equal((await daemonRequest(sock, { cmd: 'attach', port: `${sw}:${p}` }, 30_000)).ok, true);
    await host.attach(sock, sw, '10.0.0.3/24', logs);
    const sunk = host.sink(5001);

    const gs = new Guest('stream-guest', { socket: join(dir, 'vm2.sock'), netdev: 'stream', mac: '52:54:00:00:00:02', test: { nt_ip: '10.0.0.2/24', nt_ping: '10.0.0.3,10.0.0.1', nt_ncsend: '10.0.0.3:5001:1000000', nt_shell: 1 } });
    const gv = new Guest('vhost-guest', { socket: join(dir, 'vm1.sock'), mac: '52:54:00:00:00:01', test: { nt_ip: '10.0.0.1/24', nt_ping: '10.0.0.2', nt_shell: 1 } });
    guests.push(gs, gv);
    for (const [g, p] of [[gs, '10.0.0.3'], [gs, '10.0.0.1'], [gv, '10.0.0.2']] as const) {
      const r = await g.result(`NMTS-PING ${p.replace(/\./g, '\\.')}`);
      assert.deepEqual([r.transmitted, r.received], ['5', '5'], `${g.name} pings ${p}: ${JSON.stringify(r)}`);
    }
    assert.equal((await gs.result('NMTS-NC-SEND')).bytes, '1000000');
    assert.equal(await sunk, '1000000');
    const list = (await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000)).ports as { name: string; kind: string; connected: boolean; connections: number; noPortDrops: number; queues: { packets: number; bytes: number; drops: number }[] }[];
    const p2 = list.find((p) => p.name === 'vm2')!;
    assert.equal(p2.kind, 'stream');
    assert.equal(p2.connected, true);
    assert.equal(p2.connections, 1);
    // 1 MB of TCP segments (MSS 1448) out, their ACKs and the pings in; nothing the guest sent dropped (frames flooded
    // to the port before QEMU connected are the only drops towards the guest)
    assert.ok(p2.queues[1].packets > 1_000_000 / 1448 && p2.queues[1].bytes > 1_000_000 && p2.queues[0].packets > 100, JSON.stringify(p2.queues));
    assert.equal(p2.queues[1].drops, 0);
    assert.equal(p2.noPortDrops, 0);
    // -r while connected: the connection is closed, the socket file removed
    assert.equal((await daemonRequest(sock, { cmd: 'vhost-remove', port: 'vm2' }, 30_000)).ok, true);
    assert.equal(existsSync(join(dir, 'vm2.sock')), false);
  } finally {
    await Promise.all(guests.map((g) => g.kill()));
    host.close();
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
