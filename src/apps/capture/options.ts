// `nmts capture` command line: tcpdump's letters for the common job (-i -r -w -c -s -G -C
// -W -F -Q -Z -D, the text flags -q -e -n -v -x -X -A -t -S -l -U -p), a few long options
// (--pcapng, --nano, --micro) and a trailing filter expression.
//
// As with tcpdump on Linux (GNU getopt permutes), options may come before or after the
// expression words; every word that is not an option or an option's value is part of the
// expression, joined with single spaces. `--` ends the options: everything after it is
// expression. Values may be attached (-c10, -s64) or separate (-c 10).

import { readFileSync } from 'node:fs';
import { PCAP_MAX_CAPLEN } from '../../packet/pcap.js';
import type { ProgressMode } from '../common/progress.js';

/** tcpdump's default snap length (MAXIMUM_SNAPLEN); -s 0 means this too. */
export const DEFAULT_SNAPLEN = PCAP_MAX_CAPLEN; // 262144

export class CaptureUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaptureUsageError';
  }
}

export interface CaptureArgs {
  help: boolean;
  /** -i */
  port: string;
  /** -w: file name, '-' for stdout; undefined prints one text line per packet. */
  file: string | undefined;
  /** --pcapng (else classic pcap). */
  pcapng: boolean;
  /** --nano / --time-stamp-precision=nano: nanosecond timestamps. */
  nano: boolean;
  /** -c: stop after this many packets captured; 0 = no limit. */
  count: number;
  /** -s, already resolved: 0 and values above the maximum become DEFAULT_SNAPLEN. */
  snaplen: number;
  /** -G: seconds per file, 0 = no time rotation. */
  rotateSeconds: number;
  /** -C: bytes per file (the option's value times its unit), 0 = no size rotation. */
  rotateBytes: number;
  /** -W: number of files (ring with -C, limit then exit with -G); 0 = unlimited. */
  fileLimit: number;
  /** -q: quick (shorter) text lines. */
  quick: boolean;
  /** -e: print the link-level header on text lines. */
  linkHeader: boolean;
  /** -U: flush the output after every batch, not only when the port is idle. */
  packetBuffered: boolean;
  /** The filter expression ('' = every packet). */
  filter: string;
  /** The status line on stderr: 'auto' (a terminal not also taking the packet lines), --progress, --no-progress. */
  progress: ProgressMode;
  /** -r: read packets from this saved file ('-' = standard input) instead of a port. */
  readFile: string | undefined;
  /** -F: the file the filter expression was read from (already in `filter`). */
  filterFile: string | undefined;
  /** -v count (text lines). */
  verbose: number;
  /** -x count: 1 hex after the link header, 2 from the frame's first byte. */
  hex: number;
  /** -X count: hex and ASCII, 1 after the link header, 2 the whole frame. */
  hexAscii: number;
  /** -A: the bytes after the link header as text. */
  ascii: boolean;
  /** -t count: 0 time of day, 1 none, 2 epoch, 3 since previous, 4 date and time, 5 since first. */
  tsMode: number;
  /** -S: absolute TCP sequence numbers. */
  absoluteSeq: boolean;
  /** -l: write each text line out at once (standard output line-buffered). */
  lineBuffered: boolean;
  /** -Q: which frames of a monitored port ('in', 'out', 'inout'); undefined = as -i says. */
  direction: 'in' | 'out' | 'inout' | undefined;
  /** -Z: after opening the port and the first file, run as this user (and its group). */
  user: string | undefined;
  /** -p: no promiscuous mode (accepted: netmap-ts never turns it on). */
  noPromisc: boolean;
  /** -D: list the interfaces and the backend each would get, then exit. */
  listInterfaces: boolean;
  /** --micro given explicitly (text timestamps in microseconds even for nanosecond files). */
  micro: boolean;
}

export function defaultCaptureArgs(): CaptureArgs {
  return {
    help: false, port: '', file: undefined, pcapng: false, nano: false, count: 0,
    snaplen: DEFAULT_SNAPLEN, rotateSeconds: 0, rotateBytes: 0, fileLimit: 0,
    quick: false, linkHeader: false, packetBuffered: false, filter: '', progress: 'auto',
    readFile: undefined, filterFile: undefined, verbose: 0, hex: 0, hexAscii: 0, ascii: false, tsMode: 0,
    absoluteSeq: false, lineBuffered: false, direction: undefined, user: undefined, noPromisc: false,
    listInterfaces: false, micro: false,
  };
}

function int(flag: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(v)) throw new CaptureUsageError(`invalid ${flag} '${v}': not a non-negative integer`);
  const n = Number(v);
  if (n < min || n > max) throw new CaptureUsageError(`invalid ${flag} '${v}': must be ${max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `in ${min}..${max}`}`);
  return n;
}

/**
 * -C's value in bytes: a number of millions of bytes (tcpdump's unit), or with a k/K, m/M,
 * g/G suffix KiB, MiB, GiB (tcpdump 4.99). Fractions are accepted (-C 0.5 = 500000 bytes).
 */
export function parseFileSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(v);
  if (!m) throw new CaptureUsageError(`invalid -C '${v}': expected a size such as 10 (millions of bytes), 512k, 2m or 1g`);
  const unit = m[2] === '' ? 1_000_000 : 1024 ** ('kmg'.indexOf(m[2]!.toLowerCase()) + 1);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 1) throw new CaptureUsageError(`invalid -C '${v}': must be more than 0`);
  return bytes;
}

const WITH_VALUE = new Set(['i', 'w', 'c', 's', 'G', 'C', 'W', 'r', 'F', 'Q', 'Z']);
const FLAGS = new Set(['q', 'e', 'n', 'U', 'h', 'v', 'x', 'X', 'A', 't', 'S', 'l', 'p', 'D']);

/**
 * Parse the command line. `readText` reads -F's file (default: the file system); the
 * expression in it replaces any on the command line being given too, which is an error.
 */
export function parseCaptureArgs(argv: readonly string[], readText: (file: string) => string = (f) => readFileSync(f, 'utf8')): CaptureArgs {
  const o = defaultCaptureArgs();
  const expr: string[] = [];
  let seenI = false;
  const set = (letter: string, v: string): void => {
    switch (letter) {
      case 'i': o.port = v; seenI = true; break;
      case 'w': o.file = v; break;
      case 'c': o.count = int('-c', v, 1); break;
      case 's': {
        const n = int('-s', v, 0);
        o.snaplen = n === 0 || n > DEFAULT_SNAPLEN ? DEFAULT_SNAPLEN : n;
        break;
      }
      case 'G': o.rotateSeconds = int('-G', v, 1); break;
      case 'C': o.rotateBytes = parseFileSize(v); break;
      case 'W': o.fileLimit = int('-W', v, 1); break;
      case 'r': o.readFile = v; break;
      case 'F': o.filterFile = v; break;
      case 'Z': o.user = v; break;
      case 'Q':
        if (v !== 'in' && v !== 'out' && v !== 'inout') throw new CaptureUsageError(`invalid -Q '${v}': expected in, out or inout`);
        o.direction = v;
        break;
    }
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { expr.push(...argv.slice(i + 1)); break; }
    if (a === '--help') { o.help = true; continue; }
    if (a === '--pcapng') { o.pcapng = true; continue; }
    if (a === '--nano' || a === '--time-stamp-precision=nano') { o.nano = true; continue; }
    if (a === '--time-stamp-precision=micro' || a === '--micro') { o.nano = false; o.micro = true; continue; }
    if (a === '--progress') { o.progress = 'on'; continue; }
    if (a === '--no-progress') { o.progress = 'off'; continue; }
    if (a.startsWith('--')) throw new CaptureUsageError(`unknown option ${a}`);
    if (a.length < 2 || a[0] !== '-') { expr.push(a); continue; }
    // a cluster of short options: -qn, -c10, -qc 10
    for (let k = 1; k < a.length; k++) {
      const letter = a[k]!;
      if (WITH_VALUE.has(letter)) {
        let v = a.slice(k + 1);
        if (v === '') {
          if (i + 1 >= argv.length) throw new CaptureUsageError(`option -${letter} requires an argument`);
          v = argv[++i]!;
        }
        set(letter, v);
        break;
      }
      if (!FLAGS.has(letter)) throw new CaptureUsageError(`unknown option -${letter}`);
      if (letter === 'q') o.quick = true;
      else if (letter === 'e') o.linkHeader = true;
      else if (letter === 'U') o.packetBuffered = true;
      else if (letter === 'h') o.help = true;
      else if (letter === 'v') o.verbose++;
      else if (letter === 'x') o.hex++;
      else if (letter === 'X') o.hexAscii++;
      else if (letter === 'A') o.ascii = true;
      else if (letter === 't') o.tsMode++;
      else if (letter === 'S') o.absoluteSeq = true;
      else if (letter === 'l') o.lineBuffered = true;
      else if (letter === 'p') o.noPromisc = true;
      else if (letter === 'D') o.listInterfaces = true;
      // -n: tcpdump's "don't resolve names"; netmap-ts never resolves them
    }
  }
  o.filter = expr.join(' ');
  if (o.help || o.listInterfaces) return o;
  if (o.filterFile !== undefined) {
    if (o.filter !== '') throw new CaptureUsageError(`-F ${o.filterFile} and an expression on the command line: give one of them`);
    let text: string;
    try {
      text = readText(o.filterFile);
    } catch (e) {
      throw new CaptureUsageError(`-F ${o.filterFile}: ${(e as Error).message}`);
    }
    // tcpdump: '#' starts a comment to the end of the line
    o.filter = text.split('\n').map((l) => l.replace(/#.*/, '')).join(' ').replace(/\s+/g, ' ').trim();
  }
  if (o.tsMode > 5) o.tsMode = 5;
  if (o.readFile !== undefined) {
    if (seenI) throw new CaptureUsageError('-r and -i: read a file or capture from a port, not both');
    if (o.direction !== undefined) throw new CaptureUsageError('-Q applies to a port (-i), not to a file (-r)');
  } else if (!seenI || o.port === '') throw new CaptureUsageError('missing -i PORT (or -r FILE)');
  if ((o.rotateSeconds || o.rotateBytes) && o.file === undefined) throw new CaptureUsageError('-C and -G need -w FILE');
  if ((o.rotateSeconds || o.rotateBytes) && o.file === '-') throw new CaptureUsageError('-C and -G cannot rotate the standard output (-w -)');
  if (o.fileLimit && !o.rotateSeconds && !o.rotateBytes) throw new CaptureUsageError('-W needs -C or -G');
  return o;
}

export function captureUsage(): string {
  return `usage: nmts capture -i PORT [-Q in|out|inout] [-w FILE [--pcapng] [-C SIZE] [-G SECONDS] [-W N]]
                    [-c COUNT] [-s SNAPLEN] [-Z USER] [text flags] [-F FILE | expression]
       nmts capture -r FILE|- [-w FILE ...] [-c COUNT] [text flags] [-F FILE | expression]
       nmts capture -D

Capture packets from a netmap-ts port, or read a saved capture, as tcpdump does.

  -i PORT      a VALE port (vale0:1), a pipe end (x}1, x{1) or a monitor of a port that is
               already open (vale0:1/r, /t, /rt, /z); netmap:IF (AF_XDP or AF_PACKET)
  -r FILE      read packets from a pcap or pcapng file ('-' = standard input) instead of a
               port; the filter, -c, -w and the text flags apply; ends with "N packets read,
               M matched" on standard error
  -w FILE      write the packets to FILE (pcap; '-' = standard output) instead of printing
               one line per packet (from -r: the file's timestamps and original lengths)
  --pcapng     write pcapng instead of pcap
  -c COUNT     stop after COUNT packets
  -s SNAPLEN   keep at most SNAPLEN bytes of each packet (default and 0: ${DEFAULT_SNAPLEN}; with
               -r: the file's snap length)
  -C SIZE      start a new file when the current one exceeds SIZE millions of bytes
               (k, m, g suffixes: KiB, MiB, GiB); files are FILE, FILE1, FILE2, ...
  -G SECONDS   start a new file every SECONDS; FILE may hold strftime %Y %m %d %H %M %S
  -W N         with -C: a ring of N files (FILE0 .. FILE<N-1>); with -G: stop after N files
  -F FILE      read the filter expression from FILE ('#' starts a comment)
  -Q DIR       in, out or inout: with a monitor (-i PORT/rt) the frames the port receives
               (/r), sends (/t) or both (/rt); any other port only receives (-Q in)
  -Z USER      after opening the port (or -r's file), before opening -w's file, become USER
               and its groups (initgroups, setgid, setuid)
  -D           list the interfaces and the backend (AF_XDP, AF_PACKET, TAP) each would get
  -p           accepted: netmap-ts never puts an interface in promiscuous mode
  -U           flush the output after every batch (it is always flushed when the port idles)
  --progress   the status line on stderr (captured/COUNT, rate, drops, ETA) even when stderr
               is not a terminal (then one line a second); by default it shows only on a
               terminal, and not when the packet lines go to the same terminal
  --no-progress  no status line
  --help       this text

Text flags (the lines tcpdump -n prints):
  -n           accepted for tcpdump habits (names are never resolved)
  -q           shorter lines (TCP as "tcp LEN")
  -e           print the Ethernet header and VLAN tags on each line
  -v, -vv      the IPv4 header (tos, ttl, id, offset, flags, proto, length, options, a bad
               checksum), IPv6 hlim and next header, TCP/UDP/ICMPv6 checksums, ARP types,
               neighbour discovery options; -vv also each TCP segment's seq
  -S           absolute TCP sequence numbers (default: relative to the conversation)
  -x, -xx      the packet in hex after the link header (-xx: from the first byte)
  -X, -XX      hex and ASCII
  -A           the packet as text
  -t           no timestamp; -tt seconds since the epoch; -ttt since the previous packet;
               -tttt date and time; -ttttt since the first packet
  --nano       nanosecond timestamps, in files and on lines (also --time-stamp-precision=nano)
  --micro      microseconds (the default; also --time-stamp-precision=micro)
  -l           write each line out at once (with -r lines are otherwise written in 64 KiB blocks)

The expression is tcpdump's filter syntax (pcap-filter(7)): all remaining words, joined.
On exit (after -c, or SIGINT/SIGTERM) the counters go to standard error:
  N packets captured          packets that matched the filter and were written or printed
  M packets received by filter  packets the filter examined
  K packets dropped by kernel   frames the port could not take because the capture ring
                                was full (the port's rxDrops while capturing)

examples:
  nmts capture -i vale0:1 -c 10                       (print 10 packets)
  nmts capture -i vale0:1/rt -w both.pcap udp port 53 (both directions of a port in use)
  nmts capture -i vale0:2 -w cap.pcapng --pcapng -C 100 -W 5
  nmts capture -r cap.pcap -n -vv -e 'tcp port 80'
  nmts capture -i x}1 -w - | nmts capture -r - -X
`;
}
