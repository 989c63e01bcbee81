// vale-ctl: netmap's tool to inspect and manage VALE switches (apps/vale-ctl/vale-ctl.c), on
// netmap-ts switches. Same options, same output lines, same error lines
// (`failed to <action> NAME: <strerror>`), so scripts written for netmap keep working:
//
//   (no arguments)   every port of every switch: `valeX:Y bridge_idx B port_idx P`
//   -l valeX:Y       `bridge_idx: B` / `port_idx:   P`
//   -g PORT          `memsize:`, `tx_slots:`, `rx_slots:`, `tx_rings:`, `rx_rings:`, `mem_id:`
//   -a/-h/-d valeX:IF, -p/-P valeX:IF   Linux interfaces on a switch: requests to the nmts
//                    daemon, which keeps a forwarder thread per attached interface (started on
//                    demand when none answers: vale-ctl-attach.ts, vale-attach.ts); they need
//                    runValeCtlAsync / valeCtlAsync (vale-ctl-attach.ts), which the CLI uses.
//   -n IF, -r IF     persistent (OS-visible) ports.
//
// Differences from netmap, all deliberate: bridge_idx is the switch's position in the list of
// switches sorted by name (netmap: its slot in the kernel's bridge array); `-l` of a port
// that a switch does not have fails with ENOENT (netmap prints port_idx 255); `-g` of a port
// that does not exist fails with ENOENT (netmap creates it for the query, and reports its
// defaults); `rx_rings:` has its colon; listing everything exits 0 (netmap's exits 1).
import { accessSync, constants as fsConstants, existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism, constants as osConstants } from 'node:os';
import '../index.js'; // port kinds register their destructors: reclaiming a dead port needs them
import { DIR, DirType, PR } from '../core/layout.js';
import { taskAlive } from '../core/lock.js';
import { processRegion } from '../core/memory.js';
import { regionKeyOf } from '../core/open.js';
import { parsePortSpec, PortSpecError, type PortSpec } from '../core/portspec.js';
import { reclaimDead } from '../core/records.js';
import { NetmapError, type Region } from '../core/region.js';
import { openSharedRegion, regionKey, regionPath, SHM_DIR } from '../core/shm.js';
import { strerror, SysError } from '../sys/libc.js';
import { listSwitches, type SwitchInfo } from '../vale/api.js';
import { valeCtlTap } from './vale-ctl-tap.js';

// ---------------------------------------------------------------------------------------
// errors

const FALLBACK_STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ENXIO: 'No such device or address',
  ENODEV: 'No such device',
  EINVAL: 'Invalid argument',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EEXIST: 'File exists',
  EBUSY: 'Device or resource busy',
  ENOMEM: 'Cannot allocate memory',
  ENOTSUP: 'Operation not supported',
  EOPNOTSUPP: 'Operation not supported',
  EAGAIN: 'Resource temporarily unavailable',
};

/** strerror() of an errno name ('ENOENT' → 'No such file or directory'). */
export function strerrorOf(code: string): string {
  const n = (osConstants.errno as Record<string, number | undefined>)[code];
  if (n !== undefined) {
    try {
      const s = strerror(n);
      if (s) return s;
    } catch { /* no libc binding: use the table */ }
  }
  return FALLBACK_STRERROR[code] ?? code;
}

/**
 * A vale-ctl request that failed: `failed to <action> <target>: <strerror>[ (<detail>)]`,
 * netmap's format, with netmap-ts's explanation in parentheses.
 */
export class ValeCtlError extends Error {
  /** errno name: ENOENT, EACCES, ENXIO, EINVAL, EEXIST, ENOTSUP... */
  readonly code: string;
  /** netmap's action word: 'list', 'obtain info for', 'attach', 'detach', 'create', ... */
  readonly action: string;
  readonly target: string;
  readonly detail: string;
  constructor(action: string, target: string, code: string, detail = '') {
    const reason = strerrorOf(code);
    // a detail that starts by repeating the reason ("permission denied: ...") is shortened
    const d = detail.toLowerCase().startsWith(`${reason.toLowerCase()}: `) ? detail.slice(reason.length + 2) : detail;
    super(`failed to ${action} ${target}: ${reason}${d ? ` (${d})` : ''}`);
    this.name = 'ValeCtlError';
    this.code = code;
    this.action = action;
    this.target = target;
    this.detail = d;
  }
}

/** Bad command line: the CLI prints the message and the usage text, and exits 2. */
export class ValeCtlUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValeCtlUsageError';
  }
}

function fail(action: string, target: string, e: unknown): never {
  if (e instanceof ValeCtlError) throw e;
  if (e instanceof NetmapError) throw new ValeCtlError(action, target, e.code, e.message);
  if (e instanceof PortSpecError) throw new ValeCtlError(action, target, 'EINVAL', e.reason);
  if (e instanceof SysError) throw new ValeCtlError(action, target, e.code, e.message); // e.g. EPERM removing a file of another user
  throw e;
}

// ---------------------------------------------------------------------------------------
// command line

export type ValeCtlRequest =
  | 'list' // no arguments, or -l NAME
  | 'info' // -g
  | 'attach' // -a
  | 'attach-host' // -h
  | 'detach' // -d
  | 'create' // -n
  | 'remove' // -r
  | 'polling-on' // -p
  | 'polling-off'; // -P

export interface ValeCtlArgs {
  request: ValeCtlRequest;
  /** The port, switch port or interface the request is about; null: list everything. */
  name: string | null;
  /** -C: ring/slot config for -n/-a/-h, polling config for -p/-P. */
  config: string | null;
  /** -m: memory region for -n/-a/-h (a number, or a port whose region to share). */
  memId: string | null;
  /** -v, counted. */
  verbose: number;
  /** --help */
  help: boolean;
}

const WITH_ARG: Record<string, ValeCtlRequest | 'C' | 'm'> = {
  d: 'detach', a: 'attach', h: 'attach-host', g: 'info', l: 'list', n: 'create', r: 'remove',
  p: 'polling-on', P: 'polling-off', C: 'C', m: 'm',
};

/**
 * Parse vale-ctl's options as netmap's getopt("d:a:h:g:l:n:r:C:p:P:m:v") does: options may be
 * grouped (-vl vale0:1) and take their argument attached or as the next word; the last
 * request given wins. Additions: --help, and `-l` or `-v` alone list everything (netmap's
 * manual documents a bare -l). Throws ValeCtlUsageError.
 */
export function parseValeCtlArgs(argv: readonly string[]): ValeCtlArgs {
  const a: ValeCtlArgs = { request: 'list', name: null, config: null, memId: null, verbose: 0, help: false };
  let requested = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const w = argv[i];
    if (w === '--') { i++; break; }
    if (w === '--help') { a.help = true; continue; }
    if (w.startsWith('--')) throw new ValeCtlUsageError(`unknown option ${w}`);
    if (!w.startsWith('-') || w === '-') break; // first operand: getopt stops here
    for (let k = 1; k < w.length; k++) {
      const ch = w[k];
      if (ch === 'v') { a.verbose++; continue; }
      const what = WITH_ARG[ch];
      if (what === undefined) throw new ValeCtlUsageError(`unknown option -${ch}`);
      let arg: string | undefined = w.slice(k + 1);
      if (arg === '') {
        arg = argv[i + 1];
        if (arg === undefined) {
          if (ch === 'l') { a.request = 'list'; a.name = null; requested = true; break; } // bare -l: list all
          throw new ValeCtlUsageError(`option -${ch} requires an argument`);
        }
        i++;
      }
      if (what === 'C') a.config = arg;
      else if (what === 'm') a.memId = arg;
      else {
        a.request = what;
        a.name = arg;
        requested = true;
        if (ch === 'l' && !arg.startsWith('vale')) throw new ValeCtlUsageError(`invalid vale port name: '${arg}'`);
      }
      break; // the rest of the word was the argument
    }
  }
  if (i < argv.length) throw new ValeCtlUsageError(`unexpected argument '${argv[i]}'`);
  if (a.help) return a;
  if (!requested && (a.config !== null || a.memId !== null)) {
    throw new ValeCtlUsageError(`${a.config !== null ? '-C' : '-m'} needs a request (-n, -a, -h${a.config !== null ? ', -p, -P' : ''})`);
  }
  if (a.config !== null && !['create', 'attach', 'attach-host', 'polling-on', 'polling-off'].includes(a.request)) {
    throw new ValeCtlUsageError('-C applies to -n, -a, -h, -p and -P');
  }
  if (a.memId !== null && !['create', 'attach', 'attach-host'].includes(a.request)) {
    throw new ValeCtlUsageError('-m applies to -n, -a and -h');
  }
  if (a.config !== null) {
    if (a.request === 'polling-on' || a.request === 'polling-off') parsePollConfig(a.config);
    else parseRingConfig(a.config);
  }
  if (a.memId !== null) checkMemId(a.memId);
  return a;
}

export function valeCtlUsage(command = 'nmts vale-ctl'): string {
  return `Usage:
${command} [arguments]
\t-g port\t\tshow a port's memory and ring configuration
\t-l valeX:Y\tshow a switch port's bridge and port indices
\t-a valeX:IF\tattach Linux interface IF to switch valeX (IF leaves the host stack)
\t-h valeX:IF\tattach IF to valeX together with its host stack (port valeX:IF^)
\t-d valeX:IF\tdetach IF from valeX
\t-n IF\t\tcreate a persistent port: a TAP device IF the OS sees (netmap:IF opens it)
\t-r IF\t\tdelete the persistent port (TAP device) IF
\t-C x[,y[,z[,w]]]\twith -n/-a/-h: tx slots, rx slots, rings (tx = rx), rx rings
\t\t\twith -p: 0,y = poll on core y; 1,y,z = netmap's core per ring (here: core y)
\t-p valeX:IF\tbusy-poll IF: its forwarding thread never sleeps (see -C)
\t-P valeX:IF\tstop polling IF
\t-m memid\twith -n/-a/-h: memory region to use (a number, or netmap:PORT to share its region)
\t-v\t\tmore detail (-v alone: verbose listing)
\t--help\t\tthis text
with no arguments: list every port of every switch, one line each:
\tvaleX:Y bridge_idx B port_idx P

Switches live in ${SHM_DIR}/nmts-<switch> (NMTS_SHM_DIR), readable by the users its mode and
group allow (NMTS_MODE, default 0660; see docs/security.md).
-a, -h, -d, -p and -P are requests to the nmts daemon (socket: NMTS_SOCKET, else
/run/nmts/nmts.sock for root), which forwards between each attached interface (netmap:IF,
AF_XDP or AF_PACKET) and its switch port valeX:IF in a thread of its own. If no daemon
answers, -a and -h start one in the background (it exits once nothing is attached;
NMTS_DAEMON_AUTOSTART=0: fail instead). See docs/interfaces.md.
`;
}

// ---------------------------------------------------------------------------------------
// -C

/** netmap's limits for VALE ports (netmap_vale.c: NM_BDG_MAXRINGS, NM_BDG_MAXSLOTS). */
const MAX_RINGS = 16, MAX_SLOTS = 4096, DEFAULT_SLOTS = 1024;

export interface RingConfig {
  /** 0: default (the kernel's nm_bound_var picks 1024 slots, 1 ring). */
  txSlots: number;
  rxSlots: number;
  txRings: number;
  rxRings: number;
  /** What netmap's kernel would change (values it bounds), and ignored extra numbers. */
  notes: string[];
}

function configNumbers(conf: string): number[] {
  // netmap splits with strtok (empty fields vanish) and reads each with atoi; netmap-ts
  // wants actual numbers, so a typo is reported rather than read as 0
  return conf.split(',').filter((t) => t !== '').map((t) => {
    if (!/^\s*\d{1,9}\s*$/.test(t)) throw new ValeCtlUsageError(`invalid -C '${conf}': '${t}' is not a number`);
    return Number(t);
  });
}

/**
 * -C for -n/-a/-h, as netmap's parse_ring_config: `x` = tx and rx slots, `x,y` = tx slots,
 * rx slots, `x,y,z` adds rings (tx = rx), `x,y,z,w` adds rx rings; more numbers are
 * ignored (with a note). Values out of netmap's bounds are noted the way the kernel bounds
 * them (nm_bound_var: below the minimum → default, above the maximum → maximum).
 */
export function parseRingConfig(conf: string): RingConfig {
  const c: RingConfig = { txSlots: 0, rxSlots: 0, txRings: 0, rxRings: 0, notes: [] };
  const v = configNumbers(conf);
  v.forEach((n, i) => {
    if (i === 0) c.txSlots = c.rxSlots = n;
    else if (i === 1) c.rxSlots = n;
    else if (i === 2) c.txRings = c.rxRings = n;
    else if (i === 3) c.rxRings = n;
    else c.notes.push(`ignored config: ${n}`);
  });
  const bound = (what: string, n: number, dflt: number, max: number): void => {
    if (n > max) c.notes.push(`${what} ${n} is bounded to ${max}`);
    else if (n === 0 && v.length > 0 && what.endsWith('slots')) c.notes.push(`${what} 0 means the default (${dflt})`);
  };
  bound('tx_slots', c.txSlots, DEFAULT_SLOTS, MAX_SLOTS);
  bound('rx_slots', c.rxSlots, DEFAULT_SLOTS, MAX_SLOTS);
  bound('tx_rings', c.txRings, 1, MAX_RINGS);
  bound('rx_rings', c.rxRings, 1, MAX_RINGS);
  return c;
}

export interface PollConfig {
  /** 'single': all rings polled by core firstCpu; 'multi': ring i by core i, for numCpus rings from firstCpu. */
  mode: 'single' | 'multi';
  firstCpu: number;
  numCpus: number;
}

/**
 * -C for -p, as netmap's parse_poll_config (`x,y[,z]`; z only in multi-core mode; at most
 * three numbers). The kernel's checks (get_polling_cfg) are made by checkPollConfig.
 */
export function parsePollConfig(conf: string): PollConfig {
  if (conf.trim() === '') throw new ValeCtlUsageError('invalid null/empty config');
  const v = configNumbers(conf);
  if (v.length > 3) throw new ValeCtlUsageError(`too many numbers in '${conf}'`);
  if (v[0] !== undefined && v[0] > 1) throw new ValeCtlUsageError(`invalid -C '${conf}': the first number is 0 (one core polls all rings) or 1 (one core per ring)`);
  const mode = v[0] === 1 ? 'multi' : 'single';
  if (v.length === 3 && mode !== 'multi') throw new ValeCtlUsageError(`too many numbers in '${conf}'`);
  return { mode, firstCpu: v[1] ?? 0, numCpus: v[2] ?? 1 };
}

/** The kernel's polling checks that do not need the interface (netmap_bdg.c get_polling_cfg). */
export function checkPollConfig(c: PollConfig): string | null {
  const cpus = availableParallelism();
  if (c.numCpus === 0) return 'the number of polling cores must be > 0';
  if (c.numCpus >= cpus) return `cannot use all the CPUs in the system (${cpus})`;
  if (c.mode === 'single' && c.numCpus !== 1) return 'one core polls all rings in mode 0';
  return null;
}

function checkMemId(text: string): void {
  if (/^\d/.test(text)) return;
  if (/^(netmap:|vale)/.test(text)) {
    try { parsePortSpec(text); return; } catch { /* fall through */ }
  }
  throw new ValeCtlUsageError(`invalid format in '-m ${text}' (missing 'netmap:'?)`);
}

// ---------------------------------------------------------------------------------------
// listing

export interface ValePortEntry {
  /** valeX:Y */
  name: string;
  switchName: string;
  /** The switch's position in the list of switches sorted by name. */
  bridgeIdx: number;
  /** The port's index on its switch (0..253). */
  portIdx: number;
  txRings: number;
  rxRings: number;
  txSlots: number;
  rxSlots: number;
  openers: number;
}

/** Every switch this user can open, sorted by name (bridge_idx is the position here). */
export function sortedSwitches(): SwitchInfo[] {
  return listSwitches().sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

/** Every port of every switch, by switch name then port index (vale-ctl without arguments). */
export function listValePorts(): ValePortEntry[] {
  const out: ValePortEntry[] = [];
  sortedSwitches().forEach((sw, bridgeIdx) => {
    for (const p of [...sw.ports].sort((x, y) => x.index - y.index)) {
      out.push({
        name: p.name, switchName: sw.name, bridgeIdx, portIdx: p.index,
        txRings: p.txRings, rxRings: p.rxRings, txSlots: p.txSlots, rxSlots: p.rxSlots, openers: p.openers,
      });
    }
  });
  return out;
}

export interface UnreadableSwitch { name: string; path: string; reason: string }

/** Switch files that exist but that this user may not open (they are missing from listings). */
export function unreadableSwitches(): UnreadableSwitch[] {
  if (process.env.NMTS_SHARED === '0') return [];
  let names: string[] = [];
  try { names = readdirSync(SHM_DIR); } catch { return []; }
  const out: UnreadableSwitch[] = [];
  for (const f of names.sort()) {
    const key = regionKey(f);
    if (key === null || key.startsWith('pipe.')) continue;
    const path = `${SHM_DIR}/${f}`;
    try {
      accessSync(path, fsConstants.R_OK | fsConstants.W_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EACCES';
      if (code === 'ENOENT') continue; // retired meanwhile
      out.push({ name: key, path, reason: `${strerrorOf(code)} (${describeFile(path)})` });
    }
  }
  return out;
}

function describeFile(path: string): string {
  try {
    const st = statSync(path);
    return `owner uid ${st.uid}, group gid ${st.gid}, mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
  } catch {
    return 'gone';
  }
}

const VALE_PORT = /^(vale[A-Za-z0-9_]*):(.+)$/;

/** Map the region of switch `sw` without creating it, surfacing EACCES and ENOENT. */
function switchRegion(sw: string, action: string, target: string): Region {
  if (process.env.NMTS_SHARED === '0') return processRegion();
  try {
    return openSharedRegion(sw, { create: false });
  } catch (e) {
    if (e instanceof NetmapError && e.code === 'ENOENT') throw new ValeCtlError(action, target, 'ENOENT', `no switch ${sw}`);
    fail(action, target, e);
  }
}

/** -l valeX:Y: the switch's and the port's indices. Throws ValeCtlError. */
export function valePortIndices(name: string): { bridgeIdx: number; portIdx: number } {
  const m = VALE_PORT.exec(name);
  if (!m) throw new ValeCtlError('list', name, 'EINVAL', 'a VALE port name is valeX:Y');
  switchRegion(m[1], 'list', name); // a permission problem is reported as such
  let switches: SwitchInfo[];
  try {
    switches = sortedSwitches();
  } catch (e) {
    fail('list', name, e);
  }
  const bridgeIdx = switches.findIndex((s) => s.name === m[1]);
  if (bridgeIdx < 0) throw new ValeCtlError('list', name, 'ENOENT', `no switch ${m[1]}`);
  const port = switches[bridgeIdx].ports.find((p) => p.name === name);
  if (!port) throw new ValeCtlError('list', name, 'ENOENT', `switch ${m[1]} has no port ${m[2]}`);
  return { bridgeIdx, portIdx: port.index };
}

// ---------------------------------------------------------------------------------------
// -g

export interface PortInfo {
  /** Size of the port's memory region in bytes. */
  memsize: number;
  txSlots: number;
  rxSlots: number;
  txRings: number;
  rxRings: number;
  memId: number;
  /** Ports opened on it now. */
  openers: number;
  /** The shared file holding the region ('' for a process region). */
  file: string;
}

/** The name a port has in its region's directory ('vale0:1', 'x{2', 'vale0:1}3'). */
function directoryName(spec: PortSpec): string {
  const base = spec.kind === 'vale' ? `${spec.switchName}:${spec.name}` : spec.name;
  if (!spec.pipe) return base;
  return `${base}${spec.pipe.end === 'master' ? '{' : '}'}${spec.pipe.id}`;
}

/**
 * -g PORT: what netmap's PORT_INFO_GET reports for an existing port (VALE port or pipe end):
 * region size and id, rings and slots. Throws ValeCtlError.
 */
export function valePortInfo(name: string): PortInfo {
  const action = 'obtain info for';
  let spec: PortSpec;
  try {
    spec = parsePortSpec(name, { defaultPrefix: true });
  } catch (e) {
    fail(action, name, e);
  }
  if (spec.kind === 'null') throw new ValeCtlError(action, name, 'ENOTSUP', 'the null port has no rings of its own until opened');
  if (spec.kind === 'netmap' && !spec.pipe) {
    if (interfaceExists(spec.name)) throw new ValeCtlError(action, name, 'ENOTSUP', LINUX_IF_NOTE);
    throw new ValeCtlError(action, name, 'ENXIO', `no network interface ${spec.name}`);
  }
  const key = regionKeyOf(spec);
  const dirName = directoryName(spec);
  let region: Region;
  if (key === null) region = processRegion();
  else {
    try {
      region = openSharedRegion(key, { create: false });
    } catch (e) {
      if (e instanceof NetmapError && e.code === 'ENOENT') throw new ValeCtlError(action, name, 'ENOENT', `${dirName} does not exist; ports exist while they are open`);
      fail(action, name, e);
    }
  }
  region.lockConfig();
  try {
    if (region.dead) throw new ValeCtlError(action, name, 'ENOENT', `${dirName} does not exist; ports exist while they are open`);
    reclaimDead(region, taskAlive); // a port whose openers all died is gone
    const entry = region.dirFind(DirType.Port, dirName);
    if (!entry) throw new ValeCtlError(action, name, 'ENOENT', `${dirName} does not exist; ports exist while they are open`);
    const u32 = region.u32, rec = u32[(entry + DIR.recOfs) >> 2];
    return {
      memsize: region.size,
      txSlots: u32[(rec + PR.txSlots) >> 2],
      rxSlots: u32[(rec + PR.rxSlots) >> 2],
      txRings: u32[(rec + PR.ntx) >> 2],
      rxRings: u32[(rec + PR.nrx) >> 2],
      memId: region.memId,
      openers: u32[(rec + PR.refs) >> 2],
      file: region.path,
    };
  } finally {
    region.unlockConfig();
  }
}

// ---------------------------------------------------------------------------------------
// Linux interfaces and persistent ports

const LINUX_IF_NOTE = '-g shows VALE ports and pipes; a Linux interface gets its rings when a program opens netmap:IF (nmts pkt-gen -i netmap:IF prints them), or attach it to a switch: vale-ctl -a valeX:IF';
const PERSISTENT_NOTE = 'persistent VALE ports, OS-visible interfaces like TAP devices, are not available in this version of netmap-ts; ephemeral ports valeX:Y work';
const IFNAMSIZ = 16;

function interfaceExists(ifname: string): boolean {
  return ifname !== '' && !ifname.includes('/') && ifname !== '.' && ifname !== '..' && existsSync(`/sys/class/net/${ifname}`);
}

export const ACTION: Record<Exclude<ValeCtlRequest, 'list' | 'info'>, string> = {
  attach: 'attach', 'attach-host': 'attach', detach: 'detach', create: 'create', remove: 'remove',
  'polling-on': 'enable polling on', 'polling-off': 'disable polling on',
};

/**
 * -n/-r IF. The name is checked as netmap's kernel does (so the error is the one netmap
 * gives: ENXIO for an interface that does not exist, EEXIST for -n of an existing one, EINVAL
 * for a malformed name), then the request fails with ENOTSUP. -a/-h/-d/-p/-P talk to the
 * daemon, which a synchronous call cannot: they are runValeCtlAsync's (vale-ctl-attach.ts).
 */
export function linuxInterfaceRequest(request: Exclude<ValeCtlRequest, 'list' | 'info'>, name: string, args: Pick<ValeCtlArgs, 'config' | 'memId'> = { config: null, memId: null }): never {
  const action = ACTION[request];
  if (request === 'create' || request === 'remove') {
    if (request === 'create') {
      if (name.startsWith('vale')) throw new ValeCtlError(action, name, 'EINVAL', 'a persistent port is named like an interface, without the vale prefix; attach it with -a valeX:NAME');
      if (Buffer.byteLength(name) >= IFNAMSIZ || name === '' || /[/\s:]/.test(name)) throw new ValeCtlError(action, name, 'EINVAL', `not a valid interface name (at most ${IFNAMSIZ - 1} bytes, no '/', ':' or spaces)`);
      if (interfaceExists(name)) throw new ValeCtlError(action, name, 'EEXIST', `network interface ${name} already exists`);
      throw new ValeCtlError(action, name, 'ENOTSUP', PERSISTENT_NOTE);
    }
    if (!interfaceExists(name)) throw new ValeCtlError(action, name, 'ENXIO', `no network interface ${name}`);
    throw new ValeCtlError(action, name, 'EINVAL', `${name} is not a persistent VALE port; ${PERSISTENT_NOTE}`);
  }
  throw new ValeCtlError(action, name, 'ENOTSUP', 'this request talks to the nmts daemon: use runValeCtlAsync or valeCtlAsync (as the nmts command does)');
}

// ---------------------------------------------------------------------------------------
// running a parsed command line

export interface ValeCtlOutput {
  /** One line of standard output (without newline). */
  out(line: string): void;
  /** One line of diagnostics (without newline). */
  err(line: string): void;
}

/**
 * Run vale-ctl's request, writing netmap's output lines. Throws ValeCtlError when the
 * request fails (the CLI prints its message and exits 1).
 */
export function runValeCtl(args: ValeCtlArgs, io: ValeCtlOutput): void {
  const v = args.verbose > 0;
  switch (args.request) {
    case 'list': {
      if (args.name === null) {
        let ports: ValePortEntry[];
        try {
          ports = listValePorts();
        } catch (e) {
          fail('list', 'all', e);
        }
        for (const p of ports) {
          io.out(`${p.name} bridge_idx ${p.bridgeIdx} port_idx ${p.portIdx}` +
            (v ? ` tx_rings ${p.txRings} rx_rings ${p.rxRings} tx_slots ${p.txSlots} rx_slots ${p.rxSlots} openers ${p.openers}` : ''));
        }
        if (v) for (const u of unreadableSwitches()) io.err(`vale-ctl: switch ${u.name} not listed: ${u.path}: ${u.reason}`);
        return;
      }
      const r = valePortIndices(args.name);
      io.out(`bridge_idx: ${r.bridgeIdx}`);
      io.out(`port_idx:   ${r.portIdx}`);
      if (v) fileLine(args.name, io);
      return;
    }
    case 'info': {
      const r = valePortInfo(args.name!);
      io.out(`memsize:    ${r.memsize}`);
      io.out(`tx_slots:   ${r.txSlots}`);
      io.out(`rx_slots:   ${r.rxSlots}`);
      io.out(`tx_rings:   ${r.txRings}`);
      io.out(`rx_rings:   ${r.rxRings}`);
      io.out(`mem_id:     ${r.memId}`);
      if (v) {
        io.out(`openers:    ${r.openers}`);
        if (r.file) io.out(`file:       ${r.file} (${describeFile(r.file)})`);
      }
      return;
    }
    default: {
      if (args.request === 'create' || args.request === 'remove') { // persistent TAP ports: vale-ctl-tap.ts
        try {
          valeCtlTap(args, io);
        } catch (e) {
          fail(ACTION[args.request], args.name!, e);
        }
        return;
      }
      linuxInterfaceRequest(args.request, args.name!, args); // -a/-h/-d/-p/-P: runValeCtlAsync's
    }
  }
}

function fileLine(name: string, io: ValeCtlOutput): void {
  const m = VALE_PORT.exec(name);
  if (!m || process.env.NMTS_SHARED === '0') return;
  const path = regionPath(m[1]);
  io.out(`file:       ${path} (${describeFile(path)})`);
}

export interface ValeCtlResult { status: number; stdout: string; stderr: string }

/**
 * One vale-ctl invocation as a library call: collects what it prints and turns its errors into
 * the exit status netmap's tool would have (0 ok, 1 failed request, 2 bad usage).
 */
export class ValeCtlInvocation {
  stdout = '';
  stderr = '';
  readonly io: ValeCtlOutput = { out: (l) => { this.stdout += `${l}\n`; }, err: (l) => { this.stderr += `${l}\n`; } };
  /** The parsed arguments, or the final result when there is nothing to run (bad usage, --help). */
  parse(argv: readonly string[]): ValeCtlArgs | ValeCtlResult {
    let args: ValeCtlArgs;
    try {
      args = parseValeCtlArgs(argv);
    } catch (e) {
      if (!(e instanceof ValeCtlUsageError)) throw e;
      return { status: 2, stdout: this.stdout, stderr: `vale-ctl: ${e.message}\n${valeCtlUsage()}` };
    }
    return args.help ? { status: 0, stdout: valeCtlUsage(), stderr: this.stderr } : args;
  }
  ok(): ValeCtlResult {
    return { status: 0, stdout: this.stdout, stderr: this.stderr };
  }
  /** The result for an error the request ended with (unknown errors are rethrown). */
  failed(e: unknown): ValeCtlResult {
    const { stdout, stderr } = this;
    if (e instanceof ValeCtlUsageError) return { status: 2, stdout, stderr: `${stderr}vale-ctl: ${e.message}\n${valeCtlUsage()}` };
    if (e instanceof ValeCtlError) return { status: 1, stdout, stderr: `${stderr}${e.message}\n` };
    if (e instanceof NetmapError) return { status: 1, stdout, stderr: `${stderr}vale-ctl: ${e.message}\n` };
    throw e;
  }
}

/** vale-ctl as a library call: parse `argv` (vale-ctl's options) and run it. */
export function valeCtl(argv: readonly string[]): ValeCtlResult {
  const call = new ValeCtlInvocation();
  const args = call.parse(argv);
  if ('status' in args) return args;
  try {
    runValeCtl(args, call.io);
    return call.ok();
  } catch (e) {
    return call.failed(e);
  }
}
