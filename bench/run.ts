/**
 * Benchmark runner: `npm run bench` / `node dist/bench/run.js`.
 *
 *   node dist/bench/run.js [--json] [--duration S] [--warmup S]
 *                          [--only case1,case2] [--list] [--help]
 *
 * Cases run one after another, never concurrently. Progress goes to stderr;
 * stdout gets the table (or, with --json, one JSON object per case per line
 * and nothing else).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import {
  CASE_SLACK_MS,
  DEFAULT_WARMUP_MS,
  listCases,
  messagePortBaseline,
  udpBaseline,
  type BenchCase,
  type CaseResult,
} from './cases.js';
// Registration order = run order. Baselines first so that every later row
// (and every --json line, printed as soon as its case ends) can be compared
// with them.
import './peer-messageport.js';
import './peer-udp.js';
import './netmap-cases.js';
import './xproc-cases.js';
import './limit.js';
import './tool-cases.js';
import './offload-cases.js';
import { isVnfCase } from './vnf-cases.js';
import { runRef } from './ref.js';
import { runVms } from './vms.js';
import { runVxlan } from './vxlan.js';
import { isLinuxCase, prepareLinux, PeerMissing } from './linux-cases.js';
import { measureStartupMs } from './startup.js';

const USAGE = `usage: node dist/bench/run.js [options]

  --json            one JSON line per case on stdout, nothing else
  --duration S      measured seconds per case (default 5)
  --warmup S        warm-up seconds before each measurement (default ${DEFAULT_WARMUP_MS / 1000})
  --only a,b        run only these cases (see --list)
  --tools           the traffic tools' cases (replay, filter), beside the baselines
  --linux           only the Linux-interface cases (root): peers (tcpreplay, trafgen,
                    tcpdump, DPDK AF_XDP, npm cap/pcap, XDP-generated frames) and nmts
                    on veth pairs in a network namespace of their own
  --vnf             the network functions (nmts vnf udp-echo, firewall, l4lb) beside a
                    socket echo server, nftables and IPVS, with the ratios of issue 15's
                    targets (veth rows need root; missing tools skip with a note)
  --ref             netmap-ts beside C loops of the same algorithms (bench/ref/ref.c, built
                    with the system's cc -O2; skipped with a note without one), interleaved
                    C, JS, C, JS..., ratios with min/median/max (--only picks pairs)
  --rounds N        rounds of --ref and --vxlan (default 5), of --vms (default 1: with more,
                    every row in turn per round, min/median/max of rates and ratios)
  --vms             issue #11's VM rows (root, dpdk-testpmd; QEMU and the test guest for the
                    guest rows): netmap:vm1 and vm1 through VALE beside DPDK's net_vhost with
                    the same virtio_user front end, ratios as the targets name them (bench/vms.ts)
  --vxlan           issue #13's VXLAN rows (root, iperf3): 60-byte inner frames and TCP between
                    two netmap-ts hosts (VALE + VXLAN port) beside the same topology built from
                    Linux vxlan + bridge devices (netmap-ts with its default offloads=1, UDP
                    GSO and TCP merging, and with offloads=0), --rounds interleaved rounds,
                    min/median/max and the ratios against the targets (bench/vxlan.ts)
  --pin             pin each worker of the netmap cases to a CPU (worker i to CPU i mod n)
  --opt-status      (under node --allow-natives-syntax) the sender's V8 optimization status
                    of the forwarding functions, in the notes
  --list            list the cases and exit
  --help            this text

Cases run one at a time. Mpps counts frames received/forwarded in the
measured window; Gbit/s = frame bytes (no CRC) * 8 / 1e9 / s.
"vs messageport" / "vs udp" = this row's Mpps divided by the Mpps of
messageport-<len> / udp-loopback-<len> for the same frame length;
"vs postMessage/frame" divides by messageport-frame-60 (one postMessage per frame).`;

interface Options {
  json: boolean;
  durationMs: number;
  warmupMs: number;
  only?: string[];
  /** --tools: the traffic tools' cases (kind 'tool'), with the baselines they compare to. */
  tools?: boolean;
  /** --linux: only the Linux-interface cases (bench/linux-cases.ts). */
  linux?: boolean;
  /** --vnf: the network functions' rows (bench/vnf-cases.ts). */
  vnf?: boolean;
  /** --ref: the C-reference pairs (bench/ref.ts), interleaved for `rounds` rounds. */
  ref?: boolean;
  rounds: number;
  /** --rounds was given (--vms runs one round unless it is). */
  roundsGiven?: boolean;
  /** --vxlan: the VXLAN overlay rows (bench/vxlan.ts). */
  vxlan?: boolean;
  /** --vms: the VM rows (bench/vms.ts). */
  vms?: boolean;
  pin?: boolean;
  list: boolean;
  help: boolean;
}

class UsageError extends Error {}

function parseSeconds(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || v === '' || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`${flag} needs a number of seconds, got ${JSON.stringify(v)}`);
  }
  return n;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { json: false, durationMs: 5000, warmupMs: DEFAULT_WARMUP_MS, rounds: 5, list: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    let val: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      val = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const next = (): string | undefined => val ?? argv[++i];
    switch (a) {
      case '--json':
        o.json = true;
        break;
      case '--duration': {
        const s = parseSeconds(a, next());
        if (s <= 0) throw new UsageError('--duration must be > 0');
        o.durationMs = s * 1000;
        break;
      }
      case '--warmup':
        o.warmupMs = parseSeconds(a, next()) * 1000;
        break;
      case '--only': {
        const v = next();
        if (!v) throw new UsageError('--only needs a comma-separated list of cases');
        o.only = v.split(',').map((s) => s.trim()).filter(Boolean);
        break;
      }
      case '--tools':
        o.tools = true;
        break;
      case '--linux':
        o.linux = true;
        break;
      case '--vnf':
        o.vnf = true;
        break;
      case '--ref':
        o.ref = true;
        break;
      case '--vms':
        o.vms = true;
        break;
      case '--vxlan':
        o.vxlan = true;
        break;
      case '--pin':
        o.pin = true;
        break;
      case '--opt-status':
        if (!process.execArgv.includes('--allow-natives-syntax')) throw new UsageError('--opt-status needs node --allow-natives-syntax dist/bench/run.js ...');
        break;
      case '--rounds': {
        const n = Number(next());
        if (!Number.isInteger(n) || n < 1) throw new UsageError('--rounds needs a whole number >= 1');
        o.rounds = n;
        o.roundsGiven = true;
        break;
      }
      case '--list':
        o.list = true;
        break;
      case '--help':
      case '-h':
        o.help = true;
        break;
      default:
        throw new UsageError(`unknown argument ${JSON.stringify(argv[i])}`);
    }
  }
  return o;
}

// ------------------------------------------------------------------ results

interface Row {
  c: BenchCase;
  result?: CaseResult;
  error?: string;
  mpps: number | null;
  gbps: number | null;
  vsMessageport: number | null;
  vsFrame: number | null;
  vsUdp: number | null;
  /** --linux: a peer that is not installed; not a failure */
  skipped?: boolean;
}

/** Round to `digits` significant digits (keeps small ratios like 0.0012 readable). */
function sig(x: number, digits: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(digits));
}

function checkResult(r: unknown): CaseResult {
  const v = r as CaseResult | undefined;
  if (!v || typeof v !== 'object') throw new Error('case returned no result');
  for (const k of ['packets', 'bytes', 'seconds'] as const) {
    if (typeof v[k] !== 'number' || !Number.isFinite(v[k]) || v[k] < 0) {
      throw new Error(`case returned invalid ${k}: ${String(v[k])}`);
    }
  }
  if (v.seconds <= 0) throw new Error('case returned a zero-length window');
  return v;
}

async function runOne(c: BenchCase, o: Options): Promise<CaseResult> {
  const slack = c.slackMs ?? CASE_SLACK_MS;
  // start-up of the case's processes, measured now (a loaded machine starts node slowly)
  const starts = c.processStarts ?? 0;
  const startup = starts > 0 ? 2 * starts * await measureStartupMs() : 0;
  const limit = o.durationMs + o.warmupMs + slack + startup;
  const s = (ms: number): string => (ms / 1000).toFixed(1);
  const budget = `warm-up ${s(o.warmupMs)} s + duration ${s(o.durationMs)} s + slack ${s(slack)} s${starts ? ` + start-up of ${starts} process(es) ${s(startup)} s` : ''}`;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`timeout: no result after ${s(limit)} s (${budget})`)), limit);
  });
  try {
    // Promise.resolve().then(): a case that throws synchronously still ends up as a rejection.
    const p = Promise.resolve().then(() => c.run(o.durationMs, { warmupMs: o.warmupMs, pin: o.pin }));
    return checkResult(await Promise.race([p, timeout]));
  } finally {
    clearTimeout(timer);
  }
}

function ratio(row: Row, rows: Map<string, Row>, baseline: string): number | null {
  const b = rows.get(baseline);
  if (row.mpps === null || !b || b.mpps === null || b.mpps === 0) return null;
  return row.mpps / b.mpps;
}

function jsonLine(row: Row, o: Options): string {
  const r = row.result;
  const obj: Record<string, unknown> = {
    case: row.c.name,
    mpps: row.mpps === null ? null : sig(row.mpps, 5),
    gbps: row.gbps === null ? null : sig(row.gbps, 5),
    frameLen: row.c.frameLen,
    packets: r?.packets ?? null,
    bytes: r?.bytes ?? null,
    seconds: r ? sig(r.seconds, 6) : null,
    gcCount: r?.gcCount ?? null,
    vsMessageport: row.vsMessageport === null ? null : sig(row.vsMessageport, 4),
    vsMessageportFrame: row.vsFrame === null ? null : sig(row.vsFrame, 4),
    vsUdp: row.vsUdp === null ? null : sig(row.vsUdp, 4),
    durationS: o.durationMs / 1000,
    notes: r?.notes ?? null,
  };
  if (r?.extra) {
    for (const [k, v] of Object.entries(r.extra)) if (!(k in obj)) obj[k] = v;
  }
  if (row.error !== undefined) obj.error = row.error;
  if (row.skipped) obj.skipped = true;
  return JSON.stringify(obj);
}

// -------------------------------------------------------------------- table

function fmtRate(x: number | null): string {
  if (x === null) return '-';
  if (x >= 100) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

function fmtRatio(x: number | null): string {
  if (x === null) return '-';
  if (x >= 100) return `${x.toFixed(0)}x`;
  if (x >= 10) return `${x.toFixed(1)}x`;
  if (x >= 0.1) return `${x.toFixed(2)}x`;
  return `${x.toPrecision(2)}x`;
}

function notes(r: Row): string {
  if (r.error === undefined) return r.result?.notes ?? '';
  return r.skipped ? r.error : `ERROR: ${r.error}`;
}

function extraRatio(r: Row, key: string): number | null {
  const v = r.result?.extra?.[key];
  return typeof v === 'number' ? v : null;
}

function fmtMeets(r: Row): string {
  const m = r.result?.extra?.meets;
  return m === true ? 'yes' : m === false ? 'NO' : '-';
}

function table(rows: Row[], linux = false, vnf = false): string {
  if (vnf) return vnfTable(rows);
  // --linux rows compare with the Linux peers of their section (bench/linux-cases.ts)
  const head = linux
    ? ['case', 'Mpps', 'Gbit/s', 'vs best peer', 'vs DPDK', 'notes']
    : ['case', 'Mpps', 'Gbit/s', 'vs messageport', 'vs postMessage/frame', 'vs udp', 'GCs', 'notes'];
  const right = head.map((h) => h !== 'case' && h !== 'notes');
  const body = rows.map((r) => linux
    ? [r.c.name, fmtRate(r.mpps), fmtRate(r.gbps), fmtRatio(extraRatio(r, 'vsBestPeer')), fmtRatio(extraRatio(r, 'vsDpdk')), notes(r)]
    : [
      r.c.name,
      fmtRate(r.mpps),
      fmtRate(r.gbps),
      fmtRatio(r.vsMessageport),
      fmtRatio(r.vsFrame),
      fmtRatio(r.vsUdp),
      r.result?.gcCount === undefined ? '-' : String(r.result.gcCount),
      notes(r),
    ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((s, i) => (i === cells.length - 1 ? s : right[i] ? s.padStart(widths[i]!) : s.padEnd(widths[i]!)))
      .join(' | ')
      .trimEnd();
  const sep = widths.map((w, i) => '-'.repeat(i === widths.length - 1 ? head[i]!.length : w)).join('-|-');
  return [line(head), sep, ...body.map(line)].join('\n');
}

/** --vnf: each row against issue 15's target (a ratio to another row, or Mpps). */
function vnfTable(rows: Row[]): string {
  const head = ['case', 'Mpps', 'Gbit/s', 'vs', 'ratio', 'target', 'met', 'notes'];
  const right = head.map((h) => h === 'Mpps' || h === 'Gbit/s' || h === 'ratio');
  const body = rows.map((r) => {
    const x = r.result?.extra ?? {};
    const also = typeof x.vsAlso === 'string' ? `; vs ${x.vsAlso}: ${fmtRatio(typeof x.ratioAlso === 'number' ? x.ratioAlso : null)}` : '';
    return [r.c.name, fmtRate(r.mpps), fmtRate(r.gbps), typeof x.vs === 'string' ? x.vs : '-', fmtRatio(extraRatio(r, 'ratio')),
      typeof x.target === 'string' ? x.target : '-', r.result ? fmtMeets(r) : '-', `${notes(r)}${also}`];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((s, i) => (i === cells.length - 1 ? s : right[i] ? s.padStart(widths[i]!) : s.padEnd(widths[i]!))).join(' | ').trimEnd();
  const sep = widths.map((w, i) => '-'.repeat(i === widths.length - 1 ? head[i]!.length : w)).join('-|-');
  return [line(head), sep, ...body.map(line)].join('\n');
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown CPU';
}

function machine(o: Options): string {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return [
    `machine: ${cpuModel()}, ${cores} cores, Node ${process.version} (${process.platform}/${process.arch})`,
    `date:    ${new Date().toISOString()}`,
    `runs:    ${o.warmupMs / 1000} s warm-up + ${o.durationMs / 1000} s measured per case, cases run one at a time`,
  ].join('\n');
}

// --------------------------------------------------------------------- main

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`bench: ${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw e;
  }
  if (o.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (o.vxlan) return runVxlan({ durationMs: o.durationMs, rounds: o.rounds, json: o.json, variants: ['', 'offloads=0'] });
  if (o.vms) return runVms({ durationMs: o.durationMs, warmupMs: o.warmupMs, json: o.json, only: o.only, rounds: o.roundsGiven ? o.rounds : 1 });
  if (o.ref) return runRef({ rounds: o.rounds, durationMs: o.durationMs, warmupMs: o.warmupMs, only: o.only, json: o.json, pin: o.pin });
  const all = listCases();
  if (o.list) {
    const w = Math.max(...all.map((c) => c.name.length));
    for (const c of all) {
      process.stdout.write(`${c.name.padEnd(w)}  ${String(c.frameLen).padStart(4)} B  ${(c.kind ?? 'other').padEnd(8)}  ${c.description}\n`);
    }
    return 0;
  }
  let selected = o.linux
    ? all.filter((c) => isLinuxCase(c.name))
    : o.vnf ? all.filter((c) => isVnfCase(c.name))
      : o.tools ? all.filter((c) => c.kind === 'tool' || c.kind === 'baseline') : all.filter((c) => c.kind !== 'tool' && c.kind !== 'vnf' && !isLinuxCase(c.name));
  if (o.only) {
    const unknown = o.only.filter((n) => !all.some((c) => c.name === n));
    if (unknown.length) {
      process.stderr.write(`bench: unknown case(s): ${unknown.join(', ')}\nknown: ${all.map((c) => c.name).join(', ')}\n`);
      return 2;
    }
    const want = new Set(o.only);
    selected = all.filter((c) => want.has(c.name)); // registry order: baselines first (--only wins over --tools)
  }
  if (selected.length === 0) {
    process.stderr.write('bench: no cases to run\n');
    return 2;
  }

  if (selected.some((c) => isLinuxCase(c.name))) await prepareLinux((s) => process.stderr.write(s));

  const rows = new Map<string, Row>();
  let failures = 0;
  const est = selected.length * (o.durationMs + o.warmupMs) / 1000;
  process.stderr.write(`bench: ${selected.length} case(s), about ${Math.ceil(est)} s\n`);
  for (const [i, c] of selected.entries()) {
    process.stderr.write(`[${i + 1}/${selected.length}] ${c.name} ... `);
    const row: Row = { c, mpps: null, gbps: null, vsMessageport: null, vsFrame: null, vsUdp: null };
    try {
      const r = await runOne(c, o);
      row.result = r;
      row.mpps = r.packets / r.seconds / 1e6;
      row.gbps = (r.bytes * 8) / 1e9 / r.seconds;
      process.stderr.write(`${fmtRate(row.mpps)} Mpps, ${fmtRate(row.gbps)} Gbit/s\n`);
    } catch (e) {
      row.error = e instanceof Error ? e.message : String(e);
      row.skipped = e instanceof PeerMissing;
      if (!row.skipped) failures++;
      process.stderr.write(`${row.skipped ? '' : 'ERROR: '}${row.error}\n`);
    }
    rows.set(c.name, row);
    row.vsMessageport = ratio(row, rows, messagePortBaseline(c.frameLen));
    row.vsUdp = ratio(row, rows, udpBaseline(c.frameLen));
    row.vsFrame = c.frameLen === 60 ? ratio(row, rows, 'messageport-frame-60') : null;
    if (o.json) process.stdout.write(`${jsonLine(row, o)}\n`);
    // Let terminated workers and closed sockets go away before the next case.
    await new Promise((r) => setTimeout(r, 200));
  }

  if (o.json) {
    process.stderr.write(`${machine(o)}\n`);
  } else {
    process.stdout.write(`${table([...rows.values()], selected.every((c) => isLinuxCase(c.name)), selected.every((c) => isVnfCase(c.name)))}\n\n${machine(o)}\n`);
  }
  return failures ? 1 : 0;
}

process.on('unhandledRejection', (e) => {
  process.stderr.write(`bench: unhandled rejection: ${e instanceof Error ? e.stack : String(e)}\n`);
});

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
