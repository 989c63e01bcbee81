// The pkt-gen CLI moves its process's helper threads (V8's compiler and GC threads, Node's
// own: those started before its data threads) to SCHED_IDLE when the traffic starts, so that
// they never take a CPU a data loop of this or another process wants (apps/common/
// idle-helpers.ts, issue #9). Read back from /proc while a sender runs: the helpers are in
// SCHED_IDLE, the main thread and the data thread are not; NMTS_IDLE_HELPERS=0 leaves all
// alone, and a bad value is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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

test('pkt-gen: helper threads in SCHED_IDLE while the traffic runs, the data thread and main thread not', { timeout: 60_000 }, async () => {
  const r = await whileSending({});
  assert.notEqual(r.main, SCHED_IDLE, 'the main thread keeps its class');
  // V8's platform workers (4 by default) and Node's own start-up threads; all of those it said
  assert.ok(r.said >= 4, `pkt-gen -v said it moved ${r.said} threads`);
  assert.equal(r.idle, r.said, 'every thread it moved is in SCHED_IDLE, no other');
  assert.ok(r.other >= 1, 'the data thread keeps its class');
});

test('pkt-gen: NMTS_IDLE_HELPERS=0 leaves every thread alone; a bad value is refused', { timeout: 60_000 }, async () => {
  const r = await whileSending({ NMTS_IDLE_HELPERS: '0' });
  assert.equal(r.idle, 0);
  assert.equal(r.said, 0);
  const bad = spawnSync(process.execPath, [NMTS, 'pkt-gen', '-f', 'tx', '-i', `valeidle${process.pid}b:a`, '-n', '10'], { env: { ...process.env, NMTS_IDLE_HELPERS: 'yes' }, encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /NMTS_IDLE_HELPERS=yes: 0 \(off\) or 1 \(on\) expected/);
});
