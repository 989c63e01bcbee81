// Warming a pkt-gen thread's data path before the go, on a switch of its own.
//
// Why (issue #9, measured on the 2-core machine): a receiver started first lost 20-65 % of
// an unpaced 2 M-frame run, most of it in the first 100 ms. Two causes, both V8's optimizing
// compiler working while frames arrive: the receiver's per-slot loop runs unoptimized (slower
// than the sender) until V8 recompiles it, and the sender's forwarding path (gather, lookup,
// copy) gets compiled on V8's background threads, which take the receiver's core for
// milliseconds — at 20+ Mpps a 1024-slot ring holds 40 us. Empty syncs compile the sync calls
// only, not the loops that move frames.
//
// So before reporting ready, a thread runs its own loop (txLoop or rxLoop, the same functions
// with the same configuration) against a private in-memory VALE switch with two ports,
// forwarding real frames, until V8 has optimized them. Nothing touches the shared files or
// the port the user named; the region is anonymous memory released afterwards.
import { parsePortSpec } from '../../core/portspec.js';
import { createPrivateRegion } from '../../core/private-region.js';
import type { Port } from '../../core/port.js';
import { openValePort } from '../../vale/vale-port.js';
import { LoopIo, rxLoop, txLoop, type LoopConfig } from './loops.js';
import { makeShared, ROW } from './shared.js';

/** Frames moved per warm-up round (fits a default ring). */
const ROUND = 1000;
/** Milliseconds a thread warms up before the go (NMTS_PKTGEN_WARM_MS overrides; 0 turns it off). */
export const WARM_MS = Number(process.env.NMTS_PKTGEN_WARM_MS ?? 250);
/** Runs paced below this (pps per thread) or shorter than WARM_MIN_COUNT frames are not warmed. */
export const WARM_MIN_RATE = 200_000;
export const WARM_MIN_COUNT = 50_000;

/** The broadcast frame a receiver's warm-up gets (a sender warms with its own frames). */
const WARM_FRAME = (() => {
  const f = new Uint8Array(60);
  f.fill(0xff, 0, 6); // broadcast: the switch floods it to the other port
  f[6] = 0x02; // locally administered source
  f[12] = 0x08; // IPv4
  return f;
})();

/** What a warm-up leaves: the frames it moved, and its switch to drop once the real run is over. */
export interface WarmUp {
  moved: number;
  /**
   * Close the warm-up's ports and free its memory. Call it after the real run: closing a
   * port writes fields V8 compiled the hot loops as constant, and the loops would be
   * recompiled during the run — on the background threads this warm-up is there to keep
   * quiet.
   */
  dispose(): void;
}

/**
 * Run `cfg`'s loop (tx/txseq or rx/rxseq; others are not warmed) for `ms` milliseconds, in rounds of
 * ROUND frames through a private two-port VALE switch. `makeConfig` makes the configuration the
 * real run uses (the same object shape: another would send the run back to unoptimized code),
 * with nothing shared with it (a template of its own: its ranges advance).
 */
export function warmDataPath(makeConfig: () => LoopConfig, ms: number): WarmUp {
  const cfg = makeConfig();
  const tx = cfg.fn === 'tx' || cfg.fn === 'txseq', rx = cfg.fn === 'rx' || cfg.fn === 'rxseq';
  if ((!tx && !rx) || ms <= 0) return { moved: 0, dispose: () => {} };
  const pr = createPrivateRegion(4 * 1024 + 256, 0, 'pkt-gen warm-up memory');
  let a: Port | null = null, b: Port | null = null;
  const dispose = (): void => {
    try {
      b?.close();
      a?.close();
    } finally {
      pr.release();
    }
  };
  try {
    const region = pr.region;
    const opts = cfg.vhdr === 10 || cfg.vhdr === 12 ? { vnetHdrLen: cfg.vhdr } as const : {};
    a = openValePort(region, parsePortSpec('valewarm:a'), opts);
    b = openValePort(region, parsePortSpec('valewarm:b'), opts);
    const shared = makeShared(1);
    const io = new LoopIo(new Float64Array(shared.stats), 0, new Int32Array(shared.ctrl), () => {});
    // the warm-up's configurations are copies of the real one with the same shape (a
    // different object shape would send the real run back to unoptimized code)
    const txCfg = makeConfig();
    txCfg.rate = 0; txCfg.dump = false;
    if (!tx) {
      txCfg.fn = 'tx'; txCfg.frame = WARM_FRAME; txCfg.frameLen = 60; txCfg.frameLenMin = 60; txCfg.template = null;
      txCfg.randomSrc = false; txCfg.randomDst = false; txCfg.frags = 1; txCfg.rubbish = false;
    }
    const rxCfg = makeConfig();
    rxCfg.dump = false; rxCfg.exitOnIdle = false;
    if (!rx) rxCfg.fn = 'rx';
    let moved = 0;
    const until = performance.now() + ms;
    // every other round sends more than the receiving ring holds: the switch's drop paths
    // (counting frames a full ring refused) run too, or the first drop of the real run would
    // find code compiled without them and fall back to unoptimized code at every batch
    // (measured: 500-700 deoptimizations of the forwarding path in a 2 M-frame run)
    const overflow = b.rxRings[0].numSlots + ROUND;
    for (let i = 0; performance.now() < until; i++) {
      io.stats.fill(0, 0, ROW);
      txCfg.count = i & 1 ? overflow : ROUND;
      txLoop(a, txCfg, io);
      const sent = io.stats[0];
      if (sent === 0) break;
      // drain exactly what arrived: rxLoop returns once it has that many (a broadcast or
      // unicast to the other port reaches it; a frame the switch dropped never does)
      b.rxsync();
      const arrived = b.rxRings.reduce((n, r) => n + ((r.tail - r.head + r.numSlots) % r.numSlots), 0);
      if (arrived === 0) break;
      io.stats.fill(0, 0, ROW);
      rxCfg.count = arrived;
      rxLoop(b, rxCfg, io);
      moved += arrived;
    }
    return { moved, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}
