// pkt-gen's warm-up (apps/pkt-gen/warm-up.ts): a thread runs its own loop on a private switch
// before the go. It must move real frames (or it warms nothing), leave nothing in the shared
// directory, keep the user's port untouched, and give its memory back when disposed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from '../src/index.js';
import type { LoopConfig } from '../src/apps/pkt-gen/loops.js';
import { warmDataPath } from '../src/apps/pkt-gen/warm-up.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';

const spec = { family: 4 as const, srcMac: '02:00:00:00:00:01', dstMac: 'ff:ff:ff:ff:ff:ff', src: '10.0.0.1:1234', dst: '10.1.0.1:1234', frameLen: 60 };

function config(fn: LoopConfig['fn'], vhdr = 0): () => LoopConfig {
  return () => {
    const template = new UdpFrameTemplate(spec);
    const frame = new Uint8Array(60);
    template.write(frame, 0);
    return {
      fn, count: 0, burst: 512, rate: 0, frame, frameLen: 60, frameLenMin: 60, template,
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
        assert.equal(w.moved % 1000, 0, `${fn}: whole rounds of frames, each received (${w.moved})`);
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
