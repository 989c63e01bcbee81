// Several processes on one switch or pipe, exactly as users run pkt-gen in separate
// terminals: the receivers start first, the senders pace themselves so that a receiver
// ring (4096 slots) cannot overflow, and every count must be exact.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const nmts = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const id = process.pid;

interface Run { code: number; out: string; err: string; json: { packets: number; bytes: number; dropped: number } | null }

const children = new Set<ReturnType<typeof spawn>>();
after(() => { for (const c of children) c.kill('SIGKILL'); });

/**
 * Start `nmts pkt-gen args` (capped at 20 s, so that a failure shows as a wrong count, not a
 * hang); resolves `ready` once it printed its port line, `done` on exit.
 */
function start(args: string[]): { ready: Promise<void>; done: Promise<Run>; stop: () => void } {
  const child = spawn(process.execPath, [nmts, 'pkt-gen', ...args, '--duration', '20', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '', err = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((r) => { markReady = r; });
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; if (/Receiving from|Sending on/.test(err)) markReady(); });
  const done = new Promise<Run>((resolve) => child.once('exit', (code) => {
    markReady();
    const last = out.trim().split('\n').pop() ?? '';
    let json = null;
    try { json = JSON.parse(last); } catch { /* no summary */ }
    resolve({ code: code ?? -1, out, err, json });
  }));
  return { ready, done, stop: () => { child.kill('SIGINT'); } };
}

test('two processes exchange exactly -n packets through a VALE switch', { timeout: 30_000 }, async () => {
  const N = 50_000;
  const rx = start(['-i', `valexp${id}:2@conf:slots=4096`, '-f', 'rx', '-n', String(N)]);
  await rx.ready;
  const tx = start(['-i', `valexp${id}:1`, '-f', 'tx', '-n', String(N), '-R', '100000', '-D', '02:00:00:00:00:02']);
  const [t, r] = await Promise.all([tx.done, rx.done]);
  assert.equal(t.code, 0, t.err);
  assert.equal(r.code, 0, r.err);
  assert.equal(t.json?.packets, N);
  assert.equal(r.json?.packets, N);
  assert.equal(r.json?.bytes, N * 60);
});

test('unpaced sender, receiver in another process: every frame received or reported dropped', { timeout: 30_000 }, async () => {
  // netmap's first experiment: no pacing, so the sender may outrun the receiver; whatever the
  // receiver's ring could not take is counted on both sides, and nothing else goes missing
  const N = 500_000;
  const rx = start(['-i', `valexu${id}:2`, '-f', 'rx']);
  await rx.ready;
  const tx = start(['-i', `valexu${id}:1`, '-f', 'tx', '-n', String(N)]);
  const t = await tx.done;
  rx.stop(); // the receiver counts what is in its ring when it stops
  const r = await rx.done;
  assert.equal(t.code, 0, t.err);
  assert.equal(r.code, 0, r.err);
  assert.equal(t.json?.packets, N);
  assert.equal(r.json!.packets + t.json!.dropped, N, `received ${r.json?.packets} + dropped ${t.json?.dropped}`);
  assert.equal(r.json?.dropped, t.json?.dropped, 'the receiver reports the drops of its ring');
});

test('three processes: two senders into one receiver, every frame counted', { timeout: 30_000 }, async () => {
  const N = 20_000;
  const rx = start(['-i', `valexq${id}:rx@conf:slots=4096`, '-f', 'rx', '-n', String(2 * N)]);
  await rx.ready;
  const a = start(['-i', `valexq${id}:a`, '-f', 'tx', '-n', String(N), '-R', '100000', '-S', '02:00:00:00:00:0a']);
  const b = start(['-i', `valexq${id}:b`, '-f', 'tx', '-n', String(N), '-R', '100000', '-S', '02:00:00:00:00:0b']);
  const [ra, rb, rr] = await Promise.all([a.done, b.done, rx.done]);
  for (const x of [ra, rb, rr]) assert.equal(x.code, 0, x.err);
  assert.equal(ra.json?.packets, N);
  assert.equal(rb.json?.packets, N);
  assert.equal(rr.json?.packets, 2 * N);
});

test('a pipe between two processes: exact count, in sequence (txseq/rxseq)', { timeout: 30_000 }, async () => {
  const N = 500_000;
  const rx = start(['-i', `xpp${id}}1`, '-f', 'rxseq', '-n', String(N)]);
  await rx.ready;
  const tx = start(['-i', `xpp${id}{1`, '-f', 'txseq', '-n', String(N)]);
  const [t, r] = await Promise.all([tx.done, rx.done]);
  assert.equal(t.code, 0, t.err);
  assert.equal(r.code, 0, `rxseq reported sequence errors or failed: ${r.err.slice(-300)}`);
  assert.equal(r.json?.packets, N);
  assert.doesNotMatch(r.err, /Sequence (GAP|OUT OF ORDER)/);
});

test('a monitor in a third process sees the frames a port receives', { timeout: 30_000 }, async () => {
  const N = 20_000;
  const sw = `valexm${id}`;
  const rx = start(['-i', `${sw}:a@conf:slots=4096`, '-f', 'rx', '-n', String(N)]);
  await rx.ready;
  const mon = start(['-i', `${sw}:a/r`, '-f', 'rx', '-n', String(N)]);
  await mon.ready;
  const tx = start(['-i', `${sw}:b`, '-f', 'tx', '-n', String(N), '-R', '100000']);
  const [t, r, m] = await Promise.all([tx.done, rx.done, mon.done]);
  for (const x of [t, r, m]) assert.equal(x.code, 0, x.err);
  assert.equal(r.json?.packets, N);
  assert.equal(m.json?.packets, N, 'the monitor saw a copy of every frame');
});
