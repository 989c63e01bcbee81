// Zero-copy pipes: `x{N` (master) and `x}N` (slave). The master's tx ring i and the slave's
// rx ring i share one slot array (and the other way round), so a txsync publishes packets
// by storing one index: no descriptor or payload is copied. The receiver may swap buffers
// into the slots it releases (NS_BUF_CHANGED); they travel back to the sender with the
// slots. Only complete packets (not ending in NS_MOREFRAG) are published.
import { DEFAULT_SLOTS, MAX_RINGS, MAX_SLOTS, MIN_SLOTS, NM_MAXPIPES, NR_RX, NR_TX } from '../core/constants.js';
import { DirType, PR, RecKind, RR } from '../core/layout.js';
import { feedCopyMonitors, feedZcopyMonitor } from '../core/monitor-feed.js';
import { Port, selectRings, type OpenOptions } from '../core/port.js';
import type { PortSpec } from '../core/portspec.js';
import { checkPortRecord, createPortRecord, createRing, destroyPortRecord, portRecordProblem, portRing, reclaimDead, setPortRing } from '../core/records.js';
import { taskAlive } from '../core/lock.js';
import { NetmapError, type Region } from '../core/region.js';
import { checkPublished, countRx, countTx, reinitRing, ringInArea, rxPrologue, txDone, txPrologue } from '../core/sync.js';
import { wakePort } from '../core/wait.js';

/** Directory names of both ends, and of the parent (for the per-parent pipe limit). */
function pipeNames(spec: PortSpec): { parent: string; master: string; slave: string } {
  const parent = spec.kind === 'vale' ? `${spec.switchName}:${spec.name}` : spec.name;
  const id = spec.pipe!.id;
  return { parent, master: `${parent}{${id}`, slave: `${parent}}${id}` };
}

function countPipes(region: Region, parent: string): number {
  return region.dirList(DirType.Port).filter(([n]) => n.startsWith(`${parent}{`)).length;
}

function createPipe(region: Region, names: { master: string; slave: string }, opts: OpenOptions): void {
  const rings = opts.txRings ?? opts.rxRings ?? 1;
  const slots = opts.txSlots ?? opts.rxSlots ?? DEFAULT_SLOTS;
  if (rings < 1 || rings > MAX_RINGS) throw new NetmapError('EINVAL', `pipe ${names.master}: ${rings} rings (1..${MAX_RINGS})`);
  if (slots < MIN_SLOTS || slots > MAX_SLOTS) throw new NetmapError('EINVAL', `pipe ${names.master}: ${slots} slots (${MIN_SLOTS}..${MAX_SLOTS})`);
  const init = { ntx: rings, nrx: rings, txSlots: slots, rxSlots: slots };
  const m = createPortRecord(region, { kind: RecKind.PipeMaster, ...init });
  const s = createPortRecord(region, { kind: RecKind.PipeSlave, ...init });
  const u32 = region.u32;
  try {
    for (let i = 0; i < rings; i++) {
      const mTx = createRing(region, { numSlots: slots, dir: NR_TX, ringId: i, portOfs: m });
      setPortRing(region, m, i, mTx);
      const sRx = createRing(region, { numSlots: slots, dir: NR_RX, ringId: i, portOfs: s, sharedSlotsOfs: u32[(mTx + RR.slotsOfs) >> 2] });
      setPortRing(region, s, rings + i, sRx);
      const sTx = createRing(region, { numSlots: slots, dir: NR_TX, ringId: i, portOfs: s });
      setPortRing(region, s, i, sTx);
      const mRx = createRing(region, { numSlots: slots, dir: NR_RX, ringId: i, portOfs: m, sharedSlotsOfs: u32[(sTx + RR.slotsOfs) >> 2] });
      setPortRing(region, m, rings + i, mRx);
      u32[(mTx + RR.peerOfs) >> 2] = sRx; u32[(sRx + RR.peerOfs) >> 2] = mTx;
      u32[(sTx + RR.peerOfs) >> 2] = mRx; u32[(mRx + RR.peerOfs) >> 2] = sTx;
    }
  } catch (e) {
    destroyPortRecord(region, m);
    destroyPortRecord(region, s);
    throw e;
  }
  u32[(m + PR.link) >> 2] = s;
  u32[(s + PR.link) >> 2] = m;
  u32[(m + PR.dirOfs) >> 2] = region.dirAdd(DirType.Port, names.master, m, u32[(m + PR.gen) >> 2]);
  u32[(s + PR.dirOfs) >> 2] = region.dirAdd(DirType.Port, names.slave, s, u32[(s + PR.gen) >> 2]);
}

export class PipePort extends Port {
  constructor(region: Region, rec: number, spec: PortSpec, opts: OpenOptions) {
    const u32 = region.u32;
    super(region, rec, spec, selectRings(spec, u32[(rec + PR.ntx) >> 2], u32[(rec + PR.nrx) >> 2]), opts);
    this.bindRings();
  }

  protected txsyncRing(t: number): void {
    const region = this.region, u32 = region.u32;
    // validates the ring and the slots [hwcur, pub): pub follows the last complete packet
    const pub = txPrologue(region, t, this.name, region.bufSize);
    const n = u32[(t + RR.numSlots) >> 2];
    const hwcur = u32[(t + RR.hwcur) >> 2];
    const peer = this.peerOf(t);
    if (pub !== hwcur) {
      if (u32[(t + RR.monCount) >> 2]) feedCopyMonitors(region, t, hwcur, pub, true);
      Atomics.store(u32, (t + RR.hwcur) >> 2, pub);
      // counters: this tx ring and the peer rx ring it alone feeds
      const pkts = txDone[0], bytes = txDone[1];
      countTx(region, t, pkts, bytes, 0);
      countRx(region, peer, pkts, bytes, 0);
      wakePort(region, u32[(peer + RR.portOfs) >> 2]);
    }
    const rel = Atomics.load(u32, (peer + RR.hwcur) >> 2);
    if (rel >= n) reinitRing(region, t, `${this.name}: the receiving end's hwcur ${rel} >= num_slots ${n}`);
    const tail = rel === 0 ? n - 1 : rel - 1;
    u32[(t + RR.hwtail) >> 2] = tail;
    u32[(t + RR.tail) >> 2] = tail;
  }

  protected rxsyncRing(r: number): void {
    const region = this.region, u32 = region.u32;
    // validates the ring and the buffers of the released slots [hwcur, head) (they go back to the sender)
    const head = rxPrologue(region, r, this.name);
    const hwcur = u32[(r + RR.hwcur) >> 2];
    const peer = this.peerOf(r);
    const mon = u32[(r + RR.monCount) >> 2];
    if (head !== hwcur) {
      // zero-copy monitors get the buffers once consumed: those of this rx ring, else those
      // of the sending ring (same slots); one buffer can be handed over only once
      if (!(mon && feedZcopyMonitor(region, r, hwcur, head, false)) && u32[(peer + RR.monCount) >> 2]) {
        feedZcopyMonitor(region, peer, hwcur, head, true);
      }
      Atomics.store(u32, (r + RR.hwcur) >> 2, head);
      wakePort(region, u32[(peer + RR.portOfs) >> 2]);
    }
    const pub = checkPublished(region, r, Atomics.load(u32, (peer + RR.hwcur) >> 2), this.name, "the sending end's hwcur");
    const old = u32[(r + RR.hwtail) >> 2];
    if (mon && pub !== old) feedCopyMonitors(region, r, old, pub, false);
    u32[(r + RR.hwtail) >> 2] = pub;
    u32[(r + RR.tail) >> 2] = pub;
  }

  /** The other end's ring of pipe ring `ring` (its record offset is in shared memory: checked). */
  private peerOf(ring: number): number {
    const peer = this.region.u32[(ring + RR.peerOfs) >> 2];
    if (!ringInArea(this.region, peer)) reinitRing(this.region, ring, `${this.name}: peer ring offset ${peer} outside the object area`);
    return peer;
  }
}

/** Last opener of one end gone: the pipe goes when neither end has openers. */
export function destroyPipe(region: Region, rec: number): void {
  const u32 = region.u32;
  const peer = u32[(rec + PR.link) >> 2];
  // follow the link only to a sound record that links back
  const paired = portRecordProblem(region, peer) === null && u32[(peer + PR.link) >> 2] === rec;
  if (paired && u32[(peer + PR.refs) >> 2] !== 0) return; // the other end is still open
  for (const r of paired ? [rec, peer] : [rec]) {
    region.dirRemove(u32[(r + PR.dirOfs) >> 2]);
    destroyPortRecord(region, r);
  }
}

/** Open one end of a pipe (`x{1`, `x}1`), creating the pair if needed: the `pipe` entry of the port-kind table. */
export function openPipe(region: Region, spec: PortSpec, opts: OpenOptions): PipePort {
  const names = pipeNames(spec);
  region.lockLive();
  reclaimDead(region, taskAlive); // ports left by dead threads and processes
  try {
    const mine = spec.pipe!.end === 'master' ? names.master : names.slave;
    let entry = region.dirFind(DirType.Port, mine);
    const created = !entry;
    if (created) {
      if (countPipes(region, names.parent) >= NM_MAXPIPES) throw new NetmapError('ENOMEM', `${spec.raw}: ${names.parent} already has ${NM_MAXPIPES} pipes`);
      createPipe(region, names, opts);
      entry = region.dirFind(DirType.Port, mine);
    }
    const rec = region.u32[(entry + 4) >> 2];
    if (!created) checkPortRecord(region, rec); // its counts size what the constructor builds
    try {
      return new PipePort(region, rec, spec, opts);
    } catch (e) {
      if (created) { // nobody else can have opened it: undo the creation
        const u32 = region.u32;
        for (const r of [rec, u32[(rec + PR.link) >> 2]]) {
          region.dirRemove(u32[(r + PR.dirOfs) >> 2]);
          destroyPortRecord(region, r);
        }
      }
      throw e;
    }
  } finally {
    region.unlockConfig();
  }
}

/** The peer ring record of a pipe ring (for tests and tools). */
export function pipePeerRing(region: Region, rec: number, rx: boolean, i: number): number {
  return region.u32[(portRing(region, rec, rx, i) + RR.peerOfs) >> 2];
}
