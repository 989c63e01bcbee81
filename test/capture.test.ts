// nmts capture: the library function on VALE ports and monitors (files checked with the
// real tcpdump -r), rotation, drops, and the CLI in child processes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, type Port } from '../src/index.js';
import { capture, formatCounters, parseCaptureArgs, CaptureUsageError, describePacket, strftime } from '../src/apps/capture/capture.js';
import { compileFilter, FilterSyntaxError } from '../src/packet/filter.js';
import { readPcap } from '../src/packet/pcap.js';
import { readPcapng } from '../src/packet/pcapng.js';
import { countPort53, mix, mixFrame, sendFrames, tcpdumpLines } from './fixtures/capture-frames.js';
import { needs } from './fixtures/requires.js';

/** These tests read what was captured back with the real tcpdump. */
const skipTcpdump = needs(['tcpdump']);

const SW = `valeCap${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'nmts-capture-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const quiet = { err: (): void => {} };
const later = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Capture on `name` (created by the capture) while a sender port on the same switch floods
 * `frames` into it; stops after `count` packets or, without a count, once idle.
 */
async function captureFrames(name: string, frames: Uint8Array[], opts: Parameters<typeof capture>[0] extends infer O ? Omit<O, 'port'> : never) {
  const ac = new AbortController();
  const tx = open(`${SW}:tx${name}`);
  try {
    return await capture({ port: `${SW}:${name}`, pollMs: 20, ...opts }, {
      ...quiet,
      signal: ac.signal,
      onReady: () => {
        sendFrames(tx, frames);
        if (!opts.count) setTimeout(() => ac.abort(), 150);
      },
    });
  } finally {
    tx.close();
  }
}

describe('capture to files', { skip: skipTcpdump }, () => {
  const N = 250;
  const n53 = countPort53(N);

  test('pcap: every frame of the mix, readable by tcpdump -r, filters agree', async () => {
    const file = join(dir, 'all.pcap');
    const r = await captureFrames('all', mix(N), { file });
    assert.deepEqual({ captured: r.captured, received: r.received, dropped: r.dropped }, { captured: N, received: N, dropped: 0 });
    assert.deepEqual(r.files, [file]);
    assert.equal(tcpdumpLines(file).length, N);
    assert.equal(tcpdumpLines(file, ['udp', 'port', '53']).length, n53);
    assert.equal(tcpdumpLines(file, ['ip6']).length, 2 * N / 5);
    const p = readPcap(readFileSync(file));
    assert.equal(p.snapLen, 262144);
    assert.equal(p.nanosecond, false);
    p.packets.forEach((k, i) => {
      assert.equal(k.capLen, mixFrame(i).length);
      assert.equal(k.origLen, k.capLen);
    });
  });

  test('a filter expression keeps only its packets; received counts all', async () => {
    const file = join(dir, 'dns.pcap');
    const r = await captureFrames('dns', mix(N), { file, filter: 'udp port 53' });
    assert.equal(r.captured, n53);
    assert.equal(r.received, N);
    const lines = tcpdumpLines(file);
    assert.equal(lines.length, n53);
    assert.equal(tcpdumpLines(file, ['udp', 'port', '53']).length, n53);
    assert.ok(lines.every((l) => /\.53: /.test(l)), lines[0]);
  });

  test('pcapng with nanosecond timestamps', async () => {
    const file = join(dir, 'all.pcapng');
    const t0 = Date.now();
    const r = await captureFrames('ng', mix(N), { file, pcapng: true, nano: true, filter: 'tcp or ip6' });
    const want = mix(N).filter((f) => compileFilter('tcp or ip6')(f, 0, f.length)).length;
    assert.equal(r.captured, want);
    assert.equal(tcpdumpLines(file).length, want);
    assert.equal(tcpdumpLines(file, ['ip6']).length, 2 * N / 5);
    const ng = readPcapng(readFileSync(file));
    assert.equal(ng.packets.length, want);
    const ts = ng.packets[0]!.tsSec * 1000 + ng.packets[0]!.tsNsec / 1e6;
    assert.ok(Math.abs(ts - t0) < 5000, `timestamp ${ts} near ${t0}`);
    assert.ok(ng.packets.some((p) => p.tsNsec % 1000 !== 0), 'sub-microsecond digits are kept');
  });

  test('-c stops after exactly COUNT packets; -s 64 cuts caplen and keeps origLen', async () => {
    const file = join(dir, 'c37.pcap');
    const r = await captureFrames('c37', mix(N), { file, count: 37, snaplen: 64 });
    assert.equal(r.captured, 37);
    assert.equal(r.received, 37);
    assert.equal(tcpdumpLines(file).length, 37);
    const p = readPcap(readFileSync(file));
    assert.equal(p.snapLen, 64);
    assert.equal(p.packets.length, 37);
    p.packets.forEach((k, i) => {
      assert.equal(k.origLen, mixFrame(i).length);
      assert.equal(k.capLen, Math.min(64, k.origLen));
    });
    assert.ok(p.packets.some((k) => k.origLen > 64));
  });

  test('-C rotation: file, file1, file2 ... hold all the packets; -W makes a ring', async () => {
    const file = join(dir, 'rot.pcap');
    const r = await captureFrames('rot', mix(N), { file, rotateBytes: 10_000 });
    assert.ok(r.files.length >= 3, `${r.files.length} files`);
    assert.deepEqual(r.files, r.files.map((_, i) => (i === 0 ? file : `${file}${i}`)));
    const counts = r.files.map((f) => tcpdumpLines(f).length);
    assert.equal(counts.reduce((a, b) => a + b, 0), N);
    for (const f of r.files.slice(0, -1)) {
      const size = statSync(f).size;
      assert.ok(size > 10_000 && size < 10_000 + 400, `${f}: ${size} bytes`);
    }
    const udp53 = r.files.map((f) => tcpdumpLines(f, ['udp', 'port', '53']).length).reduce((a, b) => a + b, 0);
    assert.equal(udp53, n53);

    const ring = join(dir, 'ring.pcap');
    const rr = await captureFrames('ring', mix(N), { file: ring, rotateBytes: 10_000, fileLimit: 3 });
    assert.ok(rr.files.length > 3);
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('ring.pcap')).sort(), ['ring.pcap0', 'ring.pcap1', 'ring.pcap2']);
    const kept = [0, 1, 2].map((i) => tcpdumpLines(`${ring}${i}`).length).reduce((a, b) => a + b, 0);
    assert.ok(kept < N && kept > 0);
  });

  test('-G rotation names files with strftime and -W stops after N files', async () => {
    let now = new Date(2024, 0, 2, 3, 4, 5, 250).getTime();
    const tx = open(`${SW}:txg`);
    const ac = new AbortController();
    const file = join(dir, 'g-%Y%m%d-%H%M%S.pcap');
    try {
      const run = capture({ port: `${SW}:g`, file, rotateSeconds: 1, fileLimit: 2, pollMs: 10 }, {
        ...quiet, signal: ac.signal, clock: () => now, onReady: () => sendFrames(tx, mix(10)),
      });
      await later(50);
      now += 1500;
      sendFrames(tx, mix(20, 10));
      await later(50);
      now += 1500;
      sendFrames(tx, mix(5, 30)); // the third file would start here: -W 2 stops instead
      const timer = setTimeout(() => ac.abort(), 2000);
      const r = await run;
      clearTimeout(timer);
      assert.equal(ac.signal.aborted, false, 'the capture stopped by itself');
      assert.deepEqual(r.files, [join(dir, 'g-20240102-030405.pcap'), join(dir, 'g-20240102-030406.pcap')]);
      assert.deepEqual(r.files.map((f) => tcpdumpLines(f).length), [10, 20]);
      assert.equal(r.captured, 30);
    } finally {
      tx.close();
    }
  });
});

test('a /rt monitor sees both directions of a port in use', { skip: skipTcpdump }, async () => {
  const a = open(`${SW}:ma`), b = open(`${SW}:mb`);
  const MA = '02:00:00:00:01:0a', MB = '02:00:00:00:01:0b';
  const file = join(dir, 'mon.pcap');
  try {
    const r = await capture({ port: `${SW}:ma/rt`, file, count: 12, pollMs: 20 }, {
      ...quiet,
      onReady: () => {
        sendFrames(a, mix(7, 0, MB, MA)); // a -> b: a's tx side
        sendFrames(b, mix(5, 100, MA, MB)); // b -> a: a's rx side, seen when a picks them up
        a.rxsync();
        for (const ring of a.rxRings) ring.advance(ring.tail);
        a.rxsync();
      },
    });
    assert.equal(r.captured, 12);
    assert.equal(tcpdumpLines(file).length, 12);
    assert.equal(tcpdumpLines(file, ['ether', 'src', MA]).length, 7);
    assert.equal(tcpdumpLines(file, ['ether', 'src', MB]).length, 5);
  } finally {
    a.close(); b.close();
  }
});

test('a full capture ring drops; the dropped count is the port rxDrops', async () => {
  const port: Port = open(`${SW}:drop@conf:slots=64`);
  const tx = open(`${SW}:txdrop`);
  try {
    const r = await capture({ port, file: join(dir, 'drop.pcap'), count: 63 }, {
      ...quiet,
      onReady: () => sendFrames(tx, mix(200)), // nobody drains meanwhile: 63 fit
    });
    assert.equal(r.captured, 63);
    assert.equal(r.dropped, 137);
    assert.equal(r.dropped, port.stats().rxDrops);
    assert.deepEqual(formatCounters(r), ['63 packets captured', '63 packets received by filter', '137 packets dropped by kernel']);
    assert.equal(port.isClosed, false, 'a port given by the caller stays open');
  } finally {
    port.close(); tx.close();
  }
});

test('text lines: time, src > dst, protocol, length', async () => {
  const lines: string[] = [];
  const tx = open(`${SW}:txtxt`);
  try {
    const frames = mix(5);
    const r = await capture({ port: `${SW}:txt`, count: 5 }, { ...quiet, out: (l) => lines.push(l), onReady: () => sendFrames(tx, frames) });
    assert.equal(r.captured, 5);
    const re = [
      /^\d\d:\d\d:\d\d\.\d{6} IP 10\.0\.0\.1\.1234 > 10\.0\.0\.2\.53: UDP, length 10$/,
      /^\d\d:\d\d:\d\d\.\d{6} IP 10\.0\.0\.1\.1234 > 10\.0\.0\.3\.80: UDP, length 47$/,
      /^\d\d:\d\d:\d\d\.\d{6} IP 10\.0\.0\.1\.40000 > 10\.0\.0\.4\.80: Flags \[none\], seq 0:84, win 0, length 84$/,
      /^\d\d:\d\d:\d\d\.\d{6} IP6 fd00::1\.1234 > fd00::2\.53: UDP, length 121$/,
      /^\d\d:\d\d:\d\d\.\d{6} IP6 fd00::1\.40000 > fd00::3\.443: Flags \[none\], seq 0:158, win 0, length 158$/,
    ];
    lines.forEach((l, i) => assert.match(l, re[i]!));
    const f = frames[2]!;
    assert.equal(describePacket(f, 0, f.length, f.length, true), 'IP 10.0.0.1.40000 > 10.0.0.4.80: tcp 84');
    assert.match(describePacket(f, 0, 64, f.length, false, true), /^02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 \(0x0800\), length 138: 10\.0\.0\.1\.40000 > /); // tcpdump -e drops the "IP "
  } finally {
    tx.close();
  }
});

test('options: tcpdump letters, expression words joined, errors', () => {
  const o = parseCaptureArgs(['-i', 'vale0:1', '-c10', '-s', '0', 'udp', '-q', 'port', '53', '-w', 'x.pcap', '-C', '2k', '-W', '3']);
  assert.equal(o.count, 10);
  assert.equal(o.snaplen, 262144);
  assert.equal(o.filter, 'udp port 53');
  assert.equal(o.rotateBytes, 2048);
  assert.equal(o.fileLimit, 3);
  assert.equal(o.quick, true);
  assert.equal(parseCaptureArgs(['-i', 'p', '-w', 'f', '-C', '3']).rotateBytes, 3_000_000);
  assert.equal(parseCaptureArgs(['-i', 'p', '--', '-c', 'x']).filter, '-c x');
  for (const bad of [['-w', 'f'], ['-i', 'p', '-c', '0'], ['-i', 'p', '-C', '1'], ['-i', 'p', '-w', '-', '-G', '5'], ['-i', 'p', '-w', 'f', '-W', '2'], ['-i', 'p', '-Z']]) {
    assert.throws(() => parseCaptureArgs(bad), CaptureUsageError, bad.join(' '));
  }
  assert.equal(strftime('%Y-%m-%d %H:%M:%S %j %%', new Date(2024, 1, 3, 4, 5, 6)), '2024-02-03 04:05:06 034 %');
});

// ------------------------------------------------------------------ the command
// (the CLI tests run concurrently: each has its own switch, floods stay there)

const CLI = fileURLToPath(new URL('./fixtures/capture-cli.js', import.meta.url));

interface Run { status: number | null; signal: string | null; stdout: Buffer; stderr: string }

/** Run the capture command; `whenListening` runs once it says "listening on". */
function nmtsCapture(args: string[], whenListening?: (kill: (s: NodeJS.Signals) => void) => void | Promise<void>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    const out: Buffer[] = [];
    let stderr = '', started = false;
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (!started && whenListening && stderr.includes('listening on')) {
        started = true;
        Promise.resolve(whenListening((s) => child.kill(s))).catch(reject);
      }
    });
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout: Buffer.concat(out), stderr }));
  });
}

describe('nmts capture (CLI)', { concurrency: true }, () => {
  test('-w - writes pcap to stdout; SIGINT prints the counters', { skip: skipTcpdump }, async () => {
    const tx = open(`${SW}c1:tx`);
    try {
      const r = await nmtsCapture(['-i', `${SW}c1:cap`, '-w', '-', 'udp', 'port', '53'], async (kill) => {
        sendFrames(tx, mix(100));
        await later(400);
        kill('SIGINT');
      });
      assert.equal(r.status, 0, r.stderr);
      const file = join(dir, 'stdout.pcap');
      (await import('node:fs')).writeFileSync(file, r.stdout);
      assert.equal(tcpdumpLines(file).length, countPort53(100));
      assert.match(r.stderr, new RegExp(`^${countPort53(100)} packets captured$`, 'm'));
      assert.match(r.stderr, /^100 packets received by filter$/m);
      assert.match(r.stderr, /^0 packets dropped by kernel$/m);
    } finally {
      tx.close();
    }
  });

  test('text mode with -c and -q', async () => {
    const tx = open(`${SW}c2:tx`);
    try {
      const r = await nmtsCapture(['-i', `${SW}c2:cap`, '-c', '4', '-q', 'tcp'], () => sendFrames(tx, mix(30)));
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.toString().trim().split('\n');
      assert.equal(lines.length, 4);
      assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{6} IP 10\.0\.0\.1\.40000 > 10\.0\.0\.4\.80: tcp \d+$/);
      assert.match(lines[1]!, / IP6 fd00::1\.40000 > fd00::3\.443: tcp \d+$/);
      assert.match(r.stderr, /^4 packets captured$/m);
    } finally {
      tx.close();
    }
  });

  test('a bad filter exits 2 and shows the position', async () => {
    const expr = 'udp port 53 and (tcp or';
    const r = await nmtsCapture(['-i', `${SW}:cli3`, ...expr.split(' ')]);
    assert.equal(r.status, 2);
    let pos = -1;
    try { compileFilter(expr); } catch (e) { pos = (e as FilterSyntaxError).position; }
    assert.ok(pos > 0);
    assert.match(r.stderr, new RegExp(` at ${pos}: `));
    assert.ok(r.stderr.includes(`\n  ${' '.repeat(pos)}^`), r.stderr);
  });

  test('usage errors exit 2; a missing interface fails naming it; --help', async () => {
    const [u, n, h] = await Promise.all([
      nmtsCapture(['-i', `${SW}:cli4`, '-C', '1']),
      nmtsCapture(['-i', 'netmap:nmtsnone0', '-c', '1']),
      nmtsCapture(['--help']),
    ]);
    assert.equal(u.status, 2);
    assert.match(u.stderr, /-C and -G need -w FILE/);
    assert.equal(n.status, 1);
    assert.match(n.stderr, /netmap:nmtsnone0: no such interface 'nmtsnone0'/);
    assert.equal(h.status, 0);
    assert.match(h.stdout.toString(), /usage: nmts capture -i PORT/);
  });
});
