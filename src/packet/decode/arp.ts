// ARP in tcpdump's words: "Request who-has 10.0.0.2 tell 10.0.0.1, length 28", "Reply
// 10.0.0.2 is-at 52:54:00:12:34:56, length 28"; -v adds the hardware and protocol types.
import { formatIPv4, formatMac } from '../addr.js';
import { rd16, rd32, type DecodeOptions } from './options.js';

/** ARP/RARP at u[at, end), `length` the bytes after the link header on the wire. */
export function arpText(u: Uint8Array, at: number, end: number, length: number, o: DecodeOptions): string {
  if (at + 8 > end) return `[|ARP]`;
  const htype = rd16(u, at), ptype = rd16(u, at + 2), hlen = u[at + 4]!, plen = u[at + 5]!, op = rd16(u, at + 6);
  if (htype !== 1 || ptype !== 0x0800 || hlen !== 6 || plen !== 4) {
    return `ARP, hardware type ${htype}, protocol type 0x${ptype.toString(16).padStart(4, '0')}, op ${op}, length ${length}`;
  }
  if (at + 28 > end) return `[|ARP]`;
  const sha = formatMac(u, at + 8), spa = formatIPv4(rd32(u, at + 14));
  const tpa = formatIPv4(rd32(u, at + 24));
  let tha = '';
  for (let i = 0; i < 6; i++) if (u[at + 18 + i] !== 0) { tha = formatMac(u, at + 18); break; }
  const head = o.verbose > 0 ? 'Ethernet (len 6), IPv4 (len 4), ' : '';
  let body: string;
  switch (op) {
    case 1: body = `Request who-has ${tpa}${tha ? ` (${tha})` : ''} tell ${spa}`; break;
    case 2: body = `Reply ${spa} is-at ${sha}`; break;
    case 3: body = `Reverse Request who-is ${tha || formatMac(u, at + 18)} tell ${sha}`; break;
    case 4: body = `Reverse Reply ${tha || formatMac(u, at + 18)} at ${tpa}`; break;
    default: body = `Unknown (${op})`;
  }
  return `${head}${body}, length ${length}`;
}
