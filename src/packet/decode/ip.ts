// IPv4 and IPv6 in tcpdump's words: "10.0.0.1.1234 > 10.0.0.2.53: <transport>", with -v the
// IPv4 header "(tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto UDP (17), length 46)"
// on its own line and the addresses indented below it, or "(hlim 64, next-header UDP (17)
// payload length: 26) " for IPv6. Fragments after the first print "ip-proto-N"; the
// transport checksums are checked (under -v) only on unfragmented, fully captured packets.
// IPv6 extension headers (hop-by-hop, routing, destination options) are stepped over.
import { formatIPv4, formatIPv6 } from '../addr.js';
import { fold, l4Checksum, rd16, rd32, sum16, type DecodeOptions } from './options.js';
import { tcpText, type TcpSeqTable } from './tcp.js';
import { icmpChecksum, icmpText, udpText } from './udp-icmp.js';
import { icmp6Text } from './icmp6.js';

const PROTO: Record<number, string> = {
  0: 'Options', 1: 'ICMP', 2: 'IGMP', 4: 'IPIP', 6: 'TCP', 17: 'UDP', 41: 'IPv6', 43: 'Routing', 44: 'frag',
  47: 'GRE', 50: 'ESP', 51: 'AH', 58: 'ICMPv6', 59: 'NONE', 60: 'DSTOPTS', 103: 'PIM', 112: 'VRRP', 132: 'SCTP',
};
const protoName = (p: number): string => PROTO[p] ?? 'unknown';

const IPOPT: Record<number, string> = { 0: 'EOL', 1: 'NOP', 7: 'RR', 68: 'TS', 131: 'LSRR', 137: 'SSRR', 148: 'RA' };

function ipOptions(u: Uint8Array, at: number, end: number): string {
  const parts: string[] = [];
  while (at < end) {
    const t = u[at]!;
    if (t === 0 || t === 1) { parts.push(IPOPT[t]!); at++; continue; }
    const len = at + 1 < end ? u[at + 1]! : 0;
    parts.push(IPOPT[t] ?? `unknown ${t}`);
    if (len < 2) break;
    at += len;
  }
  return parts.join(',');
}

/** The transport part: "src[.port] > dst[.port]: text". */
function transport(u: Uint8Array, l4: number, end: number, l4len: number, proto: number, addr: number, alen: number,
  src: string, dst: string, o: DecodeOptions, table: TcpSeqTable, whole: boolean): string {
  const v6 = alen === 16;
  const full = whole && l4 + l4len <= end;
  if ((proto === 6 || proto === 17 || proto === 132) && l4 + 4 <= end) {
    const ports = `${src}.${rd16(u, l4)} > ${dst}.${rd16(u, l4 + 2)}: `;
    if (proto === 6) {
      const csum = full && l4len >= 20 ? l4Checksum(u, addr, alen, 6, l4, l4len, l4 + 16) : -1;
      return ports + tcpText(u, l4, end, l4len, addr, alen, o, table, csum);
    }
    if (proto === 17) {
      const csum = full && l4len >= 8 ? l4Checksum(u, addr, alen, 17, l4, l4len, l4 + 6) : -1;
      return ports + udpText(u, l4, end, l4len, v6, o, csum === 0 ? 0xffff : csum);
    }
    return `${ports}sctp, length ${l4len}`;
  }
  if (proto === 1 && !v6) return `${src} > ${dst}: ${icmpText(u, l4, end, l4len, o)}`;
  if (proto === 58 && v6) {
    const csum = full && l4len >= 4 ? l4Checksum(u, addr, alen, 58, l4, l4len, l4 + 2) : -1;
    return `${src} > ${dst}: ${icmp6Text(u, l4, end, l4len, o, csum)}`;
  }
  if (proto === 6 || proto === 17) return `${src} > ${dst}: [|${proto === 6 ? 'tcp' : 'udp'}]`;
  return `${src} > ${dst}: ip-proto-${proto} ${l4len}`;
}

/** IPv4 at u[at, end); the text after "IP " (or after the link header with -e). */
export function ipv4Text(u: Uint8Array, at: number, end: number, o: DecodeOptions, table: TcpSeqTable): string {
  if (at + 20 > end) return '[|ip]';
  const vihl = u[at]!;
  if (vihl >> 4 !== 4) return `IP${vihl >> 4} bad version`;
  const ihl = (vihl & 15) * 4;
  const tot = rd16(u, at + 2);
  if (ihl < 20) return `bad-hlen ${ihl}`;
  if (tot < ihl) return `truncated-ip - ${ihl - tot} bytes missing!`;
  const tos = u[at + 1]!, id = rd16(u, at + 4), frag = rd16(u, at + 6), ttl = u[at + 8]!, proto = u[at + 9]!;
  const off = (frag & 0x1fff) * 8;
  const src = formatIPv4(rd32(u, at + 12)), dst = formatIPv4(rd32(u, at + 16));
  let head = '';
  if (o.verbose > 0) {
    let flags = '';
    if (frag & 0x8000) flags += 'rsvd';
    if (frag & 0x4000) flags += 'DF';
    if (frag & 0x2000) flags += '+';
    const ecn = ['', ',ECT(1)', ',ECT(0)', ',CE'][tos & 3]!;
    head = `(tos 0x${tos.toString(16)}${ecn}, ttl ${ttl}, id ${id}, offset ${off}, flags [${flags || 'none'}], proto ${protoName(proto)} (${proto}), length ${tot}`;
    if (ihl > 20) head += `, options (${ipOptions(u, at + 20, Math.min(at + ihl, end))})`;
    if (at + ihl <= end) {
      const s = fold(sum16(u, at, ihl, 0));
      if (s !== 0xffff) {
        const have = rd16(u, at + 10);
        let rest = sum16(u, at, ihl, 0) - have;
        while (rest < 0) rest += 0xffff;
        head += `, bad cksum ${have.toString(16)} (->${((~fold(rest)) & 0xffff).toString(16)})!`;
      }
    }
    head += ')\n    ';
  }
  if (off !== 0) return `${head}${src} > ${dst}: ip-proto-${proto}`;
  const whole = (frag & 0x2000) === 0;
  const l4 = at + ihl;
  return head + transport(u, l4, end, tot - ihl, proto, at + 12, 4, src, dst, o, table, whole);
}

/** Hop-by-hop / destination options as tcpdump -v shows them: "(rtalert: 0x0000) (padn) ". */
function v6Options(u: Uint8Array, at: number, end: number): string {
  let s = '';
  while (at < end) {
    const t = u[at]!;
    if (t === 0) { s += '(pad1)'; at++; continue; }
    if (at + 2 > end) break;
    const l = u[at + 1]!;
    if (t === 1) s += '(padn)';
    else if (t === 5 && l === 2 && at + 4 <= end) s += `(rtalert: 0x${rd16(u, at + 2).toString(16).padStart(4, '0')}) `;
    else if (t === 0xc2 && l === 4 && at + 6 <= end) s += `(jumbo: ${rd32(u, at + 2)}) `;
    else s += `(opt_type 0x${t.toString(16).padStart(2, '0')}: len=${l}) `;
    at += 2 + l;
  }
  return s === '' ? '' : `${s} `;
}

/** The IPv6 transport after "src > dst: " was printed: the ports (TCP/UDP) or the ICMPv6 text. */
function transport6(u: Uint8Array, l4: number, end: number, len: number, nh: number, addr: number,
  src: string, dst: string, o: DecodeOptions, table: TcpSeqTable, whole = true): string {
  const t = transport(u, l4, end, len, nh, addr, 16, src, dst, o, table, whole);
  // transport() starts with "src[.port] > dst[.port]: "; for ICMPv6 and unknown headers the
  // addresses are already printed
  if (nh === 6 || nh === 17 || nh === 132) return t;
  return t.slice(`${src} > ${dst}: `.length);
}

/** IPv6 at u[at, end); the text after "IP6 " (or after the link header with -e). */
export function ipv6Text(u: Uint8Array, at: number, end: number, o: DecodeOptions, table: TcpSeqTable): string {
  if (at + 40 > end) return '[|ip6]';
  const plen = rd16(u, at + 4);
  let nh = u[at + 6]!;
  const src = formatIPv6(u, at + 8), dst = formatIPv6(u, at + 24);
  let head = '';
  if (o.verbose > 0) {
    const w = rd32(u, at);
    const tc = (w >>> 20) & 0xff, flow = w & 0xfffff;
    head = `(${tc ? `class 0x${tc.toString(16).padStart(2, '0')}, ` : ''}${flow ? `flowlabel 0x${flow.toString(16).padStart(5, '0')}, ` : ''}` +
      `hlim ${u[at + 7]!}, next-header ${protoName(nh)} (${nh}) payload length: ${plen}) `;
  }
  let l4 = at + 40, len = plen;
  let ext = '';
  while ((nh === 0 || nh === 43 || nh === 60) && l4 + 8 <= end) {
    const hl = (u[l4 + 1]! + 1) * 8;
    if (nh !== 43) ext += `${nh === 0 ? 'HBH' : 'DSTOPT'} ${o.verbose > 0 ? v6Options(u, l4 + 2, Math.min(l4 + hl, end)) : ''}`;
    nh = u[l4]!;
    l4 += hl;
    len -= hl;
  }
  // tcpdump names the addresses first unless TCP/UDP/SCTP follows the IPv6 header directly
  const first = u[at + 6]!;
  if (first !== 6 && first !== 17 && first !== 132) head += `${src} > ${dst}: `;
  head += ext;
  if (nh === 44) {
    if (l4 + 8 > end) return `${head}frag [|frag]`;
    const fo = rd16(u, l4 + 2);
    const text = `${head}frag (${fo & 0xfff8}|${len - 8})`;
    if ((fo & 0xfff8) !== 0) return text;
    return `${text} ${transport6(u, l4 + 8, end, len - 8, u[l4]!, at + 8, src, dst, o, table, false)}`;
  }
  return head + transport6(u, l4, end, len < 0 ? 0 : len, nh, at + 8, src, dst, o, table);
}

export { icmpChecksum };
