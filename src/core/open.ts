// Opening a port by name. `open` parses the name with netmap's grammar and hands it to the
// entry of the port-kind table that serves it (in netmap's order: monitor flags, then pipes,
// then VALE, then null, then interfaces). The table itself (src/port-kinds.ts) sits above
// core, ports and vale, and the package entry installs it with usePortKinds(): this layer
// knows only its shape, so it imports no port kind.
import { NR_MONITOR_RX, NR_MONITOR_TX, NR_ZCOPY_MON } from './constants.js';
import type { RecKind } from './layout.js';
import { processRegion } from './memory.js';
import type { OpenOptions, Port } from './port.js';
import { parsePortSpec, type PortSpec } from './portspec.js';
import { NetmapError, RegionRetired, type Region } from './region.js';
import { setDestructors, type Destructor } from './records.js';
import { forgetRegion, openSharedRegion, retireRegion } from './shm.js';

export type PortFactory = (region: Region, spec: PortSpec, opts: OpenOptions) => Port;
export type FactoryKind = 'monitor' | 'pipe' | 'vale' | 'null' | 'netmap';

/** One port kind: how a name of that kind is opened, and how its records are destroyed. */
export interface PortKind {
  open: PortFactory;
  /**
   * Destructors of the record kinds it makes, run under the config lock when the last
   * opener goes (close, reclaim of dead openers); kinds without one are just freed.
   */
  destroy?: Partial<Record<RecKind, Destructor>>;
}
export type PortKindTable = Readonly<Record<FactoryKind, PortKind>>;

let kinds: PortKindTable | null = null;

/** Install the table of port kinds (the package entry does, once per thread). */
export function usePortKinds(table: PortKindTable): void {
  kinds = table;
  const all: Partial<Record<RecKind, Destructor>> = {};
  for (const k of Object.values(table)) Object.assign(all, k.destroy);
  setDestructors(all);
}

export function factoryKind(spec: PortSpec): FactoryKind {
  if (spec.flags & (NR_MONITOR_RX | NR_MONITOR_TX | NR_ZCOPY_MON)) return 'monitor';
  if (spec.pipe) return 'pipe';
  if (spec.kind === 'vale') return 'vale';
  if (spec.kind === 'null') return 'null';
  return 'netmap';
}

/** Merge @conf: from the name into the options (the name wins, as with libnetmap). */
function withConf(spec: PortSpec, opts: OpenOptions): OpenOptions {
  const c = spec.conf;
  return {
    ...opts,
    txRings: c.txRings ?? opts.txRings,
    rxRings: c.rxRings ?? opts.rxRings,
    txSlots: c.txSlots ?? opts.txSlots,
    rxSlots: c.rxSlots ?? opts.rxSlots,
    vnetHdrLen: c.vnetHdrLen ?? opts.vnetHdrLen,
  };
}

/**
 * Open a port by netmap name: `vale0:1`, `vale0:1-0`, `x{1` / `x}1` (pipes), `vale0:1/rt`
 * (monitor), `null`, with `/x /R /T` flags and `@conf:rings=2,slots=512`. Names without a
 * prefix get `netmap:` as in netmap's tools.
 */
export function open(name: string, opts: OpenOptions = {}): Port {
  const spec = parsePortSpec(name, { defaultPrefix: true });
  if (spec.extmem) throw new NetmapError('ENOTSUP', `${name}: @extmem is not supported (netmap-ts regions are SharedArrayBuffers or shared files)`);
  if (spec.offset) throw new NetmapError('ENOTSUP', `${name}: @offset is not supported yet`);
  const kind = factoryKind(spec);
  const vnet = spec.conf.vnetHdrLen ?? opts.vnetHdrLen;
  if (vnet !== undefined && vnet !== 0 && vnet !== 10 && vnet !== 12) throw new NetmapError('EINVAL', `${name}: virtio-net header length ${vnet} (0, 10 or 12)`);
  if (vnet && kind !== 'vale' && kind !== 'netmap') throw new NetmapError('ENOTSUP', `${name}: only VALE ports and Linux interfaces carry a virtio-net header (vnet=${vnet})`);
  if (!kinds) throw new NetmapError('ENOTSUP', `${name}: no port kinds are loaded (import 'netmap-ts' rather than its internal modules)`);
  const factory = kinds[kind].open;
  for (let attempt = 0; ; attempt++) {
    const region = regionOf(spec);
    try {
      if (spec.memId && spec.memId !== region.memId) {
        throw new NetmapError('EINVAL', `${name}: memory region @${spec.memId} does not match this port's region (@${region.memId})`);
      }
      return factory(region, spec, withConf(spec, opts));
    } catch (e) {
      if (!(e instanceof RegionRetired) || attempt > 100) {
        retireIfEmpty(region); // a failed open must not leave an empty region file behind
        throw e;
      }
      forgetRegion(region); // its last port closed meanwhile: map the name again
    }
  }
}

/**
 * The region a name lives in. A switch has its own shared file, and so does the parent of
 * netmap pipes; pipes hanging off a VALE port and monitors live with what they belong to.
 * The null port needs no sharing. NMTS_SHARED=0 keeps everything in a per-process region.
 */
export function regionKeyOf(spec: PortSpec): string | null {
  if (spec.kind === 'null' || process.env.NMTS_SHARED === '0') return null;
  // a Linux interface gets a private region of its own, made by its factory (and has no monitors)
  if (spec.kind === 'netmap' && !spec.pipe) return null;
  if (spec.kind === 'vale') return spec.switchName;
  return `pipe.${spec.name}`;
}

export function regionOf(spec: PortSpec): Region {
  const key = regionKeyOf(spec);
  return key === null ? processRegion() : openSharedRegion(key);
}

function retireIfEmpty(region: Region): void {
  if (!region.path || region.dead) return;
  region.lockConfig();
  try {
    if (!region.dead && region.dirCount() === 0) retireRegion(region);
  } finally {
    region.unlockConfig();
  }
  if (region.dead) forgetRegion(region); // after the unlock: it must reach the shared file
}
