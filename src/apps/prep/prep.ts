// `nmts prep`: tcpprep's cache files (see ../replay/tcpprep-cache.ts) from a pcap/pcapng file,
// for `nmts replay -i A -I B -c FILE` and tcpreplay alike. Modes as tcpprep's: --auto=bridge|
// router|client|server|first (two passes over the file, classify.ts), --cidr LIST, --port.
// The comment embedded in the cache is built as tcpprep builds it (the arguments joined by
// spaces, then "\n" and the -C text), so the same command line gives a byte-identical file.
// Also --print-info / --print-stats / --print-comment of an existing cache (tcpprep's -I -S -P).
import { writeFileSync } from 'node:fs';
import { PcapStreamReader } from '../../packet/pcap-stream.js';
import { CacheBuilder, cacheDir, DIR_NOSEND, DIR_PRIMARY, DIR_SECONDARY, readCacheFile } from '../replay/tcpprep-cache.js';
import { findL3, HostTree, HOST_CLIENT, HOST_SERVER, HOST_UNKNOWN, inCidrs, parseCidrs, PrepError, toServerPort, type AutoMode, type L3 } from './classify.js';

export { PrepError } from './classify.js';

export interface PrepOptions {
  mode: 'auto' | 'cidr' | 'port' | '';
  auto: AutoMode;
  cidr: string;
  pcap: string;
  cachefile: string;
  nonip: boolean;
  reverse: boolean;
  ratio: number;
  comment: string | null;
  noArgComment: boolean;
  printInfo: string;
  printStats: string;
  printComment: string;
  help: boolean;
  /** The command line as given (for the embedded comment). */
  argv: string[];
}

interface Spec { long: string; short?: string; arg: boolean }
const SPECS: Spec[] = [
  { long: 'auto', short: 'a', arg: true }, { long: 'cidr', short: 'c', arg: true }, { long: 'port', short: 'p', arg: false },
  { long: 'pcap', short: 'i', arg: true }, { long: 'cachefile', short: 'o', arg: true }, { long: 'nonip', short: 'N', arg: false },
  { long: 'reverse', arg: false }, { long: 'ratio', short: 'R', arg: true }, { long: 'comment', short: 'C', arg: true },
  { long: 'no-arg-comment', arg: false }, { long: 'print-info', short: 'I', arg: true }, { long: 'print-stats', short: 'S', arg: true },
  { long: 'print-comment', short: 'P', arg: true }, { long: 'help', short: 'h', arg: false },
];

export function parsePrepArgs(argv: string[]): PrepOptions {
  const o: PrepOptions = {
    mode: '', auto: 'bridge', cidr: '', pcap: '', cachefile: '', nonip: false, reverse: false, ratio: 2, comment: null,
    noArgComment: false, printInfo: '', printStats: '', printComment: '', help: false, argv: argv.slice(),
  };
  const modes: string[] = [];
  const set = (long: string, v: string | null): void => {
    switch (long) {
      case 'auto':
        if (!['bridge', 'router', 'client', 'server', 'first'].includes(v!)) throw new PrepError(`invalid --auto mode '${v}' (bridge, router, client, server or first)`);
        o.mode = 'auto'; o.auto = v as AutoMode; modes.push('auto'); break;
      case 'cidr': o.mode = 'cidr'; o.cidr = v!; parseCidrs(v!); modes.push('cidr'); break;
      case 'port': o.mode = 'port'; modes.push('port'); break;
      case 'pcap': o.pcap = v!; break;
      case 'cachefile': o.cachefile = v!; break;
      case 'nonip': o.nonip = true; break;
      case 'reverse': o.reverse = true; break;
      case 'ratio': {
        const r = Number(v);
        if (v!.trim() === '' || !Number.isFinite(r) || r < 0) throw new PrepError(`invalid --ratio '${v}' (a non-negative number)`);
        o.ratio = r; break;
      }
      case 'comment': o.comment = v!; break;
      case 'no-arg-comment': o.noArgComment = true; break;
      case 'print-info': o.printInfo = v!; break;
      case 'print-stats': o.printStats = v!; break;
      case 'print-comment': o.printComment = v!; break;
      case 'help': o.help = true; break;
    }
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = SPECS.find((s) => s.long === name);
      if (!spec) throw new PrepError(`unknown option '--${name}'`);
      if (spec.arg) {
        if (eq >= 0) set(name, a.slice(eq + 1));
        else if (i + 1 < argv.length) set(name, argv[++i]!);
        else throw new PrepError(`option '--${name}' needs a value`);
      } else {
        if (eq >= 0) throw new PrepError(`option '--${name}' takes no value`);
        set(name, null);
      }
    } else if (a.length > 1 && a[0] === '-') {
      for (let k = 1; k < a.length; k++) {
        const spec = SPECS.find((s) => s.short === a[k]);
        if (!spec) throw new PrepError(`unknown option '-${a[k]}'`);
        if (spec.arg) {
          if (k + 1 < a.length) set(spec.long, a.slice(k + 1));
          else if (i + 1 < argv.length) set(spec.long, argv[++i]!);
          else throw new PrepError(`option '-${a[k]}' needs a value`);
          break;
        }
        set(spec.long, null);
      }
    } else {
      throw new PrepError(`unexpected argument '${a}' (the input is -i FILE, the output -o FILE)`);
    }
  }
  if (o.help || o.printInfo || o.printStats || o.printComment) return o;
  if (modes.length > 1) throw new PrepError(`the '${modes[0]}' and '${modes[1]}' options conflict`);
  if (!o.pcap || !o.cachefile) throw new PrepError('must specify an output cachefile (-o) and input pcap (-i)');
  if (!o.mode) throw new PrepError('must specify a processing mode: -a, -c, -p');
  return o;
}

/** tcpprep_post_args(): the comment stored in the cache. */
export function cacheComment(o: PrepOptions): string {
  let args = '';
  if (!o.noArgComment) {
    const parts: string[] = [];
    for (let i = 0; i < o.argv.length; i++) {
      // tcpprep skips "-C", its text and (by stepping 2 then 1) the argument after them
      if (o.argv[i] === '-C') { i += 2; continue; }
      parts.push(o.argv[i]!);
    }
    args = parts.join(' ');
  }
  return o.comment !== null ? `${args}\n${o.comment}` : args;
}

export interface PrepResult { packets: number; primary: number; secondary: number; nosend: number; bytes: Uint8Array }

/** Classify every packet of o.pcap and build the cache file's bytes (not written). */
export function prepCache(o: PrepOptions): PrepResult {
  const r: L3 = { ver: 0, l3: 0 };
  const tree = new HostTree();
  const cidrs = o.mode === 'cidr' ? parseCidrs(o.cidr) : [];
  const eachPacket = (fn: (b: Uint8Array, off: number, len: number) => void): number => {
    const rd = PcapStreamReader.open(o.pcap);
    let n = 0;
    try {
      while (rd.next()) {
        n++;
        findL3(rd.buf, rd.offset, rd.caplen, rd.linkType, r);
        fn(rd.buf, rd.offset, rd.caplen);
      }
    } finally {
      rd.close();
    }
    return n;
  };
  if (o.mode === 'auto') {
    eachPacket((b, off, len) => {
      if (r.ver === 0) return;
      if (o.auto === 'first') tree.addFirst(b, r);
      else tree.add(b, off, len, r);
    });
    if (o.auto === 'router') {
      if (!tree.routerOk(o.ratio)) throw new PrepError('unable to build a valid list of servers (tcpprep: "Unable to determine any IP addresses as a clients"); try another --ratio or mode');
    } else {
      tree.calculate(o.ratio);
    }
  }
  const unknownAs = o.auto === 'client' ? HOST_CLIENT : o.auto === 'server' ? HOST_SERVER
    : o.auto === 'router' ? (o.nonip ? HOST_SERVER : HOST_CLIENT) : HOST_UNKNOWN;
  const nonIpDir = o.nonip ? DIR_PRIMARY : DIR_SECONDARY;
  const flip = (d: number): number => (o.reverse ? (d === DIR_PRIMARY ? DIR_SECONDARY : DIR_PRIMARY) : d);
  const cache = new CacheBuilder();
  const n = eachPacket((b, off, len) => {
    if (r.ver === 0) { cache.add(nonIpDir); return; }
    if (o.mode === 'auto') cache.add(tree.dir(b, r, unknownAs));
    else if (o.mode === 'cidr') cache.add(flip(r.ver === 4 && inCidrs(cidrs, b, r.l3 + 12) ? DIR_PRIMARY : DIR_SECONDARY));
    else {
      const s = toServerPort(b, off + len, r);
      cache.add(s === 1 ? DIR_PRIMARY : s === 0 ? DIR_SECONDARY : nonIpDir);
    }
  });
  if (n === 0) throw new PrepError('no packets were processed');
  const bytes = cache.build(cacheComment(o));
  const res: PrepResult = { packets: n, primary: 0, secondary: 0, nosend: 0, bytes };
  const c = { data: bytes.subarray(bytes.length - Math.ceil(n / 4)), count: n };
  for (let i = 1; i <= n; i++) {
    const d = cacheDir(c.data, n, i);
    if (d === DIR_PRIMARY) res.primary++; else if (d === DIR_SECONDARY) res.secondary++; else res.nosend++;
  }
  return res;
}

export function runPrep(o: PrepOptions): PrepResult {
  const res = prepCache(o);
  writeFileSync(o.cachefile, res.bytes);
  return res;
}

/** tcpprep -I / -S / -P output lines for a cache file. */
export function printCache(file: string, what: 'info' | 'stats' | 'comment'): string[] {
  const c = readCacheFile(file);
  if (what === 'comment') return [`tcpprep args: ${c.comment}`, `Cache contains data for ${c.count} packets`];
  const lines: string[] = [];
  let pri = 0, sec = 0, no = 0;
  for (let i = 1; i <= c.count; i++) {
    const d = cacheDir(c.data, c.count, i);
    if (what === 'info') lines.push(`Packet ${i} -> ${d === DIR_PRIMARY ? 'Primary' : d === DIR_SECONDARY ? 'Secondary' : "Don't Send"}`);
    if (d === DIR_PRIMARY) pri++; else if (d === DIR_SECONDARY) sec++; else if (d === DIR_NOSEND) no++;
  }
  if (what === 'stats') {
    lines.push(`Primary packets:\t${pri}`, `Secondary packets:\t${sec}`, `Skipped packets:\t${no}`, '------------------------------', `Total packets:\t\t${c.count}`);
  }
  return lines;
}

export function prepUsage(): string {
  return `usage: nmts prep (-a MODE | -c CIDRS | -p) -i FILE -o CACHEFILE [options]
       nmts prep -I|-S|-P CACHEFILE

Split a capture into primary (client to server, replayed on -i) and secondary (server to
client, on -I) packets and write tcpprep's cache file, for 'nmts replay -i A -I B -c CACHEFILE'
or tcpreplay. The same command line gives the same cache file as tcpprep 4.x.

modes (one of)
  -a, --auto MODE        bridge, router, client, server or first: learn clients and servers
                         from the capture (TCP SYN / SYN-ACK, DNS, ICMP port unreachable)
  -c, --cidr LIST        sources inside LIST (a.b.c.d/len, comma-separated) are primary
  -p, --port             TCP/UDP to a port below 1024 is primary

options
  -i, --pcap FILE        input (pcap or pcapng)
  -o, --cachefile FILE   output cache file
  -N, --nonip            non-IP packets go out primary (default: secondary)
      --reverse          with --cidr: matches are secondary
  -R, --ratio R          server votes needed per client vote to be a server (default 2)
  -C, --comment TEXT     add TEXT to the embedded comment
      --no-arg-comment   do not embed the command line
  -I, --print-info FILE  one line per packet of a cache file
  -S, --print-stats FILE primary / secondary / skipped counts of a cache file
  -P, --print-comment FILE  the embedded comment
  -h, --help             this text
`;
}
