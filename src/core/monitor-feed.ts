// Feeding monitors from the monitored ring's own sync. Each ring record carries a short list
// of monitor rings (in shared memory, so a monitor opened in another thread is seen at the
// next sync). Copy monitors get copies of frames (tx frames flagged NS_TXMON); a zero-copy
// monitor gets the very buffers once the monitored port is done with them. A monitor that
// falls behind drops its own excess: the monitored port never waits for it.
import { NETMAP_MAX_FRAGS, NS_MOREFRAG, NS_TXMON } from './constants.js';
import { deliverCopies, deliverSwaps, FrameTable } from './deliver.js';
import { MAX_MONITORS, MON_RX, MON_TX, MON_ZCOPY, RR } from './layout.js';
import type { Region } from './region.js';

const table = new FrameTable(4096 + 64);
const list = new Int32Array(4096 + 64);

/**
 * Gather slots [from, to) of `ring` into the scratch table; returns packets. The slots were
 * validated by the ring owner's prologue, but a slot written since (rx slots are filled by
 * producers; any process may write) is checked again: a packet with a bad buf_idx or len is
 * left out and counted in `skipped`.
 */
function gather(region: Region, ring: number, from: number, to: number): number {
  const u32 = region.u32, u16 = region.u16;
  const n = u32[(ring + RR.numSlots) >> 2];
  const s = u32[(ring + RR.slotsOfs) >> 2] >>> 2;
  const nbufs = region.nbufs, bufSize = region.bufSize, bufsOfs = region.bufsOfs;
  let count = 0, pkts = 0, first = -1, bad = false;
  skipped = 0;
  for (let k = from; k !== to && count < table.cap; k = k + 1 === n ? 0 : k + 1) {
    const slot = s + (k << 2);
    const idx = u32[slot], len = u16[(slot << 1) + 2];
    const f = u16[(slot << 1) + 3];
    if (idx < 2 || idx >= nbufs || len > bufSize) bad = true;
    table.src[count] = bufsOfs + idx * bufSize;
    table.len[count] = len;
    table.flags[count] = f;
    table.frags[count] = 0;
    if (first < 0) first = count;
    count++;
    if (!(f & NS_MOREFRAG) || count - first >= NETMAP_MAX_FRAGS) {
      if (bad) { // drop the packet: its slots leave the table
        count = first;
        skipped++;
        bad = false;
      } else {
        table.frags[first] = count - first;
        list[pkts++] = first;
      }
      first = -1;
    }
  }
  if (first >= 0) count = first; // an unfinished chain (the owner publishes only complete ones)
  table.count = count;
  return pkts;
}

/** Packets the last gather() left out because of a bad slot. */
let skipped = 0;

/**
 * Copy slots [from, to) of `ring` (validated by its owner's sync) to its copy monitors of
 * direction `tx`. A monitor ring that is full drops its own excess and counts it (its rx
 * drops, shown by the monitor's stats()); packets with a slot damaged since the owner's checks
 * count as drops of every monitor.
 */
export function feedCopyMonitors(region: Region, ring: number, from: number, to: number, tx: boolean): void {
  const u32 = region.u32, f64 = region.f64;
  const want = tx ? MON_TX : MON_RX;
  let pkts = -1;
  for (let m = 0; m < MAX_MONITORS; m++) {
    const e = u32[((ring + RR.monList) >> 2) + 2 * m];
    if (!e || (e & MON_ZCOPY) || !(e & want)) continue;
    if (pkts < 0) pkts = gather(region, ring, from, to);
    const mon = e & ~0xff;
    const got = deliverCopies(region, mon, u32[((ring + RR.monList) >> 2) + 2 * m + 1], table, list, 0, pkts, tx ? NS_TXMON : 0);
    if (skipped && got >= 0) {
      f64[(mon + RR.drops) >> 3] += skipped;
      f64[(mon + RR.badSlots) >> 3] += skipped;
    }
  }
}

/** Hand slots [from, to) of `ring` (already consumed) to its first zero-copy monitor; true if one took them. */
export function feedZcopyMonitor(region: Region, ring: number, from: number, to: number, tx: boolean): boolean {
  const u32 = region.u32;
  for (let m = 0; m < MAX_MONITORS; m++) {
    const e = u32[((ring + RR.monList) >> 2) + 2 * m];
    if (!e || !(e & MON_ZCOPY)) continue;
    if (deliverSwaps(region, e & ~0xff, u32[((ring + RR.monList) >> 2) + 2 * m + 1], ring, from, to, tx ? NS_TXMON : 0) >= 0) return true;
  }
  return false;
}

/** True when the ring has copy monitors for this direction or any zero-copy monitor. */
export function hasMonitors(region: Region, ring: number): boolean {
  return Atomics.load(region.u32, (ring + RR.monCount) >> 2) !== 0;
}
