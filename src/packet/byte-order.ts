// 16- and 32-bit integers in either byte order, in place: capture files are written in the
// byte order of the machine that wrote them (pcap, pcapng), so their readers and writers
// take the order as an argument.

export function rd32(buf: Uint8Array, off: number, le: boolean): number {
  return le
    ? (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0
    : ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

export function rd16(buf: Uint8Array, off: number, le: boolean): number {
  return le ? buf[off]! | (buf[off + 1]! << 8) : (buf[off]! << 8) | buf[off + 1]!;
}

export function wr32(buf: Uint8Array, off: number, v: number, le: boolean): void {
  if (le) {
    buf[off] = v; buf[off + 1] = v >>> 8; buf[off + 2] = v >>> 16; buf[off + 3] = v >>> 24;
  } else {
    buf[off] = v >>> 24; buf[off + 1] = v >>> 16; buf[off + 2] = v >>> 8; buf[off + 3] = v;
  }
}

export function wr16(buf: Uint8Array, off: number, v: number, le: boolean): void {
  if (le) { buf[off] = v; buf[off + 1] = v >>> 8; } else { buf[off] = v >>> 8; buf[off + 1] = v; }
}
