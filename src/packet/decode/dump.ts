// tcpdump's -x/-X/-A dumps of a packet's bytes, in its layout: lines "\n\t0x0010:  4500
// 0054 ..." of 16 bytes in 2-byte groups, -X adding the printable characters after the hex
// padded to a fixed column (graphic characters; space and the rest as '.'), -A the bytes themselves (newlines kept, CR dropped before LF and
// among the last two bytes, other unprintable bytes as '.').

const HEX = '0123456789abcdef';
const h2 = (b: number): string => HEX[b >> 4]! + HEX[b & 15]!;

/** Hex (and with `ascii` the -X column) of u[at, at+len), each line starting "\n\t0x....:  ". */
export function hexLines(u: Uint8Array, at: number, len: number, ascii: boolean, indent = '\n\t'): string {
  let out = '';
  for (let i = 0; i < len; i += 16) {
    let hex = '', asc = '';
    const n = len - i < 16 ? len - i : 16;
    for (let j = 0; j < n; j += 2) {
      const a = u[at + i + j]!;
      hex += ' ' + h2(a);
      if (j + 1 < n) hex += h2(u[at + i + j + 1]!);
      if (ascii) {
        asc += a > 0x20 && a < 0x7f ? String.fromCharCode(a) : '.';
        if (j + 1 < n) { const b = u[at + i + j + 1]!; asc += b > 0x20 && b < 0x7f ? String.fromCharCode(b) : '.'; }
      }
    }
    out += `${indent}0x${i.toString(16).padStart(4, '0')}: ${ascii ? `${hex.padEnd(40)}  ${asc}` : hex}`;
  }
  return out;
}

/** -A: "\n" then u[at, at+len) as text. */
export function asciiLines(u: Uint8Array, at: number, len: number): string {
  let out = '\n';
  for (let i = 0; i < len; i++) {
    const c = u[at + i]!;
    if (c === 13) {
      // tcpdump prints a CR as '.' only with two or more bytes after it and no LF next:
      // a CR among the last two bytes prints nothing.
      if (len - i > 2 && u[at + i + 1] !== 10) out += '.';
    } else if ((c > 0x20 && c < 0x7f) || c === 9 || c === 32 || c === 10) {
      out += String.fromCharCode(c);
    } else {
      out += '.';
    }
  }
  return out;
}
