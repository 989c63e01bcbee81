// The lb pairs of `--ref`: bench/js-floor-lb.ts (lb's loop in the plainest JavaScript) and C
// `ref lb` (bench/ref/ref.c) speak the C reference's protocol and move frames; the floor's hash
// is nmts lb's (rssFrameHashBits with the symmetric key) on every kind of frame the floor
// knows, so the three sides of the pairs spread the same frames over the same pipes.
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { frameHash, keyTables } from '../bench/js-floor-lb.js';
import { buildRef } from '../bench/ref.js';
import { rssFrameHashBits } from '../src/packet/toeplitz.js';

const FLOOR = fileURLToPath(new URL('../bench/js-floor-lb.js', import.meta.url));
interface Line { packets: number; seconds: number; cpuSeconds: number; drops: number }

function checkLine(stdout: string): Line {
  const out = JSON.parse(stdout.trim()) as Line;
  assert.ok(Number.isInteger(out.packets) && out.packets > 1000, `packets ${out.packets}`);
  assert.ok(out.seconds >= 0.3 && out.seconds < 5, `seconds ${out.seconds}`);
  assert.ok(out.cpuSeconds > 0, `cpuSeconds ${out.cpuSeconds}`);
  assert.ok(Number.isInteger(out.drops) && out.drops >= 0, `drops ${out.drops}`);
  return out;
}

/** A deterministic byte source (an LCG), so a failure names a frame that comes back. */
function bytes(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x >>> 24;
  };
}

describe('bench js-floor-lb', () => {
  for (const mode of ['lb', 'lbt']) {
    test(`${mode}: frames counted in the window, with CPU time and drops`, () => {
      const r = spawnSync(process.execPath, [FLOOR, mode, '60', '50', '300'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      checkLine(r.stdout);
    });
  }

  test('an unknown mode: exit 1 and the usage', () => {
    const r = spawnSync(process.execPath, [FLOOR, 'pipe4', '60', '10', '10'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /usage: js-floor-lb lb\|lbt/);
  });

  test("the floor's hash is nmts lb's on IPv4 TCP/UDP/SCTP/ICMP, fragments, non-IP and short frames", () => {
    const { hi, lo } = keyTables();
    const u8 = new Uint8Array(2048), next = bytes(7);
    const kinds = { ports: 0, frag: 0, noPorts: 0, nonIp: 0, short: 0 };
    for (let i = 0; i < 4000; i++) {
      for (let j = 0; j < 128; j++) u8[j] = next();
      let len = 60 + (next() & 63);
      const pick = i % 5;
      if (pick !== 3) { // IPv4
        u8[12] = 0x08; u8[13] = 0x00; u8[14] = 0x45 + (i & 1); // IHL 5 or 6
        u8[23] = [6, 17, 132, 1][i & 3]!;
        u8[20] = pick === 1 ? 0x20 : 0x40; u8[21] = pick === 1 ? next() : 0; // MF set, or DF only
      } else {
        u8[12] = 0x08; u8[13] = 0x06; // ARP: the MAC addresses
      }
      if (pick === 4 && i % 10 === 4) len = 20 + (next() % 14); // shorter than an IPv4 header
      const ours = rssFrameHashBits(u8, 0, len);
      assert.equal(frameHash(u8, 0, len, hi, lo), ours, `frame ${i} (len ${len}, kind ${pick}, proto ${u8[23]})`);
      if (len < 34) kinds.short++;
      else if (pick === 3) kinds.nonIp++;
      else if (pick === 1) kinds.frag++;
      else if (u8[23] === 1) kinds.noPorts++;
      else kinds.ports++;
    }
    for (const [k, n] of Object.entries(kinds)) assert.ok(n > 50, `${k}: ${n} frames`);
  });

  test('C ref lb moves frames (needs cc)', (t) => {
    const b = buildRef();
    if (!b.bin) return t.skip(b.note);
    try {
      const r = spawnSync(b.bin, ['lb', '60', '50', '300'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      checkLine(r.stdout);
    } finally {
      rmSync(b.dir!, { recursive: true, force: true });
    }
  });
});
