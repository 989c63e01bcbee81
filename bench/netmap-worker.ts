// A benchmark thread: opens a netmap-ts port and runs one of pkt-gen's data loops (the same
// code users run), counting into a shared stats row; reports GCs seen in the measured window.
import { parentPort, workerData } from 'node:worker_threads';
import '../src/index.js';
import { open } from '../src/core/open.js';
import { LoopIo, runLoop, type LoopConfig } from '../src/apps/pkt-gen/loops.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';
import { C, ROW, S } from '../src/apps/pkt-gen/shared.js';
import { countGc } from './gc.js';
import { gettid } from '../src/sys/libc.js';
import { pinThisThread } from '../src/sys/sched.js';
import { boundDrops } from '../src/apps/pkt-gen/drops.js';
import { ValePort } from '../src/vale/vale-port.js';
import { forwardBatch } from '../src/vale/forward.js';
import { deliverCopies } from '../src/core/deliver.js';
import { copyFrame } from '../src/core/frame-copy.js';
import { announceMac } from './announce.js';

export interface NetmapWorkerParams {
  port: string;
  fn: 'tx' | 'rx';
  frameLen: number;
  dstMac: string;
  srcMac: string;
  index: number;
  stats: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  window: SharedArrayBuffer; // float64 [start, end] epoch ms of the measured window
  /** Pin this thread to this CPU (bench --pin). */
  cpu?: number;
}

/**
 * V8's optimization status of the forwarding path's functions (bench --opt-status, under
 * node --allow-natives-syntax): the bit field of %GetOptimizationStatus, and whether the
 * function runs TurboFan code (bit 4 = 16 "optimized", bit 5 = 32 "TurboFanned").
 */
function optStatus(): Record<string, number> | undefined {
  if (!process.execArgv.includes('--allow-natives-syntax')) return undefined;
  const get = new Function('f', 'return %GetOptimizationStatus(f)') as (f: unknown) => number;
  const fns: Record<string, unknown> = {
    txsyncRing: (ValePort.prototype as unknown as Record<string, unknown>).txsyncRing,
    rxsyncRing: (ValePort.prototype as unknown as Record<string, unknown>).rxsyncRing,
    forwardBatch, deliverCopies, copyFrame,
  };
  const out: Record<string, number> = {};
  for (const [k, f] of Object.entries(fns)) out[k] = get(f);
  return out;
}

const p = workerData as NetmapWorkerParams;
const stats = new Float64Array(p.stats), ctrl = new Int32Array(p.ctrl), win = new Float64Array(p.window);
const gc = countGc();
const port = open(p.port, { txSlots: 1024, rxSlots: 1024 });
const template = new UdpFrameTemplate({ family: 4, srcMac: p.srcMac, dstMac: p.dstMac, src: '10.0.0.1:1234', dst: '10.1.0.1:1234', frameLen: p.frameLen });
const frame = new Uint8Array(p.frameLen);
template.write(frame, 0);
const cfg: LoopConfig = {
  fn: p.fn, count: 0, burst: 512, rate: 0, onFull: 'none', frame, frameLen: p.frameLen, frameLenMin: p.frameLen, template,
  randomSrc: false, randomDst: false, frags: 1, fragSize: 0, vhdr: 0, rubbish: false, dump: false,
  exitOnIdle: false, family: 4, reportMs: 1000,
};
// a VALE receiver makes the switch learn its MAC before any sender starts (learned unicast)
if (p.fn === 'rx' && port instanceof ValePort) announceMac(port, p.srcMac);
if (p.cpu !== undefined) pinThisThread(p.cpu);
parentPort!.postMessage({ type: 'ready', tid: gettid() });
Atomics.add(ctrl, C.ready, 1);
while (Atomics.load(ctrl, C.go) === 0) Atomics.wait(ctrl, C.go, 0, 50);
runLoop(port, cfg, new LoopIo(stats, p.index * ROW, ctrl, () => {}));
stats[p.index * ROW + S.done] = 1;
const opt = optStatus();
const drops = p.fn === 'tx' ? boundDrops(port, false) : boundDrops(port, true);
port.close();
await gc.flush();
parentPort!.postMessage({ type: 'done', gc: gc.count(win[0], win[1]), opt, drops });
gc.stop();
