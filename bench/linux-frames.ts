// The one 60-byte frame every --linux sender sends (a pkt-gen style UDP frame, built by our own
// frame builder), in the forms the peers read: a pcap for tcpreplay, a byte-list configuration for
// trafgen, raw bytes for the XDP generator. Addresses are from the benchmarking range (RFC 2544)
// and the destination MAC is nobody's, so the stack of the receiving veth drops the frames early
// (PACKET_OTHERHOST) and never answers.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PcapWriter } from '../src/packet/pcap.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';

export const FRAME_LEN = 60;
export const SRC_MAC = '02:00:00:00:00:01';
export const DST_MAC = '02:00:00:00:00:02';

export function frame(): Uint8Array {
  const t = new UdpFrameTemplate({ family: 4, srcMac: SRC_MAC, dstMac: DST_MAC, src: '198.18.0.1:1234', dst: '198.18.0.2:4321', frameLen: FRAME_LEN });
  const f = new Uint8Array(FRAME_LEN);
  t.write(f, 0);
  return f;
}

/**
 * A pcap of `n` copies of the frame. tcpreplay -K loads it into memory once and -l 0 loops over
 * it; 1000 packets keep the per-loop overhead (a pass over the file's list) out of the rate.
 */
export function writePcap(dir: string, n = 1000): string {
  const f = frame();
  const w = new PcapWriter({});
  const parts: Uint8Array[] = [w.header()];
  for (let i = 0; i < n; i++) parts.push(w.record(f, 0, FRAME_LEN, 0, i));
  const file = join(dir, 'linux-60.pcap');
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

/** trafgen's configuration language: one packet, written as its bytes (`{ 0x02, 0x00, ... }`). */
export function writeTrafgenConf(dir: string): string {
  const bytes = [...frame()].map((b) => `0x${b.toString(16).padStart(2, '0')}`);
  const file = join(dir, 'linux-60.trafgen');
  writeFileSync(file, `/* ${FRAME_LEN}-byte UDP frame, ${SRC_MAC} -> ${DST_MAC} */\n{\n  ${bytes.join(', ')}\n}\n`);
  return file;
}
