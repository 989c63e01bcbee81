// nmts tlem: delay, bandwidth, loss, queue overflow and per-direction settings through pipes
// of one parent (sender -> X{1 ... X}1 [tlem] X}2 ... X{2 -> receiver); the argument grammar.
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { open, type Port } from '../src/index.js';
import { tlem, type TlemOptions, type TlemResult } from '../src/apps/tlem/tlem.js';
import { BW_DEFAULT_QBYTES, parseBandwidth, parseDelay, parseLoss, parseQueue, parseReorder, parseTlemArgs, resolveTlemWait, TlemUsageError } from '../src/apps/tlem/options.js';
import { tlemCommand } from '../src/cli/tlem.js';

const id = process.pid;
let seq = 0;
const now = (): number => performance.now();
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Send n frames of len bytes (send time at byte 16, seq at 24); `gapMs` between frames. */
async function send(p: Port, n: number, len: number, gapMs = 0): Promise<void> {
  const r = p.txRings[0]!;
  for (let i = 0; i < n; i++) {
    while (r.empty()) { p.txsync(); if (r.empty()) await tick(); }
    const h = r.head, o = r.buf(h);
    p.u8.fill(0, o, o + len);
    const dv = new DataView(p.u8.buffer, p.u8.byteOffset + o, len);
    dv.setFloat64(16, now(), true);
    dv.setUint32(24, i, true);
    r.setLen(h, len);
    r.setSlotFlags(h, 0);
    r.advance(r.next(h));
    if (gapMs > 0) { p.txsync(); await sleep(gapMs); }
  }
  p.txsync();
}

interface Rx { seq: number; sent: number; at: number }
/** Collect frames arriving on p until stop() (then drains once more). */
function receiver(p: Port): { got: Rx[]; stop: () => Promise<Rx[]> } {
  const got: Rx[] = [];
  let run = true;
  const drain = (): void => {
    p.rxsync();
    const t = now();
    for (const r of p.rxRings) {
      for (let i = r.head; i !== r.tail; i = r.next(i)) {
        const dv = new DataView(p.u8.buffer, p.u8.byteOffset + r.buf(i), 32);
        got.push({ seq: dv.getUint32(24, true), sent: dv.getFloat64(16, true), at: t });
      }
      r.advance(r.tail);
    }
  };
  const loop = (async () => { while (run) { drain(); await tick(); } })();
  return { got, stop: async () => { run = false; await loop; drain(); return got; } };
}

/** Pipes X{1/X}1 and X{2/X}2 of one parent; tlem runs between X}1 (A) and X}2 (B). */
function link(): { a: string; b: string; sa: Port; sb: Port; name: string } {
  const name = `tl${id}n${seq++}`;
  return { name, a: `${name}}1`, b: `${name}}2`, sa: open(`${name}{1`), sb: open(`${name}{2`) };
}

async function run(l: ReturnType<typeof link>, o: Omit<TlemOptions, 'a' | 'b'>, traffic: () => Promise<void>): Promise<{ r: TlemResult; atB: Rx[]; atA: Rx[] }> {
  const rb = receiver(l.sb), ra = receiver(l.sa);
  const t = tlem({ a: l.a, b: l.b, statsMs: 0, ...o }, { log: () => {} });
  await traffic();
  const r = await t;
  const atB = await rb.stop(), atA = await ra.stop();
  l.sa.close();
  l.sb.close();
  return { r, atB, atA };
}

test('constant delay 20 ms: no packet arrives earlier, none much later', async () => {
  const l = link();
  const { r, atB } = await run(l, { dirs: [{ delay: parseDelay('20m') }, {}], maxPackets: 100 }, () => send(l.sa, 100, 64, 0.5));
  assert.equal(r.aToB.in, 100);
  assert.equal(r.aToB.out, 100);
  assert.equal(atB.length, 100);
  assert.deepEqual(atB.map((x) => x.seq), [...Array(100).keys()]);
  const d = atB.map((x) => x.at - x.sent);
  assert.ok(Math.min(...d) >= 20, `min delay ${Math.min(...d)}`);
  assert.ok(Math.max(...d) < 20 + 60, `max delay ${Math.max(...d)}`);
});

test('bandwidth 10 Mbit/s with 1000-byte frames: throughput within 10 %', async () => {
  const l = link();
  const n = 400; // 0.8 ms each: 320 ms
  const { r, atB } = await run(l, { dirs: [{ bw: parseBandwidth('10M') }, {}], maxPackets: n }, () => send(l.sa, n, 1000));
  assert.equal(r.aToB.out, n);
  assert.equal(atB.length, n);
  const bps = ((n - 1) * 1000 * 8) / ((atB[n - 1]!.at - atB[0]!.at) / 1000);
  assert.ok(Math.abs(bps / 10e6 - 1) < 0.1, `measured ${(bps / 1e6).toFixed(2)} Mbit/s`);
  assert.ok(r.aToB.maxQueue > 100, 'the link queued the burst');
});

test('loss plr 0.1 on 5000 packets: ~10 % lost, counted exactly, same seed same count', async () => {
  const lost: number[] = [];
  for (let k = 0; k < 2; k++) {
    const l = link();
    const { r, atB } = await run(l, { dirs: [{ loss: parseLoss('plr,0.1'), qsize: 8192 }, {}], seed: 42, maxPackets: 5000 }, () => send(l.sa, 5000, 60));
    assert.equal(r.aToB.in, 5000);
    assert.equal(r.aToB.queueDrops, 0);
    assert.equal(r.aToB.out, 5000 - r.aToB.lost);
    assert.equal(atB.length, r.aToB.out, `received ${atB.length}, seqs unique ${new Set(atB.map((x) => x.seq)).size}`);
    assert.ok(r.aToB.lost >= 400 && r.aToB.lost <= 600, `lost ${r.aToB.lost}`);
    lost.push(r.aToB.lost);
  }
  assert.equal(lost[0], lost[1]);
});

test('uniform delay: every delay within [dmin, dmax] (plus scheduling slack), spread over it', async () => {
  const l = link();
  const { atB } = await run(l, { dirs: [{ delay: parseDelay('uniform,5m,25m') }, {}], maxPackets: 60 }, () => send(l.sa, 60, 64, 1));
  assert.equal(atB.length, 60);
  const d = atB.map((x) => x.at - x.sent);
  assert.ok(Math.min(...d) >= 5, `min ${Math.min(...d)}`);
  assert.ok(Math.max(...d) < 25 + 40, `max ${Math.max(...d)}`);
  assert.ok(Math.max(...d) - Math.min(...d) > 8, `spread ${Math.max(...d) - Math.min(...d)}`);
});

test('queue overflow: arrivals to a full queue are dropped and counted', async () => {
  const l = link();
  const { r, atB } = await run(l, { dirs: [{ delay: parseDelay('30m'), qsize: 10 }, {}], maxPackets: 100 }, () => send(l.sa, 100, 60));
  assert.equal(r.aToB.queueDrops, 90);
  assert.equal(r.aToB.maxQueue, 10);
  assert.equal(atB.length, 10);
  assert.deepEqual(atB.map((x) => x.seq), [...Array(10).keys()]);
});

test('-D given twice: A->B gets the first delay, B->A the second', async () => {
  const o = parseTlemArgs(['-i', 'x}1', '-i', 'x}2', '-D', '5m', '-D', '40m', '-L', '0', '-Q', '64p']);
  assert.equal(o.dirs[0].delay.a, 5);
  assert.equal(o.dirs[1].delay.a, 40);
  assert.equal(o.dirs[0].qsize, 64);
  assert.equal(o.dirs[1].qsize, 64);
  const l = link();
  const { r, atB, atA } = await run(l, { dirs: o.dirs, maxPackets: 40 }, () => Promise.all([send(l.sa, 20, 64, 1), send(l.sb, 20, 64, 1)]).then(() => {}));
  assert.equal(r.aToB.out, 20);
  assert.equal(r.bToA.out, 20);
  const dAB = atB.map((x) => x.at - x.sent), dBA = atA.map((x) => x.at - x.sent);
  assert.ok(Math.min(...dAB) >= 5 && Math.max(...dAB) < 38, `A->B ${Math.min(...dAB)}..${Math.max(...dAB)}`);
  assert.ok(Math.min(...dBA) >= 40, `B->A min ${Math.min(...dBA)}`);
});

test('grammar: -B/-D/-L values and suffixes', () => {
  assert.deepEqual(parseBandwidth('10M'), { bps: 10e6, ether: false });
  assert.deepEqual(parseBandwidth('ether,1.5g'), { bps: 1.5e9, ether: true });
  assert.deepEqual(parseBandwidth('constant,100k'), { bps: 1e5, ether: false });
  assert.equal(parseDelay('2').a, 2000, 'no suffix: seconds');
  assert.equal(parseDelay('constant,250u').a, 0.25);
  assert.equal(parseDelay('500n').a, 0.0005);
  assert.deepEqual(parseDelay('exp,1m,3m'), { kind: 'exp', a: 1, b: 3 });
  assert.deepEqual(parseLoss('ber,1e-6'), { kind: 'ber', x: 1e-6 });
  assert.deepEqual(parseLoss('0.25'), { kind: 'plr', x: 0.25 });
  for (const bad of [() => parseBandwidth('10X'), () => parseBandwidth('real,2'), () => parseDelay('uniform,5m'),
    () => parseDelay('uniform,9m,5m'), () => parseDelay('-1'), () => parseLoss('1.5'), () => parseLoss('foo,0.1'),
    () => parseTlemArgs(['-i', 'a']), () => parseTlemArgs(['-i', 'a', '-i', 'b', '-D', '1', '-D', '2', '-D', '3'])]) {
    assert.throws(bad, TlemUsageError);
  }
});

test('CLI: grammar errors exit 2, --help 0, a short run exits 0', async () => {
  const w = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    for (const argv of [['-i', 'a{1', '-i', 'a{2', '-B', '10X'], ['-i', 'a{1'], ['-i', 'a{1', '-i', 'a{2', '-L', 'plr'],
      ['-i', 'a{1', '-i', 'a{2', '-D', 'uniform,1'], ['-i', 'a{1', '-i', 'a{2', '-Q', '0p'], ['-i', 'a{1', '-i', 'a{2', '-Q', '5x'], ['-i', 'a{1', '-i', 'a{2', '-R', '0.1'],
      ['-i', 'a{1', '-i', 'a{2', '-R', '2,1m'], ['-i', 'a{1', '-i', 'a{2', '-w', '101'], ['--bogus'], ['-i', 'a{1', '-i', 'a{2', '-b']]) {
      assert.equal(await tlemCommand(argv), 2, argv.join(' '));
    }
  } finally {
    process.stderr.write = w;
  }
  // the summary goes to stdout: run the CLI in a child to keep node's test output clean
  const name = `tl${id}cli`;
  const cli = new URL('../src/cli/tlem.js', import.meta.url).href;
  const code = `import('${cli}').then(async (m) => { await import('${new URL('../src/index.js', import.meta.url).href}'); process.exitCode = await m.tlemCommand(process.argv.slice(1)); })`;
  const help = spawnSync(process.execPath, ['-e', code, '--', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /usage: nmts tlem/);
  const r = spawnSync(process.execPath, ['-e', code, '--', '-i', `${name}}1`, '-i', `${name}}2`, '-D', '1m', '--duration', '0.2', '-q'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /-> .*: in 0 out 0 lost 0 queue-drops 0 maxq 0/);
  const bad = spawnSync(process.execPath, ['-e', code, '--', '-i', 'a{1', '-i', 'a{2', '-B', '1Q'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /tlem: -B '1Q': unknown suffix/);
});

test('-Q is tlem\'s byte count (k/m/g = 2^10/2^20/2^30), Np counts packets; the default follows -B', () => {
  assert.deepEqual(parseQueue('50000'), { bytes: 50000 });
  assert.deepEqual(parseQueue('64k'), { bytes: 65536 });
  assert.deepEqual(parseQueue('2M'), { bytes: 2 << 20 });
  assert.deepEqual(parseQueue('1g'), { bytes: 1 << 30 });
  assert.deepEqual(parseQueue('0'), { bytes: 0 });
  assert.deepEqual(parseQueue('1000p'), { packets: 1000 });
  const base = ['-i', 'x}1', '-i', 'x}2'];
  let o = parseTlemArgs(base);
  assert.equal(o.dirs[0].qbytes, 0, 'no -B: no byte limit');
  o = parseTlemArgs([...base, '-B', '10M']);
  assert.equal(o.dirs[0].qbytes, BW_DEFAULT_QBYTES, 'with -B: tlem\'s 50000 bytes');
  o = parseTlemArgs([...base, '-B', '10M', '-Q', '100k', '-Q', '1000p']);
  assert.equal(o.dirs[0].qbytes, 102400);
  assert.ok(o.dirs[0].qsize >= 1024 + 1600, 'room for 100 KiB of 64-byte frames');
  assert.equal(o.dirs[1].qsize, 1000);
  assert.equal(o.dirs[1].qbytes, 0);
  assert.equal(parseTlemArgs(['--help']).help, true);
});

test('-Q 5000 with -B 100k: arrivals beyond 5000 bytes waiting for the wire are dropped (tlem overflows by one)', async () => {
  const l = link();
  const o = parseTlemArgs(['-i', l.a, '-i', l.b, '-B', '100k', '-Q', '5000']);
  // 500-byte frames take 40 ms each on the wire: the burst of 100 arrives while the 1st is serialized
  const { r, atB } = await run(l, { dirs: o.dirs, maxPackets: 100 }, () => send(l.sa, 100, 500));
  assert.equal(r.aToB.in, 100);
  assert.equal(r.aToB.out, 11, '10 x 500 bytes fill 5000, the 11th overflows once');
  assert.equal(r.aToB.queueDrops, 89);
  assert.deepEqual(atB.map((x) => x.seq), [...Array(11).keys()]);
});

test('-R const,0.2,5m: a fifth of the packets held 5 ms, passed by later ones, none lost; same seed same count', async () => {
  assert.deepEqual(parseReorder('const,0.2,5m'), { p: 0.2, holdMs: 5 });
  assert.deepEqual(parseReorder('0.5,100u'), { p: 0.5, holdMs: 0.1 });
  const counts: number[] = [];
  for (let k = 0; k < 2; k++) {
    const l = link();
    const o = parseTlemArgs(['-i', l.a, '-i', l.b, '-R', 'const,0.2,5m', '--seed', '7']);
    const n = 400;
    const traffic = async (): Promise<void> => { for (let b = 0; b < n / 10; b++) { await send(l.sa, 10, 64); await sleep(1); } };
    const { r, atB } = await run(l, { dirs: o.dirs, seed: o.seed, maxPackets: n }, traffic);
    assert.equal(r.aToB.out, n);
    assert.equal(r.aToB.lost + r.aToB.queueDrops, 0);
    assert.equal(atB.length, n);
    assert.ok(r.aToB.reordered >= 50 && r.aToB.reordered <= 110, `held ${r.aToB.reordered} of ${n}`);
    // the seq numbers restart every burst of 10 (send() numbers from 0): a held frame shows
    // as a drop in the sequence where it would have been
    let inversions = 0;
    for (let i = 1; i < atB.length; i++) if (atB[i]!.sent < atB[i - 1]!.sent) inversions++;
    assert.ok(inversions > 0, 'some frames arrive after later ones');
    const late = atB.filter((x) => x.at - x.sent >= 5).length;
    assert.ok(late >= r.aToB.reordered, `${late} frames 5 ms late, ${r.aToB.reordered} held`);
    counts.push(r.aToB.reordered);
  }
  assert.equal(counts[0], counts[1]);
});

test('-w: tlem waits before forwarding (2 s default with an interface, 0 for software ports)', async () => {
  assert.equal(resolveTlemWait({ waitSec: undefined, a: 'x}1', b: 'vale0:1' }), 0);
  assert.equal(resolveTlemWait({ waitSec: undefined, a: 'netmap:eth0', b: 'vale0:1' }), 2);
  assert.equal(resolveTlemWait({ waitSec: 0, a: 'netmap:eth0', b: 'netmap:eth1' }), 0);
  assert.equal(parseTlemArgs(['-i', 'x}1', '-i', 'x}2', '-w', '3']).waitSec, 3);
  const l = link();
  const { atB } = await run(l, { maxPackets: 1, waitSec: 0.3 }, () => send(l.sa, 1, 64));
  assert.equal(atB.length, 1);
  assert.ok(atB[0]!.at - atB[0]!.sent >= 290, `forwarded after ${(atB[0]!.at - atB[0]!.sent).toFixed(1)} ms`);
});
