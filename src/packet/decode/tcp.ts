// TCP in tcpdump's words: "Flags [S.], seq 1000:1100, ack 1, win 502, options [mss
// 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 100", "tcp 100" with -q, the checksum
// with -v. Sequence numbers are relative to the first ones seen in each conversation (as
// tcpdump does unless -S): the table keeps, per address/port pair, the numbers of the
// packet that opened it; it forgets everything past TCP_CONVERSATIONS entries.
import { rd16, rd32, type DecodeOptions } from './options.js';

/** Conversations remembered for relative sequence numbers before the table starts over. */
export const TCP_CONVERSATIONS = 65536;

const FLAG_CHARS: ReadonlyArray<readonly [number, string]> = [
  [0x01, 'F'], [0x02, 'S'], [0x04, 'R'], [0x08, 'P'], [0x20, 'U'], [0x40, 'E'], [0x80, 'W'], [0x10, '.'],
];

export function tcpFlagText(f: number): string {
  let s = '';
  for (const [bit, c] of FLAG_CHARS) if (f & bit) s += c;
  return s === '' ? 'none' : s;
}

/** The base numbers of one direction-normalised conversation. */
interface Conv { seq: number; ack: number }

export class TcpSeqTable {
  private readonly m = new Map<string, Conv>();
  get size(): number { return this.m.size; }
  get(k: string): Conv | undefined { return this.m.get(k); }
  set(k: string, c: Conv): void {
    if (this.m.size >= TCP_CONVERSATIONS) this.m.clear();
    this.m.set(k, c);
  }
}

/** Compare the address bytes u[a, a+n) and u[b, b+n): <0, 0, >0. */
function cmp(u: Uint8Array, a: number, b: number, n: number): number {
  for (let i = 0; i < n; i++) {
    const d = u[a + i]! - u[b + i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function addrKey(u: Uint8Array, a: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(u[a + i]!);
  return s;
}

function optionsText(u: Uint8Array, at: number, end: number, rev: boolean, thSeq: number, thAck: number): string {
  const parts: string[] = [];
  while (at < end) {
    const kind = u[at]!;
    if (kind === 0) { parts.push('eol'); at++; continue; }
    if (kind === 1) { parts.push('nop'); at++; continue; }
    if (at + 1 >= end) { parts.push('[|tcp]'); break; }
    const len = u[at + 1]!;
    if (len < 2 || at + len > end) { parts.push(`opt-${kind} [bad length ${len}]`); break; }
    switch (kind) {
      case 2: parts.push(len === 4 ? `mss ${rd16(u, at + 2)}` : `mss [bad length ${len}]`); break;
      case 3: parts.push(len === 3 ? `wscale ${u[at + 2]!}` : `wscale [bad length ${len}]`); break;
      case 4: parts.push('sackOK'); break;
      case 5: {
        let s = `sack ${(len - 2) >> 3} `;
        for (let p = at + 2; p + 8 <= at + len; p += 8) {
          const base = rev ? thSeq : thAck;
          s += `{${(rd32(u, p) - base) >>> 0}:${(rd32(u, p + 4) - base) >>> 0}}`;
        }
        parts.push(s);
        break;
      }
      case 8: parts.push(len === 10 ? `TS val ${rd32(u, at + 2)} ecr ${rd32(u, at + 6)}` : `TS [bad length ${len}]`); break;
      case 30: parts.push(`mptcp`); break;
      case 34: parts.push(`tfo`); break;
      default: parts.push(`unknown-${kind} 0x${Array.from(u.subarray(at + 2, at + len), (b) => b.toString(16).padStart(2, '0')).join('')}`);
    }
    at += len;
  }
  return parts.join(',');
}

/**
 * The TCP part after "src.port > dst.port: " for the segment at u[l4, end), `l4len` bytes
 * long per the IP header; `addr`/`alen` locate the source then destination address (for the
 * conversation key), `csum` is the checksum it should carry or -1 when it cannot be checked
 * (a fragment, a cut capture).
 */
export function tcpText(u: Uint8Array, l4: number, end: number, l4len: number, addr: number, alen: number,
  o: DecodeOptions, table: TcpSeqTable, csum: number): string {
  if (l4 + 20 > end) return o.quick ? 'tcp [|tcp]' : '[|tcp]';
  const sport = rd16(u, l4), dport = rd16(u, l4 + 2);
  const hl = (u[l4 + 12]! >> 4) * 4;
  if (hl < 20) return `tcp [bad hdr length ${hl} - too short, < 20]`;
  const length = l4len - hl;
  if (length < 0) return `tcp [bad hdr length ${hl} - too long, > ${l4len}]`;
  if (o.quick) return `tcp ${length}`;
  const flags = u[l4 + 13]!;
  let seq = rd32(u, l4 + 4), ack = rd32(u, l4 + 8);
  const win = rd16(u, l4 + 14), urp = rd16(u, l4 + 18);
  let thSeq = 0, thAck = 0, rev = false;
  if (!o.absoluteSeq && (flags & 0x10) !== 0) {
    // tcpdump's key: the pair ordered by port, then by address when the ports are equal
    const c = cmp(u, addr, addr + alen, alen);
    rev = sport > dport || (sport === dport && c > 0);
    const a = rev ? addr + alen : addr, b = rev ? addr : addr + alen;
    const key = `${addrKey(u, a, alen)}${addrKey(u, b, alen)}${rev ? dport : sport}:${rev ? sport : dport}`;
    let conv = table.get(key);
    if (conv === undefined || (flags & 0x02) !== 0) {
      conv = rev ? { ack: seq, seq: (ack - 1) >>> 0 } : { seq, ack: (ack - 1) >>> 0 };
      table.set(key, conv);
    } else if (rev) {
      seq = (seq - conv.ack) >>> 0; ack = (ack - conv.seq) >>> 0;
    } else {
      seq = (seq - conv.seq) >>> 0; ack = (ack - conv.ack) >>> 0;
    }
    thSeq = conv.seq; thAck = conv.ack;
  }
  let t = `Flags [${tcpFlagText(flags)}]`;
  if (o.verbose > 0 && csum >= 0) {
    const have = rd16(u, l4 + 16);
    t += have === csum ? `, cksum 0x${hex4(have)} (correct)` : `, cksum 0x${hex4(have)} (incorrect -> 0x${hex4(csum)})`;
  }
  if (o.verbose > 1 || length > 0 || (flags & 0x07) !== 0) {
    t += `, seq ${seq}`;
    if (length > 0) t += `:${(seq + length) >>> 0}`;
  }
  if (flags & 0x10) t += `, ack ${ack}`;
  t += `, win ${win}`;
  if (flags & 0x20) t += `, urg ${urp}`;
  if (hl > 20) {
    const oe = l4 + hl < end ? l4 + hl : end;
    t += `, options [${optionsText(u, l4 + 20, oe, rev, thSeq, thAck)}]`;
  }
  return `${t}, length ${length}`;
}

export const hex4 = (v: number): string => v.toString(16).padStart(4, '0');
