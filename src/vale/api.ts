// The switch as seen from the API: listing ports, per-port counters, choosing the lookup
// and software RSS. (vale-ctl builds on this.)
import { DirType, PR, SW, SW_FLAG_RSS } from '../core/layout.js';
import { processRegion } from '../core/memory.js';
import { openSharedRegion, reclaimAll, type SkippedFile } from '../core/shm.js';
import { portStats, PR_STATE_CORRUPT, type PortStats } from '../core/records.js';
import { taskAlive } from '../core/lock.js';
import { NetmapError, type Region } from '../core/region.js';
import { findSwitch, setSwitchLookup, setSwitchRss, switchPorts } from './switch.js';

export interface SwitchInfo {
  name: string;
  ports: Array<{ name: string; index: number; txRings: number; rxRings: number; txSlots: number; rxSlots: number; openers: number; stats: PortStats }>;
  lookup: string | null;
  rss: boolean;
}

function info(region: Region, name: string, sw: number, problems?: string[]): SwitchInfo {
  const u32 = region.u32;
  const lookupLen = u32[(sw + SW.lookupNameLen) >> 2];
  const ports: SwitchInfo['ports'] = [];
  for (const p of switchPorts(region, sw, problems)) {
    if (u32[(p.rec + PR.state) >> 2] === PR_STATE_CORRUPT) {
      problems?.push(`${region.label}: port ${p.name} is marked corrupt; not listed`);
      continue;
    }
    let stats: PortStats;
    try {
      stats = portStats(region, p.rec); // checks the record first
    } catch (e) {
      if (!(e instanceof NetmapError)) throw e;
      problems?.push(e.message);
      continue;
    }
    ports.push({
      name: p.name, index: p.index,
      txRings: u32[(p.rec + PR.ntx) >> 2], rxRings: u32[(p.rec + PR.nrx) >> 2],
      txSlots: u32[(p.rec + PR.txSlots) >> 2], rxSlots: u32[(p.rec + PR.rxSlots) >> 2],
      openers: u32[(p.rec + PR.refs) >> 2],
      stats,
    });
  }
  return {
    name,
    ports,
    lookup: u32[(sw + SW.lookupId) >> 2] && lookupLen ? region.readName(sw + SW.lookupName, lookupLen) : null,
    rss: (u32[(sw + SW.flags) >> 2] & SW_FLAG_RSS) !== 0,
  };
}

/** A listing of every switch, with what it could not show. */
export interface SwitchReport {
  switches: SwitchInfo[];
  /** Files not listed (untrusted, unreadable, damaged, locked too long), with the reason. */
  skipped: SkippedFile[];
  /** Damaged records skipped in the files listed. */
  problems: string[];
}

/**
 * Every switch (of every process, through the shared files) with its ports, after
 * reclaiming what dead processes left; one pass over the files, each file's lock waited for
 * at most `lockWaitMs` (PASS_LOCK_WAIT_MS by default).
 */
export function listSwitchesReport(opts: { lockWaitMs?: number } = {}): SwitchReport {
  const switches: SwitchInfo[] = [];
  const problems: string[] = [];
  const r = reclaimAll(taskAlive, {
    lockWaitMs: opts.lockWaitMs,
    visit: (region, key, found) => {
      if (key.startsWith('pipe.')) return;
      for (const [name, sw] of region.dirList(DirType.Switch, found)) {
        try {
          switches.push(info(region, name, sw, found));
        } catch (e) {
          if (!(e instanceof NetmapError)) throw e;
          found.push(e.message);
        }
      }
    },
  });
  problems.push(...r.problems);
  { // this process's own region (NMTS_SHARED=0, the null port)
    const region = processRegion();
    region.lockConfig();
    try {
      for (const [name, sw] of region.dirList(DirType.Switch, problems)) switches.push(info(region, name, sw, problems));
    } finally {
      region.unlockConfig();
    }
  }
  return { switches, skipped: r.skipped, problems };
}

/** Every switch (of every process, through the shared files) with its ports. */
export function listSwitches(): SwitchInfo[] {
  return listSwitchesReport().switches;
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
