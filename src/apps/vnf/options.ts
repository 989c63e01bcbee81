// `nmts vnf udp-echo` and `nmts vnf udp-client` command lines: a small long-option parser
// (--name VALUE, --name=VALUE, -i VALUE) and the two option sets. A bad command line throws
// VnfUsageError naming the option (the CLI prints it with a hint, exit code 2).
import { parseIPv4 } from '../../packet/addr.js';

export class VnfUsageError extends Error {
  override name = 'VnfUsageError';
}

/** Split argv into [name, value] pairs; `flags` take no value. */
function pairs(argv: string[], flags: Set<string>): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) throw new VnfUsageError(`unexpected argument '${a}'`);
    let name = a, value: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { name = a.slice(0, eq); value = a.slice(eq + 1); }
    if (flags.has(name)) {
      if (value !== undefined) throw new VnfUsageError(`option ${name} takes no value`);
      out.push([name, '']);
      continue;
    }
    if (value === undefined) value = argv[++i];
    if (value === undefined) throw new VnfUsageError(`option ${name} requires a value`);
    out.push([name, value]);
  }
  return out;
}

function int(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new VnfUsageError(`invalid ${name} '${v}': an integer ${min}..${max}`);
  return Number(v);
}

/** 1000, 1.5k, 2M (10^3, 10^6) */
function rate(name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(v);
  if (!m) throw new VnfUsageError(`invalid ${name} '${v}': packets per second, e.g. 100000, 500k, 1M (0: as fast as possible)`);
  return Math.round(Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]!) ? 1e3 : 1e6));
}

function cidr(name: string, v: string): string {
  const [a, p] = v.split('/');
  try { parseIPv4(a!); } catch (e) { throw new VnfUsageError(`invalid ${name} '${v}': ${(e as Error).message}`); }
  if (p === undefined || !/^\d{1,2}$/.test(p) || Number(p) > 32) throw new VnfUsageError(`invalid ${name} '${v}': an address with its prefix length, e.g. 10.0.0.1/24`);
  return v;
}

function addr(name: string, v: string): string {
  try { parseIPv4(v); } catch (e) { throw new VnfUsageError(`invalid ${name} '${v}': ${(e as Error).message}`); }
  return v;
}

/** What both tools share: the port, the host's address, MAC, gateway, static ARP entries, batch. */
export interface HostCli {
  port: string;
  ip: string;
  mac?: string;
  gateway?: string;
  staticArp: { ip: string; mac: string }[];
  batch: number;
  json: boolean;
  busyWait: boolean;
  durationSec: number;
  help: boolean;
}

function hostOption(o: HostCli, name: string, v: string): boolean {
  switch (name) {
    case '-i': case '--port': o.port = v; return true;
    case '--ip': o.ip = cidr(name, v); return true;
    case '--mac': if (!/^([0-9a-f]{1,2}[:-]){5}[0-9a-f]{1,2}$/i.test(v)) throw new VnfUsageError(`invalid --mac '${v}'`); o.mac = v; return true;
    case '--gateway': o.gateway = addr(name, v); return true;
    case '--arp': {
      const [a, m] = v.split('=');
      if (!m) throw new VnfUsageError(`invalid --arp '${v}': IP=MAC, e.g. 10.0.0.2=02:00:00:00:00:02`);
      o.staticArp.push({ ip: addr(name, a!), mac: m });
      return true;
    }
    case '-b': case '--batch': o.batch = int(name, v, 1, 4096); return true;
    case '--duration': {
      if (!/^\d+(\.\d+)?$/.test(v)) throw new VnfUsageError(`invalid --duration '${v}': seconds`);
      o.durationSec = Number(v);
      return true;
    }
    case '--json': o.json = true; return true;
    case '--busy-wait': o.busyWait = true; return true;
    case '-h': case '--help': o.help = true; return true;
    default: return false;
  }
}

const HOST_FLAGS = ['--json', '--busy-wait', '-h', '--help'];

export interface UdpEchoCli extends HostCli, DistCli { udpPort: number }

export function parseUdpEcho(argv: string[]): UdpEchoCli {
  const o: UdpEchoCli = { port: '', ip: '', staticArp: [], batch: 512, json: false, busyWait: false, durationSec: 0, help: false, udpPort: 7 };
  for (const [n, v] of pairs(argv, new Set(HOST_FLAGS))) {
    if (hostOption(o, n, v) || distOption(o, n, v)) continue;
    if (n === '--udp-port') o.udpPort = int(n, v, 1, 65535);
    else throw new VnfUsageError(`unknown option ${n}`);
  }
  distDefaults(o);
  if (!o.help && !o.port) throw new VnfUsageError('missing -i PORT');
  if (!o.help && !o.ip) throw new VnfUsageError('missing --ip ADDRESS/PREFIX');
  return o;
}

export interface UdpClientCli extends HostCli {
  server: string;
  serverPort: number;
  /** packets per second, 0 = as fast as the ring takes them */
  rate: number;
  /** UDP payload bytes (at least 16: sequence and send time) */
  size: number;
  /** source ports, one flow each */
  flows: number;
  /** datagrams to send (0: until --duration or Ctrl-C) */
  count: number;
}

export const CLIENT_MIN_SIZE = 16;

export function parseUdpClient(argv: string[]): UdpClientCli {
  const o: UdpClientCli = {
    port: '', ip: '', staticArp: [], batch: 256, json: false, busyWait: false, durationSec: 0, help: false,
    server: '', serverPort: 7, rate: 0, size: 64, flows: 1, count: 0,
  };
  for (const [n, v] of pairs(argv, new Set(HOST_FLAGS))) {
    if (hostOption(o, n, v)) continue;
    switch (n) {
      case '--server': {
        const [a, p] = v.split(':');
        o.server = addr(n, a!);
        if (p !== undefined) o.serverPort = int(`${n} port`, p, 1, 65535);
        break;
      }
      case '--rate': o.rate = rate(n, v); break;
      case '--size': o.size = int(n, v, CLIENT_MIN_SIZE, 1472); break;
      case '--flows': o.flows = int(n, v, 1, 256); break;
      case '-n': case '--count': o.count = int(n, v, 0, Number.MAX_SAFE_INTEGER); break;
      default: throw new VnfUsageError(`unknown option ${n}`);
    }
  }
  if (!o.help) {
    if (!o.port) throw new VnfUsageError('missing -i PORT');
    if (!o.ip) throw new VnfUsageError('missing --ip ADDRESS/PREFIX');
    if (!o.server) throw new VnfUsageError('missing --server ADDRESS[:PORT]');
    if (!o.count && !o.durationSec) o.durationSec = 5;
  }
  return o;
}

/**
 * `--workers N` and `--layout n-1|n-2` (every VNF): distribution to N worker threads (1..64).
 * `--workers` alone means layout n-1; `--layout` alone means one worker. Neither: one thread
 * reads the port(s) itself (no distribution).
 */
export interface DistCli { workers?: number; layout?: 'n-1' | 'n-2' }

export const MAX_CLI_WORKERS = 64;

function distOption(o: DistCli, name: string, v: string): boolean {
  if (name === '--workers') { o.workers = int(name, v, 1, MAX_CLI_WORKERS); return true; }
  if (name === '--layout') {
    if (v !== 'n-1' && v !== 'n-2') throw new VnfUsageError(`invalid --layout '${v}': n-1 (one I/O thread) or n-2 (an rx and a tx I/O thread)`);
    o.layout = v;
    return true;
  }
  return false;
}

/** Defaults of the two options once parsed: one implies the other. */
function distDefaults(o: DistCli): void {
  if (o.layout !== undefined && o.workers === undefined) o.workers = 1;
  if (o.workers !== undefined && o.layout === undefined) o.layout = 'n-1';
}

export interface FirewallCli extends DistCli {
  ports: string[];
  rules: string;
  defaultAllow: boolean;
  conntrackMax: number;
  batch: number;
  copy: boolean;
  json: boolean;
  busyWait: boolean;
  durationSec: number;
  help: boolean;
}

export function parseFirewall(argv: string[]): FirewallCli {
  const o: FirewallCli = { ports: [], rules: '', defaultAllow: false, conntrackMax: 65536, batch: 512, copy: false, json: false, busyWait: false, durationSec: 0, help: false };
  for (const [n, v] of pairs(argv, new Set([...HOST_FLAGS, '--copy']))) {
    if (distOption(o, n, v)) continue;
    switch (n) {
      case '-i': case '--port': o.ports.push(v); break;
      case '--rules': o.rules = v; break;
      case '--default':
        if (v !== 'deny' && v !== 'allow') throw new VnfUsageError(`invalid --default '${v}': deny or allow`);
        o.defaultAllow = v === 'allow';
        break;
      case '--conntrack-max': o.conntrackMax = int(n, v, 1, 1 << 24); break;
      case '-b': case '--batch': o.batch = int(n, v, 1, 4096); break;
      case '--copy': o.copy = true; break;
      case '--duration':
        if (!/^\d+(\.\d+)?$/.test(v)) throw new VnfUsageError(`invalid --duration '${v}': seconds`);
        o.durationSec = Number(v);
        break;
      case '--json': o.json = true; break;
      case '--busy-wait': o.busyWait = true; break;
      case '-h': case '--help': o.help = true; break;
      default: throw new VnfUsageError(`unknown option ${n}`);
    }
  }
  distDefaults(o);
  if (!o.help) {
    if (o.ports.length !== 2) throw new VnfUsageError(`the firewall sits between two ports: -i PORT_A -i PORT_B (got ${o.ports.length})`);
    if (o.ports[0] === o.ports[1]) throw new VnfUsageError('the two ports must differ');
    if (!o.rules) throw new VnfUsageError('missing --rules FILE');
  }
  return o;
}

export interface L4lbCli extends HostCli, DistCli {
  vip: string;
  vipPort: number;
  backends: string[];
  mode: 'nat' | 'dsr';
  tableSize: number;
  checkMs: number;
  conntrackMax: number;
}

export function parseL4lb(argv: string[]): L4lbCli {
  const o: L4lbCli = {
    port: '', ip: '', staticArp: [], batch: 512, json: false, busyWait: false, durationSec: 0, help: false,
    vip: '', vipPort: 0, backends: [], mode: 'nat', tableSize: 65537, checkMs: 1000, conntrackMax: 65536,
  };
  for (const [n, v] of pairs(argv, new Set(HOST_FLAGS))) {
    if (hostOption(o, n, v) || distOption(o, n, v)) continue;
    switch (n) {
      case '--vip': {
        const m = /^([^:]+):(\d+)$/.exec(v);
        if (!m) throw new VnfUsageError(`invalid --vip '${v}': ADDRESS:PORT, e.g. 10.0.0.100:80`);
        o.vip = addr(n, m[1]!);
        o.vipPort = int(`${n} port`, m[2]!, 1, 65535);
        break;
      }
      case '--backend': o.backends.push(addr(n, v)); break;
      case '--mode':
        if (v !== 'nat' && v !== 'dsr') throw new VnfUsageError(`invalid --mode '${v}': nat or dsr`);
        o.mode = v;
        break;
      case '--table-size': o.tableSize = int(n, v, 7, 1 << 22); break;
      case '--check-interval': o.checkMs = int(n, v, 50, 600_000); break;
      case '--conntrack-max': o.conntrackMax = int(n, v, 1, 1 << 24); break;
      default: throw new VnfUsageError(`unknown option ${n}`);
    }
  }
  distDefaults(o);
  if (!o.help) {
    if (!o.port) throw new VnfUsageError('missing -i PORT');
    if (!o.ip) throw new VnfUsageError('missing --ip ADDRESS/PREFIX');
    if (!o.vip) throw new VnfUsageError('missing --vip ADDRESS:PORT');
    if (o.backends.length === 0) throw new VnfUsageError('missing --backend ADDRESS (at least one)');
    if (new Set(o.backends).size !== o.backends.length) throw new VnfUsageError('a backend is given twice');
    if (o.backends.length > 256) throw new VnfUsageError('at most 256 backends');
  }
  return o;
}
