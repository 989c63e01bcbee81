// ICMPv6 in tcpdump's words: echo ("ICMP6, echo request, id 7, seq 3, length 18"), neighbor
// discovery ("neighbor solicitation, who has X", "neighbor advertisement, tgt is X", router
// solicitation/advertisement; with -v the flags and the options, "source link-address
// option (1), length 8 (1): MAC", -vv adding each option's bytes) and MLDv2 reports
// ("multicast listener report v2, 2 group record(s)", -v the groups).
import { formatIPv6, formatMac } from '../addr.js';
import { hexLines } from './dump.js';
import { rd16, rd32, type DecodeOptions } from './options.js';
import { hex4 } from './tcp.js';

const ND_OPT: Record<number, string> = {
  1: 'source link-address', 2: 'destination link-address', 3: 'prefix info', 4: 'redirected header', 5: 'mtu',
};
const MLD2_REC = ['', 'is_in', 'is_ex', 'to_in', 'to_ex', 'allow', 'block'];

function ndOptions(u: Uint8Array, at: number, end: number, o: DecodeOptions): string {
  let s = '';
  while (at + 2 <= end) {
    const type = u[at]!, l = u[at + 1]!;
    const len = l * 8;
    if (len === 0 || at + len > end) { s += `\n\t  [|icmp6]`; break; }
    const name = ND_OPT[type];
    s += `\n\t  ${name ?? 'unknown'} option (${type}), length ${len} (${l}): `;
    let known = true;
    if ((type === 1 || type === 2) && len === 8) s += formatMac(u, at + 2);
    else if (type === 5 && len === 8) s += `${rd32(u, at + 4)}`;
    else known = false;
    if (o.verbose > 1 || !known) s += hexLines(u, at + 2, len - 2, false, o.verbose > 1 ? '\n\t    ' : '\n\t  ');
    at += len;
  }
  return s;
}

function mld2Report(u: Uint8Array, l4: number, end: number, o: DecodeOptions): string {
  if (l4 + 8 > end) return 'multicast listener report v2 [|icmp6]';
  const n = rd16(u, l4 + 6);
  let s = `multicast listener report v2, ${n} group record(s)`;
  if (o.verbose === 0) return s;
  let at = l4 + 8;
  for (let i = 0; i < n; i++) {
    if (at + 20 > end) { s += ' [|icmp6]'; break; }
    const type = u[at]!, aux = u[at + 1]! * 4, ns = rd16(u, at + 2);
    s += ` [gaddr ${formatIPv6(u, at + 4)} ${MLD2_REC[type] ?? `type-${type}`}`;
    if (o.verbose === 1) s += `, ${ns} source(s)]`;
    else {
      s += ' {';
      for (let k = 0; k < ns && at + 20 + 16 * k + 16 <= end; k++) s += ` ${formatIPv6(u, at + 20 + 16 * k)}`;
      s += ' }]';
    }
    at += 20 + 16 * ns + aux;
  }
  return s;
}

/** ICMPv6 at u[l4, end), l4len bytes per the IPv6 header; `csum` the checksum it should carry, -1 unknown. */
export function icmp6Text(u: Uint8Array, l4: number, end: number, l4len: number, o: DecodeOptions, csum: number): string {
  if (l4 + 4 > end) return 'ICMP6 [|icmp6]';
  const type = u[l4]!;
  let note = '';
  if (o.verbose > 0 && csum >= 0) {
    const have = rd16(u, l4 + 2);
    note = have === csum ? '[icmp6 sum ok] ' : `[bad icmp6 cksum 0x${hex4(have)} -> 0x${hex4(csum)}!] `;
  }
  const v = o.verbose > 0;
  const optEnd = l4 + l4len < end ? l4 + l4len : end;
  let t: string;
  switch (type) {
    case 128: case 129:
      if (l4 + 8 > end) return `${note}ICMP6, echo ${type === 128 ? 'request' : 'reply'} [|icmp6]`;
      // tcpdump leaves the length out of echo lines under -v
      t = `echo ${type === 128 ? 'request' : 'reply'}, id ${rd16(u, l4 + 4)}, seq ${rd16(u, l4 + 6)}${v ? '' : `, length ${l4len}`}`;
      break;
    case 135:
      if (l4 + 24 > end) return `${note}ICMP6, neighbor solicitation [|icmp6]`;
      t = v ? `neighbor solicitation, length ${l4len}, who has ${formatIPv6(u, l4 + 8)}${ndOptions(u, l4 + 24, optEnd, o)}`
        : `neighbor solicitation, who has ${formatIPv6(u, l4 + 8)}, length ${l4len}`;
      break;
    case 136: {
      if (l4 + 24 > end) return `${note}ICMP6, neighbor advertisement [|icmp6]`;
      const f = u[l4 + 4]!;
      const flags = [f & 0x80 ? 'router' : '', f & 0x40 ? 'solicited' : '', f & 0x20 ? 'override' : ''].filter((x) => x).join(', ');
      t = v ? `neighbor advertisement, length ${l4len}, tgt is ${formatIPv6(u, l4 + 8)}, Flags [${flags || 'none'}]${ndOptions(u, l4 + 24, optEnd, o)}`
        : `neighbor advertisement, tgt is ${formatIPv6(u, l4 + 8)}, length ${l4len}`;
      break;
    }
    case 133:
      t = `router solicitation, length ${l4len}${v ? ndOptions(u, l4 + 8, optEnd, o) : ''}`;
      break;
    case 134:
      t = `router advertisement, length ${l4len}${v && l4 + 16 <= end ? ndOptions(u, l4 + 16, optEnd, o) : ''}`;
      break;
    case 143:
      t = v ? mld2Report(u, l4, end, o) : `${mld2Report(u, l4, end, o)}, length ${l4len}`;
      break;
    case 1: t = `destination unreachable, length ${l4len}`; break;
    case 3: t = `time exceeded in-transit, length ${l4len}`; break;
    default: t = `unknown icmp6 type (${type}), length ${l4len}`;
  }
  return `${note}ICMP6, ${t}`;
}
