// pkt-gen's warm-up (apps/pkt-gen/warm-up.ts): a thread runs its own loop on a private switch
// before the go. It must move real frames (or it warms nothing), leave nothing in the shared
// directory, keep the user's port untouched, and give its memory back when disposed. And what
// it compiles must still be the code that runs once the traffic starts (the last test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from '../src/index.js';
import type { LoopConfig } from '../src/apps/pkt-gen/loops.js';
import { DEFAULT_ON_FULL } from '../src/apps/pkt-gen/options.js';
import { warmDataPath } from '../src/apps/pkt-gen/warm-up.js';
import { fileURLToPath } from 'node:url';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';

const spec = { family: 4 as const, srcMac: '02:00:00:00:00:01', dstMac: 'ff:ff:ff:ff:ff:ff', src: '10.0.0.1:1234', dst: '10.1.0.1:1234', frameLen: 60 };

function config(fn: LoopConfig['fn'], vhdr = 0): () => LoopConfig {
  return () => {
    const template = new UdpFrameTemplate(spec);
    const frame = new Uint8Array(60);
    template.write(frame, 0);
    return {
      fn, count: 0, burst: 512, rate: 0, onFull: DEFAULT_ON_FULL, frame, frameLen: 60, frameLenMin: 60, template,
      randomSrc: false, randomDst: false, frags: 1, fragSize: 0, vhdr, rubbish: false, dump: false,
      exitOnIdle: false, family: 4, reportMs: 1000,
    };
  };
}

test('a sender\'s and a receiver\'s warm-up move frames through a switch of their own, outside the shm directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-warm-'));
  const saved = process.env.NMTS_SHM_DIR;
  process.env.NMTS_SHM_DIR = dir;
  try {
    for (const fn of ['tx', 'txseq', 'rx', 'rxseq'] as const) {
      const w = warmDataPath(config(fn), 30);
      try {
        assert.ok(w.moved >= 1000, `${fn}: moved ${w.moved} frames`);
        // rounds alternate: 1000 frames, all received; then more than the receiving ring (1024
        // slots) holds, of which it takes 1023 and the switch drops the rest
        const pair = 1000 + 1023;
        assert.ok(w.moved % pair === 0 || w.moved % pair === 1000, `${fn}: whole rounds of frames, as received (${w.moved})`);
        assert.deepEqual(readdirSync(dir), [], `${fn}: nothing written to the shared directory`);
      } finally {
        w.dispose();
      }
    }
  } finally {
    if (saved === undefined) delete process.env.NMTS_SHM_DIR; else process.env.NMTS_SHM_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ports with a virtio-net header warm up with one; ping, pong and a zero budget do not warm', () => {
  for (const vhdr of [10, 12]) {
    const w = warmDataPath(config('tx', vhdr), 20);
    assert.ok(w.moved >= 1000, `vnet=${vhdr}: moved ${w.moved}`);
    w.dispose();
  }
  for (const fn of ['ping', 'pong'] as const) assert.equal(warmDataPath(config(fn), 20).moved, 0, fn);
  assert.equal(warmDataPath(config('tx'), 0).moved, 0, '0 ms: off');
});

test('the warm-up leaves a switch of the same name in the process untouched', () => {
  // the private switch is called valewarm; a user's own valewarm switch is another region
  const a = open('valewarm:a'), b = open('valewarm:b');
  try {
    const w = warmDataPath(config('tx'), 20);
    w.dispose();
    b.rxsync();
    assert.equal(b.rxRings[0].tail, b.rxRings[0].head, 'none of the warm-up\'s frames reached the user\'s switch');
    assert.equal(b.stats().rxPackets, 0);
    assert.equal(a.stats().txPackets, 0);
  } finally {
    b.close(); a.close();
  }
});

// What the warm-up compiles must still be the code that runs
// once the traffic starts (issue #9). Two ways it was not, both seen in V8's trace at the go:
// - the data loop's LoopIo was an object literal: the real run's literal, with other values
//   than the warm-up's, counted for V8 as overwriting constant fields and threw away txLoop,
//   rxLoop and what they inline, which were then recompiled while the frames flowed;
// - the warm-up never dropped a frame, so the first drop of the real run found the switch's
//   forwarding code compiled without its drop path, and fell back to unoptimized code at
//   every batch with a drop (route(): 500-700 deoptimizations in a 2 M-frame run).
// The child (fixtures/warm-deopt-child.ts) sends into a port that never drains, with V8's
// deoptimization trace turned on at the go. This holds by construction: V8's decisions depend
// on the feedback and the shapes the code saw, not on timing.
const CHILD = fileURLToPath(new URL('./fixtures/warm-deopt-child.js', import.meta.url));

test('pkt-gen tx: the warmed code runs the real run, drops included, without being thrown away', { timeout: 60_000 }, () => {
  const r = spawnSync(process.execPath, [CHILD, `valewd${process.pid}`], { encoding: 'utf8', env: { ...process.env, NMTS_PKTGEN_WARM_MS: '400' } });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  const m = /^RESULT (.*)$/m.exec(out);
  assert.ok(m, `no result line: ${out.slice(-500)}`);
  const res = JSON.parse(m[1]) as { traced: boolean; packets: number; dropped: number };
  assert.equal(res.traced, true, 'the go was seen');
  assert.equal(res.packets, 400_000);
  assert.ok(res.dropped > 300_000, `the receiving ring filled and the switch dropped: ${res.dropped}`);
  // the run itself: from the go up to its end (the port's close, or the warm-up memory's release)
  const all = out.split('\n');
  const end = all.findIndex((l) => l.includes('[generalizing]closed:') || l.includes('Invalidating protector cell ArrayBufferDetaching'));
  const lines = end >= 0 ? all.slice(0, end) : all;
  const thrownAway = lines.filter((l) => l.includes('marking dependent code') && /SharedFunctionInfo (txLoop|stopped)>/.test(l));
  const at = lines.findIndex((l) => l.includes('marking dependent code') && /SharedFunctionInfo (txLoop|stopped)>/.test(l));
  assert.deepEqual(thrownAway, [], `the data loop was not thrown away at the go; before it:\n${lines.slice(Math.max(0, at - 8), at).join('\n')}`);
  const routeDeopts = lines.filter((l) => l.includes('deoptimizing') && l.includes('<JSFunction route ')).length;
  assert.ok(routeDeopts <= 3, `the forwarding code fell back to unoptimized code ${routeDeopts} times`);
});
