// Rate accuracy of `nmts replay --pps` against tcpreplay's (the traffic-tools issue: "--pps
// from 1 kpps to 500 kpps within 1 % of the request, tcpreplay's error beside it").
//
// replay-pps-R: `nmts replay --pps R -L N -l 0 -K` of a 60-byte pcap into a VALE port, N =
// R x (warm-up + duration); a receiver process (tool-rx.ts) on the switch times the frames'
// arrival. tcpreplay-pps-R: `tcpreplay -i nmtst0 --pps R -L N -l 0 -K` on a veth pair
// inside a network namespace the case creates; the kernel counts on the peer (rx_packets,
// sampled by tool-ns-count.ts inside the namespace).
//
// The rate of each row is what the receiving side saw in the measured window (the
// duration, after the warm-up from the first frame): the least-squares slope of its count
// over time (tool-fit.ts); the Mpps column is that rate (`seconds` = packets / rate). The
// notes give its error against the request, and the sender's own "Rated: ... pps" over the
// whole run (the same formula in both tools: packets over the time from start to the last
// send) with its error. The tcpreplay rows repeat the nmts replay errors of the same rate, so the two sit
// side by side. Other load on the machine during a run is flagged CONTENDED in the notes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerCase, CASE_SLACK_MS, DEFAULT_WARMUP_MS, type CaseResult, type RunOptions } from './cases.js';
import { benchScript, errPct, ForeignLoad, foreignNote, installed, makePcap, nmts, replayStats, start } from './tool-kit.js';
import type { ToolRxReport } from './tool-rx.js';
import type { NsCountReport } from './tool-ns-count.js';

export const PPS_RATES = [1_000, 10_000, 100_000, 500_000];
const label = (r: number): string => (r >= 1000 && r % 1000 === 0 ? `${r / 1000}k` : String(r));
/** nmts replay's errors by rate, for the tcpreplay row that follows. */
const oursByRate = new Map<number, string>();

/** Time the case may still use for a child's deadline (ms). */
function budget(durationMs: number, opts?: RunOptions): number {
  return durationMs + warmup(opts) + CASE_SLACK_MS - 500;
}
const warmup = (opts?: RunOptions): number => opts?.warmupMs ?? DEFAULT_WARMUP_MS;
/** Packets to send: the rate for warm-up + duration. */
const packetsFor = (rate: number, durationMs: number, opts?: RunOptions): number => Math.round(rate * (durationMs + warmup(opts)) / 1000);

function lastJson<T>(out: string, what: string): T {
  const line = out.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`${what} printed no report: ${out.slice(0, 200)}`);
  return JSON.parse(line) as T;
}

async function oursAt(rate: number, durationMs: number, opts?: RunOptions): Promise<CaseResult> {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-bench-'));
  try {
    const file = makePcap(dir, 10_000);
    const n = packetsFor(rate, durationMs, opts);
    const sw = `valerr${process.pid}`;
    const rx = benchScript('./tool-rx.js', [`${sw}:rx`, String(budget(durationMs, opts)), '300', String(warmup(opts))]);
    await rx.says('ready');
    const load = new ForeignLoad();
    load.start();
    const r = await nmts(['replay', '-i', `${sw}:tx`, '--pps', String(rate), '-L', String(n), '-l', '0', '-K', '-q', file]);
    const other = load.stop();
    const got = await rx.exited;
    if (r.code !== 0) throw new Error(`replay failed: ${r.err.trim().split('\n').pop()}`);
    const sent = replayStats(r.out);
    const rep = lastJson<ToolRxReport>(got.out, 'the receiver');
    if (!(rep.pps > 0)) throw new Error(`the receiver got ${rep.packets} frames`);
    const rxPps = rep.pps;
    const e = errPct(rxPps, rate), eRated = errPct(sent.pps, rate);
    oursByRate.set(rate, `nmts replay: receiver ${e}, Rated ${eRated}`);
    const drops = rep.rxDrops ? ` (VALE dropped ${rep.rxDrops} for a full ring, ${rep.windowDrops} in the window)` : '';
    return {
      packets: rep.windowPackets, bytes: rep.windowPackets * 60, seconds: rep.windowPackets / rxPps,
      notes: `--pps ${rate}: receiver ${rxPps.toFixed(1)} pps (${e}); replay's Rated ${sent.pps} pps (${eRated}); ${rep.packets}/${sent.packets} received${drops}${foreignNote(other)}`,
      extra: {
        otherCpuPct: other, targetPps: rate, rxPps, rxErrorPct: (rxPps / rate - 1) * 100, ratedPps: sent.pps, ratedErrorPct: (sent.pps / rate - 1) * 100,
        sent: sent.packets, received: rep.packets, windowSeconds: rep.seconds, rxDrops: rep.rxDrops, windowDrops: rep.windowDrops,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

/** A namespace with a veth pair nmtst0 <-> nmtst1, both up, without IPv6 (no stray frames). */
function vethNamespace(ns: string): void {
  ip(['netns', 'add', ns]);
  for (const k of ['all', 'default']) spawnSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
  ip(['-n', ns, 'link', 'add', 'nmtst0', 'type', 'veth', 'peer', 'name', 'nmtst1']);
  ip(['-n', ns, 'link', 'set', 'nmtst0', 'up']);
  ip(['-n', ns, 'link', 'set', 'nmtst1', 'up']);
}

/** Why the tcpreplay rows cannot run here, or null. */
function tcpreplayMissing(): string | null {
  if (!installed('tcpreplay')) return 'tcpreplay is not installed (apt-get install tcpreplay)';
  if (process.getuid?.() !== 0) return 'needs root (it creates a network namespace with a veth pair)';
  if (!installed('ip', ['-V'])) return 'needs ip (iproute2)';
  return null;
}

async function tcpreplayAt(rate: number, durationMs: number, opts?: RunOptions): Promise<CaseResult> {
  const missing = tcpreplayMissing();
  if (missing) return { packets: 0, bytes: 0, seconds: 1, notes: `SKIPPED: ${missing}`, extra: { skipped: missing } };
  const dir = mkdtempSync(join(tmpdir(), 'nmts-bench-'));
  const ns = `nmtstrp${process.pid}`;
  try {
    const file = makePcap(dir, 10_000);
    const n = packetsFor(rate, durationMs, opts);
    vethNamespace(ns);
    const counter = benchScript('./tool-ns-count.js', ['nmtst1', String(budget(durationMs, opts)), '300', String(warmup(opts))], ['ip', 'netns', 'exec', ns]);
    await counter.says('ready');
    const load = new ForeignLoad();
    load.start();
    const r = await start('ip', ['netns', 'exec', ns, 'tcpreplay', '-i', 'nmtst0', `--pps=${rate}`, `--limit=${n}`, '--loop=0', '-K', '-q', file]).exited;
    const other = load.stop();
    const got = await counter.exited;
    if (r.code !== 0) throw new Error(`tcpreplay failed: ${r.err.trim().split('\n').pop()}`);
    const sent = replayStats(r.out);
    const rep = lastJson<NsCountReport>(got.out, 'the namespace counter');
    if (!(rep.pps > 0)) throw new Error(`the veth peer counted ${rep.packets} frames`);
    const rxPps = rep.pps;
    const e = errPct(rxPps, rate), eRated = errPct(sent.pps, rate);
    const ours = oursByRate.get(rate);
    return {
      packets: rep.windowPackets, bytes: rep.windowPackets * 60, seconds: rep.windowPackets / rxPps,
      notes: `--pps=${rate}: veth peer ${rxPps.toFixed(1)} pps (${e}); tcpreplay's Rated ${sent.pps} pps (${eRated}); ${rep.packets}/${sent.packets} counted by the kernel${rep.rxDropped ? `, ${rep.rxDropped} rx_dropped` : ''}${foreignNote(other)}${ours ? ` | ${ours}` : ''}`,
      extra: {
        otherCpuPct: other, targetPps: rate, rxPps, rxErrorPct: (rxPps / rate - 1) * 100, ratedPps: sent.pps, ratedErrorPct: (sent.pps / rate - 1) * 100,
        sent: sent.packets, received: rep.packets, windowSeconds: rep.seconds, rxDropped: rep.rxDropped,
      },
    };
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const rate of PPS_RATES) {
  registerCase({
    name: `replay-pps-${label(rate)}`, frameLen: 60, kind: 'tool',
    description: `nmts replay --pps ${rate} into a VALE port for warm-up + duration; rate timed by a receiver process (notes: error vs the request)`,
    run: (ms, o) => oursAt(rate, ms, o),
  });
  registerCase({
    name: `tcpreplay-pps-${label(rate)}`, frameLen: 60, kind: 'tool',
    description: `tcpreplay --pps=${rate} for warm-up + duration on a veth pair in a namespace nmtstrp*; rate counted by the kernel on the peer (notes: error, beside nmts replay's)`,
    run: (ms, o) => tcpreplayAt(rate, ms, o),
  });
}
