// What an administrator changes and reads in a VXLAN port's forwarding table, the same for
// `vale-ctl --vxlan-fdb / --vxlan-fdb-del / --vxlan-fdb-show` and the daemon's control socket
// (vxlan-fdb-add, vxlan-fdb-del, vxlan-fdb-show), as `bridge fdb append / del / show` on
// Linux: a static entry is appended to the port's run-time list (config.ts) and the port's
// opener is told through the counter page's FDB generation (stats.ts), so it takes the change
// at its next sync; the table in force is read from the opener's shared table (fdb-table.ts),
// or, while the port is closed, the static entries it will open with.
import { appendStaticEntry, loadStaticEntries, loadVxlanConfig, parseStaticEntry, parseStaticSelector, removeStaticEntries, type VxlanStatic } from './config.js';
import { bumpFdbGeneration } from './stats.js';
import { readFdbTable, type FdbEntry } from './fdb-table.js';

/** Add static entry `MAC@VTEP` to port `name` (EINVAL for a bad entry, ENXIO for no such port): the entry added. */
export function addStaticFdb(name: string, entry: string): VxlanStatic {
  const e = parseStaticEntry(entry);
  appendStaticEntry(name, e);
  bumpFdbGeneration(name);
  return e;
}

/** Remove the run-time static entries matching `MAC` or `MAC@VTEP` (ENOENT when none does; EPERM for a configured one): what was matched. */
export function deleteStaticFdb(name: string, selector: string): VxlanStatic {
  const sel = parseStaticSelector(selector);
  removeStaticEntries(name, sel);
  bumpFdbGeneration(name);
  return sel;
}

/** The forwarding table of a port, as shown. */
export interface FdbView {
  /** Whether a program has the port open (its table is then the one in force). */
  open: boolean;
  /** While not open: 'closed', or why the table could not be read. */
  note: string;
  /** Live entries in MAC order (open), or the static entries it opens with (closed). */
  entries: FdbEntry[];
}

/** Port `name`'s forwarding table (ENXIO when there is no such port). */
export function fdbView(name: string): FdbView {
  const c = loadVxlanConfig(name).config;
  const t = readFdbTable(name);
  if ('error' in t || !t.open) {
    const statics = [...c.fdb, ...loadStaticEntries(name)];
    return { open: false, note: 'error' in t ? t.error : 'closed', entries: statics.map((e) => ({ mac: e.mac, vtep: e.dst, static: true, ageSec: null })) };
  }
  return { open: true, note: '', entries: t.entries };
}
