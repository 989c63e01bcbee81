// The attachment forwarders' spin-before-sleep policy (apps/common/adaptive-spin.ts): an idle
// forwarder never spins, a flowing one spins for its window, the window doubles on a caught
// batch and halves (to a floor) on an expired spin, a late look (contended CPU) stops spinning
// for a while, and NMTS_ATTACH_SPIN_US sets or disables it.
// Time is given explicitly: no clock, no timing sensitivity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveSpin, attachSpinUs } from '../src/apps/common/adaptive-spin.js';

test('an idle forwarder sleeps at once; one that moved frames spins for its window, then sleeps', () => {
  const s = new AdaptiveSpin(50);
  assert.equal(s.windowMs, 0.05);
  assert.equal(s.idle(0), false, 'nothing moved since the last sleep: no spin');
  s.moved();
  assert.equal(s.idle(10), true, 'the spin starts');
  assert.equal(s.idle(10.03), true, 'within the window');
  assert.equal(s.idle(10.05), false, 'the window is over: sleep');
  assert.equal(s.expired, 1);
  assert.equal(s.windowMs, 0.025, 'an expired spin halves the window');
  assert.equal(s.idle(10.06), false, 'after the expiry, no spin until frames move again');
  s.slept();
  assert.equal(s.idle(11), false);
});

test('a caught batch doubles the window up to the maximum; expiries stop at a sixteenth', () => {
  const s = new AdaptiveSpin(64);
  for (let i = 0; i < 10; i++) {
    s.moved();
    assert.equal(s.idle(i), true);
    assert.equal(s.idle(i + 0.04), s.windowMs > 0.04, 'looks 40 µs apart: not contended');
    assert.equal(s.idle(i + 0.08), false);
  }
  assert.equal(s.expired, 10);
  assert.equal(s.windowMs, 0.004, 'floor: max/16');
  s.moved();
  assert.equal(s.idle(100), true);
  assert.equal(s.idle(100.003), true);
  s.moved(); // frames came: a caught spin
  assert.equal(s.caught, 1);
  assert.equal(s.windowMs, 0.008);
  for (let i = 0; i < 10; i++) { assert.equal(s.idle(200 + i), true); s.moved(); }
  assert.equal(s.windowMs, 0.064, 'ceiling: the maximum');
  assert.equal(s.caught, 11);
});

test('moved() without a spin in progress counts nothing; slept() ends a spin', () => {
  const s = new AdaptiveSpin(50);
  s.moved();
  s.moved();
  assert.equal(s.caught, 0);
  assert.equal(s.idle(1), true);
  s.slept();
  assert.equal(s.idle(1.01), false, 'a sleep ends the flow');
  assert.equal(s.expired, 0, 'not an expiry: the window stays');
  assert.equal(s.windowMs, 0.05);
});

test('a look that comes late (another thread had the CPU) ends the spin and stops spinning for a while', () => {
  const s = new AdaptiveSpin(1000);
  s.moved();
  assert.equal(s.idle(0), true);
  assert.equal(s.idle(0.03), true);
  assert.equal(s.idle(0.2), false, '170 µs since the previous look: contended');
  assert.equal(s.contended, 1);
  assert.equal(s.expired, 0);
  assert.equal(s.windowMs, 1, 'the window is not shrunk by contention');
  s.moved();
  assert.equal(s.idle(5), false, 'backing off');
  s.moved();
  assert.equal(s.idle(19), false, 'still backing off');
  s.moved();
  assert.equal(s.idle(20.3), true, 'after the back-off it spins again');
});

test('0, negative or non-finite maxima never spin; huge ones are capped at 10 ms', () => {
  for (const v of [0, -5, NaN, Infinity]) {
    const s = new AdaptiveSpin(v);
    s.moved();
    assert.equal(s.idle(0), false, String(v));
  }
  assert.equal(new AdaptiveSpin(1e9).maxMs, 10);
});

test('NMTS_ATTACH_SPIN_US: default 0 (off), a window in µs turns it on, garbage falls back to off', () => {
  assert.equal(attachSpinUs({}), 0);
  assert.equal(attachSpinUs({ NMTS_ATTACH_SPIN_US: '' }), 0);
  assert.equal(attachSpinUs({ NMTS_ATTACH_SPIN_US: '0' }), 0);
  assert.equal(attachSpinUs({ NMTS_ATTACH_SPIN_US: '50' }), 50);
  assert.equal(attachSpinUs({ NMTS_ATTACH_SPIN_US: '200' }), 200);
  assert.equal(attachSpinUs({ NMTS_ATTACH_SPIN_US: 'fast' }), 0);
  assert.equal(attachSpinUs({ NMTS_ATTACH_SPIN_US: '-1' }), 0);
  assert.equal(attachSpinUs({ NMTS_ATTACH_SPIN_US: '99999' }), 10_000);
});
