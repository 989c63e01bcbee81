// VALE forwarding, run by the sender's txsync (as in netmap's nm_vale_flush): gather a batch
// of slots, look up each packet's destination, group packets by destination with a counting
// sort, and copy each group into the destination's rx ring under that ring's lock. A full
// destination drops and counts (so does a flood that finds no other port on the switch); other
// destinations are unaffected. All scratch space is preallocated per thread.
//
// The common case has a shorter way (learnSlots, forwardSlots): on a learning bridge without
// RSS, a sender without a header checks and looks up a run of one-slot packets in one pass
// over its slots, and a run for one destination is copied straight from those slots
// (deliverSlots), with no table in between; other runs enter the table and the same dispatch.
//
// A destination whose virtio-net header length differs from the sender's gets each packet
// through the converter of offload.ts (header added, removed or re-laid; checksums completed,
// super-frames segmented), inside the same delivery routine; packets the converter refuses (a
// malformed header) are counted on the sender's tx ring as RR.txBadVnet, part of RR.txDrops.
// Equal lengths (the common case) deliver the slots as they are.
import { NETMAP_MAX_FRAGS, NM_BDG_BATCH, NM_BDG_BROADCAST, NM_BDG_MAXPORTS, NM_BDG_MAXRINGS, NM_BDG_NOPORT, NS_MOREFRAG, NS_NO_LEARN } from '../core/constants.js';
import { deliverCopies, deliverSlots, FrameTable, lastDeliveryLackedRoom } from '../core/deliver.js';
import { PR, REGION_HEADER_SIZE, RR, SW, SW_FLAG_RSS } from '../core/layout.js';
import type { Region } from '../core/region.js';
import { portRing } from '../core/records.js';
import { badSlot, slotInvalid } from '../core/sync.js';
import { hashBucket, symmetricFlowHashBits } from '../packet/flow-hash.js';
import { ETH_HLEN } from '../packet/headers.js';
import { learnAndLookup } from './learning.js';
import { portVnetHdrLen, VnetConverter } from './offload.js';
import type { LookupFn } from './switch.js';

/**
 * Deliveries by this thread to a destination port whose ring had no room for all of them
 * (some were dropped for it): a running count, per thread (module state). A sender reads it
 * around its txsync to learn that a destination was full (apps/common/full-destination.ts);
 * frames with no destination at all, and copies for monitors, do not count.
 */
export function fullDestinationDeliveries(): number {
  return fullDeliveries[0];
}
const fullDeliveries = new Float64Array(1);

/** Per-thread scratch for one batch. */
export const ft = new FrameTable(NM_BDG_BATCH + NETMAP_MAX_FRAGS);
export const pktFirst = new Int32Array(NM_BDG_BATCH);
const pktDst = new Int32Array(NM_BDG_BATCH);
const pktHash = new Uint32Array(NM_BDG_BATCH);
const order = new Int32Array(NM_BDG_BATCH);
const cnt = new Int32Array(257);
const start = new Int32Array(257);
const merged = new Int32Array(NM_BDG_BATCH);
const byRing = new Int32Array(NM_BDG_BATCH);
const ringCnt = new Int32Array(257);
const offload = new VnetConverter();

/**
 * Forward packets pktFirst[0..pkts) of the scratch table, sent by port index `src` of switch
 * `sw` from its tx ring record `txRing` (index `ringId`), whose frames carry a virtio-net
 * header of `srcHdr` bytes (0, 10, 12; -1, a damaged port record: nothing is forwarded);
 * `singles`: every packet is one slot without NS_MOREFRAG (the delivery's fast loop).
 * Returns frames that some destination could not take.
 */
export function forwardBatch(region: Region, sw: number, src: number, txRing: number, ringId: number, pkts: number, lookup: LookupFn | null, srcHdr = 0, singles = false): number {
  if (srcHdr < 0) {
    region.f64[(txRing + RR.txDrops) >> 3] += pkts;
    region.f64[(txRing + RR.txBadVnet) >> 3] += pkts;
    return pkts;
  }
  const drops = route(region, sw, src, txRing, ringId, pkts, lookup, srcHdr, singles);
  const refused = offload.takeRefused();
  if (refused) region.f64[(txRing + RR.txBadVnet) >> 3] += refused;
  return drops;
}

function route(region: Region, sw: number, src: number, txRing: number, ringId: number, pkts: number, lookup: LookupFn | null, srcHdr: number, singles: boolean): number {
  const u8 = region.u8, u16 = region.u16, u32 = region.u32;
  const tab = (sw + SW.macTable) >> 2;
  const rss = (u32[(sw + SW.flags) >> 2] & SW_FLAG_RSS) !== 0;
  cnt.fill(0);
  let single = -1; // the one unicast destination of the whole batch, if there is one
  let c0 = 0, c1 = 0, c2 = 0, cDst = 0, seen = false; // MAC words (bytes 0..11) of the last looked-up frame
  const fSrc = ft.src, fLen = ft.len, fFlags = ft.flags, firsts = pktFirst, dsts = pktDst, counts = cnt; // locals: no reload per packet
  for (let p = 0; p < pkts; p++) {
    const f = firsts[p];
    // the lookup sees the Ethernet frame after the port's virtio-net header (its first slot
    // must hold both, as in netmap)
    const len = fLen[f] - srcHdr;
    let dst: number;
    if (len < ETH_HLEN) dst = NM_BDG_NOPORT;
    else if (lookup === null) {
      // consecutive frames of a flow carry the same MACs: reuse the previous result within
      // the batch instead of hashing again (netmap keeps a last-source-MAC per port likewise)
      const b = fSrc[f] + srcHdr; // a byte offset that may exceed 2^31: unsigned shifts only
      let m0: number, m1: number, m2: number;
      if ((b & 3) === 0) {
        const w = b >>> 2;
        m0 = u32[w]; m1 = u32[w + 1]; m2 = u32[w + 2];
      } else { // behind a 10-byte header: 2-byte aligned
        const h = b >>> 1;
        m0 = (u16[h] | (u16[h + 1] << 16)) >>> 0; m1 = (u16[h + 2] | (u16[h + 3] << 16)) >>> 0; m2 = (u16[h + 4] | (u16[h + 5] << 16)) >>> 0;
      }
      if (seen && m0 === c0 && m1 === c1 && m2 === c2 && (fFlags[f] & NS_NO_LEARN) === 0) dst = cDst;
      else {
        dst = learnAndLookup(u16, u32, tab, b, src, (fFlags[f] & NS_NO_LEARN) !== 0);
        c0 = m0; c1 = m1; c2 = m2; cDst = dst; seen = true;
      }
    } else {
      dst = lookup(u8, fSrc[f] + srcHdr, len, src, ringId);
      if (!(dst >= 0 && dst <= NM_BDG_NOPORT)) dst = NM_BDG_NOPORT;
      dst |= 0;
    }
    if (dst === src) dst = NM_BDG_NOPORT; // never back to the sender
    dsts[p] = dst;
    counts[dst]++;
    single = p === 0 ? dst : single === dst ? dst : -2;
    if (rss) pktHash[p] = symmetricFlowHashBits(u8, fSrc[f] + srcHdr, len);
  }
  return dispatch(region, sw, src, txRing, ringId, pkts, srcHdr, singles, single, rss);
}

/**
 * The second half of route(), for packets pktFirst[0..pkts) of the table whose destinations
 * are in pktDst and counted in cnt: one destination for the batch (`single`) takes the list
 * as it is, several are grouped by a counting sort and delivered port by port, each port's
 * unicast merged with the flood in send order. Returns frames dropped (counted on txRing).
 */
function dispatch(region: Region, sw: number, src: number, txRing: number, ringId: number, pkts: number, srcHdr: number, singles: boolean, single: number, rss: boolean): number {
  const u32 = region.u32;
  if (single >= 0 && single < NM_BDG_BROADCAST && !rss) {
    // fast path: one destination for the whole batch, no grouping needed
    const rec = Atomics.load(u32, ((sw + SW.ports) >> 2) + single);
    const drops = rec === 0 ? pkts : deliverListToPort(region, rec, pktFirst, pkts, ringId, srcHdr, singles);
    if (drops) region.f64[(txRing + RR.txDrops) >> 3] += drops;
    return drops;
  }
  // counting sort by destination, keeping send order inside each group
  let acc = 0;
  for (let d = 0; d < 256; d++) { start[d] = acc; acc += cnt[d]; }
  for (let d = 0; d < 256; d++) cnt[d] = start[d];
  for (let p = 0; p < pkts; p++) order[cnt[pktDst[p]]++] = p;
  for (let d = 0; d < 256; d++) cnt[d] -= start[d];

  let drops = cnt[NM_BDG_NOPORT];
  const nFlood = cnt[NM_BDG_BROADCAST], fStart = start[NM_BDG_BROADCAST];
  const nports = Math.min(Atomics.load(u32, (sw + SW.nports) >> 2), NM_BDG_MAXPORTS);
  let unicastSeen = 0, floodReached = false;
  for (let k = 0; k < nports; k++) {
    const d = u32[((sw + SW.active) >> 2) + k];
    if (d === src || d >= NM_BDG_MAXPORTS) continue; // (a damaged list entry is skipped)
    const nUni = cnt[d];
    unicastSeen += nUni;
    if (nUni === 0 && nFlood === 0) continue;
    const rec = Atomics.load(u32, ((sw + SW.ports) >> 2) + d);
    if (rec === 0) { drops += nUni; continue; }
    floodReached = true;
    // merge this port's unicast packets with the flood packets, in send order
    let a = start[d], b = fStart, m = 0;
    const aEnd = a + nUni, bEnd = fStart + nFlood;
    while (a < aEnd || b < bEnd) {
      merged[m++] = b >= bEnd || (a < aEnd && order[a] < order[b]) ? order[a++] : order[b++];
    }
    drops += deliverToPort(region, rec, m, ringId, rss, srcHdr, singles);
  }
  // unicast to ports that left the switch since they were learned
  drops += pkts - nFlood - cnt[NM_BDG_NOPORT] - unicastSeen;
  // a flood with no other port on the switch reached no one: dropped, not lost silently
  if (!floodReached) drops += nFlood;
  if (drops) region.f64[(txRing + RR.txDrops) >> 3] += drops;
  return drops;
}

/** What learnSlots() found besides the packets it took: [their bytes, the batch's one destination or -2]. */
export const learned = new Int32Array(2);

/**
 * The gather of VALE's common case (the learning bridge, no virtio-net header, no RSS) fused
 * with learning and lookup: over the contiguous tx slots [k, k + max) of ring `t` (slot
 * array at u32 index `s`), up to the first slot with NS_MOREFRAG, apply the slot rule (a bad
 * slot resets the ring and throws, as the gather does), learn each source MAC and look up each
 * destination into pktDst. A frame whose 12 MAC bytes equal the last looked-up frame's reuses
 * its result (no hash, no table access). Returns the packets taken (0: slot k starts a chain);
 * `learned` holds their bytes and the batch's one destination.
 */
export function learnSlots(region: Region, sw: number, src: number, t: number, s: number, k: number, max: number, what: string): number {
  const u16 = region.u16, u32 = region.u32, dsts = pktDst;
  const tab = (sw + SW.macTable) >> 2;
  // (| 0: untagged once here, not at each use in the loop)
  const nb = (region.nbufs - 2) | 0, bufSize = region.bufSize | 0, bufsOfs = region.bufsOfs | 0;
  // imported bindings in locals: TurboFan reloads (and hole-checks) a module binding at every
  // use inside a loop, a local once
  const chained = NS_MOREFRAG << 16, unlearned = NS_NO_LEARN << 16, minLen = ETH_HLEN, noPort = NM_BDG_NOPORT;
  let single = -1, c0 = 0, c1 = 0, c2 = 0, cDst = 0, seen = false, bytes = 0, p = 0;
  for (let i = s + (k << 2); p < max; p++, i += 4) {
    const idx = u32[i], word = u32[i + 1];
    if (word & chained) break;
    const len = word & 0xffff;
    // the slot rule as one unsigned compare: idx - 2 < nbufs - 2
    if (((idx - 2) >>> 0) >= nb || len > bufSize) badSlot(region, t, k + p, what);
    bytes += len;
    let dst: number;
    if (len < minLen) dst = noPort;
    else {
      const b = bufsOfs + idx * bufSize, w = b >>> 2; // (offsets may exceed 2^31: unsigned shifts only)
      const m0 = u32[w], m1 = u32[w + 1], m2 = u32[w + 2];
      const noLearn = (word & unlearned) !== 0;
      if (seen && m0 === c0 && m1 === c1 && m2 === c2 && !noLearn) dst = cDst;
      else {
        dst = learnAndLookup(u16, u32, tab, b, src, noLearn);
        c0 = m0; c1 = m1; c2 = m2; cDst = dst; seen = true;
      }
    }
    if (dst === src) dst = noPort; // never back to the sender
    dsts[p] = dst;
    single = p === 0 ? dst : single === dst ? dst : -2;
  }
  learned[0] = bytes;
  learned[1] = single;
  return p;
}

/**
 * Forward the `pkts` packets learnSlots() took, in the tx slots at u32 index `ss` of ring
 * `txRing`, sent by port `src`: to the batch's one destination straight from the slots
 * (deliverSlots: no table of frames), else through the table as route() does. The slots are
 * read again, so each is checked again (a sender may change them in between: such a packet
 * is dropped). Returns frames dropped (counted on txRing).
 */
export function forwardSlots(region: Region, sw: number, src: number, txRing: number, ringId: number, ss: number, pkts: number, single: number): number {
  const u32 = region.u32;
  // a flood on a switch of two ports reaches the other one only: the same as unicast to it
  // (netmap's first experiment, pkt-gen -f tx to a pkt-gen -f rx that never sends)
  if (single === NM_BDG_BROADCAST) single = otherPort(u32, sw, src);
  if (single >= 0 && single < NM_BDG_BROADCAST) {
    const rec = Atomics.load(u32, ((sw + SW.ports) >> 2) + single);
    const nrx = rec === 0 ? 0 : rxRingsOf(region, rec);
    if (nrx === 0 || portVnetHdrLen(region, rec) === 0) {
      let drops = pkts;
      if (nrx !== 0) {
        const ring = portRing(region, rec, true, ringId % nrx);
        const got = deliverSlots(region, ring, u32[(ring + RR.gen) >> 2], ss, pkts, 0);
        if (got > 0) drops -= got;
        if (lastDeliveryLackedRoom()) fullDeliveries[0]++;
      }
      if (drops) region.f64[(txRing + RR.txDrops) >> 3] += drops;
      return drops;
    }
  }
  // several destinations (or one behind a converter): the table, then route()'s dispatch
  const fSrc = ft.src, fLen = ft.len, fFlags = ft.flags, fFrags = ft.frags, firsts = pktFirst, dsts = pktDst, counts = cnt;
  const nbufs = region.nbufs, bufSize = region.bufSize, bufsOfs = region.bufsOfs;
  counts.fill(0);
  let one = single;
  for (let p = 0, i = ss; p < pkts; p++, i += 4) {
    const idx = u32[i], word = u32[i + 1], len = word & 0xffff;
    if (slotInvalid(idx, len, nbufs, bufSize) || (word & (NS_MOREFRAG << 16))) { // changed since learnSlots
      dsts[p] = NM_BDG_NOPORT;
      fSrc[p] = bufsOfs; fLen[p] = 0;
      one = -2;
    } else {
      fSrc[p] = bufsOfs + idx * bufSize; fLen[p] = len;
    }
    fFlags[p] = word >>> 16;
    fFrags[p] = 1;
    firsts[p] = p;
    counts[dsts[p]]++;
  }
  const drops = dispatch(region, sw, src, txRing, ringId, pkts, 0, true, one, false);
  const refused = offload.takeRefused();
  if (refused) region.f64[(txRing + RR.txBadVnet) >> 3] += refused;
  return drops;
}

/**
 * The one port of switch `sw` besides `src` when the switch has exactly two active ports
 * (its list read from shared memory: a damaged entry gives none); NM_BDG_BROADCAST otherwise.
 */
function otherPort(u32: Uint32Array, sw: number, src: number): number {
  if (Atomics.load(u32, (sw + SW.nports) >> 2) !== 2) return NM_BDG_BROADCAST;
  const a = u32[(sw + SW.active) >> 2], b = u32[((sw + SW.active) >> 2) + 1];
  const d = a === src ? b : b === src ? a : NM_BDG_BROADCAST;
  return d < NM_BDG_MAXPORTS && d !== src ? d : NM_BDG_BROADCAST;
}

/**
 * Number of rx rings of destination port record `rec` (read from the switch record, like the
 * record itself): 0 unless the record lies in the object area with 1..NM_BDG_MAXRINGS rings
 * each way, so that picking ring i < nrx reads inside the record.
 */
function rxRingsOf(region: Region, rec: number): number {
  if (rec < REGION_HEADER_SIZE || (rec & 63) !== 0 || rec + PR.ringsOfs + 8 * NM_BDG_MAXRINGS > region.bufsOfs) return 0;
  const u32 = region.u32;
  const ntx = u32[(rec + PR.ntx) >> 2], nrx = u32[(rec + PR.nrx) >> 2];
  return ntx <= NM_BDG_MAXRINGS && nrx >= 1 && nrx <= NM_BDG_MAXRINGS ? nrx : 0;
}

/**
 * The converter for packets from a port with an `srcHdr`-byte header to port record `rec`
 * (validated by rxRingsOf): null when the lengths are equal, undefined when `rec`'s length is
 * damaged (nothing is delivered to it).
 */
function converterFor(region: Region, rec: number, srcHdr: number): VnetConverter | null | undefined {
  const dstHdr = portVnetHdrLen(region, rec);
  if (dstHdr === srcHdr) return null;
  if (dstHdr < 0) return undefined;
  offload.setup(srcHdr, dstHdr);
  return offload;
}

/** Deliver first-fragment indices list[0..m) to ring (srcRing % nrx) of `rec`; returns drops. */
function deliverListToPort(region: Region, rec: number, list: Int32Array, m: number, srcRing: number, srcHdr: number, singles: boolean): number {
  const u32 = region.u32;
  const nrx = rxRingsOf(region, rec);
  if (nrx === 0) return m;
  const conv = converterFor(region, rec, srcHdr);
  if (conv === undefined) return m;
  const ring = portRing(region, rec, true, srcRing % nrx);
  const got = deliverCopies(region, ring, u32[(ring + RR.gen) >> 2], ft, list, 0, m, 0, conv, singles);
  if (lastDeliveryLackedRoom()) fullDeliveries[0]++;
  return got < 0 ? m : m - got;
}

/** Deliver merged[0..m) (packet numbers) to port record `rec`; returns frames dropped. */
function deliverToPort(region: Region, rec: number, m: number, srcRing: number, rss: boolean, srcHdr: number, singles: boolean): number {
  const u32 = region.u32;
  const nrx = rxRingsOf(region, rec);
  if (nrx === 0) return m;
  const conv = converterFor(region, rec, srcHdr);
  if (conv === undefined) return m;
  if (nrx === 1 || !rss) {
    // netmap: unicast goes to the sender's ring index, flood to ring 0; we keep both in one
    // ring per sender ring so that a flow's packets stay in order
    const ring = portRing(region, rec, true, srcRing % nrx);
    for (let i = 0; i < m; i++) merged[i] = pktFirst[merged[i]];
    const got = deliverCopies(region, ring, u32[(ring + RR.gen) >> 2], ft, merged, 0, m, 0, conv, singles);
    if (lastDeliveryLackedRoom()) fullDeliveries[0]++;
    return got < 0 ? m : m - got;
  }
  // software RSS: split by flow hash over the port's rx rings
  ringCnt.fill(0, 0, nrx + 1);
  for (let i = 0; i < m; i++) ringCnt[hashBucket(pktHash[merged[i]] | 0, nrx) + 1]++;
  for (let r = 1; r <= nrx; r++) ringCnt[r] += ringCnt[r - 1];
  for (let i = 0; i < m; i++) {
    const p = merged[i];
    byRing[ringCnt[hashBucket(pktHash[p] | 0, nrx)]++] = pktFirst[p];
  }
  let drops = 0, from = 0;
  for (let r = 0; r < nrx; r++) {
    const to = ringCnt[r];
    if (to === from) continue;
    const ring = portRing(region, rec, true, r);
    const n = to - from;
    const got = deliverCopies(region, ring, u32[(ring + RR.gen) >> 2], ft, byRing, from, n, 0, conv, singles);
    if (lastDeliveryLackedRoom()) fullDeliveries[0]++;
    drops += got < 0 ? n : n - got;
    from = to;
  }
  return drops;
}

