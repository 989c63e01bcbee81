// `npm run bench -- --ref [--rounds N]`: netmap-ts beside plain C loops of the same algorithms
// (bench/ref/ref.c, compiled with the system's cc -O2 into a temporary directory; skipped with
// a note when there is no cc). Each pair runs interleaved — C, JS, C, JS… for N rounds — so
// that the noise of a shared machine hits both sides alike, and the ratio JS/C is printed per
// pair with its min/median/max over the rounds (a ratio is taken within one round).
//
// Pairs: vale-1t-60 (one thread: fill, txsync, rxsync, read — in C the same loop) against C
// `vale1`; pipe-1t-60 (the same for a pipe) against C `pipe1`; vale-60 and vale-1514 (two workers) against C `vale2` (two threads on one shared
// mapping); pipe-60 against the C shared-slot pipe; pipe-1t-60-4pass and pipe-60-4pass, the
// pipe cases again against C `pipe41`/`pipe4`, which make netmap's four passes over the slots
// (fill, txsync, rxsync, count) as we do, where `pipe1`/`pipe` fuse them into two;
// memcpy-limit-1514 against memcpy; and xproc-vale-60 against vale-60 (two processes against
// two threads, both ours). Each round also times one cache line passed between the first and
// the last CPU (C `line`: what any cross-core hand-over costs on the machine) and C `xframe`
// (frames written by one thread and parsed by another: lb's memory pattern, in C).
// pipe-60-floor, pipe-1t-60-floor, pipe4-js-c and pipe-js-c put the JavaScript floor (bench/js-floor.ts:
// C's pipe4/pipe41 loops in the plainest JavaScript) beside ours and beside C: what the same
// four passes cost in V8 with none of netmap-ts's layers. lb-4pipes-60, lb-4pipes-60-floor and
// lb-js-c do the same for lb: C `lb`, its JavaScript floor (bench/js-floor-lb.ts) and nmts lb.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerCase, listCases, type CaseResult, type RunOptions } from './cases.js';
import { spread } from './spread.js';
import { runInThread, warmupOf } from './harness.js';
import './tool-lb.js';
import '../src/index.js';
import { open } from '../src/core/open.js';
import { processRegion } from '../src/core/memory.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';
import { countFrames, RxTally, type LoopConfig } from '../src/apps/pkt-gen/loops.js';
import { fillFixed, TxState } from '../src/apps/pkt-gen/tx-fill.js';

const SOURCE = fileURLToPath(new URL('../../bench/ref/ref.c', import.meta.url));

/** One side of a pair: a C reference run, the JavaScript floor of a C loop (bench/js-floor.ts), or a registered case. */
type Side = { c: [mode: string, len: number] } | { floor: [mode: string, len: number] } | { js: string };
/** cpu: compare frames per CPU-second (one-thread pairs: holds on a loaded machine). */
interface Pair { name: string; frameLen: number; a: Side; b: Side; what: string; cpu?: boolean }

export const PAIRS: Pair[] = [
  { name: 'vale-1t-60', frameLen: 60, a: { c: ['vale1', 60] }, b: { js: 'vale-1t-60' }, what: 'VALE learn+lookup+copy, one thread; M frames per CPU-second', cpu: true },
  { name: 'vale-60', frameLen: 60, a: { c: ['vale2', 60] }, b: { js: 'vale-60' }, what: 'VALE, sender and receiver threads' },
  { name: 'vale-1514', frameLen: 1514, a: { c: ['vale2', 1514] }, b: { js: 'vale-1514' }, what: 'VALE 1514 B, two threads' },
  { name: 'pipe-1t-60', frameLen: 60, a: { c: ['pipe1', 60] }, b: { js: 'pipe-1t-60' }, what: 'shared-slot pipe, one thread; M frames per CPU-second', cpu: true },
  { name: 'pipe-60', frameLen: 60, a: { c: ['pipe', 60] }, b: { js: 'pipe-60' }, what: 'shared-slot pipe, two threads' },
  // the pipe pairs again against C making the four passes of netmap's API (fill, txsync,
  // rxsync, count) where pipe and pipe1 fuse them into two: what the pass structure costs
  { name: 'pipe-1t-60-4pass', frameLen: 60, a: { c: ['pipe41', 60] }, b: { js: 'pipe-1t-60' }, what: "shared-slot pipe, one thread, C in netmap's four passes; M frames per CPU-second", cpu: true },
  { name: 'pipe-60-4pass', frameLen: 60, a: { c: ['pipe4', 60] }, b: { js: 'pipe-60' }, what: "shared-slot pipe, two threads, C in netmap's four passes" },
  // the same four passes in the plainest JavaScript (bench/js-floor.ts): ours against that
  // floor, and the floor against C — what V8 itself costs on these loops
  { name: 'pipe-1t-60-floor', frameLen: 60, a: { floor: ['pipe41', 60] }, b: { js: 'pipe-1t-60' }, what: 'shared-slot pipe, one thread, against the JS floor of pipe41; M frames per CPU-second', cpu: true },
  { name: 'pipe-60-floor', frameLen: 60, a: { floor: ['pipe4', 60] }, b: { js: 'pipe-60' }, what: 'shared-slot pipe, two threads, against the JS floor of pipe4' },
  { name: 'pipe4-js-c', frameLen: 60, a: { c: ['pipe4', 60] }, b: { floor: ['pipe4', 60] }, what: 'the JS floor of pipe4 against C pipe4: V8 on the same loops' },
  { name: 'pipe-js-c', frameLen: 60, a: { c: ['pipe', 60] }, b: { floor: ['pipe', 60] }, what: 'the JS floor of the fused pipe against C pipe: V8 on two passes' },
  // lb: C `lb` (hash + swap into 4 pipes; feeder and drainer in the other thread), its
  // plainest JavaScript with the touch pass (bench/js-floor-lb.ts), and nmts lb (its own
  // process, fed and drained by a worker, as in --tools)
  { name: 'lb-4pipes-60', frameLen: 60, a: { c: ['lb', 60] }, b: { js: 'lb-4pipes-60' }, what: 'lb to 4 pipes: C lb against nmts lb' },
  { name: 'lb-4pipes-60-floor', frameLen: 60, a: { floor: ['lbt', 60] }, b: { js: 'lb-4pipes-60' }, what: "lb to 4 pipes: nmts lb against the JS floor of C's lb (with the touch pass)" },
  { name: 'lb-js-c', frameLen: 60, a: { c: ['lb', 60] }, b: { floor: ['lbt', 60] }, what: "the JS floor of lb against C lb: V8 and the machine on lb's loop" },
  { name: 'memcpy-limit-1514', frameLen: 1514, a: { c: ['copy', 1514] }, b: { js: 'memcpy-limit-1514' }, what: '1514 B copy, one thread' },
  { name: 'xproc-vale-60', frameLen: 60, a: { js: 'vale-60' }, b: { js: 'xproc-vale-60' }, what: 'VALE, two processes against two threads' },
];

/**
 * Compile a C reference (bench/ref/ref.c unless `source` names another file of bench/ref) into
 * a temporary directory; returns the binary's path, or a note saying why not.
 */
export function buildRef(source = SOURCE): { bin?: string; dir?: string; note?: string } {
  const cc = process.env.CC || 'cc';
  if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) return { note: `no C compiler (${cc}): C references skipped` };
  const dir = mkdtempSync(join(tmpdir(), 'nmts-ref-'));
  const bin = join(dir, 'ref');
  const r = spawnSync(cc, ['-O2', '-pthread', '-o', bin, source], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { note: `${cc} -O2 ${source} failed: C references skipped\n${r.stderr}` };
  }
  return { bin, dir };
}

const FLOOR = fileURLToPath(new URL('./js-floor.js', import.meta.url));
const FLOOR_LB = fileURLToPath(new URL('./js-floor-lb.js', import.meta.url));

/** Run a C reference (`bin`) or, with `floor`, its JavaScript floor, which prints the same JSON line. */
function runC(bin: string, mode: string, len: number, durationMs: number, warmupMs: number, floor = false): Promise<CaseResult> {
  return new Promise((resolve, reject) => {
    const args = [mode, String(len), String(warmupMs), String(durationMs)];
    const child = floor ? spawn(process.execPath, [mode.startsWith('lb') ? FLOOR_LB : FLOOR, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`ref ${mode}: exit ${code}: ${err.trim()}`));
      const r = JSON.parse(out.trim()) as { packets: number; seconds: number; cpuSeconds: number; drops: number };
      resolve({ packets: r.packets, bytes: r.packets * len, seconds: r.seconds, notes: `${floor ? 'JS floor' : 'C'} ${mode}, ${r.drops} dropped`, extra: { cpuSeconds: r.cpuSeconds } });
    });
  });
}

async function runSide(s: Side, bin: string | undefined, durationMs: number, warmupMs: number, pin?: boolean): Promise<CaseResult | null> {
  if ('c' in s) return bin ? runC(bin, s.c[0], s.c[1], durationMs, warmupMs) : null;
  if ('floor' in s) return runC('', s.floor[0], s.floor[1], durationMs, warmupMs, true);
  const c = listCases().find((x) => x.name === s.js);
  if (!c) throw new Error(`no case ${s.js}`);
  return c.run(durationMs, { warmupMs, pin });
}

const sideName = (s: Side): string => ('c' in s ? `C ${s.c[0]}-${s.c[1]}` : 'floor' in s ? `JS floor ${s.floor[0]}-${s.floor[1]}` : s.js);

function stats(xs: number[]): string {
  const v = spread(xs);
  if (v === null) return '-';
  const f = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  return `${f(v.min)} / ${f(v.median)} / ${f(v.max)}`;
}

/** Run the pairs (or those named in `only`) interleaved for `rounds` rounds; print the table. */
export async function runRef(o: { rounds: number; durationMs: number; warmupMs: number; only?: string[]; json: boolean; pin?: boolean }): Promise<number> {
  const { bin, dir, note } = buildRef();
  const log = (s: string): boolean => process.stderr.write(s);
  if (note) log(`bench --ref: ${note}\n`);
  const pairs = PAIRS.filter((p) => !o.only || o.only.includes(p.name));
  const res = pairs.map(() => ({ a: [] as number[], b: [] as number[], r: [] as number[], errors: [] as string[] }));
  const lineNs: number[] = []; // one-way cache-line transfers between the first and the last CPU, per round
  const xframeMpps: number[] = []; // C xframe: frames written on one core, parsed on the other (lb's pattern)
  const rate = (r: CaseResult | null, cpu?: boolean): number | null => (r ? r.packets / (cpu ? Number(r.extra?.cpuSeconds) : r.seconds) / 1e6 : null);
  try {
    for (let round = 0; round < o.rounds; round++) {
      if (bin && availableParallelism() > 1) {
        try {
          const l = await runC(bin, 'line', 0, 500, 100);
          lineNs.push(l.seconds / l.packets * 1e9);
          const x = await runC(bin, 'xframe', 60, 1000, 200);
          xframeMpps.push(x.packets / x.seconds / 1e6);
        } catch (e) {
          log(`ref line: ${e instanceof Error ? e.message : String(e)}\n`);
        }
      }
      for (const [i, p] of pairs.entries()) {
        const got: (number | null)[] = [];
        for (const s of [p.a, p.b]) {
          log(`[round ${round + 1}/${o.rounds}] ${sideName(s)} ... `);
          try {
            const m = rate(await runSide(s, bin, o.durationMs, o.warmupMs, o.pin), p.cpu);
            got.push(m);
            log(m === null ? 'skipped\n' : `${m.toFixed(2)} Mpps\n`);
          } catch (e) {
            got.push(null);
            res[i].errors.push(e instanceof Error ? e.message : String(e));
            log(`ERROR: ${e instanceof Error ? e.message : String(e)}\n`);
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        const [a, b] = got;
        if (a !== null) res[i].a.push(a);
        if (b !== null) res[i].b.push(b);
        if (a !== null && b !== null && a > 0) res[i].r.push(b / a);
      }
    }
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  const lines = ['pair | reference (Mpps min/med/max) | ours (Mpps min/med/max) | ours/reference (min/med/max) | what', '---|---|---|---|---'];
  for (const [i, p] of pairs.entries()) {
    const r = res[i];
    if (o.json) process.stdout.write(`${JSON.stringify({ pair: p.name, reference: sideName(p.a), ours: sideName(p.b), refMpps: r.a, mpps: r.b, ratios: r.r, errors: r.errors })}\n`);
    lines.push(`${p.name} | ${sideName(p.a)}: ${stats(r.a)} | ${stats(r.b)} | ${stats(r.r)} | ${p.what}${r.errors.length ? `; ${r.errors.length} error(s): ${r.errors[0]}` : ''}`);
  }
  const line = lineNs.length ? `one cache line from CPU 0 to CPU ${availableParallelism() - 1} and back, per one-way transfer (C, pinned): ${stats(lineNs)} ns — what one core's write costs the reader on another
frames written by one thread and parsed by another (C xframe, lb's memory pattern, many misses in flight): ${stats(xframeMpps)} Mpps` : '';
  if (o.json && line) process.stdout.write(`${JSON.stringify({ cacheLineNs: lineNs, xframeMpps })}\n`);
  if (!o.json) process.stdout.write(`${lines.join('\n')}\n${line ? `${line}\n` : ''}${note ? `(${note.split('\n')[0]})\n` : ''}`);
  return res.some((r) => r.errors.length) ? 1 : 0;
}

// ---------------------------------------------------------------- vale-1t-60, pipe-1t-60
// The JS side of C `vale1` and `pipe1`: one thread fills a tx ring, txsyncs (VALE: gather,
// learn, lookup, copy, publish; pipe: the slot checks and one index published), rxsyncs the
// receiving end and reads its frames, as pkt-gen's loops do.

let oneThreadRun = 0;

async function runOneThread(kind: 'vale' | 'pipe', len: number, durationMs: number, opts?: RunOptions): Promise<CaseResult> {
  processRegion();
  const name = `${kind}ref${process.pid}x${oneThreadRun++}`;
  const rx = open(kind === 'vale' ? `${name}:rx` : `${name}}0`, { txSlots: 1024, rxSlots: 1024 });
  const tx = open(kind === 'vale' ? `${name}:tx` : `${name}{0`, { txSlots: 1024, rxSlots: 1024 });
  try {
    const mac = (n: number): string => `02:00:00:00:00:0${n}`;
    const frame = new Uint8Array(len);
    new UdpFrameTemplate({ family: 4, srcMac: mac(1), dstMac: mac(2), src: '10.0.0.1:1234', dst: '10.1.0.1:1234', frameLen: len }).write(frame, 0);
    const t = tx.txRings[0], rr = rx.rxRings[0], u8 = tx.u8;
    for (let i = 0; i < t.numSlots; i++) u8.set(frame, t.buf(i));
    if (kind === 'vale') {
      // the receiver's MAC is learned (one frame from it), as in the two-thread case
      const back = new Uint8Array(len);
      new UdpFrameTemplate({ family: 4, srcMac: mac(2), dstMac: mac(1), src: '10.1.0.1:1234', dst: '10.0.0.1:1234', frameLen: len }).write(back, 0);
      const rt = rx.txRings[0];
      u8.set(back, rt.buf(rt.head));
      rt.setLen(rt.head, len);
      rt.advance(rt.next(rt.head));
      rx.txsync();
    }
    // pkt-gen's fill (prefilled buffers: a slot word written only when it changes) and count
    const cfg = { frame, frameLen: len, vhdr: 0 } as LoopConfig, st = new TxState(), tally = new RxTally();
    const step = (): number => {
      fillFixed(t, u8, cfg, 512, len, st);
      tx.txsync();
      rx.rxsync();
      let avail = rr.tail - rr.head;
      if (avail < 0) avail += rr.numSlots;
      return countFrames(rr, avail, tally);
    };
    const r = await runInThread({ durationMs, warmupMs: warmupOf(opts), frameLen: len, step });
    const cpuS = Number(r.extra?.cpuSeconds);
    return { ...r, notes: `${(r.packets / cpuS / 1e6).toFixed(2)} M frames per CPU-second`, extra: { cpuSeconds: cpuS } };
  } finally {
    tx.close();
    rx.close();
  }
}

registerCase({
  name: 'vale-1t-60', description: 'VALE in one thread: fill, txsync (learn, lookup, copy), rxsync, read (the C reference vale1 does the same)', frameLen: 60, kind: 'netmap',
  run: (ms, o) => runOneThread('vale', 60, ms, o),
});
registerCase({
  name: 'pipe-1t-60', description: 'zero-copy pipe in one thread: fill, txsync (slot checks, publish), rxsync (released-slot checks), read (the C reference pipe1 does the same)', frameLen: 60, kind: 'netmap',
  run: (ms, o) => runOneThread('pipe', 60, ms, o),
});
