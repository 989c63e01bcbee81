// Monitors: `PORT/r`, `/t`, `/rt` (copies) and `/z` (zero-copy) watch a port that is already
// open. A monitor has one rx ring per monitored ring index; the monitored port's own syncs
// feed it (see core/monitor-feed.ts), so a slow monitor loses its own excess and never
// slows the port. Frames seen on the monitored tx side carry NS_TXMON.
import { DEFAULT_SLOTS, MAX_SLOTS, MIN_SLOTS, NR_MONITOR_RX, NR_MONITOR_TX, NR_RX, NR_ZCOPY_MON } from '../core/constants.js';
import { DIR, DirType, MAX_MONITORS, MON_RX, MON_TX, MON_ZCOPY, PR, RecKind, RR } from '../core/layout.js';
import { Port, type OpenOptions } from '../core/port.js';
import type { PortSpec } from '../core/portspec.js';
import { checkPortRecord, createPortRecord, createRing, destroyPortRecord, portRecordProblem, portRing, reclaimDead, setPortRing } from '../core/records.js';
import { lockWithin, taskAlive, unlock } from '../core/lock.js';
import { NetmapError, type Region } from '../core/region.js';
import { checkPublished, rxPrologue } from '../core/sync.js';

/** Directory name of the port a monitor name refers to. */
function monitoredName(spec: PortSpec): string {
  const base = spec.kind === 'vale' ? `${spec.switchName}:${spec.name}` : spec.name;
  if (!spec.pipe) return base;
  return `${base}${spec.pipe.end === 'master' ? '{' : '}'}${spec.pipe.id}`;
}

export class MonitorPort extends Port {

  constructor(region: Region, rec: number, spec: PortSpec, ringIdx: number[], opts: OpenOptions) {
    super(region, rec, spec, { tx: [], rx: ringIdx }, opts);
    this.bindRings();
  }

  /** Register monitor ring `mine` on monitored ring `target` (config lock held). */
  watch(target: number, mine: number, bits: number): void {
    const u32 = this.region.u32;
    const list = (target + RR.monList) >> 2;
    for (let m = 0; m < MAX_MONITORS; m++) {
      if (u32[list + 2 * m] !== 0) continue;
      u32[list + 2 * m + 1] = u32[(mine + RR.gen) >> 2];
      Atomics.store(u32, list + 2 * m, mine | bits);
      Atomics.add(u32, (target + RR.monCount) >> 2, 1);
      return;
    }
    throw new NetmapError('EBUSY', `${this.name}: ring already has ${MAX_MONITORS} monitors`);
  }

  protected txsyncRing(): void { /* monitors have no tx rings */ }

  protected rxsyncRing(r: number): void {
    const region = this.region, u32 = region.u32;
    // validates the ring and the buffers of the released slots (feeders write into them)
    const head = rxPrologue(region, r, this.name);
    if (head !== u32[(r + RR.hwcur) >> 2]) Atomics.store(u32, (r + RR.hwcur) >> 2, head);
    const prod = checkPublished(region, r, Atomics.load(u32, (r + RR.prod) >> 2), this.name, 'prod');
    u32[(r + RR.hwtail) >> 2] = prod;
    u32[(r + RR.tail) >> 2] = prod;
  }
}

/** Unhook a monitor from the rings it watches, then free it. */
export function destroyMonitor(region: Region, rec: number): void {
  const u32 = region.u32;
  checkPortRecord(region, rec);
  const nrx = u32[(rec + PR.nrx) >> 2];
  const mine = new Set(Array.from({ length: nrx }, (_, i) => portRing(region, rec, true, i)).filter((r) => r !== 0));
  const target = u32[(rec + PR.link) >> 2];
  if (portRecordProblem(region, target) === null && u32[(target + PR.gen) >> 2] === u32[(rec + PR.index) >> 2] && u32[(target + PR.state) >> 2] === 1) {
    const ntx = u32[(target + PR.ntx) >> 2], tnrx = u32[(target + PR.nrx) >> 2];
    for (let i = 0; i < ntx + tnrx; i++) {
      const t = u32[((target + PR.ringsOfs) >> 2) + i];
      if (t === 0) continue;
      const list = (t + RR.monList) >> 2;
      for (let m = 0; m < MAX_MONITORS; m++) {
        const e = u32[list + 2 * m];
        if (e && mine.has(e & ~0xff)) {
          Atomics.store(u32, list + 2 * m, 0);
          Atomics.sub(u32, (t + RR.monCount) >> 2, 1);
        }
      }
    }
  }
  // wait for feeders that may hold one of our rings' locks (bounded: a live task that keeps
  // one for a second is stuck or hostile, and must not hang a reclaim pass)
  for (const r of mine) {
    if (lockWithin(region, r + RR.lock, 1000) === 0) unlock(region, r + RR.lock);
  }
  const d = u32[(rec + PR.dirOfs) >> 2];
  if (d) region.dirRemove(d);
  destroyPortRecord(region, rec);
}

/** Open a monitor of the port `spec` names (/r /t /rt /z): the `monitor` entry of the port-kind table. */
export function openMonitor(region: Region, spec: PortSpec, opts: OpenOptions): MonitorPort {
  if (spec.kind === 'netmap' && !spec.pipe) {
    // an interface port's rings live in memory private to the thread that opened it
    throw new NetmapError('ENOTSUP', `${spec.raw}: monitors of Linux-interface ports are not supported (their rings are private to the program that opened the interface); capture the interface itself: nmts capture -i netmap:${spec.name}`);
  }
  const target = monitoredName(spec);
  region.lockLive();
  reclaimDead(region, taskAlive); // ports left by dead threads and processes
  try {
    const entry = region.dirFind(DirType.Port, target);
    if (!entry) throw new NetmapError('ENXIO', `${spec.raw}: cannot monitor ${target}: no such port is open (monitors watch ports already in use)`);
    const u32 = region.u32;
    const trec = u32[(entry + DIR.recOfs) >> 2];
    checkPortRecord(region, trec);
    const ntx = u32[(trec + PR.ntx) >> 2], nrx = u32[(trec + PR.nrx) >> 2];
    const zc = (spec.flags & NR_ZCOPY_MON) !== 0;
    const wantTx = zc || (spec.flags & NR_MONITOR_TX) !== 0;
    const wantRx = zc || (spec.flags & NR_MONITOR_RX) !== 0;
    const rings = Math.max(wantTx ? ntx : 0, wantRx ? nrx : 0);
    if (spec.mode !== 'all-nic' && spec.mode !== 'one-nic') throw new NetmapError('EINVAL', `${spec.raw}: host rings cannot be monitored on software ports`);
    if (spec.mode === 'one-nic' && spec.ringId >= rings) throw new NetmapError('EINVAL', `${spec.raw}: ring ${spec.ringId} does not exist (the port has ${rings})`);
    const slots = opts.rxSlots ?? Math.max(u32[(trec + PR.rxSlots) >> 2], u32[(trec + PR.txSlots) >> 2], DEFAULT_SLOTS >> 1);
    if (slots < MIN_SLOTS || slots > MAX_SLOTS) throw new NetmapError('EINVAL', `${spec.raw}: ${slots} slots (${MIN_SLOTS}..${MAX_SLOTS})`);
    const rec = createPortRecord(region, { kind: RecKind.Monitor, ntx: 0, nrx: rings, txSlots: 0, rxSlots: slots });
    let port: MonitorPort;
    try { // a failed creation leaves neither the record nor its directory entry
      u32[(rec + PR.link) >> 2] = trec;
      u32[(rec + PR.index) >> 2] = u32[(trec + PR.gen) >> 2]; // to know later whether the target is the same port
      u32[(rec + PR.dirOfs) >> 2] = region.dirAdd(DirType.Monitor, `${target}/m${u32[(rec + PR.gen) >> 2]}`, rec, u32[(rec + PR.gen) >> 2]);
      for (let i = 0; i < rings; i++) setPortRing(region, rec, i, createRing(region, { numSlots: slots, dir: NR_RX, ringId: i, portOfs: rec }));
      const idx = spec.mode === 'one-nic' ? [spec.ringId] : Array.from({ length: rings }, (_, i) => i);
      port = new MonitorPort(region, rec, spec, idx, opts);
    } catch (e) {
      const d = u32[(rec + PR.dirOfs) >> 2];
      if (d) region.dirRemove(d);
      destroyPortRecord(region, rec);
      throw e;
    }
    try {
      for (let i = 0; i < rings; i++) {
        if (spec.mode === 'one-nic' && i !== spec.ringId) continue;
        const mine = portRing(region, rec, true, i);
        const bits = zc ? MON_ZCOPY | MON_TX | MON_RX : 0;
        if (wantTx && i < ntx) port.watch(portRing(region, trec, false, i), mine, bits || MON_TX);
        if (wantRx && i < nrx) port.watch(portRing(region, trec, true, i), mine, bits || MON_RX);
      }
    } catch (e) {
      region.unlockConfig();
      try { port.close(); } finally { region.lockConfig(); }
      throw e;
    }
    return port;
  } finally {
    region.unlockConfig();
  }
}
