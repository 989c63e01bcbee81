// pkt-gen's command line: a small getopt(3)-style parser for the same letters
// as netmap's pkt-gen ("46a:f:F:Nn:i:Il:d:s:D:S:b:c:o:p:T:w:WvR:XC:H:rP:zZAhBM:")
// plus long options of ours: --help, --json, --duration SECONDS and --vlan ID[,INNER]; -l also
// takes a size mix (`imix`, `64:7,570:4,1518:1`), and an IPv6 -s/-d selects -6 by itself.
//
// Differences from the C tool, all on purpose:
//  - every value is checked; a bad one throws PktGenUsageError naming the flag
//    and the value (the C tool mostly trusts atoi() and carries on);
//  - operands (words that are not options) are rejected, pkt-gen takes none;
//  - ping, pong and txseq refuse -p > 1 up front instead of failing in the thread;
//  - -R also accepts a k/M/G suffix (-R 1M), -o also accepts 0x hex;
//  - -I and the -o bits with no effect here (REFUSED_BITS) are refused with the reason
//    instead of being accepted silently; -o 4 / -o 8 copy the frame into every buffer.
// Things that need the system (number of CPUs, MAC of the interface, whether
// the port is a VALE port for the -w default) are left to run time.

import { ringConfigOf, type RingConfig } from '../common/ring-config.js';
import { parseFullPolicy } from '../common/full-destination.js';

/** What pkt-gen does (-f). */
export type PktGenFunction = 'tx' | 'rx' | 'ping' | 'pong' | 'txseq' | 'rxseq';

export const PKTGEN_FUNCTIONS: readonly PktGenFunction[] = ['tx', 'rx', 'ping', 'pong', 'txseq', 'rxseq'];

/** -o bits, same values as pkt-gen's OPT_* constants. */
export const OPT_PREFETCH = 1;
export const OPT_ACCESS = 2;
export const OPT_COPY = 4;
export const OPT_MEMCPY = 8;
export const OPT_TS = 16;
export const OPT_INDIRECT = 32;
export const OPT_DUMP = 64;
export const OPT_RUBBISH = 256;
export const OPT_RANDOM_SRC = 512;
export const OPT_RANDOM_DST = 1024;
export const OPT_PPS_STATS = 2048;
export const OPT_UPDATE_CSUM = 4096;
/**
 * -o bits refused, with the reason (netmap's pkt-gen accepts them; here they would do nothing).
 * OPT_INDIRECT is -I's bit.
 */
export const REFUSED_BITS: ReadonlyArray<readonly [number, string]> = [
  [OPT_PREFETCH, 'prefetch (1): JavaScript has no prefetch instruction, so the bit would change nothing'],
  [OPT_ACCESS, 'access (2): netmap\'s pkt-gen lists it but no code of it reads the bit; nothing to reproduce'],
  [OPT_TS, 'timestamp (16): netmap\'s pkt-gen lists it but no code of it reads the bit; -f ping stamps its frames'],
  [OPT_INDIRECT, 'indirect (32, -I): an NS_INDIRECT slot points at the sender\'s own memory by its user virtual address; ' +
    'netmap-ts processes share only the region, a switch could not follow such a pointer'],
];

/** Every bit -o knows about. */
export const OPT_KNOWN_MASK =
  OPT_PREFETCH | OPT_ACCESS | OPT_COPY | OPT_MEMCPY | OPT_TS | OPT_INDIRECT | OPT_DUMP |
  OPT_RUBBISH | OPT_RANDOM_SRC | OPT_RANDOM_DST | OPT_PPS_STATS | OPT_UPDATE_CSUM;

/** Bytes -B adds to every packet for the "raw" bandwidth: 4 B CRC + 20 B preamble and gap. */
export const FRAMING_BYTES = 24;
export const MIN_FRAME_LEN = 16;
export const MAX_FRAME_LEN = 65536;
export const MAX_BURST = 8192;
/**
 * --on-full's default: after a sync in which the switch found the destination full, the
 * sender sleeps 50 µs, so that a receiver that lost its CPU (to this sender, or to the host)
 * catches up instead of losing every batch sent meanwhile (docs/benchmarks.md, "Delivery
 * across processes").
 */
export const DEFAULT_ON_FULL = 'sleep:50';
export const MAX_THREADS = 64;
export const MAX_FRAGS = 63;

export const DEFAULT_SRC_RANGE_V4 = '10.0.0.1:1234';
export const DEFAULT_DST_RANGE_V4 = '10.1.0.1:1234';
export const DEFAULT_SRC_RANGE_V6 = '[fd00::1]:1234';
export const DEFAULT_DST_RANGE_V6 = '[fd00::2]:1234';
export const DEFAULT_SRC_MAC = '00:00:00:00:00:00';
export const DEFAULT_DST_MAC = 'ff:ff:ff:ff:ff:ff';

export interface PktGenOptions {
  /** -h / --help: print usage and exit; the other fields then hold defaults. */
  help: boolean;
  /** --json: one JSON summary line at the end instead of the text summary. */
  json: boolean;
  /**
   * Move the process's helper threads (V8's compiler and GC threads, taken before the data
   * threads start) to SCHED_IDLE when the traffic starts (apps/common/idle-helpers.ts). For a
   * process that ends with the run: the CLI sets it (NMTS_IDLE_HELPERS=0 turns it off); false
   * by default for the library function.
   */
  idleHelpers: boolean;
  /** --duration SECONDS: stop after this long (ours). undefined = no limit. */
  durationSec: number | undefined;
  /** -f, default 'rx'. */
  function: PktGenFunction;
  /** -i, as given ('' only when help is set). */
  port: string;
  /** -n: packets (tx/rx) or transactions (ping/pong), 0 = forever. */
  count: number;
  /** -l: frame length without CRC (60). */
  frameLen: number;
  /** Second -l: frames get random lengths in [frameLenMin, frameLen). undefined = fixed length. */
  frameLenMin: number | undefined;
  /** -l imix / -l len:weight,...: [length, weight] pairs (frameLen is then the largest); undefined = none. */
  sizeMix: Array<[number, number]> | undefined;
  /** --vlan ID or --vlan OUTER,INNER: VLAN IDs, outermost first; [] = untagged. */
  vlan: number[];
  /** -b: packets per sync; defaults to 512 (tx, rx, txseq, rxseq) or 1 (ping, pong). */
  burst: number;
  /** -4 / -6. */
  family: 4 | 6;
  /** -s / -d: addr[:port][-addr[:port]] strings, defaults filled in for the family. */
  srcRange: string;
  dstRange: string;
  /** -S: DEFAULT_SRC_MAC unless given; the data loop may use the port's own MAC when !srcMacGiven. */
  srcMac: string;
  srcMacGiven: boolean;
  /** -D, default broadcast. */
  dstMac: string;
  /** -z / -Z (or -o 512 / 1024). */
  randomSrc: boolean;
  randomDst: boolean;
  /** -a: pin thread i to CPU (cpuPin + i) % cpus. undefined = no pinning. */
  cpuPin: number | undefined;
  /** -c: CPUs to use, 1 by default, 0 = all (checked against the machine at run time). */
  cpus: number;
  /** -p: threads, 1..64. */
  threads: number;
  /** -T: milliseconds between report lines (1000). */
  reportMs: number;
  /** -w: seconds to wait for the link; undefined = 2, or 0 for vale ports (see resolveWaitLink). */
  waitLinkSec: number | undefined;
  /** -W: rx gives up after one second without traffic instead of waiting forever. */
  exitOnIdle: boolean;
  /** -R: packets per second, 0 = as fast as possible. */
  rate: number;
  /** --on-full: what tx does after a sync in which the switch found a destination full (apps/common/full-destination.ts). */
  onFull: string;
  /** -X (or -o 64): hex dump every packet. */
  dump: boolean;
  /** -H: virtio-net header length. */
  virtioHdrLen: 0 | 10 | 12;
  /** -P: take the frame from this pcap file. */
  pcapFile: string | undefined;
  /** -F: slots per packet (1..63). */
  frags: number;
  /** -M: bytes per fragment; undefined = the buffer size. */
  fragSize: number | undefined;
  /** -I (or -o 32): NS_INDIRECT slots; always false here (refused by the parser). */
  indirect: boolean;
  /** -o 4 (4) or -o 8 (8): tx copies the frame into every buffer it sends (not only new ones); 0 = no. */
  copyMode: 0 | 4 | 8;
  /** -r (or -o 256): send buffers without filling them. */
  rubbish: boolean;
  /** -A (or -o 2048): sliding-window mean/std-dev of pps in the report lines. */
  ppsStats: boolean;
  /** -B: FRAMING_BYTES, else 0; added per packet to the "raw" bandwidth. */
  framingBytes: number;
  /** false with -N: print plain numbers instead of K/M/G/T. */
  normalize: boolean;
  /** -C tx_slots[,rx_slots[,tx_rings[,rx_rings]]], checked; parse with parseRingConfig(). */
  ringConfig: string | undefined;
  /** -o bits OR-ed with the bits of -I -X -r -z -Z -A. */
  optionBits: number;
  /** -v, once per -v. */
  verbose: number;
}

/** `-l imix`: the standard simple IMIX, sizes (as -l: without CRC) and weights. */
export const IMIX: ReadonlyArray<readonly [number, number]> = [[64, 7], [570, 4], [1518, 1]];
/** Most entries of a size schedule (the sum of the weights). */
export const MAX_MIX_WEIGHT = 4096;
/** 802.1Q tag (one --vlan ID, or the inner tag of two) and 802.1ad S-tag (outer of two). */
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;

/** A bad command line. The message is ready to print. */
export class PktGenUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PktGenUsageError';
  }
}

/** Letters that take a value (the ':' letters of the getopt string). */
const WITH_ARG = new Set('afFnildsDSbcopTwRCHPM'.split(''));
/** Letters that take none. */
const NO_ARG = new Set('46NIWvXrzZAhB'.split(''));

function fail(message: string): never {
  throw new PktGenUsageError(`pkt-gen: ${message}`);
}

function bad(flag: string, value: string, why: string): never {
  fail(`invalid ${flag} '${value}': ${why}`);
}

/** A decimal integer in [min, max]. */
function intArg(flag: string, value: string, min: number, max: number, why: string): number {
  if (!/^\d+$/.test(value)) bad(flag, value, why);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) bad(flag, value, why);
  return n;
}

const SUFFIX: Record<string, number> = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 };

/** -R: a positive number of packets per second, optional k/M/G suffix. */
function rateArg(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(value);
  const why = 'rate must be a number of packets per second > 0 (k/M/G suffix allowed)';
  if (m === null) bad('-R', value, why);
  const pps = Number(m[1]) * (SUFFIX[m[2] ?? ''] ?? 1);
  if (!(pps > 0) || !Number.isFinite(pps)) bad('-R', value, why);
  return pps;
}

/** -o: decimal or 0x hex, only known bits. */
function bitsArg(value: string): number {
  if (!/^(\d+|0[xX][0-9a-fA-F]+)$/.test(value)) bad('-o', value, 'expected a number (bitmask)');
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n > 0xffffffff) bad('-o', value, 'expected a number (bitmask)');
  const unknown = n & ~OPT_KNOWN_MASK;
  if (unknown !== 0) bad('-o', value, `unknown option bits 0x${(unknown >>> 0).toString(16)}`);
  for (const [bit, why] of REFUSED_BITS) if (n & bit) bad('-o', value, `bit ${why}`);
  return n;
}

function durationArg(value: string): number {
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(n > 0) || !Number.isFinite(n)) bad('--duration', value, 'expected a number of seconds > 0');
  return n;
}

const MAC_RE = /^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$/;

function macArg(flag: string, value: string): string {
  if (!MAC_RE.test(value)) bad(flag, value, 'expected a MAC address like aa:bb:cc:dd:ee:ff');
  return value;
}

export type { RingConfig };

/**
 * Parse -C's "a[,b[,c[,d]]]" = tx_slots,rx_slots,tx_rings,rx_rings. As in pkt-gen a
 * single slot count applies to both directions, and so does a ring count without a
 * fourth number. Throws PktGenUsageError on anything else.
 */
export function parseRingConfig(value: string): RingConfig {
  const parts = value.split(',');
  const why = 'expected tx_slots[,rx_slots[,tx_rings[,rx_rings]]] (1 to 4 numbers)';
  if (parts.length > 4) bad('-C', value, why);
  const n = parts.map((p) => {
    if (!/^\d+$/.test(p)) bad('-C', value, why);
    const v = Number(p);
    if (v > 0xffffffff) bad('-C', value, why);
    return v;
  });
  return ringConfigOf(n);
}

function portOf(s: string): number | undefined {
  if (!/^\d{1,5}$/.test(s)) return undefined;
  const p = Number(s);
  return p <= 65535 ? p : undefined;
}

function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

// Enough of RFC 4291 text form for a range check; the data loop does the real parse.
function isIPv6(s: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length < 2) return false;
  let head = s;
  let groups = 8;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return false;
    head = s.slice(0, lastColon + 1) + '0';
    groups = 7;
  }
  const halves = head.split('::');
  if (halves.length > 2) return false;
  const count = (h: string): number => {
    if (h === '') return 0;
    const g = h.split(':');
    return g.every((x) => /^[0-9a-fA-F]{1,4}$/.test(x)) ? g.length : -1;
  };
  const a = count(halves[0] ?? '');
  if (a < 0) return false;
  if (halves.length === 1) return a === groups;
  const b = count(halves[1] ?? '');
  return b >= 0 && a + b < groups;
}

/** One end of -s/-d: IPv4 "addr[:port]", IPv6 "[group@]addr" or "[group@][addr][:port]". */
function endpointOk(s: string, family: 4 | 6): boolean {
  if (family === 4) {
    const c = s.indexOf(':');
    if (c < 0) return isIPv4(s);
    return isIPv4(s.slice(0, c)) && portOf(s.slice(c + 1)) !== undefined;
  }
  let rest = s;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!/^\d$/.test(rest.slice(0, at))) return false;
    rest = rest.slice(at + 1);
  }
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return false;
    const after = rest.slice(close + 1);
    if (after !== '' && (!after.startsWith(':') || portOf(after.slice(1)) === undefined)) return false;
    return isIPv6(rest.slice(1, close));
  }
  return isIPv6(rest);
}

function checkRange(flag: string, value: string, family: 4 | 6): void {
  const dash = value.indexOf('-');
  const ends = dash < 0 ? [value] : [value.slice(0, dash), value.slice(dash + 1)];
  if (!ends.every((e) => endpointOk(e, family))) {
    const why = family === 4
      ? 'expected addr[:port][-addr[:port]] with IPv4 addresses, e.g. 10.0.0.1:1234-10.0.0.9:1240'
      : 'expected an IPv6 range such as [fd00::1]:1234-[fd00::9]:1240 (with -6)';
    bad(flag, value, why);
  }
}

function defaults(): PktGenOptions {
  return {
    help: false,
    json: false,
    idleHelpers: false,
    durationSec: undefined,
    function: 'rx',
    port: '',
    count: 0,
    frameLen: 60,
    frameLenMin: undefined,
    sizeMix: undefined,
    vlan: [],
    burst: 0,
    family: 4,
    srcRange: '',
    dstRange: '',
    srcMac: DEFAULT_SRC_MAC,
    srcMacGiven: false,
    dstMac: DEFAULT_DST_MAC,
    randomSrc: false,
    randomDst: false,
    cpuPin: undefined,
    cpus: 1,
    threads: 1,
    reportMs: 1000,
    waitLinkSec: undefined,
    exitOnIdle: false,
    rate: 0,
    onFull: DEFAULT_ON_FULL,
    dump: false,
    virtioHdrLen: 0,
    pcapFile: undefined,
    frags: 1,
    fragSize: undefined,
    indirect: false,
    copyMode: 0,
    rubbish: false,
    ppsStats: false,
    framingBytes: 0,
    normalize: true,
    ringConfig: undefined,
    optionBits: 0,
    verbose: 0,
  };
}

/** Default burst of each function, as in pkt-gen's function table. */
export function defaultBurst(fn: PktGenFunction): number {
  return fn === 'ping' || fn === 'pong' ? 1 : 512;
}

/** -w, or pkt-gen's default: 0 s for VALE ports (nothing to reset), 2 s for the rest. */
export function resolveWaitLink(o: Pick<PktGenOptions, 'waitLinkSec' | 'port'>): number {
  return o.waitLinkSec ?? (o.port.startsWith('vale') ? 0 : 2);
}

/** Apply one option letter with its value (undefined for letters without one). */
/** -l imix or len:weight[,len:weight...]: the pairs, each length checked as -l's. */
function sizeMixArg(v: string): Array<[number, number]> {
  if (v === 'imix') return IMIX.map(([l, w]) => [l, w]);
  const why = `expected imix or len:weight[,len:weight...] with lengths ${MIN_FRAME_LEN}..${MAX_FRAME_LEN} and weights >= 1 (at most ${MAX_MIX_WEIGHT} in all)`;
  const mix = v.split(',').map((part): [number, number] => {
    const m = /^(\d+):(\d+)$/.exec(part);
    if (!m) bad('-l', v, why);
    const len = Number(m[1]), w = Number(m[2]);
    if (len < MIN_FRAME_LEN || len > MAX_FRAME_LEN || w < 1) bad('-l', v, why);
    return [len, w];
  });
  if (mix.reduce((a, [, w]) => a + w, 0) > MAX_MIX_WEIGHT) bad('-l', v, why);
  return mix;
}

/** --vlan ID or OUTER,INNER: IDs 0..4095. */
function vlanArg(v: string): number[] {
  const ids = v.split(',');
  const why = 'expected a VLAN ID 0..4095, or OUTER,INNER for QinQ (802.1ad outer tag, 802.1Q inner)';
  if (ids.length > 2) bad('--vlan', v, why);
  return ids.map((x) => {
    if (!/^\d{1,4}$/.test(x) || Number(x) > 4095) bad('--vlan', v, why);
    return Number(x);
  });
}

/** pkt-gen's IPv6 address forms in -s/-d: a bracketed address, or more than one ':'. */
export function looksIPv6(range: string): boolean {
  // per end of an a-b range: an IPv4 end "addr:port" has at most one ':'
  return range.split('-').some((end) => end.includes('[') || (end.match(/:/g)?.length ?? 0) >= 2);
}

type ParseState = { lenSeen: boolean; burstSet: boolean; srcSet: boolean; dstSet: boolean; familySet: boolean; lenSet: boolean };

function apply(o: PktGenOptions, letter: string, v: string, st: ParseState): void {
  const flag = `-${letter}`;
  switch (letter) {
    case '4': o.family = 4; st.familySet = true; break;
    case '6': o.family = 6; st.familySet = true; break;
    case 'N': o.normalize = false; break;
    case 'I': fail(`-I is not available: ${REFUSED_BITS.find(([b]) => b === OPT_INDIRECT)![1]}`);
    case 'W': o.exitOnIdle = true; break;
    case 'v': o.verbose++; break;
    case 'X': o.optionBits |= OPT_DUMP; break;
    case 'r': o.optionBits |= OPT_RUBBISH; break;
    case 'z': o.optionBits |= OPT_RANDOM_SRC; break;
    case 'Z': o.optionBits |= OPT_RANDOM_DST; break;
    case 'A': o.optionBits |= OPT_PPS_STATS; break;
    case 'B': o.framingBytes = FRAMING_BYTES; break;
    case 'f': {
      if (!(PKTGEN_FUNCTIONS as readonly string[]).includes(v)) {
        fail(`invalid -f '${v}': unknown function (expected ${PKTGEN_FUNCTIONS.join(', ')})`);
      }
      o.function = v as PktGenFunction;
      break;
    }
    case 'i':
      if (v === '') bad(flag, v, 'expected a port name such as vale0:1');
      o.port = v;
      break;
    case 'n':
      o.count = intArg(flag, v, 0, Number.MAX_SAFE_INTEGER, 'count must be a whole number (0 = forever)');
      break;
    case 'l':
      if (v === 'imix' || v.includes(':')) {
        if (st.lenSeen) bad(flag, v, 'a size mix replaces -l, it cannot be combined with another -l');
        o.sizeMix = sizeMixArg(v);
        o.frameLen = Math.max(...o.sizeMix.map(([l]) => l));
        st.lenSeen = true;
        st.lenSet = true;
        break;
      }
      if (o.sizeMix) bad(flag, v, 'a size mix replaces -l, it cannot be combined with another -l');
      st.lenSet = true;
      if (!st.lenSeen) {
        o.frameLen = intArg(flag, v, MIN_FRAME_LEN, MAX_FRAME_LEN, `frame length must be ${MIN_FRAME_LEN}..${MAX_FRAME_LEN}`);
        st.lenSeen = true;
      } else {
        o.frameLenMin = intArg(flag, v, MIN_FRAME_LEN, o.frameLen - 1,
          `minimum frame length must be ${MIN_FRAME_LEN}..${o.frameLen - 1} (below the first -l ${o.frameLen})`);
      }
      break;
    case 'b':
      o.burst = intArg(flag, v, 1, MAX_BURST, `burst must be 1..${MAX_BURST}`);
      st.burstSet = true;
      break;
    case 's': o.srcRange = v; st.srcSet = true; break;
    case 'd': o.dstRange = v; st.dstSet = true; break;
    case 'S': o.srcMac = macArg(flag, v); o.srcMacGiven = true; break;
    case 'D': o.dstMac = macArg(flag, v); break;
    case 'a': o.cpuPin = intArg(flag, v, 0, 4095, 'expected a CPU number'); break;
    case 'c': o.cpus = intArg(flag, v, 0, 4096, 'expected a number of CPUs (0 = all)'); break;
    case 'p': o.threads = intArg(flag, v, 1, MAX_THREADS, `threads must be 1..${MAX_THREADS}`); break;
    case 'T': o.reportMs = intArg(flag, v, 1, 86_400_000, 'report interval must be a number of milliseconds >= 1'); break;
    case 'w': o.waitLinkSec = intArg(flag, v, 0, 3600, 'expected seconds to wait for the link, 0..3600'); break;
    case 'R': o.rate = rateArg(v); break;
    case 'H': {
      if (v !== '0' && v !== '10' && v !== '12') bad(flag, v, 'virtio-net header length must be 0, 10 or 12');
      o.virtioHdrLen = Number(v) as 0 | 10 | 12;
      break;
    }
    case 'P':
      if (v === '') bad(flag, v, 'expected a pcap file name');
      o.pcapFile = v;
      break;
    case 'F': o.frags = intArg(flag, v, 1, MAX_FRAGS, `fragments must be 1..${MAX_FRAGS}`); break;
    case 'M': o.fragSize = intArg(flag, v, 1, MAX_FRAME_LEN, `fragment size must be 1..${MAX_FRAME_LEN}`); break;
    case 'C': parseRingConfig(v); o.ringConfig = v; break;
    case 'o': o.optionBits |= bitsArg(v); break;
    default: fail(`unknown option ${flag}`);
  }
}

/** Fill in what depends on several options, check the combinations. */
/** Bytes of the VLAN tags before the ethertype. */
export function vlanBytes(o: Pick<PktGenOptions, 'vlan'>): number {
  return 4 * o.vlan.length;
}

function finish(o: PktGenOptions, st: ParseState, checkAll: boolean): PktGenOptions {
  if (!st.burstSet) o.burst = defaultBurst(o.function);
  // an IPv6 -s/-d is pkt-gen's way to ask for IPv6 frames (unless -4 says otherwise)
  if (!st.familySet && ((st.srcSet && looksIPv6(o.srcRange)) || (st.dstSet && looksIPv6(o.dstRange)))) o.family = 6;
  // default length: 60, or the headers (IPv6, VLAN tags) plus 16 bytes of payload when longer
  if (!st.lenSet) o.frameLen = Math.max(60, (o.family === 4 ? 42 : 62) + vlanBytes(o) + 16);
  if (!st.srcSet) o.srcRange = o.family === 4 ? DEFAULT_SRC_RANGE_V4 : DEFAULT_SRC_RANGE_V6;
  if (!st.dstSet) o.dstRange = o.family === 4 ? DEFAULT_DST_RANGE_V4 : DEFAULT_DST_RANGE_V6;
  const b = o.optionBits;
  o.indirect = (b & OPT_INDIRECT) !== 0;
  o.copyMode = b & OPT_COPY ? 4 : b & OPT_MEMCPY ? 8 : 0;
  o.dump = (b & OPT_DUMP) !== 0;
  o.rubbish = (b & OPT_RUBBISH) !== 0;
  o.randomSrc = (b & OPT_RANDOM_SRC) !== 0;
  o.randomDst = (b & OPT_RANDOM_DST) !== 0;
  o.ppsStats = (b & OPT_PPS_STATS) !== 0;
  if (!checkAll) return o;
  if (o.port === '') fail('missing -i PORT (the port to use, e.g. -i vale0:1); try --help');
  if (st.srcSet) checkRange('-s', o.srcRange, o.family);
  if (st.dstSet) checkRange('-d', o.dstRange, o.family);
  if (o.threads > 1 && (o.function === 'ping' || o.function === 'pong' || o.function === 'txseq')) {
    bad('-p', String(o.threads), `-f ${o.function} works with one thread only`);
  }
  if (o.sizeMix) {
    const why = o.pcapFile ? 'the frame of -P has its own length' : o.frags > 1 ? '-F sends one length in fragments'
      : o.function === 'ping' || o.function === 'pong' ? `-f ${o.function} sends one length` : '';
    if (why) fail(`a size mix (-l ${o.sizeMix.map(([l, w]) => `${l}:${w}`).join(',')}) does not go with ${why}`);
  }
  if (o.vlan.length && o.pcapFile) fail('--vlan does not go with -P: the frame of the file is sent as it is');
  return o;
}

/**
 * Parse pkt-gen's arguments (without the program name). Throws PktGenUsageError on
 * any mistake. -h/--help stops parsing and returns defaults with help set, like
 * pkt-gen's usage(0) (options before it still have to be valid).
 */
export function parsePktGenArgs(argv: readonly string[]): PktGenOptions {
  const o = defaults();
  const st: ParseState = { lenSeen: false, burstSet: false, srcSet: false, dstSet: false, familySet: false, lenSet: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      if (i + 1 < argv.length) fail(`unexpected argument '${argv[i + 1]}' (pkt-gen takes options only)`);
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const inline = eq < 0 ? undefined : arg.slice(eq + 1);
      if (name === 'help' || name === 'json') {
        if (inline !== undefined) fail(`option --${name} takes no argument`);
        if (name === 'json') { o.json = true; continue; }
        o.help = true;
        return finish(o, st, false);
      }
      if (name === 'vlan') {
        let v = inline;
        if (v === undefined) {
          if (i + 1 >= argv.length) fail('option --vlan requires an argument');
          v = argv[++i] as string;
        }
        o.vlan = vlanArg(v);
        continue;
      }
      if (name === 'on-full') {
        let v = inline;
        if (v === undefined) {
          if (i + 1 >= argv.length) fail('option --on-full requires an argument');
          v = argv[++i] as string;
        }
        try {
          o.onFull = parseFullPolicy(v, '--on-full').toString();
        } catch (e) {
          fail((e as Error).message);
        }
        continue;
      }
      if (name === 'duration') {
        let v = inline;
        if (v === undefined) {
          if (i + 1 >= argv.length) fail('option --duration requires an argument');
          v = argv[++i] as string;
        }
        o.durationSec = durationArg(v);
        continue;
      }
      fail(`unknown option --${name}`);
    }
    if (!arg.startsWith('-') || arg === '-') {
      fail(`unexpected argument '${arg}' (pkt-gen takes options only)`);
    }
    // A cluster of letters: "-zZ", "-n100", "-vvn 5".
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j] as string;
      if (NO_ARG.has(letter)) {
        if (letter === 'h') {
          o.help = true;
          return finish(o, st, false);
        }
        apply(o, letter, '', st);
        continue;
      }
      if (!WITH_ARG.has(letter)) fail(`unknown option -${letter}`);
      let v: string;
      if (j + 1 < arg.length) {
        v = arg.slice(j + 1);
      } else {
        if (i + 1 >= argv.length) fail(`option -${letter} requires an argument`);
        v = argv[++i] as string;
      }
      apply(o, letter, v, st);
      break;
    }
  }
  return finish(o, st, true);
}
