// VXLAN overlay rates (issue 13): 60-byte inner frames and TCP from a container on host A to a
// container on host B, through
//   netmap-ts   container veth -> VALE switch (vale-ctl -a) -> VXLAN port vx0 -> underlay veth
//               -> vx0 on host B -> VALE switch -> container veth
//   Linux       container veth -> bridge -> vxlan42 -> underlay veth -> vxlan42 -> bridge -> container veth
// all in network namespaces (vxlbench-*). Small frames: the same sender for both, `nmts pkt-gen
// -f tx -l 60` on the sending container's veth, unpaced, for the round's seconds; the rate is
// the receiving container veth's rx_packets over that time, the netmap-ts containers' veths with
// tx checksumming (so TSO) off, which lets `vale-ctl -a` attach them with AF_XDP, the faster
// backend for small frames. TCP: iperf3 between the containers, every interface with Linux's
// default offloads (TSO, GSO, tx checksumming) in both topologies (netmap-ts re-attaches the
// veths: AF_PACKET with a virtio-net header, super-frames through the switches).
//
// The topologies are built once (one netmap-ts topology per variant: extra --vxlan items, e.g.
// `offloads=0`, the port without UDP GSO and TCP merging) and measured in interleaved rounds (Linux, netmap-ts, Linux, ...),
// so load from other work hits both alike; a ratio is taken within one round, and the table
// gives min / median / max over the rounds of each rate and of the ratios, against the issue's
// targets (>= 1.5x Linux for small frames, >= 0.5x for TCP).
//
//   node dist/bench/run.js --vxlan [--duration S] [--rounds N] [--json]     (npm run bench -- --vxlan)
//   node dist/bench/vxlan.js [SECONDS] [ROUNDS]                               (the same, standalone)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const P = process.pid;
const ip = (...a: string[]): string => execFileSync('ip', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const inNs = (ns: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeout = 60_000): string =>
  execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env, timeout });

export interface VxlanBenchOptions {
  durationMs: number;
  rounds: number;
  json: boolean;
  /** extra --vxlan items per netmap-ts variant ('' = the default underlay) */
  variants?: string[];
}

interface Topo { label: string; kind: 'netmap-ts' | 'linux'; ns: Record<'a' | 'b' | 'ca' | 'cb', string>; env: Record<'a' | 'b', NodeJS.ProcessEnv>; dir: string; sw: string }

function makeTopo(kind: Topo['kind'], tag: string, extra: string): Topo {
  const ns = { a: `vxlbench-${tag}a-${P}`, b: `vxlbench-${tag}b-${P}`, ca: `vxlbench-${tag}ca-${P}`, cb: `vxlbench-${tag}cb-${P}` };
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vxlbench-'));
  const env = {
    a: { ...process.env, NMTS_SHM_DIR: join(dir, 'a'), NMTS_SOCKET: join(dir, 'a.sock') },
    b: { ...process.env, NMTS_SHM_DIR: join(dir, 'b'), NMTS_SOCKET: join(dir, 'b.sock') },
  };
  const t: Topo = { label: kind === 'linux' ? 'Linux vxlan + bridge' : `netmap-ts${extra ? ` ${extra}` : ''}`, kind, ns, env, dir, sw: `valeb${tag}${P % 10000}` };
  try {
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
        inNs(ns[h], process.execPath, [NMTS, 'vale-ctl', '-n', 'vx0', '--vxlan', `vni=42,local=${ul[h]},remote=${other},dev=vxlu${extra ? `,${extra}` : ''}`], env[h]);
        // small frames: AF_XDP attachments (offloadsOn for TCP). The container's side sends no
        // super-frames with tx checksumming (so TSO) off; vale-ctl -a looks at the attached side's
        // offloads (tx checksumming, TSO, GSO) to choose AF_XDP over AF_PACKET
        inNs(c, 'ethtool', ['-K', 'vxlc0', 'tx', 'off']);
        inNs(ns[h], 'ethtool', ['-K', 'vxlc1', 'tx', 'off', 'gso', 'off']);
        inNs(ns[h], process.execPath, [NMTS, 'vale-ctl', '-a', `${t.sw}:vxlc1`], env[h]);
        if (!/\bxdp/.test(ip('-n', ns[h], '-d', 'link', 'show', 'vxlc1'))) process.stderr.write(`bench --vxlan: host ${h}'s vxlc1 is not attached with AF_XDP (no XDP program on it): the small-frame rows measure AF_PACKET\n`);
        inNs(ns[h], process.execPath, [NMTS, 'vale-ctl', '-a', `${t.sw}:vx0`], env[h]);
      }
    }
    inNs(ns.ca, 'ping', ['-c', '2', '-i', '0.2', '192.168.44.2']); // learning on both sides
  } catch (e) {
    destroy(t);
    throw e;
  }
  return t;
}

/** The containers' veths back to Linux's default offloads, attached again (AF_PACKET with a virtio-net header). */
function offloadsOn(t: Topo): void {
  for (const h of ['a', 'b'] as const) {
    inNs(h === 'a' ? t.ns.ca : t.ns.cb, 'ethtool', ['-K', 'vxlc0', 'tx', 'on', 'tso', 'on', 'gso', 'on']);
    inNs(t.ns[h], 'ethtool', ['-K', 'vxlc1', 'tx', 'on', 'tso', 'on', 'gso', 'on']);
    inNs(t.ns[h], process.execPath, [NMTS, 'vale-ctl', '-d', `${t.sw}:vxlc1`], t.env[h]);
    inNs(t.ns[h], process.execPath, [NMTS, 'vale-ctl', '-a', `${t.sw}:vxlc1`], t.env[h]);
  }
}

function destroy(t: Topo): void {
  if (t.kind === 'netmap-ts') {
    // the daemons vale-ctl started exit once nothing is attached
    for (const h of ['a', 'b'] as const) {
      for (const port of ['vx0', 'vxlc1']) spawnSync('ip', ['netns', 'exec', t.ns[h], process.execPath, NMTS, 'vale-ctl', '-d', `${t.sw}:${port}`], { env: t.env[h] });
    }
  }
  for (const n of Object.values(t.ns)) spawnSync('ip', ['netns', 'del', n]);
  rmSync(t.dir, { recursive: true, force: true });
}

const rxPackets = (t: Topo): number => Number(inNs(t.ns.cb, 'cat', ['/sys/class/net/vxlc0/statistics/rx_packets']).trim());

async function smallFrames(t: Topo, seconds: number, cpu = false): Promise<number> {
  const dst = inNs(t.ns.cb, 'cat', ['/sys/class/net/vxlc0/address']).trim();
  const before = rxPackets(t);
  if (cpu) {
    // one second once frames flow (pkt-gen takes one to several seconds to start on a loaded
    // machine: a fixed offset sampled it idle), timed: a late timer would inflate the shares
    const sample = (): void => {
      const a = threadTicks(t), sa = threadSwitches(t), fa = rxPackets(t), t0 = performance.now();
      setTimeout(() => {
        const b = threadTicks(t), sb = threadSwitches(t), fb = rxPackets(t), dt = (performance.now() - t0) / 1000;
        process.stderr.write(`${t.label}, 60-byte frames, CPU per thread (${dt.toFixed(2)} s in the middle): ${busiest(a, b, dt)}\n`);
        const sw = switchesBetween(sa, sb), fr = fb - fa;
        process.stderr.write(`${t.label}, 60-byte frames, context switches of those threads: ${(sw / dt).toFixed(0)}/s, ${(fr > 0 ? sw / fr : NaN).toFixed(3)} per frame received (${fr} frames)\n`);
      }, 1000);
    };
    const flowing = (left: number): void => {
      if (rxPackets(t) > before) setTimeout(sample, 300);
      else if (left > 0) setTimeout(() => flowing(left - 1), 100);
    };
    setTimeout(() => flowing(seconds * 10), 100);
  }
  const gen = spawn('ip', ['netns', 'exec', t.ns.ca, process.execPath, NMTS, 'pkt-gen', '-i', 'netmap:vxlc0', '-f', 'tx', '-l', '60', '-D', dst,
    '-s', '192.168.44.1', '-d', '192.168.44.2', '--duration', String(seconds), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const t0 = Date.now();
  await new Promise((r) => gen.once('exit', r));
  await new Promise((r) => setTimeout(r, 300)); // frames in flight
  const dt = (Date.now() - t0) / 1000;
  return (rxPackets(t) - before) / Math.min(dt, seconds + 1);
}

function tcp(t: Topo, seconds: number): number {
  const s = spawn('ip', ['netns', 'exec', t.ns.cb, 'iperf3', '-s', '-1', '-p', '5401'], { stdio: 'ignore' });
  spawnSync('sleep', ['0.5']);
  const r = spawnSync('ip', ['netns', 'exec', t.ns.ca, 'iperf3', '-c', '192.168.44.2', '-p', '5401', '-t', String(seconds), '-J'], { encoding: 'utf8', timeout: 60_000 });
  s.kill();
  try {
    return (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
  } catch {
    return NaN;
  }
}

/** CPU ticks of every thread of the processes in the topology's namespaces (the daemons, pkt-gen), by 'host/program/tid'. */
function threadTicks(t: Topo): Map<string, number> {
  const out = new Map<string, number>();
  for (const h of ['a', 'b', 'ca', 'cb'] as const) {
    const pids = spawnSync('ip', ['netns', 'pids', t.ns[h]], { encoding: 'utf8' }).stdout?.split('\n').filter(Boolean) ?? [];
    for (const pid of pids) {
      let tasks: string[], role: string;
      try {
        tasks = readdirSync(`/proc/${pid}/task`);
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const i = argv.findIndex((a) => a.endsWith('nmts.js'));
        role = i >= 0 ? argv[i + 1] ?? 'nmts' : argv[0]!.split('/').pop()!;
      } catch { continue; }
      for (const tid of tasks) {
        try {
          const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
          const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
          out.set(`${h}/${role}/${tid}`, Number(f[11]) + Number(f[12])); // utime + stime
        } catch { /* gone */ }
      }
    }
  }
  return out;
}

/** Context switches (voluntary: sleeps and wake-ups, and involuntary) of every thread in the topology's namespaces, by 'pid/tid'. */
function threadSwitches(t: Topo): Map<string, number> {
  const out = new Map<string, number>();
  for (const h of ['a', 'b', 'ca', 'cb'] as const) {
    const pids = spawnSync('ip', ['netns', 'pids', t.ns[h]], { encoding: 'utf8' }).stdout?.split('\n').filter(Boolean) ?? [];
    for (const pid of pids) {
      let tasks: string[];
      try { tasks = readdirSync(`/proc/${pid}/task`); } catch { continue; }
      for (const tid of tasks) {
        try {
          const st = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
          let n = 0;
          for (const m of st.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) n += Number(m[1]);
          out.set(`${pid}/${tid}`, n);
        } catch { /* gone */ }
      }
    }
  }
  return out;
}

/** Context switches between two samples of the threads present in both (one that ended has no difference). */
function switchesBetween(a: Map<string, number>, b: Map<string, number>): number {
  let sum = 0;
  for (const [k, v] of b) { const w = a.get(k); if (w !== undefined) sum += v - w; }
  return sum;
}

/** The busiest threads between two samples, as 'host/program/tid NN%' (of one CPU); their sum. */
function busiest(a: Map<string, number>, b: Map<string, number>, seconds: number): string {
  const hz = 100;
  const all = [...b].map(([k, v]) => [k, (v - (a.get(k) ?? 0)) / hz / seconds] as const);
  const sum = all.reduce((s, [, x]) => s + x, 0);
  return `${all.filter(([, x]) => x >= 0.02).sort((x, y) => y[1] - x[1]).map(([k, x]) => `${k} ${(x * 100).toFixed(0)}%`).join(', ')} (all threads: ${(sum * 100).toFixed(0)}%)`;
}

/** The offload counters of vx0 on both hosts (vale-ctl -v), for the notes. */
function vxCounters(t: Topo): string {
  const keys = ['tx_datagrams', 'tx_gso_sends', 'rx_frames', 'rx_trains', 'rx_merged', 'rx_socket_drops', 'tx_errors', 'tx_too_big'];
  return (['a', 'b'] as const).map((h) => {
    const r = spawnSync('ip', ['netns', 'exec', t.ns[h], process.execPath, NMTS, 'vale-ctl', '-v'], { encoding: 'utf8', env: t.env[h] });
    const w = (r.stdout ?? '').split('\n').find((l) => l.startsWith('vx0 vxlan '))?.split(' ') ?? [];
    return `host ${h.toUpperCase()} vx0 ${keys.map((k) => `${k} ${w[w.indexOf(k) + 1] ?? '?'}`).join(' ')}`;
  }).join('; ');
}

interface Mmm { min: number; med: number; max: number }
function mmm(xs: number[]): Mmm {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return { min: NaN, med: NaN, max: NaN };
  return { min: s[0]!, med: s[s.length >> 1]!, max: s[s.length - 1]! };
}
const f3 = (m: Mmm, scale: number, d: number): string => `${(m.min / scale).toFixed(d)} / ${(m.med / scale).toFixed(d)} / ${(m.max / scale).toFixed(d)}`;

const missing = (): string => {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const tool of ['ip', 'iperf3', 'ethtool']) if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
  return '';
};

export async function runVxlan(o: VxlanBenchOptions): Promise<number> {
  const why = missing();
  if (why) {
    process.stderr.write(`bench --vxlan: skipped: ${why}\n`);
    return 0;
  }
  const seconds = Math.max(1, Math.round(o.durationMs / 1000));
  const variants = o.variants ?? [''];
  const topos: Topo[] = [];
  const pps = new Map<Topo, number[]>(), bps = new Map<Topo, number[]>();
  try {
    topos.push(makeTopo('linux', 'l', ''));
    variants.forEach((v, i) => topos.push(makeTopo('netmap-ts', `n${i}`, v)));
    for (const t of topos) { pps.set(t, []); bps.set(t, []); }
    for (let r = 0; r < o.rounds; r++) {
      for (const t of topos) {
        const x = await smallFrames(t, seconds, r === 0 && t.kind === 'netmap-ts');
        pps.get(t)!.push(x);
        process.stderr.write(`round ${r + 1}/${o.rounds} ${t.label}: ${(x / 1e6).toFixed(3)} Mpps of 60-byte inner frames\n`);
      }
    }
    // TCP with the containers' default offloads: netmap-ts re-attaches their veths (the attachment
    // chooses AF_PACKET with a virtio-net header by the interface's offloads)
    for (const t of topos) if (t.kind === 'netmap-ts') offloadsOn(t);
    for (let r = 0; r < o.rounds; r++) {
      for (const t of topos) {
        const x = tcp(t, seconds);
        bps.get(t)!.push(x);
        process.stderr.write(`round ${r + 1}/${o.rounds} ${t.label}: TCP ${(x / 1e9).toFixed(2)} Gbit/s\n`);
      }
    }
    for (const t of topos) if (t.kind === 'netmap-ts') process.stderr.write(`${t.label}: ${vxCounters(t)}\n`);
  } finally {
    for (const t of topos) destroy(t);
  }
  const linux = topos[0]!;
  const rows: string[][] = [];
  const json: Record<string, unknown>[] = [];
  for (const t of topos) {
    for (const [what, m, scale, d, target] of [['60-byte inner frames', pps, 1e6, 3, 1.5], ['TCP (iperf3)', bps, 1e9, 2, 0.5]] as const) {
      const xs = m.get(t)!, ref = m.get(linux)!;
      const rate = mmm(xs), ratio = t === linux ? null : mmm(xs.map((x, i) => x / ref[i]!));
      rows.push([`${what}, ${t.label}`, f3(rate, scale, d), what.startsWith('TCP') ? 'Gbit/s' : 'Mpps', ratio ? f3(ratio, 1, 2) : '(reference)', ratio ? `>= ${target}x` : '']);
      json.push({ bench: 'vxlan', case: what, topology: t.label, seconds, rounds: o.rounds, unit: what.startsWith('TCP') ? 'bit/s' : 'pps', min: rate.min, median: rate.med, max: rate.max, ratio, target: ratio ? target : null });
    }
  }
  if (o.json) {
    for (const j of json) process.stdout.write(`${JSON.stringify(j)}\n`);
  } else {
    const head = ['case', 'min / median / max', 'unit', 'ratio to Linux (min / median / max)', 'target'];
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((b) => b[i]!.length)));
    const line = (cells: string[]): string => cells.map((s, i) => s.padEnd(w[i]!)).join(' | ').trimEnd();
    process.stdout.write(`${[line(head), w.map((n) => '-'.repeat(n)).join('-|-'), ...rows.map(line)].join('\n')}\n\n` +
      `${o.rounds} interleaved rounds of ${seconds} s per case; a ratio is taken within a round\n`);
  }
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const s = Number(process.argv[2] ?? 5), r = Number(process.argv[3] ?? 3);
  process.exitCode = await runVxlan({ durationMs: s * 1000, rounds: r, json: false, variants: ['', 'offloads=0'] });
}
