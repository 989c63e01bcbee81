// `nmts tlem` command line and nmreplay's -B/-D/-L grammar (netmap apps/nmreplay, apps/tlem).
//   -B  bps | constant,bps | ether,bps          suffixes k/K m/M g/G = 10^3 / 10^6 / 10^9
//   -D  dt | constant,dt | uniform,dmin,dmax | exp,dmin,davg   suffixes s m u n (no suffix: seconds)
//   -L  x | plr,x | ber,x                       probabilities in [0, 1]
//   -R  p,t | const,p,t                         tlem's reordering: hold a packet for t with probability p
//   -Q  bytes[k|m|g] (tlem: k/m/g = 2^10/2^20/2^30) | Np (ours: packets the queue stores)
// -B/-D/-L/-Q/-R given once apply to both directions, given twice: first A->B, then B->A.
// -Q's default is tlem's: 50000 bytes when -B limits the bandwidth, else no byte limit.

import { linkWait } from '../common/link-wait.js';

export class TlemUsageError extends Error {
  override name = 'TlemUsageError';
}

/** Link bandwidth: bits per second (0 = unlimited); `ether` adds 160 + 32 framing bits per frame. */
export interface BwSpec { bps: number; ether: boolean }
/** Delay in milliseconds: constant `a`; uniform in [a, b]; exponential with minimum a and mean b. */
export interface DelaySpec { kind: 'constant' | 'uniform' | 'exp'; a: number; b: number }
/** Loss: per-packet probability (plr) or bit error rate (ber: p = 1 - (1 - ber)^bits). */
export interface LossSpec { kind: 'plr' | 'ber'; x: number }
/** Reordering (tlem's -R const,p,t): with probability p a packet is held for holdMs, then re-enters. */
export interface ReorderSpec { p: number; holdMs: number }
/** -Q: a byte limit of the bandwidth queue (tlem's meaning) or a number of packets stored (`Np`). */
export type QueueSpec = { bytes: number } | { packets: number };

export interface DirectionConfig {
  bw: BwSpec;
  delay: DelaySpec;
  loss: LossSpec;
  /** Packets the queue stores (bandwidth queue and delay line); arrivals beyond are dropped. */
  qsize: number;
  /**
   * tlem's -Q: bytes waiting for the emulated wire (not yet serialized) above which arrivals
   * are dropped (checked before adding, so the queue may overflow by one packet); 0 = no limit.
   */
  qbytes: number;
  /** -R: reordering; p = 0 is none. */
  reorder: ReorderSpec;
}

export interface TlemCliOptions {
  a: string;
  b: string;
  /** [A->B, B->A] */
  dirs: [DirectionConfig, DirectionConfig];
  batch: number;
  seed: number;
  durationSec: number;
  verbose: boolean;
  quiet: boolean;
  help: boolean;
  /** -w: seconds to wait before forwarding; undefined = tlem's default (see resolveTlemWait). */
  waitSec: number | undefined;
}

export const DEFAULT_QSIZE = 1024;
export const DEFAULT_BATCH = 1024;
/** tlem's queue size when -B is given and -Q is not (its bandwidth configs' def_qsize). */
export const BW_DEFAULT_QBYTES = 50000;
/** Most packets the queue may store (-Q Np, or derived from a large -Q in bytes). */
export const MAX_QSIZE = 1 << 20;
export const ETHER_FRAMING_BITS = 160 + 32;

export function defaultDirection(): DirectionConfig {
  return {
    bw: { bps: 0, ether: false }, delay: { kind: 'constant', a: 0, b: 0 }, loss: { kind: 'plr', x: 0 },
    qsize: DEFAULT_QSIZE, qbytes: 0, reorder: { p: 0, holdMs: 0 },
  };
}

const NUM = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?/;

/** Number with an optional suffix from `units` (suffix -> multiplier; '' = no suffix). */
function numWithUnit(what: string, s: string, units: Record<string, number>): number {
  const m = NUM.exec(s.trim());
  if (!m) throw new TlemUsageError(`${what}: '${s}' is not a number`);
  const suffix = s.trim().slice(m[0].length);
  const mul = units[suffix];
  if (mul === undefined) throw new TlemUsageError(`${what}: unknown suffix '${suffix}' in '${s}' (use ${Object.keys(units).filter((k) => k).join('/')})`);
  const v = Number(m[0]) * mul;
  if (!Number.isFinite(v)) throw new TlemUsageError(`${what}: '${s}' is out of range`);
  return v;
}

const BW_UNITS: Record<string, number> = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 };
/** Time units, to milliseconds. No suffix = seconds (nmreplay's parse_time). */
const TIME_UNITS: Record<string, number> = { '': 1e3, s: 1e3, m: 1, u: 1e-3, n: 1e-6 };

export function parseBandwidth(arg: string): BwSpec {
  const parts = arg.split(',');
  let ether = false, v: string;
  if (parts.length === 1) v = parts[0]!;
  else if (parts.length === 2 && (parts[0] === 'constant' || parts[0] === 'ether')) { ether = parts[0] === 'ether'; v = parts[1]!; }
  else if (parts[0] === 'real') throw new TlemUsageError(`-B '${arg}': 'real' (trace timestamps) applies to nmreplay only`);
  else throw new TlemUsageError(`-B '${arg}': expected bps, constant,bps or ether,bps`);
  const bps = numWithUnit(`-B '${arg}'`, v, BW_UNITS);
  return { bps, ether };
}

export function parseDelay(arg: string): DelaySpec {
  const parts = arg.split(',');
  const t = (s: string): number => numWithUnit(`-D '${arg}'`, s, TIME_UNITS);
  if (parts.length === 1) return { kind: 'constant', a: t(parts[0]!), b: 0 };
  const [kind, ...rest] = parts;
  if (kind === 'constant' && rest.length === 1) return { kind, a: t(rest[0]!), b: 0 };
  if ((kind === 'uniform' || kind === 'exp') && rest.length === 2) {
    const a = t(rest[0]!), b = t(rest[1]!);
    if (b < a) throw new TlemUsageError(`-D '${arg}': the second value must not be below the first (${kind === 'uniform' ? 'dmin,dmax' : 'dmin,davg'})`);
    return { kind, a, b };
  }
  throw new TlemUsageError(`-D '${arg}': expected dt, constant,dt, uniform,dmin,dmax or exp,dmin,davg`);
}

export function parseLoss(arg: string): LossSpec {
  const parts = arg.split(',');
  let kind: 'plr' | 'ber' = 'plr', v: string;
  if (parts.length === 1) v = parts[0]!;
  else if (parts.length === 2 && (parts[0] === 'plr' || parts[0] === 'ber')) { kind = parts[0]; v = parts[1]!; }
  else throw new TlemUsageError(`-L '${arg}': expected x, plr,x or ber,x`);
  const x = numWithUnit(`-L '${arg}'`, v, { '': 1 });
  if (x > 1) throw new TlemUsageError(`-L '${arg}': a probability must be in [0, 1]`);
  return { kind, x };
}

/** tlem's parse_qsize: binary multiples. */
const QSIZE_UNITS: Record<string, number> = { '': 1, k: 1024, K: 1024, m: 1 << 20, M: 1 << 20, g: 1 << 30, G: 1 << 30 };

/** -Q: `bytes[k|m|g]` (tlem: 0 = no limit) or `Np` packets stored (ours). */
export function parseQueue(arg: string): QueueSpec {
  const pk = /^(\d+)p$/.exec(arg.trim());
  if (pk) {
    const n = Number(pk[1]);
    if (n < 1 || n > MAX_QSIZE) throw new TlemUsageError(`-Q '${arg}': a packet count in 1..${MAX_QSIZE} is needed`);
    return { packets: n };
  }
  const b = numWithUnit(`-Q '${arg}'`, arg, QSIZE_UNITS);
  if (!Number.isSafeInteger(Math.floor(b))) throw new TlemUsageError(`-Q '${arg}': out of range`);
  return { bytes: Math.floor(b) };
}

/** -R: `p,t` or `const,p,t` (tlem): probability p in [0, 1], hold time t as -D's times. */
export function parseReorder(arg: string): ReorderSpec {
  const parts = arg.split(',');
  if (parts[0] === 'const') parts.shift();
  if (parts.length !== 2) throw new TlemUsageError(`-R '${arg}': expected p,t or const,p,t (probability, hold time)`);
  const p = numWithUnit(`-R '${arg}'`, parts[0]!, { '': 1 });
  if (p > 1) throw new TlemUsageError(`-R '${arg}': a probability must be in [0, 1]`);
  const holdMs = numWithUnit(`-R '${arg}'`, parts[1]!, TIME_UNITS);
  return { p, holdMs };
}

/** Packets stored by default for a byte limit: room for the limit in 64-byte frames, at least DEFAULT_QSIZE. */
export function slotsForBytes(qbytes: number): number {
  return Math.min(MAX_QSIZE, Math.max(DEFAULT_QSIZE, Math.ceil(qbytes / 64) + DEFAULT_QSIZE));
}

/** tlem's -w default (tlem.8): 2 s. */
export const TLEM_LINK_WAIT = 2;

/** -w, else 2 s when an interface (netmap:IF) is involved; software ports need none. */
export function resolveTlemWait(o: Pick<TlemCliOptions, 'waitSec' | 'a' | 'b'>): number {
  return linkWait(o.waitSec, [o.a, o.b], TLEM_LINK_WAIT);
}

function int(flag: string, v: string, min: number, max: number): number {
  const n = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new TlemUsageError(`${flag} '${v}': an integer in ${min}..${max} is needed`);
  return n;
}

export function parseTlemArgs(argv: string[]): TlemCliOptions {
  const ports: string[] = [];
  const bw: BwSpec[] = [], delay: DelaySpec[] = [], loss: LossSpec[] = [], qs: QueueSpec[] = [], ro: ReorderSpec[] = [];
  const o: TlemCliOptions = {
    a: '', b: '', dirs: [defaultDirection(), defaultDirection()], batch: DEFAULT_BATCH, seed: 1, durationSec: 0,
    verbose: false, quiet: false, help: false, waitSec: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') { o.help = true; continue; }
    if (a === '-v') { o.verbose = true; continue; }
    if (a === '-q') { o.quiet = true; continue; }
    let flag: string, value: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      flag = eq < 0 ? a : a.slice(0, eq);
      if (flag !== '--seed' && flag !== '--duration') throw new TlemUsageError(`unknown option '${flag}'`);
      value = eq < 0 ? argv[++i] : a.slice(eq + 1);
    } else if (/^-[iBDLQRbw]/.test(a)) {
      flag = a.slice(0, 2);
      value = a.length > 2 ? a.slice(2) : argv[++i];
    } else if (a.startsWith('-')) {
      throw new TlemUsageError(`unknown option '${a}'`);
    } else {
      throw new TlemUsageError(`unexpected argument '${a}'`);
    }
    if (value === undefined || value === '') throw new TlemUsageError(`option '${flag}' needs a value`);
    switch (flag) {
      case '-i': ports.push(value); break;
      case '-B': bw.push(parseBandwidth(value)); break;
      case '-D': delay.push(parseDelay(value)); break;
      case '-L': loss.push(parseLoss(value)); break;
      case '-Q': qs.push(parseQueue(value)); break;
      case '-R': ro.push(parseReorder(value)); break;
      case '-w': o.waitSec = int('-w', value, 0, 100); break;
      case '-b': o.batch = int('-b', value, 1, 8192); break;
      case '--seed': o.seed = int('--seed', value, 0, 0xffffffff); break;
      case '--duration': {
        const d = Number(value);
        if (!Number.isFinite(d) || d <= 0) throw new TlemUsageError(`--duration '${value}': a number of seconds > 0 is needed`);
        o.durationSec = d;
        break;
      }
    }
  }
  if (o.help) return o;
  for (const [f, list] of [['-B', bw], ['-D', delay], ['-L', loss], ['-Q', qs], ['-R', ro]] as const) {
    if (list.length > 2) throw new TlemUsageError(`${f} given ${list.length} times: at most twice (A->B, then B->A)`);
  }
  const pick = <T>(list: T[], d: number): T | undefined => list[Math.min(d, list.length - 1)];
  for (let d = 0; d < 2; d++) {
    const c = o.dirs[d]!;
    c.bw = pick(bw, d) ?? c.bw;
    c.delay = pick(delay, d) ?? c.delay;
    c.loss = pick(loss, d) ?? c.loss;
    c.reorder = pick(ro, d) ?? c.reorder;
    const q = pick(qs, d);
    if (q === undefined) c.qbytes = c.bw.bps > 0 ? BW_DEFAULT_QBYTES : 0; // tlem's default
    else if ('packets' in q) c.qsize = q.packets;
    else { c.qbytes = q.bytes; c.qsize = slotsForBytes(q.bytes); }
  }
  if (ports.length !== 2) throw new TlemUsageError(`two ports are needed (-i A -i B), ${ports.length} given`);
  if (ports[0] === ports[1]) throw new TlemUsageError('the two ports must differ');
  [o.a, o.b] = ports as [string, string];
  return o;
}

export const TLEM_USAGE = `usage: nmts tlem -i A -i B [-B bw] [-D delay] [-L loss] [-R reorder] [-Q qsize] [-b batch]
                 [-w wait] [--seed N] [--duration S] [-v|-q] [--help]

Bidirectional link emulator between two ports (netmap's tlem): packets read on A leave on B
after the emulated link's serialization time and delay, and the other way round.
-B/-D/-L/-R/-Q given once apply to both directions; given twice: first A->B, then B->A.
  -i PORT   a port (twice: A and B); VALE ports, pipe ends or interfaces (netmap:IF)
  -B BW     bandwidth: bps | constant,bps | ether,bps (ether adds 160+32 framing bits per
            frame); suffixes k/K m/M g/G = 10^3/10^6/10^9; default unlimited
  -D DELAY  dt | constant,dt | uniform,dmin,dmax | exp,dmin,davg; suffixes s m u n
            (seconds, milli-, micro-, nanoseconds); no suffix = seconds; default 0
  -L LOSS   x | plr,x (packet loss probability) | ber,x (bit error rate); default 0
  -R REORD  p,t | const,p,t: with probability p a packet is held for time t (as -D's
            times), then goes through the link after the packets that passed it; default none
  -Q SIZE   queue size in bytes, as tlem: suffixes k/K m/M g/G = 2^10/2^20/2^30; arrivals
            while more than SIZE bytes wait for the emulated wire are dropped; 0 = no limit.
            Default: 50000 with -B, else no limit. Np (e.g. 1000p): instead limit the
            queue to N packets (bandwidth queue and delay line together; default 1024)
  -b N      most packets read per direction per round, 1..8192 (1024)
  -w SEC    wait SEC seconds before forwarding, 0..100 (default 2 when a port is an
            interface netmap:IF, for its link to come up; 0 for VALE ports and pipes)
  --seed N  seed of the random generator (delay, loss, reordering; default 1)
  --duration S  stop after S seconds (else at Ctrl-C / SIGTERM)
  -v        more output; -q  no per-second stats line
Every second: "A -> B maxq Q round R drop L/D, A <- B maxq Q round R drop L/D" (maxq = most
packets queued, round = service rounds, L = lost, D = queue-full drops, in that second).
Not available (see docs/tlem.md): -s/-a sessions, -r/-G route mode, -M, -C, -c, -H.
`;
