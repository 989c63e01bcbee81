// Ethernet and 802.1Q/802.1ad tags, the entry of the text decoders: one line (or, with -v
// for IPv4, two) without the timestamp, as tcpdump prints it for a frame:
//   ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 46
//   IP 10.0.0.1.1234 > 10.0.0.2.53: UDP, length 18
// and with -e the link header first, the tags spelled out (the "IP "/"ARP, " prefix is then
// left out, as tcpdump does):
//   52:54:00:00:00:01 > 52:54:00:00:00:02, ethertype 802.1Q (0x8100), length 60: vlan 10,
//   p 0, ethertype IPv4 (0x0800), 10.0.0.1.1234 > 10.0.0.2.53: UDP, length 18
// A frame of another EtherType prints its link header and a hex dump of what follows, as
// tcpdump does for types it does not know. linkHeaderLength() is where -x/-X start.
import { formatMac } from '../addr.js';
import { arpText } from './arp.js';
import { hexLines } from './dump.js';
import { ipv4Text, ipv6Text } from './ip.js';
import { rd16, type DecodeOptions } from './options.js';
import { TcpSeqTable } from './tcp.js';

const ETHERTYPES: Record<number, string> = {
  0x0800: 'IPv4', 0x0806: 'ARP', 0x86dd: 'IPv6', 0x8100: '802.1Q', 0x88a8: '802.1Q-QinQ', 0x9100: 'QinQ',
  0x8035: 'Reverse ARP', 0x88cc: 'LLDP', 0x8847: 'MPLS unicast', 0x8848: 'MPLS multicast', 0x888e: 'EAPOL',
  0x8863: 'PPPoE D', 0x8864: 'PPPoE S', 0x88f7: 'PTP', 0x8906: 'FCoE', 0x22f0: 'AVTP',
};
const isTag = (t: number): boolean => t === 0x8100 || t === 0x88a8 || t === 0x9100;
const typeName = (t: number): string => ETHERTYPES[t] ?? 'Unknown';
const hex4 = (t: number): string => t.toString(16).padStart(4, '0');

/** Bytes of the Ethernet header and its VLAN tags in u[off, off+capLen) (14 + 4 per tag, capped). */
export function linkHeaderLength(u: Uint8Array, off: number, capLen: number): number {
  if (capLen < 14) return capLen;
  let at = 14;
  let type = rd16(u, off + 12);
  while (isTag(type) && at + 4 <= capLen) { type = rd16(u, off + at + 2); at += 4; }
  return at;
}

/** Decodes frames to text lines; keeps the TCP conversations for relative sequence numbers. */
export class FrameDecoder {
  readonly tcp = new TcpSeqTable();
  constructor(readonly o: DecodeOptions) {}

  /** The line for the Ethernet frame u[off, off+capLen), origLen bytes on the wire. */
  ethernet(u: Uint8Array, off: number, capLen: number, origLen: number): string {
    const o = this.o;
    const end = off + capLen;
    if (capLen < 14) return `[|ether]`;
    let type = rd16(u, off + 12);
    let at = off + 14;
    let link = '';
    if (o.linkHeader) {
      link = `${formatMac(u, off + 6)} > ${formatMac(u, off)}, ` +
        `${o.quick ? typeName(type) : `ethertype ${typeName(type)} (0x${hex4(type)})`}, length ${origLen}: `;
    }
    while (isTag(type)) {
      if (at + 4 > end) return `${link}[|vlan]`;
      const tci = rd16(u, at);
      type = rd16(u, at + 2);
      if (o.linkHeader) {
        link += `vlan ${tci & 0xfff}, p ${tci >> 13}${tci & 0x1000 ? ', DEI' : ''}, ` +
          `${o.quick ? typeName(type) : `ethertype ${typeName(type)} (0x${hex4(type)})`}, `;
      }
      at += 4;
    }
    const length = origLen - (at - off);
    const e = o.linkHeader;
    switch (type) {
      case 0x0800: return `${link}${e ? '' : 'IP '}${ipv4Text(u, at, end, o, this.tcp)}`;
      case 0x86dd: return `${link}${e ? '' : 'IP6 '}${ipv6Text(u, at, end, o, this.tcp)}`;
      case 0x0806: return `${link}${e ? '' : 'ARP, '}${arpText(u, at, end, length, o)}`;
      default: {
        if (!e) {
          link = type < 0x600
            ? `${formatMac(u, off + 6)} > ${formatMac(u, off)}, 802.3, length ${type}: `
            : `${formatMac(u, off + 6)} > ${formatMac(u, off)}, ethertype ${typeName(type)} (0x${hex4(type)}), length ${origLen}: `;
        }
        return `${link}${hexLines(u, at, end - at, false)}`;
      }
    }
  }
}
