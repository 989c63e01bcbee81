// UDP and ICMP in tcpdump's words: "UDP, length 18", "ICMP echo request, id 1, seq 2,
// length 64", with tcpdump's checksum notes under -v ("[udp sum ok]": IPv4 from -vv, IPv6
// from -v, as tcpdump). ICMPv6 is icmp6.ts.
import { formatIPv4 } from '../addr.js';
import { fold, rd16, rd32, sum16, type DecodeOptions } from './options.js';
import { hex4 } from './tcp.js';

/** The UDP part after the ports; `csum` the checksum it should carry, -1 unknown. */
export function udpText(u: Uint8Array, l4: number, end: number, l4len: number, v6: boolean, o: DecodeOptions, csum: number): string {
  if (l4 + 8 > end) return 'UDP [|udp]';
  const ulen = rd16(u, l4 + 4);
  if (ulen < 8) return `UDP, bad length ${ulen} < 8`;
  if (ulen > l4len) return `UDP, bad length ${ulen} > ${l4len}`;
  let note = '';
  if (csum >= 0 && (v6 ? o.verbose > 0 : o.verbose > 1)) {
    const have = rd16(u, l4 + 6);
    if (have === 0 && !v6) note = '[no cksum] ';
    else note = have === csum ? '[udp sum ok] ' : `[bad udp cksum 0x${hex4(have)} -> 0x${hex4(csum)}!] `;
  }
  return `${note}${o.quick ? 'UDP' : 'UDP'}, length ${ulen - 8}`;
}

const UNREACH = ['net', 'host', 'protocol', 'port'];

/** ICMP at u[l4, end), l4len bytes per the IP header. */
export function icmpText(u: Uint8Array, l4: number, end: number, l4len: number, _o: DecodeOptions): string {
  if (l4 + 4 > end) return 'ICMP [|icmp]';
  const type = u[l4]!, code = u[l4 + 1]!;
  let t: string;
  if ((type === 8 || type === 0) && l4 + 8 <= end) {
    t = `echo ${type === 8 ? 'request' : 'reply'}, id ${rd16(u, l4 + 4)}, seq ${rd16(u, l4 + 6)}`;
  } else if (type === 3 && l4 + 28 <= end) {
    // the quoted datagram's header names what was unreachable
    const ip = l4 + 8;
    const dst = formatIPv4(rd32(u, ip + 16));
    const ihl = (u[ip]! & 15) * 4;
    const proto = u[ip + 9]!;
    if (code === 3 && l4 + 8 + ihl + 4 <= end) {
      t = `${dst} ${proto === 6 ? 'tcp' : proto === 17 ? 'udp' : `ip-proto-${proto}`} port ${rd16(u, ip + ihl + 2)} unreachable`;
    } else if (code === 2) t = `${dst} protocol ${proto} unreachable`;
    else if (code < 2) t = `${UNREACH[code]} ${dst} unreachable`;
    else t = `${dst} unreachable - code ${code}`;
  } else if (type === 11) {
    t = code === 0 ? 'time exceeded in-transit' : 'ip reassembly time exceeded';
  } else {
    t = `type-#${type}`;
  }
  return `ICMP ${t}, length ${l4len}`;
}

/** The checksum ICMP carries over u[l4, l4+len) (no pseudo header). */
export function icmpChecksum(u: Uint8Array, l4: number, len: number): number {
  let s = sum16(u, l4, len, 0) - rd16(u, l4 + 2);
  while (s < 0) s += 0xffff;
  return (~fold(s)) & 0xffff;
}
