// core/spin.ts: the flow spin a poller may do before it sleeps. What holds by construction:
// no spin when it is off or when no stream flowed recently (an idle port costs nothing), a
// spin ends as soon as the check finds something, a spin is bounded by flowSpinUs, a bad
// NMTS_FLOW_SPIN_US or NMTS_SPIN_US is refused (an empty one is the default); and a port polled with the flow spin on still moves every
// frame of a pipe and still sleeps (times out) once the stream has stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SPIN_US, defaultFlowSpinUs, defaultSpinUs, FLOW_WINDOW_MS, FlowSpin, YIELD_EVERY } from '../src/core/spin.js';
import { open, POLLIN } from '../src/index.js';

class Counter {
  calls = 0;
  constructor(private readyAt: number) {}
  ready(): number {
    this.calls++;
    return this.calls >= this.readyAt ? 1 : 0;
  }
}

test('off (0 µs): never checks', () => {
  const f = new FlowSpin(0);
  f.sawReady();
  const c = new Counter(1);
  assert.equal(f.spin(c), 0);
  assert.equal(c.calls, 0);
});

test('no stream seen yet, or none within the window: no spin at all', async () => {
  const f = new FlowSpin(100_000);
  const c = new Counter(1);
  assert.equal(f.spin(c), 0, 'never saw anything ready');
  assert.equal(c.calls, 0);
  f.sawReady();
  await new Promise((r) => setTimeout(r, FLOW_WINDOW_MS + 20));
  assert.equal(f.spin(c), 0, 'the stream stopped longer ago than the window');
  assert.equal(c.calls, 0);
});

test('while a stream flows: returns what the check finds, as soon as it finds it', () => {
  const f = new FlowSpin(1_000_000);
  f.sawReady();
  const c = new Counter(3 * YIELD_EVERY + 5);
  // a round may be found contended (another thread had the CPU): then it sleeps instead
  const r = f.spin(c);
  if (r !== 0) {
    assert.equal(r, 1);
    assert.equal(c.calls, 3 * YIELD_EVERY + 5, 'stops at the first ready check');
  } else {
    assert.ok(c.calls >= YIELD_EVERY, 'a contended spin still did its first round');
  }
});

test('bounded by flowSpinUs when nothing comes', () => {
  const f = new FlowSpin(2000);
  f.sawReady();
  const c = new Counter(Infinity);
  const t = performance.now();
  assert.equal(f.spin(c), 0);
  // 2 ms of spin; a loaded machine may deschedule the thread, which ends the spin early
  assert.ok(performance.now() - t < 2 + 50, `spun ${performance.now() - t} ms`);
});

test('NMTS_SPIN_US: unset or empty is the default 50, a number is taken, garbage and a bad spinUs are refused', () => {
  const saved = process.env.NMTS_SPIN_US;
  const name = `spenv${process.pid}`;
  try {
    delete process.env.NMTS_SPIN_US;
    assert.equal(defaultSpinUs(), DEFAULT_SPIN_US);
    process.env.NMTS_SPIN_US = '';
    assert.equal(defaultSpinUs(), 50, 'empty: the default, not 0');
    const p = open(`${name}{1`);
    assert.equal(p.spinUs, 50);
    p.close();
    process.env.NMTS_SPIN_US = '0';
    assert.equal(defaultSpinUs(), 0);
    process.env.NMTS_SPIN_US = '1000000';
    assert.equal(defaultSpinUs(), 1_000_000);
    process.env.NMTS_SPIN_US = 'fast';
    assert.throws(() => defaultSpinUs(), /NMTS_SPIN_US=fast/);
    assert.throws(() => open(`${name}{1`), /NMTS_SPIN_US=fast/, 'an open says why');
    process.env.NMTS_SPIN_US = '-5';
    assert.throws(() => defaultSpinUs(), RangeError);
    delete process.env.NMTS_SPIN_US;
    assert.throws(() => open(`${name}{1`, { spinUs: -1 }), /spinUs -1/);
    assert.throws(() => open(`${name}{1`, { spinUs: Number.NaN }), /spinUs NaN/);
  } finally {
    if (saved === undefined) delete process.env.NMTS_SPIN_US;
    else process.env.NMTS_SPIN_US = saved;
  }
});

test('NMTS_FLOW_SPIN_US: default 0, a number is taken, garbage is refused', () => {
  const saved = process.env.NMTS_FLOW_SPIN_US;
  try {
    delete process.env.NMTS_FLOW_SPIN_US;
    assert.equal(defaultFlowSpinUs(), 0);
    process.env.NMTS_FLOW_SPIN_US = '750';
    assert.equal(defaultFlowSpinUs(), 750);
    process.env.NMTS_FLOW_SPIN_US = 'lots';
    assert.throws(() => defaultFlowSpinUs(), /NMTS_FLOW_SPIN_US=lots/);
    process.env.NMTS_FLOW_SPIN_US = '-1';
    assert.throws(() => defaultFlowSpinUs(), RangeError);
  } finally {
    if (saved === undefined) delete process.env.NMTS_FLOW_SPIN_US;
    else process.env.NMTS_FLOW_SPIN_US = saved;
  }
});

test('a port polled with the flow spin on gets every frame of a pipe, then times out idle', () => {
  const name = `spin${process.pid}`;
  const tx = open(`${name}{1`, { flowSpinUs: 1000 });
  const rx = open(`${name}}1`, { flowSpinUs: 1000 });
  try {
    let got = 0;
    for (let i = 0; i < 100; i++) {
      assert.ok(tx.inject(new Uint8Array(60)));
      tx.txsync();
      assert.equal(rx.poll(POLLIN, 1000), POLLIN);
      const r = rx.rxRings[0];
      got += r.space();
      r.advance(r.tail);
    }
    assert.equal(got, 100);
    const t = performance.now();
    assert.equal(rx.poll(POLLIN, 30), 0, 'nothing more: the poll times out');
    assert.ok(performance.now() - t >= 29);
  } finally {
    tx.close();
    rx.close();
  }
});
