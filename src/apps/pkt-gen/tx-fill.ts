// How pkt-gen's sender (loops.ts txLoop) fills one tx ring for one batch. Three paths, picked
// once per loop:
//   fillFixed      the same frame in every buffer (prefilled): only buffers swapped in
//                  (NS_BUF_CHANGED) are written again, and a slot word only when it changes;
//   fillFrames     one frame per slot, varied per frame (-A/-B ranges, random addresses or
//                  sizes, sequence numbers, -X dump), or copied into every buffer (-o 4 / 8);
//   fillFragments  one frame spread over `frags` slots chained with NS_MOREFRAG (-F, -M).
// Each fills at most `todo` frames from the ring's head into its free space, advances the
// head, and returns the frames queued; the bytes go to `st.bytes`. Nothing is allocated.
import { NS_BUF_CHANGED, NS_MOREFRAG } from '../../core/constants.js';
import type { Ring } from '../../core/ring.js';
import { hexdump } from '../../packet/hexdump.js';
import { writeSeq } from '../../packet/frame-builder.js';
import type { LoopConfig } from './loops.js';

/** What a sender carries from batch to batch. */
export class TxState {
  /** bytes queued by the last fill */
  bytes = 0;
  /** next sequence number (txseq) */
  seqNo = 0;
  /** xorshift state for random frame sizes */
  rng = 0x9e3779b9 | 0;
  /** next entry of the size schedule (-l imix) */
  sizeAt = 0;
}

/** Write the template frame (after the virtio-net header, zeroed) into the buffer at `off`. */
export function writeFrame(u8: Uint8Array, off: number, cfg: LoopConfig): void {
  const f = cfg.frame, v = cfg.vhdr, n = cfg.frameLen;
  if (v) u8.fill(0, off, off + v);
  for (let i = 0; i < n; i++) u8[off + v + i] = f[i];
}

/**
 * The fast path: every frame `wireLen` bytes, the buffers already hold it. One load per slot
 * (its word, len | flags << 16), a store only when it changes, over the one or two
 * contiguous pieces of the slots filled (no wrap-around test in the loop).
 */
export function fillFixed(r: Ring, u8: Uint8Array, cfg: LoopConfig, todo: number, wireLen: number, st: TxState): number {
  const u32 = r.u32, slots = r.slots, n = r.numSlots;
  const space = r.space();
  if (todo > space) todo = space;
  const h0 = r.head;
  let h = h0 + todo;
  if (h >= n) h -= n;
  const word = wireLen; // len, flags = 0
  for (let a = h0, b = h >= h0 ? h : n; ; a = 0, b = h) {
    let i = slots + (a << 2) + 1;
    const e = slots + (b << 2);
    while (i < e) {
      // four slots a step while all four words hold `word` already (the steady state), then
      // the next four (or fewer) one by one
      for (; i + 16 <= e && u32[i] === word && u32[i + 4] === word && u32[i + 8] === word && u32[i + 12] === word; i += 16);
      for (const stop = i + 16 < e ? i + 16 : e; i < stop; i += 4) {
        const w = u32[i];
        if (w !== word) {
          if ((w >>> 16) & NS_BUF_CHANGED) writeFrame(u8, r.bufsOfs + u32[i - 1] * r.bufSize, cfg);
          u32[i] = word;
        }
      }
    }
    if (b === h) break;
  }
  st.bytes = todo * wireLen;
  r.advance(h);
  return todo;
}

/** One frame per slot, each possibly different (ranges, random fields and sizes, sequence numbers). */
export function fillFrames(r: Ring, u8: Uint8Array, cfg: LoopConfig, todo: number, wireLen: number, st: TxState, log: (line: string) => void): number {
  const u32 = r.u32, u16 = r.u16, slots = r.slots, n = r.numSlots;
  const tmpl = cfg.template, vh = cfg.vhdr, fo = vh + (cfg.tagLen ?? 0);
  const sizes = cfg.sizes ?? null;
  const ranges = tmpl !== null && tmpl.hasRange;
  const random = tmpl !== null && (cfg.randomSrc || cfg.randomDst);
  const randLen = cfg.frameLenMin < cfg.frameLen;
  const seq = cfg.fn === 'txseq';
  let space = r.space();
  let h = r.head;
  let sent = 0, bytes = 0;
  while (sent < todo && space > 0) {
    const s = slots + (h << 2);
    const buf = r.bufsOfs + u32[s] * r.bufSize;
    let len = wireLen;
    if (cfg.copyMode === 8) { if (vh) u8.fill(0, buf, buf + vh); u8.set(cfg.frame, buf + vh); } // pkt-gen's memcpy
    else if (cfg.copyMode === 4 || ((u16[(s << 1) + 3] & NS_BUF_CHANGED) && !cfg.rubbish)) writeFrame(u8, buf, cfg);
    if (ranges) tmpl!.advance(u8, buf + fo);
    if (random) tmpl!.randomize(u8, buf + fo, cfg.randomSrc, cfg.randomDst);
    if (sizes !== null) {
      // the precomputed schedule: one lookup per frame, nothing allocated
      const k = st.sizeAt;
      len = vh + sizes[k]!;
      st.sizeAt = k + 1 === sizes.length ? 0 : k + 1;
      if (tmpl) tmpl.setLength(u8, buf + fo, len - fo);
    } else if (randLen) {
      let x = st.rng;
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      st.rng = x;
      len = vh + cfg.frameLenMin + ((x >>> 0) % (cfg.frameLen - cfg.frameLenMin));
      if (tmpl) tmpl.setLength(u8, buf + fo, len - fo);
    }
    if (seq) writeSeq(u8, buf + fo, st.seqNo++, cfg.family);
    if (cfg.dump) log(hexdump(u8, buf, len, len, 0));
    u32[s + 1] = len; // len, flags = 0
    bytes += len;
    h = h + 1 === n ? 0 : h + 1;
    space--;
    sent++;
  }
  st.bytes = bytes;
  r.advance(h);
  return sent;
}

/** One frame of `wireLen` bytes over cfg.frags slots; only the first carries the headers. */
export function fillFragments(r: Ring, u8: Uint8Array, cfg: LoopConfig, todo: number, wireLen: number, st: TxState): number {
  const u32 = r.u32, slots = r.slots, n = r.numSlots;
  const frags = cfg.frags, vh = cfg.vhdr;
  const fragLen = cfg.fragSize || Math.ceil(wireLen / frags);
  const lastFrag = wireLen - fragLen * (frags - 1);
  const seq = cfg.fn === 'txseq';
  let space = r.space();
  let h = r.head;
  let sent = 0;
  while (sent < todo && space >= frags) {
    for (let f = 0; f < frags; f++) {
      const fs = slots + (h << 2);
      const fb = r.bufsOfs + u32[fs] * r.bufSize;
      const flen = f === frags - 1 ? lastFrag : fragLen;
      if (!cfg.rubbish) for (let i = 0; i < flen; i++) u8[fb + i] = f === 0 && i < vh ? 0 : cfg.frame[f * fragLen + i - vh] ?? 0;
      if (seq && f === 0) writeSeq(u8, fb + vh + (cfg.tagLen ?? 0), st.seqNo++, cfg.family);
      u32[fs + 1] = flen | (f === frags - 1 ? 0 : NS_MOREFRAG << 16);
      h = h + 1 === n ? 0 : h + 1;
    }
    space -= frags;
    sent++;
  }
  st.bytes = sent * wireLen;
  r.advance(h);
  return sent;
}
