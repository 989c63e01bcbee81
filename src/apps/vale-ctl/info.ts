// What vale-ctl lists and reports: the ports of every switch (no arguments), a port's indices
// (-l) and its rings and memory (-g), read from the switches' shared files.
import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { DIR, DirType, PR, RecKind } from '../../core/layout.js';
import { taskAlive } from '../../core/lock.js';
import { processRegion } from '../../core/memory.js';
import { regionKeyOf } from '../../core/open.js';
import { parsePortSpec, type PortSpec } from '../../core/portspec.js';
import { portStats, reclaimDead, type PortStats } from '../../core/records.js';
import { NetmapError, type Region } from '../../core/region.js';
import { openSharedRegion, regionKey } from '../../core/shm.js';
import { listSwitchesReport, type SwitchInfo } from '../../vale/api.js';
import { readMetrics } from '../../vale/metrics.js';
import { fail, strerrorOf, ValeCtlError } from './errors.js';

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
  /** Packets, bytes and drops of both sides, summed over the port's rings. */
  stats: PortStats;
  /** Of stats.txDrops, frames refused for a malformed virtio-net header (listValePorts(true) only). */
  badVnetHdr: number;
}

/**
 * The counters -v prints, as one string: "tx_packets N tx_bytes N tx_drops N rx_packets N
 * rx_bytes N rx_drops N", then " tx_bad_vnet_hdr N" when `badVnetHdr` is not 0. tx_drops: frames
 * the port sent that the switch could not deliver (a full destination ring, no destination, a
 * malformed virtio-net header); tx_bad_vnet_hdr: of those, the ones refused for a malformed
 * virtio-net header (vale/offload.ts); rx_drops: frames for the port that found its receive
 * ring full.
 */
export function countersText(s: PortStats, badVnetHdr = 0): string {
  return `tx_packets ${s.txPackets} tx_bytes ${s.txBytes} tx_drops ${s.txDrops} ` +
    `rx_packets ${s.rxPackets} rx_bytes ${s.rxBytes} rx_drops ${s.rxDrops}` +
    (badVnetHdr > 0 ? ` tx_bad_vnet_hdr ${badVnetHdr}` : '');
}

let issues: string[] = [];
let unreadable: UnreadableSwitch[] = [];

/** What the last listing skipped: damaged or untrusted files (not EACCES: see unreadableSwitches), bad records. */
export function listingIssues(): string[] {
  return issues;
}

/** Every switch this user can open, sorted by name (bridge_idx is the position here). */
export function sortedSwitches(): SwitchInfo[] {
  const r = listSwitchesReport();
  unreadable = [];
  for (const s of r.skipped) {
    if (s.code !== 'EACCES') continue;
    const name = regionKey(basename(s.file));
    if (name === null || name.startsWith('pipe.')) continue;
    unreadable.push({ name, path: s.file, reason: `${strerrorOf('EACCES')} (${describeFile(s.file)})` });
  }
  issues = [...r.skipped.filter((s) => s.code !== 'EACCES').map((s) => `${s.file} not listed: ${s.reason.startsWith(`${s.file}: `) ? s.reason.slice(s.file.length + 2) : s.reason}`), ...r.problems];
  return r.switches.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

/**
 * Every port of every switch, by switch name then port index (vale-ctl without arguments);
 * `drops` also reads each port's bad_vnet_hdr drops (from the metrics reader, vale-ctl -v).
 */
export function listValePorts(drops = false): ValePortEntry[] {
  const bad = new Map<string, number>();
  if (drops) for (const s of readMetrics().switches) for (const p of s.ports) bad.set(p.port, p.drops.badVnetHdr);
  const out: ValePortEntry[] = [];
  sortedSwitches().forEach((sw, bridgeIdx) => {
    for (const p of [...sw.ports].sort((x, y) => x.index - y.index)) {
      out.push({
        name: p.name, switchName: sw.name, bridgeIdx, portIdx: p.index,
        txRings: p.txRings, rxRings: p.rxRings, txSlots: p.txSlots, rxSlots: p.rxSlots, openers: p.openers, stats: p.stats,
        badVnetHdr: bad.get(p.name) ?? 0,
      });
    }
  });
  return out;
}

export interface UnreadableSwitch { name: string; path: string; reason: string }

/**
 * Switch files that exist but that this user may not open (they are missing from listings):
 * the EACCES part of what the last listing's pass over the directory skipped.
 */
export function unreadableSwitches(): UnreadableSwitch[] {
  return unreadable;
}

export function describeFile(path: string): string {
  try {
    const st = statSync(path);
    return `owner uid ${st.uid}, group gid ${st.gid}, mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
  } catch {
    return 'gone';
  }
}

export const VALE_PORT = /^(vale[A-Za-z0-9_]*):(.+)$/;

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
  /** VALE ports: the virtio-net header length (0, 10, 12), -1 if the record holds another value; pipes: 0. */
  vnetHdrLen: number;
  /** Ports opened on it now. */
  openers: number;
  /** The shared file holding the region ('' for a process region). */
  file: string;
  /** The port's counters (see countersText). */
  stats: PortStats;
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
    const vnet = u32[(rec + PR.vnetHdrLen) >> 2];
    return {
      memsize: region.size,
      txSlots: u32[(rec + PR.txSlots) >> 2],
      rxSlots: u32[(rec + PR.rxSlots) >> 2],
      txRings: u32[(rec + PR.ntx) >> 2],
      rxRings: u32[(rec + PR.nrx) >> 2],
      memId: region.memId,
      vnetHdrLen: u32[(rec + PR.kind) >> 2] !== RecKind.Vale ? 0 : vnet === 0 || vnet === 10 || vnet === 12 ? vnet : -1,
      openers: u32[(rec + PR.refs) >> 2],
      file: region.path,
      stats: portStats(region, rec),
    };
  } finally {
    region.unlockConfig();
  }
}

// ---------------------------------------------------------------------------------------
// Linux interfaces and persistent ports

const LINUX_IF_NOTE = '-g shows VALE ports and pipes; a Linux interface gets its rings when a program opens netmap:IF (nmts pkt-gen -i netmap:IF prints them), or attach it to a switch: vale-ctl -a valeX:IF';
function interfaceExists(ifname: string): boolean {
  return ifname !== '' && !ifname.includes('/') && ifname !== '.' && ifname !== '..' && existsSync(`/sys/class/net/${ifname}`);
}
