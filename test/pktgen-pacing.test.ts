// A paced pkt-gen sleeps between its bursts (apps/pkt-gen/loops.ts, waitUntil): at -R 500000
// a burst of 512 frames leaves every 1.02 ms, and the sender used to spin through every wait
// shorter than 2 ms, a whole core at any such rate (the core a receiver on a 2-core machine
// needs, issue #9). Measured here: the CPU time the sender's process used (the test process's
// cutime + cstime after it is reaped) against the wall time of its run. What this asserts holds
// by construction: a busier machine only makes the sleeps longer and the spins shorter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
/** Clock ticks per second of /proc's times (USER_HZ: 100 on Linux). */
const HZ = 100;

/** CPU seconds of this process's reaped children (cutime + cstime of /proc/self/stat). */
function childrenCpu(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
  return (Number(f[13]) + Number(f[14])) / HZ; // fields 16 and 17
}

test('a paced pkt-gen sleeps between bursts: well under one core at -R 500000', { timeout: 60_000 }, () => {
  const sw = `valepace${process.pid}`;
  const cpu0 = childrenCpu(), t0 = performance.now();
  const r = spawnSync(process.execPath, [NMTS, 'pkt-gen', '-f', 'tx', '-i', `${sw}:a`, '-R', '500000', '-n', '1500000', '--json'], { encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1000, cpu = childrenCpu() - cpu0;
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { packets: number; pps: number };
  assert.equal(j.packets, 1_500_000);
  assert.ok(j.pps <= 500_000 * 1.01, `-R is a ceiling: ${j.pps} pps`);
  // the run itself lasts 3 s at the rate; start-up (Node, the worker, the sync warm-up) adds CPU of its own
  assert.ok(wall >= 2.9, `${wall.toFixed(2)} s for 1.5 M frames at 500 kpps`);
  assert.ok(cpu < 0.6 * wall, `sender used ${cpu.toFixed(2)} s of CPU in ${wall.toFixed(2)} s (a spinning sender uses more than ${wall.toFixed(1)})`);
});
