// Address text parsing/formatting. Setup-time code: allocation is fine here.

/** A parse failure: `input` is the text, `pos` the 0-based column of the problem. */
export class AddrParseError extends Error {
  readonly input: string;
  readonly pos: number;
  constructor(what: string, input: string, pos: number, detail: string) {
    super(`invalid ${what} "${input}" at column ${pos + 1}: ${detail}`);
    this.name = 'AddrParseError';
    this.input = input;
    this.pos = pos;
  }
}

const HEX = '0123456789abcdef';

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  c |= 0x20; // lower-case
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

// ---------------------------------------------------------------- MAC

/** Parse aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff (1 or 2 hex digits per octet). */
export function parseMac(s: string): Uint8Array {
  const out = new Uint8Array(6);
  let pos = 0;
  let sep = '';
  for (let k = 0; k < 6; k++) {
    if (k > 0) {
      const c = s[pos];
      if (c === undefined) throw new AddrParseError('MAC address', s, pos, 'expected 6 octets');
      if (sep === '') {
        if (c !== ':' && c !== '-') throw new AddrParseError('MAC address', s, pos, `expected ':' or '-', got '${c}'`);
        sep = c;
      } else if (c !== sep) {
        throw new AddrParseError('MAC address', s, pos, `expected '${sep}', got '${c}' (mixed separators)`);
      }
      pos++;
    }
    const start = pos;
    let v = 0;
    while (pos < s.length && pos - start < 3) {
      const h = hexVal(s.charCodeAt(pos));
      if (h < 0) break;
      v = v * 16 + h;
      pos++;
    }
    if (pos === start) throw new AddrParseError('MAC address', s, pos, s[pos] === undefined ? 'expected 6 octets' : `expected a hex digit, got '${s[pos]}'`);
    if (pos - start > 2) throw new AddrParseError('MAC address', s, start, 'octet has more than 2 hex digits');
    out[k] = v;
  }
  if (pos !== s.length) throw new AddrParseError('MAC address', s, pos, 'trailing characters after 6 octets');
  return out;
}

/** aa:bb:cc:dd:ee:ff, lower case. */
export function formatMac(u8: Uint8Array, off: number): string {
  let r = '';
  for (let i = 0; i < 6; i++) {
    const b = u8[off + i]!;
    if (i > 0) r += ':';
    r += HEX[b >> 4]! + HEX[b & 15]!;
  }
  return r;
}

// ---------------------------------------------------------------- IPv4

/** Parse dotted-quad text at s[from, to); returns the uint32 or throws, reporting positions in `whole`. */
function parseIPv4Part(whole: string, from: number, to: number, what: string): number {
  let n = 0;
  let pos = from;
  for (let k = 0; k < 4; k++) {
    if (k > 0) {
      if (pos >= to) throw new AddrParseError(what, whole, pos, 'expected 4 dot-separated numbers');
      if (whole[pos] !== '.') throw new AddrParseError(what, whole, pos, `expected '.', got '${whole[pos]}'`);
      pos++;
    }
    const start = pos;
    let v = 0;
    while (pos < to) {
      const c = whole.charCodeAt(pos);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      pos++;
      if (pos - start > 3) break;
    }
    if (pos === start) {
      throw new AddrParseError(what, whole, pos, pos >= to ? 'expected 4 dot-separated numbers' : `expected a digit, got '${whole[pos]}'`);
    }
    if (pos - start > 1 && whole[start] === '0') throw new AddrParseError(what, whole, start, 'leading zero (octal is not accepted)');
    if (v > 255) throw new AddrParseError(what, whole, start, 'number above 255');
    n = n * 256 + v;
  }
  if (pos !== to) throw new AddrParseError(what, whole, pos, `unexpected '${whole[pos]}' after address`);
  return n >>> 0;
}

/** Parse a.b.c.d to a uint32 (a is the most significant byte). */
export function parseIPv4(s: string): number {
  return parseIPv4Part(s, 0, s.length, 'IPv4 address');
}

export function formatIPv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

// ---------------------------------------------------------------- IPv6

function parseIPv6Part(whole: string, from: number, to: number, what: string): Uint8Array {
  const words = new Array<number>(8).fill(0);
  let n = 0; // words parsed
  let gap = -1; // index in words where "::" was
  let pos = from;
  if (to - from >= 2 && whole[from] === ':' && whole[from + 1] === ':') {
    gap = 0;
    pos += 2;
  } else if (whole[from] === ':') {
    throw new AddrParseError(what, whole, from, "a leading ':' must be part of '::'");
  }
  while (pos < to) {
    if (n === 8) throw new AddrParseError(what, whole, pos, 'more than 8 groups');
    const start = pos;
    let v = 0;
    while (pos < to) {
      const h = hexVal(whole.charCodeAt(pos));
      if (h < 0) break;
      v = v * 16 + h;
      pos++;
    }
    if (pos < to && whole[pos] === '.') {
      // Embedded IPv4 in the last 32 bits.
      if (n > 6) throw new AddrParseError(what, whole, start, 'embedded IPv4 address does not fit in the last 32 bits');
      const v4 = parseIPv4Part(whole, start, to, what);
      words[n++] = v4 >>> 16;
      words[n++] = v4 & 0xffff;
      pos = to;
      break;
    }
    if (pos === start) {
      throw new AddrParseError(what, whole, pos, pos >= to ? 'address ends with a single \':\'' : `unexpected '${whole[pos]}'`);
    }
    if (pos - start > 4) throw new AddrParseError(what, whole, start, 'group has more than 4 hex digits');
    words[n++] = v;
    if (pos === to) break;
    if (whole[pos] !== ':') throw new AddrParseError(what, whole, pos, `unexpected '${whole[pos]}'`);
    pos++;
    if (pos < to && whole[pos] === ':') {
      if (gap >= 0) throw new AddrParseError(what, whole, pos - 1, "'::' may appear only once");
      gap = n;
      pos++;
    } else if (pos === to) {
      throw new AddrParseError(what, whole, pos - 1, "address ends with a single ':'");
    }
  }
  if (gap >= 0) {
    if (n === 8) throw new AddrParseError(what, whole, from, "'::' stands for no group (already 8 groups)");
    // Slide the groups after the gap to the end.
    const tail = n - gap;
    for (let i = 0; i < tail; i++) words[7 - i] = words[n - 1 - i]!;
    for (let i = gap; i < 8 - tail; i++) words[i] = 0;
  } else if (n !== 8) {
    throw new AddrParseError(what, whole, to, `only ${n} groups and no '::'`);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i]! >>> 8;
    out[2 * i + 1] = words[i]! & 0xff;
  }
  return out;
}

/** Parse any RFC 4291 section 2.2 text form (full, '::'-compressed, embedded IPv4). */
export function parseIPv6(s: string): Uint8Array {
  if (s.length === 0) throw new AddrParseError('IPv6 address', s, 0, 'empty');
  return parseIPv6Part(s, 0, s.length, 'IPv6 address');
}

/** RFC 5952 text: lower case, no leading zeros, longest zero run (>= 2 groups, first on ties) as '::'. */
export function formatIPv6(u8: Uint8Array, off: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((u8[off + 2 * i]! << 8) | u8[off + 2 * i + 1]!);
  // IPv4-mapped addresses keep the dotted tail (RFC 5952 section 5).
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${formatIPv4(((w[6]! << 16) | w[7]!) >>> 0)}`;
  }
  let bestAt = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number, b: number): string => w.slice(a, b).map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

// ---------------------------------------------------------------- pkt-gen ranges

export interface AddrRange4 { ipStart: number; ipEnd: number; portStart: number; portEnd: number }
export interface AddrRange6 { ipStart: Uint8Array; ipEnd: Uint8Array; portStart: number; portEnd: number }
export type AddrRange = AddrRange4 | AddrRange6;

export const DEFAULT_PORT = 1234;

function parsePort(whole: string, from: number, to: number): number {
  if (from >= to) throw new AddrParseError('address range', whole, from, 'missing port number after \':\'');
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = whole.charCodeAt(i);
    if (c < 48 || c > 57) throw new AddrParseError('address range', whole, i, `port must be decimal digits, got '${whole[i]}'`);
    v = v * 10 + (c - 48);
    if (v > 65535) throw new AddrParseError('address range', whole, from, 'port above 65535');
  }
  return v;
}

function isDigits(s: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Parse one endpoint s[from,to): returns the port (or -1 when absent) and stores the address. */
function parseEnd4(s: string, from: number, to: number): { ip: number; port: number } {
  const colon = s.indexOf(':', from);
  if (colon >= 0 && colon < to) {
    return { ip: parseIPv4Part(s, from, colon, 'address range'), port: parsePort(s, colon + 1, to) };
  }
  return { ip: parseIPv4Part(s, from, to, 'address range'), port: -1 };
}

function parseEnd6(s: string, from: number, to: number): { ip: Uint8Array; port: number } {
  if (s[from] === '[') {
    const close = s.indexOf(']', from);
    if (close < 0 || close >= to) throw new AddrParseError('address range', s, from, "'[' without a matching ']'");
    const ip = parseIPv6Part(s, from + 1, close, 'address range');
    if (close + 1 === to) return { ip, port: -1 };
    if (s[close + 1] !== ':') throw new AddrParseError('address range', s, close + 1, `expected ':port' after ']', got '${s[close + 1]}'`);
    return { ip, port: parsePort(s, close + 2, to) };
  }
  // A bare IPv6 address cannot carry a port: every ':' belongs to the address.
  return { ip: parseIPv6Part(s, from, to, 'address range'), port: -1 };
}

function cmp16(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/**
 * pkt-gen's -s/-d syntax: `addr[:port][-addr[:port]]`; IPv6 as `[addr]:port`
 * or a bare address without port. The end port defaults to the start port,
 * which defaults to 1234. As a convenience the end may be just a port
 * (`10.0.0.1:1000-1010`, `[::1]:1000-1010`). Reversed bounds are swapped,
 * as pkt-gen does.
 */
export function parseAddrRange(s: string, family: 4): AddrRange4;
export function parseAddrRange(s: string, family: 6): AddrRange6;
export function parseAddrRange(s: string, family: 4 | 6): AddrRange;
export function parseAddrRange(s: string, family: 4 | 6): AddrRange {
  if (family !== 4 && family !== 6) throw new TypeError(`parseAddrRange: family must be 4 or 6, got ${String(family)}`);
  if (s.length === 0) throw new AddrParseError('address range', s, 0, 'empty');
  // '-' never occurs inside an address, so the first one splits the range.
  const dash = s.indexOf('-');
  const aEnd = dash < 0 ? s.length : dash;
  if (dash === 0) throw new AddrParseError('address range', s, 0, 'missing start address before \'-\'');
  if (dash === s.length - 1) throw new AddrParseError('address range', s, dash + 1, 'missing end after \'-\'');
  if (dash >= 0 && s.indexOf('-', dash + 1) >= 0) throw new AddrParseError('address range', s, s.indexOf('-', dash + 1), 'more than one \'-\'');
  const portOnlyEnd = dash >= 0 && isDigits(s, dash + 1, s.length);
  if (family === 4) {
    const a = parseEnd4(s, 0, aEnd);
    const p0 = a.port < 0 ? DEFAULT_PORT : a.port;
    let ip1 = a.ip, p1 = p0;
    if (portOnlyEnd) {
      p1 = parsePort(s, dash + 1, s.length);
    } else if (dash >= 0) {
      const b = parseEnd4(s, dash + 1, s.length);
      ip1 = b.ip;
      if (b.port >= 0) p1 = b.port;
    }
    return {
      ipStart: Math.min(a.ip, ip1), ipEnd: Math.max(a.ip, ip1),
      portStart: Math.min(p0, p1), portEnd: Math.max(p0, p1),
    };
  }
  const a = parseEnd6(s, 0, aEnd);
  const p0 = a.port < 0 ? DEFAULT_PORT : a.port;
  let ip1: Uint8Array = a.ip.slice(), p1 = p0;
  if (portOnlyEnd) {
    p1 = parsePort(s, dash + 1, s.length);
  } else if (dash >= 0) {
    const b = parseEnd6(s, dash + 1, s.length);
    ip1 = b.ip;
    if (b.port >= 0) p1 = b.port;
  }
  const swap = cmp16(a.ip, ip1) > 0;
  return {
    ipStart: swap ? ip1 : a.ip, ipEnd: swap ? a.ip : ip1,
    portStart: Math.min(p0, p1), portEnd: Math.max(p0, p1),
  };
}

/** Format a range back in parseAddrRange syntax (always with ports). */
export function formatAddrRange(r: AddrRange): string {
  if (typeof r.ipStart === 'number') {
    const r4 = r as AddrRange4;
    return `${formatIPv4(r4.ipStart)}:${r4.portStart}-${formatIPv4(r4.ipEnd)}:${r4.portEnd}`;
  }
  const r6 = r as AddrRange6;
  return `[${formatIPv6(r6.ipStart, 0)}]:${r6.portStart}-[${formatIPv6(r6.ipEnd, 0)}]:${r6.portEnd}`;
}
