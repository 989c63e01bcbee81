// The traffic around `nmts lb` in one thread (lb-4pipes-60, tool-lb.ts): it feeds lb's input
// pipe from its master end and drains lb's output pipes, so that lb (a process of its own)
// and this thread share the machine's two cores. Feeding writes one of 1024 prepared 60-byte
// frames (1024 UDP flows) into every free slot, whole: lb swaps buffers, so a slot may come
// back with any buffer. Counts: F_TX frames fed, F_RX frames drained from the outputs.
import '../src/index.js';
import { open } from '../src/core/open.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';
import { F_RX, F_TX, PHASE_STOP, PHASE_WARMUP, phase, waitPhaseAtLeast } from './control.js';
import { benchWorker } from './worker-kit.js';

export interface LbTrafficParams {
  /** The master end of lb's input pipe (`P{0` when lb reads `P}0`). */
  feed: string;
  /** What lb's readers open (`P}0_0` ...). */
  outputs: string[];
}

const FLOWS = 1024, WORDS = 15; // 60 bytes as 32-bit words

const bw = benchWorker<LbTrafficParams>();
try {
  const { ctl } = bw;
  const feed = open(bw.params.feed);
  const outs = bw.params.outputs.map((n) => open(n));
  const frames = new Uint32Array(FLOWS * WORDS);
  const t = new UdpFrameTemplate({ family: 4, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: `10.0.0.1:1000-10.0.0.1:${1000 + FLOWS - 1}`, dst: '10.1.0.1:53', frameLen: 60 });
  const f8 = new Uint8Array(frames.buffer);
  t.write(f8, 0);
  for (let k = 1; k < FLOWS; k++) { f8.copyWithin(k * 60, (k - 1) * 60, k * 60); t.advance(f8, k * 60); }
  const tx = feed.txRings[0]!, u32 = feed.region.u32;
  bw.ready();
  waitPhaseAtLeast(ctl, PHASE_WARMUP, 60_000);
  let fed = 0, got = 0, k = 0, round = 0;
  while ((++round & 255) !== 0 || phase(ctl) !== PHASE_STOP) {
    let h = tx.head;
    const end = tx.tail;
    while (h !== end) {
      const w = tx.buf(h) >> 2, src = k * WORDS;
      for (let i = 0; i < WORDS; i++) u32[w + i] = frames[src + i]!;
      tx.setLen(h, 60);
      tx.setSlotFlags(h, 0);
      h = tx.next(h);
      k = k + 1 === FLOWS ? 0 : k + 1;
      fed++;
    }
    tx.advance(h);
    feed.txsync();
    for (let i = 0; i < outs.length; i++) {
      const o = outs[i]!;
      o.rxsync();
      const r = o.rxRings[0]!;
      const n = r.tail - r.head;
      if (n !== 0) { got += n < 0 ? n + r.numSlots : n; r.advance(r.tail); }
    }
    ctl.f64[F_TX] = fed;
    ctl.f64[F_RX] = got;
  }
  for (const o of outs) o.close();
  feed.close();
  await bw.finish();
} catch (e) {
  bw.fail(e);
}
