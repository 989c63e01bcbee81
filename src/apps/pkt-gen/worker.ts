// One pkt-gen data thread: opens its port by name, reports ready, waits for the go signal,
// runs the loop, closes the port.
import { parentPort, workerData } from 'node:worker_threads';
import '../../index.js';
import { open } from '../../core/open.js';
import { POLLIN, POLLOUT } from '../../core/constants.js';
import { pinThisThread } from '../../sys/sched.js';
import { UdpFrameTemplate } from '../../packet/frame-builder.js';
import type { LoopConfig } from './loops.js';
import { LoopIo, runLoop } from './loops.js';
import { boundDrops } from './drops.js';
import { warmDataPath, WARM_MIN_COUNT, WARM_MIN_RATE, WARM_MS, type WarmUp } from './warm-up.js';
import { C, ROW, S } from './shared.js';
import type { TemplateSpec } from './frame.js';

export interface WorkerInput {
  port: string;
  openOpts: { busyWait: boolean; txRings?: number; rxRings?: number; txSlots?: number; rxSlots?: number; vnetHdrLen?: 0 | 10 | 12 };
  /** openOpts.rxSlots is pkt-gen's own choice (not -C): on ENOMEM, open with the port's default. */
  ownRxSlots?: boolean;
  cfg: Omit<LoopConfig, 'template'>;
  template: TemplateSpec | null;
  index: number;
  /** CPU to pin this thread to (-a), if any. */
  cpu?: number;
  stats: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
}

const input = workerData as WorkerInput;
const stats = new Float64Array(input.stats);
const ctrl = new Int32Array(input.ctrl);
const row = input.index * ROW;
const log = (line: string): void => parentPort!.postMessage({ type: 'log', line });

let port;
try {
  if (input.cpu !== undefined) pinThisThread(input.cpu);
  try {
    port = open(input.port, input.openOpts);
  } catch (e) {
    if (!input.ownRxSlots || (e as { code?: string }).code !== 'ENOMEM') throw e;
    port = open(input.port, { ...input.openOpts, rxSlots: undefined });
  }
} catch (e) {
  parentPort!.postMessage({ type: 'error', message: (e as Error).message });
  process.exit(0);
}
// drops count from the open: frames lost while waiting for the go are lost all the same
const rxSide = input.cfg.fn === 'rx' || input.cfg.fn === 'rxseq';
const drops0 = boundDrops(port, rxSide);
// warm the sync path before the traffic starts (V8 compiles it now, not while frames arrive
// and three processes compile at once); a sync with nothing to move changes nothing
const WARM_SYNCS = Number(process.env.NMTS_PKTGEN_WARMUP ?? 20000);
for (let i = 0; i < WARM_SYNCS; i++) port.check(rxSide ? POLLIN : POLLOUT);
/** The loop's configuration; one maker, so that the warm-up's copies have the real one's shape. */
function loopConfig(): LoopConfig {
  return { ...input.cfg, template: input.template ? new UdpFrameTemplate(input.template) : null };
}
// and the loops that move frames, on a private switch (warm-up.ts says why), when the run
// can be fast enough for compiling during it to cost frames: unpaced or paced fast, and long
let warm: WarmUp | null = null;
const { rate, count } = input.cfg;
if (WARM_SYNCS > 0 && (rate === 0 || rate >= WARM_MIN_RATE) && (count === 0 || count >= WARM_MIN_COUNT)) {
  try {
    warm = warmDataPath(loopConfig, WARM_MS);
  } catch (e) {
    log(`pkt-gen: warm-up skipped: ${(e as Error).message}`);
  }
}
// a port on a Linux interface says which kernel mechanism it uses (pkt-gen prints it)
const kinfo = port.backend();
parentPort!.postMessage({
  type: 'ready', txRings: port.txRings.length, rxRings: port.rxRings.length, slots: port.txRings[0]?.numSlots ?? port.rxRings[0]?.numSlots ?? 0,
  backend: kinfo ? { backend: kinfo.backend, detail: kinfo.detail, fallbackReason: kinfo.fallbackReason, warnings: kinfo.warnings } : null,
});
Atomics.add(ctrl, C.ready, 1);
while (Atomics.load(ctrl, C.go) === 0 && Atomics.load(ctrl, C.stop) === 0) Atomics.wait(ctrl, C.go, 0, 50);
const cfg = loopConfig();
try {
  runLoop(port, cfg, new LoopIo(stats, row, ctrl, log));
} catch (e) {
  parentPort!.postMessage({ type: 'error', message: (e as Error).message });
} finally {
  try {
    stats[row + S.portDrops] = boundDrops(port, rxSide) - drops0;
  } catch (e) {
    parentPort!.postMessage({ type: 'log', line: `pkt-gen: ${input.port}: drop counters unreadable: ${(e as Error).message}` });
  }
  stats[row + S.done] = 1;
  port.close();
  warm?.dispose();
  parentPort!.postMessage({ type: 'done' });
}
