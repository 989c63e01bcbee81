import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { PcapError, PcapFdWriter, PcapWriter, readPcap } from '../src/packet/pcap.js';
import { PcapngError, PcapngFdWriter, PcapngMemWriter, readPcapng } from '../src/packet/pcapng.js';
import { PcapStreamReader } from '../src/packet/pcap-stream.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';
import { missing } from './fixtures/requires.js';

interface Pkt { tsSec: number; tsNsec: number; capLen: number; origLen: number; linkType: number; ifIndex: number; data: Uint8Array }

/** UDP frames of various lengths, each different (the template advances its ports). */
function frames(n: number, lens = [60, 61, 1514, 42, 100, 999, 64, 1000, 9000, 0]): Array<{ buf: Uint8Array; len: number }> {
  const t = new UdpFrameTemplate({ family: 4, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '10.0.0.1:1-10.0.0.1:100', dst: '10.0.0.2', frameLen: 1514 });
  const out: Array<{ buf: Uint8Array; len: number }> = [];
  for (let i = 0; i < n; i++) {
    const len = lens[i % lens.length]!;
    const buf = new Uint8Array(Math.max(len, 1514));
    t.write(buf, 0);
    t.setLength(buf, 0, Math.max(len, 42));
    t.advance(buf, 0);
    for (let k = 1514; k < len; k++) buf[k] = (k * 31 + i) & 255;
    out.push({ buf, len });
  }
  return out;
}

function streamAll(path: string, bufSize?: number): Pkt[] {
  const r = PcapStreamReader.open(path, bufSize === undefined ? {} : { bufSize });
  const out: Pkt[] = [];
  try {
    while (r.next()) {
      out.push({
        tsSec: r.tsSec, tsNsec: r.tsNsec, capLen: r.caplen, origLen: r.origLen, linkType: r.linkType, ifIndex: r.ifIndex,
        data: r.buf.slice(r.offset, r.offset + r.caplen),
      });
    }
  } finally {
    r.close();
  }
  return out;
}

/** The in-memory readers' view, normalised to the stream reader's fields. */
function memAll(file: Uint8Array): Pkt[] {
  if (file[0] === 0x0a && file[1] === 0x0d) {
    return readPcapng(file).packets.map((p) => ({
      tsSec: p.tsSec, tsNsec: p.tsNsec, capLen: p.capLen, origLen: p.origLen, linkType: p.linkType, ifIndex: p.ifIndex,
      data: file.slice(p.offset, p.offset + p.capLen),
    }));
  }
  const f = readPcap(file);
  return f.packets.map((p) => ({
    tsSec: p.tsSec, tsNsec: f.nanosecond ? p.tsFrac : p.tsFrac * 1000, capLen: p.capLen, origLen: p.origLen, linkType: f.linkType, ifIndex: 0,
    data: file.slice(p.offset, p.offset + p.capLen),
  }));
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'pk-pstream-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

test('stream reader: classic pcap µs/ns × both byte orders round trip', () => withDir((dir) => {
  const fr = frames(40);
  for (const littleEndian of [true, false]) {
    for (const nanosecond of [false, true]) {
      const path = join(dir, `f-${littleEndian}-${nanosecond}.pcap`);
      const fd = openSync(path, 'w');
      const w = new PcapFdWriter(fd, { littleEndian, nanosecond, snapLen: 4000 });
      fr.forEach((f, i) => w.write(f.buf, 0, f.len, 1700000000 + i, nanosecond ? 999_999_990 + (i % 10) : i * 1000 + 7));
      w.flush();
      closeSync(fd);
      const got = streamAll(path, 4096 + 16);
      assert.equal(got.length, fr.length);
      got.forEach((p, i) => {
        const cap = Math.min(fr[i]!.len, 4000);
        assert.equal(p.capLen, cap);
        assert.equal(p.origLen, fr[i]!.len);
        assert.equal(p.tsSec, 1700000000 + i);
        assert.equal(p.tsNsec, nanosecond ? 999_999_990 + (i % 10) : (i * 1000 + 7) * 1000);
        assert.equal(p.linkType, 1);
        assert.deepEqual(p.data, fr[i]!.buf.subarray(0, cap));
      });
      assert.deepEqual(got, memAll(new Uint8Array(readFileSync(path))));
      const r = PcapStreamReader.open(path);
      assert.equal(r.format, 'pcap');
      assert.equal(r.littleEndian, littleEndian);
      assert.equal(r.nanosecond, nanosecond);
      assert.equal(r.snapLen, 4000);
      r.close();
    }
  }
}));

test('stream reader: pcapng with µs and ns interfaces, both byte orders', () => withDir((dir) => {
  const fr = frames(40);
  for (const littleEndian of [true, false]) {
    const path = join(dir, `f-${littleEndian}.pcapng`);
    const fd = openSync(path, 'w');
    const w = new PcapngFdWriter(fd, { littleEndian, interfaces: [{ nanosecond: true }, { linkType: 101 }] });
    fr.forEach((f, i) => w.write(i % 2, f.buf, 0, f.len, 1700000000 + i, i % 2 ? 999_999 : 999_999_999));
    w.flush();
    closeSync(fd);
    const got = streamAll(path, 16384);
    assert.equal(got.length, fr.length);
    got.forEach((p, i) => {
      assert.equal(p.ifIndex, i % 2);
      assert.equal(p.linkType, i % 2 ? 101 : 1);
      assert.equal(p.tsSec, 1700000000 + i);
      assert.equal(p.tsNsec, i % 2 ? 999_999_000 : 999_999_999);
      assert.deepEqual(p.data, fr[i]!.buf.subarray(0, fr[i]!.len));
    });
    assert.deepEqual(got, memAll(new Uint8Array(readFileSync(path))));
  }
}));

test('stream reader: 50 MB files through a 64 KiB buffer match the in-memory readers', { timeout: 120_000 }, () => withDir((dir) => {
  const fr = frames(64, [60, 1514, 9000, 0, 333, 64, 1500, 4097]);
  for (const fmt of ['pcap', 'pcapng'] as const) {
    const path = join(dir, `big.${fmt}`);
    const fd = openSync(path, 'w');
    const w = fmt === 'pcap'
      ? { pcap: new PcapFdWriter(fd, { nanosecond: true }, 1 << 20) }
      : { ng: new PcapngFdWriter(fd, { interfaces: [{}, { nanosecond: true }] }, 1 << 20) };
    let bytes = 0;
    let n = 0;
    while (bytes < 50e6) {
      const f = fr[n % fr.length]!;
      if (w.pcap) w.pcap.write(f.buf, 0, f.len, 1600000000 + (n >>> 10), n % 1_000_000_000);
      else w.ng!.write(n & 1, f.buf, 0, f.len, 1600000000 + (n >>> 10), n & 1 ? n % 1_000_000_000 : n % 1_000_000);
      bytes += f.len + (fmt === 'pcap' ? 16 : 32);
      n++;
    }
    (w.pcap ?? w.ng!).flush();
    closeSync(fd);
    const file = new Uint8Array(readFileSync(path));
    assert.ok(file.length > 50e6);
    const mem = fmt === 'pcap' ? readPcap(file).packets : readPcapng(file).packets;
    assert.equal(mem.length, n);
    const r = PcapStreamReader.open(path, { bufSize: 64 * 1024 });
    let i = 0;
    while (r.next()) {
      const m = mem[i]!;
      assert.equal(r.caplen, m.capLen);
      assert.equal(r.origLen, m.origLen);
      assert.equal(r.tsSec, m.tsSec);
      if (i % 1000 === 0 || r.caplen > 4096) {
        assert.ok(Buffer.from(r.buf.buffer, r.offset, r.caplen).equals(Buffer.from(file.buffer, m.offset, m.capLen)), `packet ${i}`);
      }
      i++;
    }
    assert.equal(i, n);
    // rewind for a looping replay
    r.rewind();
    let again = 0;
    while (r.next()) again++;
    assert.equal(again, n);
    r.close();
  }
}));

test('readBatch copies straight into ring-like slots, truncating to the slot', () => withDir((dir) => {
  const fr = frames(100);
  const path = join(dir, 'b.pcapng');
  const w = new PcapngMemWriter({ interfaces: [{ nanosecond: true }] });
  fr.forEach((f, i) => w.write(0, f.buf, 0, f.len, 1700000000 + i, i * 1000));
  writeFileSync(path, w.bytes());
  const want = memAll(w.bytes());

  const SLOTS = 64;
  const STRIDE = 2048;
  const region = new Uint8Array(SLOTS * STRIDE);
  const offs = new Uint32Array(32);
  const lens = new Uint16Array(32);
  const ts = new Float64Array(32);
  const r = PcapStreamReader.open(path, { bufSize: 16384 });
  let got = 0;
  let head = 0;
  for (;;) {
    // the "ring": the next 32 free slots, wrapping
    for (let k = 0; k < 32; k++) offs[k] = ((head + k) % SLOTS) * STRIDE;
    const n = r.readBatch(region, offs, lens, ts, 32, STRIDE);
    if (n === 0) break;
    for (let k = 0; k < n; k++) {
      const e = want[got + k]!;
      const cap = Math.min(e.capLen, STRIDE);
      assert.equal(lens[k], cap);
      assert.deepEqual(region.subarray(offs[k]!, offs[k]! + cap), e.data.subarray(0, cap));
      assert.ok(Math.abs(ts[k]! - (e.tsSec + e.tsNsec / 1e9)) < 1e-6);
    }
    got += n;
    head = (head + n) % SLOTS;
  }
  assert.equal(got, fr.length);
  assert.equal(r.truncated, want.filter((p) => p.capLen > STRIDE).length);
  assert.ok(r.truncated > 0);
  assert.equal(r.readBatch(region, offs, lens, ts, 32, STRIDE), 0);
  r.rewind();
  assert.equal(r.readBatch(region, offs, lens, ts, 5, STRIDE), 5);
  assert.throws(() => r.readBatch(region, offs, lens, ts, 33, STRIDE), RangeError);
  offs[0] = region.length - 10;
  assert.throws(() => r.readBatch(region, offs, lens, ts, 1, STRIDE), RangeError);
  r.close();
}));

test('readBatch returns the packets before a corrupt record, then throws it', () => withDir((dir) => {
  const fr = frames(10, [100]);
  const pw = new PcapWriter();
  const parts = [pw.header(), ...fr.map((f, i) => pw.record(f.buf, 0, f.len, i, 0))];
  const file = Buffer.concat(parts);
  const bad = 24 + 6 * 116; // record 6
  file.writeUInt32LE(300000, bad + 8);
  const path = join(dir, 'c.pcap');
  writeFileSync(path, file);
  const r = PcapStreamReader.open(path, { bufSize: 4096 });
  const dst = new Uint8Array(10 * 128);
  const offs = Uint32Array.from({ length: 10 }, (_, k) => k * 128);
  const lens = new Uint16Array(10);
  const ts = new Float64Array(10);
  assert.equal(r.readBatch(dst, offs, lens, ts, 10, 128), 6);
  for (let k = 0; k < 2; k++) {
    assert.throws(() => r.readBatch(dst, offs, lens, ts, 10, 128),
      (e: unknown) => e instanceof PcapError && e.reason === 'caplen-too-large' && e.offset === bad);
  }
  r.rewind();
  assert.equal(r.readBatch(dst, offs, lens, ts, 3, 128), 3);
  r.close();
}));

test('stream reader: big unknown blocks are skipped unread; big packets are errors naming the offset', () => withDir((dir) => {
  const w = new PcapngMemWriter({});
  const d = frames(1, [100])[0]!;
  w.write(0, d.buf, 0, 100, 1, 2);
  const hdrAndOne = w.bytes().slice();
  // A 200 KB custom block, then one more packet.
  const big = Buffer.alloc(200_000);
  big.writeUInt32LE(0x00000bad, 0);
  big.writeUInt32LE(big.length, 4);
  big.writeUInt32LE(big.length, big.length - 4);
  const tail = new PcapngMemWriter({});
  tail.write(0, d.buf, 0, 100, 3, 4);
  const lastEpb = tail.bytes().subarray(tail.writer.headerLength);
  const path = join(dir, 'u.pcapng');
  writeFileSync(path, Buffer.concat([hdrAndOne, big, lastEpb]));
  assert.deepEqual(streamAll(path, 4096).map((p) => [p.tsSec, p.tsNsec, p.capLen]), [[1, 2000, 100], [3, 4000, 100]]);
  // Same block with a wrong trailing length, and cut short.
  big.writeUInt32LE(8, big.length - 4);
  writeFileSync(path, Buffer.concat([hdrAndOne, big, lastEpb]));
  assert.throws(() => streamAll(path, 4096), (e: unknown) => e instanceof PcapngError && e.code === 'block-length-mismatch' && e.offset === hdrAndOne.length);
  writeFileSync(path, Buffer.concat([hdrAndOne, big.subarray(0, 100_000)]));
  assert.throws(() => streamAll(path, 4096), (e: unknown) => e instanceof PcapngError && e.code === 'truncated-block' && e.offset === hdrAndOne.length);

  // A 9000-byte packet with a 4096-byte buffer.
  const j = frames(1, [9000])[0]!;
  const wj = new PcapngMemWriter({});
  wj.write(0, d.buf, 0, 100, 1, 0);
  const at = wj.length;
  wj.write(0, j.buf, 0, 9000, 1, 0);
  writeFileSync(path, wj.bytes());
  assert.throws(() => streamAll(path, 4096), (e: unknown) => e instanceof PcapngError && e.code === 'block-exceeds-buffer' && e.offset === at);
  assert.equal(streamAll(path, 16384).length, 2);
  const pp = join(dir, 'j.pcap');
  const fd = openSync(pp, 'w');
  const pw = new PcapFdWriter(fd, {});
  pw.write(j.buf, 0, 9000, 1, 0);
  pw.flush();
  closeSync(fd);
  assert.throws(() => streamAll(pp, 4096), (e: unknown) => e instanceof PcapngError && e.code === 'block-exceeds-buffer' && e.offset === 24);
  // Constructor errors.
  writeFileSync(pp, Buffer.from('hello world, this is not a capture'));
  assert.throws(() => PcapStreamReader.open(pp), (e: unknown) => e instanceof PcapError && e.reason === 'bad-magic' && e.offset === 0);
  writeFileSync(pp, Buffer.from([0xd4, 0xc3, 0xb2, 0xa1, 2, 0]));
  assert.throws(() => PcapStreamReader.open(pp), (e: unknown) => e instanceof PcapError && e.reason === 'truncated-file-header' && e.offset === 0);
  assert.throws(() => PcapStreamReader.open(pp, { bufSize: 100 }), RangeError);
}));

function which(cmd: string): string | null {
  for (const d of (process.env['PATH'] ?? '/usr/sbin:/usr/bin').split(delimiter).concat(['/usr/sbin', '/sbin'])) {
    if (existsSync(join(d, cmd))) return join(d, cmd);
  }
  return null;
}
const tcpdump = which('tcpdump');
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0 ? ['-Z', 'root'] : [];

function td(args: string[]): string {
  return execFileSync(tcpdump!, [...asRoot, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('tcpdump reads our pcap and pcapng files (-tt timestamps match) and we read files tcpdump -w wrote', {
  skip: tcpdump ? false : missing('tcpdump'),
}, () => withDir((dir) => {
  const fr = frames(25, [60, 61, 1514, 42, 100, 999, 64]);
  const ts = fr.map((_, i) => [1700000000 + i * 3, (i * 987654321) % 1_000_000_000] as const);
  const files: string[] = [];
  // ours: pcap le-us, pcap be-ns, pcapng (µs + ns interfaces), pcapng big-endian ns
  {
    for (const [name, o] of [['le-us.pcap', {}], ['be-ns.pcap', { littleEndian: false, nanosecond: true }]] as const) {
      const fd = openSync(join(dir, name), 'w');
      const w = new PcapFdWriter(fd, o);
      fr.forEach((f, i) => w.write(f.buf, 0, f.len, ts[i]![0], 'nanosecond' in o ? ts[i]![1] : Math.floor(ts[i]![1] / 1000)));
      w.flush();
      closeSync(fd);
      files.push(name);
    }
    for (const [name, le] of [['two-if.pcapng', true], ['be.pcapng', false]] as const) {
      const w = new PcapngMemWriter({ littleEndian: le, interfaces: le ? [{}, { nanosecond: true }] : [{ nanosecond: true }] });
      fr.forEach((f, i) => {
        const ifi = le ? i % 2 : 0;
        const ns = !le || ifi === 1;
        w.write(ifi, f.buf, 0, f.len, ts[i]![0], ns ? ts[i]![1] : Math.floor(ts[i]![1] / 1000));
      });
      writeFileSync(join(dir, name), w.bytes());
      files.push(name);
    }
  }
  for (const name of files) {
    const path = join(dir, name);
    const ours = memAll(new Uint8Array(readFileSync(path)));
    for (const prec of ['micro', 'nano'] as const) {
      const out = td(['-nn', '-tt', `--time-stamp-precision=${prec}`, '-r', path]).trim().split('\n');
      assert.equal(out.length, fr.length, `${name}: ${out.join('\n')}`);
      out.forEach((line, i) => {
        const [sec, frac] = line.split(' ')[0]!.split('.');
        assert.equal(Number(sec), ours[i]!.tsSec, `${name} line ${i}`);
        const nsec = ours[i]!.tsNsec;
        assert.equal(Number(frac), prec === 'nano' ? nsec : Math.floor(nsec / 1000), `${name} ${prec} line ${i}: ${line}`);
        assert.match(line, /UDP/);
      });
      // tcpdump -r ours -w theirs: read theirs back with both readers.
      const theirs = join(dir, `${name}.${prec}.tcpdump.pcap`);
      td([`--time-stamp-precision=${prec}`, '-r', path, '-w', theirs]);
      const tfile = new Uint8Array(readFileSync(theirs));
      const tf = readPcap(tfile);
      assert.equal(tf.nanosecond, prec === 'nano');
      const mem = memAll(tfile);
      assert.deepEqual(streamAll(theirs, 8192), mem);
      assert.equal(mem.length, ours.length);
      mem.forEach((p, i) => {
        const o = ours[i]!;
        assert.deepEqual(p.data, o.data, `${name} packet ${i}`);
        assert.equal(p.origLen, o.origLen);
        assert.equal(p.tsSec, o.tsSec);
        assert.equal(p.tsNsec, prec === 'nano' ? o.tsNsec : Math.floor(o.tsNsec / 1000) * 1000);
      });
    }
  }
}));
