// copyFrame (core/frame-copy.ts) picks a copy by length: 8 unrolled words up to 64 bytes, a
// word loop up to 256, copyWithin above. Every size must copy exactly the frame's bytes, write
// nothing past the end of its 64-byte-rounded destination, and keep bit patterns that are
// NaNs as doubles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyBytes, copyFrame, PieceViews } from '../src/core/frame-copy.js';

test('copyFrame copies every length 0..1600 exactly and stays inside the destination buffer', () => {
  const BUF = 2048;
  const ab = new ArrayBuffer(4 * BUF);
  const u8 = new Uint8Array(ab), f64 = new Float64Array(ab);
  let seed = 12345;
  const rnd = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 24; };
  for (let len = 0; len <= 1600; len++) {
    const src = BUF, dst = 2 * BUF;
    for (let i = 0; i < BUF; i++) u8[src + i] = rnd();
    // signalling-NaN patterns in the first words: a copy through doubles must keep them
    u8.set([0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf7, 0xff], src);
    u8.fill(0xee, dst, dst + BUF);
    copyFrame(u8, f64, src, dst, len);
    for (let i = 0; i < len; i++) if (u8[dst + i] !== u8[src + i]) assert.fail(`len ${len}: byte ${i} differs`);
    const limit = Math.max(64, (len + 7) & ~7);
    for (let i = limit; i < BUF; i++) if (u8[dst + i] !== 0xee) assert.fail(`len ${len}: byte ${i} past the frame written`);
    for (let i = 0; i < BUF; i++) if (u8[i] !== 0 || u8[3 * BUF + i] !== 0) assert.fail(`len ${len}: a neighbouring buffer was written`);
  }
});

test('copyBytes: every length 0..300 at every alignment pair (0..8), exact, not a byte written outside the range, NaN bits kept', () => {
  const ab = new ArrayBuffer(8192), ab2 = new ArrayBuffer(8192);
  const s8 = new Uint8Array(ab), s32 = new Uint32Array(ab), s64 = new Float64Array(ab);
  const d8 = new Uint8Array(ab2), d32 = new Uint32Array(ab2), d64 = new Float64Array(ab2);
  let seed = 777;
  const rnd = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 24; };
  for (let i = 0; i < s8.length; i++) s8[i] = rnd();
  s8.set([0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f], 1024); // a signalling NaN as a double
  for (let sa = 0; sa <= 8; sa++) {
    for (let da = 0; da <= 8; da++) {
      for (let len = 0; len <= 300; len += len < 80 ? 1 : 7) {
        const s = 1024 + sa, d = 2048 + da;
        d8.fill(0xee, d - 16, d + len + 16);
        copyBytes(s8, s32, s64, s, d8, d32, d64, d, len);
        for (let i = 0; i < len; i++) if (d8[d + i] !== s8[s + i]) assert.fail(`src+${sa} dst+${da} len ${len}: byte ${i}`);
        for (let i = 1; i <= 16; i++) {
          if (d8[d - i] !== 0xee || d8[d + len + i - 1] !== 0xee) assert.fail(`src+${sa} dst+${da} len ${len}: written outside`);
        }
      }
    }
  }
});

test('PieceViews: one view per key, kept while its offset holds, re-made when it moves; set() copies the whole piece', () => {
  const src = new ArrayBuffer(8 * 2048), dst = new Uint8Array(new ArrayBuffer(4 * 2048));
  const s8 = new Uint8Array(src);
  for (let i = 0; i < s8.length; i++) s8[i] = (i * 7 + 3) & 0xff;
  const views = new PieceViews(src, 2048);
  const a = views.at(3, 3 * 2048 + 66);
  assert.equal(a.byteLength, 2048);
  assert.equal(a.byteOffset, 3 * 2048 + 66);
  assert.equal(views.at(3, 3 * 2048 + 66), a, 'the same object while the offset holds: no allocation per frame');
  const b = views.at(3, 3 * 2048 + 80);
  assert.notEqual(b, a);
  assert.equal(b.byteOffset, 3 * 2048 + 80);
  dst.fill(0xee);
  dst.set(views.at(5, 5 * 2048 + 66), 2048);
  for (let i = 0; i < 2048; i++) assert.equal(dst[2048 + i], s8[5 * 2048 + 66 + i]);
  assert.equal(dst[2047], 0xee, 'nothing before the destination');
  assert.equal(dst[4096], 0xee, 'nothing after it');
});

test('PieceViews: a key past the planned count still gets the right view (made each time, not kept)', () => {
  const src = new ArrayBuffer(8 * 2048);
  const views = new PieceViews(src, 2048, 4);
  const a = views.at(6, 6 * 2048 + 2);
  assert.equal(a.byteOffset, 6 * 2048 + 2);
  assert.equal(a.byteLength, 2048);
  assert.notEqual(views.at(6, 6 * 2048 + 2), a, 'not kept: outside the dense table');
  const k = views.at(0, 0);
  assert.equal(k.byteOffset, 0, 'key 0 at offset 0 is made, not the empty placeholder');
  assert.equal(k.byteLength, 2048);
  assert.equal(views.at(0, 0), k);
});
