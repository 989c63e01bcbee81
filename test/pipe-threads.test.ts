// A pipe between two threads: a worker (test/fixtures/pipe-sender) sends numbered frames,
// the main thread receives them sleeping in poll(). Timeouts are upper bounds against
// hangs, never timing assertions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { open, POLLIN } from '../src/index.js';
import type { SenderJob, SenderResult } from './fixtures/pipe-sender.js';

const BOUND_MS = 10000;

function startSender(job: SenderJob): { worker: Worker; result: Promise<SenderResult> } {
  const worker = new Worker(new URL('./fixtures/pipe-sender.js', import.meta.url), { workerData: job });
  const result = new Promise<SenderResult>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`sender exited (code ${code}) without reporting`)));
  });
  return { worker, result };
}

test('a worker sends N frames through a full 64-slot pipe: all arrive, in order, no gap', async () => {
  const N = 20000;
  const s = open('thr}1@conf:slots=64'); // creates the pipe before the worker opens the master end
  const { worker, result } = startSender({ name: 'thr{1', count: N, timeoutMs: BOUND_MS });
  try {
    const r = s.rxRings[0];
    // hold everything until the ring is full (cur = tail: wake me when more arrives), so the
    // sender must sleep in poll(POLLOUT) at least once
    while (r.space() < 63) {
      assert.ok(s.poll(POLLIN, BOUND_MS) & POLLIN, `poll(POLLIN) timed out with ${r.space()} frames held`);
      r.cur = r.tail;
    }
    assert.equal(r.head, 0, 'nothing released yet');
    let expect = 0;
    while (expect < N) {
      if (r.head === r.tail) {
        assert.ok(s.poll(POLLIN, BOUND_MS) & POLLIN, `poll(POLLIN) timed out waiting for seq ${expect}`);
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
    const res = await result;
    assert.ok(res.ok, res.ok ? '' : res.error);
    assert.equal(res.sent, N);
    assert.ok(res.fullWaits >= 1, 'the sender waited in poll(POLLOUT) on the full ring');
    assert.equal(s.stats().rxPackets, N);
    assert.equal(s.stats().rxBytes, N * 64);
  } finally {
    s.close();
    await worker.terminate();
  }
});

test('a receiver sleeping in poll() wakes up when the worker sends', async () => {
  const s = open('wake}1@conf:slots=16');
  // the worker waits until this thread sleeps in poll() on `s`, then sends one frame
  const { worker, result } = startSender({ name: 'wake{1', count: 1, waitForSleeper: s.rec, timeoutMs: BOUND_MS });
  try {
    const ev = s.poll(POLLIN, BOUND_MS);
    assert.equal(ev, POLLIN, 'woken by the send, not by the timeout');
    const r = s.rxRings[0];
    assert.equal(r.space(), 1);
    assert.equal(r.u32[r.buf(r.head) >> 2], 0);
    const res = await result;
    assert.ok(res.ok, res.ok ? '' : res.error);
    assert.equal(res.sent, 1);
  } finally {
    s.close();
    await worker.terminate();
  }
});

test('pollAsync receives from a worker without blocking the event loop', async () => {
  const N = 3000;
  const s = open('async}1@conf:slots=32');
  const { worker, result } = startSender({ name: 'async{1', count: N, timeoutMs: BOUND_MS });
  try {
    const r = s.rxRings[0];
    let expect = 0;
    while (expect < N) {
      assert.ok((await s.pollAsync(POLLIN, BOUND_MS)) & POLLIN, `pollAsync timed out waiting for seq ${expect}`);
      for (let h: number = r.head; h !== r.tail; h = r.next(h)) {
        const seq: number = r.u32[r.buf(h) >> 2];
        if (seq !== expect) assert.fail(`expected seq ${expect}, got ${seq}`);
        expect++;
      }
      r.advance(r.tail);
    }
    s.rxsync();
    assert.equal(r.empty(), true);
    const res = await result;
    assert.ok(res.ok, res.ok ? '' : res.error);
    assert.equal(res.sent, N);
  } finally {
    s.close();
    await worker.terminate();
  }
});

test('a worker started right after the import, before any open(), shares the region', async () => {
  const script = fileURLToPath(new URL('./fixtures/region-inherit.js', import.meta.url));
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [script, '--child'], { timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
  assert.equal(code, 0, `child failed: ${stdout}${stderr}`);
  const out = JSON.parse(stdout.trim()) as { received: number; inOrder: boolean; worker: SenderResult };
  assert.equal(out.received, 200);
  assert.equal(out.inOrder, true);
  assert.equal(out.worker.ok, true);
});
