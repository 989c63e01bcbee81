/**
 * Baseline: what a Node user would do without netmap-ts to move frames
 * between two threads — a MessageChannel between a sender worker and a
 * receiver worker.
 *
 * Every frame carries a sequence number that the sender stamps and the
 * receiver checks, frame by frame, so each frame is handed over and looked at
 * as its own frameLen-byte unit (like pkt-gen, the frame bodies are written
 * once from a template; only the sequence number changes per send).
 *
 * Variants tried on the development machine (2-core AMD EPYC VM, Node 20.20,
 * 2 s windows, 60-byte frames; MessagePort throughput is noisy there, ±40%):
 *   one postMessage per frame (cloned 60-byte Uint8Array)      ~0.64 Mpps
 *   batch 256, fresh ArrayBuffer per batch, transferred         ~19 Mpps
 *   batch 1024, fresh ArrayBuffer per batch, transferred        ~61 Mpps
 *   batch 256, pool of 4 buffers transferred back and forth     ~30 Mpps
 *   batch 512, pool of 8 buffers transferred back and forth     50-185 Mpps
 *   batch 2048, pool of 4                                       ~270 Mpps
 * The cost is per message (a few µs), so Mpps grows ~linearly with the batch
 * size; any cap is a choice. We cap the batch at 512 frames, the burst netmap
 * applications (pkt-gen) use and half a default 1024-slot ring, so both sides
 * of the comparison move frames in the same granularity, and keep 8 batches
 * in flight (4096 frames, 240 KB at 60 bytes).
 */
import { MessageChannel } from 'node:worker_threads';
import { registerCase, type CaseResult, type RunOptions } from './cases.js';
import { runPhased, warmupOf } from './harness.js';
import type { MpMode, MpParams } from './peer-messageport-worker.js';

const WORKER = new URL('./peer-messageport-worker.js', import.meta.url);

export interface MpVariant {
  mode: MpMode;
  batch: number;
  inflight: number;
}

export async function runMessagePort(
  frameLen: number,
  v: MpVariant,
  durationMs: number,
  opts?: RunOptions,
): Promise<CaseResult> {
  const { port1, port2 } = new MessageChannel();
  const batch = v.mode === 'frame' ? 1 : v.batch;
  const common = { mode: v.mode, frameLen, batch, inflight: v.inflight };
  const rxParams: MpParams = { port: port2, ...common };
  const txParams: MpParams = { port: port1, ...common };
  let run;
  try {
    run = await runPhased({
      durationMs,
      warmupMs: warmupOf(opts),
      workers: [
        { role: 'rx', url: WORKER, params: rxParams, transferList: [port2] },
        { role: 'tx', url: WORKER, params: txParams, transferList: [port1] },
      ],
    });
  } finally {
    port1.close();
    port2.close();
  }
  const { rx, tx, aux0: seqErrors } = run.counters;
  const how =
    v.mode === 'frame'
      ? `1 postMessage per frame (cloned Uint8Array), window ${v.inflight} frames`
      : v.mode === 'alloc'
        ? `batch ${batch} frames/postMessage, new ArrayBuffer transferred, window ${v.inflight}`
        : `batch ${batch} frames/postMessage, ArrayBuffer transferred (no copy), pool of ${v.inflight} recycled; tx stamps/rx checks a seq per frame`;
  const notes = [how];
  if (seqErrors !== 0) notes.push(`${seqErrors} SEQ ERRORS`);
  notes.push(`GC tx ${run.reports.get('tx')?.gcCount ?? '?'} / rx ${run.reports.get('rx')?.gcCount ?? '?'}`);
  return {
    packets: rx,
    bytes: rx * frameLen,
    seconds: run.seconds,
    gcCount: run.gcCount,
    notes: notes.join('; '),
    extra: {
      mode: v.mode,
      batch,
      inflight: v.inflight,
      sent: tx,
      seqErrors,
      gcMajor: run.gcMajor,
    },
  };
}

/** The variant used by the registered cases (see the comment at the top). */
export const MP_BEST: MpVariant = { mode: 'ring', batch: 512, inflight: 8 };

function register(frameLen: number): void {
  registerCase({
    name: `messageport-${frameLen}`,
    description: `MessageChannel between two workers, ${frameLen}-byte frames batched in transferred ArrayBuffers`,
    frameLen,
    kind: 'baseline',
    run: (durationMs, opts) => runMessagePort(frameLen, MP_BEST, durationMs, opts),
  });
}

register(60);
register(1514);

// The per-frame variant: what most Node code does (one postMessage per packet). Shown next
// to the batched baseline so both comparisons are in the same run.
registerCase({
  name: 'messageport-frame-60',
  description: 'MessageChannel between two workers, one postMessage per 60-byte frame',
  frameLen: 60,
  kind: 'baseline',
  run: (durationMs, opts) => runMessagePort(60, { mode: 'frame', batch: 1, inflight: 256 }, durationMs, opts),
});
