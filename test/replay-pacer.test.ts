// replay's due times (src/apps/replay/pacer.ts): each speed option's schedule, absolute from
// its anchor, and when the anchor moves (files and passes for capture timing, loop delays for
// pps and mbps).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../src/apps/replay/pacer.js';

test('pacer: capture timing divides by the multiplier and restarts at each file and pass', () => {
  const p = new Pacer({ speed: 'multiplier', rate: 2, ppsMulti: 1 }, 1000);
  assert.equal(p.due(0), 1000);
  assert.equal(p.due(500), 1250);
  p.fileStart(3000);
  assert.equal(p.due(100), 3050);
  p.passStart(5000, false);
  assert.equal(p.due(100), 5050, 'every pass starts over in capture timing');
  const t = new Pacer({ speed: 'timing', rate: 0, ppsMulti: 1 }, 0);
  assert.equal(t.due(-5), 0, 'a timestamp before the first packet is due at once');
  assert.equal(t.due(40), 40);
});

test('pacer: pps sends groups of --pps-multi packets, mbps spaces by bytes, both keep their anchor across passes', () => {
  const p = new Pacer({ speed: 'pps', rate: 1000, ppsMulti: 2 }, 100); // 1 ms per packet, pairs
  const dues: number[] = [];
  for (let i = 0; i < 5; i++) { dues.push(p.due(0)); p.scheduled(60); }
  assert.deepEqual(dues, [100, 100, 102, 102, 104]);
  p.fileStart(900);
  p.passStart(900, false);
  assert.equal(p.due(0), 104, 'no loop delay: the schedule goes on');
  p.passStart(900, true);
  assert.equal(p.due(0), 900, 'after a loop delay it starts again from then');

  const m = new Pacer({ speed: 'mbps', rate: 8, ppsMulti: 1 }, 0); // 8 Mbit/s = 1000 bytes per ms
  assert.equal(m.due(0), 0);
  m.scheduled(1500);
  assert.equal(m.due(0), 1.5);
  m.scheduled(500);
  assert.equal(m.due(0), 2);
});

test('pacer: topspeed is always due', () => {
  const p = new Pacer({ speed: 'topspeed', rate: 0, ppsMulti: 1 }, 12345);
  p.scheduled(1500);
  assert.equal(p.due(99), 0);
});
