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
 */
import { registerCase, type RunOptions, type CaseResult } from './cases.js';
import { runInThread, warmupOf } from './harness.js';
import { Segmenter } from '../src/packet/gso.js';
import { VNET_GSO_TCPV4, VNET_OK } from '../src/packet/vnet-hdr.js';
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
