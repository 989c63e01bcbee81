// A QEMU guest's lifecycle on a daemon-served vhost-user port: the guest pings a Linux network
// namespace across the switch; QEMU is SIGKILLed (the port shows disconnected, frames sent to
// the guest meanwhile are dropped and counted); a new QEMU on the same socket pings again; the
// daemon is restarted (the port made and attached again), QEMU reconnects by itself (chardev
// reconnect=1) and the same guest, never rebooted, pings again; the guest reloads virtio_net (a
// device reset on the same connection) and pings again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { open, type Port } from '../src/index.js';
import { Guest, guestSkip } from './fixtures/guest.js';
import { needs } from './fixtures/requires.js';

const skip = guestSkip() || needs(['ip', 'ping']);
const ip = (...a: string[]): string => execFileSync('ip', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface VInfo { connected: boolean; connections: number; queues: { packets: number; drops: number; running: boolean }[] }
async function vm1(sock: string): Promise<VInfo> {
  return ((await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000)).ports as VInfo[])[0];
}
async function until(what: string, f: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

/** A broadcast frame (the switch floods it to the guest's port). */
function bcast(i: number): Uint8Array {
  const f = new Uint8Array(60);
  f.fill(0xff, 0, 6);
  f.set([2, 0, 0, 0, 0, 0x77], 6);
  f[12] = 0x88; f[13] = 0xb5;
  f[14] = i & 0xff;
  return f;
}

test('guest lifecycle: QEMU SIGKILL (frames to it dropped and counted), a new QEMU, a daemon restart: ping each time', { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vml-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock'), sw = `valevl${process.pid}`;
  const ns = `vmnl${process.pid}`, hostIf = `vmhl${process.pid % 10000}`, nsIf = `vmnl${process.pid % 10000}`;
  const logs: string[] = [];
  let d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  const guests: Guest[] = [];
  let peer: Port | null = null;
  const setUp = async (): Promise<void> => {
    for (const req of [{ cmd: 'vhost-create', port: 'vm1', path: vsock }, { cmd: 'attach', port: `${sw}:vm1` }, { cmd: 'attach', port: `${sw}:${hostIf}` }]) {
      const r = await daemonRequest(sock, req, 30_000);
      assert.equal(r.ok, true, `${JSON.stringify(req)}: ${String(r.error)}\n${logs.join('\n')}`);
    }
  };
  try {
    ip('netns', 'add', ns);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns);
    ip('link', 'set', hostIf, 'up');
    // no IPv6 in the namespace: no multicast it would flood to the guest's port (the drop count is exact)
    execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', 'for c in all default; do echo 1 > /proc/sys/net/ipv6/conf/$c/disable_ipv6; done']);
    ip('-n', ns, 'addr', 'add', '10.0.0.3/24', 'dev', nsIf);
    ip('-n', ns, 'link', 'set', nsIf, 'up');
    await setUp();
    const test = { nt_ip: '10.0.0.1/24', nt_ping: '10.0.0.3', nt_shell: 1 };
    const g1 = new Guest('guest1', { socket: vsock, mac: '52:54:00:00:00:01', test });
    guests.push(g1);
    assert.deepEqual(await g1.result('NMTS-PING 10\\.0\\.0\\.3'), { transmitted: '5', received: '5' });

    // SIGKILL: the port goes down; frames sent to it are dropped and counted
    await g1.kill('SIGKILL');
    await until('the port shows the front end gone', async () => !(await vm1(sock)).connected);
    const before = await vm1(sock);
    peer = open(`${sw}:peer`);
    const N = 50;
    for (let i = 0; i < N; i++) assert.ok(peer.inject(bcast(i)));
    peer.txsync();
    let after = before;
    await until(`the ${N} frames to the dead guest counted as drops`, async () => (after = await vm1(sock)).queues[0].drops - before.queues[0].drops >= N, 10_000);
    await sleep(300);
    after = await vm1(sock);
    assert.equal(after.queues[0].drops - before.queues[0].drops, N, 'exactly the frames sent to it');
    assert.equal(after.queues[0].packets, before.queues[0].packets, 'none reached a guest');
    peer.close(); peer = null;

    // a new QEMU on the same socket
    const g2 = new Guest('guest2', { socket: vsock, mac: '52:54:00:00:00:01', test });
    guests.push(g2);
    assert.deepEqual(await g2.result('NMTS-PING 10\\.0\\.0\\.3'), { transmitted: '5', received: '5' });

    // the daemon restarts; QEMU reconnects and the guest (not rebooted) pings again
    await d.close();
    d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
    await setUp();
    await until('QEMU reconnected', async () => (await vm1(sock)).connected && (await vm1(sock)).queues.every((q) => q.running), 30_000)
      .catch((e: Error) => { throw new Error(`${e.message}\n${logs.join('\n')}\n${g2.output.slice(-2000)}`); });
    const r = await g2.run('nt_ping 10.0.0.3', 90_000);
    assert.match(r.out, /NMTS-PING 10\.0\.0\.3 transmitted=5 received=5/, r.out);

    // the guest reloads its driver: the device is reset, its rings set up again, and it pings again
    const conns = (await vm1(sock)).connections;
    const reload = await g2.run('rmmod virtio_net && insmod /lib/modules/virtio_net.ko && sleep 1 && ip addr add 10.0.0.1/24 dev eth0 && ip link set eth0 up && nt_ping 10.0.0.3', 90_000);
    assert.match(reload.out, /NMTS-PING 10\.0\.0\.3 transmitted=5 received=5/, `${reload.out}\n${logs.join('\n')}`);
    const v = await vm1(sock);
    assert.equal(v.connections, conns, 'the same connection (a reset, not a reconnect)');
    assert.ok(v.queues.every((q) => q.running));
  } finally {
    peer?.close();
    await Promise.all(guests.map((g) => g.kill()));
    try { ip('netns', 'del', ns); } catch { /* not made */ }
    try { ip('link', 'del', hostIf); } catch { /* gone with the namespace's end */ }
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
