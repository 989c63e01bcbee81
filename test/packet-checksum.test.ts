import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checksumAdd, checksumAdd16, checksumAdjust, checksumApplyDelta, checksumFold, ipv4HeaderChecksum, udpChecksumV4, udpChecksumV6,
} from '../src/packet/checksum.js';

// Independent reference: build the exact byte sequence, pad, sum modulo 0xffff.
function refSum(bytes: number[]): number {
  const b = bytes.length & 1 ? [...bytes, 0] : bytes;
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += b[i]! * 256 + b[i + 1]!;
  // ones'-complement sum == sum mod 0xffff, with 0xffff standing for a non-zero multiple
  const m = s % 0xffff;
  return m === 0 && s !== 0 ? 0xffff : m;
}
const refCsum = (bytes: number[]): number => ~refSum(bytes) & 0xffff;

function rand(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x;
  };
}

test('checksumAdd/Fold: RFC 1071 section 3 example', () => {
  const b = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(checksumFold(checksumAdd(b, 0, 8, 0)), 0xddf2);
  // chunked accumulation gives the same
  assert.equal(checksumFold(checksumAdd(b, 4, 4, checksumAdd(b, 0, 4, 0))), 0xddf2);
});

test('checksumAdd: odd lengths pad the last byte as a high byte', () => {
  const b = Uint8Array.from([0x12, 0x34, 0x56]);
  assert.equal(checksumFold(checksumAdd(b, 0, 3, 0)), 0x1234 + 0x5600);
  assert.equal(checksumFold(checksumAdd(b, 2, 1, 0)), 0x5600);
  assert.equal(checksumAdd(b, 0, 0, 7), 7);
});

test('checksumAdd matches the reference on random data, offsets and lengths', () => {
  const r = rand(42);
  const buf = new Uint8Array(70000);
  for (let i = 0; i < buf.length; i++) buf[i] = r() & 0xff;
  for (let k = 0; k < 300; k++) {
    const off = r() % 1000;
    const len = k < 3 ? [0, 1, 65535][k]! : r() % 3000;
    const want = refSum(Array.from(buf.subarray(off, off + len)));
    const got = checksumFold(checksumAdd(buf, off, len, 0));
    // 0 and 0xffff are the same ones'-complement value
    assert.equal(got % 0xffff, want % 0xffff, `off ${off} len ${len}`);
  }
  // all 0xff, odd largest length: 0xffff words vanish, the padded 0xff00 remains
  const ff = new Uint8Array(65535).fill(0xff);
  assert.equal(checksumFold(checksumAdd(ff, 0, 65535, 0xffffffff)), 0xff00);
});

test('checksumAdd16 (16-bit loads, swapped back) equals checksumAdd folded, at even and odd offsets, with and without a carried sum', () => {
  const r = rand(7);
  const buf = new Uint8Array(70000);
  for (let i = 0; i < buf.length; i++) buf[i] = r() & 0xff;
  const u16 = new Uint16Array(buf.buffer);
  for (let k = 0; k < 400; k++) {
    const off = r() % 1000; // odd ones go to checksumAdd
    const len = k < 4 ? [0, 1, 2, 65535][k]! : r() % (k % 2 ? 64 : 3000);
    const sum = k % 3 === 0 ? 0 : k % 3 === 1 ? 17 + len : r();
    assert.equal(checksumAdd16(u16, buf, off, len, sum), checksumFold(checksumAdd(buf, off, len, sum)), `off ${off} len ${len} sum ${sum}`);
  }
  // a header that checks (sum 0xffff) still checks; one bit flipped does not
  const h = Uint8Array.from([0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7]);
  const m = new Uint8Array(64); m.set(h, 14);
  const m16 = new Uint16Array(m.buffer);
  assert.equal(checksumAdd16(m16, m, 14, 20, 0), 0xffff);
  m[14 + 13] ^= 4;
  assert.notEqual(checksumAdd16(m16, m, 14, 20, 0), 0xffff);
});

test('checksumFold handles big accumulators', () => {
  assert.equal(checksumFold(0), 0);
  assert.equal(checksumFold(0x1fffe), 0xffff);
  assert.equal(checksumFold(0xffffffff), 0xffff);
  assert.equal(checksumFold(0x10000), 1);
  assert.equal(checksumFold(2 ** 40 + 3), checksumFold(((2 ** 40) % 0xffff) + 3));
});

test('ipv4HeaderChecksum: known header (Wikipedia example, 0xb861)', () => {
  const h = Uint8Array.from([
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
    0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
  ]);
  assert.equal(ipv4HeaderChecksum(h, 0), 0xb861);
  h[10] = 0xde; h[11] = 0xad; // the stored value is ignored
  assert.equal(ipv4HeaderChecksum(h, 0), 0xb861);
  // at an offset, with options (IHL 6)
  const o = new Uint8Array(40);
  o.set([0x46, 0, 0, 24, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 2, 3, 4], 7);
  const c = ipv4HeaderChecksum(o, 7);
  const bytes = Array.from(o.subarray(7, 31));
  bytes[10] = 0; bytes[11] = 0;
  assert.equal(c, refCsum(bytes));
});

test('udpChecksumV4: hand-verified frame and reference', () => {
  // 192.168.0.1:1234 -> 192.168.0.199:80, payload "hi!" (odd length)
  // pseudo: c0a8 0001 c0a8 00c7 0011 000b ; udp: 04d2 0050 000b ; data 6869 2100
  // sum = c0a8+0001+c0a8+00c7+0011+000b+04d2+0050+000b+6869+2100 = 0x210ca -> fold 0x10cc -> ~ = 0xef33
  const ip = Uint8Array.from([
    0x45, 0, 0, 31, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 168, 0, 1, 192, 168, 0, 199,
    0x04, 0xd2, 0x00, 0x50, 0x00, 0x0b, 0x00, 0x00, 0x68, 0x69, 0x21,
  ]);
  assert.equal(udpChecksumV4(ip, 0, 20, 11), 0xef33);
  const r = rand(7);
  for (let k = 0; k < 200; k++) {
    const len = 8 + (r() % 200);
    const b = new Uint8Array(20 + len);
    for (let i = 0; i < b.length; i++) b[i] = r() & 0xff;
    b[0] = 0x45;
    const seg = Array.from(b.subarray(20, 20 + len));
    seg[6] = 0; seg[7] = 0;
    let want = refCsum([...b.subarray(12, 20), 0, 17, len >> 8, len & 0xff, ...seg]);
    if (want === 0) want = 0xffff;
    assert.equal(udpChecksumV4(b, 0, 20, len), want);
  }
});

test('udpChecksumV6 matches the reference (pseudo-header with 32-bit length)', () => {
  const r = rand(9);
  for (let k = 0; k < 200; k++) {
    const len = 8 + (r() % 300);
    const b = new Uint8Array(40 + len);
    for (let i = 0; i < b.length; i++) b[i] = r() & 0xff;
    const seg = Array.from(b.subarray(40, 40 + len));
    seg[6] = 0; seg[7] = 0;
    let want = refCsum([...b.subarray(8, 40), 0, 0, len >> 8, len & 0xff, 0, 0, 0, 17, ...seg]);
    if (want === 0) want = 0xffff;
    assert.equal(udpChecksumV6(b, 0, 40, len), want);
  }
});

test('UDP: a computed checksum of 0 is sent as 0xffff', () => {
  const b = new Uint8Array(20 + 10);
  b[0] = 0x45;
  b.set([10, 0, 0, 1, 10, 0, 0, 2], 12);
  b.set([0x12, 0x34, 0x56, 0x78, 0, 10, 0, 0, 0, 0], 20);
  // choose the last payload word so the folded sum is 0xffff
  const c0 = udpChecksumV4(b, 0, 20, 10);
  b[28] = c0 >> 8; b[29] = c0 & 0xff;
  assert.equal(udpChecksumV4(b, 0, 20, 10), 0xffff);
  const v6 = new Uint8Array(50);
  v6.set([0x12, 0x34, 0x56, 0x78, 0, 10, 0, 0, 0, 0], 40);
  const c6 = udpChecksumV6(v6, 0, 40, 10);
  v6[48] = c6 >> 8; v6[49] = c6 & 0xff;
  assert.equal(udpChecksumV6(v6, 0, 40, 10), 0xffff);
});

test('checksumAdjust (RFC 1624) equals recomputation', () => {
  const r = rand(11);
  const h = new Uint8Array(20);
  for (let k = 0; k < 2000; k++) {
    for (let i = 0; i < 20; i++) h[i] = r() & 0xff;
    h[0] = 0x45;
    const c = ipv4HeaderChecksum(h, 0);
    h[10] = c >> 8; h[11] = c & 0xff;
    const w = 2 + 2 * (r() % 9); // not word 0: it holds the header length
    if (w === 10) continue;
    const old = (h[w]! << 8) | h[w + 1]!;
    const nw = k % 50 === 0 ? (~old & 0xffff) : r() & 0xffff;
    h[w] = nw >> 8; h[w + 1] = nw & 0xff;
    assert.equal(checksumAdjust(c, old, nw), ipv4HeaderChecksum(h, 0));
  }
});

test('checksumApplyDelta with several words at once', () => {
  const h = Uint8Array.from([0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7]);
  // change source address to 10.1.2.3
  const delta = (~0xc0a8 & 0xffff) + 0x0a01 + (~0x0001 & 0xffff) + 0x0203;
  h.set([10, 1, 2, 3], 12);
  assert.equal(checksumApplyDelta(0xb861, delta), ipv4HeaderChecksum(h, 0));
});
