// Ports of a VALE switch (`valeX:Y`). The switch and the port are created on first open and
// destroyed on last close. Transmit copies into the destinations during txsync, so a tx
// slot is free again as soon as txsync returns; receive rings are filled by other ports'
// senders and drained by rxsync.
import { existsSync } from 'node:fs';
import { DEFAULT_SLOTS, MAX_SLOTS, MIN_SLOTS, NETMAP_MAX_FRAGS, NM_BDG_BATCH, NM_BDG_MAXPORTS, NM_BDG_MAXRINGS, NR_RX, NR_TX, NS_MOREFRAG } from '../core/constants.js';
import { DIR, DirType, PR, RecKind, RR, SW, SW_FLAG_RSS } from '../core/layout.js';
import { feedCopyMonitors, feedZcopyMonitor } from '../core/monitor-feed.js';
import { Port, selectRings, type OpenOptions } from '../core/port.js';
import type { PortSpec } from '../core/portspec.js';
import { checkPortRecord, createPortRecord, createRing, destroyPortRecord, reclaimDead, setPortRing } from '../core/records.js';
import { taskAlive } from '../core/lock.js';
import { NetmapError, type Region } from '../core/region.js';
import { badSlot, checkPublished, countTx, ringPrologue, rxPrologue, slotInvalid, stampRing } from '../core/sync.js';
import { forwardBatch, forwardSlots, ft, learned, learnSlots, pktFirst } from './forward.js';
import { portVnetHdrLen } from './offload.js';
import { attachPort, detachPort, findOrCreateSwitch, lookupRegistrations, resolveLookup, switchProblem, type LookupFn } from './switch.js';
import { NR_TIMESTAMP } from '../core/constants.js';
import { OWNER_TOKEN } from '../core/lock.js';

const FT_LIMIT = ft.cap - NETMAP_MAX_FRAGS;

export class ValePort extends Port {
  /** Switch record. */
  readonly sw: number;
  /** This port's index on the switch (0..253). */
  readonly portIndex: number;
  private lookupVersion = 0;
  private lookupFn: LookupFn | null = null;
  private lookupRegs = 0;

  constructor(region: Region, rec: number, spec: PortSpec, opts: OpenOptions) {
    const u32 = region.u32;
    super(region, rec, spec, selectRings(spec, u32[(rec + PR.ntx) >> 2], u32[(rec + PR.nrx) >> 2]), opts);
    this.sw = u32[(rec + PR.link) >> 2];
    this.portIndex = u32[(rec + PR.index) >> 2];
    this.bindRings();
  }

  /** The port's virtio-net header length (0, 10, 12; -1 if its record holds something else). */
  override get vnetHdrLen(): number {
    return portVnetHdrLen(this.region, this.rec);
  }

  protected txsyncRing(t: number): void {
    const region = this.region, u32 = region.u32;
    // the ring checks of the prologue; the slot rules are applied below, as the slots are gathered
    const head = ringPrologue(region, t, this.name);
    const n = u32[(t + RR.numSlots) >> 2];
    const hwcur = u32[(t + RR.hwcur) >> 2];
    let done = hwcur;
    if (head !== hwcur) {
      const v = Atomics.load(u32, (this.sw + SW.lookupId) >> 2);
      if (v !== this.lookupVersion || lookupRegistrations() !== this.lookupRegs) {
        this.lookupFn = resolveLookup(region, this.sw);
        this.lookupVersion = v;
        this.lookupRegs = lookupRegistrations();
      }
      const s = u32[(t + RR.slotsOfs) >> 2] >>> 2;
      const nbufs = region.nbufs, bufSize = region.bufSize, bufsOfs = region.bufsOfs;
      const nb = nbufs - 2; // the slot rule's buf_idx test as one unsigned compare: idx - 2 < nbufs - 2
      const ringId = u32[(t + RR.ringId) >> 2] & 0xffff;
      const hdr = portVnetHdrLen(region, this.rec); // fixed while the port is open (read once per sync)
      // the common case (the learning bridge, no header, no RSS) takes runs of one-slot
      // packets without the table of frames: learnSlots, then forwardSlots
      const plain = this.lookupFn === null && hdr === 0 && (u32[(this.sw + SW.flags) >> 2] & SW_FLAG_RSS) === 0;
      // the scratch table's arrays in locals: the gather loop does not reload them per slot
      const fSrc = ft.src, fLen = ft.len, fFlags = ft.flags, fFrags = ft.frags, firsts = pktFirst;
      let k = hwcur;
      while (k !== head) {
        const from = done;
        if (plain) {
          let piece = (k < head ? head : n) - k;
          if (piece > NM_BDG_BATCH) piece = NM_BDG_BATCH;
          const got = learnSlots(region, this.sw, this.portIndex, t, s, k, piece, this.name);
          if (got > 0) {
            const next = k + got === n ? 0 : k + got;
            if (u32[(t + RR.monCount) >> 2]) feedCopyMonitors(region, t, k, next, true);
            this.markForwarding(t);
            try {
              forwardSlots(region, this.sw, this.portIndex, t, ringId, s + (k << 2), got, learned[1]);
            } finally {
              Atomics.store(u32, (t + RR.fwd) >> 2, 0);
            }
            countTx(region, t, got, learned[0], 0);
            k = done = next;
            continue;
          }
          // slot k starts a chain: the general gather below takes it
        }
        // gather complete packets, up to one batch (ft has NETMAP_MAX_FRAGS of slack to finish a chain)
        let count = 0, pkts = 0, first = -1, bytes = 0, pktBytes = 0;
        // one-slot packets (no NS_MOREFRAG), the common case, in a tight loop over the
        // contiguous slots from k: the slot rule, the table entry, the packet's index; the
        // first chain or the ring's end leaves the rest to the general loop below
        let piece = (k < head ? head : n) - k;
        if (piece > NM_BDG_BATCH) piece = NM_BDG_BATCH;
        const s0 = s + (k << 2);
        for (let i = s0, e = s0 + (piece << 2); i < e; i += 4) {
          const idx = u32[i], word = u32[i + 1];
          if (word & (NS_MOREFRAG << 16)) break;
          const len = word & 0xffff;
          if (((idx - 2) >>> 0) >= nb || len > bufSize) badSlot(region, t, (i - s) >>> 2, this.name);
          fSrc[count] = bufsOfs + idx * bufSize;
          fLen[count] = len;
          fFlags[count] = word >>> 16;
          fFrags[count] = 1;
          firsts[count] = count;
          count++;
          bytes += len;
        }
        if (count > 0) {
          pkts = count;
          k += count;
          if (k === n) k = 0;
          done = k;
        }
        while (k !== head && pkts < NM_BDG_BATCH && (count < FT_LIMIT || first >= 0)) {
          const slot = s + (k << 2);
          const idx = u32[slot], word = u32[slot + 1];
          const len = word & 0xffff, flags = word >>> 16;
          if (slotInvalid(idx, len, nbufs, bufSize)) badSlot(region, t, k, this.name);
          fSrc[count] = bufsOfs + idx * bufSize;
          fLen[count] = len;
          fFlags[count] = flags;
          fFrags[count] = 0;
          if (first < 0) first = count;
          count++;
          pktBytes += len;
          k = k + 1 === n ? 0 : k + 1;
          // the chain rule of txPrologue: a packet ends without NS_MOREFRAG or at its 64th slot
          if (!(flags & NS_MOREFRAG) || count - first >= NETMAP_MAX_FRAGS) {
            fFrags[first] = count - first;
            firsts[pkts++] = first;
            first = -1;
            done = k;
            bytes += pktBytes;
            pktBytes = 0;
          }
        }
        if (pkts > 0) {
          // copy monitors see what passed the checks, and only that
          if (u32[(t + RR.monCount) >> 2]) feedCopyMonitors(region, t, from, done, true);
          this.markForwarding(t);
          try {
            forwardBatch(region, this.sw, this.portIndex, t, ringId, pkts, this.lookupFn, hdr, count === pkts);
          } finally {
            Atomics.store(u32, (t + RR.fwd) >> 2, 0);
          }
          countTx(region, t, pkts, bytes, 0);
        }
        if (first >= 0) break; // an incomplete chain stays with the user until completed
      }
      if (done !== hwcur) {
        if (u32[(t + RR.monCount) >> 2]) feedZcopyMonitor(region, t, hwcur, done, true);
        u32[(t + RR.hwcur) >> 2] = done;
      }
    }
    const tail = done === 0 ? n - 1 : done - 1;
    u32[(t + RR.hwtail) >> 2] = tail;
    u32[(t + RR.tail) >> 2] = tail;
    if (u32[(t + RR.flags) >> 2] & NR_TIMESTAMP) stampRing(region, t);
  }

  /**
   * Mark tx ring t as forwarding in the switch's current epoch (a detach waits for such
   * marks; the thread id lets it skip the mark of a sender that died mid-forward). The caller
   * clears the mark when the batch is delivered.
   */
  private markForwarding(t: number): void {
    const u32 = this.region.u32;
    const e = Atomics.load(u32, (this.sw + SW.epoch) >> 2) & 1;
    Atomics.store(u32, (t + RR.fwd) >> 2, (OWNER_TOKEN | (e << 31)) >>> 0);
  }

  protected rxsyncRing(r: number): void {
    const region = this.region, u32 = region.u32;
    // validates the ring and the buffers of the released slots [hwcur, head)
    const head = rxPrologue(region, r, this.name);
    const hwcur = u32[(r + RR.hwcur) >> 2];
    const mon = u32[(r + RR.monCount) >> 2];
    if (head !== hwcur) {
      if (mon) feedZcopyMonitor(region, r, hwcur, head, false);
      Atomics.store(u32, (r + RR.hwcur) >> 2, head); // senders may now reuse them
    }
    const prod = checkPublished(region, r, Atomics.load(u32, (r + RR.prod) >> 2), this.name, 'prod');
    const old = u32[(r + RR.hwtail) >> 2];
    if (mon && prod !== old) feedCopyMonitors(region, r, old, prod, false);
    u32[(r + RR.hwtail) >> 2] = prod;
    u32[(r + RR.tail) >> 2] = prod;
    if (u32[(r + RR.flags) >> 2] & NR_TIMESTAMP) stampRing(region, r);
  }
}

/** Destructor of a VALE port record (config lock held): off its switch, out of the directory, freed. */
export function destroyValePort(region: Region, rec: number): void {
  const u32 = region.u32;
  const sw = u32[(rec + PR.link) >> 2], idx = u32[(rec + PR.index) >> 2];
  // follow the link only if the switch really lists this record at that index
  if (switchProblem(region, sw) === null && idx < NM_BDG_MAXPORTS && u32[((sw + SW.ports) >> 2) + idx] === rec) detachPort(region, sw, idx);
  region.dirRemove(u32[(rec + PR.dirOfs) >> 2]);
  destroyPortRecord(region, rec);
}

function createValePort(region: Region, spec: PortSpec, name: string, opts: OpenOptions): number {
  const ntx = opts.txRings ?? 1, nrx = opts.rxRings ?? opts.txRings ?? 1;
  const txSlots = opts.txSlots ?? DEFAULT_SLOTS, rxSlots = opts.rxSlots ?? opts.txSlots ?? DEFAULT_SLOTS;
  for (const [what, v, max] of [['tx rings', ntx, NM_BDG_MAXRINGS], ['rx rings', nrx, NM_BDG_MAXRINGS], ['tx slots', txSlots, MAX_SLOTS], ['rx slots', rxSlots, MAX_SLOTS]] as const) {
    const min = what.endsWith('slots') ? MIN_SLOTS : 1;
    if (!Number.isInteger(v) || v < min || v > max) throw new NetmapError('EINVAL', `${name}: ${v} ${what} (allowed ${min}..${max})`);
  }
  const sw = findOrCreateSwitch(region, spec.switchName);
  const rec = createPortRecord(region, { kind: RecKind.Vale, ntx, nrx, txSlots, rxSlots });
  region.u32[(rec + PR.vnetHdrLen) >> 2] = opts.vnetHdrLen ?? 0;
  try {
    for (let i = 0; i < ntx; i++) setPortRing(region, rec, i, createRing(region, { numSlots: txSlots, dir: NR_TX, ringId: i, portOfs: rec }));
    for (let i = 0; i < nrx; i++) setPortRing(region, rec, ntx + i, createRing(region, { numSlots: rxSlots, dir: NR_RX, ringId: i, portOfs: rec }));
    attachPort(region, sw, rec);
  } catch (e) {
    destroyPortRecord(region, rec);
    if (region.u32[(sw + SW.nports) >> 2] === 0) detachOrphanSwitch(region, sw);
    throw e;
  }
  region.u32[(rec + PR.dirOfs) >> 2] = region.dirAdd(DirType.Port, name, rec, region.u32[(rec + PR.gen) >> 2]);
  return rec;
}

export { portVnetHdrLen };

/** Change an existing port's header length (netmap's PORT_HDR_SET): only while no one has it open. */
function setVnetHdrLen(region: Region, rec: number, len: 0 | 10 | 12, name: string): void {
  const u32 = region.u32;
  const now = u32[(rec + PR.vnetHdrLen) >> 2];
  if (now === len) return;
  const refs = u32[(rec + PR.refs) >> 2];
  if (refs > 0) {
    throw new NetmapError('EBUSY', `${name}: open with a virtio-net header of ${now} bytes by ${refs} opener(s); its header length (vnet=${len}) can change only when no one has it open`);
  }
  u32[(rec + PR.vnetHdrLen) >> 2] = len;
}

function detachOrphanSwitch(region: Region, sw: number): void {
  region.dirRemove(region.u32[(sw + SW.dirOfs) >> 2]);
  region.freeObj(sw, SW.size);
}

/** Open (creating if needed) the VALE port `spec` names: the `vale` entry of the port-kind table (src/port-kinds.ts). */
export function openValePort(region: Region, spec: PortSpec, opts: OpenOptions): ValePort {
  const name = `${spec.switchName}:${spec.name}`;
  if (existsSync(`/sys/class/net/${spec.name}`)) {
    throw new NetmapError('EINVAL', `${spec.raw}: ${spec.name} is a network interface, not a VALE port: attach it to the switch with: nmts vale-ctl -a ${spec.switchName}:${spec.name}`);
  }
  region.lockLive();
  reclaimDead(region, taskAlive); // ports left by dead threads and processes
  try {
    const entry = region.dirFind(DirType.Port, name);
    const rec = entry ? region.u32[(entry + DIR.recOfs) >> 2] : createValePort(region, spec, name, opts);
    if (entry) {
      checkPortRecord(region, rec); // its counts size what the constructor builds
      if (opts.vnetHdrLen !== undefined) setVnetHdrLen(region, rec, opts.vnetHdrLen, name);
    }
    try {
      return new ValePort(region, rec, spec, opts);
    } catch (e) {
      if (!entry) { // undo the creation if binding failed
        detachPort(region, region.u32[(rec + PR.link) >> 2], region.u32[(rec + PR.index) >> 2]);
        region.dirRemove(region.u32[(rec + PR.dirOfs) >> 2]);
        destroyPortRecord(region, rec);
      }
      throw e;
    }
  } finally {
    region.unlockConfig();
  }
}
