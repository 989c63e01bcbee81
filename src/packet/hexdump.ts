// Debug dump in the style of pkt-gen -X: a header line, then per 16 bytes
// "offset: hex bytes  ascii". Allocates freely; never used per packet in
// the fast path.

const HEX = '0123456789abcdef';

/**
 * Dump u8[off, off+len), showing at most maxBytes (default all). `flags` is
 * printed in the header line, as pkt-gen prints the slot flags.
 */
export function hexdump(u8: Uint8Array, off: number, len: number, maxBytes: number = len, flags = 0): string {
  const avail = Math.max(0, Math.min(len, u8.length - off));
  const shown = Math.max(0, Math.min(avail, maxBytes));
  let out = `[off ${String(off).padStart(6)} flags 0x${flags.toString(16).padStart(4, '0')} len ${String(len).padStart(5)}]`;
  if (shown < len) out += ` (showing ${shown})`;
  out += '\n';
  for (let i = 0; i < shown; i += 16) {
    let hex = '';
    let asc = '';
    for (let j = 0; j < 16; j++) {
      if (i + j < shown) {
        const b = u8[off + i + j]!;
        hex += HEX[b >> 4]! + HEX[b & 15]! + ' ';
        asc += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else {
        hex += '   ';
      }
    }
    out += `${String(i).padStart(5)}: ${hex}${asc}\n`;
  }
  return out;
}
