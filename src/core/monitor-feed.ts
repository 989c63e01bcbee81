// Feeding monitors from the monitored ring's own sync. Each ring record carries a short list
// of monitor rings (in shared memory, so a monitor opened in another thread is seen at the
// next sync). Copy monitors get copies of frames (tx frames flagged NS_TXMON); a zero-copy
// monitor gets the very buffers once the monitored port is done with them. A monitor that
// falls behind drops its own excess: the monitored port never waits for it.
import { NS_MOREFRAG, NS_TXMON } from './constants.js';
import { deliverCopies, deliverSwaps, FrameTable } from './deliver.js';
import { MAX_MONITORS, MON_RX, MON_TX, MON_ZCOPY, RR } from './layout.js';
import type { Region } from './region.js';

const table = new FrameTable(4096 + 64);
const list = new Int32Array(4096 + 64);

/** Gather slots [from, to) of `ring` into the scratch table; returns packets. */
function gather(region: Region, ring: number, from: number, to: number): number {
  const u32 = region.u32, u16 = region.u16;
  const n = u32[(ring + RR.numSlots) >> 2];
  const s = u32[(ring + RR.slotsOfs) >> 2] >> 2;
  let count = 0, pkts = 0, first = -1;
  for (let k = from; k !== to && count < table.cap; k = k + 1 === n ? 0 : k + 1) {
    const slot = s + (k << 2);
    table.src[count] = region.bufsOfs + u32[slot] * region.bufSize;
    table.len[count] = u16[(slot << 1) + 2];
    const f = u16[(slot << 1) + 3];
    table.flags[count] = f;
    table.frags[count] = 0;
    if (first < 0) first = count;
    if (!(f & NS_MOREFRAG) || count - first >= 63) {
      table.frags[first] = count - first + 1;
      list[pkts++] = first;
      first = -1;
    }
    count++;
  }
  table.count = count;
  return pkts;
}

/** Copy slots [from, to) of `ring` to its copy monitors of direction `tx`. */
export function feedCopyMonitors(region: Region, ring: number, from: number, to: number, tx: boolean): void {
  const u32 = region.u32;
  const want = tx ? MON_TX : MON_RX;
  let pkts = -1;
  for (let m = 0; m < MAX_MONITORS; m++) {
    const e = u32[((ring + RR.monList) >> 2) + 2 * m];
    if (!e || (e & MON_ZCOPY) || !(e & want)) continue;
    if (pkts < 0) pkts = gather(region, ring, from, to);
    deliverCopies(region, e & ~0xff, u32[((ring + RR.monList) >> 2) + 2 * m + 1], table, list, 0, pkts, tx ? NS_TXMON : 0);
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
