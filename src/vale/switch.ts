// VALE switch records: creation on first use, port attach/detach, the per-switch lookup.
// A switch lives in the region so every thread sees the same ports and MAC table. Callers
// hold the region's config lock, except for the read-only helpers.
//
// Port lists are read back from shared memory: every port record offset, index and count
// taken from a switch record is range-checked before it is followed (switchProblem,
// checkPortRecord), and the wait for senders in detachPort is bounded.
import { NM_BDG_MAXPORTS } from '../core/constants.js';
import { DirType, DIR, PR, RR, SW, SW_FLAG_PERSISTENT, SW_FLAG_RSS } from '../core/layout.js';
import { taskAlive } from '../core/lock.js';
import { NetmapError, type Region } from '../core/region.js';
import { checkPortRecord } from '../core/records.js';

/** Longest wait in detachPort for a live sender still marked as forwarding in the old epoch. */
const DETACH_WAIT_MAX_MS = 1000;

/** What is wrong with a switch record (offset, port count), or null. */
export function switchProblem(region: Region, sw: number): string | null {
  if (!region.isObj(sw, SW.size)) return `switch record offset ${sw} outside the object area`;
  const n = region.u32[(sw + SW.nports) >> 2];
  if (n > NM_BDG_MAXPORTS) return `nports=${n} (at most ${NM_BDG_MAXPORTS})`;
  return null;
}

function checkSwitch(region: Region, sw: number): void {
  const bad = switchProblem(region, sw);
  if (bad) throw new NetmapError('EINVAL', `${region.label}: switch record is corrupt: ${bad}; skipped`);
}

/**
 * A lookup function replaces MAC learning for a switch. It reads the frame in place
 * (u8[off..off+len)) and returns a destination port index (0..253), NM_BDG_BROADCAST (254)
 * to flood, or NM_BDG_NOPORT (255) to drop. It runs in the sender's thread, once per packet:
 * keep it allocation-free.
 */
export type LookupFn = (u8: Uint8Array, off: number, len: number, srcPort: number, ring: number) => number;

// Functions cannot be shared between threads: each thread registers its own copy by name,
// and the switch record stores the name.
const lookupsByName = new Map<string, LookupFn>();
let registrations = 0;

/** Bumped by every registerLookup in this thread: ports re-resolve their cached function. */
export function lookupRegistrations(): number {
  return registrations;
}

/** Make a lookup function available in this thread under `name`. */
export function registerLookup(name: string, fn: LookupFn): void {
  if (!name || name.length > 63) throw new NetmapError('EINVAL', 'lookup name must be 1..63 characters');
  lookupsByName.set(name, fn);
  registrations++;
}

export function findSwitch(region: Region, name: string): number {
  const e = region.dirFind(DirType.Switch, name);
  if (!e) return 0;
  const sw = region.u32[(e + DIR.recOfs) >> 2];
  checkSwitch(region, sw);
  return sw;
}

export function createSwitch(region: Region, name: string, persistent: boolean): number {
  const sw = region.allocObj(SW.size);
  if (!sw) throw new NetmapError('ENOMEM', `cannot create switch ${name}: region full`);
  const u32 = region.u32;
  u32[(sw + SW.state) >> 2] = 1;
  u32[(sw + SW.gen) >> 2] = region.nextGeneration();
  if (persistent) u32[(sw + SW.flags) >> 2] |= SW_FLAG_PERSISTENT;
  u32[(sw + SW.dirOfs) >> 2] = region.dirAdd(DirType.Switch, name, sw, u32[(sw + SW.gen) >> 2]);
  return sw;
}

export function findOrCreateSwitch(region: Region, name: string): number {
  return findSwitch(region, name) || createSwitch(region, name, false);
}

/** Give `portRec` the lowest free port index of the switch; returns it. */
export function attachPort(region: Region, sw: number, portRec: number): number {
  checkSwitch(region, sw);
  const u32 = region.u32;
  const n = u32[(sw + SW.nports) >> 2];
  if (n >= NM_BDG_MAXPORTS) throw new NetmapError('ENOMEM', `switch is full (${NM_BDG_MAXPORTS} ports)`);
  let idx = 0;
  while (idx < NM_BDG_MAXPORTS && u32[((sw + SW.ports) >> 2) + idx] !== 0) idx++;
  if (idx === NM_BDG_MAXPORTS) throw new NetmapError('EINVAL', `${region.label}: switch record is corrupt: nports=${n} but every port index is taken`);
  Atomics.store(u32, ((sw + SW.ports) >> 2) + idx, portRec);
  u32[(portRec + PR.link) >> 2] = sw;
  u32[(portRec + PR.index) >> 2] = idx;
  u32[((sw + SW.active) >> 2) + n] = idx;
  Atomics.store(u32, (sw + SW.nports) >> 2, n + 1);
  return idx;
}

/**
 * Remove a port from the switch and wait for senders still forwarding with the old port
 * list. Destroys an ephemeral switch left without ports. Returns true if the switch is gone.
 */
export function detachPort(region: Region, sw: number, idx: number): boolean {
  checkSwitch(region, sw);
  if (!(idx < NM_BDG_MAXPORTS)) throw new NetmapError('EINVAL', `${region.label}: port index ${idx} out of range (at most ${NM_BDG_MAXPORTS - 1})`);
  const u32 = region.u32, i32 = region.i32;
  Atomics.store(u32, ((sw + SW.ports) >> 2) + idx, 0);
  const n = u32[(sw + SW.nports) >> 2];
  const act = (sw + SW.active) >> 2;
  for (let k = 0; k < n; k++) {
    if (u32[act + k] === idx) {
      u32[act + k] = u32[act + n - 1];
      break;
    }
  }
  Atomics.store(u32, (sw + SW.nports) >> 2, n > 0 ? n - 1 : 0);
  // A sender that read the old port list may still copy into this port. Senders mark their
  // tx ring with the epoch's parity before reading the list; after flipping the epoch, wait
  // until no ring carries the old parity (new senders use the other one, so this ends even
  // under continuous traffic). A mark left by a thread that died is ignored.
  // The wait is bounded: a live task that keeps a mark (a stopped sender, a participant that
  // wrote one) delays a detach by DETACH_WAIT_MAX_MS at most, under the config lock.
  const old = Atomics.add(i32, (sw + SW.epoch) >> 2, 1) & 1;
  const deadline = Date.now() + DETACH_WAIT_MAX_MS;
  for (let d = 0; d < NM_BDG_MAXPORTS; d++) {
    const rec = Atomics.load(u32, ((sw + SW.ports) >> 2) + d);
    if (!rec) continue;
    try { checkPortRecord(region, rec); } catch { continue; } // not followed (reported by reclaim and listings)
    const ntx = u32[(rec + PR.ntx) >> 2];
    for (let i = 0; i < ntx; i++) {
      const t = u32[((rec + PR.ringsOfs) >> 2) + i];
      if (t === 0) continue;
      for (let v = Atomics.load(u32, (t + RR.fwd) >> 2); v !== 0 && v >>> 31 === old && taskAlive(v & 0x7fffffff) && Date.now() < deadline; v = Atomics.load(u32, (t + RR.fwd) >> 2)) {
        // sleep a few tens of microseconds on the mark itself (the sender is mid-batch;
        // it clears the mark without a wake-up, so this is a timed sleep)
        region.wait((t + RR.fwd) >> 2, v | 0, 0.05);
      }
    }
  }
  if (n <= 1 && !(u32[(sw + SW.flags) >> 2] & SW_FLAG_PERSISTENT)) {
    destroySwitch(region, sw);
    return true;
  }
  return false;
}

export function destroySwitch(region: Region, sw: number): void {
  checkSwitch(region, sw);
  region.dirRemove(region.u32[(sw + SW.dirOfs) >> 2]);
  Atomics.store(region.u32, (sw + SW.state) >> 2, 0);
  region.freeObj(sw, SW.size);
}

/** Set (or with null, reset to learning) the lookup of a switch, by registered name. */
export function setSwitchLookup(region: Region, sw: number, name: string | null): void {
  const u32 = region.u32;
  if (name === null) {
    Atomics.store(u32, (sw + SW.lookupId) >> 2, 0);
    u32[(sw + SW.lookupNameLen) >> 2] = 0;
    return;
  }
  if (!lookupsByName.has(name)) throw new NetmapError('ENOENT', `lookup '${name}' is not registered in this thread (call registerLookup first)`);
  region.u8.fill(0, sw + SW.lookupName, sw + SW.lookupName + 64);
  u32[(sw + SW.lookupNameLen) >> 2] = region.writeName(sw + SW.lookupName, name, 63);
  // non-zero: custom, resolved by name in each thread; a new value tells senders to re-resolve
  Atomics.store(u32, (sw + SW.lookupId) >> 2, region.nextGeneration() || 1);
}

export function setSwitchRss(region: Region, sw: number, on: boolean): void {
  const i = (sw + SW.flags) >> 2;
  if (on) Atomics.or(region.u32, i, SW_FLAG_RSS);
  else Atomics.and(region.u32, i, ~SW_FLAG_RSS);
}

/**
 * The lookup function this thread must run for the switch: null for learning. Throws if
 * the switch uses a lookup that this thread has not registered.
 */
export function resolveLookup(region: Region, sw: number): LookupFn | null {
  const u32 = region.u32;
  if (Atomics.load(u32, (sw + SW.lookupId) >> 2) === 0) return null;
  const name = region.readName(sw + SW.lookupName, u32[(sw + SW.lookupNameLen) >> 2]);
  const fn = lookupsByName.get(name);
  if (!fn) throw new NetmapError('ENOENT', `switch uses lookup '${name}', which is not registered in this thread: call registerLookup('${name}', fn) in every thread that sends on it`);
  return fn;
}

export interface SwitchPortInfo { name: string; index: number; rec: number }

/** Ports of a switch by index (for listings). */
export function switchPorts(region: Region, sw: number, problems?: string[]): SwitchPortInfo[] {
  checkSwitch(region, sw);
  const u32 = region.u32;
  const out: SwitchPortInfo[] = [];
  for (let i = 0; i < NM_BDG_MAXPORTS; i++) {
    const rec = u32[((sw + SW.ports) >> 2) + i];
    if (!rec) continue;
    if (!region.isObj(rec, PR.ringsOfs)) {
      problems?.push(`${region.label}: switch port ${i}: record offset ${rec} outside the object area; skipped`);
      continue;
    }
    const d = u32[(rec + PR.dirOfs) >> 2];
    const bad = region.isDirEntry(d) ? region.dirEntryProblem(d) : `directory entry offset ${d} is not one`;
    if (bad) {
      problems?.push(`${region.label}: switch port ${i}: ${bad}; skipped`);
      continue;
    }
    out.push({ name: region.readName(d + DIR.name, u32[(d + DIR.nameLen) >> 2]), index: i, rec });
  }
  return out;
}
