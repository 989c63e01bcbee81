// VXLAN with three hosts (issue 13): two netmap-ts hosts (A1, A2: a VALE switch, a container, a
// VXLAN port with the other two hosts as remotes, each host its own nmts daemon) and a plain
// Linux host (B: vxlan42 with `bridge fdb append 00:00:00:00:00:00 dst ...` per peer, a bridge,
// a container), on one underlay bridge. Broadcast (ARP) is replicated to every remote and
// reaches all containers; unicast goes only to the VTEP learned for its MAC (the third host's
// underlay sees none of it); a static entry added at run time steers unicast, and once removed
// (--vxlan-fdb-del) its MAC is flooded again; a MAC that moves to another host is followed once
// it sends.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needs } from './fixtures/requires.js';

const skip = needs(['root', 'ip', 'ping', 'ethtool'], 'network namespaces, veth pairs, a Linux vxlan device');
const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const P = process.pid;
const NS = { u: `vxlU-${P}`, a1: `vxlA1-${P}`, a2: `vxlA2-${P}`, b: `vxlB3-${P}`, c1: `vxlC1-${P}`, c2: `vxlC2-${P}`, cb: `vxlC3-${P}` };
const UL = { a1: '10.9.0.1', a2: '10.9.0.2', b: '10.9.0.3' };
const OV = { c1: '192.168.43.1', c2: '192.168.43.2', cb: '192.168.43.3' };
const SW = `valey${P % 100000}`;
const dir = mkdtempSync(join(tmpdir(), 'nmts-vxl3-'));
const children: ChildProcess[] = [];

const ip = (...a: string[]): string => execFileSync('ip', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const inNs = (ns: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string =>
  execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env, timeout: 30_000 });

function hostEnv(h: 'a1' | 'a2'): NodeJS.ProcessEnv {
  return { ...process.env, NMTS_SHM_DIR: join(dir, h), NMTS_SOCKET: join(dir, `${h}.sock`), NMTS_DAEMON_AUTOSTART: '0' };
}

function nmts(h: 'a1' | 'a2', ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', NS[h], process.execPath, NMTS, ...args], { encoding: 'utf8', env: hostEnv(h), timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function vx(h: 'a1' | 'a2'): Record<string, number> {
  const r = nmts(h, 'vale-ctl', '-v');
  const line = r.stdout.split('\n').find((l) => l.startsWith('vx0 vxlan '));
  assert.ok(line, r.stdout + r.stderr);
  const w = line.split(' '), out: Record<string, number> = {};
  for (let i = 0; i < w.length - 1; i++) if (/^(tx|rx|fdb)_/.test(w[i])) out[w[i]] = Number(w[i + 1]);
  return out;
}

function ping(ns: string, dst: string, count: number): number {
  try {
    const t = inNs(ns, 'ping', ['-c', String(count), '-i', '0.05', '-W', '1', dst]);
    return Number(/(\d+) received/.exec(t)?.[1] ?? 0);
  } catch (e) {
    return Number(/(\d+) received/.exec(String((e as { stdout?: string }).stdout))?.[1] ?? 0);
  }
}

const underlayRx = (ns: string, dev: string): number => Number(inNs(ns, 'cat', [`/sys/class/net/${dev}/statistics/rx_packets`]).trim());

function container(ns: string, hostNs: string, inner: string, outer: string, addr: string, master?: string): void {
  ip('link', 'add', inner, 'netns', ns, 'type', 'veth', 'peer', 'name', outer, 'netns', hostNs);
  ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', inner);
  ip('-n', ns, 'link', 'set', inner, 'mtu', '1450', 'up');
  if (master) ip('-n', hostNs, 'link', 'set', outer, 'master', master);
  ip('-n', hostNs, 'link', 'set', outer, 'mtu', '1450', 'up');
  inNs(ns, 'ethtool', ['-K', inner, 'tx', 'off']); // frames cross a user-space switch: no checksum left to offload
}

describe('VXLAN, three hosts: head-end replication, unicast to the learned VTEP, a MAC that moves', { skip }, () => {
  before(async () => {
    for (const ns of Object.values(NS)) {
      ip('netns', 'add', ns);
      inNs(ns, 'sh', ['-c', 'for c in all default; do f=/proc/sys/net/ipv6/conf/$c/disable_ipv6; if [ -e $f ]; then echo 1 > $f; fi; done']);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip('-n', NS.u, 'link', 'add', 'vxlubr', 'type', 'bridge');
    ip('-n', NS.u, 'link', 'set', 'vxlubr', 'up');
    for (const h of ['a1', 'a2', 'b'] as const) {
      ip('link', 'add', 'vxlul', 'netns', NS[h], 'type', 'veth', 'peer', 'name', `vxlu${h}`, 'netns', NS.u);
      ip('-n', NS.u, 'link', 'set', `vxlu${h}`, 'master', 'vxlubr', 'up');
      ip('-n', NS[h], 'addr', 'add', `${UL[h]}/24`, 'dev', 'vxlul');
      ip('-n', NS[h], 'link', 'set', 'vxlul', 'up');
    }
    // host B: Linux, head-end replication to both netmap-ts hosts
    ip('-n', NS.b, 'link', 'add', 'vxlan42', 'type', 'vxlan', 'id', '42', 'local', UL.b, 'dstport', '4789', 'dev', 'vxlul');
    for (const peer of [UL.a1, UL.a2]) inNs(NS.b, 'bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxlan42', 'dst', peer]);
    ip('-n', NS.b, 'link', 'add', 'vxlbr', 'type', 'bridge');
    ip('-n', NS.b, 'link', 'set', 'vxlan42', 'master', 'vxlbr', 'up');
    ip('-n', NS.b, 'link', 'set', 'vxlbr', 'up');
    container(NS.cb, NS.b, 'vxlc0', 'vxlc1', OV.cb, 'vxlbr');
    // hosts A1, A2: netmap-ts
    for (const [h, c] of [['a1', 'c1'], ['a2', 'c2']] as const) {
      container(NS[c], NS[h], 'vxlc0', 'vxlc1', OV[c]);
      const d = spawn('ip', ['netns', 'exec', NS[h], process.execPath, NMTS, 'daemon', '--socket', hostEnv(h).NMTS_SOCKET!], { env: hostEnv(h), stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(d);
      await new Promise<void>((resolve, reject) => {
        let text = '';
        const t = setTimeout(() => reject(new Error(`daemon of ${h}: ${text}`)), 10_000);
        const on = (b: Buffer): void => { text += b.toString(); if (/started: socket/.test(text)) { clearTimeout(t); resolve(); } };
        d.stdout.on('data', on);
        d.stderr.on('data', on);
      });
      const others = Object.entries(UL).filter(([k]) => k !== h).map(([, v]) => `remote=${v}`).join(',');
      for (const args of [['-n', 'vx0', '--vxlan', `vni=42,local=${UL[h]},${others}`], ['-a', `${SW}:vxlc1`], ['-a', `${SW}:vx0`]]) {
        const r = nmts(h, 'vale-ctl', ...args);
        assert.equal(r.status, 0, `${h}: vale-ctl ${args.join(' ')}: ${r.stderr}`);
      }
    }
  });
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const ns of Object.values(NS)) {
      try { ip('netns', 'del', ns); } catch { /* not made */ }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('ARP broadcast is replicated to every remote: all three containers reach each other', { timeout: 60_000 }, () => {
    assert.equal(ping(NS.c1, OV.c2, 3), 3);
    assert.equal(ping(NS.c1, OV.cb, 3), 3);
    assert.equal(ping(NS.c2, OV.cb, 3), 3);
    const c = vx('a1');
    assert.ok(c.tx_flooded >= 2, JSON.stringify(c));
    assert.ok(c.tx_datagrams >= c.tx_unicast + 2 * c.tx_flooded, `each flooded frame went to both remotes: ${JSON.stringify(c)}`);
  });

  test('unicast goes only to the learned VTEP: the third host sees none of it', { timeout: 60_000 }, () => {
    const a2Before = underlayRx(NS.a2, 'vxlul'), vxBefore = vx('a2').rx_frames, uniBefore = vx('a1').tx_unicast;
    assert.equal(ping(NS.c1, OV.cb, 50), 50);
    assert.ok(vx('a1').tx_unicast - uniBefore >= 50, 'the echo requests went unicast');
    const a2 = vx('a2').rx_frames - vxBefore;
    assert.ok(a2 < 5, `A2 decapsulated none of the 100 echo frames (${a2}: at most an ARP refresh, which is broadcast)`);
    assert.ok(underlayRx(NS.a2, 'vxlul') - a2Before < 5, 'A2\'s underlay received (almost) nothing: at most an ARP refresh');
  });

  test('netmap-ts to netmap-ts: a stream of small frames crosses as GSO runs and arrives as trains, every frame delivered', { timeout: 60_000 }, () => {
    const N = 4000, mac2 = inNs(NS.c2, 'cat', ['/sys/class/net/vxlc0/address']).trim();
    const rx2 = (): number => Number(inNs(NS.c2, 'cat', ['/sys/class/net/vxlc0/statistics/rx_packets']).trim());
    assert.equal(ping(NS.c1, OV.c2, 2), 2); // both MACs learned
    const a1 = vx('a1'), a2 = vx('a2'), got0 = rx2();
    // paced, so that nothing on the way has to drop
    inNs(NS.c1, process.execPath, [NMTS, 'pkt-gen', '-i', 'netmap:vxlc0', '-f', 'tx', '-l', '60', '-n', String(N), '-R', '20000',
      '-D', mac2, '-s', `${OV.c1}:3000`, '-d', `${OV.c2}:3001`]);
    spawnSync('sleep', ['0.5']);
    const b1 = vx('a1'), b2 = vx('a2'), got = rx2() - got0;
    const uni = b1.tx_unicast - a1.tx_unicast, gso = b1.tx_gso_sends - a1.tx_gso_sends, trains = b2.rx_trains - a2.rx_trains, frames = b2.rx_frames - a2.rx_frames;
    assert.ok(uni >= N * 0.9, `A1 sent the stream unicast to A2: ${uni}`);
    assert.ok(gso > 0 && gso < uni / 4, `A1 sent runs of it as GSO sends: ${gso} for ${uni} frames`);
    assert.ok(trains > 0, `A2 received trains of datagrams whole: ${trains}`);
    assert.equal(b2.rx_short - a2.rx_short + b2.rx_bad_flags - a2.rx_bad_flags + b2.rx_wrong_vni - a2.rx_wrong_vni + b2.rx_too_big - a2.rx_too_big, 0, 'every datagram of the trains checked out');
    assert.ok(frames >= uni, `A2 decapsulated every frame A1 sent it: ${frames} of ${uni}`);
    assert.ok(got >= uni, `container 2 received them all: ${got} of ${uni}`);
  });

  test('TCP between the two netmap-ts hosts: every datagram A1 sends A2 receives, trains included', { timeout: 60_000, skip: needs(['iperf3'], 'iperf3') }, async () => {
    const a1 = vx('a1'), a2 = vx('a2');
    const srv = spawn('ip', ['netns', 'exec', NS.c2, 'iperf3', '-s', '-1', '-p', '5331'], { stdio: 'ignore' });
    children.push(srv);
    await new Promise((r) => setTimeout(r, 500));
    const c = spawnSync('ip', ['netns', 'exec', NS.c1, 'iperf3', '-c', OV.c2, '-p', '5331', '-t', '3', '-J'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(c.status, 0, c.stdout.slice(-1000) + c.stderr);
    const bytes = (JSON.parse(c.stdout) as { end: { sum_received: { bytes: number } } }).end.sum_received.bytes;
    assert.ok(bytes > 1e6, `iperf3 moved ${bytes} bytes`);
    spawnSync('sleep', ['0.3']);
    const b1 = vx('a1'), b2 = vx('a2');
    const sent = b1.tx_datagrams - a1.tx_datagrams, got = b2.rx_frames - a2.rx_frames, full = b2.rx_ring_full - a2.rx_ring_full;
    assert.equal(full, 0, 'no datagram of a train found the receive ring full');
    assert.equal(got, sent, `A2 received every datagram A1 sent: ${got} of ${sent} (A1 to B: none in this test)`);
  });

  test('a static entry added at run time (vale-ctl --vxlan-fdb) steers unicast to its VTEP at once', { timeout: 60_000 }, () => {
    const r = nmts('a1', 'vale-ctl', '--vxlan-fdb', `vx0,02:00:00:00:00:77@${UL.a2}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(nmts('a1', 'vale-ctl', '-v').stdout, /^vx0 vxlan .*,fdb=02:00:00:00:00:77@10\.9\.0\.2 open /m);
    inNs(NS.c1, 'ip', ['neigh', 'replace', '192.168.43.77', 'lladdr', '02:00:00:00:00:77', 'dev', 'vxlc0']);
    const a1 = vx('a1'), a2 = vx('a2').rx_frames, bRx = underlayRx(NS.b, 'vxlul');
    assert.equal(ping(NS.c1, '192.168.43.77', 5), 0, 'nobody answers for that address');
    assert.match(nmts('a1', 'vale-ctl', '--vxlan-fdb-show', 'vx0').stdout, /^02:00:00:00:00:77 dst 10\.9\.0\.2 static$/m, 'listed in the table in force (the opener took it at its sync)');
    assert.equal(vx('a1').tx_unicast - a1.tx_unicast, 5, 'sent unicast, not flooded');
    assert.equal(vx('a1').tx_flooded, a1.tx_flooded);
    assert.equal(vx('a2').rx_frames - a2, 5, 'to A2, the entry\'s VTEP');
    assert.ok(underlayRx(NS.b, 'vxlul') - bRx < 3, 'host B saw none of them');
  });

  test('the static entry removed at run time (vale-ctl --vxlan-fdb-del): that MAC is flooded again', { timeout: 60_000 }, () => {
    const r = nmts('a1', 'vale-ctl', '--vxlan-fdb-del', `vx0,02:00:00:00:00:77@${UL.a2}`);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(nmts('a1', 'vale-ctl', '-v').stdout, /fdb=02:00:00:00:00:77/);
    const a1 = vx('a1');
    assert.equal(ping(NS.c1, '192.168.43.77', 3), 0);
    assert.equal(vx('a1').tx_unicast, a1.tx_unicast, 'no longer sent unicast');
    assert.equal(vx('a1').tx_flooded - a1.tx_flooded, 3, 'unknown again: flooded to every remote');
    assert.doesNotMatch(nmts('a1', 'vale-ctl', '--vxlan-fdb-show', 'vx0').stdout, /^02:00:00:00:00:77 /m, 'gone from the table in force');
  });

  test('a MAC that moves to another host is followed once it sends from there', { timeout: 60_000 }, () => {
    // the "VM" of host B moves to host A2: container B's MAC and address go to container 2
    const macB = inNs(NS.cb, 'cat', ['/sys/class/net/vxlc0/address']).trim();
    assert.equal(ping(NS.c1, OV.cb, 2), 2); // container 1 knows macB (ARP) and A1 learned it behind B
    const line = (): string => nmts('a1', 'vale-ctl', '--vxlan-fdb-show', 'vx0').stdout.split('\n').find((l) => l.startsWith(`${macB} `)) ?? '';
    assert.match(line(), new RegExp(`^${macB} dst ${UL.b.replace(/\./g, '\\.')} learned, last frame \\d+\\.\\d s ago$`), 'vale-ctl --vxlan-fdb-show: behind host B');
    ip('-n', NS.cb, 'link', 'set', 'vxlc0', 'down');
    ip('-n', NS.c2, 'link', 'set', 'vxlc0', 'address', macB);
    ip('-n', NS.c2, 'addr', 'add', `${OV.cb}/24`, 'dev', 'vxlc0');
    const moved = vx('a1').fdb_moved;
    // it speaks from its new place (as a migrated VM's gratuitous ARP would): A1 learns macB behind A2
    inNs(NS.c2, 'ping', ['-c', '1', '-W', '1', '-I', OV.cb, OV.c1]);
    assert.ok(vx('a1').fdb_moved > moved, 'the entry moved');
    assert.match(line(), new RegExp(`^${macB} dst ${UL.a2.replace(/\./g, '\\.')} learned`), 'listed behind A2 now');
    assert.equal(ping(NS.c1, OV.cb, 5), 5, 'unicast now reaches it on A2');
  });
});
