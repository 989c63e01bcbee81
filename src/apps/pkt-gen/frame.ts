// Building pkt-gen's frame from the options: the UDP template (addresses, ports, MACs,
// length), or the first packet of a pcap file (-P).
import { readFileSync } from 'node:fs';
import { formatIPv4, formatIPv6, formatMac } from '../../packet/addr.js';
import { UdpFrameTemplate, type UdpFrameOptions } from '../../packet/frame-builder.js';
import { readPcap } from '../../packet/pcap.js';
import type { PktGenOptions } from './options.js';
import { PktGenUsageError } from './options.js';

export type TemplateSpec = UdpFrameOptions & { frameLen: number };

export interface BuiltFrame {
  frame: Uint8Array;
  frameLen: number;
  template: TemplateSpec | null;
  /** "10.0.0.1 -> 10.1.0.1 (00:00:00:00:00:00 -> ff:ff:ff:ff:ff:ff)" */
  describe: string;
}

export function buildFrame(o: PktGenOptions): BuiltFrame {
  if (o.pcapFile) {
    let file;
    try {
      file = readPcap(readFileSync(o.pcapFile));
    } catch (e) {
      throw new PktGenUsageError(`pkt-gen: -P ${o.pcapFile}: ${(e as Error).message}`);
    }
    const p = file.packets[0];
    if (!p) throw new PktGenUsageError(`pkt-gen: -P ${o.pcapFile}: the file has no packets`);
    const frame = new Uint8Array(65536);
    const buf = readFileSync(o.pcapFile);
    frame.set(buf.subarray(p.offset, p.offset + p.capLen));
    return { frame, frameLen: p.capLen, template: null, describe: `packet of ${p.capLen} bytes from ${o.pcapFile}` };
  }
  const spec: TemplateSpec = { family: o.family, srcMac: o.srcMac, dstMac: o.dstMac, src: o.srcRange, dst: o.dstRange, frameLen: o.frameLen };
  let t: UdpFrameTemplate;
  try {
    t = new UdpFrameTemplate(spec);
  } catch (e) {
    throw new PktGenUsageError(`pkt-gen: ${(e as Error).message}`);
  }
  const frame = new Uint8Array(65536);
  const frameLen = t.write(frame, 0);
  const ip = (src: boolean): string => (o.family === 4 ? formatIPv4(src ? t.srcIp : t.dstIp) : formatIPv6(src ? t.srcIp6 : t.dstIp6, 0));
  const describe = `${ip(true)} -> ${ip(false)} (${formatMac(t.srcMac, 0)} -> ${formatMac(t.dstMac, 0)})`;
  return { frame, frameLen, template: spec, describe };
}
