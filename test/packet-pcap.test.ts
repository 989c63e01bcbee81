import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PCAP_MAGIC_NS, PCAP_MAGIC_US, PcapError, PcapFdWriter, PcapWriter, readPcap, type PcapErrorReason,
} from '../src/packet/pcap.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';
import { hexdump } from '../src/packet/hexdump.js';
import { missing } from './fixtures/requires.js';

/** A handful of distinct frames of various lengths in one buffer. */
function frames(): { buf: Uint8Array; list: Array<{ off: number; len: number }> } {
  const t = new UdpFrameTemplate({ family: 4, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '10.0.0.1:1-10.0.0.1:100', dst: '10.0.0.2', frameLen: 1514 });
  const buf = new Uint8Array(2048 * 8);
  const list: Array<{ off: number; len: number }> = [];
  const lens = [60, 61, 1514, 42, 100, 999, 64, 1000];
  for (let i = 0; i < lens.length; i++) {
    t.write(buf, i * 2048);
    t.setLength(buf, i * 2048, lens[i]!);
    t.advance(buf, i * 2048);
    list.push({ off: i * 2048, len: lens[i]! });
  }
  return { buf, list };
}

function buildFile(w: PcapWriter, f: ReturnType<typeof frames>): Uint8Array {
  let size = 24;
  for (const p of f.list) size += w.recordLength(p.len);
  const out = new Uint8Array(size);
  let at = w.writeHeader(out, 0);
  f.list.forEach((p, i) => { at = w.writeRecord(out, at, f.buf, p.off, p.len, 1700000000 + i, i * 12345); });
  assert.equal(at, size);
  return out;
}

test('pcap round trip: both byte orders, µs and ns, snaplen truncation', () => {
  const f = frames();
  for (const littleEndian of [true, false]) {
    for (const nanosecond of [false, true]) {
      for (const snapLen of [65535, 100]) {
        const w = new PcapWriter({ littleEndian, nanosecond, snapLen });
        const file = buildFile(w, f);
        const magic = nanosecond ? PCAP_MAGIC_NS : PCAP_MAGIC_US;
        const dv = new DataView(file.buffer);
        assert.equal(dv.getUint32(0, littleEndian), magic);
        const r = readPcap(file);
        assert.equal(r.linkType, 1);
        assert.equal(r.snapLen, snapLen);
        assert.equal(r.nanosecond, nanosecond);
        assert.equal(r.littleEndian, littleEndian);
        assert.equal(r.versionMajor, 2);
        assert.equal(r.versionMinor, 4);
        assert.equal(r.packets.length, f.list.length);
        r.packets.forEach((p, i) => {
          const src = f.list[i]!;
          const cap = Math.min(src.len, snapLen);
          assert.equal(p.tsSec, 1700000000 + i);
          assert.equal(p.tsFrac, i * 12345);
          assert.equal(p.capLen, cap);
          assert.equal(p.origLen, src.len);
          assert.deepEqual(file.subarray(p.offset, p.offset + cap), f.buf.subarray(src.off, src.off + cap));
        });
      }
    }
  }
});

test('PcapWriter conveniences, option checks and reading a header-only file', () => {
  const w = new PcapWriter({ linkType: 228, nanosecond: true });
  const pkt = Uint8Array.from([1, 2, 3]);
  const file = Buffer.concat([w.header(), w.record(pkt, 0, 3, 5, 999999999), w.record(pkt, 1, 2, 6, 0, 1500)]);
  const r = readPcap(file);
  assert.equal(r.linkType, 228);
  assert.deepEqual(r.packets.map((p) => [p.tsSec, p.tsFrac, p.capLen, p.origLen, p.offset]), [[5, 999999999, 3, 3, 40], [6, 0, 2, 1500, 59]]);
  assert.deepEqual(readPcap(w.header()).packets, []);
  assert.throws(() => w.record(pkt, 0, 3, 0, 1e9), RangeError);
  assert.throws(() => new PcapWriter().record(pkt, 0, 3, 0, 1e6), RangeError);
  assert.throws(() => new PcapWriter({ snapLen: 0 }), RangeError);
  assert.throws(() => new PcapWriter({ linkType: -1 }), RangeError);
  assert.throws(() => w.writeRecord(new Uint8Array(18), 0, pkt, 0, 3, 0, 0), RangeError);
  assert.throws(() => w.writeHeader(new Uint8Array(23), 0), RangeError);
});

test('PcapFdWriter streams to a file through a small buffer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pk-pcap-'));
  try {
    const f = frames();
    const path = join(dir, 'a.pcap');
    const fd = openSync(path, 'w');
    const sw = new PcapFdWriter(fd, { snapLen: 2000 }, 100); // forces a flush per record
    for (let k = 0; k < 3; k++) f.list.forEach((p, i) => sw.write(f.buf, p.off, p.len, k, i));
    sw.flush();
    closeSync(fd);
    const r = readPcap(readFileSync(path));
    assert.equal(r.packets.length, 3 * f.list.length);
    assert.deepEqual(r.packets.map((p) => p.capLen), [...f.list, ...f.list, ...f.list].map((p) => p.len));
    const mem = buildFile(new PcapWriter({ snapLen: 2000 }), f);
    assert.equal(readFileSync(path).length, 24 + 3 * (mem.length - 24));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function expectError(buf: Uint8Array, reason: PcapErrorReason, offset: number): void {
  assert.throws(() => readPcap(buf), (e: unknown) => {
    assert.ok(e instanceof PcapError, String(e));
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.offset, offset, e.message);
    assert.match(e.message, new RegExp(`offset ${offset}`));
    return true;
  });
}

test('corrupt and truncated files give PcapError with the right offset', () => {
  const w = new PcapWriter({ snapLen: 200 });
  const pkt = new Uint8Array(100).fill(7);
  const good = Buffer.concat([w.header(), w.record(pkt, 0, 100, 1, 2), w.record(pkt, 0, 50, 3, 4)]);
  // record 0 at 24 (data 40..140), record 1 at 140 (data 156..206)
  assert.equal(good.length, 206);
  assert.equal(readPcap(good).packets.length, 2);

  expectError(new Uint8Array(0), 'truncated-file-header', 0);
  expectError(good.subarray(0, 23), 'truncated-file-header', 0);
  const bad = Buffer.from(good); bad[0] = 0; expectError(bad, 'bad-magic', 0);
  const ng = Buffer.from(good); ng.writeUInt32BE(0x0a0d0d0a, 0);
  assert.throws(() => readPcap(ng), /pcapng/);
  const ver = Buffer.from(good); ver.writeUInt16LE(1, 4); expectError(ver, 'bad-version', 0);
  expectError(good.subarray(0, 24 + 15), 'truncated-record-header', 24);
  expectError(good.subarray(0, 140 + 3), 'truncated-record-header', 140);
  expectError(good.subarray(0, 139), 'truncated-packet', 24);
  expectError(good.subarray(0, 205), 'truncated-packet', 140);
  const big = Buffer.from(good); big.writeUInt32LE(201, 140 + 8); expectError(big, 'caplen-exceeds-snaplen', 140);
  const huge = Buffer.from(good); huge.writeUInt32LE(0, 16); huge.writeUInt32LE(256 * 1024 + 1, 24 + 8); expectError(huge, 'caplen-too-large', 24);
  const neg = Buffer.from(good); neg.writeUInt32LE(0xffffffff, 24 + 8); expectError(neg, 'caplen-too-large', 24);
  // snaplen 0 means "no limit" up to 256 KiB
  const zero = Buffer.from(good); zero.writeUInt32LE(0, 16); assert.equal(readPcap(zero).packets.length, 2);
  // big-endian file: same offsets
  const be = new PcapWriter({ snapLen: 200, littleEndian: false });
  const goodBE = Buffer.concat([be.header(), be.record(pkt, 0, 100, 1, 2), be.record(pkt, 0, 50, 3, 4)]);
  expectError(goodBE.subarray(0, 205), 'truncated-packet', 140);
  const bigBE = Buffer.from(goodBE); bigBE.writeUInt32BE(300, 140 + 8); expectError(bigBE, 'caplen-exceeds-snaplen', 140);
});

test('fuzz: every truncation and random corruption either parses or throws PcapError', () => {
  const f = frames();
  const file = buildFile(new PcapWriter({ snapLen: 1600 }), f);
  const recStarts = new Set(readPcap(file).packets.map((p) => p.offset - 16));
  for (let n = 0; n < file.length; n++) {
    const cut = file.subarray(0, n);
    try {
      const r = readPcap(cut);
      // only cuts at record boundaries parse
      assert.ok(n === 24 || recStarts.has(n), `cut ${n} parsed`);
      assert.ok(r.packets.every((p) => p.offset + p.capLen <= n));
    } catch (e) {
      assert.ok(e instanceof PcapError, String(e));
      assert.ok(e.offset <= n);
    }
  }
  let x = 77;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  for (let k = 0; k < 2000; k++) {
    const c = Buffer.from(file);
    for (let j = 0; j < 1 + (k % 4); j++) c[rnd() % c.length] = rnd() & 0xff;
    try {
      const r = readPcap(c);
      assert.ok(r.packets.every((p) => p.offset + p.capLen <= c.length));
    } catch (e) {
      assert.ok(e instanceof PcapError, String(e));
    }
  }
});

function which(cmd: string): string | null {
  try {
    return execFileSync('which', [cmd], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

const tool = which('tcpdump') ?? which('tshark');
test('an external reader (tcpdump/tshark) accepts our file', {
  skip: tool ? false : `${missing('tcpdump')}, or tshark`,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pk-pcap-'));
  try {
    const f = frames();
    for (const [name, opts] of [['le-us', {}], ['be-ns', { littleEndian: false, nanosecond: true }]] as const) {
      const path = join(dir, `${name}.pcap`);
      const fd = openSync(path, 'w');
      const sw = new PcapFdWriter(fd, opts);
      f.list.forEach((p, i) => sw.write(f.buf, p.off, p.len, 1700000000, i));
      sw.flush();
      closeSync(fd);
      const isTcpdump = tool!.endsWith('tcpdump');
      const out = execFileSync(tool!, isTcpdump ? ['-nn', '-r', path] : ['-n', '-r', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const lines = out.trim().split('\n');
      assert.equal(lines.length, f.list.length, out);
      assert.match(lines[0]!, /10\.0\.0\.1\D+\d*\D*10\.0\.0\.2/);
      assert.match(out, /UDP/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hexdump: pkt-gen -X layout', () => {
  const b = new Uint8Array(40);
  for (let i = 0; i < 40; i++) b[i] = 0x41 + i; // 'A'...
  b[20] = 0; b[21] = 0x7f;
  const s = hexdump(b, 2, 20, undefined, 0x12);
  const lines = s.split('\n');
  assert.equal(lines[0], '[off      2 flags 0x0012 len    20]');
  assert.equal(lines[1], '    0: 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50 51 52 CDEFGHIJKLMNOPQR');
  assert.equal(lines[2], `   16: 53 54 00 7f ${' '.repeat(36)}ST..`);
  assert.equal(lines[3], '');
  assert.equal(lines.length, 4);
  const cut = hexdump(b, 0, 40, 16);
  assert.match(cut, /\(showing 16\)/);
  assert.equal(cut.trim().split('\n').length, 2);
  // length past the buffer end does not throw
  assert.equal(hexdump(b, 30, 100).trim().split('\n').length, 2);
});
