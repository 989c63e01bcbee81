// nmts replay: exact counts and bytes through a pipe (a worker receives on the other end),
// pacing, the statistics block, and the errors. Timing assertions are generous lower
// bounds, or tolerances on rates measured over seconds; timeouts only guard against hangs.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import '../src/index.js';
import { PcapWriter } from '../src/packet/pcap.js';
import { PcapngMemWriter } from '../src/packet/pcapng.js';
import { defaultReplayOptions, parseReplayArgs, replay, ReplayUsageError, statsBlock, type ReplayOptions, type ReplayResult } from '../src/apps/replay/replay.js';
import { FlowTable, flowStatsLine, packetStatsLines } from '../src/apps/replay/stats.js';
import type { RxJob, RxResult } from './fixtures/replay-rx.js';

const dir = mkdtempSync(join(tmpdir(), 'nmts-replay-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const cli = fileURLToPath(new URL('./fixtures/replay-cli.js', import.meta.url));
const id = process.pid % 100000;

// --- helpers ------------------------------------------------------------------------

/** Ethernet + IPv4 + UDP frame of `len` bytes, flow `flow` (dst IP / src port), seq `i` at byte 42. */
function udpFrame(i: number, len: number, flow = 0): Uint8Array {
  const f = new Uint8Array(len);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00], 0);
  f.set([0x45, 0, (len - 14) >> 8, (len - 14) & 255, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 1, flow & 255], 14);
  const sp = 1000 + flow;
  f.set([sp >> 8, sp & 255, 0x07, 0xd0, (len - 34) >> 8, (len - 34) & 255, 0, 0], 34);
  new DataView(f.buffer).setUint32(42, i);
  for (let k = 46; k < len; k++) f[k] = (i + k) & 255;
  return f;
}
function arpFrame(): Uint8Array {
  const f = new Uint8Array(60);
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06], 0);
  return f;
}

/** A pcap with `frames`, `gapUs` microseconds apart. */
function writePcap(name: string, frames: Uint8Array[], gapUs: number): string {
  const w = new PcapWriter({ snapLen: 65535 });
  const parts: Uint8Array[] = [w.header()];
  let t = 1_700_000_000 * 1e6;
  for (const f of frames) {
    parts.push(w.record(f, 0, f.length, Math.floor(t / 1e6), t % 1e6));
    t += gapUs;
  }
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

function opts(o: Partial<ReplayOptions>): ReplayOptions {
  return { ...defaultReplayOptions(), progressSec: 0, ...o };
}

const quietIo = { out: (): void => {}, err: (): void => {} };

/** Start a receiver worker on `name`; resolves `ready` when its port is open. */
function receiver(job: Omit<RxJob, 'ctrl'>): { ready: Promise<void>; stop: () => Promise<RxResult> } {
  const ctrl = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(new URL('./fixtures/replay-rx.js', import.meta.url), { workerData: { ...job, ctrl } });
  let markReady: () => void = () => {};
  let fail: (e: Error) => void = () => {};
  const ready = new Promise<void>((res, rej) => { markReady = res; fail = rej; });
  const result = new Promise<RxResult>((res, rej) => {
    w.on('message', (m) => { if (m === 'ready') markReady(); else res(m as RxResult); });
    w.once('error', (e) => { fail(e); rej(e); });
    w.once('exit', (c) => { const e = new Error(`receiver exited (${c}) without a result`); fail(e); rej(e); });
  });
  return {
    ready,
    stop: async () => { Atomics.store(ctrl, 0, 1); try { return await result; } finally { await w.terminate(); } },
  };
}

interface Run { code: number; out: string; err: string }
function runCli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [cli, ...args], { env: { ...process.env, NMTS_REPLAY_CLI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => c.kill('SIGKILL'), 20000);
    c.once('exit', (code) => { clearTimeout(t); resolve({ code: code ?? -1, out, err }); });
  });
}

const N = 200;
const frames = Array.from({ length: N }, (_, i) => udpFrame(i, 60 + (i % 7) * 100, i % 5));
const basic = writePcap('basic.pcap', frames, 10);
const totalBytes = frames.reduce((s, f) => s + f.length, 0);

// --- options ------------------------------------------------------------------------

test('options: tcpreplay flags parse; bad ones and conflicting speed modes are rejected', () => {
  const o = parseReplayArgs(['-i', 'x{1', '-p', '1000', '--pps-multi=4', '-l', '0', '-KqL', '50', '--stats', '0', 'a.pcap', 'b.pcapng']);
  assert.equal(o.intf, 'x{1');
  assert.equal(o.speed, 'pps');
  assert.equal(o.rate, 1000);
  assert.equal(o.ppsMulti, 4);
  assert.equal(o.loop, 0);
  assert.equal(o.preload, true);
  assert.equal(o.quiet, true);
  assert.equal(o.limit, 50);
  assert.equal(o.statsSec, 0);
  assert.deepEqual(o.files, ['a.pcap', 'b.pcapng']);
  assert.equal(parseReplayArgs(['--intf1=vale0:1', 'f']).speed, 'timing');
  assert.equal(parseReplayArgs(['-i', 'vale0:1', '-x', '2.5', 'f']).rate, 2.5);
  const bad: [string[], RegExp][] = [
    [['-i', 'x{1', '-t', '-p', '100', 'f'], /'topspeed' and 'pps' options conflict/],
    [['-i', 'x{1', '--mbps', '10', '--multiplier', '2', 'f'], /'mbps' and 'multiplier' options conflict/],
    [['-i', 'x{1', '-o', '-t', 'f'], /'topspeed' and 'oneatatime' options conflict/],
    [['-i', 'x{1', '--pps-multi', '2', 'f'], /requires 'pps'/],
    [['-i', 'x{1', '-p', 'abc', 'f'], /invalid value 'abc' for --pps/],
    [['-i', 'x{1', '-p', '0', 'f'], /greater than 0/],
    [['-i', 'x{1', '-l', '-1', 'f'], /--loop/],
    [['-i', 'x{1', '--bogus', 'f'], /unknown option '--bogus'/],
    [['-i', 'x{1', '-Z', 'f'], /unknown option '-Z'/],
    [['-t', 'f'], /-i\/--intf1 PORT is required/],
    [['-i', 'x{1'], /at least one pcap/],
    [['-i', 'x{1', 'f', '-L'], /needs a value/],
  ];
  for (const [argv, re] of bad) assert.throws(() => parseReplayArgs(argv), (e: unknown) => e instanceof ReplayUsageError && re.test((e as Error).message), argv.join(' '));
});

test('cli: bad flags and conflicting speeds exit 2 with a message; --help exits 0', { timeout: 30_000 }, async () => {
  const [a, b, c, h] = await Promise.all([
    runCli(['-i', 'x{1', '--topspeed', '--mbps', '5', basic]),
    runCli(['-i', 'x{1', '--oneatatime', basic]),
    runCli(['--nope', basic]),
    runCli(['--help']),
  ]);
  assert.equal(a.code, 2);
  assert.match(a.err, /the 'topspeed' and 'mbps' options conflict/);
  assert.equal(b.code, 2);
  assert.match(b.err, /oneatatime reads the number of packets to send from a terminal: stdin is not one/);
  assert.equal(c.code, 2);
  assert.match(c.err, /unknown option/);
  assert.equal(h.code, 0);
  assert.match(h.out, /usage: nmts replay -i PORT/);
});

// --- counts and bytes through a pipe -------------------------------------------------

test('--loop 3 -t into a pipe: exact count, bytes identical to the file', { timeout: 30_000 }, async () => {
  const rx = receiver({ name: `rp}${1}`, keep: N + 3 });
  await rx.ready;
  let r: ReplayResult;
  try {
    r = await replay(opts({ intf: `rp{${1}`, files: [basic], speed: 'topspeed', loop: 3 }), quietIo);
  } finally {
    var got = await rx.stop();
  }
  assert.equal(r.packets, 3 * N);
  assert.equal(r.bytes, 3 * totalBytes);
  assert.equal(r.loops, 3);
  assert.equal(r.stop, 'done');
  assert.equal(got.packets, 3 * N);
  assert.equal(got.bytes, 3 * totalBytes);
  for (const i of [0, 1, 6, 57, N - 1]) assert.deepEqual(got.frames[i], frames[i], `frame ${i}`);
  // the second loop starts again at packet 0
  assert.deepEqual(got.frames[N], frames[0]);
  assert.deepEqual(got.frames[N + 2], frames[2]);
  // flows: 5 UDP flows, every packet of every loop is a flow packet (tcpreplay without -K)
  assert.equal(r.flows, 5);
  assert.equal(r.flowPackets, 3 * N);
  assert.equal(r.nonFlowPackets, 0);
});

test('--limit N stops after exactly N packets (across loops)', { timeout: 30_000 }, async () => {
  const rx = receiver({ name: `rp}${2}` });
  await rx.ready;
  let r: ReplayResult;
  try {
    r = await replay(opts({ intf: `rp{${2}`, files: [basic], speed: 'topspeed', loop: 0, limit: 555, batch: 64 }), quietIo);
  } finally {
    var got = await rx.stop();
  }
  assert.equal(r.packets, 555);
  assert.equal(r.stop, 'limit');
  assert.equal(got.packets, 555);
});

test('pcapng with -K (preloaded), two files in order, flows counted once', { timeout: 30_000 }, async () => {
  const w = new PcapngMemWriter();
  const ng = [udpFrame(100, 80, 1), udpFrame(101, 1514, 2), arpFrame(), udpFrame(102, 64, 1)];
  ng.forEach((f, k) => w.write(0, f, 0, f.length, 1_700_000_000, k * 100));
  const ngPath = join(dir, 'two.pcapng');
  writeFileSync(ngPath, w.bytes());
  const msgs: string[] = [];
  const rx = receiver({ name: `rp}${3}`, keep: 20 });
  await rx.ready;
  let r: ReplayResult;
  try {
    r = await replay(opts({ intf: `rp{${3}`, files: [ngPath, basic], speed: 'topspeed', preload: true, loop: 2 }),
      { out: () => {}, err: (l) => msgs.push(l) });
  } finally {
    var got = await rx.stop();
  }
  assert.ok(msgs.includes('File Cache is enabled'));
  assert.equal(got.packets, 2 * (4 + N));
  assert.equal(r.packets, 2 * (4 + N));
  for (let k = 0; k < 4; k++) assert.deepEqual(got.frames[k], ng[k], `pcapng frame ${k}`);
  assert.deepEqual(got.frames[4], frames[0]);
  // first pass only (-K): flows 10.0.1.1/1001, .2/1002, and the 5 of basic.pcap (.1/1001 and .2/1002 again)
  assert.equal(r.flows, 5);
  assert.equal(r.flowPackets, 3 + N);
  assert.equal(r.nonFlowPackets, 1);
});

// --- timing ----------------------------------------------------------------------------

test('original timing: packets 20 ms apart take about that long; -x 2 halves it', { timeout: 30_000 }, async () => {
  const slow = writePcap('slow.pcap', Array.from({ length: 11 }, (_, i) => udpFrame(i, 64)), 20_000);
  const a = await replay(opts({ intf: `valerp${id}:a`, files: [slow] }), quietIo);
  assert.equal(a.packets, 11);
  assert.ok(a.elapsedUs >= 190_000, `elapsed ${a.elapsedUs} us`);
  const b = await replay(opts({ intf: `valerp${id}:a`, files: [slow], speed: 'multiplier', rate: 2 }), quietIo);
  assert.equal(b.packets, 11);
  assert.ok(b.elapsedUs >= 95_000, `elapsed ${b.elapsedUs} us`);
  assert.ok(b.elapsedUs < a.elapsedUs, 'faster with -x 2');
});

test('--duration bounds a replay that would take much longer', { timeout: 30_000 }, async () => {
  const gap = writePcap('gap.pcap', [udpFrame(0, 64), udpFrame(1, 64)], 30_000_000); // 30 s apart
  const t0 = performance.now();
  const r = await replay(opts({ intf: `valerp${id}:b`, files: [gap], durationSec: 0.5 }), quietIo);
  const took = performance.now() - t0;
  assert.equal(r.stop, 'duration');
  assert.equal(r.packets, 1);
  assert.ok(took >= 450 && took < 3000, `took ${took} ms`);
});

test('--pps 20000 for 2 s: the rate measured by the receiver is within 2 %', { timeout: 30_000 }, async () => {
  const rx = receiver({ name: `rp}${4}`, marks: [4000, 36000] });
  await rx.ready;
  let r: ReplayResult;
  try {
    r = await replay(opts({ intf: `rp{${4}`, files: [basic], speed: 'pps', rate: 20000, loop: 0, durationSec: 2 }), quietIo);
  } finally {
    var got = await rx.stop();
  }
  assert.equal(r.stop, 'duration');
  assert.equal(got.packets, r.packets);
  const sentRate = r.packets / (r.elapsedUs / 1e6);
  assert.ok(Math.abs(sentRate / 20000 - 1) < 0.02, `sender rate ${sentRate.toFixed(1)} pps`);
  const [t1, t2] = got.markTimes as [number, number];
  const rxRate = 32000 / ((t2 - t1) / 1000);
  assert.ok(Math.abs(rxRate / 20000 - 1) < 0.02, `receiver rate ${rxRate.toFixed(1)} pps`);
});

test('--mbps paces by bytes', { timeout: 30_000 }, async () => {
  // 10 Mbps = 1.25 MB/s; basic.pcap twice = 2 * totalBytes
  const r = await replay(opts({ intf: `valerp${id}:c`, files: [basic], speed: 'mbps', rate: 10, loop: 2 }), quietIo);
  const mbps = (r.bytes * 8) / r.elapsedUs;
  assert.ok(Math.abs(mbps / 10 - 1) < 0.05, `${mbps.toFixed(3)} Mbps`);
});

// --- output and errors --------------------------------------------------------------------

test('statistics block: tcpreplay format, with --stats 0 lines per loop and Test start/complete', { timeout: 30_000 }, async () => {
  const mixed = writePcap('mixed.pcap', [udpFrame(0, 100, 1), arpFrame(), udpFrame(1, 100, 2), udpFrame(2, 100, 1)], 1000);
  const run = await runCli(['-i', `valerp${id}:d`, '-t', '-l', '2', '--stats', '0', mixed]);
  assert.equal(run.code, 0, run.err);
  const L = run.out.trimEnd().split('\n');
  const date = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{6}';
  assert.match(L[0]!, new RegExp(`^Test start: ${date} \\.\\.\\.$`));
  const actual = /^Actual: \d+ packets \(\d+ bytes\) sent in (\d+\.\d{2}|0\.\d{6}) seconds$/;
  const rated = /^Rated: \d+\.\d Bps, \d+\.(\d{2}|\d{3}) Mbps, \d+\.\d{2} pps$/;
  assert.match(L[1]!, actual); assert.match(L[2]!, rated); // after loop 1
  assert.match(L[3]!, actual); assert.match(L[4]!, rated); // after loop 2
  assert.match(L[5]!, new RegExp(`^Test complete: ${date}$`));
  assert.match(L[6]!, /^Actual: 8 packets \(720 bytes\) sent in 0\.\d{6} seconds$/);
  assert.match(L[7]!, /^Rated: \d+\.\d Bps, \d+\.\d{2,3} Mbps, \d+\.\d{2} pps$/);
  assert.match(L[8]!, /^Flows: 2 flows, \d+\.\d{2} fps, 6 unique flow packets, 2 unique non-flow packets$/);
  assert.equal(L[9], `Statistics for network device: valerp${id}:d`);
  assert.equal(L[10], '\tSuccessful packets:        8');
  assert.equal(L[11], '\tFailed packets:            0');
  assert.equal(L[12], '\tTruncated packets:         0');
  assert.equal(L[13], '\tRetried packets (ENOBUFS): 0');
  assert.match(L[14]!, /^\tRetried packets \(EAGAIN\):  \d+$/);
  assert.equal(L.length, 15);
});

test('number formats follow tcpreplay (utils.c packet_stats, flow_stats)', () => {
  // tcpreplay's own examples
  assert.deepEqual(packetStatsLines({ packets: 20, bytes: 2050, failed: 0 }, 6_700_000), [
    'Actual: 20 packets (2050 bytes) sent in 6.70 seconds', 'Rated: 305.9 Bps, 0.002 Mbps, 2.98 pps']);
  assert.deepEqual(packetStatsLines({ packets: 2, bytes: 149, failed: 0 }, 116), [
    'Actual: 2 packets (149 bytes) sent in 0.000116 seconds', 'Rated: 1284482.7 Bps, 10.27 Mbps, 17241.37 pps']);
  assert.equal(packetStatsLines({ packets: 2000000, bytes: 120000000, failed: 3 }, 2_964_820)[2], 'Failed write attempts: 3');
  assert.equal(flowStatsLine(1, 2, 0, 116), 'Flows: 1 flows, 8620.68 fps, 2 unique flow packets, 0 unique non-flow packets');
  assert.equal(flowStatsLine(0, 0, 5, 116), null);
  const t = new FlowTable(4);
  for (let i = 0; i < 100; i++) t.add(udpFrame(i, 64, i % 37), 0, 64, 1); // grows past its start size
  assert.equal(t.flows, 37);
  assert.equal(t.flowPackets, 100);
});

test('a packet larger than the port buffer is not sent and counts as failed', { timeout: 30_000 }, async () => {
  const big = writePcap('big.pcap', [udpFrame(0, 100), udpFrame(1, 3000), udpFrame(2, 100)], 10);
  const errs: string[] = [];
  const r = await replay(opts({ intf: `valerp${id}:e`, files: [big], speed: 'topspeed' }), { out: () => {}, err: (l) => errs.push(l) });
  assert.equal(r.packets, 2);
  assert.equal(r.bytes, 200);
  assert.equal(r.failed, 1);
  assert.equal(r.truncated, 0);
  assert.match(errs.join('\n'), /packet 2 of 3000 bytes exceeds the port's 2048-byte buffers/);
  assert.match(statsBlock(r).join('\n'), /\tFailed packets: {12}1\n/);
});

test('missing file, corrupt file, unsupported port: clear errors, exit 1', { timeout: 30_000 }, async () => {
  const good = writePcap('trunc-src.pcap', [udpFrame(0, 100), udpFrame(1, 100)], 10);
  const { readFileSync } = await import('node:fs');
  const bytes = readFileSync(good);
  const trunc = join(dir, 'trunc.pcap');
  writeFileSync(trunc, bytes.subarray(0, bytes.length - 30)); // second record cut short
  const junk = join(dir, 'junk.pcap');
  writeFileSync(junk, Buffer.from('this is not a capture file at all'));
  const [m, t, j, e] = await Promise.all([
    runCli(['-i', `valerp${id}:f`, join(dir, 'nope.pcap')]),
    runCli(['-i', `valerp${id}:g`, '-t', trunc]),
    runCli(['-i', `valerp${id}:h`, junk]),
    runCli(['-i', 'netmap:nmtsnone0', basic]),
  ]);
  assert.equal(m.code, 1);
  assert.match(m.err, /nope\.pcap: No such file or directory/);
  assert.equal(t.code, 1);
  assert.match(t.err, /trunc\.pcap: pcap: packet needs 100 bytes, have \d+ \(at offset 140\)/);
  assert.match(t.out, /^Actual: 1 packets \(100 bytes\)/m, 'the packets before the error are reported');
  assert.equal(j.code, 1);
  assert.match(j.err, /junk\.pcap: .*bad magic.*at offset 0/);
  assert.equal(e.code, 1);
  assert.match(e.err, /netmap:nmtsnone0: no such interface 'nmtsnone0'/);
});

test('--loop 0 on a file with no packets ends at once with a clear message (exit 1), also with -K', { timeout: 30_000 }, async () => {
  const empty = writePcap('empty.pcap', [], 10);
  const t0 = performance.now();
  const [a, b] = await Promise.all([
    runCli(['-i', `valerp${id}:e1`, '-l', '0', '-t', empty]),
    runCli(['-i', `valerp${id}:e2`, '-l', '0', '-K', '-t', empty, empty]),
  ]);
  assert.ok(performance.now() - t0 < 15_000, 'ended by itself');
  for (const r of [a, b]) {
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /nmts replay: no packets in .*empty\.pcap: nothing to replay/);
  }
  const r = await replay(opts({ intf: `valerp${id}:e3`, files: [empty], speed: 'topspeed', loop: 0 }), quietIo);
  assert.equal(r.stop, 'empty');
  assert.equal(r.packets, 0);
});

test('SIGINT stops --loop 0 even when every packet fails (oversize): statistics printed', { timeout: 30_000 }, async () => {
  const big = writePcap('big.pcap', [udpFrame(0, 3000)], 10);
  const c = spawn(process.execPath, [cli, '-i', `valerp${id}:s1`, '-l', '0', '-t', big], { env: { ...process.env, NMTS_REPLAY_CLI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout.on('data', (d) => { out += d; });
  c.stderr.resume();
  await new Promise((r) => setTimeout(r, 1500));
  c.kill('SIGINT');
  const code = await new Promise<number>((resolve) => {
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.once('exit', (k) => { clearTimeout(t); resolve(k ?? -1); });
  });
  assert.equal(code, 0);
  assert.match(out, /Failed packets: +[1-9]/);
});
