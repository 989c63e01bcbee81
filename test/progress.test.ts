// The status line of the long-running tools (apps/common/progress.ts): the line itself on a
// fake terminal, replay's figures, and replay, capture -c and lb in a real terminal (tmux:
// the line appears with sane figures and is gone at the end) and with stderr not a terminal
// (nothing printed unless --progress asks for it).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clockTime, ProgressLine, progressText, siCount } from '../src/apps/common/progress.js';
import { replayProgressLine } from '../src/apps/replay/progress.js';
import type { PacketSource } from '../src/apps/replay/source.js';
import { PcapWriter } from '../src/packet/pcap.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';
import { needs } from './fixtures/requires.js';

const nmts = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const id = process.pid % 100000;
const dir = mkdtempSync(join(tmpdir(), 'nmts-progress-'));
const children = new Set<ReturnType<typeof spawn>>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class FakeTerm {
  text = '';
  constructor(readonly isTTY: boolean, readonly columns?: number) {}
  write(s: string): boolean { this.text += s; return true; }
}

test('the line: rewritten in place on a terminal, erased at the end; nothing elsewhere unless asked', () => {
  const tty = new FakeTerm(true, 20);
  const p = new ProgressLine(tty, 'auto', 1000);
  assert.equal(p.enabled, true);
  assert.equal(p.due(5000), true);
  assert.equal(p.due(5500), false, 'one update per interval');
  assert.equal(p.due(6000), true);
  p.update('one');
  p.update('a line much wider than the terminal');
  assert.equal(tty.text, '\rone\x1b[K\ra line much wider t\x1b[K', 'cut to columns - 1 so that \\r still reaches its start');
  tty.text = '';
  p.line('a notice');
  assert.equal(tty.text, '\r\x1b[Ka notice\na line much wider t\x1b[K', 'a line erases the status and redraws it');
  const other = new FakeTerm(true);
  tty.text = '';
  p.lineOn(other, 'Actual: 1 packets');
  assert.equal(other.text, 'Actual: 1 packets\n');
  assert.equal(tty.text, '\r\x1b[Ka line much wider t\x1b[K');
  tty.text = '';
  p.clear();
  p.clear();
  assert.equal(tty.text, '\r\x1b[K', 'cleared once');

  const log = new FakeTerm(false);
  const quiet = new ProgressLine(log, 'auto');
  assert.equal(quiet.enabled, false);
  assert.equal(quiet.due(0), false);
  quiet.update('x');
  quiet.clear();
  quiet.line('a notice');
  assert.equal(log.text, 'a notice\n', 'not a terminal: no status line');
  const forced = new ProgressLine(new FakeTerm(false), 'on');
  forced.update('x');
  forced.update('y');
  assert.equal((forced as unknown as { stream: FakeTerm }).stream.text, 'x\ny\n', '--progress to a log: one line per update');
  assert.equal(new ProgressLine(new FakeTerm(true), 'off').enabled, false);
});

test('figures: SI counts, clock times, done/total with ETA', () => {
  assert.deepEqual([siCount(0), siCount(999), siCount(1234), siCount(45_600_000), siCount(2e9)], ['0', '999', '1.23k', '45.6M', '2.00G']);
  assert.deepEqual([clockTime(0), clockTime(61), clockTime(3725), clockTime(NaN)], ['0:00', '1:01', '1:02:05', '-']);
  assert.equal(progressText({ tool: 'capture', done: 2500, total: 10000, unit: 'packets', rate: 500, elapsedSec: 5, fraction: 0.25 }),
    'capture: 2500/10000 packets (25.0 %)  500 packets/s  elapsed 0:05  ETA 0:15');
  assert.equal(progressText({ tool: 'capture', done: 7, unit: 'packets', rate: 1, elapsedSec: 7 }), 'capture: 7 packets  1 packets/s  elapsed 0:07');
});

function src(fileBytes: number, passed: number): PacketSource {
  return { fileBytes, passed: () => passed } as unknown as PacketSource;
}

test("replay's line: the bound nearest to its end gives the share done, the total and the ETA", () => {
  const base = { rate: 1000, elapsedSec: 10, limit: Infinity, durationSec: 0, loops: 1, loopNo: 0, fileNo: 1, perPass: 0 };
  // two files, 300 and 100 bytes; the second one half read: (300 + 50) / 400
  const two = [src(300, 1), src(100, 0.5)];
  assert.equal(replayProgressLine({ ...base, sent: 8750, sources: two }),
    'replay: 8750/~10000 frames (87.5 %)  1.00k frames/s  elapsed 0:10  ETA 0:01');
  // -K: the frames per pass are known, the total is exact; 3 loops, in the second one
  assert.equal(replayProgressLine({ ...base, sent: 4000, sources: [src(100, 0)], fileNo: 0, loops: 3, loopNo: 1, perPass: 3000 }),
    'replay: 4000/9000 frames (33.3 %)  1.00k frames/s  loop 2/3  elapsed 0:10  ETA 0:20');
  // -L nearer to its end than the file
  assert.equal(replayProgressLine({ ...base, sent: 500, limit: 1000, sources: [src(100, 0.1)], fileNo: 0 }),
    'replay: 500/1000 frames (50.0 %)  1.00k frames/s  elapsed 0:10  ETA 0:10');
  // --loop 0: no end, no total, no ETA
  assert.equal(replayProgressLine({ ...base, sent: 123, loops: Infinity, loopNo: 4, sources: [src(100, 0.1)], fileNo: 0 }),
    'replay: 123 frames  1.00k frames/s  loop 5  elapsed 0:10');
});

// ---- the tools in a real terminal and without one

function makePcap(n: number): string {
  const w = new PcapWriter({});
  const t = new UdpFrameTemplate({ family: 4, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '10.0.0.1:1000-10.0.0.1:1099', dst: '10.1.0.1:53', frameLen: 60 });
  const frame = new Uint8Array(60);
  t.write(frame, 0);
  const parts: Uint8Array[] = [w.header()];
  for (let i = 0; i < n; i++) {
    t.advance(frame, 0);
    parts.push(w.record(frame, 0, 60, Math.floor(i / 1e6), i % 1e6));
  }
  const file = join(dir, `p${n}.pcap`);
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

function pktgen(args: string[]): Promise<number | null> {
  const c = spawn(process.execPath, [nmts, 'pkt-gen', ...args], { cwd: root, stdio: 'ignore' });
  children.add(c);
  return new Promise((resolve) => c.once('exit', (code) => { children.delete(c); resolve(code); }));
}

interface Ran { code: number | null; out: string; err: string }
/** `nmts args` with pipes for stdout and stderr; `stderr()` is what it wrote so far. */
function start(args: string[], ms: number): { done: Promise<Ran>; stderr: () => string; stop: () => void } {
  const c = spawn(process.execPath, [nmts, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], timeout: ms });
  children.add(c);
  let out = '', err = '';
  c.stdout.on('data', (d) => { out += d; });
  c.stderr.on('data', (d) => { err += d; });
  const done = new Promise<Ran>((resolve) => c.once('exit', (code) => { children.delete(c); resolve({ code, out, err }); }));
  return { done, stderr: () => err, stop: () => { c.kill('SIGINT'); } };
}
const run = (args: string[], ms: number): Promise<Ran> => start(args, ms).done;

/** A tmux server of our own running `cmd` in a 160x25 pane; the pane stays after the command ends. */
function terminal(name: string, cmd: string): { screen: () => string; keys: (k: string) => void; close: () => void } {
  const sock = `nmts-prog-${name}-${id}`;
  const env = `NMTS_SHM_DIR=${process.env.NMTS_SHM_DIR ?? '/dev/shm'}`;
  execFileSync('tmux', ['-L', sock, 'new-session', '-d', '-s', 's', '-x', '160', '-y', '25',
    `env ${env} ${cmd}; echo "EXIT=$?"; sleep 120`]);
  return {
    screen: () => execFileSync('tmux', ['-L', sock, 'capture-pane', '-p', '-t', 's'], { encoding: 'utf8' }),
    keys: (k) => { execFileSync('tmux', ['-L', sock, 'send-keys', '-t', 's', k]); },
    close: () => { spawnSync('tmux', ['-L', sock, 'kill-server']); },
  };
}

/** Poll the screen until `re` matches (or ~timeout); returns the last screen. */
async function waitFor(screen: () => string, re: RegExp, ms: number): Promise<string> {
  let s = screen();
  for (let t = 0; t < ms && !re.test(s); t += 200) { await sleep(200); s = screen(); }
  return s;
}

const num = (s: string): number => {
  const m = /^([\d.]+)([kMG]?)$/.exec(s);
  assert.ok(m, `a figure: ${s}`);
  return Number(m[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[m[2]!]!;
};

test('nmts replay in a terminal: frames done/total, rate and ETA while it runs, gone at the end', { skip: needs(['tmux']) }, async () => {
  const file = makePcap(120_000);
  const term = terminal('replay', `${process.execPath} ${nmts} replay -i valePr${id}:tx -K --pps 30000 ${file}`);
  try {
    const lineRe = /^replay: (\d+)\/120000 frames \(([\d.]+) %\)\s+(\S+) frames\/s\s+elapsed (\d+:\d\d)\s+ETA (\d+):(\d\d)/m;
    let screen = await waitFor(term.screen, /^replay: [1-9]\d*\/120000 frames .* elapsed 0:0[1-9]/m, 8000);
    const m = lineRe.exec(screen);
    assert.ok(m, `the status line:\n${screen}`);
    const done = Number(m[1]), pct = Number(m[2]), rate = num(m[3]!), eta = Number(m[5]) * 60 + Number(m[6]);
    assert.ok(done > 0 && done < 120_000, `frames done ${done}`);
    assert.ok(Math.abs(pct - done / 1200) < 2, `the share ${pct} % is frames done / total (${done})`);
    assert.ok(rate > 0 && rate <= 31000, `the rate is at most the paced 30 kpps: ${m[3]}`);
    assert.ok(eta >= 0 && eta <= 10, `ETA ${eta} s of a 4 s replay (later on a loaded machine)`);
    screen = await waitFor(term.screen, /^EXIT=\d+/m, 15000);
    assert.match(screen, /^EXIT=0$/m, screen);
    assert.match(screen, /^Actual: 120000 packets \(7200000 bytes\) sent in/m, screen);
    assert.doesNotMatch(screen, /^replay: \d/m, 'the status line is erased at the end');
    assert.ok(!screen.split('\n').some((l) => /frames\/s/.test(l)), screen);
  } finally {
    term.close();
  }
});

test('nmts capture -c in a terminal: captured/N, rate, drops and ETA; gone at the end', { skip: needs(['tmux']) }, async () => {
  const sw = `valePc${id}`;
  const out = join(dir, 'cap.pcap');
  const term = terminal('capture', `${process.execPath} ${nmts} capture -i ${sw}:cap -c 50000 -w ${out}`);
  let tx: Promise<number | null> | null = null;
  try {
    let screen = await waitFor(term.screen, /listening on/, 8000);
    assert.match(screen, /listening on/, screen);
    tx = pktgen(['-i', `${sw}:tx`, '-f', 'tx', '-R', '20000', '--duration', '6']);
    screen = await waitFor(term.screen, /^capture: [1-9]\d*\/50000 packets .* elapsed 0:0[1-9]/m, 8000);
    const m = /^capture: (\d+)\/50000 packets \(([\d.]+) %\)\s+(\S+) packets\/s\s+(\d+) seen, (\d+) dropped\s+elapsed \d+:\d\d\s+ETA \d+:\d\d/m.exec(screen);
    assert.ok(m, `the status line:\n${screen}`);
    const done = Number(m[1]), rate = num(m[3]!);
    assert.ok(done > 0 && done < 50000, `captured ${done}`);
    assert.ok(Math.abs(Number(m[2]) - done / 500) < 1, `the share ${m[2]} %`);
    assert.ok(rate <= 25000, `about the sender's 20 kpps at most (a ring's worth of backlog aside): ${m[3]}`);
    assert.ok(Number(m[4]) >= done);
    screen = await waitFor(term.screen, /^EXIT=\d+/m, 15000);
    assert.match(screen, /^EXIT=0$/m, screen);
    assert.match(screen, /^50000 packets captured$/m, screen);
    assert.doesNotMatch(screen, /^capture: \d/m, 'the status line is erased at the end');
  } finally {
    term.close();
    if (tx) await tx;
  }
});

test('nmts lb in a terminal: per-second rates and drops; gone after Ctrl-C', { skip: needs(['tmux']) }, async () => {
  const sw = `valePl${id}`;
  const term = terminal('lb', `${process.execPath} ${nmts} lb -i ${sw}:in -p 2`);
  let tx: Promise<number | null> | null = null;
  try {
    let screen = await waitFor(term.screen, /opened pipe .*\n.*opened pipe/, 8000);
    tx = pktgen(['-i', `${sw}:tx`, '-f', 'tx', '-R', '20000', '--duration', '6']);
    // nobody reads the pipes: once they are full lb drops
    const re = /^lb: in (\S+) pps\s+out (\S+) pps\s+drop (\S+) pps\s+total (\S+) forwarded, (\S+) dropped\s+queued \d+, free \d+\s+elapsed \d+:\d\d/m;
    screen = await waitFor(term.screen, /^lb: in [1-9][\d.]*k? pps .* [1-9][\d.]*k? dropped/m, 10000);
    const m = re.exec(screen);
    assert.ok(m, `the status line:\n${screen}`);
    const inRate = num(m[1]!), outRate = num(m[2]!), dropRate = num(m[3]!);
    assert.ok(inRate > 0 && inRate <= 25000, `in: about the sender's 20 kpps at most: ${m[1]}`);
    assert.ok(outRate + dropRate <= inRate * 1.1 + 1100, `out + drop <= in: ${m[0]}`);
    assert.ok(num(m[5]!) > 0, 'drops counted: the pipes have no reader');
    term.keys('C-c');
    screen = await waitFor(term.screen, /^EXIT=\d+/m, 8000);
    assert.match(screen, /^\d+ packets forwarded\.  \d+ packets dropped\. Total \d+$/m, screen);
    assert.doesNotMatch(screen, /^lb: in /m, 'the status line is erased at the end');
  } finally {
    term.close();
    if (tx) await tx;
  }
});

test('stderr not a terminal: no status line (and one plain line per update with --progress)', async () => {
  const file = makePcap(40_000);
  const quiet = await run(['replay', '-i', `valePq${id}:tx`, '--pps', '20000', file], 15000);
  assert.equal(quiet.code, 0, quiet.err);
  assert.doesNotMatch(quiet.err, /frames\/s|\r/, quiet.err);
  assert.match(quiet.out, /^Actual: 40000 packets/m);
  const loud = await run(['replay', '-i', `valePq${id}:tx`, '--pps', '20000', '--progress', file], 15000);
  assert.equal(loud.code, 0, loud.err);
  assert.doesNotMatch(loud.err, /\r|\x1b/, 'no terminal controls in a log');
  const lines = loud.err.split('\n').filter((l) => /^replay: \d+\/~?\d+ frames/.test(l));
  assert.ok(lines.length >= 1 && lines.length <= 4, `about one line a second over 2 s:\n${loud.err}`);

  const sw = `valePn${id}`;
  const cap = start(['capture', '-i', `${sw}:cap`, '-c', '2000', '-w', join(dir, 'q.pcap')], 20000);
  const lb = start(['lb', '-i', `${sw}:in`, '-p', '2'], 20000);
  for (let k = 0; k < 100 && !(/listening on/.test(cap.stderr()) && /opened pipe/.test(lb.stderr())); k++) await sleep(100);
  const tx = await pktgen(['-i', `${sw}:tx`, '-f', 'tx', '-R', '5000', '--duration', '2.5']);
  assert.equal(tx, 0);
  lb.stop();
  const [c, l] = await Promise.all([cap.done, lb.done]);
  assert.equal(c.code, 0, c.err);
  assert.match(c.err, /^2000 packets captured$/m);
  assert.doesNotMatch(c.err, /packets\/s|\r/, c.err);
  assert.equal(l.code, 0, l.err);
  assert.match(l.out, /packets forwarded/);
  assert.doesNotMatch(l.err, /lb: in |\r/, l.err);
});
