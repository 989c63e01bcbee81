/**
 * "Physical limit" rows: what one core can do at best, with no
 * synchronization and no switching logic at all.
 *
 *  memcpy-limit-60    copy 60-byte frames between buffer slots of a
 *                     plain ArrayBuffer like a mapped region (Float64Array word loop: 8 words,
 *                     i.e. 64 bytes, per frame) -> upper bound for a one-core
 *                     copying switch (VALE) at 60 bytes.
 *  memcpy-limit-1514  same with 1514-byte frames, Uint8Array#copyWithin.
 *  index-handoff-limit
 *                     move 32-bit buffer indices through a 1024-slot
 *                     Uint32Array ring in batches of 512, producer and
 *                     consumer in the same thread -> upper bound for a
 *                     zero-copy pipe. Gbit/s counted as if each index
 *                     carried a 60-byte frame.
 *
 * Each runs in its own worker (so a runaway loop can be terminated) with the
 * same warm-up / window discipline as the other cases.
 */
import { registerCase, type CaseResult, type RunOptions } from './cases.js';
import { runInThread, runPhased, warmupOf } from './harness.js';
import { compileFilter } from '../src/packet/filter.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';
import type { LimitParams } from './limit-worker.js';

const WORKER = new URL('./limit-worker.js', import.meta.url);
const SLOTS = 1024;
const SLOT_SIZE = 2048;
const BATCH = 512;

export async function runLimit(params: LimitParams, durationMs: number, opts?: RunOptions): Promise<CaseResult> {
  const run = await runPhased({
    durationMs,
    warmupMs: warmupOf(opts),
    workers: [{ role: 'cpu', url: WORKER, params }],
  });
  const check = Number(run.reports.get('cpu')?.extra?.check ?? 0);
  const { rx } = run.counters;
  const what =
    params.mode === 'index'
      ? `${SLOTS}-slot Uint32Array ring, batches of ${params.batch}, 1 thread; indices only`
      : `${params.mode === 'copy-f64' ? 'Float64Array word loop' : 'copyWithin'}, ${params.slots}+${params.slots} slots of ${params.slotSize} B, 1 thread`;
  const notes = [what];
  if (params.mode !== 'index' && check !== 0) notes.push(`COPY CHECK FAILED in ${check} slots`);
  return {
    packets: rx,
    bytes: rx * params.frameLen,
    seconds: run.seconds,
    gcCount: run.gcCount,
    notes: notes.join('; '),
    extra: { mode: params.mode, batch: params.batch, slots: params.slots, gcMajor: run.gcMajor },
  };
}

registerCase({
  name: 'memcpy-limit-60',
  description: 'one thread copying 60-byte frames between buffer slots of plain memory (Float64Array words), no sync',
  frameLen: 60,
  kind: 'limit',
  run: (d, o) => runLimit({ mode: 'copy-f64', frameLen: 60, slots: SLOTS, slotSize: SLOT_SIZE, batch: BATCH }, d, o),
});

registerCase({
  name: 'memcpy-limit-1514',
  description: 'one thread copying 1514-byte frames between buffer slots of plain memory (copyWithin), no sync',
  frameLen: 1514,
  kind: 'limit',
  run: (d, o) => runLimit({ mode: 'copy-within', frameLen: 1514, slots: SLOTS, slotSize: SLOT_SIZE, batch: BATCH }, d, o),
});

registerCase({
  name: 'index-handoff-limit',
  description: 'one thread moving 32-bit buffer indices through a 1024-slot ring in batches of 512 (zero-copy bound)',
  frameLen: 60,
  kind: 'limit',
  run: (d, o) => runLimit({ mode: 'index', frameLen: 60, slots: SLOTS, slotSize: SLOT_SIZE, batch: BATCH }, d, o),
});

// A capture filter's cost per frame (src/packet/filter.ts): the expression is compiled once
// into a predicate that reads the frame in place.
registerCase({
  name: 'filter-udp-dport',
  description: "compileFilter('udp and dst port 53') evaluated on 60-byte frames, 1 thread",
  frameLen: 60,
  kind: 'tool',
  async run(durationMs, opts) {
    const f = compileFilter('udp and dst port 53');
    const buf = new Uint8Array(2 * 64);
    new UdpFrameTemplate({ family: 4, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '10.0.0.1:1234', dst: '10.0.0.2:53', frameLen: 60 }).write(buf, 0);
    new UdpFrameTemplate({ family: 4, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '10.0.0.1:1234', dst: '10.0.0.2:54', frameLen: 60 }).write(buf, 64);
    let hits = 0;
    const r = await runInThread({ durationMs, warmupMs: warmupOf(opts), frameLen: 60, step: () => {
      for (let i = 0; i < 4096; i++) if (f(buf, (i & 1) << 6, 60)) hits++;
      return 4096;
    } });
    return { ...r, notes: `evaluations, not frames moved; ${hits > 0 ? 'half match' : 'none matched?!'}` };
  },
});
