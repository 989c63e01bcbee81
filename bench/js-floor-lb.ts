// The JavaScript floor under lb-4pipes-60: C `ref lb` (bench/ref/ref.c) in the plainest
// JavaScript that does the same work — one SharedArrayBuffer holding the five rings' indices,
// slots and buffers; typed-array views made once; no classes, no calls in the per-frame loop;
// the same wake-up protocol as js-floor.ts. Mode `lbt` adds lb's touch pass (one byte of each
// frame's first line read in a loop of its own before the hashes, as nmts lb's Ring.touchFrames):
// the one technique JavaScript has to keep many of those misses in flight.
//
//   main thread: feeds the input ring (each free slot's buffer gets one of 1024 prepared
//                60-byte UDP frames, written whole as 15 words) and drains the 4 output rings
//                (each slot's buffer index checked), counting what came out;
//   worker (lb): per frame, the symmetric Toeplitz hash of the addresses and ports (the
//                16-bit fold and two table lookups), then the buffer swap into output
//                hash % 4; at most half the input ring per round; one publish per output.
//
// What it is for: `--ref` runs it beside C `lb` and beside `nmts lb` (pairs lb-4pipes-60,
// lb-4pipes-60-floor, lb-js-c). If nmts lb runs no slower than this floor, the gap to C is
// what V8 and the machine charge for the same loads and stores, not netmap-ts's layers.
//
//   node dist/bench/js-floor-lb.js lb|lbt 60 WARM_MS DUR_MS
//     prints {"packets":N,"seconds":S,"cpuSeconds":C,"drops":D} as the C reference does.
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const NSLOTS = 1024;
const MASK = NSLOTS - 1;
const BATCH = 512;
const BUFSZ = 2048;
const OUTS = 4;
const RINGS = 1 + OUTS; // ring 0 is the input
const NBUFS = 2 + RINGS * NSLOTS;
// per ring, 64 Int32 words (4 lines): prod, hwcur and the wake-up words on lines of their own
const PROD = 0, HWCUR = 16, WAKE_SEQ = 32, WAITERS = 33;
const RING_WORDS = 64;
const PHASE = RINGS * RING_WORDS, DROPS = PHASE + 16;
const CTL_BYTES = (PHASE + 32) * 4;
const RECEIVED_AT = CTL_BYTES; // a Float64 on a line of its own
const SLOTS_AT = CTL_BYTES + 64;
const BUFS_AT = SLOTS_AT + RINGS * NSLOTS * 16;
const FLOWS = 1024, WORDS = 15;

interface Views { ctl: Int32Array; received: Float64Array; u32: Uint32Array; u16: Uint16Array; u8: Uint8Array }

function views(sab: SharedArrayBuffer): Views {
  return {
    ctl: new Int32Array(sab, 0, CTL_BYTES / 4),
    received: new Float64Array(sab, RECEIVED_AT, 1),
    u32: new Uint32Array(sab),
    u16: new Uint16Array(sab),
    u8: new Uint8Array(sab),
  };
}

/** Word index (of u32) of slot k of ring r. */
const slotWord = (r: number, k: number): number => (SLOTS_AT >> 2) + ((r * NSLOTS + k) << 2);

function badSlot(): never {
  throw new Error('bad slot');
}

function sendSpace(ctl: Int32Array, r: number, h: number): number {
  const space = (Atomics.load(ctl, r * RING_WORDS + HWCUR) + NSLOTS - 1 - h) & MASK;
  return space > BATCH ? BATCH : space;
}

function wake(ctl: Int32Array, r: number): void {
  if (Atomics.load(ctl, r * RING_WORDS + WAITERS) !== 0) {
    Atomics.add(ctl, r * RING_WORDS + WAKE_SEQ, 1);
    Atomics.notify(ctl, r * RING_WORDS + WAKE_SEQ);
  }
}

/** The two halves of the Toeplitz hash of a 16-bit word under the key 0x6d5a repeated. */
export function keyTables(): { hi: Uint32Array; lo: Uint32Array } {
  const K = 0x6d5a6d5a;
  const rotl = (i: number): number => (i === 0 ? K : ((K << i) | (K >>> (32 - i))) >>> 0);
  const hi = new Uint32Array(256), lo = new Uint32Array(256);
  for (let b = 0; b < 256; b++) {
    let h = 0, l = 0;
    for (let i = 0; i < 8; i++) {
      if (b & (0x80 >> i)) {
        h ^= rotl(i);
        l ^= rotl(i + 8);
      }
    }
    hi[b] = h >>> 0;
    lo[b] = l >>> 0;
  }
  return { hi, lo };
}

/**
 * The frame's symmetric Toeplitz hash as an int32, as C `lb_hash`: IPv4 addresses (and the
 * ports of TCP, UDP and SCTP when not a fragment) folded into one 16-bit word, two lookups;
 * anything else, the MAC addresses. Small enough for V8 to inline into the loop.
 */
export function frameHash(u8: Uint8Array, f: number, len: number, hi: Uint32Array, lo: Uint32Array): number {
  let w = 0;
  if (len < 34 || u8[f + 12] !== 0x08 || u8[f + 13] !== 0 || (u8[f + 14] >> 4) !== 4) {
    for (let j = 0; j < 12 && j + 1 < len; j += 2) w ^= (u8[f + j] << 8) | u8[f + j + 1];
  } else {
    const ip = f + 14, l4 = ip + ((u8[ip] & 15) << 2);
    for (let j = 12; j < 20; j += 2) w ^= (u8[ip + j] << 8) | u8[ip + j + 1];
    const frag = ((u8[ip + 6] & 0x3f) | u8[ip + 7]) !== 0, p = u8[ip + 9];
    if (!frag && (p === 6 || p === 17 || p === 132) && l4 + 4 <= f + len) w ^= ((u8[l4] << 8) | u8[l4 + 1]) ^ ((u8[l4 + 2] << 8) | u8[l4 + 3]);
  }
  return (hi[w >> 8] ^ lo[w & 0xff]) | 0;
}

/** lb: hash each new input frame, swap its buffer into output hash % 4, publish per round. */
function lbLoop(v: Views, touch: boolean): void {
  const { ctl, u32, u16, u8 } = v;
  const { hi, lo } = keyTables();
  const oprod = new Int32Array(OUTS), space = new Int32Array(OUTS);
  let head = 0, idle = 0, drops = 0, x = 0;
  while (Atomics.load(ctl, PHASE) < 2) {
    const prod = Atomics.load(ctl, PROD);
    let n = (prod - head) & MASK;
    if (n > NSLOTS / 2) n = NSLOTS / 2;
    if (n === 0) {
      if (++idle > 2000) {
        const seq = Atomics.load(ctl, WAKE_SEQ);
        Atomics.add(ctl, WAITERS, 1);
        if (Atomics.load(ctl, PROD) === head) Atomics.wait(ctl, WAKE_SEQ, seq, 200);
        Atomics.sub(ctl, WAITERS, 1);
        idle = 0;
      }
      continue;
    }
    idle = 0;
    for (let o = 0; o < OUTS; o++) space[o] = sendSpace(ctl, 1 + o, oprod[o]);
    if (touch) {
      for (let i = 0, k = head; i < n; i++, k = (k + 1) & MASK) x ^= u8[BUFS_AT + u32[slotWord(0, k)] * BUFSZ + 26];
    }
    for (let i = 0, k = head; i < n; i++, k = (k + 1) & MASK) {
      const s = slotWord(0, k);
      const idx = u32[s], len = u16[(s << 1) + 2];
      if (idx < 2 || idx >= NBUFS || len > BUFSZ) badSlot();
      const hash = frameHash(u8, BUFS_AT + idx * BUFSZ, len, hi, lo), o = hash & (OUTS - 1);
      if (space[o] === 0) { drops++; continue; }
      const d = slotWord(1 + o, oprod[o]);
      const old = u32[d];
      u32[d] = idx;
      u16[(d << 1) + 2] = len;
      u16[(d << 1) + 3] = 1;
      u32[d + 2] = hash;
      u32[s] = old;
      u16[(s << 1) + 3] = 1;
      oprod[o] = (oprod[o] + 1) & MASK;
      space[o]--;
    }
    for (let o = 0; o < OUTS; o++) {
      Atomics.store(ctl, (1 + o) * RING_WORDS + PROD, oprod[o]);
      wake(ctl, 1 + o);
    }
    head = (head + n) & MASK;
    Atomics.store(ctl, HWCUR, head);
    if (drops !== 0) { Atomics.add(ctl, DROPS, drops); drops = 0; }
  }
  Atomics.store(ctl, DROPS + 1, x); // keeps the touch's loads
}

/** 1024 flows: 10.0.0.1:1000+k -> 10.1.0.1:53, UDP, 60 bytes, as 15 words each. */
function frames(): Uint32Array {
  const hdr = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0, 0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 1, 0, 1];
  const all = new Uint32Array(FLOWS * 16), b = new Uint8Array(all.buffer);
  for (let k = 0; k < FLOWS; k++) {
    const f = k * 64;
    b.set(hdr, f);
    b[f + 34] = (1000 + k) >> 8; b[f + 35] = (1000 + k) & 0xff; b[f + 37] = 53; b[f + 39] = 26;
  }
  return all;
}

async function main(mode: string, warmMs: number, durMs: number): Promise<void> {
  if (mode !== 'lb' && mode !== 'lbt') throw new Error(`usage: js-floor-lb lb|lbt 60 WARM_MS DUR_MS (got ${mode})`);
  const sab = new SharedArrayBuffer(BUFS_AT + NBUFS * BUFSZ);
  const v = views(sab), { ctl, u32, u16 } = v;
  for (let r = 0; r < RINGS; r++) for (let k = 0; k < NSLOTS; k++) u32[slotWord(r, k)] = 2 + r * NSLOTS + k;
  const worker = new Worker(new URL(import.meta.url), { workerData: { sab, touch: mode === 'lbt' } });
  await new Promise<void>((res, rej) => { worker.once('message', () => res()); worker.once('error', rej); });
  const fr = frames();
  const oh = new Int32Array(OUTS);
  let h = 0, flow = 0, got = 0, start = 0, atStart = 0, end = 0;
  let cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (;;) {
    const t = performance.now();
    if (start === 0 && t - t0 >= warmMs) {
      start = t;
      cpu0 = process.cpuUsage();
      atStart = got;
      Atomics.store(ctl, PHASE, 1);
    }
    if (start !== 0 && t - start >= durMs) { end = t; break; }
    for (let rep = 0; rep < 8; rep++) {
      const space = sendSpace(ctl, 0, h);
      for (let i = 0; i < space; i++) { // each frame written whole: lb swapped the buffers
        const s = slotWord(0, (h + i) & MASK), idx = u32[s];
        if (idx < 2 || idx >= NBUFS) badSlot();
        const d = (BUFS_AT >> 2) + idx * (BUFSZ >> 2), src = flow << 4;
        for (let w = 0; w < WORDS; w++) u32[d + w] = fr[src + w];
        u16[(s << 1) + 2] = 60;
        u16[(s << 1) + 3] = 0;
        flow = (flow + 1) & (FLOWS - 1);
      }
      h = (h + space) & MASK;
      Atomics.store(ctl, PROD, h);
      if (space !== 0) wake(ctl, 0);
      for (let o = 0; o < OUTS; o++) { // drain: each slot's buffer checked, then released at once
        const r = 1 + o, prod = Atomics.load(ctl, r * RING_WORDS + PROD);
        let n = 0;
        for (let k = oh[o]; k !== prod; k = (k + 1) & MASK) {
          const idx = u32[slotWord(r, k)];
          if (idx < 2 || idx >= NBUFS) badSlot();
          n++;
        }
        if (n !== 0) {
          oh[o] = prod;
          Atomics.store(ctl, r * RING_WORDS + HWCUR, prod);
          got += n;
        }
      }
    }
  }
  const c = process.cpuUsage(cpu0);
  Atomics.store(ctl, PHASE, 2);
  await worker.terminate();
  process.stdout.write(`${JSON.stringify({ packets: got - atStart, seconds: (end - start) / 1000, cpuSeconds: (c.user + c.system) / 1e6, drops: Atomics.load(ctl, DROPS) })}\n`);
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  const [mode = '', , warm = '1000', dur = '2000'] = process.argv.slice(2);
  main(mode, Number(warm), Number(dur)).catch((e: unknown) => {
    process.stderr.write(`js-floor-lb: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
} else if (!isMainThread) {
  const w = workerData as { sab: SharedArrayBuffer; touch: boolean };
  parentPort!.postMessage('ready');
  lbLoop(views(w.sab), w.touch);
}
