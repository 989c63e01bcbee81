// tcpdump-style filter expressions (a pcap-filter(7) subset) compiled once
// to a JS predicate over an Ethernet frame held in place.
//
// The parser follows libpcap's grammar.y: `and` and `or` have EQUAL
// precedence and associate to the left (`a or b and c` is `(a or b) and c`),
// `not` binds tightest, and a bare value after `and`/`or`/`not`/`(` inherits
// the qualifiers of the primitive before it (`host a or b`, `port 53 or 80`).
// The generated code mirrors the BPF libpcap emits for each primitive (same
// fields, same offsets), including two BPF behaviours that matter on real
// traffic:
//   - after `vlan`, every LATER primitive (in text order, whatever the
//     parentheses) reads 4 bytes further in, as tcpdump does;
//   - a load past the end of the captured bytes rejects the whole packet (BPF
//     aborts the program with "return 0"), it does not just make one
//     primitive false — so `not tcp port 80` does not match a truncated TCP
//     segment whose ports are cut off.
// The predicate allocates nothing: the source is generated once and turned
// into a function with `new Function`.

import { parseIPv6 } from './addr.js';

/** Reads the Ethernet frame u8[off, off+len); true when it matches. */
export type PacketFilter = (u8: Uint8Array, off: number, len: number) => boolean;

/** Limits that keep the parser and the generated predicate within the JS stack (libpcap's BPF is bounded too). */
export const FILTER_MAX_LENGTH = 262144; // characters
export const FILTER_MAX_DEPTH = 200; // nested '(' and 'not'
export const FILTER_MAX_TERMS = 4096; // 'and' / 'or' operands

/** A filter expression that cannot be compiled; `position` is the 0-based column of the problem. */
export class FilterError extends Error {
  readonly expression: string;
  readonly position: number;
  readonly detail: string;
  constructor(expression: string, position: number, detail: string, what = 'error') {
    const shown = expression.length > 200 ? `${expression.slice(0, 200)}...` : expression;
    super(position <= 200
      ? `${what} in filter "${shown}" at ${position}: ${detail}\n  ${shown}\n  ${' '.repeat(position)}^`
      : `${what} in filter "${shown}" at ${position}: ${detail}`);
    this.name = 'FilterError';
    this.expression = expression;
    this.position = position;
    this.detail = detail;
  }
}

/** A filter that does not parse. */
export class FilterSyntaxError extends FilterError {
  constructor(expression: string, position: number, detail: string) {
    super(expression, position, detail, 'syntax error');
    this.name = 'FilterSyntaxError';
  }
}

// ------------------------------------------------------------------ lexer

type TokKind = 'word' | 'esc' | 'op' | 'eof';
interface Tok { kind: TokKind; text: string; pos: number }

const WORD_RE = /[A-Za-z0-9_.:-]/;
const OPS2 = ['&&', '||', '==', '!=', '<=', '>='];
const OPS1 = ['(', ')', '!', '/', '<', '>', '='];

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    const two = src.slice(i, i + 2);
    if (OPS2.includes(two)) { out.push({ kind: 'op', text: two, pos: i }); i += 2; continue; }
    if (OPS1.includes(c)) { out.push({ kind: 'op', text: c, pos: i }); i++; continue; }
    if (c === '\\' || WORD_RE.test(c)) {
      const start = i;
      if (c === '\\') i++;
      const wStart = i;
      while (i < src.length && WORD_RE.test(src[i]!)) i++;
      if (c === '\\' && i === wStart) throw new FilterSyntaxError(src, start, "expected a name after '\\'");
      out.push({ kind: c === '\\' ? 'esc' : 'word', text: src.slice(wStart, i), pos: start });
      continue;
    }
    throw new FilterSyntaxError(src, i, `unexpected character '${c}'${'[]+-*&|%^'.includes(c) ? ' (arithmetic expressions are not supported)' : ''}`);
  }
  out.push({ kind: 'eof', text: '', pos: src.length });
  return out;
}

// ------------------------------------------------------------------ qualifiers

type Proto = 'default' | 'link' | 'ip' | 'ip6' | 'arp' | 'rarp' | 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmp6' | 'igmp';
type Dir = 'default' | 'src' | 'dst' | 'or' | 'and';
type Addr = 'default' | 'host' | 'net' | 'port' | 'portrange' | 'proto';
interface Qual { proto: Proto; dir: Dir; addr: Addr }

const PNAMES: Record<string, Proto> = {
  ether: 'link', link: 'link', ip: 'ip', ip6: 'ip6', arp: 'arp', rarp: 'rarp',
  tcp: 'tcp', udp: 'udp', sctp: 'sctp', icmp: 'icmp', icmp6: 'icmp6', igmp: 'igmp',
};
const AQUALS: Record<string, Addr> = { host: 'host', net: 'net', port: 'port', portrange: 'portrange' };
const OTHER = new Set(['vlan', 'less', 'greater', 'len', 'broadcast', 'multicast']);
const RESERVED = new Set([
  ...Object.keys(PNAMES), ...Object.keys(AQUALS), ...OTHER,
  'src', 'dst', 'proto', 'and', 'or', 'not', 'mask',
]);

const IP_PROTOS: Record<string, number> = {
  icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, icmp6: 58, pim: 103, vrrp: 112, sctp: 132,
};
const ETHER_PROTOS: Record<string, number> = { ip: 0x0800, arp: 0x0806, rarp: 0x8035, ip6: 0x86dd };
const PROTO_NUM: Partial<Record<Proto, number>> = { tcp: 6, udp: 17, sctp: 132, icmp: 1, icmp6: 58, igmp: 2 };

// ------------------------------------------------------------------ code generation
// Each helper returns a JS expression. Loads check the captured length and,
// when short, clear `k` (the function returns false when k is 0 at the end).

function ld8(p: number): string {
  return `(${p + 1} <= len ? u8[off + ${p}] : (k = 0))`;
}
function ld16(p: number): string {
  return `(${p + 2} <= len ? (u8[off + ${p}] << 8 | u8[off + ${p + 1}]) : (k = 0))`;
}
function ld32(p: number): string {
  return `(${p + 4} <= len ? (u8[off + ${p}] << 24 | u8[off + ${p + 1}] << 16 | u8[off + ${p + 2}] << 8 | u8[off + ${p + 3}]) : (k = 0))`;
}
/** 16-bit load at x + p (x = IPv4 header length, set by the caller). */
function ldx16(p: number): string {
  return `(x + ${p + 2} <= len ? (u8[off + x + ${p}] << 8 | u8[off + x + ${p + 1}]) : (k = 0))`;
}
function and(...a: string[]): string {
  return a.length === 1 ? a[0]! : `(${a.join(' && ')})`;
}
function or(...a: string[]): string {
  return a.length === 1 ? a[0]! : `(${a.join(' || ')})`;
}
function hex(n: number): string {
  return n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`;
}
/** Compare a 32-bit load (int32 in JS) with v under mask m (both uint32). */
function cmp32(p: number, v: number, m: number): string {
  if (m === 0) return 'true'; // libpcap's optimiser drops the load
  if (m === 0xffffffff) return `${ld32(p)} === ${hex(v | 0)}`;
  return `(${ld32(p)} & ${hex(m | 0)}) === ${hex((v & m) | 0)}`;
}
function byDir(dir: Dir, src: string, dst: string): string {
  switch (dir) {
    case 'src': return src;
    case 'dst': return dst;
    case 'and': return and(src, dst);
    default: return or(src, dst);
  }
}

// ------------------------------------------------------------------ parser

interface Result { code: string; q: Qual | null }

class Parser {
  private readonly src: string;
  private readonly toks: Tok[];
  private i = 0;
  /** Current nesting of '(' and 'not', and operands joined so far (bounded: FILTER_MAX_*). */
  private depth = 0;
  private terms = 0;
  /** Bytes of VLAN tags skipped so far (4 per `vlan` seen, in text order). */
  private vlanOff = 0;

  constructor(src: string) {
    this.src = src;
    if (src.length > FILTER_MAX_LENGTH) {
      throw new FilterError(src, FILTER_MAX_LENGTH, `longer than ${FILTER_MAX_LENGTH} characters (${src.length})`, 'too long');
    }
    this.toks = lex(src);
  }

  /** One more level of '(' or 'not' at token t; the caller calls leave() after it. */
  private enter(t: Tok): void {
    if (++this.depth > FILTER_MAX_DEPTH) {
      throw new FilterError(this.src, t.pos, `more than ${FILTER_MAX_DEPTH} nested '(' or 'not'`, 'too deeply nested');
    }
  }
  private leave(): void { this.depth--; }

  /** One more 'and' / 'or' operand at token t. */
  private join(t: Tok): void {
    if (++this.terms >= FILTER_MAX_TERMS) {
      throw new FilterError(this.src, t.pos, `more than ${FILTER_MAX_TERMS} primitives joined by 'and' / 'or'`, 'too many terms');
    }
  }

  private get tok(): Tok { return this.toks[this.i]!; }
  private peek(n = 1): Tok { return this.toks[Math.min(this.i + n, this.toks.length - 1)]!; }
  private fail(pos: number, msg: string): never { throw new FilterSyntaxError(this.src, pos, msg); }
  private isWord(t: Tok, w: string): boolean { return t.kind === 'word' && t.text === w; }
  private isOp(t: Tok, o: string): boolean { return t.kind === 'op' && t.text === o; }
  private isAnd(t: Tok): boolean { return this.isWord(t, 'and') || this.isOp(t, '&&'); }
  private isOr(t: Tok): boolean { return this.isWord(t, 'or') || this.isOp(t, '||'); }
  private isNot(t: Tok): boolean { return this.isWord(t, 'not') || this.isOp(t, '!'); }
  private describe(t: Tok): string { return t.kind === 'eof' ? 'end of expression' : `'${t.kind === 'esc' ? '\\' : ''}${t.text}'`; }

  // Field offsets for the current VLAN depth.
  private get LT(): number { return 12 + this.vlanOff; } // ethertype
  private get NH(): number { return 14 + this.vlanOff; } // network header

  /** The whole expression; '' (or only blanks) matches everything. */
  parse(): string {
    if (this.tok.kind === 'eof') return 'true';
    const r = this.expr(null);
    const end = this.toks[this.i]!;
    if (end.kind !== 'eof') {
      this.fail(end.pos, `unexpected ${this.describe(end)} (expected 'and', 'or' or the end of the expression)`);
    }
    return r.code;
  }

  /** operand ((and|or) operand)*, left-associative, equal precedence (as libpcap). */
  private expr(inh: Qual | null): Result {
    let left = this.operand(inh);
    // a run of one operator stays flat (`a || b || c`: JS associates to the left as well),
    // so a long chain does not nest the generated code; a change of operator wraps the run
    let run: '&&' | '||' | null = null;
    let code = left.code;
    for (;;) {
      const t = this.tok;
      let op: '&&' | '||';
      if (this.isAnd(t)) op = '&&';
      else if (this.isOr(t)) op = '||';
      else return run === null ? left : { code: `(${code})`, q: left.q };
      this.join(t);
      this.i++;
      const right = this.operand(left.q);
      if (run !== op && run !== null) code = `(${code})`;
      code = `${code} ${op} ${right.code}`;
      run = op;
      left = { code, q: right.q };
    }
  }

  private operand(inh: Qual | null): Result {
    const t = this.tok;
    if (this.isNot(t)) {
      this.enter(t);
      this.i++;
      const r = this.operand(inh);
      this.leave();
      return { code: `!(${r.code})`, q: r.q };
    }
    if (this.isOp(t, '(')) {
      this.enter(t);
      this.i++;
      const r = this.expr(inh);
      this.closeParen(t);
      this.leave();
      return { code: `(${r.code})`, q: inh };
    }
    if (t.kind === 'word' && RESERVED.has(t.text)) return this.term();
    if (t.kind === 'word' || t.kind === 'esc') {
      if (inh === null) {
        this.fail(t.pos, t.kind === 'word' && /^[a-z_]+$/i.test(t.text)
          ? `unknown keyword '${t.text}'`
          : `'${t.kind === 'esc' ? '\\' : ''}${t.text}' needs a qualifier before it (e.g. host, net, port)`);
      }
      return { code: this.value(inh), q: inh };
    }
    this.fail(t.pos, `expected a primitive, got ${this.describe(t)}`);
  }

  private closeParen(open: Tok): void {
    if (this.isOp(this.tok, ')')) { this.i++; return; }
    this.fail(this.tok.pos, `expected ')' to close the '(' at ${open.pos}, got ${this.describe(this.tok)}`);
  }

  /** The id after a qualifier head: value, `not id`, or `( id and|or id ... )`. */
  private id(q: Qual): string {
    const t = this.tok;
    if (this.isNot(t)) {
      this.enter(t);
      this.i++;
      const r = `!(${this.id(q)})`;
      this.leave();
      return r;
    }
    if (this.isOp(t, '(')) {
      this.enter(t);
      this.i++;
      let code = this.id(q);
      let run: '&&' | '||' | null = null; // flat runs of one operator, as in expr()
      for (;;) {
        const j = this.tok;
        let op: '&&' | '||';
        if (this.isAnd(j)) op = '&&';
        else if (this.isOr(j)) op = '||';
        else break;
        this.join(j);
        this.i++;
        if (run !== op && run !== null) code = `(${code})`;
        code = `${code} ${op} ${this.id(q)}`;
        run = op;
      }
      this.closeParen(t);
      this.leave();
      return `(${code})`;
    }
    if ((t.kind === 'word' && !RESERVED.has(t.text)) || t.kind === 'esc') return this.value(q);
    this.fail(t.pos, `expected ${this.expectedValue(q)}, got ${this.describe(t)}`);
  }

  private expectedValue(q: Qual): string {
    switch (q.addr) {
      case 'port': return 'a port number';
      case 'portrange': return 'a port range (A-B)';
      case 'proto': return 'a protocol number or \\name';
      case 'net': return 'a network address';
      default: return q.proto === 'link' ? 'a MAC address' : 'an address';
    }
  }

  /** A keyword-led term: qualifier head + id, protocol name, vlan, less, greater, len, broadcast, multicast. */
  private term(): Result {
    const t = this.tok;
    switch (t.text) {
      case 'vlan': return this.vlan();
      case 'less': case 'greater': {
        this.i++;
        const n = this.number(0, 0xffffffff, 'a length');
        return { code: t.text === 'less' ? `len <= ${n}` : `len >= ${n}`, q: null };
      }
      case 'len': return this.lenRelation();
      case 'broadcast': this.i++; return { code: this.etherBroadcast(), q: null };
      case 'multicast': this.i++; return { code: this.etherMulticast(), q: null };
    }
    // head: [proto] [dir] [addr-type] | [proto] proto
    let proto: Proto = 'default';
    const pTok = t;
    if (t.kind === 'word' && PNAMES[t.text] !== undefined) {
      proto = PNAMES[t.text]!;
      this.i++;
    }
    const n = this.tok;
    if (proto !== 'default' && (this.isWord(n, 'broadcast') || this.isWord(n, 'multicast'))) {
      this.i++;
      return { code: this.qualifiedCast(proto, n.text, pTok), q: null };
    }
    if (this.isWord(n, 'proto')) {
      this.i++;
      const q: Qual = { proto, dir: 'default', addr: 'proto' };
      return { code: this.id(q), q };
    }
    const dir = this.dirQual();
    let addr: Addr = 'default';
    if (this.tok.kind === 'word' && AQUALS[this.tok.text] !== undefined) {
      addr = AQUALS[this.tok.text]!;
      this.i++;
    }
    if (dir === 'default' && addr === 'default') {
      if (proto !== 'default') return { code: this.protoAbbrev(proto, pTok), q: null };
      this.fail(t.pos, `unexpected ${this.describe(t)}`);
    }
    const q: Qual = { proto, dir, addr };
    return { code: this.id(q), q };
  }

  private dirQual(): Dir {
    const t = this.tok;
    if (!this.isWord(t, 'src') && !this.isWord(t, 'dst')) return 'default';
    this.i++;
    const n = this.tok, m = this.peek();
    const other = t.text === 'src' ? 'dst' : 'src';
    if ((this.isWord(n, 'or') || this.isWord(n, 'and')) && this.isWord(m, other)) {
      this.i += 2;
      return n.text === 'or' ? 'or' : 'and';
    }
    return t.text as Dir;
  }

  // --------------------------------------------------------------- primitives

  private ethertype(type: number): string {
    return `${ld16(this.LT)} === ${hex(type)}`;
  }

  private ipProto(n: number): string {
    return and(this.ethertype(0x0800), `${ld8(this.NH + 9)} === ${n}`);
  }

  /** ip6 proto: the next header, or the one after a fragment header (as libpcap). */
  private ip6Proto(n: number): string {
    return and(this.ethertype(0x86dd), `((t = ${ld8(this.NH + 6)}) === ${n} || (t === 44 && ${ld8(this.NH + 40)} === ${n}))`);
  }

  private protoAbbrev(p: Proto, at: Tok): string {
    switch (p) {
      case 'ip': return this.ethertype(0x0800);
      case 'ip6': return this.ethertype(0x86dd);
      case 'arp': return this.ethertype(0x0806);
      case 'rarp': return this.ethertype(0x8035);
      case 'tcp': case 'udp': case 'sctp': return or(this.ipProto(PROTO_NUM[p]!), this.ip6Proto(PROTO_NUM[p]!));
      case 'icmp': case 'igmp': return this.ipProto(PROTO_NUM[p]!);
      case 'icmp6': return this.ip6Proto(58);
      default: this.fail(at.pos, `'${at.text}' needs a primitive after it (e.g. ether host, ether proto)`);
    }
  }

  private etherBroadcast(): string {
    return and(`${ld32(2)} === -1`, `${ld16(0)} === 0xffff`);
  }

  private etherMulticast(): string {
    return `(${ld8(0)} & 1) !== 0`;
  }

  private qualifiedCast(p: Proto, what: string, at: Tok): string {
    if (p === 'link') return what === 'broadcast' ? this.etherBroadcast() : this.etherMulticast();
    if (what === 'multicast' && p === 'ip') return and(this.ethertype(0x0800), `${ld8(this.NH + 16)} >= 224`);
    if (what === 'multicast' && p === 'ip6') return and(this.ethertype(0x86dd), `${ld8(this.NH + 24)} === 255`);
    if (what === 'broadcast' && p === 'ip') this.fail(at.pos, "'ip broadcast' needs the capture interface's netmask; not supported");
    this.fail(at.pos, `'${at.text} ${what}' is not valid`);
  }

  private vlan(): Result {
    this.i++;
    const t = `((t = ${ld16(this.LT)}) === 0x8100 || t === 0x88a8 || t === 0x9100)`;
    let code = t;
    if (this.tok.kind === 'word' && /^(\d+|0x[0-9a-f]+)$/i.test(this.tok.text)) {
      const id = this.number(0, 0xffffffff, 'a VLAN id');
      if (id > 4095) this.fail(this.toks[this.i - 1]!.pos, `VLAN tag ${id} greater than maximum 4095`);
      code = and(t, `(${ld16(this.NH)} & 0xfff) === ${id}`);
    }
    this.vlanOff += 4;
    return { code, q: null };
  }

  private lenRelation(): Result {
    this.i++;
    const t = this.tok;
    const ops: Record<string, string> = { '<': '<', '<=': '<=', '>': '>', '>=': '>=', '=': '===', '==': '===', '!=': '!==' };
    if (t.kind !== 'op' || ops[t.text] === undefined) this.fail(t.pos, "expected a comparison (<, <=, >, >=, =, ==, !=) after 'len'");
    this.i++;
    const n = this.number(0, 0xffffffff, 'a number');
    return { code: `len ${ops[t.text]} ${n}`, q: null };
  }

  private number(min: number, max: number, what: string): number {
    const t = this.tok;
    const v = t.kind === 'word' ? parseNum(t.text) : -1;
    if (v < 0) this.fail(t.pos, `expected ${what}, got ${this.describe(t)}`);
    if (v < min || v > max) this.fail(t.pos, `${what} ${t.text} out of range ${min}..${max}`);
    this.i++;
    return v;
  }

  /** A value under qualifiers q (the current token is a non-keyword word or an escaped name). */
  private value(q: Qual): string {
    const t = this.tok;
    switch (q.addr) {
      case 'proto': return this.protoValue(q, t);
      case 'port': return this.portValue(q, t, false);
      case 'portrange': return this.portValue(q, t, true);
      default: return this.addrValue(q, t);
    }
  }

  private protoValue(q: Qual, t: Tok): string {
    this.i++;
    if (q.proto === 'link') {
      const v = t.kind === 'esc' ? ETHER_PROTOS[t.text] ?? -1 : parseNum(t.text);
      if (v < 0) this.fail(t.pos, `expected an ethertype number or \\ip, \\ip6, \\arp, \\rarp, got ${this.describe(t)}`);
      if (v > 0xffff) this.fail(t.pos, `ethertype ${t.text} above 0xffff`);
      if (v <= 1500) {
        if (v === 0x06 || v === 0xe0 || v === 0xf0 || v === 0xfe) this.fail(t.pos, `LLC SAP ${t.text} needs libpcap's special-case encapsulation checks; not supported`);
        // An 802.3 length field, then the LLC DSAP (libpcap's generic case).
        return and(`${ld16(this.LT)} <= 1500`, `${ld8(this.NH)} === ${v}`);
      }
      if (v === 0x809b || v === 0x80f3) this.fail(t.pos, `AppleTalk ethertype ${t.text} needs SNAP checks; not supported`);
      return this.ethertype(v);
    }
    const v = t.kind === 'esc' ? IP_PROTOS[t.text] ?? -1 : parseNum(t.text);
    if (v < 0) this.fail(t.pos, `expected a protocol number or \\name (${Object.keys(IP_PROTOS).map((s) => '\\' + s).join(', ')}), got ${this.describe(t)}`);
    if (v > 255) this.fail(t.pos, `protocol ${t.text} above 255`);
    switch (q.proto) {
      case 'default': return or(this.ipProto(v), this.ip6Proto(v));
      case 'ip': return this.ipProto(v);
      case 'ip6': return this.ip6Proto(v);
      default: this.fail(t.pos, `'proto' does not apply to '${q.proto}'`);
    }
  }

  private portValue(q: Qual, t: Tok, range: boolean): string {
    let lo: number, hi: number;
    const m = t.kind === 'word' ? /^(\w+)-(\w+)$/.exec(t.text) : null;
    if (range && m) {
      lo = parseNum(m[1]!);
      hi = parseNum(m[2]!);
      if (lo < 0 || hi < 0) this.fail(t.pos, `expected a port range A-B with numeric ports, got '${t.text}'`);
    } else {
      lo = hi = t.kind === 'word' ? parseNum(t.text) : -1;
      if (lo < 0) {
        this.fail(t.pos, `expected ${range ? 'a port range (A-B)' : 'a port number'}, got ${this.describe(t)}${t.kind === 'word' && /^[a-z]/i.test(t.text) ? ' (service names are not supported)' : ''}`);
      }
    }
    if (lo > 65535 || hi > 65535) this.fail(t.pos, `illegal port number ${Math.max(lo, hi)} > 65535`);
    if (lo > hi) [lo, hi] = [hi, lo];
    if (q.proto !== 'default' && q.proto !== 'tcp' && q.proto !== 'udp' && q.proto !== 'sctp') {
      this.fail(t.pos, `illegal qualifier of '${range ? 'portrange' : 'port'}': '${q.proto === 'link' ? 'ether' : q.proto}'`);
    }
    this.i++;
    const NH = this.NH;
    const match = (ld: string): string => lo === hi ? `${ld} === ${lo}` : `((y = ${ld}) >= ${lo} && y <= ${hi})`;
    const pcheck = (p: number): string => q.proto === 'default'
      ? `((t = ${ld8(p)}) === 132 || t === 6 || t === 17)`
      : `${ld8(p)} === ${PROTO_NUM[q.proto]}`;
    const v4 = and(
      this.ethertype(0x0800), pcheck(NH + 9),
      `(${ld16(NH + 6)} & 0x1fff) === 0`, // first fragment only
      `(x = (${ld8(NH)} & 15) << 2, ${byDir(q.dir, match(ldx16(NH)), match(ldx16(NH + 2)))})`,
    );
    const v6 = and(this.ethertype(0x86dd), pcheck(NH + 6), byDir(q.dir, match(ld16(NH + 40)), match(ld16(NH + 42))));
    return or(v4, v6);
  }

  private addrValue(q: Qual, t: Tok): string {
    if (t.kind === 'esc') this.fail(t.pos, `unexpected '\\${t.text}'`);
    const s = t.text;
    const isMac = /^[0-9a-f]{1,2}([:.-])[0-9a-f]{1,2}(\1[0-9a-f]{1,2}){4}$/i.test(s);
    if (q.proto === 'link') {
      if (q.addr === 'net') this.fail(t.pos, "'ether net' is not valid");
      if (!isMac) this.fail(t.pos, `illegal link layer address '${s}'`);
      this.i++;
      const b = s.split(/[:.-]/).map((h) => parseInt(h, 16));
      const w = (((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!) | 0);
      const h = (b[0]! << 8) | b[1]!;
      const src = and(`${ld32(8)} === ${hex(w)}`, `${ld16(6)} === ${hex(h)}`);
      const dst = and(`${ld32(2)} === ${hex(w)}`, `${ld16(0)} === ${hex(h)}`);
      return byDir(q.dir, src, dst);
    }
    if (isMac) this.fail(t.pos, 'ethernet address used in non-ether expression (use ether host)');
    if (q.proto !== 'default' && q.proto !== 'ip' && q.proto !== 'ip6' && q.proto !== 'arp' && q.proto !== 'rarp') {
      this.fail(t.pos, `'${q.proto}' modifier applied to ${q.addr === 'net' ? 'net' : 'host'}`);
    }
    if (s.includes(':')) return this.addr6(q, t);
    if (/^\d+(\.\d+){0,3}$/.test(s) || /^0x[0-9a-f]+$/i.test(s)) return this.addr4(q, t);
    this.fail(t.pos, /^[a-z]/i.test(s) ? `unknown keyword or host name '${s}' (names are not resolved)` : `invalid address '${s}'`);
  }

  /** Optional `/len` or `mask M` after a network address; returns [prefix-or-mask, position] or null. */
  private maskSuffix(): { kind: '/' | 'mask'; at: number; tok: Tok } | null {
    const s = this.tok;
    if (!this.isOp(s, '/') && !this.isWord(s, 'mask')) return null;
    this.i++;
    return { kind: s.text === '/' ? '/' : 'mask', at: s.pos, tok: this.tok };
  }

  private addr4(q: Qual, t: Tok): string {
    if (q.proto === 'ip6') this.fail(t.pos, "'ip6' modifier applied to ip host");
    const s = t.text;
    this.i++;
    let v: number, m = 0xffffffff;
    const parts = s.split('.');
    if (parts.length === 1) {
      // A plain number: the address itself; for `net`, promoted like libpcap (10 -> 10.0.0.0/8).
      v = parseNum(s);
      if (v < 0 || v > 0xffffffff) this.fail(t.pos, `invalid address '${s}'`);
      if (q.addr === 'net') while (v !== 0 && (v & 0xff000000) === 0) { v = (v * 256) >>> 0; m = (m << 8) >>> 0; }
    } else {
      v = 0;
      for (const p of parts) {
        const n = Number(p);
        if (p === '' || !/^\d+$/.test(p) || n > 255) this.fail(t.pos, `invalid IPv4 address '${s}'`);
        v = (v * 256 + n) >>> 0;
      }
      const shift = 8 * (4 - parts.length);
      v = shift ? (v * 2 ** shift) >>> 0 : v;
      if (q.addr === 'net') m = shift ? ((0xffffffff << shift) >>> 0) : 0xffffffff;
    }
    const suf = this.maskSuffix();
    if (suf) {
      if (q.addr === 'host') this.fail(suf.at, 'mask syntax is for networks only (use net)');
      if (suf.kind === '/') {
        const len = this.number(0, 0xffffffff, 'a prefix length');
        if (len > 32) this.fail(suf.tok.pos, `mask length must be <= 32, got ${len}`);
        m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      } else {
        const mt = this.tok;
        if (mt.kind !== 'word' || !/^\d+\.\d+\.\d+\.\d+$/.test(mt.text)) this.fail(mt.pos, `expected a dotted-quad netmask, got ${this.describe(mt)}`);
        m = 0;
        for (const p of mt.text.split('.')) {
          if (Number(p) > 255) this.fail(mt.pos, `invalid netmask '${mt.text}'`);
          m = (m * 256 + Number(p)) >>> 0;
        }
        this.i++;
      }
      if (((v & ~m) >>> 0) !== 0) this.fail(t.pos, `non-network bits set in "${this.src.slice(t.pos, this.toks[this.i - 1]!.pos + this.toks[this.i - 1]!.text.length)}"`);
    }
    const NH = this.NH;
    const ip = and(this.ethertype(0x0800), byDir(q.dir, cmp32(NH + 12, v, m), cmp32(NH + 16, v, m)));
    const arp = (type: number): string => and(this.ethertype(type), byDir(q.dir, cmp32(NH + 14, v, m), cmp32(NH + 24, v, m)));
    switch (q.proto) {
      case 'ip': return ip;
      case 'arp': return arp(0x0806);
      case 'rarp': return arp(0x8035);
      default:
        return or(ip, and(or(this.ethertype(0x0806), this.ethertype(0x8035)),
          byDir(q.dir, cmp32(NH + 14, v, m), cmp32(NH + 24, v, m))));
    }
  }

  private addr6(q: Qual, t: Tok): string {
    if (q.proto !== 'default' && q.proto !== 'ip6') this.fail(t.pos, `'${q.proto}' modifier applied to ip6 host`);
    let a: Uint8Array;
    try {
      a = parseIPv6(t.text);
    } catch (e) {
      this.fail(t.pos, `invalid IPv6 address '${t.text}'${e instanceof Error ? ` (${e.message.replace(/^invalid IPv6 address "[^"]*" /, '')})` : ''}`);
    }
    this.i++;
    let plen = 128;
    const suf = this.maskSuffix();
    if (suf) {
      if (suf.kind === 'mask') this.fail(suf.at, "'mask' is for IPv4; use /len for IPv6");
      if (q.addr === 'host') this.fail(suf.at, 'mask syntax is for networks only (use net)');
      plen = this.number(0, 0xffffffff, 'a prefix length');
      if (plen > 128) this.fail(suf.tok.pos, `mask length must be <= 128, got ${plen}`);
    }
    const words: number[] = [], masks: number[] = [];
    for (let i = 0; i < 4; i++) {
      const bits = Math.max(0, Math.min(32, plen - 32 * i));
      const m = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      const w = ((a[4 * i]! << 24) | (a[4 * i + 1]! << 16) | (a[4 * i + 2]! << 8) | a[4 * i + 3]!) >>> 0;
      if (((w & ~m) >>> 0) !== 0) this.fail(t.pos, `non-network bits set in "${this.src.slice(t.pos, this.toks[this.i - 1]!.pos + this.toks[this.i - 1]!.text.length)}"`);
      words.push(w);
      masks.push(m);
    }
    const at = (base: number): string => {
      const parts: string[] = [];
      for (let i = 0; i < 4; i++) if (masks[i] !== 0) parts.push(cmp32(base + 4 * i, words[i]!, masks[i]!));
      return parts.length === 0 ? 'true' : and(...parts);
    };
    const NH = this.NH;
    return and(this.ethertype(0x86dd), byDir(q.dir, at(NH + 8), at(NH + 24)));
  }
}

/** Decimal or 0x-hex; -1 when not a number. */
function parseNum(s: string): number {
  if (/^\d+$/.test(s)) return s.length > 10 ? Infinity : Number(s);
  if (/^0x[0-9a-f]+$/i.test(s)) return s.length > 10 ? Infinity : parseInt(s.slice(2), 16);
  return -1;
}

// ------------------------------------------------------------------ API

/** The JS source of the predicate body compileFilter builds (for debugging and tests). */
export function filterSource(expr: string): string {
  const code = new Parser(expr).parse();
  return `'use strict';\nlet k = 1, t = 0, x = 0, y = 0;\nreturn ${code} && k === 1;`;
}

/**
 * Compile a tcpdump-syntax filter to a predicate over an Ethernet frame
 * u8[off, off+len). Throws FilterSyntaxError (with a 0-based position), or FilterError when
 * the expression exceeds FILTER_MAX_LENGTH / _DEPTH / _TERMS.
 */
export function compileFilter(expr: string): PacketFilter {
  const body = filterSource(expr);
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    return new Function('u8', 'off', 'len', body) as PacketFilter;
  } catch (e) {
    // the limits above keep the code well within V8's; this names the filter if they ever do not
    if (e instanceof RangeError) throw new FilterError(expr, 0, `the compiled filter is too large (${e.message})`, 'too complex');
    throw e;
  }
}

/**
 * Compile an ordered list of filters to one function returning the index of the first that
 * matches the frame u8[off, off+len), or -1 (a firewall's rules: one call per frame, however
 * many rules). An empty expression matches every frame. Each filter keeps its own BPF
 * semantics (a load past the end rejects that filter only). Throws as compileFilter does,
 * naming the expression at fault.
 */
export function compileFirstMatch(exprs: readonly string[]): (u8: Uint8Array, off: number, len: number) => number {
  const parts = exprs.map((e, i) => (e.trim() === '' ? `return ${i};` : `k = 1; if ((${new Parser(e).parse()}) && k === 1) return ${i};`));
  const body = `'use strict';\nlet k = 1, t = 0, x = 0, y = 0;\n${parts.join('\n')}\nreturn -1;`;
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    return new Function('u8', 'off', 'len', body) as (u8: Uint8Array, off: number, len: number) => number;
  } catch (e) {
    if (e instanceof RangeError) throw new FilterError(exprs.join(' / ').slice(0, 200), 0, `the compiled rules are too large (${e.message})`, 'too complex');
    throw e;
  }
}
