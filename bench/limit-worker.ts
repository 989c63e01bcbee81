/**
 * Worker for the *-limit cases (see limit.ts): one thread, no
 * synchronization with anybody, the tightest loop we know for the job.
 * Frames moved are counted in F_RX after every batch.
 */
import { F_AUX0, F_RX, I_PHASE, PHASE_STOP, PHASE_WARMUP, waitPhaseAtLeast } from './control.js';
import { benchWorker } from './worker-kit.js';

export type LimitMode = 'copy-f64' | 'copy-within' | 'index';

export interface LimitParams {
  mode: LimitMode;
  frameLen: number;
  /** Slots per ring (source and destination rings for copies). */
  slots: number;
  /** Bytes per buffer slot (netmap's default buffer size is 2048). */
  slotSize: number;
  /** Frames per batch between phase checks / counter updates. */
  batch: number;
}

const bw = benchWorker<LimitParams>();
const { ctl, params: p } = bw;
const f64c = ctl.f64;
const i32 = ctl.i32;

/** Copy `n` frames src ring -> dst ring with a Float64 word loop. */
function copyF64(w: Float64Array, n: number, pos: number, mask: number, slotWords: number, dstBase: number, words: number): void {
  for (let i = 0; i < n; i++) {
    const s = ((pos + i) & mask) * slotWords;
    const d = dstBase + s;
    for (let k = 0; k < words; k++) w[d + k] = w[s + k]!;
  }
}

/** Copy `n` frames src ring -> dst ring with Uint8Array.prototype.copyWithin. */
function copyWithin(b: Uint8Array, n: number, pos: number, mask: number, slotSize: number, dstBase: number, len: number): void {
  for (let i = 0; i < n; i++) {
    const s = ((pos + i) & mask) * slotSize;
    b.copyWithin(dstBase + s, s, s + len);
  }
}

/**
 * Move `n` buffer indices free-list -> ring (producer) then ring -> free-list
 * (consumer); returns a running xor of the consumed indices.
 */
function handoff(ring: Uint32Array, free: Uint32Array, n: number, pos: number, mask: number, acc: number): number {
  for (let i = 0; i < n; i++) {
    const j = (pos + i) & mask;
    ring[j] = free[j]!;
  }
  for (let i = 0; i < n; i++) {
    const j = (pos + i) & mask;
    const idx = ring[j]!;
    acc ^= idx;
    free[j] = idx;
  }
  return acc;
}

function run(): void {
  const { slots, slotSize, batch, frameLen } = p;
  if ((slots & (slots - 1)) !== 0) throw new Error('slots must be a power of two');
  const mask = slots - 1;
  bw.ready();
  waitPhaseAtLeast(ctl, PHASE_WARMUP, 60_000);

  let pos = 0;
  let checks = 0;
  if (p.mode === 'index') {
    const sab = new SharedArrayBuffer(slots * 8);
    const ring = new Uint32Array(sab, 0, slots);
    const free = new Uint32Array(sab, slots * 4, slots);
    for (let i = 0; i < slots; i++) free[i] = i + 2; // buffer indices (0, 1 reserved as in netmap)
    let acc = 0;
    while (Atomics.load(i32, I_PHASE) !== PHASE_STOP) {
      acc = handoff(ring, free, batch, pos, mask, acc);
      pos = (pos + batch) & mask;
      f64c[F_RX]! += batch;
    }
    checks = acc;
  } else {
    // Two rings of `slots` buffers: source at 0, destination right after.
    const sab = new ArrayBuffer(2 * slots * slotSize); // plain memory, like a mapped region: copyWithin is a plain memmove
    const bytes = new Uint8Array(sab);
    for (let i = 0; i < slots; i++) {
      for (let k = 0; k < frameLen; k++) bytes[i * slotSize + k] = (i + k) & 0x7f;
    }
    if (p.mode === 'copy-f64') {
      if (slotSize % 8 !== 0) throw new Error('slotSize must be a multiple of 8');
      const w = new Float64Array(sab);
      const slotWords = slotSize / 8;
      const words = Math.ceil(frameLen / 8); // 60 bytes -> 8 words (64 B, netmap copies in 64 B chunks too)
      const dstBase = slots * slotWords;
      while (Atomics.load(i32, I_PHASE) !== PHASE_STOP) {
        copyF64(w, batch, pos, mask, slotWords, dstBase, words);
        pos = (pos + batch) & mask;
        f64c[F_RX]! += batch;
      }
    } else {
      const dstBase = slots * slotSize;
      while (Atomics.load(i32, I_PHASE) !== PHASE_STOP) {
        copyWithin(bytes, batch, pos, mask, slotSize, dstBase, frameLen);
        pos = (pos + batch) & mask;
        f64c[F_RX]! += batch;
      }
    }
    // Spot check that the copies happened.
    const d = slots * slotSize;
    for (let i = 0; i < slots; i++) {
      if (bytes[d + i * slotSize + frameLen - 1] !== ((i + frameLen - 1) & 0x7f)) checks++;
    }
  }
  f64c[F_AUX0] = checks;
  void bw.finish({ check: checks });
}

try {
  run();
} catch (e) {
  bw.fail(e);
}
