// Hostile participants (issue #9): a process with write access to a switch's file damages a
// port's rings while a sender, a receiver and a monitor run on that switch, and a second
// switch carries traffic beside it. Nothing may die by a signal or hang; participants of the
// damaged switch may stop with an error message; the second switch loses nothing.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rmSync } from 'node:fs';
import { regionPath } from '../src/core/shm.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const nmts = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const writer = fileURLToPath(new URL('./fixtures/hostile-writer.js', import.meta.url));
const id = process.pid % 100000;

interface Run { code: number | null; signal: string | null; out: string; err: string; json: { packets: number } | null }

const children = new Set<ReturnType<typeof spawn>>();
// the damaged switch keeps its corrupt records (never followed, never freed): remove its file
const damaged: string[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const sw of damaged) rmSync(regionPath(sw), { force: true });
});

/** Start a node process; `ready` once `readyRe` shows on stdout or stderr, `done` on exit. */
function start(args: string[], readyRe: RegExp): { ready: Promise<void>; done: Promise<Run> } {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '', err = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((r) => { markReady = r; });
  child.stdout.on('data', (d) => { out += d; if (readyRe.test(out)) markReady(); });
  child.stderr.on('data', (d) => { err += d; if (readyRe.test(err)) markReady(); });
  const done = new Promise<Run>((resolve) => child.once('exit', (code, signal) => {
    children.delete(child);
    markReady();
    const last = out.trim().split('\n').pop() ?? '';
    let json = null;
    try { json = JSON.parse(last); } catch { /* no summary */ }
    resolve({ code, signal, out, err, json });
  }));
  return { ready, done };
}

const pktgen = (args: string[]): ReturnType<typeof start> =>
  start([nmts, 'pkt-gen', ...args, '--json'], /Receiving from|Sending on/);

/** Resolves with the run, or with a 'hang' marker (the process is then killed) after ms. */
async function within(p: ReturnType<typeof start>, ms: number, what: string): Promise<Run> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<null>((r) => { timer = setTimeout(() => r(null), ms); });
  const r = await Promise.race([p.done, hang]);
  clearTimeout(timer);
  assert.ok(r !== null, `${what} hung`);
  return r;
}

for (const mode of ['ring', 'slots'] as const) {
  const title = mode === 'ring'
    ? '(c) random words over the ring records and slots of a receiving port'
    : '(e) bad buf_idx/len in the tx slots of a monitored sender';
  test(`hostile writer, ${title}: no signal, no hang, the other switch loses nothing`, { timeout: 60_000 }, async () => {
    const sw = `valeH${id}${mode[0]}`, other = `valeK${id}${mode[0]}`;
    damaged.push(sw);
    const N = 20_000;
    // switch 1: a receiver, a monitor of the victim, a sender; the victim is the receiver (c) or the sender (e)
    const rx = pktgen(['-i', `${sw}:rx@conf:slots=1024`, '-f', 'rx', '--duration', '6']);
    await rx.ready;
    const victim = mode === 'ring' ? 'rx' : 'tx';
    const tx = pktgen(['-i', `${sw}:tx`, '-f', 'tx', '-R', '50000', '--duration', '6']);
    await tx.ready;
    const mon = pktgen(['-i', `${sw}:${victim}/${mode === 'ring' ? 'r' : 't'}`, '-f', 'rx', '--duration', '6']);
    await mon.ready;
    // switch 2: exact counts expected
    const orx = pktgen(['-i', `${other}:rx@conf:slots=4096`, '-f', 'rx', '-n', String(N), '--duration', '20']);
    await orx.ready;
    const otx = pktgen(['-i', `${other}:tx`, '-f', 'tx', '-n', String(N), '-R', '20000', '--duration', '20']);
    const bad = start([writer, sw, victim, mode, '2500', String(id)], /ready/);
    const runs = await Promise.all([
      within(bad, 30_000, 'the hostile writer'),
      within(rx, 30_000, 'the receiver'), within(tx, 30_000, 'the sender'), within(mon, 30_000, 'the monitor'),
      within(orx, 30_000, 'the other receiver'), within(otx, 30_000, 'the other sender'),
    ]);
    const names = ['writer', 'rx', 'tx', 'monitor', 'other rx', 'other tx'];
    runs.forEach((r, i) => {
      assert.equal(r.signal, null, `${names[i]} died by ${r.signal}: ${r.err.slice(-500)}`);
      if (r.code !== 0) assert.match(r.err, /\S/, `${names[i]} stopped (code ${r.code}) with a message`);
    });
    assert.equal(runs[0].code, 0, runs[0].err);
    // (c): the receiver's damage is the receiver's problem, the sender keeps sending
    if (mode === 'ring') assert.equal(runs[2].code, 0, `the sender stopped for the receiver's fault: ${runs[2].err.slice(-300)}`);
    assert.match(runs[0].out, /done \d+/);
    const [,,,, o, t] = runs;
    assert.equal(t.code, 0, t.err);
    assert.equal(o.code, 0, o.err);
    assert.equal(t.json?.packets, N);
    assert.equal(o.json?.packets, N, 'the second switch lost nothing');
  });
}
