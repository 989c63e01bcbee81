// Creation and destruction of ring and port records inside a region. Callers hold the
// region's config lock.
//
// Every count and offset read back from a record may have been written by any participant
// (or planted in the file): checkPortRecord() range-checks a port record and its ring
// records before anything here loops over them, indexes with them or frees what they
// designate. A record that fails is marked corrupt (PR_STATE_CORRUPT: never followed again,
// never reclaimed) and reported with an error naming the file, the record and the field.
import { MAX_RINGS, MAX_SLOTS, NR_RX, NR_TX } from './constants.js';
import { DirType, MAX_OPENERS, OBJ_UNIT, OPENER_EXCL, OPENER_NO_RX, OPENER_NO_TX, OPENER_ONE, OPENER_RING_MASK, PR, RING_HEADER_SIZE, RR, SLOT_SIZE, type RecKind } from './layout.js';
import { NetmapError, type Region } from './region.js';
import { DIR } from './layout.js';

export interface RingInit {
  numSlots: number;
  dir: typeof NR_TX | typeof NR_RX;
  ringId: number;
  portOfs: number;
  /** Use this ring's slot array instead of allocating one (pipes share slots between ends). */
  sharedSlotsOfs?: number;
}

/** Byte size of a ring record with its own slots. */
export function ringRecordSize(numSlots: number): number {
  return RING_HEADER_SIZE + numSlots * SLOT_SIZE;
}

/** Create a ring record; unless it shares slots, give every slot a fresh buffer. */
export function createRing(region: Region, init: RingInit): number {
  const shared = init.sharedSlotsOfs !== undefined;
  const bytes = shared ? RING_HEADER_SIZE : ringRecordSize(init.numSlots);
  const ofs = region.allocObj(bytes);
  if (ofs === 0) throw new NetmapError('ENOMEM', 'netmap-ts region: no room left for rings (raise NMTS_MEMORY)');
  const u32 = region.u32, u16 = region.u16;
  const slotsOfs = shared ? init.sharedSlotsOfs! : ofs + RR.slots;
  u32[(ofs + RR.bufOfs) >> 2] = region.bufsOfs - ofs;
  u32[(ofs + RR.numSlots) >> 2] = init.numSlots;
  u32[(ofs + RR.bufSize) >> 2] = region.bufSize;
  u16[(ofs + RR.ringId) >> 1] = init.ringId;
  u16[(ofs + RR.dir) >> 1] = init.dir;
  u32[(ofs + RR.slotsOfs) >> 2] = slotsOfs;
  u32[(ofs + RR.portOfs) >> 2] = init.portOfs;
  u32[(ofs + RR.gen) >> 2] = region.nextGeneration();
  // tx rings start with every slot free for the user; rx rings start empty
  const last = init.numSlots - 1;
  if (init.dir === NR_TX) {
    u32[(ofs + RR.tail) >> 2] = last;
    u32[(ofs + RR.hwtail) >> 2] = last;
  }
  if (!shared) {
    const s = slotsOfs >> 2;
    for (let i = 0; i < init.numSlots; i++) {
      const idx = region.allocBuf();
      if (idx === 0) {
        for (let k = 0; k < i; k++) region.freeBuf(u32[s + 4 * k]);
        region.freeObj(ofs, bytes);
        throw new NetmapError('ENOMEM', 'netmap-ts region: out of packet buffers (raise NMTS_MEMORY)');
      }
      u32[s + 4 * i] = idx;
    }
  }
  return ofs;
}

/** Port record states (PR.state). */
export const PR_STATE_FREE = 0;
export const PR_STATE_ACTIVE = 1;
/** Found inconsistent: skipped by reclaim and listings, never followed. */
export const PR_STATE_CORRUPT = 2;

/** What is wrong with a ring record, or null. */
export function ringRecordProblem(region: Region, ofs: number): string | null {
  if (!region.isObj(ofs, RING_HEADER_SIZE)) return `offset ${ofs} outside the object area`;
  const u32 = region.u32;
  const n = u32[(ofs + RR.numSlots) >> 2];
  if (n < 2 || n > MAX_SLOTS) return `num_slots=${n} (2..${MAX_SLOTS})`;
  const slotsOfs = u32[(ofs + RR.slotsOfs) >> 2];
  if (slotsOfs !== ofs + RR.slots && !region.isObj(slotsOfs - RR.slots, ringRecordSize(n))) return `slotsOfs=${slotsOfs} outside the object area`;
  if (slotsOfs === ofs + RR.slots && !region.isObj(ofs, ringRecordSize(n))) return `${n} slots past the object area`;
  return null;
}

/** What is wrong with a port record (counts, ring table, ring records), or null. */
export function portRecordProblem(region: Region, rec: number): string | null {
  if (!region.isObj(rec, PR.ringsOfs)) return `offset ${rec} outside the object area`;
  const u32 = region.u32;
  const ntx = u32[(rec + PR.ntx) >> 2], nrx = u32[(rec + PR.nrx) >> 2];
  if (ntx > MAX_RINGS) return `ntx=${ntx} (at most ${MAX_RINGS})`;
  if (nrx > MAX_RINGS) return `nrx=${nrx} (at most ${MAX_RINGS})`;
  if (!region.isObj(rec, portRecordSize(ntx, nrx))) return `ring table of ${ntx}+${nrx} rings past the object area`;
  for (let i = 0; i < ntx + nrx; i++) {
    const r = u32[((rec + PR.ringsOfs) >> 2) + i];
    if (r === 0) continue; // not created yet
    const bad = ringRecordProblem(region, r);
    if (bad) return `${i < ntx ? 'tx' : 'rx'} ring ${i < ntx ? i : i - ntx}: ${bad}`;
  }
  return null;
}

/** The name of a port record, for messages (its directory entry if that is sound). */
function recordName(region: Region, rec: number): string {
  if (!region.isObj(rec, PR.ringsOfs)) return `at ${rec}`;
  const d = region.u32[(rec + PR.dirOfs) >> 2];
  if (!region.isDirEntry(d) || region.dirEntryProblem(d)) return `at ${rec}`;
  return `${region.readName(d + DIR.name, region.u32[(d + DIR.nameLen) >> 2])} (at ${rec})`;
}

/**
 * Throw NetmapError('EINVAL') naming the file, record and field if the port record is
 * inconsistent; such a record is marked corrupt first.
 */
export function checkPortRecord(region: Region, rec: number): void {
  const bad = portRecordProblem(region, rec);
  if (bad === null) return;
  const name = recordName(region, rec);
  if (region.isObj(rec, OBJ_UNIT)) Atomics.store(region.u32, (rec + PR.state) >> 2, PR_STATE_CORRUPT);
  throw new NetmapError('EINVAL', `${region.label}: port record ${name} is corrupt: ${bad}; marked corrupt and skipped`);
}

/** Destroy a ring record, returning its buffers unless its slots belong to another ring. */
export function destroyRing(region: Region, ofs: number): void {
  if (ringRecordProblem(region, ofs) !== null) return; // not ours to free (checked by the caller too)
  const u32 = region.u32;
  const n = u32[(ofs + RR.numSlots) >> 2];
  const slotsOfs = u32[(ofs + RR.slotsOfs) >> 2];
  const own = slotsOfs === ofs + RR.slots;
  if (own) {
    const s = slotsOfs >> 2;
    for (let i = 0; i < n; i++) region.freeBuf(u32[s + 4 * i]);
  }
  // a new generation makes producers that still hold the old one skip this memory
  Atomics.store(u32, (ofs + RR.gen) >> 2, 0);
  region.freeObj(ofs, own ? ringRecordSize(n) : RING_HEADER_SIZE);
}

export interface PortInit {
  kind: RecKind;
  ntx: number;
  nrx: number;
  txSlots: number;
  rxSlots: number;
}

export function portRecordSize(ntx: number, nrx: number): number {
  return PR.ringsOfs + 4 * (ntx + nrx);
}

/** Create a port record (rings are added by the caller with setPortRing). */
export function createPortRecord(region: Region, init: PortInit): number {
  const bytes = portRecordSize(init.ntx, init.nrx);
  const ofs = region.allocObj(bytes);
  if (ofs === 0) throw new NetmapError('ENOMEM', 'netmap-ts region: no room left for ports (raise NMTS_MEMORY)');
  const u32 = region.u32;
  u32[(ofs + PR.kind) >> 2] = init.kind;
  u32[(ofs + PR.ntx) >> 2] = init.ntx;
  u32[(ofs + PR.nrx) >> 2] = init.nrx;
  u32[(ofs + PR.txSlots) >> 2] = init.txSlots;
  u32[(ofs + PR.rxSlots) >> 2] = init.rxSlots;
  u32[(ofs + PR.memId) >> 2] = region.memId;
  u32[(ofs + PR.gen) >> 2] = region.nextGeneration();
  u32[(ofs + PR.state) >> 2] = 1;
  return ofs;
}

export function setPortRing(region: Region, portOfs: number, slot: number, ringOfs: number): void {
  region.u32[((portOfs + PR.ringsOfs) >> 2) + slot] = ringOfs;
}

/** Ring record of the i-th tx ring (or rx ring, with `rx`). */
export function portRing(region: Region, portOfs: number, rx: boolean, i: number): number {
  const u32 = region.u32;
  const ntx = u32[(portOfs + PR.ntx) >> 2];
  if (!(i < (rx ? u32[(portOfs + PR.nrx) >> 2] : ntx))) throw new NetmapError('EINVAL', `${region.label}: port record at ${portOfs} has no ${rx ? 'rx' : 'tx'} ring ${i}`);
  return u32[((portOfs + PR.ringsOfs) >> 2) + (rx ? ntx : 0) + i];
}

export interface PortStats {
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
  /** Frames this port sent that were not delivered: a full destination ring, or dropped
   *  by the switch's lookup (frames under 14 bytes, NM_BDG_NOPORT, no such port). */
  txDrops: number;
  /** Frames for this port dropped because its rx ring was full. */
  rxDrops: number;
}

/** Counters of a port: the sum over its rings (each ring's counters have one writer). */
export function portStats(region: Region, rec: number): PortStats {
  checkPortRecord(region, rec);
  const u32 = region.u32, f = region.f64;
  const ntx = u32[(rec + PR.ntx) >> 2], nrx = u32[(rec + PR.nrx) >> 2];
  const s: PortStats = { txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, txDrops: 0, rxDrops: 0 };
  for (let i = 0; i < ntx + nrx; i++) {
    const r = u32[((rec + PR.ringsOfs) >> 2) + i];
    if (!r) continue;
    if (i < ntx) {
      s.txPackets += f[(r + RR.txPkts) >> 3];
      s.txBytes += f[(r + RR.txBytes) >> 3];
      s.txDrops += f[(r + RR.txDrops) >> 3];
    } else {
      s.rxPackets += f[(r + RR.delivered) >> 3];
      s.rxBytes += f[(r + RR.rxBytes) >> 3];
      s.rxDrops += f[(r + RR.drops) >> 3];
    }
  }
  return s;
}

/** Free a port record and all its rings. */
export function destroyPortRecord(region: Region, ofs: number): void {
  checkPortRecord(region, ofs);
  const u32 = region.u32;
  const ntx = u32[(ofs + PR.ntx) >> 2], nrx = u32[(ofs + PR.nrx) >> 2];
  for (let i = 0; i < ntx + nrx; i++) {
    const r = u32[((ofs + PR.ringsOfs) >> 2) + i];
    if (r) destroyRing(region, r);
  }
  // return the extra-buffer lists of openers that did not give them back
  freeBufList(region, u32[(ofs + PR.bufsHead) >> 2]);
  u32[(ofs + PR.bufsHead) >> 2] = 0;
  for (let k = 0; k < MAX_OPENERS; k++) {
    freeBufList(region, u32[((ofs + PR.openerBufs) >> 2) + k]);
    u32[((ofs + PR.openerBufs) >> 2) + k] = 0;
  }
  Atomics.store(u32, (ofs + PR.state) >> 2, PR_STATE_FREE);
  Atomics.store(u32, (ofs + PR.gen) >> 2, 0);
  region.freeObj(ofs, portRecordSize(ntx, nrx));
}

/**
 * Give back a list of extra buffers linked through the first word of each buffer (config
 * lock held). At most the buffers of the region are visited, so a cycle ends the walk.
 */
export function freeBufList(region: Region, head: number): void {
  const u32 = region.u32;
  for (let b = head, guard = region.nbufs; b >= 2 && b < region.nbufs && guard-- > 0;) {
    const next = u32[region.bufOffset(b) >>> 2];
    region.freeBuf(b);
    b = next;
  }
}

// ---- destruction by kind, so that a dead opener's port can be reclaimed by anyone ----
export type Destructor = (region: Region, rec: number) => void;
const destructors = new Map<number, Destructor>();

/** The destructor of each record kind (from the port-kind table: core/open.ts usePortKinds). */
export function setDestructors(table: Partial<Record<RecKind, Destructor>>): void {
  destructors.clear();
  for (const [k, fn] of Object.entries(table)) if (fn) destructors.set(Number(k), fn);
}

/** Destroy a port record the way its kind requires (config lock held). */
export function destroyByKind(region: Region, rec: number): void {
  const fn = destructors.get(region.u32[(rec + PR.kind) >> 2]);
  if (fn) fn(region, rec);
  else destroyPortRecord(region, rec);
}

/** Ring records an opener bound, from its OPENER_* descriptor. */
export function boundRings(region: Region, rec: number, bind: number): number[] {
  checkPortRecord(region, rec);
  const u32 = region.u32;
  const ntx = u32[(rec + PR.ntx) >> 2], nrx = u32[(rec + PR.nrx) >> 2];
  const out: number[] = [];
  const pick = (rx: boolean, n: number): void => {
    if (bind & OPENER_ONE) { const i = bind & OPENER_RING_MASK; if (i < n) out.push(portRing(region, rec, rx, i)); }
    else for (let i = 0; i < n; i++) out.push(portRing(region, rec, rx, i));
    for (let k = out.length - 1; k >= 0 && out[k] === 0; k--) out.pop(); // rings not created yet
  };
  if (!(bind & OPENER_NO_TX)) pick(false, ntx);
  if (!(bind & OPENER_NO_RX)) pick(true, nrx);
  return out;
}

/** Record an opener; returns its entry (0..MAX_OPENERS-1), or -1 when the port is full. */
export function addOpener(region: Region, rec: number, tid: number, bind: number): number {
  const u32 = region.u32, base = (rec + PR.openers) >> 2;
  for (let k = 0; k < MAX_OPENERS; k++) {
    if (u32[base + 2 * k] === 0) {
      u32[base + 2 * k] = tid;
      u32[base + 2 * k + 1] = bind;
      u32[((rec + PR.openerBufs) >> 2) + k] = 0;
      return k;
    }
  }
  return -1;
}

/** Forget opener entry k (config lock held). */
export function removeOpener(region: Region, rec: number, k: number): void {
  const u32 = region.u32, base = (rec + PR.openers) >> 2;
  u32[base + 2 * k] = 0;
  u32[base + 2 * k + 1] = 0;
  u32[((rec + PR.openerBufs) >> 2) + k] = 0;
}

/** Undo a binding: ring users and exclusivity, the port's opener count. Returns openers left. */
export function unbind(region: Region, rec: number, bind: number): number {
  const u32 = region.u32;
  for (const r of boundRings(region, rec, bind)) {
    if (u32[(r + RR.users) >> 2] > 0) u32[(r + RR.users) >> 2]--;
    if (bind & OPENER_EXCL) u32[(r + RR.excl) >> 2] = 0;
  }
  const refs = u32[(rec + PR.refs) >> 2];
  u32[(rec + PR.refs) >> 2] = refs > 0 ? refs - 1 : 0;
  return refs > 0 ? refs - 1 : 0;
}

/**
 * Reclaim what dead threads and processes left (config lock held): each port opener whose
 * thread no longer exists is unbound, and a port left without openers is destroyed, as its
 * close() would have done; so is a port found with neither openers nor references (its last
 * opener died inside close()). Returns the number of openers reclaimed.
 */
export function reclaimDead(region: Region, alive: (tid: number) => boolean, problems?: string[]): number {
  const u32 = region.u32;
  let n = 0;
  for (const type of [DirType.Port, DirType.Monitor]) {
    for (const [, rec] of region.dirList(type, problems)) {
      if (u32[(rec + PR.state) >> 2] !== PR_STATE_ACTIVE) continue;
      try {
        checkPortRecord(region, rec);
        const base = (rec + PR.openers) >> 2;
        let destroyed = false, openers = 0;
        for (let k = 0; k < MAX_OPENERS; k++) {
          const tid = u32[base + 2 * k];
          if (tid === 0) continue;
          if (alive(tid)) { openers++; continue; }
          const bind = u32[base + 2 * k + 1];
          freeBufList(region, u32[((rec + PR.openerBufs) >> 2) + k]); // its extra buffers (lb -B)
          removeOpener(region, rec, k);
          n++;
          if (unbind(region, rec, bind) === 0) {
            destroyByKind(region, rec);
            destroyed = true;
            break;
          }
        }
        // an orphan: no opener and no reference, yet not destroyed — its last opener died inside
        // its close() (between the unbinding and the destructor). Its kind's destructor decides
        // (a pipe end whose other end is open stays: pipes make both ends at once)
        if (!destroyed && openers === 0 && u32[(rec + PR.refs) >> 2] === 0 && destructors.has(u32[(rec + PR.kind) >> 2])) destroyByKind(region, rec);
      } catch (e) {
        if (!(e instanceof NetmapError)) throw e;
        problems?.push(e.message); // the record is marked corrupt: never visited again
      }
    }
  }
  return n;
}
