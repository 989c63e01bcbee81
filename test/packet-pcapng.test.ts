import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapError } from '../src/packet/pcap.js';
import { PcapStreamReader } from '../src/packet/pcap-stream.js';
import {
  PCAPNG_EPB, PCAPNG_IDB, PCAPNG_ISB, PCAPNG_NRB, PCAPNG_SHB, PCAPNG_SPB, PcapngError, PcapngFdWriter, PcapngMemWriter,
  PcapngWriter, readPcapng, type PcapngErrorReason,
} from '../src/packet/pcapng.js';

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed * 2654435761 >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; b[i] = x >>> 0; }
  return b;
}

/** Hand-rolled block builder for corpus files. */
class Blocks {
  parts: number[] = [];
  constructor(readonly le = true) {}
  u32(v: number): this { const b = [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255]; this.parts.push(...(this.le ? b : b.reverse())); return this; }
  u16(v: number): this { const b = [v & 255, (v >>> 8) & 255]; this.parts.push(...(this.le ? b : b.reverse())); return this; }
  raw(a: ArrayLike<number>): this { for (let i = 0; i < a.length; i++) this.parts.push(a[i]!); return this; }
  /** A block with the given body (padded to 4), correct lengths unless overridden. */
  block(type: number, body: ArrayLike<number>, lenStart?: number, lenEnd?: number): this {
    const padded = (body.length + 3) & ~3;
    const len = 12 + padded;
    this.u32(type).u32(lenStart ?? len).raw(body);
    for (let i = body.length; i < padded; i++) this.parts.push(0);
    return this.u32(lenEnd ?? len);
  }
  body(): Blocks { return new Blocks(this.le); }
  shb(): this { return this.block(PCAPNG_SHB, this.body().u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff).parts); }
  idb(linkType = 1, snap = 0, opts: number[] = []): this { return this.block(PCAPNG_IDB, this.body().u16(linkType).u16(0).u32(snap).raw(opts).parts); }
  epb(ifid: number, hi: number, lo: number, data: Uint8Array, orig = data.length): this {
    const b = this.body().u32(ifid).u32(hi).u32(lo).u32(data.length).u32(orig).raw(data);
    while (b.parts.length & 3) b.parts.push(0);
    return this.block(PCAPNG_EPB, b.parts);
  }
  bytes(): Uint8Array { return Uint8Array.from(this.parts); }
}

test('pcapng round trip: two interfaces (µs and ns), both byte orders, snaplen', () => {
  for (const littleEndian of [true, false]) {
    const w = new PcapngMemWriter({
      littleEndian,
      interfaces: [{ linkType: 1, nanosecond: false, name: 'eth0' }, { linkType: 101, snapLen: 100, nanosecond: true }],
    }, 64);
    const pk: Array<{ ifIndex: number; data: Uint8Array; s: number; f: number }> = [];
    for (let i = 0; i < 50; i++) {
      const ifIndex = i % 2;
      const data = bytes([0, 1, 2, 3, 60, 61, 1514, 99, 100, 101][i % 10]!, i + 1);
      const s = i === 7 ? 0xffffffff : 1700000000 + i;
      const f = ifIndex === 0 ? (i * 12347) % 1_000_000 : (i * 123456791) % 1_000_000_000;
      pk.push({ ifIndex, data, s, f: i === 7 ? (ifIndex ? 999_999_999 : 999_999) : f });
      w.write(ifIndex, data, 0, data.length, s, pk[i]!.f);
    }
    const file = w.bytes();
    const r = readPcapng(file);
    assert.equal(r.sections.length, 1);
    assert.equal(r.sections[0]!.littleEndian, littleEndian);
    assert.deepEqual(r.sections[0]!.interfaces, [
      { linkType: 1, snapLen: 65535, tsResol: 6 }, { linkType: 101, snapLen: 100, tsResol: 9 },
    ]);
    assert.equal(r.packets.length, pk.length);
    r.packets.forEach((p, i) => {
      const e = pk[i]!;
      const cap = e.ifIndex === 1 ? Math.min(100, e.data.length) : e.data.length;
      assert.equal(p.ifIndex, e.ifIndex);
      assert.equal(p.linkType, e.ifIndex ? 101 : 1);
      assert.equal(p.capLen, cap);
      assert.equal(p.origLen, e.data.length);
      assert.equal(p.tsSec, e.s, `packet ${i}`);
      assert.equal(p.tsNsec, e.ifIndex ? e.f : e.f * 1000, `packet ${i}`);
      assert.deepEqual(file.subarray(p.offset, p.offset + p.capLen), e.data.subarray(0, cap));
    });
  }
});

test('pcapng fd writer streams the same bytes as the in-memory writer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pk-pcapng-'));
  try {
    const o = { littleEndian: false, interfaces: [{ nanosecond: true }, {}] };
    const mem = new PcapngMemWriter(o);
    const path = join(dir, 'a.pcapng');
    const fd = openSync(path, 'w');
    const fw = new PcapngFdWriter(fd, o, 1000);
    for (let i = 0; i < 300; i++) {
      const d = bytes(i * 7 % 1500, i);
      mem.write(i & 1, d, 0, d.length, 1000 + i, i);
      fw.write(i & 1, d, 0, d.length, 1000 + i, i);
    }
    fw.flush();
    closeSync(fd);
    assert.deepEqual(new Uint8Array(readFileSync(path)), mem.bytes());
    assert.equal(readPcapng(mem.bytes()).packets.length, 300);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pcapng writer header/record encoders and argument checks', () => {
  const w = new PcapngWriter({ interfaces: [{ nanosecond: true }] });
  const d = bytes(5, 3);
  const rec = w.record(0, d, 0, 5, 1, 2);
  assert.equal(rec.length, 32 + 8);
  const file = new Uint8Array([...w.header(), ...rec]);
  const r = readPcapng(file);
  assert.deepEqual([r.packets[0]!.tsSec, r.packets[0]!.tsNsec, r.packets[0]!.capLen], [1, 2, 5]);
  assert.throws(() => w.record(1, d, 0, 5, 1, 2), RangeError);
  assert.throws(() => w.record(0, d, 0, 5, 1, 1e9), RangeError);
  assert.throws(() => new PcapngWriter({ interfaces: [] }), RangeError);
  assert.throws(() => new PcapngWriter({ interfaces: [{ snapLen: 0 }] }), RangeError);
});

test('pcapng reader: multiple sections with different byte orders, skipped blocks, SPB, tsresol variants', () => {
  const d1 = bytes(10, 1);
  const d2 = bytes(70, 2);
  const a = new Blocks(true).shb()
    .idb(1, 0, [9, 0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0]) // if_tsresol = 10^-3, end of options
    .block(PCAPNG_NRB, [1, 0, 8, 0, 10, 0, 0, 1, 97, 0, 0, 0, 0, 0, 0, 0]) // name resolution
    .epb(0, Math.floor(1700000000123 / 2 ** 32), 1700000000123 % 2 ** 32, d1)
    .block(PCAPNG_ISB, new Blocks(true).u32(0).u32(0).u32(0).parts)
    .block(0x40000bad, [1, 2, 3, 4, 5]) // custom block, padded
    .bytes();
  const b = new Blocks(false).shb()
    .idb(105, 64, [0, 9, 0, 1, 0x94, 0, 0, 0]) // if_tsresol = 2^-20 (big-endian option header)
    .idb(1, 0)
    .epb(0, 0, (3 << 20) + (1 << 19), d2) // 3.5 s
    .block(PCAPNG_SPB, new Blocks(false).u32(70).raw(d2).parts) // SPB: interface 0, snap 64
    .epb(1, 0, 5_000_001, d1) // default µs
    .bytes();
  const file = new Uint8Array([...a, ...b]);
  const r = readPcapng(file);
  assert.equal(r.sections.length, 2);
  assert.deepEqual(r.sections.map((s) => s.littleEndian), [true, false]);
  assert.equal(r.sections[1]!.offset, a.length);
  assert.deepEqual(r.packets.map((p) => [p.section, p.ifIndex, p.linkType, p.tsSec, p.tsNsec, p.capLen, p.origLen]), [
    [0, 0, 1, 1700000000, 123_000_000, 10, 10],
    [1, 0, 105, 3, 500_000_000, 70, 70],
    [1, 0, 105, 0, 0, 64, 70],
    [1, 1, 1, 5, 1000, 10, 10],
  ]);
  assert.deepEqual(file.subarray(r.packets[2]!.offset, r.packets[2]!.offset + 64), d2.subarray(0, 64));
});

/** Corrupt/truncated corpus: [name, file, reason, offset]. */
function pcapngCorpus(): Array<[string, Uint8Array, PcapngErrorReason | 'bad-magic' | 'truncated-file-header', number]> {
  const d = bytes(20, 9);
  const good = new Blocks().shb().idb().epb(0, 0, 1, d).bytes(); // SHB 28, IDB 20, EPB 52
  const le = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24];
  const patch = (at: number, v: number) => { const c = good.slice(); c.set(le(v), at); return c; };
  return [
    ['empty', new Uint8Array(0), 'truncated-file-header', 0],
    ['not pcapng', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 'bad-magic', 0],
    ['SHB cut at 10', good.subarray(0, 10), 'truncated-block-header', 0],
    ['bad BOM', patch(8, 0x11223344), 'bad-byte-order-magic', 0],
    ['SHB length 0', patch(4, 0), 'bad-block-length', 0],
    ['SHB length unaligned', patch(4, 30), 'bad-block-length', 0],
    ['SHB version 2', (() => { const c = good.slice(); c[12] = 2; return c; })(), 'bad-version', 0],
    ['SHB trailer mismatch', patch(24, 32), 'block-length-mismatch', 0],
    ['IDB length 0', patch(32, 0), 'bad-block-length', 28],
    ['IDB length 8', patch(32, 8), 'bad-block-length', 28],
    ['IDB length past EOF', patch(32, 0x7ffffff0), 'truncated-block', 28],
    ['cut inside IDB', good.subarray(0, 40), 'truncated-block', 28],
    ['cut in EPB header', good.subarray(0, 52), 'truncated-block-header', 48],
    ['cut in EPB data', good.subarray(0, 80), 'truncated-block', 48],
    ['EPB unknown interface', patch(56, 1), 'unknown-interface', 48],
    ['EPB caplen beyond block', patch(68, 21), 'caplen-exceeds-block', 48],
    ['EPB trailer mismatch', patch(96, 48), 'block-length-mismatch', 48],
    ['EPB length 0xffffffff', patch(52, 0xffffffff), 'bad-block-length', 48],
    ['IDB bad option', new Blocks().shb().idb(1, 0, [9, 0, 200, 0]).bytes(), 'bad-option', 28],
    ['IDB tsresol length 2', new Blocks().shb().idb(1, 0, [9, 0, 2, 0, 6, 6, 0, 0]).bytes(), 'bad-option', 28],
    ['EPB before IDB', new Blocks().shb().epb(0, 0, 0, d).bytes(), 'unknown-interface', 28],
    ['SPB without IDB', new Blocks().shb().block(PCAPNG_SPB, [4, 0, 0, 0]).bytes(), 'unknown-interface', 28],
    ['unknown block length mismatch', new Blocks().shb().block(0x99, [0, 0, 0, 0], 16, 20).bytes(), 'block-length-mismatch', 28],
    ['second SHB bad BOM', new Uint8Array([...good, ...patch(8, 0)]), 'bad-byte-order-magic', 100],
  ];
}

test('pcapng corrupt/truncated corpus: PcapError naming the block offset (in-memory and stream readers)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pk-pcapng-'));
  let n = 0;
  try {
    for (const [name, file, reason, offset] of pcapngCorpus()) {
      const path = join(dir, `c${n++}.pcapng`);
      writeFileSync(path, file);
      for (const read of [() => readPcapng(file), () => {
        const r = PcapStreamReader.open(path, { bufSize: 4096 });
        try { while (r.next()); } finally { r.close(); }
      }]) {
        assert.throws(read, (e: unknown) => {
      assert.ok(e instanceof PcapError, `${name}: ${String(e)}`);
      assert.equal(e.reason, reason, `${name}: ${e.message}`);
      assert.equal(e.offset, offset, `${name}: ${e.message}`);
      if (reason !== 'bad-magic' && reason !== 'truncated-file-header') assert.ok(e instanceof PcapngError);
      assert.match(e.message, new RegExp(`offset ${offset}\\)`));
      return true;
        }, name);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pcapng: EPB of an IDB-less second section and header-only files', () => {
  const hdrOnly = new PcapngWriter().header();
  assert.deepEqual(readPcapng(hdrOnly).packets, []);
  assert.equal(readPcapng(hdrOnly).sections[0]!.interfaces.length, 1);
  // Interfaces do not carry over into the next section.
  const f = new Blocks().shb().idb().shb().epb(0, 0, 0, bytes(4, 1)).bytes();
  assert.throws(() => readPcapng(f), (e: unknown) => e instanceof PcapError && e.offset === 76 && e.reason === ('unknown-interface' as string));
  void PCAPNG_EPB;
});
