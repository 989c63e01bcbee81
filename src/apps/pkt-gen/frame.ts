// Building pkt-gen's frame from the options: the UDP template (addresses, ports, MACs,
// length), or the first packet of a pcap file (-P); VLAN tags (--vlan) go between the MACs
// and the ethertype, and a size mix (-l imix) becomes a schedule of lengths, interleaved.
import { readFileSync } from 'node:fs';
import { formatIPv4, formatIPv6, formatMac } from '../../packet/addr.js';
import { UdpFrameTemplate, type UdpFrameOptions } from '../../packet/frame-builder.js';
import { readPcap } from '../../packet/pcap.js';
import type { PktGenOptions } from './options.js';
import { ETH_P_8021AD, ETH_P_8021Q, PktGenUsageError, vlanBytes } from './options.js';

export type TemplateSpec = UdpFrameOptions & { frameLen: number };

export interface BuiltFrame {
  frame: Uint8Array;
  frameLen: number;
  template: TemplateSpec | null;
  /** "10.0.0.1 -> 10.1.0.1 (00:00:00:00:00:00 -> ff:ff:ff:ff:ff:ff)" */
  describe: string;
  /** Bytes of VLAN tags after the MACs (the template's edits start this much further). */
  tagLen: number;
}

/**
 * The lengths of a size mix in the order they are sent: smooth weighted round-robin, so a
 * cycle holds each length exactly `weight` times and over any run of N frames a length is
 * sent within `weight` of N * weight / total times.
 */
export function sizeSchedule(mix: ReadonlyArray<readonly [number, number]>): Uint32Array {
  const total = mix.reduce((a, [, w]) => a + w, 0);
  const cur = mix.map(() => 0);
  const out = new Uint32Array(total);
  for (let k = 0; k < total; k++) {
    let best = 0;
    for (let i = 0; i < mix.length; i++) {
      cur[i]! += mix[i]![1];
      if (cur[i]! > cur[best]!) best = i;
    }
    cur[best]! -= total;
    out[k] = mix[best]![0];
  }
  return out;
}

/** Insert VLAN tags (outermost first: 802.1ad then 802.1Q for two) after the MACs of `f` (untagged, `len` bytes). */
export function insertVlanTags(f: Uint8Array, len: number, vlan: readonly number[]): number {
  const t = 4 * vlan.length;
  if (t === 0) return len;
  f.copyWithin(12 + t, 12, len);
  for (let i = 0; i < vlan.length; i++) {
    const tpid = vlan.length === 2 && i === 0 ? ETH_P_8021AD : ETH_P_8021Q;
    const p = 12 + 4 * i;
    f[p] = tpid >>> 8; f[p + 1] = tpid & 0xff;
    f[p + 2] = (vlan[i]! >>> 8) & 0x0f; f[p + 3] = vlan[i]! & 0xff; // PCP 0, DEI 0
  }
  return len + t;
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
    return { frame, frameLen: p.capLen, template: null, describe: `packet of ${p.capLen} bytes from ${o.pcapFile}`, tagLen: 0 };
  }
  // -l counts the whole frame: the tags take their bytes from the payload
  const tagLen = vlanBytes(o);
  const shortest = o.sizeMix ? Math.min(...o.sizeMix.map(([l]) => l)) : o.frameLenMin ?? o.frameLen;
  const need = (o.family === 4 ? 42 : 62) + tagLen;
  if (shortest < need) {
    throw new PktGenUsageError(`pkt-gen: -l ${shortest} is too short: IPv${o.family} UDP frames${tagLen ? ` with ${o.vlan.length} VLAN tag${tagLen > 4 ? 's' : ''}` : ''} need at least ${need} bytes`);
  }
  const spec: TemplateSpec = { family: o.family, srcMac: o.srcMac, dstMac: o.dstMac, src: o.srcRange, dst: o.dstRange, frameLen: o.frameLen - tagLen };
  let t: UdpFrameTemplate;
  try {
    t = new UdpFrameTemplate(spec);
  } catch (e) {
    throw new PktGenUsageError(`pkt-gen: ${(e as Error).message}`);
  }
  const frame = new Uint8Array(65536);
  const frameLen = insertVlanTags(frame, t.write(frame, 0), o.vlan);
  const ip = (src: boolean): string => (o.family === 4 ? formatIPv4(src ? t.srcIp : t.dstIp) : formatIPv6(src ? t.srcIp6 : t.dstIp6, 0));
  const describe = `${ip(true)} -> ${ip(false)} (${formatMac(t.srcMac, 0)} -> ${formatMac(t.dstMac, 0)})`;
  return { frame, frameLen, template: spec, describe, tagLen };
}
