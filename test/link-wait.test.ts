// netmap's link-wait defaults (bridge 4 s, lb 2 s, tlem 2 s) apply when an interface is involved
// and 0 for software ports; the wait happens after the ports are open; bridge -h prints help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isInterfacePort, linkWait } from '../src/apps/common/link-wait.js';
import { bridge } from '../src/apps/bridge/bridge.js';
import { BRIDGE_LINK_WAIT } from '../src/cli/bridge.js';
import { LB_LINK_WAIT } from '../src/cli/lb.js';
import { open } from '../src/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const id = process.pid;

test('interfaces get the tool\'s wait, software ports none, -w wins', () => {
  assert.equal(BRIDGE_LINK_WAIT, 4);
  assert.equal(LB_LINK_WAIT, 2);
  for (const p of ['netmap:eth0', 'eth0', 'netmap:eth0^', 'netmap:eth0-1']) assert.equal(isInterfacePort(p), true, p);
  for (const p of ['vale0:1', 'x{1', 'x}2', 'netmap:eth0{1', 'null', 'vale0:a}3']) assert.equal(isInterfacePort(p), false, p);
  assert.equal(linkWait(undefined, ['vale0:a', 'vale0:b'], BRIDGE_LINK_WAIT), 0);
  assert.equal(linkWait(undefined, ['vale0:a', 'netmap:eth0'], BRIDGE_LINK_WAIT), 4);
  assert.equal(linkWait(undefined, ['netmap:eth0'], LB_LINK_WAIT), 2);
  assert.equal(linkWait(0, ['netmap:eth0'], BRIDGE_LINK_WAIT), 0);
  assert.equal(linkWait(1.5, ['x{1'], BRIDGE_LINK_WAIT), 1.5);
});

test('bridge waits after opening: a frame queued at start leaves after the wait', async () => {
  const outA = open(`lw${id}{1`), outB = open(`lw${id}{2`);
  const lines: string[] = [];
  const t0 = performance.now();
  const run = bridge({ a: `lw${id}}1`, b: `lw${id}}2`, maxPackets: 1, waitSec: 0.3 }, (l) => lines.push(l));
  const r = outA.txRings[0]!;
  r.setLen(r.head, 60);
  outA.u8.fill(0xff, r.buf(r.head), r.buf(r.head) + 6);
  r.advance(r.next(r.head));
  outA.txsync();
  const res = await run;
  assert.equal(res.aToB, 1);
  assert.ok(performance.now() - t0 >= 290, `forwarded after ${(performance.now() - t0).toFixed(0)} ms`);
  assert.ok(lines.includes('Wait 0.3 secs for link to come up...'), lines.join('\n'));
  outA.close();
  outB.close();
});

test('bridge -h prints the help on stdout and exits 0, as netmap\'s', () => {
  const r = spawnSync(process.execPath, ['bin/nmts.js', 'bridge', '-h'], { cwd: root, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: nmts bridge/);
  assert.match(r.stdout, /-w SEC .*\n.*netmap's 4 when a port is an interface/);
  const lb = spawnSync(process.execPath, ['bin/nmts.js', 'lb', '-h'], { cwd: root, encoding: 'utf8', timeout: 20_000 });
  assert.equal(lb.status, 0, lb.stderr);
  assert.match(lb.stdout, /netmap's 2 when\s+the input is an interface/);
});
