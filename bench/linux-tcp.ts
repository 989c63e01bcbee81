// TCP rows of `npm run bench -- --linux` (issue #10): iperf3 between two hosts, each in a network
// namespace of its own, through a forwarder in the benchmark's namespace, with the Linux bridge
// on the same hosts beside it in the same case, interleaved:
//
//   nmtsb<pid>h1: nmtsbF 10.203.0.1 ---- nmtsbE [nmtsb<pid>: forwarder] nmtsbG ---- nmtsbH 10.203.0.2 :nmtsb<pid>h2
//
// Each round runs iperf3 (-O 1: the first second, slow start, is left out) once through the
// Linux bridge (nmtsbE and nmtsbG enslaved to a bridge) and once through ours (nmts bridge, or
// the daemon with `vale-ctl -a` of both), the forwarder started for its run and stopped after
// it. Offloads: 'default' leaves the four veth ends as Linux made them (tx checksumming, TSO,
// GSO on: our forwarders then take AF_PACKET with virtio-net headers); 'off' turns them off on
// all four (`ethtool -K tx off tso off gso off`: our forwarders take AF_XDP). The row's Gbit/s
// is the median round of ours (iperf3's received payload); the notes give min/median/max of
// both and the ratio of the medians (also `vsBestPeer`).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CaseResult } from './cases.js';
import * as cmd from './linux-commands.js';
import type { LinuxCtx } from './linux-measure.js';
import { spawnInNs, type Proc } from './linux-proc.js';

export const E = 'nmtsbE', F = 'nmtsbF', G = 'nmtsbG', H = 'nmtsbH';
const BR = 'nmtsbbr1';
const IP_F = '10.203.0.1', IP_H = '10.203.0.2';
const MSS = 1448;

export type TcpForwarder = 'vale' | 'bridge';
export type Offloads = 'default' | 'off';

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

function inNs(ns: string, argv: string[]): void {
  execFileSync('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The host namespaces of the benchmark namespace `ns` (deleted by linux-ns.ts's teardown). */
export function tcpHostNamespaces(ns: string): [string, string] {
  return [`${ns}h1`, `${ns}h2`];
}

let made: string | null = null;

/** Create the two hosts and their veths (once per run). */
function hosts(ns: string): [string, string] {
  const [h1, h2] = tcpHostNamespaces(ns);
  if (made === ns) return [h1, h2];
  for (const h of [h1, h2]) {
    try { ip(['netns', 'del', h]); } catch { /* not there */ }
    ip(['netns', 'add', h]);
    for (const k of ['all', 'default']) inNs(h, ['sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
    ip(['-n', h, 'link', 'set', 'lo', 'up']);
  }
  ip(['-n', ns, 'link', 'add', E, 'type', 'veth', 'peer', 'name', F, 'netns', h1]);
  ip(['-n', ns, 'link', 'add', G, 'type', 'veth', 'peer', 'name', H, 'netns', h2]);
  ip(['-n', h1, 'addr', 'add', `${IP_F}/24`, 'dev', F]);
  ip(['-n', h2, 'addr', 'add', `${IP_H}/24`, 'dev', H]);
  for (const [n, d] of [[ns, E], [ns, G], [h1, F], [h2, H]] as const) ip(['-n', n, 'link', 'set', d, 'up']);
  made = ns;
  return [h1, h2];
}

/** Offloads of all four ends: as Linux made them, or off. */
function setOffloads(ns: string, h1: string, h2: string, o: Offloads): void {
  const v = o === 'default' ? 'on' : 'off';
  for (const [n, d] of [[ns, E], [ns, G], [h1, F], [h2, H]] as const) inNs(n, ['ethtool', '-K', d, 'tx', v, 'tso', v, 'gso', v]);
}

let iperfPort = 5501;

/** One iperf3 run h1 -> h2: payload bytes received and seconds. */
async function iperf(h1: string, h2: string, seconds: number): Promise<{ bytes: number; seconds: number }> {
  const port = String(iperfPort++);
  const limit = { limitS: seconds + 20 };
  const server = spawnInNs(h2, ['iperf3', '-s', '-1', '-B', IP_H, '-p', port, '--forceflush'], { ...limit, label: 'iperf3 -s' });
  try {
    await server.waitFor(/Server listening/, 5000);
    const client = spawnInNs(h1, ['iperf3', '-c', IP_H, '-p', port, '-t', String(seconds), '-O', '1', '-J', '--connect-timeout', '3000'], { ...limit, label: 'iperf3 -c' });
    await client.exited;
    let j: { error?: string; end?: { sum_received?: { bytes: number; seconds: number } } };
    try {
      j = JSON.parse(client.out()) as typeof j;
    } catch {
      throw new Error(`iperf3 printed no JSON: ${client.lastWords()}`);
    }
    if (j.error) throw new Error(`iperf3: ${j.error}`);
    const r = j.end?.sum_received;
    if (!r || !(r.seconds > 0)) throw new Error(`iperf3 printed no result: ${client.lastWords()}`);
    return { bytes: r.bytes, seconds: r.seconds };
  } finally {
    await server.stop(300);
  }
}

async function viaKernelBridge(ctx: LinuxCtx, h1: string, h2: string, s: number): Promise<{ bytes: number; seconds: number }> {
  ip(['-n', ctx.ns, 'link', 'add', BR, 'type', 'bridge']);
  try {
    ip(['-n', ctx.ns, 'link', 'set', E, 'master', BR]);
    ip(['-n', ctx.ns, 'link', 'set', G, 'master', BR]);
    ip(['-n', ctx.ns, 'link', 'set', BR, 'up']);
    return await iperf(h1, h2, s);
  } finally {
    ip(['-n', ctx.ns, 'link', 'del', BR]);
  }
}

async function viaOurs(ctx: LinuxCtx, fwd: TcpForwarder, h1: string, h2: string, s: number): Promise<{ bytes: number; seconds: number; backend: string }> {
  const limit = { limitS: s + 30 };
  if (fwd === 'bridge') {
    const b = spawnInNs(ctx.ns, cmd.nmts(['bridge', '-i', `netmap:${E}`, '-i', `netmap:${G}`]), { ...limit, label: 'nmts bridge' });
    try {
      await b.waitFor(/Ready to go/, 10_000);
      const backend = /backend (\S+)/.exec(b.err())?.[1] ?? '?';
      return { ...(await iperf(h1, h2, s)), backend };
    } finally {
      await b.stop(1000);
    }
  }
  const shm = join(ctx.dir, 'shm-tcp');
  mkdirSync(shm, { recursive: true });
  const env = { ...process.env, NMTS_SOCKET: join(ctx.dir, 'nmts-tcp.sock'), NMTS_SHM_DIR: shm };
  const sw = `valetcp${process.pid}`;
  const daemon: Proc = spawnInNs(ctx.ns, cmd.nmts(['daemon']), { ...limit, label: 'nmts daemon', env });
  try {
    await daemon.waitFor(/started:/, 5000);
    let backend = '?';
    for (const dev of [E, G]) {
      const p = spawnInNs(ctx.ns, cmd.nmts(['vale-ctl', '-v', '-a', `${sw}:${dev}`]), { limitS: 10, label: 'nmts vale-ctl', env });
      const e = await p.exited;
      if (e.code !== 0) throw new Error(`vale-ctl -a ${sw}:${dev}: ${p.lastWords()}`);
      backend = /backend (\S+)/.exec(p.out())?.[1] ?? backend;
    }
    return { ...(await iperf(h1, h2, s)), backend };
  } finally {
    await daemon.stop(1500);
  }
}

function stats(xs: number[]): { min: number; med: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, med: s[Math.floor(s.length / 2)]!, max: s[s.length - 1]! };
}

const fmt = (x: { min: number; med: number; max: number }): string => `${x.min.toFixed(2)} / ${x.med.toFixed(2)} / ${x.max.toFixed(2)}`;

/**
 * The row: `rounds` rounds (3 by default; NMTS_BENCH_TCP_ROUNDS), each of durationMs/rounds
 * (at least 3 s), Linux bridge then ours.
 */
export async function tcpRow(ctx: LinuxCtx, fwd: TcpForwarder, offloads: Offloads): Promise<CaseResult> {
  const [h1, h2] = hosts(ctx.ns);
  setOffloads(ctx.ns, h1, h2, offloads);
  const rounds = Math.max(1, Number(process.env.NMTS_BENCH_TCP_ROUNDS ?? 3) | 0);
  const s = Math.max(3, Math.round(ctx.durationMs / 1000 / rounds));
  const kb: number[] = [], ours: Array<{ bytes: number; seconds: number; gbps: number }> = [];
  let backend = '?';
  for (let r = 0; r < rounds; r++) {
    const k = await viaKernelBridge(ctx, h1, h2, s);
    kb.push((k.bytes * 8) / k.seconds / 1e9);
    const o = await viaOurs(ctx, fwd, h1, h2, s);
    backend = o.backend;
    ours.push({ ...o, gbps: (o.bytes * 8) / o.seconds / 1e9 });
  }
  const so = stats(ours.map((x) => x.gbps)), sk = stats(kb);
  const med = ours.find((x) => x.gbps === so.med)!;
  const name = fwd === 'vale' ? 'VALE (daemon, vale-ctl -a)' : 'nmts bridge';
  return {
    packets: Math.round(med.bytes / MSS),
    bytes: med.bytes,
    seconds: med.seconds,
    notes: `iperf3 TCP payload, offloads ${offloads}, ${rounds} rounds of ${s} s interleaved; ${name} (${backend}) min/med/max ${fmt(so)} Gbit/s; Linux bridge ${fmt(sk)}; ratio of medians ${(so.med / sk.med).toFixed(2)}; Mpps = payload / ${MSS}`,
    extra: {
      oursMinGbps: so.min, oursMedianGbps: so.med, oursMaxGbps: so.max, kbridgeMinGbps: sk.min, kbridgeMedianGbps: sk.med, kbridgeMaxGbps: sk.max,
      vsBestPeer: Number((so.med / sk.med).toPrecision(3)), bestPeer: 'Linux bridge (same run)', backend, offloads,
    },
  };
}
