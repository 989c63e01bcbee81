// Interoperability with Wireshark's tools: the pcap and pcapng files our writers and
// `nmts capture -w` produce are read by `tshark -r` (same packets, lengths, timestamps,
// interfaces), and the files tshark, editcap and mergecap write are read by our readers
// (in memory and streamed) with the same bytes and timestamps. .ci/run installs tshark;
// without it (a developer machine) the tests are skipped.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from '../src/index.js';
import { PcapWriter, readPcap, type PcapWriterOptions } from '../src/packet/pcap.js';
import { PcapngMemWriter, readPcapng, type PcapngWriterOptions } from '../src/packet/pcapng.js';
import { PcapStreamReader } from '../src/packet/pcap-stream.js';
import { mix, mixFrame, sendFrames } from './fixtures/capture-frames.js';
import { missing } from './fixtures/requires.js';

const HAVE_TSHARK = spawnSync('tshark', ['-v'], { stdio: 'ignore' }).status === 0;
const skip = HAVE_TSHARK ? false : missing('tshark');
const dir = mkdtempSync(join(tmpdir(), 'nmts-tshark-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));

const LINKTYPE_RAW = 101;
/** tshark's frame.encap_type numbers (wiretap's WTAP_ENCAP_*), for the link types used here. */
const ENCAP = new Map([[1, '1'], [LINKTYPE_RAW, '7']]);

/** One packet as a file holds it; nsec is always nanoseconds. */
interface Rec {
  section: number;
  ifIndex: number;
  linkType: number;
  sec: number;
  nsec: number;
  capLen: number;
  origLen: number;
  data: Uint8Array;
}

/** `sec.nnnnnnnnn`, as tshark prints frame.time_epoch. */
const epoch = (sec: number, nsec: number): string => `${sec}.${String(nsec).padStart(9, '0')}`;

// ----------------------------------------------------------------- running the tools

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  // as root tshark warns on stderr ("Running as user root"): only the status counts
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const FIELDS = ['frame.len', 'frame.cap_len', 'frame.time_epoch', 'frame.encap_type', 'frame.interface_id', 'frame.interface_name', 'frame.section_number'] as const;
type Field = typeof FIELDS[number];

/** What `tshark -r FILE` sees, one object per packet. */
function tsharkRead(file: string): Array<Record<Field, string>> {
  const out = run('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=/t', ...FIELDS.flatMap((f) => ['-e', f])]);
  return out.split('\n').filter((l) => l.length > 0).map((l) => {
    const v = l.split('\t');
    return Object.fromEntries(FIELDS.map((f, i) => [f, v[i] ?? ''])) as Record<Field, string>;
  });
}

/** tshark's view must match the records: count, lengths, timestamps, link type (and interfaces when asked). */
function assertTsharkSees(file: string, want: Rec[], o: { interfaces?: boolean; names?: string[][] } = {}): void {
  const got = tsharkRead(file);
  assert.equal(got.length, want.length, `${file}: packet count`);
  want.forEach((w, i) => {
    const g = got[i]!;
    const at = `${file} packet ${i + 1}`;
    assert.equal(g['frame.len'], String(w.origLen), `${at}: frame.len`);
    assert.equal(g['frame.cap_len'], String(w.capLen), `${at}: frame.cap_len`);
    assert.equal(g['frame.time_epoch'], epoch(w.sec, w.nsec), `${at}: time`);
    assert.equal(g['frame.encap_type'], ENCAP.get(w.linkType), `${at}: encapsulation`);
    if (o.interfaces) {
      assert.equal(g['frame.interface_id'], String(w.ifIndex), `${at}: interface`);
      assert.equal(g['frame.section_number'], String(w.section + 1), `${at}: section`);
    }
    if (o.names) assert.equal(g['frame.interface_name'], o.names[w.section]![w.ifIndex] ?? '', `${at}: interface name`);
  });
}

// ----------------------------------------------------------------- our readers

/** Every packet of a pcap or pcapng file, read whole into memory. */
function readAll(file: string): Rec[] {
  const buf = readFileSync(file);
  if (buf.readUInt32LE(0) === 0x0a0d0d0a) {
    return readPcapng(buf).packets.map((p) => ({
      section: p.section, ifIndex: p.ifIndex, linkType: p.linkType, sec: p.tsSec, nsec: p.tsNsec,
      capLen: p.capLen, origLen: p.origLen, data: buf.subarray(p.offset, p.offset + p.capLen),
    }));
  }
  const f = readPcap(buf);
  return f.packets.map((p) => ({
    section: 0, ifIndex: 0, linkType: f.linkType, sec: p.tsSec, nsec: f.nanosecond ? p.tsFrac : p.tsFrac * 1000,
    capLen: p.capLen, origLen: p.origLen, data: buf.subarray(p.offset, p.offset + p.capLen),
  }));
}

/** The same through the streaming reader with a small buffer (many refills; the jumbo frame fits). */
function streamAll(file: string): Rec[] {
  const r = PcapStreamReader.open(file, { bufSize: 16384 });
  const out: Rec[] = [];
  try {
    while (r.next()) {
      out.push({
        section: r.section, ifIndex: r.ifIndex, linkType: r.linkType, sec: r.tsSec, nsec: r.tsNsec,
        capLen: r.caplen, origLen: r.origLen, data: r.buf.slice(r.offset, r.offset + r.caplen),
      });
    }
  } finally {
    r.close();
  }
  return out;
}

/** Both of our readers find exactly `want` in `file` (bytes included). */
function assertWeRead(file: string, want: Rec[], o: { interfaces?: boolean } = {}): void {
  for (const [how, got] of [['readPcap/readPcapng', readAll(file)], ['PcapStreamReader', streamAll(file)]] as const) {
    assert.equal(got.length, want.length, `${file} (${how}): packet count`);
    want.forEach((w, i) => {
      const g = got[i]!;
      const at = `${file} (${how}) packet ${i + 1}`;
      assert.deepEqual([g.sec, g.nsec, g.capLen, g.origLen, g.linkType], [w.sec, w.nsec, w.capLen, w.origLen, w.linkType], at);
      assert.ok(Buffer.from(g.data).equals(Buffer.from(w.data)), `${at}: bytes differ`);
      if (o.interfaces) assert.deepEqual([g.section, g.ifIndex], [w.section, w.ifIndex], `${at}: section/interface`);
    });
  }
}

// ----------------------------------------------------------------- files we write

/** Packet i of the test files: the capture mix (60..290 bytes), an Ethernet header alone, a jumbo. */
function frame(i: number): Uint8Array {
  if (i === 3) return mixFrame(0).subarray(0, 14);
  if (i === 5) {
    const f = new Uint8Array(9000);
    f.set(mixFrame(1));
    for (let k = 290; k < f.length; k++) f[k] = k & 255;
    return f;
  }
  return mixFrame(i);
}

/** Timestamps that reach the edges: second 0, the largest 32-bit second, the largest fraction. */
function stamp(i: number, nano: boolean): [number, number] {
  const unit = nano ? 1e9 : 1e6;
  if (i === 0) return [0, 1];
  if (i === 1) return [0xffffffff, unit - 1];
  return [1_700_000_000 + i * 7, (i * 123_456_789) % unit];
}

function writePcapFile(name: string, o: PcapWriterOptions, n: number): { file: string; recs: Rec[] } {
  const w = new PcapWriter(o);
  const parts: Uint8Array[] = [w.header()];
  const recs: Rec[] = [];
  for (let i = 0; i < n; i++) {
    const f = frame(i);
    const [sec, frac] = stamp(i, w.nanosecond);
    parts.push(w.record(f, 0, f.length, sec, frac));
    const capLen = Math.min(f.length, w.snapLen);
    recs.push({ section: 0, ifIndex: 0, linkType: 1, sec, nsec: w.nanosecond ? frac : frac * 1000, capLen, origLen: f.length, data: f.subarray(0, capLen) });
  }
  const file = join(dir, name);
  writeFileSync(file, Buffer.concat(parts));
  return { file, recs };
}

/** A section's interfaces: Ethernet in µs with a name, Ethernet in ns, raw IPv4 with a 100-byte snaplen. */
const IFACES: NonNullable<PcapngWriterOptions['interfaces']> = [
  { name: 'nmts0' }, { name: 'vale0:1', nanosecond: true }, { linkType: LINKTYPE_RAW, snapLen: 100 },
];

/** One pcapng section (SHB + IDBs + EPBs); packets go round the interfaces. */
function pcapngSection(section: number, littleEndian: boolean, n: number, first: number): { bytes: Uint8Array; recs: Rec[] } {
  const w = new PcapngMemWriter({ littleEndian, interfaces: IFACES });
  const recs: Rec[] = [];
  for (let k = 0; k < n; k++) {
    const i = first + k, ifIndex = (i + section) % IFACES.length;
    const itf = w.writer.interfaces[ifIndex]!;
    const f = itf.linkType === LINKTYPE_RAW ? mixFrame(i).subarray(14) : frame(i);
    const [sec, frac] = stamp(i, itf.nanosecond);
    w.write(ifIndex, f, 0, f.length, sec, frac);
    const capLen = Math.min(f.length, itf.snapLen);
    recs.push({ section, ifIndex, linkType: itf.linkType, sec, nsec: itf.nanosecond ? frac : frac * 1000, capLen, origLen: f.length, data: f.subarray(0, capLen) });
  }
  return { bytes: w.bytes().slice(), recs };
}

function writePcapngFile(name: string, sections: boolean[], n: number): { file: string; recs: Rec[] } {
  const parts = sections.map((le, s) => pcapngSection(s, le, n, s * n));
  const file = join(dir, name);
  writeFileSync(file, Buffer.concat(parts.map((p) => p.bytes)));
  return { file, recs: parts.flatMap((p) => p.recs) };
}

const PCAPS = [
  { name: 'us-le.pcap', o: {} },
  { name: 'us-be.pcap', o: { littleEndian: false } },
  { name: 'ns-le.pcap', o: { nanosecond: true } },
  { name: 'ns-be.pcap', o: { nanosecond: true, littleEndian: false, snapLen: 128 } },
] satisfies Array<{ name: string; o: PcapWriterOptions }>;

describe('tshark reads the files we write', { skip }, () => {
  for (const { name, o } of PCAPS) {
    test(`pcap ${name}${o.snapLen ? ` (snaplen ${o.snapLen})` : ''}`, () => {
      const { file, recs } = writePcapFile(name, o, 40);
      assertTsharkSees(file, recs);
      assertWeRead(file, recs);
    });
  }

  for (const le of [true, false]) {
    test(`pcapng, ${le ? 'little' : 'big'}-endian: three interfaces (µs, ns, raw IP with a snaplen)`, () => {
      const { file, recs } = writePcapngFile(`ifaces-${le ? 'le' : 'be'}.pcapng`, [le], 45);
      assert.ok(recs.some((r) => r.capLen < r.origLen), 'some packets are cut by the snaplen');
      assertTsharkSees(file, recs, { interfaces: true, names: [['nmts0', 'vale0:1', 'unknown']] });
      assertWeRead(file, recs, { interfaces: true });
    });
  }

  test('pcapng with two sections (little- then big-endian), three interfaces each', () => {
    const { file, recs } = writePcapngFile('sections.pcapng', [true, false], 30);
    // tshark 4.0 numbers frame.interface_id within a section but looks names up in one
    // list for the whole file: compare sections, link types, lengths and times only
    assertTsharkSees(file, recs);
    assert.deepEqual(tsharkRead(file).map((p) => p['frame.section_number']), recs.map((r) => String(r.section + 1)));
    assertWeRead(file, recs, { interfaces: true });
  });
});

// ----------------------------------------------------------------- nmts capture -w

const SW = `valeTs${process.pid}`;

/** `nmts capture -i SW:NAME -c N -w FILE ...` in a child process while N frames of the mix are sent. */
function nmtsCapture(name: string, n: number, file: string, extra: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [NMTS, 'capture', '-i', `${SW}:${name}`, '-c', String(n), '-w', file, ...extra],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
    let stderr = '', sent = false;
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (!sent && stderr.includes('listening on')) {
        sent = true;
        const tx = open(`${SW}:tx${name}`);
        try { sendFrames(tx, mix(n)); } finally { tx.close(); }
      }
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

describe('tshark reads what nmts capture -w writes', { skip, concurrency: true }, () => {
  const N = 200;
  for (const extra of [[], ['--nano'], ['--pcapng'], ['--pcapng', '--nano'], ['-s', '100']]) {
    test(`nmts capture -w ${extra.join(' ')}`.trimEnd(), async () => {
      const name = `c${extra.join('').replace(/[^a-z0-9]/g, '')}`;
      const file = join(dir, `${name}.${extra.includes('--pcapng') ? 'pcapng' : 'pcap'}`);
      const t0 = Date.now() / 1000;
      const r = await nmtsCapture(name, N, file, extra);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`^${N} packets captured$`, 'm'));
      const ours = readAll(file);
      assert.equal(ours.length, N);
      const snap = extra.includes('-s') ? 100 : Infinity;
      ours.forEach((p, i) => {
        const f = mixFrame(i);
        assert.equal(p.origLen, f.length);
        assert.ok(Buffer.from(p.data).equals(Buffer.from(f.subarray(0, Math.min(f.length, snap)))), `packet ${i + 1} bytes`);
        assert.ok(Math.abs(p.sec - t0) < 30, `packet ${i + 1} time ${p.sec} near ${t0}`);
        if (!extra.includes('--nano')) assert.equal(p.nsec % 1000, 0);
      });
      assert.ok(ours.some((p) => p.capLen < p.origLen) === extra.includes('-s'));
      assertTsharkSees(file, ours, { interfaces: extra.includes('--pcapng'), names: extra.includes('--pcapng') ? [[`${SW}:${name}`]] : undefined });
    });
  }
});

// ----------------------------------------------------------------- files tshark and editcap write

/** What a conversion to microseconds does to a record (tshark and editcap truncate). */
const toMicro = (r: Rec): Rec => ({ ...r, nsec: r.nsec - (r.nsec % 1000) });

describe('our readers read what tshark, editcap and mergecap write', { skip }, () => {
  const us = (): { file: string; recs: Rec[] } => writePcapFile('src-us.pcap', {}, 40);
  const ns = (): { file: string; recs: Rec[] } => writePcapFile('src-ns.pcap', { nanosecond: true, littleEndian: false }, 40);
  const out = (name: string): string => join(dir, name);

  test('tshark -w -F pcapng / pcap / nsecpcap from a microsecond pcap', () => {
    const { file, recs } = us();
    for (const [fmt, name] of [['pcapng', 'us.pcapng'], ['pcap', 'us-again.pcap'], ['nsecpcap', 'us-to-ns.pcap']] as const) {
      run('tshark', ['-r', file, '-w', out(name), '-F', fmt]);
      assertWeRead(out(name), recs);
    }
    assert.equal(readPcap(readFileSync(out('us-to-ns.pcap'))).nanosecond, true);
    assert.equal(readPcap(readFileSync(out('us-again.pcap'))).nanosecond, false);
  });

  test('tshark -w from a nanosecond big-endian pcap: pcapng keeps the nanoseconds, pcap truncates', () => {
    const { file, recs } = ns();
    run('tshark', ['-r', file, '-w', out('ns.pcapng'), '-F', 'pcapng']);
    assertWeRead(out('ns.pcapng'), recs);
    assert.equal(readPcapng(readFileSync(out('ns.pcapng'))).sections[0]!.interfaces[0]!.tsResol, 9);
    run('tshark', ['-r', file, '-w', out('ns-again.pcap'), '-F', 'nsecpcap']);
    assertWeRead(out('ns-again.pcap'), recs);
    run('tshark', ['-r', file, '-w', out('ns-to-us.pcap'), '-F', 'pcap']);
    assert.ok(recs.some((r) => r.nsec % 1000 !== 0));
    assertWeRead(out('ns-to-us.pcap'), recs.map(toMicro));
  });

  test('tshark -w -F pcapng from our three-interface pcapng keeps the interfaces', () => {
    const { file, recs } = writePcapngFile('src-ifaces.pcapng', [false], 45);
    run('tshark', ['-r', file, '-w', out('ifaces-tshark.pcapng'), '-F', 'pcapng']);
    assertWeRead(out('ifaces-tshark.pcapng'), recs, { interfaces: true });
    const ifs = readPcapng(readFileSync(out('ifaces-tshark.pcapng'))).sections[0]!.interfaces;
    assert.deepEqual(ifs.map((i) => [i.linkType, i.tsResol]), [[1, 6], [1, 9], [LINKTYPE_RAW, 6]]);
  });

  test('editcap: comments, decryption secrets, snaplen, time shift, formats', () => {
    const { file, recs } = us();
    const keys = out('keys.txt');
    writeFileSync(keys, `CLIENT_RANDOM ${'ab'.repeat(32)} ${'cd'.repeat(48)}\n`);
    // an SHB comment, a Decryption Secrets Block before the packets and an EPB comment:
    // blocks and options our reader skips
    run('editcap', ['--capture-comment', 'made by editcap', '--inject-secrets', `tls,${keys}`, '-a', '2:second packet', file, out('ed.pcapng')]);
    const raw = readFileSync(out('ed.pcapng'));
    assert.ok(raw.includes(Buffer.from('CLIENT_RANDOM')) && raw.includes(Buffer.from('second packet')));
    assertWeRead(out('ed.pcapng'), recs);

    run('editcap', ['-s', '64', file, out('ed-snap.pcapng')]);
    assertWeRead(out('ed-snap.pcapng'), recs.map((r) => ({ ...r, capLen: Math.min(r.capLen, 64), data: r.data.subarray(0, 64) })));

    run('editcap', ['-F', 'pcap', '-t', '1.5', file, out('ed-later.pcap'), '1', '2']); // drop the edge times
    assertWeRead(out('ed-later.pcap'), recs.slice(2).map((r) => {
      const t = r.nsec + 500_000_000;
      return { ...r, sec: r.sec + 1 + Math.floor(t / 1e9), nsec: t % 1e9 };
    }));

    const n = ns();
    run('editcap', ['-F', 'nsecpcap', n.file, out('ed-ns.pcap')]);
    assertWeRead(out('ed-ns.pcap'), n.recs);
  });

  test('mergecap -I none: two pcaps (µs and ns) become one pcapng with two interfaces', () => {
    const a = writePcapFile('merge-a.pcap', {}, 12), b = writePcapFile('merge-b.pcap', { nanosecond: true }, 12);
    run('mergecap', ['-I', 'none', '-w', out('merged.pcapng'), a.file, b.file]);
    // mergecap merges: each file keeps its order, the earlier of the two next packets goes first
    const want: Rec[] = [];
    const bs = b.recs.map((r) => ({ ...r, ifIndex: 1 }));
    for (let i = 0, j = 0; i < a.recs.length || j < bs.length;) {
      const x = a.recs[i], y = bs[j];
      if (y === undefined || (x !== undefined && (x.sec < y.sec || (x.sec === y.sec && x.nsec <= y.nsec)))) { want.push(x!); i++; } else { want.push(y); j++; }
    }
    assertWeRead(out('merged.pcapng'), want, { interfaces: true });
    assertTsharkSees(out('merged.pcapng'), want, { interfaces: true });
  });
});
