// vale-ctl for VXLAN ports: `-n NAME --vxlan vni=42,local=10.0.0.1[,remote=...]` makes one (its
// config file, ports/vxlan/config.ts), `--vxlan-fdb NAME,MAC@VTEP` adds a static FDB entry (the
// port's opener takes it at its next sync), `--vxlan-fdb-del NAME,MAC[@VTEP]` removes one so
// added (the opener drops it at its next sync; the MAC is then learned again as any),
// `--vxlan-fdb-show NAME` lists the forwarding table in force (fdb-table.ts), `-r NAME` removes it (EBUSY while a program or an
// attachment holds it open), and `-v` lists each one with its configuration and counters.
// `-a valeX:NAME` is the daemon's, as for interfaces: its forwarder opens netmap:NAME.
import { existsSync, openSync, closeSync, constants } from 'node:fs';
import { NetmapError } from '../../core/region.js';
import { flock, LOCK_EX, LOCK_NB } from '../../sys/libc.js';
import {
  formatVxlanSpec, vxlanSpecText, loadVxlanConfig, parseVxlanSpec, removeVxlanFiles, storeVxlanConfig, validVxlanName, vxlanConfigPath, vxlanExists, vxlanNames,
} from '../../ports/vxlan/config.js';
import { portSocketDrops, readVxlanStats } from '../../ports/vxlan/stats.js';
import { addStaticFdb, deleteStaticFdb, fdbView } from '../../ports/vxlan/fdb-admin.js';
import type { ValeCtlOutput } from './vale-ctl.js';

export { vxlanExists };

/** -n NAME --vxlan SPEC */
export function createVxlan(name: string, spec: string, io: ValeCtlOutput, verbose: boolean): void {
  if (!validVxlanName(name)) throw new NetmapError('EINVAL', `'${name}' is not a VXLAN port name: 1 to 15 letters, digits, '_' or '.', not starting with vale`);
  if (existsSync(`/sys/class/net/${name}`)) throw new NetmapError('EEXIST', `network interface ${name} exists: netmap:${name} would be ambiguous`);
  const c = parseVxlanSpec(spec);
  storeVxlanConfig(name, c);
  if (verbose) io.out(`${name}: VXLAN port ${formatVxlanSpec(c)}; open it as netmap:${name}, attach it with vale-ctl -a valeX:${name}`);
}

/** --vxlan-fdb NAME,MAC@VTEP: a static entry, kept with the port and taken by its opener at once. */
export function appendVxlanFdb(name: string, entry: string): void {
  addStaticFdb(name, entry);
}

/** --vxlan-fdb-del NAME,MAC[@VTEP]: remove run-time static entries (ENOENT when none matches). */
export function deleteVxlanFdb(name: string, entry: string): void {
  deleteStaticFdb(name, entry);
}

/**
 * --vxlan-fdb-show NAME: the forwarding table in force while the port is open, one entry a
 * line in MAC order, `MAC dst VTEP static` or `MAC dst VTEP learned, last frame N s ago`
 * (aged-out entries left out); while it is closed, the static entries it will start with.
 */
export function showVxlanFdb(name: string): string[] {
  const v = fdbView(name); // ENXIO naming the port when there is none
  if (!v.open) return [`${name}: ${v.note}: no learned entries; the static ones it opens with:`, ...v.entries.map((e) => `${e.mac} dst ${e.vtep} static`)];
  if (v.entries.length === 0) return [`${name}: no entries (nothing learned yet, no static entry)`];
  return v.entries.map((e) => `${e.mac} dst ${e.vtep} ${e.static ? 'static' : `learned, last frame ${e.ageSec!.toFixed(1)} s ago`}`);
}

/** -r NAME of a VXLAN port. */
export function removeVxlan(name: string): void {
  let fd: number;
  try {
    fd = openSync(vxlanConfigPath(name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    throw new NetmapError('ENXIO', `no VXLAN port ${name}`);
  }
  try {
    if (!flock(fd, LOCK_EX | LOCK_NB)) {
      throw new NetmapError('EBUSY', `VXLAN port ${name} is open (netmap:${name} in a program, or attached to a switch: vale-ctl -d valeX:${name}); close it first`);
    }
    removeVxlanFiles(name);
  } finally {
    closeSync(fd);
  }
}

/** -v listing lines: one per VXLAN port, its config and counters. */
export function vxlanListing(): string[] {
  const lines: string[] = [];
  for (const name of vxlanNames()) {
    let spec: string, sockDrops: number | null = null;
    try {
      const c = loadVxlanConfig(name).config;
      spec = vxlanSpecText(name, c);
      sockDrops = portSocketDrops(c);
    } catch (e) {
      lines.push(`${name} vxlan unreadable: ${(e as Error).message}`);
      continue;
    }
    const s = readVxlanStats(name);
    // rx_socket_drops: datagrams the kernel dropped with the sockets' buffers full (this namespace's /proc/net/udp, udp6)
    const counters = s ? `${Object.entries(s.counters).map(([k, v]) => `${k} ${v}`).join(' ')}${s.open && sockDrops !== null ? ` rx_socket_drops ${sockDrops}` : ''}` : 'never opened';
    lines.push(`${name} vxlan ${spec} ${s?.open ? 'open' : 'closed'} ${counters}`);
  }
  return lines;
}
