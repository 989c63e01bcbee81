// The JavaScript floor under the pipe pairs of `--ref`: C's `pipe4`/`pipe41` loops (and the
// fused `pipe`/`pipe1`) of bench/ref/ref.c written in the plainest JavaScript that does the same work — one
// SharedArrayBuffer, typed-array views made once, the ring's indices read and published with
// Atomics, the slots read and written through a Uint32Array and a Uint16Array, no classes, no
// calls in the loops, the same wake-up protocol (a futex word, `Atomics.wait`/`notify`).
//
// What it is for: pipe-60 and pipe-1t-60 are the two `--ref` pairs whose ratio to C stays
// under the target. If this floor, which has none of netmap-ts's layers (ports, rings,
// prologues, pkt-gen's loops), runs the four passes no faster than netmap-ts does, the rest of
// the gap to C is the cost of the same loads and stores in V8 (bounds checks, uint32 range
// checks, tagged arithmetic), not our code. `--ref` runs it beside C and beside ours
// (pairs `pipe-60-floor`, `pipe-1t-60-floor`, `pipe4-js-c`); `pipe-js-c` puts the fused two
// passes beside C's: what JavaScript could reach by giving up the netmap API's four passes.
//
//   node dist/bench/js-floor.js pipe4|pipe41|pipe|pipe1 60 WARM_MS DUR_MS
//     prints {"packets":N,"seconds":S,"cpuSeconds":C,"drops":0} as the C reference does:
//     pipe4, pipe — the sender in the main thread, the receiver in a worker; pipe41, pipe1 —
//     both in turn in the main thread (cpuSeconds: the process's CPU time in the window).
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const NSLOTS = 1024;
const MASK = NSLOTS - 1;
const BATCH = 512;
const BUFSZ = 2048;
const NBUFS = 2 + 3 * NSLOTS;
// control words (Int32 indices), each on a 64-byte line of its own as in ref.c
const PROD = 0, HWCUR = 16, WAKE_SEQ = 32, WAITERS = 33, PHASE = 48;
const CTL_BYTES = 64 * 4;
const RECEIVED_AT = CTL_BYTES; // a Float64 on a line of its own
const SLOTS_AT = CTL_BYTES + 64;

interface Views { ctl: Int32Array; received: Float64Array; u32: Uint32Array; u16: Uint16Array }

function views(sab: SharedArrayBuffer): Views {
  return {
    ctl: new Int32Array(sab, 0, CTL_BYTES / 4),
    received: new Float64Array(sab, RECEIVED_AT, 1),
    u32: new Uint32Array(sab, SLOTS_AT, NSLOTS * 4),
    u16: new Uint16Array(sab, SLOTS_AT, NSLOTS * 8),
  };
}

function badSlot(): never {
  throw new Error('bad slot');
}

/** The sender's batch: the application's fill pass, the txsync's check pass, one publish, the wake-up. */
/** The free slots the sender may fill from h (at most a batch). */
function sendSpace(ctl: Int32Array, h: number): number {
  const space = (Atomics.load(ctl, HWCUR) + NSLOTS - 1 - h) & MASK;
  return space > BATCH ? BATCH : space;
}

/** Publish `space` slots filled from h (one store), wake a sleeping receiver; the new position. */
function publish(ctl: Int32Array, h: number, space: number): number {
  const next = (h + space) & MASK;
  Atomics.store(ctl, PROD, next);
  if (space !== 0 && Atomics.load(ctl, WAITERS) !== 0) {
    Atomics.add(ctl, WAKE_SEQ, 1);
    Atomics.notify(ctl, WAKE_SEQ);
  }
  return next;
}

function send(v: Views, h: number, len: number): number {
  const { ctl, u32, u16 } = v;
  const space = sendSpace(ctl, h);
  for (let i = 0; i < space; i++) {
    const at = (((h + i) & MASK) << 3) + 2;
    if (u16[at] !== len) u16[at] = len;
  }
  for (let i = 0; i < space; i++) {
    const k = (h + i) & MASK;
    const idx = u32[k << 2];
    if (idx < 2 || idx >= NBUFS || u16[(k << 3) + 2] > BUFSZ) badSlot();
  }
  return publish(ctl, h, space);
}

/** C `pipe`'s sender: the fill and the slot check in one pass, one publish, the wake-up. */
function sendFused(v: Views, h: number, len: number): number {
  const { ctl, u32, u16 } = v;
  const space = sendSpace(ctl, h);
  for (let i = 0; i < space; i++) {
    const k = (h + i) & MASK, at = (k << 3) + 2;
    if (u16[at] !== len) u16[at] = len;
    const idx = u32[k << 2];
    if (idx < 2 || idx >= NBUFS || u16[at] > BUFSZ) badSlot();
  }
  return publish(ctl, h, space);
}

/** C `drain`: each new slot checked and counted in one pass, then released at once. */
function drainFused(v: Views, st: Float64Array): number {
  const { ctl, u32 } = v;
  const head = st[0] | 0;
  const prod = Atomics.load(ctl, PROD);
  let n = 0;
  for (let k = head; k !== prod; k = (k + 1) & MASK) {
    const idx = u32[k << 2];
    if (idx < 2 || idx >= NBUFS) badSlot();
    n++;
  }
  if (n !== 0) {
    st[0] = prod;
    Atomics.store(ctl, HWCUR, prod);
  }
  return n;
}

/** Receiver state: [head, released, bytes]; returns the frames counted. */
function drain(v: Views, st: Float64Array): number {
  const { ctl, u32, u16 } = v;
  let head = st[0] | 0, released = st[1] | 0;
  for (let k = released; k !== head; k = (k + 1) & MASK) { // rxsync: the released slots' check
    const idx = u32[k << 2];
    if (idx < 2 || idx >= NBUFS) badSlot();
  }
  if (released !== head) {
    Atomics.store(ctl, HWCUR, head);
    released = head;
  }
  const prod = Atomics.load(ctl, PROD);
  let n = 0, bytes = 0;
  for (let k = head; k !== prod; k = (k + 1) & MASK) { // the application's count
    bytes += u16[(k << 3) + 2];
    n++;
  }
  st[0] = prod;
  st[1] = released;
  st[2] += bytes;
  return n;
}

function sleepOn(v: Views, head: number): void {
  const { ctl } = v;
  const seq = Atomics.load(ctl, WAKE_SEQ);
  Atomics.add(ctl, WAITERS, 1);
  if (Atomics.load(ctl, PROD) === head) Atomics.wait(ctl, WAKE_SEQ, seq, 200);
  Atomics.sub(ctl, WAITERS, 1);
}

function receiveLoop(v: Views, fused: boolean): void {
  const st = new Float64Array(3);
  let idle = 0, total = 0;
  while (Atomics.load(v.ctl, PHASE) < 2) {
    const n = fused ? drainFused(v, st) : drain(v, st);
    if (n !== 0) {
      total += n;
      v.received[0] = total;
      idle = 0;
    } else if (++idle > 2000) {
      sleepOn(v, st[0]);
      idle = 0;
    }
  }
}

function setUp(): { sab: SharedArrayBuffer; v: Views } {
  const sab = new SharedArrayBuffer(SLOTS_AT + NSLOTS * 16);
  const v = views(sab);
  for (let k = 0; k < NSLOTS; k++) v.u32[k << 2] = 2 + NSLOTS + k;
  return { sab, v };
}

async function main(mode: string, len: number, warmMs: number, durMs: number): Promise<void> {
  if (!['pipe4', 'pipe41', 'pipe', 'pipe1'].includes(mode)) throw new Error(`usage: js-floor pipe4|pipe41|pipe|pipe1 LEN WARM_MS DUR_MS (got ${mode})`);
  const { sab, v } = setUp();
  const threaded = mode === 'pipe4' || mode === 'pipe';
  const fused = mode === 'pipe' || mode === 'pipe1';
  let worker: Worker | null = null;
  if (threaded) {
    worker = new Worker(new URL(import.meta.url), { workerData: { sab, fused } });
    await new Promise<void>((r, j) => { worker!.once('message', () => r()); worker!.once('error', j); });
  }
  const st = new Float64Array(3);
  let h = 0, local = 0, start = 0, atStart = 0, end = 0;
  let cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (;;) {
    const t = performance.now();
    if (start === 0 && t - t0 >= warmMs) {
      start = t;
      cpu0 = process.cpuUsage();
      atStart = threaded ? v.received[0] : local;
      Atomics.store(v.ctl, PHASE, 1);
    }
    if (start !== 0 && t - start >= durMs) { end = t; break; }
    if (fused) {
      for (let rep = 0; rep < 8; rep++) {
        h = sendFused(v, h, len);
        if (!threaded) local += drainFused(v, st);
      }
    } else {
      for (let rep = 0; rep < 8; rep++) {
        h = send(v, h, len);
        if (!threaded) local += drain(v, st);
      }
    }
  }
  const c = process.cpuUsage(cpu0);
  const got = (threaded ? v.received[0] : local) - atStart;
  Atomics.store(v.ctl, PHASE, 2);
  if (worker) await worker.terminate();
  process.stdout.write(`${JSON.stringify({ packets: got, seconds: (end - start) / 1000, cpuSeconds: (c.user + c.system) / 1e6, drops: 0 })}\n`);
}

if (isMainThread) {
  const [mode = '', len = '60', warm = '1000', dur = '2000'] = process.argv.slice(2);
  main(mode, Number(len), Number(warm), Number(dur)).catch((e: unknown) => {
    process.stderr.write(`js-floor: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
} else {
  const w = workerData as { sab: SharedArrayBuffer; fused: boolean };
  parentPort!.postMessage('ready');
  receiveLoop(views(w.sab), w.fused);
}
