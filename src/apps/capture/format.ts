// Text output of `nmts capture` (one short tcpdump-like line per packet) and tcpdump's
// file naming for -G (strftime) and -C/-W (numbered files).
//
// The lines follow tcpdump's default output without name resolution, shortened:
//   12:00:01.000123 IP 10.0.0.1.1234 > 10.0.0.2.53: UDP, length 18
//   12:00:01.000124 IP 10.0.0.1.1234 > 10.0.0.2.80: Flags [S], seq 7, win 512, length 0
//   12:00:01.000125 IP6 fd00::1.1234 > fd00::2.53: UDP, length 18
//   12:00:01.000126 ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28
// -q shortens TCP to "tcp LEN" as tcpdump -q does; -e prefixes the Ethernet header.
// Formatting allocates strings: it is for people reading a terminal, not for line rate.

import { formatIPv4, formatIPv6, formatMac } from '../../packet/addr.js';

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/** HH:MM:SS.ffffff (or .fffffffff with nano) in local time, as tcpdump prints. */
export function formatTime(tsSec: number, tsFrac: number, nano: boolean): string {
  const d = new Date(tsSec * 1000);
  return `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(tsFrac, nano ? 9 : 6)}`;
}

const rd16 = (u: Uint8Array, o: number): number => (u[o]! << 8) | u[o + 1]!;
const rd32 = (u: Uint8Array, o: number): number => ((u[o]! << 24) | (u[o + 1]! << 16) | (u[o + 2]! << 8) | u[o + 3]!) >>> 0;

const ETHERTYPES: Record<number, string> = { 0x0800: 'IPv4', 0x0806: 'ARP', 0x86dd: 'IPv6', 0x8100: '802.1Q', 0x88a8: '802.1Q-QinQ', 0x8035: 'Reverse ARP' };

function tcpFlags(f: number): string {
  let s = '';
  if (f & 0x02) s += 'S';
  if (f & 0x01) s += 'F';
  if (f & 0x08) s += 'P';
  if (f & 0x04) s += 'R';
  if (f & 0x20) s += 'U';
  if (f & 0x40) s += 'E';
  if (f & 0x80) s += 'W';
  if (f & 0x10) s += '.';
  return s === '' ? 'none' : s;
}

/**
 * The transport part after "src > dst" for protocol `proto` whose header starts at `l4`,
 * with `l4len` bytes of transport header + payload (from the IP header), `end` the end of
 * the captured bytes. Returns [srcSuffix, dstSuffix, text].
 */
function transport(u: Uint8Array, l4: number, l4len: number, end: number, proto: number, quick: boolean, v6: boolean): [string, string, string] {
  const cut = (need: number): boolean => l4 + need > end;
  switch (proto) {
    case 17: {
      if (cut(8)) return ['', '', 'UDP [|udp]'];
      const ulen = rd16(u, l4 + 4);
      return [`.${rd16(u, l4)}`, `.${rd16(u, l4 + 2)}`, `UDP, length ${Math.max(0, (ulen >= 8 ? ulen : l4len) - 8)}`];
    }
    case 6: {
      if (cut(4)) return ['', '', 'tcp [|tcp]'];
      const sp = `.${rd16(u, l4)}`, dp = `.${rd16(u, l4 + 2)}`;
      if (cut(20)) return [sp, dp, quick ? 'tcp [|tcp]' : 'Flags [|tcp]'];
      const hl = (u[l4 + 12]! >> 4) * 4;
      const len = Math.max(0, l4len - hl);
      if (quick) return [sp, dp, `tcp ${len}`];
      const flags = u[l4 + 13]!;
      const seq = rd32(u, l4 + 4);
      let t = `Flags [${tcpFlags(flags)}], seq ${seq}${len > 0 ? `:${(seq + len) >>> 0}` : ''}`;
      if (flags & 0x10) t += `, ack ${rd32(u, l4 + 8)}`;
      t += `, win ${rd16(u, l4 + 14)}, length ${len}`;
      return [sp, dp, t];
    }
    case 132:
      return cut(4) ? ['', '', 'sctp [|sctp]'] : [`.${rd16(u, l4)}`, `.${rd16(u, l4 + 2)}`, `sctp, length ${l4len}`];
    case 1: case 58: {
      const name = v6 ? 'ICMP6' : 'ICMP';
      if (cut(1)) return ['', '', `${name} [|icmp]`];
      const type = u[l4]!;
      const echo = v6 ? (type === 128 ? 'echo request' : type === 129 ? 'echo reply' : '') : (type === 8 ? 'echo request' : type === 0 ? 'echo reply' : '');
      if (echo && !cut(8)) return ['', '', `${name}${v6 ? ',' : ''} ${echo}, id ${rd16(u, l4 + 4)}, seq ${rd16(u, l4 + 6)}, length ${l4len}`];
      return ['', '', `${name}${v6 ? ',' : ''} type ${type}, length ${l4len}`];
    }
    default:
      return ['', '', `ip-proto-${proto} ${l4len}`];
  }
}

/** IPv6 extension headers skipped to find the transport (hop-by-hop, routing, dest options). */
const V6_EXT = new Set([0, 43, 60]);

/** One line without the timestamp for the frame u[off, off+capLen) of origLen bytes on the wire. */
export function describePacket(u: Uint8Array, off: number, capLen: number, origLen: number, quick = false, linkHeader = false): string {
  const end = off + capLen;
  if (capLen < 14) return `[|ether] length ${origLen}`;
  let type = rd16(u, off + 12);
  let at = off + 14;
  let vlan = '';
  while ((type === 0x8100 || type === 0x88a8) && at + 4 <= end) {
    vlan += `vlan ${rd16(u, at) & 0xfff}, `;
    type = rd16(u, at + 2);
    at += 4;
  }
  const link = linkHeader
    ? `${formatMac(u, off + 6)} > ${formatMac(u, off)}, ethertype ${ETHERTYPES[type] ?? 'Unknown'} (0x${type.toString(16).padStart(4, '0')}), length ${origLen}: ${vlan}`
    : vlan;
  if (type === 0x0800) {
    if (at + 20 > end) return `${link}IP [|ip]`;
    const ihl = (u[at]! & 15) * 4;
    const tot = rd16(u, at + 2);
    const proto = u[at + 9]!;
    const frag = rd16(u, at + 6);
    const src = formatIPv4(rd32(u, at + 12)), dst = formatIPv4(rd32(u, at + 16));
    if ((frag & 0x1fff) !== 0) return `${link}IP ${src} > ${dst}: ip-proto-${proto} (frag ${rd16(u, at + 4)}:${tot - ihl}@${(frag & 0x1fff) * 8}${frag & 0x2000 ? '+' : ''})`;
    const [sp, dp, t] = transport(u, at + ihl, Math.max(0, tot - ihl), end, proto, quick, false);
    return `${link}IP ${src}${sp} > ${dst}${dp}: ${t}`;
  }
  if (type === 0x86dd) {
    if (at + 40 > end) return `${link}IP6 [|ip6]`;
    let nh = u[at + 6]!;
    let plen = rd16(u, at + 4);
    const src = formatIPv6(u, at + 8), dst = formatIPv6(u, at + 24);
    let l4 = at + 40;
    while (V6_EXT.has(nh) && l4 + 8 <= end) {
      const hl = (u[l4 + 1]! + 1) * 8;
      nh = u[l4]!;
      l4 += hl;
      plen -= hl;
    }
    if (nh === 44) return `${link}IP6 ${src} > ${dst}: frag`;
    const [sp, dp, t] = transport(u, l4, Math.max(0, plen), end, nh, quick, true);
    return `${link}IP6 ${src}${sp} > ${dst}${dp}: ${t}`;
  }
  if (type === 0x0806 || type === 0x8035) {
    const name = type === 0x0806 ? 'ARP' : 'RARP';
    if (at + 28 > end) return `${link}${name}, [|arp]`;
    const op = rd16(u, at + 6);
    const spa = formatIPv4(rd32(u, at + 14)), tpa = formatIPv4(rd32(u, at + 24));
    if (op === 1) return `${link}${name}, Request who-has ${tpa} tell ${spa}, length ${origLen - (at - off)}`;
    if (op === 2) return `${link}${name}, Reply ${spa} is-at ${formatMac(u, at + 8)}, length ${origLen - (at - off)}`;
    return `${link}${name}, op ${op}, length ${origLen - (at - off)}`;
  }
  if (linkHeader) return `${link}length ${origLen - (at - off)}`;
  return `${vlan}${formatMac(u, off + 6)} > ${formatMac(u, off)}, ethertype ${ETHERTYPES[type] ?? 'Unknown'} (0x${type.toString(16).padStart(4, '0')}), length ${origLen}`;
}

/**
 * The strftime conversions tcpdump's -G names use, in local time: %Y %y %m %d %H %M %S %j
 * %s (epoch seconds) %e %b %a %% ; anything else is kept as written.
 */
export function strftime(fmt: string, d: Date): string {
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  return fmt.replace(/%(.)/g, (all, c: string) => {
    switch (c) {
      case 'Y': return String(d.getFullYear());
      case 'y': return pad(d.getFullYear() % 100, 2);
      case 'm': return pad(d.getMonth() + 1, 2);
      case 'd': return pad(d.getDate(), 2);
      case 'e': return String(d.getDate()).padStart(2, ' ');
      case 'H': return pad(d.getHours(), 2);
      case 'M': return pad(d.getMinutes(), 2);
      case 'S': return pad(d.getSeconds(), 2);
      case 'j': {
        const start = new Date(d.getFullYear(), 0, 1);
        return pad(Math.round((new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() - start.getTime()) / 86_400_000) + 1, 3);
      }
      case 's': return String(Math.floor(d.getTime() / 1000));
      case 'b': return mon[d.getMonth()]!;
      case 'a': return day[d.getDay()]!;
      case '%': return '%';
      default: return all;
    }
  });
}

/** Digits tcpdump pads -C file numbers to with -W n (the digits of n - 1). */
export function fileNumberWidth(n: number): number {
  let c = 0;
  for (let x = n - 1; x > 0; x = Math.floor(x / 10)) c++;
  return c;
}

/** tcpdump's MakeFilename: name, name1, name2 ... or name0, name1 ... padded to `width`. */
export function numberedName(name: string, n: number, width: number): string {
  if (n === 0 && width === 0) return name;
  return width === 0 ? `${name}${n}` : `${name}${String(n).padStart(width, '0')}`;
}
