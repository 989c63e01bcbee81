// Property tests: both readers (in-memory readPcap/readPcapng and the
// streaming PcapStreamReader) on random mutations and truncations of valid
// pcap/pcapng files, and on random bytes behind a valid magic. Only PcapError
// may escape, every call finishes quickly, and the two readers agree.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { PcapError, PcapWriter, readPcap } from '../src/packet/pcap.js';
import { PcapngMemWriter, readPcapng } from '../src/packet/pcapng.js';
import { PcapStreamReader } from '../src/packet/pcap-stream.js';

type Outcome = { ok: true; pkts: number[][] } | { ok: false; reason: string; offset: number };

function outcome(fn: () => number[][]): Outcome {
  try {
    return { ok: true, pkts: fn() };
  } catch (e) {
    if (!(e instanceof PcapError)) throw new Error(`non-PcapError escaped: ${String(e)}`, { cause: e });
    assert.ok(Number.isInteger(e.offset) && e.offset >= 0, `bad offset ${e.offset}`);
    return { ok: false, reason: e.reason, offset: e.offset };
  }
}

/** Checksum-ish digest of packet bytes, so results compare cheaply. */
function sum(b: Uint8Array, off: number, len: number): number {
  let h = 0;
  for (let i = 0; i < len; i++) h = (h * 31 + b[off + i]!) | 0;
  return h;
}

function memRead(file: Uint8Array): number[][] {
  if (file.length >= 4 && file[0] === 0x0a && file[1] === 0x0d && file[2] === 0x0d && file[3] === 0x0a) {
    return readPcapng(file).packets.map((p) => [p.tsSec, p.tsNsec, p.capLen, p.origLen, p.linkType, p.ifIndex, sum(file, p.offset, p.capLen)]);
  }
  const f = readPcap(file);
  return f.packets.map((p) => [p.tsSec, f.nanosecond ? p.tsFrac : p.tsFrac * 1000, p.capLen, p.origLen, f.linkType, 0, sum(file, p.offset, p.capLen)]);
}

function streamRead(path: string, bufSize: number): number[][] {
  const r = PcapStreamReader.open(path, { bufSize });
  try {
    const out: number[][] = [];
    while (r.next()) out.push([r.tsSec, r.tsNsec, r.caplen, r.origLen, r.linkType, r.ifIndex, sum(r.buf, r.offset, r.caplen)]);
    // sticky errors / stable EOF
    assert.equal(r.next(), false);
    return out;
  } finally {
    r.close();
  }
}

const pktArb = fc.record({
  len: fc.oneof(fc.nat(80), fc.nat(1600)),
  sec: fc.nat(),
  frac: fc.nat(999_999),
  ifIndex: fc.nat(1),
  seed: fc.nat(255),
});

const fileArb = fc.record({
  kind: fc.constantFrom('pcap', 'pcapng'),
  le: fc.boolean(),
  ns: fc.boolean(),
  ns2: fc.boolean(),
  snap: fc.constantFrom(65535, 100, 1000),
  pkts: fc.array(pktArb, { maxLength: 25 }),
  second: fc.option(fc.array(pktArb, { maxLength: 5 }), { nil: undefined }),
  extra: fc.option(fc.nat(3), { nil: undefined }), // pcapng: an unknown block after packet k
}).map((o) => {
  const data = (p: { len: number; seed: number }) => Uint8Array.from({ length: p.len }, (_, i) => (i * 7 + p.seed) & 255);
  if (o.kind === 'pcap') {
    const w = new PcapWriter({ littleEndian: o.le, nanosecond: o.ns, snapLen: o.snap });
    const parts = [w.header()];
    for (const p of o.pkts) parts.push(w.record(data(p), 0, p.len, p.sec, o.ns ? p.frac * 999 : p.frac));
    return Buffer.concat(parts);
  }
  const section = (le: boolean, pkts: typeof o.pkts, extra: number | undefined): Buffer => {
    const w = new PcapngMemWriter({ littleEndian: le, interfaces: [{ nanosecond: o.ns, snapLen: o.snap }, { nanosecond: o.ns2 }] });
    let cut = -1;
    pkts.forEach((p, k) => {
      const ns = p.ifIndex === 0 ? o.ns : o.ns2;
      w.write(p.ifIndex, data(p), 0, p.len, p.sec, ns ? p.frac * 999 : p.frac);
      if (extra === k) cut = w.length;
    });
    const bytes = Buffer.from(w.bytes());
    if (cut < 0) return bytes;
    // An unknown (custom) block after packet `extra`, in the section's byte order.
    const b = Buffer.alloc(24 + 4 * extra!);
    const put = (v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
    put(0x40000bad, 0);
    put(b.length, 4);
    put(b.length, b.length - 4);
    return Buffer.concat([bytes.subarray(0, cut), b, bytes.subarray(cut)]);
  };
  const file = section(o.le, o.pkts, o.extra);
  return o.second ? Buffer.concat([file, section(!o.le, o.second, undefined)]) : file;
});

const mutationArb = fc.record({
  edits: fc.array(fc.oneof(
    fc.record({ word: fc.constant(false), pos: fc.noBias(fc.nat()), val: fc.nat(255) }),
    fc.record({ word: fc.constant(true), pos: fc.noBias(fc.nat()), val: fc.oneof(
      fc.constantFrom(0, 1, 4, 8, 12, 16, 20, 28, 32, 0x7ffffffc, 0x80000000, 0xfffffffc, 0xffffffff, 65536, 262144, 262145),
      fc.nat(), fc.nat(5000)) }),
  ), { minLength: 1, maxLength: 4 }),
  cut: fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.noBias(fc.nat()) }),
  le: fc.boolean(),
});

function mutate(src: Uint8Array, m: { edits: Array<{ word: boolean; pos: number; val: number }>; cut: number | undefined; le: boolean }): Uint8Array {
  const b = Buffer.from(src);
  for (const e of m.edits) {
    if (b.length < 4) break;
    if (e.word) {
      const at = (e.pos % (b.length - 3)) & ~3;
      if (m.le) b.writeUInt32LE(e.val >>> 0, at); else b.writeUInt32BE(e.val >>> 0, at);
    } else {
      b[e.pos % b.length] = e.val;
    }
  }
  return m.cut === undefined ? b : b.subarray(0, m.cut % (b.length + 1));
}

function sameHeaderError(a: Outcome, b: Outcome): boolean {
  // readPcap checks the file length before the magic; the stream reader looks at the magic first.
  const hdr = ['truncated-file-header', 'bad-magic'];
  return !a.ok && !b.ok && a.offset === 0 && b.offset === 0 && hdr.includes(a.reason) && hdr.includes(b.reason);
}

function check(dir: string, file: Uint8Array): void {
  const path = join(dir, 'f');
  writeFileSync(path, file);
  const t0 = performance.now();
  const mem = outcome(() => memRead(file));
  const big = outcome(() => streamRead(path, Math.max(4096, file.length + 16)));
  const small = outcome(() => streamRead(path, 4096));
  const dt = performance.now() - t0;
  assert.ok(dt < 2000, `readers took ${dt} ms on a ${file.length}-byte file`);
  if (!sameHeaderError(mem, big)) assert.deepEqual(big, mem);
  if (!(small.ok === false && small.reason === 'block-exceeds-buffer') && !sameHeaderError(mem, small)) assert.deepEqual(small, mem);
}

test('fuzz: mutated/truncated pcap and pcapng files only ever give PcapError, in bounded time, same in both readers', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pk-pfuzz-'));
  try {
    // The unmutated files read back cleanly.
    fc.assert(fc.property(fileArb, (f) => {
      check(dir, f);
      assert.equal(outcome(() => memRead(f)).ok, true);
    }), { numRuns: 150 });
    fc.assert(fc.property(fileArb, mutationArb, (f, m) => { check(dir, mutate(f, m)); }), { numRuns: 3000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fuzz: random bytes behind a pcap or pcapng magic', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pk-pfuzz-'));
  const magics = [
    [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0], [0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4],
    [0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0],
    [0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0],
  ];
  try {
    fc.assert(fc.property(fc.nat(magics.length - 1), fc.uint8Array({ minLength: 8, maxLength: 400 }), (k, tail) => {
      check(dir, Uint8Array.from([...magics[k]!, ...tail]));
    }), { numRuns: 1500 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hang guards: zero and tiny block/record lengths end with an error at the right offset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pk-pfuzz-'));
  try {
    const w = new PcapngMemWriter({});
    w.write(0, new Uint8Array(10), 0, 10, 1, 1);
    const good = Buffer.from(w.bytes());
    const epbAt = w.writer.headerLength;
    for (const len of [0, 4, 8, 12, 28]) {
      const b = Buffer.from(good);
      b.writeUInt32LE(len, epbAt + 4);
      const r = outcome(() => memRead(b));
      assert.deepEqual(r, { ok: false, reason: 'bad-block-length', offset: epbAt });
      check(dir, b);
    }
    // A classic pcap record of caplen 0 is legal and advances 16 bytes.
    const pw = new PcapWriter();
    const z = Buffer.concat([pw.header(), pw.record(new Uint8Array(0), 0, 0, 1, 2), pw.record(new Uint8Array(0), 0, 0, 3, 4)]);
    assert.deepEqual(outcome(() => memRead(z)), { ok: true, pkts: [[1, 2000, 0, 0, 1, 0, 0], [3, 4000, 0, 0, 1, 0, 0]] });
    check(dir, z);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
