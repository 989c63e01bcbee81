/**
 * The cost of software segmentation alone (src/packet/gso.ts), in one thread: 64 KiB TCPv4
 * TSO super-frames (Ethernet + IPv4 + TCP with timestamps + 65470 bytes of payload) cut to
 * MSS 1448 (46 segments, every IP and TCP checksum computed) into 2048-byte buffers taken in
 * turn from a ring of 1024. Gbit/s counts the super-frames' bytes (what a switch would take in);
 * Mpps counts segments written.
 *
 * - gso-tcp4-64k: source and destinations in one ArrayBuffer, as a switch's mapped region
 *   (payload moved by copyWithin);
 * - gso-tcp4-64k-xbuf: destinations in another buffer (payload moved by the word loop).
 *
 * And the same work done by VALE (src/vale/offload.ts), in one thread:
 * - vale-tso-64k: a vnet=12 port sends the 64 KiB frame (its header + 33 slots, NS_MOREFRAG) to
 *   a vnet=0 port; the sender's txsync removes the header and cuts the frame into 46 segments
 *   written into the receiver's ring; the receiver rxsyncs and releases them. Gbit/s counts the
 *   super-frames' bytes (without the header), as above.
 */
import { registerCase, type RunOptions, type CaseResult } from './cases.js';
import { runInThread, warmupOf } from './harness.js';
import { Segmenter } from '../src/packet/gso.js';
import { VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, VNET_OK, vnetWrite } from '../src/packet/vnet-hdr.js';
import { open, type Port } from '../src/index.js';
import { NS_MOREFRAG } from '../src/core/constants.js';
import { processRegion } from '../src/core/memory.js';
import { writeEther, writeIPv4, IPPROTO_TCP, ETH_P_IP } from '../src/packet/headers.js';

const FRAME = 65536;
const MSS = 1448;
const HDRS = 14 + 20 + 32;
const BUF = 2048;
const NBUF = 1024;

/** A 64 KiB TSO frame at u8[off]. */
function writeSuperFrame(u8: Uint8Array, off: number): void {
  const mac = (x: number): Uint8Array => Uint8Array.of(2, 0, 0, 0, 0, x);
  let p = writeEther(u8, off, mac(2), mac(1), ETH_P_IP);
  p = writeIPv4(u8, p, { src: 0x0a000001, dst: 0x0a000002, proto: IPPROTO_TCP, totalLen: FRAME - 14, df: true, id: 7 });
  const tcp = [0x30, 0x39, 0x14, 0x51, 0, 0, 0x10, 0, 0, 0, 0, 1, 0x80, 0x18, 0x01, 0xf5, 0, 0, 0, 0,
    1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
  for (let i = 0; i < tcp.length; i++) u8[p + i] = tcp[i]!;
  for (let i = off + HDRS; i < off + FRAME; i++) u8[i] = (i * 131) >>> 3;
}

async function runGso(durationMs: number, opts: RunOptions | undefined, sameBuffer: boolean): Promise<CaseResult> {
  const region = new Uint8Array(new ArrayBuffer(FRAME + NBUF * BUF));
  writeSuperFrame(region, 0);
  const dst = sameBuffer ? region : new Uint8Array(new ArrayBuffer(FRAME + NBUF * BUF));
  const s = new Segmenter();
  s.fragOff[0] = 0;
  s.fragLen[0] = FRAME;
  let next = 0;
  let frames = 0;
  let bad = 0;
  const r = await runInThread({
    durationMs, warmupMs: warmupOf(opts), frameLen: HDRS + MSS,
    step: () => {
      if (s.begin(region, 1, VNET_GSO_TCPV4, MSS) !== VNET_OK) { bad++; return 0; }
      const n = s.count;
      for (let i = 0; i < n; i++) {
        if (s.write(i, dst, FRAME + next * BUF, BUF) < 0) bad++;
        next = (next + 1) & (NBUF - 1);
      }
      frames++;
      return n;
    },
  });
  if (bad > 0) throw new Error(`${bad} segmentation failures`);
  // the measured window's super-frames: segments / segments per frame
  const perFrame = Math.ceil((FRAME - HDRS) / MSS);
  const measured = r.packets / perFrame;
  return {
    ...r,
    bytes: measured * FRAME,
    notes: `${perFrame} segments of <= ${HDRS + MSS} B per 64 KiB frame; Gbit/s = super-frame bytes`,
    extra: { superFrames: Math.round(measured), superFramesPerSec: Math.round(measured / r.seconds), allFrames: frames },
  };
}

registerCase({
  name: 'gso-tcp4-64k',
  description: 'software TSO: 64 KiB TCPv4 frames cut to MSS 1448 with full checksums, one thread, one region (copyWithin)',
  frameLen: HDRS + MSS,
  kind: 'other',
  run: (d, o) => runGso(d, o, true),
});

registerCase({
  name: 'gso-tcp4-64k-xbuf',
  description: 'software TSO as gso-tcp4-64k, segments written into another buffer (word-loop copy)',
  frameLen: HDRS + MSS,
  kind: 'other',
  run: (d, o) => runGso(d, o, false),
});

let valeRun = 0;

async function runValeTso(durationMs: number, opts: RunOptions | undefined): Promise<CaseResult> {
  processRegion();
  const sw = `valetso${process.pid}x${valeRun++}`;
  const rx = open(`${sw}:host`, { txSlots: 1024, rxSlots: 1024 });
  // the header and the frame, cut into buffer-sized pieces: slot k always carries piece
  // k % pieces (the tx ring is a whole number of chains), so the buffers are written once
  const bs = rx.rxRings[0]!.bufSize;
  const whole = new Uint8Array(12 + FRAME);
  vnetWrite(whole, 0, 12, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, HDRS, MSS, 14 + 20, 16);
  writeSuperFrame(whole, 12);
  const pieces = Math.ceil(whole.length / bs);
  const used = pieces * Math.floor(1024 / pieces);
  let tx: Port | undefined;
  try {
    const vm = tx = open(`${sw}:vm@conf:vnet=12`, { txSlots: used, rxSlots: 1024 });
    const t = vm.txRings[0]!, rr = rx.rxRings[0]!, u8 = vm.u8;
    for (let k = 0; k < used; k++) {
      const i = k % pieces;
      u8.set(whole.subarray(i * bs, Math.min(whole.length, (i + 1) * bs)), t.buf(k));
    }
    const perFrame = Math.ceil((FRAME - HDRS) / MSS);
    let k = 0, segs = 0, frames = 0;
    const step = (): number => {
      for (let i = 0; i < pieces; i++) {
        const n = Math.min(bs, whole.length - i * bs);
        t.setLen(k + i, n);
        t.setSlotFlags(k + i, i < pieces - 1 ? NS_MOREFRAG : 0);
      }
      k += pieces;
      if (k === used) k = 0;
      t.advance(k);
      vm.txsync();
      rx.rxsync();
      segs += rr.space();
      rr.advance(rr.tail);
      frames++;
      return 1;
    };
    const r = await runInThread({ durationMs, warmupMs: warmupOf(opts), frameLen: FRAME, step });
    const st = tx.stats();
    if (st.txDrops > 0 || segs !== frames * perFrame) throw new Error(`${st.txDrops} super-frames not delivered, ${segs} segments for ${frames} frames (${perFrame} each)`);
    const cpuS = Number(r.extra?.cpuSeconds);
    return {
      ...r,
      notes: `${perFrame} segments of <= ${HDRS + MSS} B per 64 KiB frame, vnet=12 -> vnet=0; ${(r.bytes * 8 / cpuS / 1e9).toFixed(1)} Gbit/s per CPU-second`,
      extra: { cpuSeconds: cpuS, segmentsPerSec: Math.round(r.packets * perFrame / r.seconds) },
    };
  } finally {
    tx?.close();
    rx.close();
  }
}

registerCase({
  name: 'vale-tso-64k',
  description: 'VALE vnet=12 -> vnet=0, one thread: 64 KiB TCPv4 TSO chains segmented to MSS 1448 by the switch into the receiver ring',
  frameLen: FRAME,
  kind: 'other',
  run: (d, o) => runValeTso(d, o),
});
