// pollPorts(): netmap's poll() over several ports. A thread sleeping on two ports wakes up
// when a worker sends to either, and reports which one is ready; the ports may be in one
// region (pipes of one parent) or in several (different parents or switches).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { open, pollPorts, POLLIN, POLLOUT, type Port } from '../src/index.js';
import type { SenderJob, SenderResult } from './fixtures/pipe-sender.js';

function send(job: SenderJob): Promise<SenderResult> {
  const w = new Worker(new URL('./fixtures/pipe-sender.js', import.meta.url), { workerData: job });
  return new Promise((resolve, reject) => {
    w.once('message', (m: SenderResult) => resolve(m));
    w.once('error', reject);
  });
}

/**
 * Sleep in pollPorts on `a` and `b` (one call, bounded by 10 s) while a worker sends 3 frames
 * into `sendTo`, the peer of b: the poll must return early, woken up, and report b only.
 */
async function wakesOnB(a: Port, b: Port, sendTo: string, waitForPoller: boolean): Promise<void> {
  const rev = new Int32Array(2);
  assert.equal(pollPorts([a, b], [POLLIN, POLLIN], rev, 0), 0, 'nothing to read yet');
  const sender = send({ name: sendTo, count: 3, waitForPoller });
  const n = pollPorts([a, b], [POLLIN, POLLIN], rev, 10000);
  assert.equal(n, 1, 'woken by the frames, not by the timeout');
  assert.equal(rev[0], 0);
  assert.equal(rev[1], POLLIN);
  assert.equal(b.rxRings[0].space(), 3);
  assert.equal(a.rxRings[0].space(), 0);
  assert.deepEqual(await sender, { ok: true, sent: 3, fullWaits: 0 });
}

test('pollPorts wakes on the port that received, and only reports that one (pipes of one parent: one region)', async () => {
  // Pipes 1 and 2 of parent pp1 share its region, and the poll sleeps on that region's
  // wake-up word: the worker sends only once this thread sleeps there, so the poll returns
  // because the send woke it up.
  const a = open('pp1}1'), b = open('pp1}2');
  try {
    assert.equal(a.region, b.region);
    await wakesOnB(a, b, 'pp1{2', true);
  } finally {
    a.close();
    b.close();
  }
});

test('pollPorts wakes on the port that received, and only reports that one (pipes of two parents: two regions)', async () => {
  // two parents, two regions: the poll cannot sleep on both at once and checks them in turn
  const a = open('pp2}1'), b = open('pp5}1');
  try {
    assert.notEqual(a.region, b.region);
    assert.notEqual(a.region.path, b.region.path);
    await wakesOnB(a, b, 'pp5{1', false);
  } finally {
    a.close();
    b.close();
  }
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

test('pollPorts with one port asked sleeps on that port\'s own word: the region\'s other ports do not wake it', async () => {
  // a distribution's I/O thread waiting for room in one pipe while a generator floods another
  // port of the region: the sender below waits until the poller sleeps on b's port record (not
  // on the region's word, which every publish in the region wakes) before it sends
  const a = open('pp6}1'), b = open('pp6}2');
  const other = open('pp6{1');
  try {
    assert.equal(a.region, b.region);
    const rev = new Int32Array(2).fill(-1);
    const sender = send({ name: 'pp6{2', count: 2, waitForSleeper: b.rec });
    const n = pollPorts([a, b], [0, POLLIN], rev, 10000);
    assert.equal(n, 1, 'woken by the frames, not by the timeout');
    assert.deepEqual([...rev], [0, POLLIN]);
    assert.equal(b.rxRings[0].space(), 2);
    assert.deepEqual(await sender, { ok: true, sent: 2, fullWaits: 0 });
    // a frame for the port nobody asked about is not reported, and the poll times out
    other.inject(new Uint8Array(60));
    other.txsync();
    b.rxRings[0].advance(b.rxRings[0].tail);
    assert.equal(pollPorts([a, b], [0, POLLIN], rev, 20), 0);
    assert.equal(a.rxRings[0].space(), 0, 'a was not synced for an event nobody asked');
  } finally {
    other.close();
    a.close();
    b.close();
  }
});

test('a long spin (NMTS_SPIN_US, spinUs) never keeps poll() or pollPorts() past their timeout', () => {
  // 60 s of spin asked: before, poll(POLLIN, 100) counted checks for the whole spin first
  const name = `pspin${process.pid}`;
  const m = open(`${name}{1`, { spinUs: 60_000_000 }), s = open(`${name}}1`, { spinUs: 60_000_000 });
  try {
    let t = performance.now();
    assert.equal(m.poll(POLLIN, 100), 0, 'nothing to read: a timeout');
    const one = performance.now() - t;
    t = performance.now();
    const rev = new Int32Array(2);
    assert.equal(pollPorts([m, s], [POLLIN, POLLIN], rev, 100), 0);
    const two = performance.now() - t;
    // 100 ms asked; the bound is generous for a loaded machine, far below the 60 s of spin
    assert.ok(one >= 99 && one < 5000, `poll took ${one.toFixed(0)} ms`);
    assert.ok(two >= 99 && two < 5000, `pollPorts took ${two.toFixed(0)} ms`);
  } finally {
    s.close();
    m.close();
  }
});
