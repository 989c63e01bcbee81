// Several processes on one switch or pipe, exactly as users run pkt-gen in separate
// terminals: the receivers start first and every count must be exact. A VALE switch has no
// back-pressure: a process that is not scheduled for long enough (a loaded 2-core machine)
// loses frames even at a modest rate, so the VALE tests assert what holds by construction,
// every frame sent is received or reported dropped, on both sides; a pipe has back-pressure
// and loses nothing.
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
  child.stdout.on('data', (d) => { out += d; if (/Receiving from|Sending on/.test(out)) markReady(); });
  child.stderr.on('data', (d) => { err += d; });
  const done = new Promise<Run>((resolve) => child.once('exit', (code) => {
    markReady();
    const last = out.trim().split('\n').pop() ?? '';
    let json = null;
    try { json = JSON.parse(last); } catch { /* no summary */ }
    resolve({ code: code ?? -1, out, err, json });
  }));
  return { ready, done, stop: () => { child.kill('SIGINT'); } };
}

test('two processes exchange -n packets through a VALE switch: each received or reported dropped', { timeout: 30_000 }, async () => {
  const N = 50_000;
  const rx = start(['-i', `valexp${id}:2@conf:slots=4096`, '-f', 'rx']);
  await rx.ready;
  const tx = start(['-i', `valexp${id}:1`, '-f', 'tx', '-n', String(N), '-R', '100000', '-D', '02:00:00:00:00:02']);
  const t = await tx.done;
  rx.stop(); // the receiver counts what is in its ring when it stops
  const r = await rx.done;
  assert.equal(t.code, 0, t.err);
  assert.equal(r.code, 0, r.err);
  assert.equal(t.json?.packets, N);
  assert.equal(r.json!.packets + r.json!.dropped, N, `received ${r.json?.packets}, dropped ${r.json?.dropped}`);
  assert.equal(t.json?.dropped, r.json?.dropped);
  assert.equal(r.json?.bytes, r.json!.packets * 60);
  assert.ok(r.json!.packets > 0);
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

test('three processes: two senders into one receiver, every frame received or reported dropped', { timeout: 30_000 }, async () => {
  const N = 20_000;
  const rx = start(['-i', `valexq${id}:rx@conf:slots=4096`, '-f', 'rx']);
  await rx.ready;
  const a = start(['-i', `valexq${id}:a`, '-f', 'tx', '-n', String(N), '-R', '100000', '-S', '02:00:00:00:00:0a']);
  const b = start(['-i', `valexq${id}:b`, '-f', 'tx', '-n', String(N), '-R', '100000', '-S', '02:00:00:00:00:0b']);
  const [ra, rb] = await Promise.all([a.done, b.done]);
  rx.stop();
  const rr = await rx.done;
  for (const x of [ra, rb, rr]) assert.equal(x.code, 0, x.err);
  assert.equal(ra.json?.packets, N);
  assert.equal(rb.json?.packets, N);
  assert.equal(rr.json!.packets + rr.json!.dropped, 2 * N, `received ${rr.json?.packets}, dropped ${rr.json?.dropped}`);
  // the senders' frames flood (the receiver's MAC is never learned): their drops also count
  // the copies for each other's ports, which nobody reads
  assert.ok(ra.json!.dropped + rb.json!.dropped >= rr.json!.dropped);
  assert.ok(rr.json!.packets > 0);
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

test('a monitor in a third process sees the frames a port receives, or reports the ones it dropped', { timeout: 30_000 }, async () => {
  const N = 20_000;
  const sw = `valexm${id}`;
  const rx = start(['-i', `${sw}:a@conf:slots=4096`, '-f', 'rx']);
  await rx.ready;
  const mon = start(['-i', `${sw}:a/r`, '-f', 'rx']);
  await mon.ready;
  const tx = start(['-i', `${sw}:b`, '-f', 'tx', '-n', String(N), '-R', '100000']);
  const t = await tx.done;
  rx.stop(); // its last rxsync copies what it got to the monitor
  const r = await rx.done;
  mon.stop();
  const m = await mon.done;
  for (const x of [t, r, m]) assert.equal(x.code, 0, x.err);
  assert.equal(r.json!.packets + r.json!.dropped, N, `port: received ${r.json?.packets}, dropped ${r.json?.dropped}`);
  assert.equal(t.json?.dropped, r.json?.dropped);
  // the monitor gets a copy of every frame the port received, unless its own ring was full
  assert.equal(m.json!.packets + m.json!.dropped, r.json!.packets, `monitor: saw ${m.json?.packets}, dropped ${m.json?.dropped}`);
  assert.ok(m.json!.packets > 0);
});
