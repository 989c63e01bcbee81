// pollPorts(): netmap's poll() over several ports. A thread sleeping on two ports wakes up
// when a worker sends to either, and reports which one is ready.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { open, pollPorts, POLLIN, POLLOUT } from '../src/index.js';
import type { SenderJob, SenderResult } from './fixtures/pipe-sender.js';

function send(job: SenderJob): Promise<SenderResult> {
  const w = new Worker(new URL('./fixtures/pipe-sender.js', import.meta.url), { workerData: job });
  return new Promise((resolve, reject) => {
    w.once('message', (m: SenderResult) => resolve(m));
    w.once('error', reject);
  });
}

test('pollPorts wakes on the port that received, and only reports that one', async () => {
  const a = open('pp1}1'), b = open('pp2}1');
  const rev = new Int32Array(2);
  assert.equal(pollPorts([a, b], [POLLIN, POLLIN], rev, 0), 0, 'nothing to read yet');
  const sender = send({ name: 'pp2{1', count: 3 });
  // block (up to 10 s) until the worker's frames arrive on b
  let n = 0;
  for (let tries = 0; n === 0 && tries < 200; tries++) n = pollPorts([a, b], [POLLIN, POLLIN], rev, 50);
  assert.equal(n, 1);
  assert.equal(rev[0], 0);
  assert.equal(rev[1], POLLIN);
  assert.equal(b.rxRings[0].space(), 3);
  assert.deepEqual(await sender, { ok: true, sent: 3, fullWaits: 0 });
  a.close();
  b.close();
});

test('pollPorts reports POLLOUT per port and times out without events', () => {
  const m = open('pp3{1'), s = open('pp3}1');
  const rev = new Int32Array(2);
  assert.equal(pollPorts([m, s], [POLLOUT, POLLIN], rev, 0), 1);
  assert.deepEqual([...rev], [POLLOUT, 0]);
  const t0 = Date.now();
  assert.equal(pollPorts([s], [POLLIN], rev, 30), 0);
  assert.ok(Date.now() - t0 >= 25, 'waited for the timeout');
  const other = open('pp4}1');
  assert.throws(() => pollPorts([m], [POLLIN, POLLIN], rev, 0), /events/);
  other.close();
  m.close();
  s.close();
});
