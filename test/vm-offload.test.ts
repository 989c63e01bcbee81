// Offloads on a vhost-user port (vhost-create offloads: true; vale-ctl -n ... --offloads): a QEMU
// guest negotiates CSUM, GUEST_CSUM, HOST_TSO4/6 and GUEST_TSO4/6, the port carries the
// 12-byte virtio-net header into the switch, and a TCP stream each way between the guest and a
// Linux network namespace (a veth attached with vale-ctl -a, its offloads on, so its switch port
// has a header too) moves TSO super-frames: the guest's TX queue and its RX queue both average
// more bytes per frame than an Ethernet MTU allows, every byte arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { Guest, guestSkip } from './fixtures/guest.js';
import { needs } from './fixtures/requires.js';

const skip = guestSkip() || needs(['ip', 'nc', 'ethtool']);
const ip = (...a: string[]): string => execFileSync('ip', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

interface Q { packets: number; bytes: number; drops: number }
async function port(sock: string): Promise<{ features: string[]; queues: Q[]; offloads: boolean }> {
  return ((await daemonRequest(sock, { cmd: 'vhost-list' }, 30_000)).ports as { features: string[]; queues: Q[]; offloads: boolean }[])[0];
}

/**
 * One guest with offloads and a namespace on a switch, a TCP stream each way. vethOffloads: the
 * veth keeps its default offloads (its switch port has a header: super-frames cross whole), or
 * has them off (no header: VALE's converter cuts the guest's super-frames into MTU frames).
 */
async function streams(t: { diagnostic: (m: string) => void }, vethOffloads: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vmo-'));
  const sock = join(dir, 'd.sock'), sw = `valeqo${process.pid}`;
  const ns = `vmqns${process.pid}`, hostIf = `vmqh${process.pid % 100000}`, nsIf = `vmqn${process.pid % 100000}`;
  const logs: string[] = [];
  const d = await runDaemon({ socketPath: sock, log: (l) => logs.push(l) });
  let g: Guest | null = null;
  try {
    const c = await daemonRequest(sock, { cmd: 'vhost-create', port: 'vm1', path: join(dir, 'vm1.sock'), offloads: true }, 30_000);
    assert.equal(c.ok, true, String(c.error));
    assert.equal(c.offloads, true);
    assert.equal((await daemonRequest(sock, { cmd: 'attach', port: `${sw}:vm1` }, 30_000)).ok, true);
    ip('netns', 'add', ns);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns);
    ip('link', 'set', hostIf, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', '10.0.0.3/24', 'dev', nsIf);
    ip('-n', ns, 'link', 'set', nsIf, 'up');
    if (!vethOffloads) {
      execFileSync('ethtool', ['-K', hostIf, 'tx', 'off', 'tso', 'off', 'gso', 'off'], { stdio: 'ignore' });
      execFileSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', nsIf, 'tx', 'off', 'tso', 'off', 'gso', 'off'], { stdio: 'ignore' });
    }
    const a = await daemonRequest(sock, { cmd: 'attach', port: `${sw}:${hostIf}` }, 30_000);
    assert.equal(a.ok, true, `${String(a.error)}\n${logs.join('\n')}`);
    const sink = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', 'nc -l 5001 | wc -c'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let sunk = '';
    sink.stdout!.on('data', (b: Buffer) => { sunk += b.toString(); });
    const sinkDone = new Promise<void>((r) => sink.once('exit', () => r()));

    const OUT = 4_000_000, IN = 4_000_000;
    g = new Guest('guest', { socket: join(dir, 'vm1.sock'), mac: '52:54:00:00:00:01', test: { 'ipv6.disable': 1, nt_ip: '10.0.0.1/24', nt_ping: '10.0.0.3', nt_ncrecv: 5002, nt_ncsend: `10.0.0.3:5001:${OUT}` } });
    const r = await g.result('NMTS-PING 10\\.0\\.0\\.3');
    assert.deepEqual([r.transmitted, r.received], ['5', '5'], JSON.stringify(r));
    const p0 = await port(sock);
    for (const f of ['CSUM', 'GUEST_CSUM', 'HOST_TSO4', 'HOST_TSO6', 'GUEST_TSO4', 'GUEST_TSO6', 'MRG_RXBUF']) assert.ok(p0.features.includes(f), `${f} negotiated: ${p0.features.join(',')}`);
    execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', `head -c ${IN} /dev/zero | nc -N -w 30 10.0.0.1 5002`], { timeout: 120_000 });
    assert.equal((await g.result('NMTS-NC-RECV', 120_000)).bytes, String(IN));
    assert.equal((await g.result('NMTS-NC-SEND', 120_000)).bytes, String(OUT));
    await sinkDone;
    assert.equal(sunk.trim(), String(OUT), 'the namespace received the guest\'s whole stream');
    const p = await port(sock);
    const rx = p.queues[0], tx = p.queues[1];
    t.diagnostic(`guest TX queue: ${tx.packets} frames, ${tx.bytes} bytes (${Math.round(tx.bytes / tx.packets)} per frame); RX queue: ${rx.packets} frames, ${rx.bytes} bytes (${Math.round(rx.bytes / rx.packets)} per frame); drops ${tx.drops}/${rx.drops}`);
    assert.ok(tx.bytes / tx.packets > 1600, 'the guest sent super-frames (HOST_TSO)');
    const st = (await daemonRequest(sock, { cmd: 'stats', port: `${sw}:${hostIf}` }, 30_000)).stats as { rxPackets: number; rxBytes: number };
    t.diagnostic(`switch port ${hostIf}: ${st.rxPackets} frames delivered (${Math.round(st.rxBytes / st.rxPackets)} bytes per frame)`);
    if (vethOffloads) {
      assert.ok(rx.bytes / rx.packets > 1600, 'the guest received super-frames (GUEST_TSO)');
    } else {
      // the namespace's port has no header: the guest's super-frames were cut into MTU frames by
      // the switch. The guest's frames average over 1600 bytes (asserted above) and the
      // delivered ones at most 1514, so more frames came out than went in; how many more
      // depends on how large TCP made its super-frames in this run (1.45-2x seen), not on us
      assert.ok(st.rxBytes / st.rxPackets <= 1514, `delivered frames of ${Math.round(st.rxBytes / st.rxPackets)} bytes on average`);
      assert.ok(st.rxPackets > tx.packets, `segmented: ${st.rxPackets} frames delivered for the guest's ${tx.packets}`);
    }
    // frames from the namespace before the guest's driver started its queues are dropped (and counted); none after
    assert.equal(tx.drops + rx.drops, p0.queues[0].drops + p0.queues[1].drops, `no drops during the streams (before: ${p0.queues[0].drops}/${p0.queues[1].drops})`);
  } finally {
    await g?.kill();
    try { ip('netns', 'del', ns); } catch { /* not made */ }
    try { ip('link', 'del', hostIf); } catch { /* gone with the namespace's end */ }
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('guest with offloads <-> netns (veth offloads on) through VALE: TCP each way in TSO super-frames, every byte', { skip, timeout: 240_000 }, async (t) => {
  await streams(t, true);
});

test('guest with offloads <-> netns (veth offloads off, no header) through VALE: the switch segments the guest\'s super-frames, every byte', { skip, timeout: 240_000 }, async (t) => {
  await streams(t, false);
});
