// vale-ctl: netmap's tool to inspect and manage VALE switches (apps/vale-ctl/vale-ctl.c), on
// netmap-ts switches. Same options, same output lines, same error lines
// (`failed to <action> NAME: <strerror>`), so scripts written for netmap keep working:
//
//   (no arguments)   every port of every switch: `valeX:Y bridge_idx B port_idx P`
//   -l valeX:Y       `bridge_idx: B` / `port_idx:   P`
//   -g PORT          `memsize:`, `tx_slots:`, `rx_slots:`, `tx_rings:`, `rx_rings:`, `mem_id:`; then
//                    `hdr_len:` (the virtio-net header length, netmap's PORT_HDR_GET) when not 0 or with -v
//   -a/-h/-d valeX:IF, -p/-P valeX:IF   Linux interfaces on a switch: requests to the nmts
//                    daemon, which keeps a forwarder thread per attached interface (started on
//                    demand when none answers: vale-ctl/attach.ts, vale-attach/vale-attach.ts); they need
//                    runValeCtlAsync / valeCtlAsync (attach.ts), which the CLI uses.
//   -n IF, -r IF     persistent (OS-visible) ports; -n NAME --vxlan SPEC: a VXLAN port (vxlan.ts).
//
// Differences from netmap, all deliberate: bridge_idx is the switch's position in the list of
// switches sorted by name (netmap: its slot in the kernel's bridge array); `-l` of a port
// that a switch does not have fails with ENOENT (netmap prints port_idx 255); `-g` of a port
// that does not exist fails with ENOENT (netmap creates it for the query, and reports its
// defaults); `rx_rings:` has its colon; listing everything exits 0 (netmap's exits 1).
import { availableParallelism } from 'node:os';
import '../../index.js'; // installs the port-kind table: reclaiming a dead port needs its destructors
import { parsePortSpec } from '../../core/portspec.js';
import { NetmapError } from '../../core/region.js';
import { regionPath, SHM_DIR } from '../../core/shm.js';
import { valeCtlTap } from './tap.js';
import { appendVxlanFdb, createVxlan, deleteVxlanFdb, removeVxlan, showVxlanFdb, vxlanExists, vxlanListing } from './vxlan.js';
import { fail, ValeCtlError, ValeCtlUsageError } from './errors.js';
import { countersText, describeFile, listingIssues, listValePorts, unreadableSwitches, VALE_PORT, valePortIndices, valePortInfo, type ValePortEntry } from './info.js';
import { boundNotes, ringConfigOf, type RingConfig as RingCounts } from '../common/ring-config.js';

export { strerrorOf, ValeCtlError, ValeCtlUsageError } from './errors.js';
export {
  listValePorts, sortedSwitches, unreadableSwitches, valePortIndices, valePortInfo, type PortInfo, type UnreadableSwitch, type ValePortEntry,
} from './info.js';

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
  | 'polling-off' // -P
  | 'fdb-append' // --vxlan-fdb NAME,MAC@VTEP
  | 'fdb-delete' // --vxlan-fdb-del NAME,MAC[@VTEP]
  | 'fdb-show'; // --vxlan-fdb-show NAME

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
  /** --vxlan SPEC (with -n): make a VXLAN port instead of a TAP */
  vxlan: string | null;
  /** --vhost-user PATH with -n: a vhost-user port served by the daemon on socket PATH. */
  vhostUser: string | null;
  /** 'stream' with --stream PATH (then vhostUser holds PATH): a QEMU -netdev stream port; absent for vhost-user. */
  vmKind?: 'stream';
  /** --offloads with -n NAME --vhost-user PATH: offer checksum and TSO offloads (the port carries a virtio-net header). */
  offloads?: boolean;
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
  const a: ValeCtlArgs = { request: 'list', name: null, config: null, memId: null, verbose: 0, help: false, vxlan: null, vhostUser: null };
  let requested = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const w = argv[i];
    if (w === '--') { i++; break; }
    if (w === '--help') { a.help = true; continue; }
    if (w === '--vhost-user' || w.startsWith('--vhost-user=')) {
      const v = w.includes('=') ? w.slice(w.indexOf('=') + 1) : argv[++i];
      if (v === undefined || v === '') throw new ValeCtlUsageError('--vhost-user requires a socket path');
      if (a.vmKind === 'stream') throw new ValeCtlUsageError('-n makes one port: --vhost-user or --stream, not both');
      a.vhostUser = v;
      continue;
    }
    if (w === '--offloads') { a.offloads = true; continue; }
    if (w === '--stream' || w.startsWith('--stream=')) {
      const v = w.includes('=') ? w.slice(w.indexOf('=') + 1) : argv[++i];
      if (v === undefined || v === '') throw new ValeCtlUsageError('--stream requires a socket path');
      if (a.vhostUser !== null && a.vmKind !== 'stream') throw new ValeCtlUsageError('-n makes one port: --vhost-user or --stream, not both');
      a.vhostUser = v;
      a.vmKind = 'stream';
      continue;
    }
    if (w === '--vxlan-fdb-show' || w.startsWith('--vxlan-fdb-show=')) {
      const v = w === '--vxlan-fdb-show' ? argv[++i] : w.slice(17);
      if (v === undefined || v === '') throw new ValeCtlUsageError('--vxlan-fdb-show requires NAME (a VXLAN port whose forwarding table to list)');
      a.request = 'fdb-show';
      a.name = v;
      requested = true;
      continue;
    }
    if (w === '--vxlan-fdb-del' || w.startsWith('--vxlan-fdb-del=')) {
      const v = w === '--vxlan-fdb-del' ? argv[++i] : w.slice(16);
      const comma = v === undefined ? -1 : v.indexOf(',');
      if (v === undefined || comma <= 0) throw new ValeCtlUsageError('--vxlan-fdb-del requires NAME,MAC[@VTEP] (a static FDB entry of VXLAN port NAME to remove)');
      a.request = 'fdb-delete';
      a.name = v.slice(0, comma);
      a.vxlan = v.slice(comma + 1);
      requested = true;
      continue;
    }
    if (w === '--vxlan-fdb' || w.startsWith('--vxlan-fdb=')) {
      const v = w === '--vxlan-fdb' ? argv[++i] : w.slice(12);
      const comma = v === undefined ? -1 : v.indexOf(',');
      if (v === undefined || comma <= 0) throw new ValeCtlUsageError('--vxlan-fdb requires NAME,MAC@VTEP (a static FDB entry for VXLAN port NAME)');
      a.request = 'fdb-append';
      a.name = v.slice(0, comma);
      a.vxlan = v.slice(comma + 1);
      requested = true;
      continue;
    }
    if (w === '--vxlan' || w.startsWith('--vxlan=')) {
      const v = w === '--vxlan' ? argv[++i] : w.slice(8);
      if (v === undefined || v === '') throw new ValeCtlUsageError('--vxlan requires vni=N,local=ADDR[,remote=ADDR...][,group=ADDR][,dev=IF][,port=4789]');
      a.vxlan = v;
      continue;
    }
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
  if (a.offloads && (a.vhostUser === null || a.vmKind === 'stream')) throw new ValeCtlUsageError('--offloads applies to -n NAME --vhost-user PATH');
  if (a.vhostUser !== null && a.request !== 'create') throw new ValeCtlUsageError(`${a.vmKind === 'stream' ? '--stream' : '--vhost-user'} applies to -n`);
  if (a.vhostUser !== null && a.vxlan !== null) throw new ValeCtlUsageError('-n makes one port: --vxlan or --vhost-user, not both');
  if (a.config !== null && !['create', 'attach', 'attach-host', 'polling-on', 'polling-off'].includes(a.request)) {
    throw new ValeCtlUsageError('-C applies to -n, -a, -h, -p and -P');
  }
  if (a.memId !== null && !['create', 'attach', 'attach-host'].includes(a.request)) {
    throw new ValeCtlUsageError('-m applies to -n, -a and -h');
  }
  if (a.vxlan !== null && a.request !== 'create' && a.request !== 'fdb-append' && a.request !== 'fdb-delete') throw new ValeCtlUsageError('--vxlan applies to -n');
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
\t-n NAME --vxlan vni=N,local=ADDR[,remote=ADDR...][,group=ADDR][,dev=IF][,port=4789]
\t\t\tcreate a VXLAN port NAME (netmap:NAME; -a valeX:NAME joins a switch to the overlay;
\t\t\talso ttl=, df=0|1, ageing=SEC, fdb=MAC@VTEP static entries, offloads=0|1; see docs/vxlan.md)
\t--vxlan-fdb NAME,MAC@VTEP  add a static FDB entry to VXLAN port NAME (at once if it is open)
\t--vxlan-fdb-del NAME,MAC[@VTEP]  remove static FDB entries added with --vxlan-fdb (at once)
\t--vxlan-fdb-show NAME  list VXLAN port NAME's forwarding table: MAC dst VTEP, static or learned
\t\t\t(with the seconds since its last frame), as bridge fdb show lists a vxlan device's
\t-r IF\t\tdelete the persistent port (TAP device, VXLAN or vhost-user port) IF
\t-n NAME --vhost-user PATH\tcreate a vhost-user port NAME served by the daemon on socket PATH
\t\t\t(QEMU, DPDK virtio_user connect to it; -a valeX:NAME attaches it, -r NAME removes it;
\t\t\t-C tx_slots,rx_slots,queues: queue pairs for a multi-queue guest;
\t\t\t--offloads: checksum and TSO offloads, the port carries a virtio-net header; see docs/vms.md)
\t-n NAME --stream PATH\tcreate a port NAME for QEMU's -netdev stream on unix socket PATH (the daemon listens)
\t-C x[,y[,z[,w]]]\twith -n/-a/-h: tx slots, rx slots, rings (tx = rx), rx rings
\t\t\twith -p: 0,y = poll on core y; 1,y,z = netmap's core per ring (here: core y)
\t-p valeX:IF\tbusy-poll IF: its forwarding thread never sleeps (see -C); for a vhost-user
\t\t\tport valeX:NAME the port's thread also asks the guest for no kicks
\t-P valeX:IF\tstop polling IF (or vhost-user port NAME)
\t-m memid\twith -n/-a/-h: memory region to use (a number, or netmap:PORT to share its region)
\t-v\t\tmore detail (-v alone: verbose listing)
\t--help\t\tthis text
with no arguments: list every port of every switch, one line each:
\tvaleX:Y bridge_idx B port_idx P
with -v, each line adds rings, slots, openers and the port's counters:
\ttx_packets tx_bytes tx_drops (sent, not delivered by the switch)
\trx_packets rx_bytes rx_drops (delivered to it, dropped with its receive ring full)

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

export interface RingConfig extends RingCounts {
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
  const v = configNumbers(conf);
  const counts = ringConfigOf(v.slice(0, 4));
  const notes = v.slice(4).map((n) => `ignored config: ${n}`);
  return { ...counts, notes: [...notes, ...boundNotes(counts, v.length > 0)] };
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

export const ACTION: Record<Exclude<ValeCtlRequest, 'list' | 'info'>, string> = {
  attach: 'attach', 'attach-host': 'attach', detach: 'detach', create: 'create', remove: 'remove',
  'polling-on': 'enable polling on', 'polling-off': 'disable polling on', 'fdb-append': 'add an FDB entry to', 'fdb-delete': 'remove an FDB entry from',
  'fdb-show': 'list the FDB of',
};

/** -a/-h/-d/-p/-P talk to the daemon, which a synchronous call cannot: they are runValeCtlAsync's (attach.ts). */
function daemonRequestOnly(request: Exclude<ValeCtlRequest, 'list' | 'info'>, name: string): never {
  throw new ValeCtlError(ACTION[request], name, 'ENOTSUP', 'this request talks to the nmts daemon: use runValeCtlAsync or valeCtlAsync (as the nmts command does)');
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
          ports = listValePorts(v);
        } catch (e) {
          fail('list', 'all', e);
        }
        for (const p of ports) {
          io.out(`${p.name} bridge_idx ${p.bridgeIdx} port_idx ${p.portIdx}` +
            (v ? ` tx_rings ${p.txRings} rx_rings ${p.rxRings} tx_slots ${p.txSlots} rx_slots ${p.rxSlots} openers ${p.openers} ${countersText(p.stats, p.badVnetHdr)}` : ''));
        }
        if (v) for (const u of unreadableSwitches()) io.err(`vale-ctl: switch ${u.name} not listed: ${u.path}: ${u.reason}`);
        if (v) for (const line of listingIssues()) io.err(`vale-ctl: ${line}`);
        if (v) for (const line of vxlanListing()) io.out(line);
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
      // netmap's -g has no such line: printed when the port carries a header (or with -v)
      if (r.vnetHdrLen !== 0 || v) io.out(`hdr_len:    ${r.vnetHdrLen < 0 ? 'invalid (the port record holds another value)' : r.vnetHdrLen}`);
      if (v) {
        io.out(`openers:    ${r.openers}`);
        io.out(`tx:         ${r.stats.txPackets} packets ${r.stats.txBytes} bytes ${r.stats.txDrops} drops (not delivered by the switch)`);
        io.out(`rx:         ${r.stats.rxPackets} packets ${r.stats.rxBytes} bytes ${r.stats.rxDrops} drops (receive ring full)`);
        if (r.file) io.out(`file:       ${r.file} (${describeFile(r.file)})`);
      }
      return;
    }
    default: {
      if (args.request === 'fdb-show') {
        try {
          for (const line of showVxlanFdb(args.name!)) io.out(line);
        } catch (e) {
          fail(ACTION[args.request], args.name!, e);
        }
        return;
      }
      if (args.request === 'fdb-append' || args.request === 'fdb-delete') {
        try {
          if (args.request === 'fdb-append') appendVxlanFdb(args.name!, args.vxlan!);
          else deleteVxlanFdb(args.name!, args.vxlan!);
        } catch (e) {
          fail(ACTION[args.request], args.name!, e);
        }
        return;
      }
      if (args.request === 'create' || args.request === 'remove') { // persistent TAP ports: tap.ts; VXLAN: vxlan.ts
        try {
          if (args.request === 'create' && args.vxlan !== null) createVxlan(args.name!, args.vxlan, io, v);
          else if (args.request === 'remove' && vxlanExists(args.name!)) removeVxlan(args.name!);
          else valeCtlTap(args, io);
        } catch (e) {
          fail(ACTION[args.request], args.name!, e);
        }
        return;
      }
      daemonRequestOnly(args.request, args.name!);
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
