// Regions in shared files: every switch and every pipe parent lives in its own file,
// `/dev/shm/nmts-<key>` (the directory can be moved with NMTS_SHM_DIR), created by the first
// port opened in it and removed when the last one closes; another process that opens a
// name in it maps the same file, so two processes share switches and pipes. The other
// process is test/fixtures/shm-child.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { open, POLLIN, regionPath } from '../src/index.js';
import { SHM_CHILD_ETHERTYPE } from './fixtures/shm-child.js';
import type { SenderResult } from './fixtures/pipe-sender.js';

const BOUND_MS = 10000; // upper bound against hangs, never a timing assertion
const childScript = fileURLToPath(new URL('./fixtures/shm-child.js', import.meta.url));

interface ChildRun { code: number; stdout: string; stderr: string }

/** Run the fixture in another process (started at once; resolves when it exits). */
function child(args: string[]): Promise<ChildRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [childScript, ...args], { timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

function childJson<T>(r: ChildRun): T {
  assert.equal(r.code, 0, `child failed: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

test('the first port of a switch creates its file, the last one to close removes it', () => {
  const path = regionPath('valeshm1');
  if (process.env.NMTS_SHM_DIR === undefined) assert.equal(path, '/dev/shm/nmts-valeshm1');
  const a = open('valeshm1:a');
  assert.equal(a.region.path, path, 'the port is mapped from the switch file');
  assert.ok(existsSync(path), `${path} exists while a port is open`);
  const b = open('valeshm1:b');
  assert.equal(b.region, a.region);
  a.close();
  assert.ok(existsSync(path), 'b still holds the switch');
  assert.equal(a.region.dead, false);
  b.close();
  assert.ok(!existsSync(path), `${path} removed with the last port`);
  assert.equal(b.region.dead, true, 'the region is retired');
  // a new open starts over with a new file
  const c = open('valeshm1:c');
  try {
    assert.ok(existsSync(path));
    assert.notEqual(c.region, a.region);
    assert.equal(c.region.dead, false);
  } finally {
    c.close();
  }
  assert.ok(!existsSync(path));
});

test('two processes share a switch: a broadcast sent by another process arrives', async () => {
  const a = open('valeshm2:a');
  try {
    const done = child(['vale', 'valeshm2:b']);
    const r = a.rxRings[0];
    assert.ok((await a.pollAsync(POLLIN, BOUND_MS)) & POLLIN, 'no frame from the other process');
    const res = childJson<{ ok: boolean; pid: number; ports: string[] }>(await done);
    assert.equal(res.ok, true);
    assert.deepEqual(res.ports, ['valeshm2:a', 'valeshm2:b'], 'the child sees this process\'s port on the switch');
    assert.equal(r.space(), 1, 'exactly one frame');
    const off = r.buf(r.head), u8 = a.u8;
    assert.equal(r.len(r.head), 60);
    assert.deepEqual([...u8.subarray(off, off + 6)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.deepEqual([...u8.subarray(off + 6, off + 12)], [0x02, 0, 0, 0, 0, 0x0b]);
    assert.equal((u8[off + 12] << 8) | u8[off + 13], SHM_CHILD_ETHERTYPE);
    assert.equal(new DataView(u8.buffer, u8.byteOffset).getUint32(off + 14), res.pid, 'sent by that process');
    assert.notEqual(res.pid, process.pid);
    r.advance(r.tail);
    a.rxsync();
    assert.ok(existsSync(regionPath('valeshm2')), 'the child\'s close left the switch to a');
  } finally {
    a.close();
  }
  assert.ok(!existsSync(regionPath('valeshm2')));
});

test('two processes share a pipe: 10000 frames from another process, all in order', async () => {
  const N = 10000;
  // 64 slots, and nothing released until the ring is full: the sender must sleep in
  // poll(POLLOUT) and be woken up from this process
  const s = open('pshm}1@conf:slots=64');
  try {
    const done = child(['pipe', 'pshm{1', String(N)]);
    const r = s.rxRings[0];
    while (r.space() < 63) {
      assert.ok((await s.pollAsync(POLLIN, BOUND_MS)) & POLLIN, `pollAsync timed out with ${r.space()} frames held`);
      r.cur = r.tail;
    }
    assert.equal(r.head, 0, 'nothing released yet');
    let expect = 0;
    while (expect < N) {
      if (r.head === r.tail) {
        assert.ok((await s.pollAsync(POLLIN, BOUND_MS)) & POLLIN, `pollAsync timed out waiting for seq ${expect}`);
        continue;
      }
      for (let h: number = r.head; h !== r.tail; h = r.next(h)) {
        const seq: number = r.u32[r.buf(h) >> 2];
        if (seq !== expect) assert.fail(`expected seq ${expect}, got ${seq}`);
        assert.equal(r.len(h), 64);
        expect++;
      }
      r.advance(r.tail);
    }
    s.rxsync();
    assert.equal(r.empty(), true, 'exactly N frames, no extra');
    const res = childJson<SenderResult>(await done);
    assert.ok(res.ok, res.ok ? '' : res.error);
    assert.equal(res.sent, N);
    assert.ok(res.fullWaits >= 1, 'the other process waited in poll(POLLOUT) on the full ring');
    assert.equal(s.stats().rxPackets, N);
  } finally {
    s.close();
  }
  assert.ok(!existsSync(regionPath('pipe.pshm')));
});
