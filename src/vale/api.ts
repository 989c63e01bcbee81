// The switch as seen from the API: listing ports, per-port counters, choosing the lookup
// and software RSS. (vale-ctl builds on this.)
import { DirType, PR, SW, SW_FLAG_RSS } from '../core/layout.js';
import { readdirSync } from 'node:fs';
import { processRegion } from '../core/memory.js';
import { openSharedRegion, reclaimAll, regionKey, SHM_DIR } from '../core/shm.js';
import { portStats, type PortStats } from '../core/records.js';
import { taskAlive } from '../core/lock.js';
import { NetmapError, type Region } from '../core/region.js';
import { findSwitch, setSwitchLookup, setSwitchRss, switchPorts } from './switch.js';

export interface SwitchInfo {
  name: string;
  ports: Array<{ name: string; index: number; txRings: number; rxRings: number; txSlots: number; rxSlots: number; openers: number; stats: PortStats }>;
  lookup: string | null;
  rss: boolean;
}

function info(region: Region, name: string, sw: number): SwitchInfo {
  const u32 = region.u32;
  const lookupLen = u32[(sw + SW.lookupNameLen) >> 2];
  return {
    name,
    ports: switchPorts(region, sw).map((p) => ({
      name: p.name, index: p.index,
      txRings: u32[(p.rec + PR.ntx) >> 2], rxRings: u32[(p.rec + PR.nrx) >> 2],
      txSlots: u32[(p.rec + PR.txSlots) >> 2], rxSlots: u32[(p.rec + PR.rxSlots) >> 2],
      openers: u32[(p.rec + PR.refs) >> 2],
      stats: portStats(region, p.rec),
    })),
    lookup: u32[(sw + SW.lookupId) >> 2] && lookupLen ? region.readName(sw + SW.lookupName, lookupLen) : null,
    rss: (u32[(sw + SW.flags) >> 2] & SW_FLAG_RSS) !== 0,
  };
}

/** Regions that may hold switches: the shared files, and this process's own region. */
function switchRegions(): Region[] {
  const out: Region[] = [];
  let names: string[] = [];
  try { names = readdirSync(SHM_DIR); } catch { /* no shared memory directory */ }
  for (const f of names.sort()) {
    const key = regionKey(f);
    if (key === null || key.startsWith('pipe.')) continue;
    try { out.push(openSharedRegion(key, { create: false })); } catch { /* gone, or not ours to read */ }
  }
  out.push(processRegion());
  return out;
}

/** Every switch (of every process, through the shared files) with its ports. */
export function listSwitches(): SwitchInfo[] {
  const all: SwitchInfo[] = [];
  reclaimAll(taskAlive); // ports of dead processes leave the listing; empty regions go
  for (const region of switchRegions()) {
    if (region.dead) continue;
    region.lockConfig();
    try {
      for (const [name, sw] of region.dirList(DirType.Switch)) all.push(info(region, name, sw));
    } finally {
      region.unlockConfig();
    }
  }
  return all;
}

function regionOfSwitch(name: string): Region {
  if (process.env.NMTS_SHARED === '0') return processRegion();
  try {
    return openSharedRegion(name, { create: false });
  } catch (e) {
    if (e instanceof NetmapError && e.code === 'ENOENT') throw new NetmapError('ENOENT', `switch ${name} does not exist (switches are created by opening a port, e.g. ${name}:0)`);
    throw e;
  }
}

/** Control handle of an existing switch (it exists while it has ports). */
export function valeSwitch(name: string) {
  // resolved at each call: a region retired meanwhile is unmapped and must not be reused
  const locked = <T>(fn: (region: Region, s: number) => T): T => {
    const region = regionOfSwitch(name);
    region.lockConfig();
    try {
      const s = findSwitch(region, name);
      if (!s) throw new NetmapError('ENOENT', `switch ${name} does not exist (switches are created by opening a port, e.g. ${name}:0)`);
      return fn(region, s);
    } finally {
      region.unlockConfig();
    }
  };
  return {
    name,
    info: (): SwitchInfo => locked((region, s) => info(region, name, s)),
    /** Use the lookup registered with registerLookup(lookupName) (null: back to learning). */
    setLookup: (lookupName: string | null): void => locked((region, s) => setSwitchLookup(region, s, lookupName)),
    /** Spread each destination port's traffic over its rx rings by a symmetric flow hash. */
    setRss: (on: boolean): void => locked((region, s) => setSwitchRss(region, s, on)),
  };
}
