// hashBucket (packet/flow-hash.ts): a hash's bucket among n, in integer arithmetic, must be
// exactly the unsigned hash modulo n for every hash and every n.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashBucket, mix } from '../src/packet/flow-hash.js';

test('hashBucket(bits, n) = (bits as uint32) % n: powers of two, small, large and odd sizes, hashes above 2^31', () => {
  const sizes = [1, 2, 3, 4, 5, 7, 8, 12, 16, 31, 64, 100, 255, 1000, 4095, 32767, 32768, 40000, 65535, 65536, 1 << 20];
  const hashes = [0, 1, -1, 0x7fffffff, -0x80000000, 0x12345678, -0x12345678];
  for (let i = 0; i < 5000; i++) hashes.push(mix(i)); // about half negative as int32
  for (const n of sizes) {
    for (const h of hashes) assert.equal(hashBucket(h, n), (h >>> 0) % n, `hash ${h >>> 0} among ${n}`);
  }
  assert.ok(hashes.filter((h) => h < 0).length > 2000, 'hashes above 2^31 as uint32 are covered');
});
