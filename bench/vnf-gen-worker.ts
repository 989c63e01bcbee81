// The client thread of the --vnf VALE rows (bench/vnf-vale.ts), pkt-gen style: it keeps the tx
// ring of one VALE port full of 64- or 60-byte UDP frames (written once per slot, over `flows`
// source ports: the buffers stay the ring's own on a copying switch, so a round only sets the
// lengths and advances), and after each txsync reads the rx ring of the receiving port (the same
// port for the echo rows: the answers; another switch's port for the firewall row: what passed)
// and counts it. F_TX counts frames handed to txsync, F_RX frames received; the harness
// snapshots them at the window's edges. The loop never sleeps: like pkt-gen it takes a core.
import '../src/index.js';
import { open } from '../src/core/open.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';
import { F_RX, F_TX, I_PHASE, PHASE_STOP, PHASE_WARMUP, waitPhaseAtLeast } from './control.js';
import { benchWorker } from './worker-kit.js';

export interface VnfGenParams {
  /** The port the frames are sent on. */
  tx: string;
  /** The port counted; omitted: `tx` itself (the echo rows). */
  rx?: string;
  frameLen: number;
  srcMac: string;
  dstMac: string;
  /** pkt-gen style ranges, e.g. 10.0.0.2:1000-10.0.0.2:1063 */
  src: string;
  dst: string;
  burst?: number;
}

const w = benchWorker<VnfGenParams>();
try {
  const p = w.params;
  const tx = open(p.tx, { txSlots: 1024, rxSlots: 1024 });
  const rx = p.rx ? open(p.rx, { txSlots: 1024, rxSlots: 1024 }) : tx;
  const t = tx.txRings[0]!, r = rx.rxRings[0]!, u8 = tx.u8;
  const tpl = new UdpFrameTemplate({ family: 4, srcMac: p.srcMac, dstMac: p.dstMac, src: p.src, dst: p.dst, frameLen: p.frameLen });
  const frame = new Uint8Array(p.frameLen);
  tpl.write(frame, 0);
  for (let i = 0; i < t.numSlots; i++) {
    u8.set(frame, t.buf(i));
    t.setLen(i, p.frameLen);
    tpl.advance(frame, 0); // the next flow in the next slot
  }
  const len = p.frameLen, burst = p.burst ?? 512;
  const tu32 = t.u32, ts = t.slots, tn = t.numSlots, ru32 = r.u32, rs = r.slots, rn = r.numSlots;
  const f = w.ctl.f64, i32 = w.ctl.i32;
  w.ready({});
  waitPhaseAtLeast(w.ctl, PHASE_WARMUP, 30_000);
  let bad = 0;
  while (Atomics.load(i32, I_PHASE) < PHASE_STOP) {
    let h = t.head, todo = t.space();
    if (todo > burst) todo = burst;
    for (let i = 0; i < todo; i++) {
      const s = ts + (h << 2);
      if (tu32[s + 1] !== len) tu32[s + 1] = len; // a length a reply left behind (never on VALE tx)
      h = h + 1 === tn ? 0 : h + 1;
    }
    t.advance(h);
    tx.txsync();
    f[F_TX] = f[F_TX]! + todo;
    rx.rxsync();
    let k = r.head, got = 0;
    const end = r.tail;
    while (k !== end) {
      if ((ru32[rs + (k << 2) + 1]! & 0xffff) < 42) bad++; // shorter than its headers: not an answer
      else got++;
      k = k + 1 === rn ? 0 : k + 1;
    }
    r.advance(k);
    f[F_RX] = f[F_RX]! + got;
  }
  if (rx !== tx) rx.close();
  tx.close();
  await w.finish({ runts: bad });
} catch (e) {
  w.fail(e);
}
