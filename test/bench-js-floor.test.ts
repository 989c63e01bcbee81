// bench/js-floor.ts, the JavaScript floor under the pipe pairs of --ref: it speaks the C
// reference's protocol (one JSON line: packets counted by the receiver inside the window, the
// window's seconds, CPU seconds), moves frames in both modes, and refuses a mode it lacks.
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const FLOOR = fileURLToPath(new URL('../bench/js-floor.js', import.meta.url));
const run = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [FLOOR, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('bench js-floor', () => {
  for (const mode of ['pipe41', 'pipe4', 'pipe1', 'pipe']) {
    test(`${mode}: frames counted in the window, with CPU time`, () => {
      const r = run(mode, '60', '50', '300');
      assert.equal(r.status, 0, String(r.stderr));
      const out = JSON.parse(String(r.stdout).trim()) as { packets: number; seconds: number; cpuSeconds: number; drops: number };
      assert.ok(Number.isInteger(out.packets) && out.packets > 1000, `packets ${out.packets}`);
      assert.ok(out.seconds >= 0.3 && out.seconds < 5, `seconds ${out.seconds}`);
      assert.ok(out.cpuSeconds > 0, `cpuSeconds ${out.cpuSeconds}`);
      assert.equal(out.drops, 0);
    });
  }

  test('an unknown mode: exit 1 and the usage', () => {
    const r = run('vale2', '60', '10', '10');
    assert.equal(r.status, 1);
    assert.match(String(r.stderr), /usage: js-floor pipe4\|pipe41\|pipe\|pipe1/);
  });
});
