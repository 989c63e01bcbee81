// The pkt-gen CLI moves its process's helper threads (V8's compiler and GC threads, Node's
// own: those started before its data threads) to SCHED_IDLE when the traffic starts, so that
// they never take a CPU a data loop of this or another process wants (apps/common/
// idle-helpers.ts, issue #9). Read back from /proc while a sender runs: the helpers are in
// SCHED_IDLE, the main thread and the data thread are not; NMTS_IDLE_HELPERS=0 leaves all
// alone, and a bad value is refused. A process may move threads out of SCHED_IDLE only with
// CAP_SYS_NICE (or RLIMIT_NICE 20), and pkt-gen moves them in only if it could: those tests
// need root. The watch that puts starving helpers back is checked with a helper made to
// starve: a spinning thread and a busy one on the same CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HelperThreads, STARVED, STARVED_LOOKS, starved, waitedMs, WATCH_MS } from '../src/apps/common/idle-helpers.js';
import { canLeaveIdle, hasIdlePolicy } from '../src/sys/sched.js';
import { needs } from './fixtures/requires.js';

const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const SCHED_IDLE = 5;

/** Scheduling policy of each thread of `pid` (field 41 of /proc/PID/task/TID/stat). */
function policies(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3 on
      out.set(Number(t), Number(f[41 - 3]));
    } catch { /* the thread ended */ }
  }
  return out;
}

/**
 * Start a sender with -v and wait until it has started the traffic: its first report line
 * (-T 100), which it prints after the go, and so after the helpers were moved (and after its
 * "helper threads in SCHED_IDLE: N" line, if it moved them). Then read its threads' classes.
 */
async function whileSending(env: NodeJS.ProcessEnv): Promise<{ main: number; idle: number; other: number; said: number }> {
  const p = spawn(process.execPath, [NMTS, 'pkt-gen', '-v', '-T', '100', '-f', 'tx', '-i', `valeidle${process.pid}:a`, '-R', '100000', '--duration', '20'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let err = '';
    await new Promise<void>((resolve, reject) => {
      p.stderr.on('data', (d: Buffer) => { err += d.toString(); if (/pps \(/.test(err)) resolve(); });
      p.on('exit', (code) => reject(new Error(`pkt-gen exited with ${code} before a report: ${err}`)));
    });
    const pol = policies(p.pid!);
    let idle = 0, other = 0;
    for (const [tid, v] of pol) if (tid !== p.pid) v === SCHED_IDLE ? idle++ : other++;
    const m = /helper threads in SCHED_IDLE: (\d+)/.exec(err);
    return { main: pol.get(p.pid!)!, idle, other, said: m ? Number(m[1]) : 0 };
  } finally {
    p.kill('SIGINT');
    await new Promise((r) => p.once('close', r));
  }
}

const skip = needs(['root'], 'CAP_SYS_NICE: moving threads out of SCHED_IDLE again');

test('pkt-gen: helper threads in SCHED_IDLE while the traffic runs, the data thread and main thread not', { timeout: 60_000, skip }, async () => {
  const r = await whileSending({});
  assert.notEqual(r.main, SCHED_IDLE, 'the main thread keeps its class');
  // V8's platform workers (4 by default) and Node's own start-up threads; all of those it said
  assert.ok(r.said >= 4, `pkt-gen -v said it moved ${r.said} threads`);
  assert.equal(r.idle, r.said, 'every thread it moved is in SCHED_IDLE, no other');
  assert.ok(r.other >= 1, 'the data thread keeps its class');
});

test('pkt-gen: NMTS_IDLE_HELPERS=0 leaves every thread alone; a bad value is refused', { timeout: 60_000, skip }, async () => {
  const r = await whileSending({ NMTS_IDLE_HELPERS: '0' });
  assert.equal(r.idle, 0);
  assert.equal(r.said, 0);
  const bad = spawnSync(process.execPath, [NMTS, 'pkt-gen', '-f', 'tx', '-i', `valeidle${process.pid}b:a`, '-n', '10'], { env: { ...process.env, NMTS_IDLE_HELPERS: 'yes' }, encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /NMTS_IDLE_HELPERS=yes: 0 \(off\) or 1 \(on\) expected/);
});

test('waitedMs()/starved(): the wait the kernel counted, or runnable at two looks without running; a thread gone waited 0', () => {
  const ms = 1e6, I = WATCH_MS;
  const at = (runMs: number, waitMs: number, runnable: boolean) => ({ runNs: runMs * ms, waitNs: waitMs * ms, runnable });
  assert.equal(waitedMs(at(0, 0, false), at(50, 150, false), I), 150);
  assert.equal(starved(waitedMs(at(0, 0, false), at(50, 150, false), I), I), true);
  assert.equal(starved(waitedMs(at(0, 0, true), at(100, 100, true), I), I), false, 'half the interval is not more than half');
  assert.equal(waitedMs(at(10, 5, true), at(10, 5, true), I), I, 'never got a CPU: the kernel counted nothing');
  assert.equal(waitedMs(at(10, 5, false), at(10, 5, true), I), 0, 'asleep at the first look: no wait seen');
  assert.equal(waitedMs(at(0, 0, true), at(190, 0, true), I), 10, 'ran most of it');
  assert.equal(waitedMs(null, at(0, 0, true), I), 0);
  assert.equal(waitedMs(at(0, 0, true), null, I), 0);
  assert.equal(starved(STARVED * I, I), false);
  assert.equal(starved(STARVED * I + 1, I), true);
});

test('a helper that starves in SCHED_IDLE is put back after STARVED_LOOKS looks in a row', { timeout: 30_000, skip }, async () => {
  assert.equal(canLeaveIdle(), true);
  // the "helper": a thread spinning on CPU 0, started before the snapshot
  const spin = `const { parentPort, workerData } = require('node:worker_threads');
    const koffi = require(workerData.koffi);
    const mask = new Uint8Array(128); mask[0] = 1;
    koffi.load('libc.so.6').func('int sched_setaffinity(int, size_t, void *)')(0, 128, mask);
    const stop = new Int32Array(workerData.stop);
    parentPort.postMessage(koffi.load('libc.so.6').func('long syscall(long)')(186));
    while (Atomics.load(stop, 0) === 0) {}`;
  const stop = new SharedArrayBuffer(4);
  const koffiPath = fileURLToPath(import.meta.resolve('koffi'));
  const helper = new Worker(spin, { eval: true, workerData: { stop, koffi: koffiPath } });
  const helperTid = await new Promise<number>((r) => helper.once('message', (m: number) => r(Number(m))));
  const h = HelperThreads.snapshot();
  // the work that takes its CPU: the same spin at the ordinary class, started after the snapshot
  const busy = new Worker(spin, { eval: true, workerData: { stop, koffi: koffiPath } });
  await new Promise((r) => busy.once('message', r));
  try {
    const r = h.idle();
    assert.equal(r.skipped, null);
    assert.ok(hasIdlePolicy(helperTid), 'the spinning thread is in SCHED_IDLE');
    let looks = 0, waited = 0;
    while (waited === 0 && looks < STARVED_LOOKS + 5) {
      await new Promise((res) => setTimeout(res, WATCH_MS));
      looks++;
      waited = h.check();
    }
    assert.ok(waited > 0, `put back after ${looks} looks`);
    assert.ok(looks >= STARVED_LOOKS, `not before ${STARVED_LOOKS} looks (${looks})`);
    assert.equal(hasIdlePolicy(helperTid), false, 'back in the ordinary class');
    assert.equal(h.idleCount, 0);
  } finally {
    h.restore();
    Atomics.store(new Int32Array(stop), 0, 1);
    await Promise.all([helper.terminate(), busy.terminate()]);
  }
});
