// VXLAN overlay rate (issue 13): 60-byte inner frames from a container on host A to a container
// on host B, counted at the receiving container's interface, through
//   netmap-ts   container veth -> VALE switch (vale-ctl -a) -> VXLAN port vx0 -> underlay veth
//               -> vx0 on host B -> VALE switch -> container veth
//   Linux       container veth -> bridge -> vxlan42 -> underlay veth -> vxlan42 -> bridge -> container veth
// Both in network namespaces (vxlbench-*), same sender: `nmts pkt-gen -f tx -l 60` on the sending
// container's veth (AF_XDP), unpaced, for SECONDS; the rate is the receiving veth's rx_packets
// over that time (frames that reached the container). Also an iperf3 TCP run per topology
// (default offloads on the Linux topology; the netmap-ts one with the containers' tx checksum
// offload off, as a user-space switch needs). Run once: `node dist/bench/vxlan.js [SECONDS]`;
// prints one table and a --json line.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const SECONDS = Number(process.argv[2] ?? 5);
const P = process.pid;
const ip = (...a: string[]): string => execFileSync('ip', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const inNs = (ns: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeout = 60_000): string =>
  execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env, timeout });

interface Topo { kind: 'netmap-ts' | 'linux'; ns: Record<'a' | 'b' | 'ca' | 'cb', string>; env: Record<'a' | 'b', NodeJS.ProcessEnv>; dir: string }

function makeTopo(kind: Topo['kind']): Topo {
  const t = kind === 'linux' ? 'l' : 'n';
  const ns = { a: `vxlbench-${t}a-${P}`, b: `vxlbench-${t}b-${P}`, ca: `vxlbench-${t}ca-${P}`, cb: `vxlbench-${t}cb-${P}` };
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vxlbench-'));
  const env = {
    a: { ...process.env, NMTS_SHM_DIR: join(dir, 'a'), NMTS_SOCKET: join(dir, 'a.sock') },
    b: { ...process.env, NMTS_SHM_DIR: join(dir, 'b'), NMTS_SOCKET: join(dir, 'b.sock') },
  };
  for (const n of Object.values(ns)) {
    ip('netns', 'add', n);
    ip('-n', n, 'link', 'set', 'lo', 'up');
    inNs(n, 'sh', ['-c', 'for c in all default; do f=/proc/sys/net/ipv6/conf/$c/disable_ipv6; if [ -e $f ]; then echo 1 > $f; fi; done']);
  }
  ip('link', 'add', 'vxlu', 'netns', ns.a, 'type', 'veth', 'peer', 'name', 'vxlu', 'netns', ns.b);
  const ul = { a: '10.8.0.1', b: '10.8.0.2' };
  for (const h of ['a', 'b'] as const) {
    ip('-n', ns[h], 'addr', 'add', `${ul[h]}/24`, 'dev', 'vxlu');
    ip('-n', ns[h], 'link', 'set', 'vxlu', 'up');
    const c = h === 'a' ? ns.ca : ns.cb;
    ip('link', 'add', 'vxlc0', 'netns', c, 'type', 'veth', 'peer', 'name', 'vxlc1', 'netns', ns[h]);
    ip('-n', c, 'addr', 'add', h === 'a' ? '192.168.44.1/24' : '192.168.44.2/24', 'dev', 'vxlc0');
    ip('-n', c, 'link', 'set', 'vxlc0', 'mtu', '1450', 'up');
    ip('-n', ns[h], 'link', 'set', 'vxlc1', 'mtu', '1450', 'up');
    const other = h === 'a' ? ul.b : ul.a;
    if (kind === 'linux') {
      ip('-n', ns[h], 'link', 'add', 'vxlan42', 'type', 'vxlan', 'id', '42', 'local', ul[h], 'remote', other, 'dstport', '4789', 'dev', 'vxlu');
      ip('-n', ns[h], 'link', 'add', 'vxlbr', 'type', 'bridge');
      ip('-n', ns[h], 'link', 'set', 'vxlan42', 'master', 'vxlbr', 'up');
      ip('-n', ns[h], 'link', 'set', 'vxlc1', 'master', 'vxlbr');
      ip('-n', ns[h], 'link', 'set', 'vxlbr', 'up');
    } else {
      inNs(c, 'ethtool', ['-K', 'vxlc0', 'tx', 'off']);
      const sw = `valeb${P % 10000}`;
      inNs(ns[h], process.execPath, [NMTS, 'vale-ctl', '-n', 'vx0', '--vxlan', `vni=42,local=${ul[h]},remote=${other},dev=vxlu`], env[h]);
      inNs(ns[h], process.execPath, [NMTS, 'vale-ctl', '-a', `${sw}:vxlc1`], env[h]);
      inNs(ns[h], process.execPath, [NMTS, 'vale-ctl', '-a', `${sw}:vx0`], env[h]);
    }
  }
  return { kind, ns, env, dir };
}

function destroy(t: Topo): void {
  if (t.kind === 'netmap-ts') {
    for (const h of ['a', 'b'] as const) {
      // the daemons vale-ctl started exit once nothing is attached
      const sw = `valeb${P % 10000}`;
      for (const port of ['vx0', 'vxlc1']) spawnSync('ip', ['netns', 'exec', t.ns[h], process.execPath, NMTS, 'vale-ctl', '-d', `${sw}:${port}`], { env: t.env[h] });
    }
  }
  for (const n of Object.values(t.ns)) spawnSync('ip', ['netns', 'del', n]);
  rmSync(t.dir, { recursive: true, force: true });
}

const rxPackets = (t: Topo): number => Number(inNs(t.ns.cb, 'cat', ['/sys/class/net/vxlc0/statistics/rx_packets']).trim());

async function smallFrames(t: Topo): Promise<number> {
  inNs(t.ns.ca, 'ping', ['-c', '2', '-i', '0.2', '192.168.44.2']); // learning on both sides
  const dst = inNs(t.ns.cb, 'cat', ['/sys/class/net/vxlc0/address']).trim();
  const before = rxPackets(t);
  const gen = spawn('ip', ['netns', 'exec', t.ns.ca, process.execPath, NMTS, 'pkt-gen', '-i', 'netmap:vxlc0', '-f', 'tx', '-l', '60', '-D', dst,
    '-s', '192.168.44.1', '-d', '192.168.44.2', '--duration', String(SECONDS), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const t0 = Date.now();
  await new Promise((r) => gen.once('exit', r));
  await new Promise((r) => setTimeout(r, 300)); // frames in flight
  const dt = (Date.now() - t0) / 1000;
  return (rxPackets(t) - before) / Math.min(dt, SECONDS + 1);
}

function tcp(t: Topo): number {
  const s = spawn('ip', ['netns', 'exec', t.ns.cb, 'iperf3', '-s', '-1', '-p', '5401'], { stdio: 'ignore' });
  spawnSync('sleep', ['0.5']);
  const r = spawnSync('ip', ['netns', 'exec', t.ns.ca, 'iperf3', '-c', '192.168.44.2', '-p', '5401', '-t', String(SECONDS), '-J'], { encoding: 'utf8', timeout: 60_000 });
  s.kill();
  try {
    return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
  } catch {
    return NaN;
  }
}

const results: Record<string, { pps: number; tcpBps: number }> = {};
for (const kind of ['linux', 'netmap-ts'] as const) {
  const t = makeTopo(kind);
  try {
    const pps = await smallFrames(t);
    const tcpBps = tcp(t);
    results[kind] = { pps, tcpBps };
    process.stderr.write(`${kind}: ${(pps / 1e6).toFixed(3)} Mpps of 60-byte inner frames at the receiving container; TCP ${(tcpBps / 1e9).toFixed(2)} Gbit/s\n`);
  } finally {
    destroy(t);
  }
}
const l = results.linux!, n = results['netmap-ts']!;
console.log('case                               Linux vxlan+bridge   netmap-ts VALE+VXLAN   ratio');
console.log(`60-byte inner frames (Mpps)        ${(l.pps / 1e6).toFixed(3).padStart(18)}   ${(n.pps / 1e6).toFixed(3).padStart(20)}   ${(n.pps / l.pps).toFixed(2)}`);
console.log(`TCP through the overlay (Gbit/s)   ${(l.tcpBps / 1e9).toFixed(2).padStart(18)}   ${(n.tcpBps / 1e9).toFixed(2).padStart(20)}   ${(n.tcpBps / l.tcpBps).toFixed(2)}`);
console.log(JSON.stringify({ bench: 'vxlan', seconds: SECONDS, linux: l, netmapTs: n, ppsRatio: n.pps / l.pps, tcpRatio: n.tcpBps / l.tcpBps }));
