// A QEMU guest's pktgen flood (60-byte frames, burst 32) into a daemon-served vhost-user port,
// received by `nmts pkt-gen -f rx` on another port of the switch, with exact counts: what the
// guest's pktgen reports sent is what the port's TX queue counted, and is what pkt-gen received
// plus what the switch dropped at its full ring. The guest's rate is printed as a diagnostic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { Guest, guestSkip } from './fixtures/guest.js';

const skip = guestSkip();
const root = resolve(import.meta.dirname, '../..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Q { packets: number; drops: number }
async function queues(sock: string): Promise<Q[]> {
  return ((await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000)).ports as { queues: Q[] }[])[0].queues;
}

test('guest pktgen -> vhost-user port -> switch -> pkt-gen -f rx: sent = received + dropped, exactly', { skip, timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vmp-'));
  const sock = join(dir, 'd.sock'), vsock = join(dir, 'vm1.sock'), sw = `valevk${process.pid}`;
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  let rx: ChildProcess | null = null;
  let g: Guest | null = null;
  try {
    assert.equal((await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: vsock }, 30_000)).ok, true);
    assert.equal((await daemonRequest(sock, { cmd: 'attach', port: `${sw}:vm1` }, 30_000)).ok, true);
    rx = spawn(process.execPath, ['bin/nmts.js', 'pkt-gen', '-i', `${sw}:rx@conf:slots=4096`, '-f', 'rx', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let rxOut = '';
    rx.stdout!.on('data', (b: Buffer) => { rxOut += b.toString(); });
    const rxExit = new Promise<void>((r) => rx!.once('exit', () => r()));
    const N = 100_000;
    // no IPv6 in the guest: its only frames are pktgen's
    g = new Guest('guest', { socket: vsock, mac: '52:54:00:00:00:01', test: { 'ipv6.disable': 1, nt_ip: '10.0.0.1/24', nt_pktgen: N, nt_burst: 32, nt_dst: '10.0.0.9', nt_dstmac: '02:00:00:00:00:09' } });
    const r = await g.result('NMTS-PKTGEN');
    const sent = Number(r.sent);
    // with burst, pktgen may send a few more than count (its sofar counter is what it sent)
    assert.ok(sent >= N && sent < N + 64, `pktgen: ${JSON.stringify(r)}`);
    assert.equal(r.errors, '0');
    t.diagnostic(`guest pktgen (TCG, 1 vCPU, 60 B, burst 32): ${r.pps} pps; ${(await g.line(/^NMTS-PKTGEN-RESULT (.*)$/))[1]}`);
    await g.line(/^NMTS-DONE$/);
    await g.exited;
    let seen = -1;
    for (let i = 0; i < 100 && (seen = (await queues(sock))[1].packets) !== sent; i++) await sleep(100);
    assert.equal(seen, sent, 'the port\'s TX queue counted every frame the guest sent');
    assert.equal((await queues(sock))[1].drops, 0);
    await sleep(500);
    rx.kill('SIGINT');
    await rxExit;
    const p = JSON.parse(rxOut.trim().split('\n').pop()!) as { packets: number; dropped: number };
    assert.equal(p.packets + p.dropped, sent, `pkt-gen received ${p.packets} + dropped ${p.dropped} (ring full) = the guest's ${sent}`);
    t.diagnostic(`pkt-gen received ${p.packets}, dropped at its full ring ${p.dropped}`);
  } finally {
    rx?.kill('SIGKILL');
    await g?.kill();
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
