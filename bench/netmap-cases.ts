// netmap-ts cases: pkt-gen's tx and rx loops in separate worker threads, through a pipe or
// a VALE switch. Packets are counted by the receivers inside the measured window.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { processRegion } from '../src/core/memory.js';
import { C, makeShared, ROW, S } from '../src/apps/pkt-gen/shared.js';
import { registerCase, DEFAULT_WARMUP_MS, type CaseResult, type RunOptions } from './cases.js';
import type { NetmapWorkerParams } from './netmap-worker.js';

interface Role { port: string; fn: 'tx' | 'rx'; srcMac: string; dstMac: string }

async function runNetmap(roles: Role[], frameLen: number, durationMs: number, opts?: RunOptions): Promise<CaseResult> {
  processRegion();
  const { stats: statsSab, ctrl: ctrlSab } = makeShared(roles.length);
  const windowSab = new SharedArrayBuffer(16);
  const stats = new Float64Array(statsSab), ctrl = new Int32Array(ctrlSab), win = new Float64Array(windowSab);
  const gcs: number[] = [];
  const workers: Worker[] = [];
  const done: Promise<void>[] = [];
  const tids: number[] = [], drops: number[] = [];
  let opt: Record<string, number> | undefined;
  const cpus = availableParallelism();
  // receivers first, so that no frame is flooded into a port that is not there yet
  const order = roles.map((r, i) => [r, i] as const).sort((a, b) => (a[0].fn === 'rx' ? 0 : 1) - (b[0].fn === 'rx' ? 0 : 1));
  for (const [r, i] of order) {
    const params: NetmapWorkerParams = { ...r, frameLen, index: i, stats: statsSab, ctrl: ctrlSab, window: windowSab, cpu: opts?.pin ? i % cpus : undefined };
    const w = new Worker(new URL('./netmap-worker.js', import.meta.url), { workerData: params });
    workers.push(w);
    await new Promise<void>((res, rej) => { w.once('message', (m: { tid?: number }) => { tids[i] = m.tid ?? 0; res(); }); w.once('error', rej); });
    done.push(new Promise<void>((res) => {
      w.on('message', (m: { type: string; gc?: number; opt?: Record<string, number>; drops?: number }) => {
        if (m.type !== 'done') return;
        gcs.push(m.gc ?? 0);
        drops[i] = m.drops ?? 0;
        if (r.fn === 'tx' && m.opt) opt = m.opt;
        res();
      });
      w.once('exit', () => res());
    }));
  }
  const rxCount = (): number => roles.reduce((acc, r, i) => acc + (r.fn === 'rx' ? stats[i * ROW + S.pkts] : 0), 0);
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  Atomics.store(ctrl, C.go, 1);
  Atomics.notify(ctrl, C.go);
  await sleep(opts?.warmupMs ?? DEFAULT_WARMUP_MS);
  const p0 = rxCount(), t0 = performance.now();
  win[0] = performance.timeOrigin + t0;
  const place = new Placement(tids);
  const sampler = setInterval(() => place.sample(), 20);
  await sleep(durationMs);
  clearInterval(sampler);
  const p1 = rxCount(), t1 = performance.now();
  place.sample();
  win[1] = performance.timeOrigin + t1;
  Atomics.store(ctrl, C.stop, 1);
  await Promise.race([Promise.all(done), sleep(3000)]);
  await Promise.all(workers.map((w) => w.terminate()));
  const packets = p1 - p0;
  const sent = roles.reduce((acc, r, i) => acc + (r.fn === 'tx' ? stats[i * ROW + S.pkts] : 0), 0);
  const txDrops = roles.reduce((acc, r, i) => acc + (r.fn === 'tx' ? drops[i] ?? 0 : 0), 0);
  const share = place.shares((t1 - t0) / 1000);
  const notes = [
    `CPU share ${roles.map((r, i) => `${r.fn}${i} ${Math.round(100 * share[i])}%`).join(' ')}`,
    `2 workers on one CPU in ${Math.round(100 * place.together())}% of samples`,
    `sender dropped ${sent ? (100 * txDrops / sent).toFixed(1) : 0}% (destination full)`,
    ...(opts?.pin ? ['pinned'] : []),
    ...(opt ? [`opt ${Object.entries(opt).map(([k, v]) => `${k}=${v & 32 ? 'TF' : v & 16 ? 'opt' : 'NOT'}(${v})`).join(' ')}`] : []),
  ];
  return {
    packets, bytes: packets * frameLen, seconds: (t1 - t0) / 1000, gcCount: gcs.reduce((a, b) => a + b, 0), notes: notes.join('; '),
    extra: { cpuShare: share.map((x) => Math.round(100 * x) / 100).join(','), together: Math.round(100 * place.together()) / 100, txDropFraction: sent ? txDrops / sent : 0 },
  };
}

/**
 * Where the worker threads ran during the window (the slow-mode diagnosis of issue 14): each
 * thread's CPU time (utime + stime from /proc/self/task/TID/stat) and, per sample, the CPU it
 * was last on; `together` is the fraction of samples with two workers on the same CPU.
 */
class Placement {
  private readonly first: number[];
  private last: number[];
  private same = 0;
  private n = 0;
  constructor(private readonly tids: number[]) {
    this.first = tids.map((t) => Placement.read(t)[0]);
    this.last = this.first.slice();
  }
  /** [CPU ticks, processor] of a thread. */
  static read(tid: number): [number, number] {
    try {
      const f = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return [Number(v[11]) + Number(v[12]), Number(v[36])]; // fields 14, 15 and 39 of stat
    } catch {
      return [0, -1];
    }
  }
  sample(): void {
    const now = this.tids.map((t) => Placement.read(t));
    // only threads that ran since the last sample (a sleeping thread keeps its last CPU)
    const ran = now.filter(([ticks], i) => ticks > this.last[i]).map(([, cpu]) => cpu);
    if (ran.length >= 2) {
      this.n++;
      if (new Set(ran).size < ran.length) this.same++;
    }
    this.last = now.map(([t]) => t);
  }
  shares(seconds: number): number[] {
    return this.last.map((t, i) => (t - this.first[i]) / 100 / seconds); // CLK_TCK = 100
  }
  together(): number {
    return this.n ? this.same / this.n : 0;
  }
}

const mac = (n: number): string => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
const BCAST = 'ff:ff:ff:ff:ff:ff';

registerCase({
  name: 'pipe-60', description: 'zero-copy pipe, pkt-gen tx worker -> rx worker', frameLen: 60, kind: 'netmap',
  run: (ms, o) => runNetmap([{ port: 'bp{0', fn: 'tx', srcMac: mac(1), dstMac: mac(2) }, { port: 'bp}0', fn: 'rx', srcMac: mac(2), dstMac: mac(1) }], 60, ms, o),
});
for (const len of [60, 1514]) {
  registerCase({
    name: `vale-${len}`, description: 'VALE, one sender worker -> one receiver worker (learned unicast)', frameLen: len, kind: 'netmap',
    run: (ms, o) => runNetmap([{ port: `valebv${len}:rx`, fn: 'rx', srcMac: mac(2), dstMac: mac(1) }, { port: `valebv${len}:tx`, fn: 'tx', srcMac: mac(1), dstMac: mac(2) }], len, ms, o),
  });
}
registerCase({
  name: 'vale-2to1-60', description: 'VALE, two sender workers -> one receiver worker', frameLen: 60, kind: 'netmap',
  run: (ms, o) => runNetmap([
    { port: 'valebw:rx', fn: 'rx', srcMac: mac(9), dstMac: mac(1) },
    { port: 'valebw:a', fn: 'tx', srcMac: mac(1), dstMac: mac(9) },
    { port: 'valebw:b', fn: 'tx', srcMac: mac(2), dstMac: mac(9) },
  ], 60, ms, o),
});
registerCase({
  name: 'vale-flood4-60', description: 'VALE, one sender broadcasting to 4 receivers (all in one worker each)', frameLen: 60, kind: 'netmap',
  run: (ms, o) => runNetmap([
    { port: 'valebf:r0', fn: 'rx', srcMac: mac(10), dstMac: BCAST },
    { port: 'valebf:r1', fn: 'rx', srcMac: mac(11), dstMac: BCAST },
    { port: 'valebf:r2', fn: 'rx', srcMac: mac(12), dstMac: BCAST },
    { port: 'valebf:r3', fn: 'rx', srcMac: mac(13), dstMac: BCAST },
    { port: 'valebf:tx', fn: 'tx', srcMac: mac(1), dstMac: BCAST },
  ], 60, ms, o),
});
