// `nmts replay` command line: tcpreplay's option names (src/tcpreplay_opts.def) for the
// subset that makes sense on netmap-ts ports, parsed getopt_long-style: `-i X`, `-iX`,
// `--intf1 X`, `--intf1=X`, bundled flags (`-tK`), `--` ends the options.
//
// --progress takes its value only attached (--progress=S): a bare --progress is a flag, so
// that `--progress file.pcap` keeps the file.
//
// Checked up front, as tcpreplay's AutoOpts does: a missing -i, no input file, two speed
// modes at once (`the 'topspeed' and 'pps' options conflict`), --pps-multi without --pps,
// and every numeric value. Two ports: -I with -c CACHEFILE (tcpprep's split) or --dualfile.
// -w FILE writes a pcap instead of sending (it stands for -i). -o/--oneatatime needs a
// terminal on stdin (checked by the CLI).

import type { ProgressMode } from '../common/progress.js';

export class ReplayUsageError extends Error {
  override name = 'ReplayUsageError';
}

/** How packets are paced. */
export type ReplaySpeed = 'timing' | 'topspeed' | 'mbps' | 'pps' | 'multiplier' | 'oneatatime';

export interface ReplayOptions {
  /** Port name (-i/--intf1): valeX:Y, pipe ends x{N / x}N, ... */
  intf: string;
  /** Second port (-I/--intf2): secondary packets of -c, the second file of --dualfile. */
  intf2: string;
  /** -c/--cachefile: tcpprep's cache file splitting the packets between intf and intf2. */
  cachefile: string;
  /** -2/--dualfile: files are played two at a time, the first out intf, the second out intf2. */
  dualfile: boolean;
  /** -w/--write: a pcap file receives the packets instead of a port. */
  write: string;
  /** --include / --exclude: packet numbers (1-based, per file) as [min, max] pairs (max 0 = to the end). */
  list: number[] | null;
  listExclude: boolean;
  /** --pktlen: send the on-wire length (origlen), zero-filling past the captured bytes. */
  pktlen: boolean;
  /** -T/--timer: tcpreplay's timing method name (all map to the monotonic-clock scheduler). */
  timer: string;
  /** --maxsleep: longest pause between two packets, ms (0 = no limit). */
  maxSleepMs: number;
  /** --unique-ip: change the IPv4/IPv6 addresses each --unique-ip-loops passes. */
  uniqueIp: boolean;
  uniqueIpLoops: number;
  /** Flow statistics (--no-flow-stats turns them off); --flow-expiry seconds (0 = none). */
  flowStats: boolean;
  flowExpiry: number;
  /** --listnics: list interfaces and exit. */
  listnics: boolean;
  /** -o/--oneatatime: ask before each packet (or N packets). */
  oneAtATime: boolean;
  /** Input files, replayed in order (pcap or pcapng, detected by magic). */
  files: string[];
  /** 'timing' (default) = the capture's own timing. */
  speed: ReplaySpeed;
  /** Mbps (-M), pps (-p) or multiplier (-x); unused for 'timing' and 'topspeed'. */
  rate: number;
  /** --pps-multi: packets sent per timing interval (needs --pps). */
  ppsMulti: number;
  /** -l: passes over the file list; 0 = forever. */
  loop: number;
  /** --loopdelay-ms: pause between passes. */
  loopDelayMs: number;
  /** -K: load every packet into memory before sending. */
  preload: boolean;
  /** -L: stop after this many packets sent (0 = no limit). */
  limit: number;
  /** --duration: stop after this many seconds (0 = no limit). */
  durationSec: number;
  /** --stats: print Actual/Rated every N seconds; 0 = after each loop; -1 = off. */
  statsSec: number;
  quiet: boolean;
  verbose: boolean;
  help: boolean;
  /** Most packets per txsync (not a tcpreplay option; default 256). */
  batch: number;
  /** Seconds between updates of the status line (0 = none; default 1). */
  progressSec: number;
  /** The status line on stderr: 'auto' (on a terminal, unless -q), 'on' (--progress), 'off' (--no-progress). */
  progress: ProgressMode;
}

export function defaultReplayOptions(): ReplayOptions {
  return {
    intf: '', intf2: '', cachefile: '', dualfile: false, write: '', list: null, listExclude: false, pktlen: false,
    timer: 'gtod', maxSleepMs: 0, uniqueIp: false, uniqueIpLoops: 1, flowStats: true, flowExpiry: 0, listnics: false, oneAtATime: false,
    files: [], speed: 'timing', rate: 0, ppsMulti: 1, loop: 1, loopDelayMs: 0, preload: false,
    limit: 0, durationSec: 0, statsSec: -1, quiet: false, verbose: false, help: false, batch: 256, progressSec: 1, progress: 'auto',
  };
}

/** optArg: a value only as --name=VALUE. */
interface Spec { long: string; short?: string; arg: boolean; optArg?: boolean }
const SPECS: Spec[] = [
  { long: 'intf1', short: 'i', arg: true },
  { long: 'intf2', short: 'I', arg: true },
  { long: 'cachefile', short: 'c', arg: true },
  { long: 'dualfile', short: '2', arg: false },
  { long: 'write', short: 'w', arg: true },
  { long: 'include', arg: true },
  { long: 'exclude', arg: true },
  { long: 'pktlen', arg: false },
  { long: 'timer', short: 'T', arg: true },
  { long: 'maxsleep', arg: true },
  { long: 'loopdelay-ns', arg: true },
  { long: 'unique-ip', arg: false },
  { long: 'unique-ip-loops', arg: true },
  { long: 'no-flow-stats', arg: false },
  { long: 'flow-expiry', arg: true },
  { long: 'listnics', arg: false },
  { long: 'topspeed', short: 't', arg: false },
  { long: 'mbps', short: 'M', arg: true },
  { long: 'pps', short: 'p', arg: true },
  { long: 'multiplier', short: 'x', arg: true },
  { long: 'oneatatime', short: 'o', arg: false },
  { long: 'loop', short: 'l', arg: true },
  { long: 'loopdelay-ms', arg: true },
  { long: 'preload-pcap', short: 'K', arg: false },
  { long: 'limit', short: 'L', arg: true },
  { long: 'duration', arg: true },
  { long: 'stats', arg: true },
  { long: 'pps-multi', arg: true },
  { long: 'quiet', short: 'q', arg: false },
  { long: 'verbose', short: 'v', arg: false },
  { long: 'help', short: 'h', arg: false },
  { long: 'batch', arg: true },
  { long: 'progress', arg: false, optArg: true },
  { long: 'no-progress', arg: false },
];

/** tcpreplay's -T values; every one maps to the same monotonic-clock scheduler here. */
export const TIMERS = ['select', 'ioport', 'gtod', 'nano', 'abstime'];

/** tcpreplay's packet list: "1-5,9,15,72-" (numbers from 1; "N-" = N to the end) as [min, max] pairs. */
export function parsePacketList(flag: string, v: string): number[] {
  const out: number[] = [];
  for (const part of v.split(',')) {
    const m = /^([0-9]+)(?:-([0-9]*))?$/.exec(part.trim());
    if (!m) throw new ReplayUsageError(`nmts replay: unable to parse --${flag} rule '${v}' (numbers and ranges: 1-5,9,72-)`);
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[2] === '' ? 0 : Number(m[2]);
    if (max !== 0 && max < min) throw new ReplayUsageError(`nmts replay: bad range '${part}' in --${flag}`);
    out.push(min, max);
  }
  return out;
}

/** tcpreplay's check_list(): is packet n in the list? */
export function inPacketList(list: number[], n: number): boolean {
  for (let i = 0; i < list.length; i += 2) {
    const min = list[i]!, max = list[i + 1]!;
    if (min !== 0 && max !== 0) { if (n >= min && n <= max) return true; }
    else if (min === 0) { if (n <= max) return true; }
    else if (n >= min) return true;
  }
  return false;
}

function num(flag: string, v: string, o: { min?: number; gt0?: boolean; int?: boolean }): number {
  const s = v.trim();
  const n = s === '' ? NaN : Number(s);
  if (!Number.isFinite(n)) throw new ReplayUsageError(`nmts replay: invalid value '${v}' for --${flag} (a number is needed)`);
  if (o.int && !Number.isInteger(n)) throw new ReplayUsageError(`nmts replay: invalid value '${v}' for --${flag} (an integer is needed)`);
  if (o.gt0 && !(n > 0)) throw new ReplayUsageError(`nmts replay: invalid value '${v}' for --${flag} (must be greater than 0)`);
  if (o.min !== undefined && n < o.min) throw new ReplayUsageError(`nmts replay: invalid value '${v}' for --${flag} (must be at least ${o.min})`);
  return n;
}

export function parseReplayArgs(argv: string[]): ReplayOptions {
  const o = defaultReplayOptions();
  const seen = new Set<string>();
  const set = (long: string, value: string | null): void => {
    seen.add(long);
    switch (long) {
      case 'intf1': if (!value) throw new ReplayUsageError("nmts replay: --intf1 needs a port name"); o.intf = value; break;
      case 'topspeed': break;
      case 'oneatatime': o.oneAtATime = true; break;
      case 'intf2': if (!value) throw new ReplayUsageError('nmts replay: --intf2 needs a port name'); o.intf2 = value; break;
      case 'cachefile': o.cachefile = value!; break;
      case 'dualfile': o.dualfile = true; break;
      case 'write': if (!value) throw new ReplayUsageError('nmts replay: --write needs a file name'); o.write = value; break;
      case 'include': case 'exclude': o.list = parsePacketList(long, value!); o.listExclude = long === 'exclude'; break;
      case 'pktlen': o.pktlen = true; break;
      case 'timer':
        if (!TIMERS.includes(value!)) throw new ReplayUsageError(`nmts replay: invalid --timer '${value}' (${TIMERS.join(', ')})`);
        o.timer = value!; break;
      case 'maxsleep': o.maxSleepMs = num(long, value!, { min: 0 }); break;
      case 'loopdelay-ns': o.loopDelayMs = num(long, value!, { min: 0, int: true }) / 1e6; break;
      case 'unique-ip': o.uniqueIp = true; break;
      case 'unique-ip-loops': o.uniqueIpLoops = num(long, value!, { gt0: true }); break;
      case 'no-flow-stats': o.flowStats = false; break;
      case 'flow-expiry': o.flowExpiry = num(long, value!, { int: true, min: 0 }); break;
      case 'listnics': o.listnics = true; break;
      case 'mbps': o.rate = num(long, value!, { gt0: true }); break;
      case 'pps': o.rate = num(long, value!, { gt0: true }); break;
      case 'multiplier': o.rate = num(long, value!, { gt0: true }); break;
      case 'loop': o.loop = num(long, value!, { int: true, min: 0 }); break;
      case 'loopdelay-ms': o.loopDelayMs = num(long, value!, { min: 0 }); break;
      case 'preload-pcap': o.preload = true; break;
      case 'limit': o.limit = num(long, value!, { int: true, min: 1 }); break;
      case 'duration': o.durationSec = num(long, value!, { gt0: true }); break;
      case 'stats': o.statsSec = num(long, value!, { min: 0 }); break;
      case 'pps-multi': o.ppsMulti = num(long, value!, { int: true, min: 1 }); break;
      case 'quiet': o.quiet = true; break;
      case 'verbose': o.verbose = true; break;
      case 'help': o.help = true; break;
      case 'batch': o.batch = num(long, value!, { int: true, min: 1 }); break;
      case 'progress':
        o.progress = 'on';
        if (value !== null) o.progressSec = num(long, value, { gt0: true });
        break;
      case 'no-progress': o.progress = 'off'; break;
    }
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') { i++; break; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = SPECS.find((s) => s.long === name);
      if (!spec) throw new ReplayUsageError(`nmts replay: unknown option '--${name}'`);
      if (spec.arg) {
        let v: string;
        if (eq >= 0) v = a.slice(eq + 1);
        else if (i + 1 < argv.length) v = argv[++i]!;
        else throw new ReplayUsageError(`nmts replay: option '--${name}' needs a value`);
        set(spec.long, v);
      } else {
        if (eq >= 0 && !spec.optArg) throw new ReplayUsageError(`nmts replay: option '--${name}' takes no value`);
        set(spec.long, eq >= 0 ? a.slice(eq + 1) : null);
      }
      continue;
    }
    if (a.length > 1 && a[0] === '-') {
      for (let k = 1; k < a.length; k++) {
        const c = a[k]!;
        const spec = SPECS.find((s) => s.short === c);
        if (!spec) throw new ReplayUsageError(`nmts replay: unknown option '-${c}'`);
        if (spec.arg) {
          let v: string;
          if (k + 1 < a.length) v = a.slice(k + 1);
          else if (i + 1 < argv.length) v = argv[++i]!;
          else throw new ReplayUsageError(`nmts replay: option '-${c}' needs a value`);
          set(spec.long, v);
          break;
        }
        set(spec.long, null);
      }
      continue;
    }
    o.files.push(a);
  }
  for (; i < argv.length; i++) o.files.push(argv[i]!);
  if (o.help || o.listnics) return o;
  const both = (a: string, b: string): void => {
    if (seen.has(a) && seen.has(b)) throw new ReplayUsageError(`nmts replay: the '${a}' and '${b}' options conflict`);
  };
  const must = (a: string, b: string): void => {
    if (seen.has(a) && !seen.has(b)) throw new ReplayUsageError(`nmts replay: option '${a}' requires '${b}'`);
  };
  both('include', 'exclude'); both('cachefile', 'dualfile'); both('write', 'intf2'); both('write', 'intf1');
  both('loopdelay-ns', 'loopdelay-ms'); both('no-flow-stats', 'flow-expiry');
  must('cachefile', 'intf2'); must('dualfile', 'intf2'); must('unique-ip-loops', 'unique-ip');
  if (seen.has('intf2') && !seen.has('cachefile') && !seen.has('dualfile')) {
    throw new ReplayUsageError("nmts replay: -I/--intf2 needs -c CACHEFILE (tcpprep's split) or --dualfile to say which packets go out of it");
  }
  if (o.uniqueIp && o.loop === 1) throw new ReplayUsageError("nmts replay: option 'unique-ip' requires 'loop' (more than one pass)");

  // speed modes are mutually exclusive (tcpreplay_opts.def: flags-cant)
  const modes = ['topspeed', 'mbps', 'pps', 'multiplier', 'oneatatime'].filter((m) => seen.has(m));
  if (modes.length > 1) throw new ReplayUsageError(`nmts replay: the '${modes[0]}' and '${modes[1]}' options conflict`);
  if (modes.length === 1) o.speed = modes[0] as ReplaySpeed;
  if (seen.has('pps-multi') && o.speed !== 'pps') throw new ReplayUsageError("nmts replay: option 'pps-multi' requires 'pps'");
  if (!o.intf && !o.write) throw new ReplayUsageError("nmts replay: -i/--intf1 PORT is required (or -w FILE; a VALE port vale0:1, a pipe end x{1, ...)");
  if (o.files.length === 0) throw new ReplayUsageError('nmts replay: at least one pcap or pcapng file is required');
  if (o.dualfile && o.files.length % 2 !== 0) throw new ReplayUsageError('nmts replay: --dualfile needs files in pairs (the first of each pair out -i, the second out -I)');
  if (o.cachefile && o.files.length !== 1) throw new ReplayUsageError('nmts replay: -c/--cachefile describes one file: give exactly one');
  return o;
}

export function replayUsage(): string {
  return `usage: nmts replay -i PORT [-I PORT2 (-c CACHEFILE | --dualfile)] [options] FILE...
       nmts replay -w OUT.pcap [options] FILE...

Replay pcap/pcapng files onto a netmap-ts port, as tcpreplay does onto an interface.
PORT is any port name: a VALE port (vale0:1), a pipe end (x{1, read it with x}1),
an interface (netmap:eth0), ... Files are played in order; pcap and pcapng are
detected by their magic number.

ports
  -i, --intf1 PORT        output port (primary packets)
  -I, --intf2 PORT        second port (secondary packets; needs -c or --dualfile)
  -c, --cachefile FILE    tcpprep's cache file (tcpprep or 'nmts prep'): which packets go
                          out -i, which out -I, which not at all; one input file
  -2, --dualfile          files in pairs, played together by timestamp: the first of a
                          pair out -i, the second out -I
  -w, --write FILE        write a pcap file instead of sending (stands for -i)
      --listnics          list interfaces and software ports, then exit

speed (one of; default: the capture's own timing)
  -t, --topspeed          as fast as possible
  -M, --mbps R            R megabits per second (float)
  -p, --pps R             R packets per second (float)
  -x, --multiplier X      the capture's timing, X times faster (0.5 = half speed)
      --pps-multi N       with --pps: send N packets per interval
  -o, --oneatatime        ask before each packet (Enter: one, N: N packets); stdin must
                          be a terminal
  -T, --timer M           select|ioport|gtod|nano|abstime: accepted, all use the same
                          monotonic-clock scheduler here
      --maxsleep MS       never pause more than MS between two packets

repetition, selection and limits
  -l, --loop N            play the files N times (default 1; 0 = forever)
      --loopdelay-ms MS   pause between loops
      --loopdelay-ns NS   the same in nanoseconds
      --unique-ip         new IPv4/IPv6 addresses each loop (checksums stay valid)
      --unique-ip-loops N a new address every N loops
      --include LIST      send only packets LIST (numbers from 1: 1-5,9,72-)
      --exclude LIST      send all but packets LIST
      --pktlen            send the on-wire length (origlen), zero-filled past the capture
  -L, --limit N           stop after N packets
      --duration S        stop after S seconds
  -K, --preload-pcap      load the files into memory first ("File Cache is enabled")

output
      --stats S           print Actual/Rated every S seconds (0 = after each loop),
                          with "Test start:" / "Test complete:" lines
      --no-flow-stats     no flow statistics
      --flow-expiry S     a flow idle S seconds (capture time) counts again, as expired
  -q, --quiet             print nothing but the final statistics
  -v, --verbose           print one line per packet sent
      --progress[=S]      the status line on stderr (frames sent/total, rate, ETA), updated
                          every S seconds (default 1), even when stderr is not a terminal
                          (then one line per update); without the option it shows on a
                          terminal only, and not with -q
      --no-progress       no status line
      --batch N           most packets per txsync (default 256)
  -h, --help              this text

The final statistics block is tcpreplay's (Actual, Rated, Flows, Statistics for network
device ... for each port). Packets larger than the port's buffers are not sent and count
as Failed. A VALE port never blocks: frames the switch cannot deliver are not send
failures; the receiving port's rxDrops counter tells. See docs/replay.md.
`;
}
