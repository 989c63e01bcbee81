// sleepOnMany (core/wait.ts) on a switch's file: one sleep on several ports' words through
// futex_waitv(2), woken by any of them and by nothing else, the waiters counts raised while it
// sleeps, and a word changed after the check ends the sleep at once (no lost wake-up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { open } from '../src/index.js';
import { PR } from '../src/core/layout.js';
import { portWord, sleepOnMany } from '../src/core/wait.js';

const WAKER = fileURLToPath(new URL('./fixtures/wait-many-waker.js', import.meta.url));
const sw = `valewm${process.pid % 100000}`;

function ports() {
  const a = open(`${sw}:a`), b = open(`${sw}:b`), c = open(`${sw}:c`);
  const region = a.region;
  const words = Int32Array.from([portWord(a.rec), portWord(b.rec)]);
  return { a, b, c, region, words, seqs: new Int32Array(2), close: () => { c.close(); b.close(); a.close(); } };
}

/** Sleep on a's and b's words for at most ms while a worker wakes `word` after delayMs: the ms slept. */
async function sleepWhileWoken(p: ReturnType<typeof ports>, word: number, delayMs: number, ms: number): Promise<number> {
  // it wakes only once this thread has announced itself on a's word: by construction, not by timing
  const w = new Worker(WAKER, { workerData: { name: `${sw}:c`, word, delayMs, announced: p.words[0] + 1 } });
  await new Promise((r) => w.once('online', r));
  const t0 = performance.now();
  sleepOnMany(p.region, p.words, p.seqs, 2, { beforeSleep: () => ms });
  const slept = performance.now() - t0;
  await new Promise((r) => w.once('exit', r));
  return slept;
}

test('sleepOnMany: the waiters counts are raised during the check and restored; a timeout is kept', { skip: process.platform !== 'linux' && 'Linux only' }, () => {
  const p = ports();
  try {
    assert.ok(p.region.canWaitMany, 'a switch file, and futex_waitv in this kernel (5.16+)');
    const waiters = (rec: number): number => Atomics.load(p.region.i32, (rec + PR.waiters) >> 2);
    let during: number[] = [];
    const t0 = performance.now();
    sleepOnMany(p.region, p.words, p.seqs, 2, { beforeSleep: () => { during = [waiters(p.a.rec), waiters(p.b.rec), waiters(p.c.rec)]; return 60; } });
    assert.ok(performance.now() - t0 >= 50, 'slept until the timeout');
    assert.deepEqual(during, [1, 1, 0], 'announced on a and b only');
    assert.deepEqual([waiters(p.a.rec), waiters(p.b.rec)], [0, 0], 'and withdrawn');
  } finally {
    p.close();
  }
});

test('sleepOnMany: a word changed after the check (a producer publishing meanwhile) ends the sleep at once', () => {
  const p = ports();
  try {
    const t0 = performance.now();
    sleepOnMany(p.region, p.words, p.seqs, 2, { beforeSleep: () => { Atomics.add(p.region.i32, p.words[1], 1); return 10_000; } });
    assert.ok(performance.now() - t0 < 5000, 'did not sleep out the 10 s');
  } finally {
    p.close();
  }
});

test('sleepOnMany: woken by either port\'s word from another thread, not by a third port\'s', async () => {
  const p = ports();
  try {
    for (const rec of [p.a.rec, p.b.rec]) {
      const slept = await sleepWhileWoken(p, portWord(rec), 100, 20_000);
      assert.ok(slept < 10_000, `woken (${slept.toFixed(0)} ms) by the word of port ${rec === p.a.rec ? 'a' : 'b'}`);
    }
    const slept = await sleepWhileWoken(p, portWord(p.c.rec), 50, 400);
    assert.ok(slept >= 390, `port c's wake-up is not ours: slept the whole 400 ms (${slept.toFixed(0)})`);
  } finally {
    p.close();
  }
});
