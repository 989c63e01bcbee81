// The forwarders (apps/common/port-forward.ts: `nmts bridge`, the attachments) between ports
// whose virtio-net header lengths differ, with VALE's own converter (vale/offload.ts) reading
// one region and writing another: two switches, a vnet=12 port on one, a vnet=0 port on the
// other, and a Direction between them. TSO super-frames arrive as Linux's GSO segments, partial
// checksums completed (across a chain), a header asking for nothing is added the other way,
// a malformed header is dropped and counted (badVnet), a packet waits while the destination
// ring has no room for all of its segments (back-pressure, nothing lost), and `bridge()` says
// what it converts. Needs no root.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from '../src/index.js';
import { VNET_F_NEEDS_CSUM, VNET_GSO_NONE } from '../src/packet/vnet-hdr.js';
import { Direction } from '../src/apps/common/port-forward.js';
import { bridge } from '../src/apps/bridge/bridge.js';
import { TCP_ACK, TCP_PSH, checksumsValid, linuxSegments, payloadOf, superFrame } from './fixtures/gso-frames.js';
import { drain } from './fixtures/vale-helpers.js';
import { packets, sendChain, tsoHdr, withHdr } from './fixtures/vnet-chain.js';

const ID = process.pid;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('forwarders between header lengths: VALE\'s conversion across two regions', () => {
  const S1 = `valebv${ID}a`, S2 = `valebv${ID}b`;

  test('vnet=12 -> vnet=0: TSO cut as Linux does, partial checksums completed; 0 -> 12: a zeroed header', () => {
    const src = open(`${S1}:vm@conf:vnet=12`), b = open(`${S1}:b@conf:vnet=12`);
    const c = open(`${S2}:c`), d = open(`${S2}:d`);
    try {
      assert.notEqual(b.region, c.region, 'two regions');
      const tso = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(40000, 1), flags: TCP_ACK | TCP_PSH, ipId: 9, df: true, partial: true, tcpOptions: 12 });
      sendChain(src, tsoHdr(12, tso, 1448));
      // a 5000-byte frame with a partial checksum only: a 3-slot chain whose checksum is completed
      const part = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(5000 - 66, 2), flags: TCP_ACK, partial: true, tcpOptions: 12 });
      sendChain(src, withHdr(12, part.frame, VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, 0, part.layout.l4, 16));
      b.rxsync();
      const bc = new Direction(b, c, true);
      assert.equal(bc.zerocopy, false);
      assert.equal(bc.run(1024), 2, 'two packets taken');
      c.txsync();
      const got = packets(drain(d)).map(([b]) => b);
      const want = linuxSegments(tso.frame, tso.layout, 4, 'tcp', 1448);
      assert.equal(got.length, want.length + 1);
      for (let i = 0; i < want.length; i++) assert.equal(hex(got[i]!), hex(want[i]!), `segment ${i}`);
      const last = got[want.length]!;
      assert.equal(last.length, part.frame.length);
      assert.ok(checksumsValid(last, part.layout, 4, 'tcp'), 'the partial checksum completed');
      assert.deepEqual([bc.converted, bc.drops, bc.badVnet], [want.length + 1, 0, 0]);

      // 0 -> 12: d sends a plain frame on S2 to c (learned above? no: flooded), c -> b
      const plain = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(3000, 3), flags: TCP_ACK }).frame;
      sendChain(d, plain);
      c.rxsync();
      const cb = new Direction(c, b, false);
      assert.equal(cb.run(1024), 1);
      b.txsync();
      const back = packets(drain(src)).map(([b]) => b);
      assert.equal(back.length, 1);
      assert.deepEqual([...back[0]!.subarray(0, 12)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], 'a header asking for nothing, num_buffers 1');
      assert.equal(hex(back[0]!.subarray(12)), hex(plain));
    } finally {
      src.close(); b.close(); c.close(); d.close();
    }
  });

  test('a malformed header is dropped and counted; a packet waits for room in the destination ring', () => {
    const src = open(`${S1}:vm2@conf:vnet=12`), b = open(`${S1}:b2@conf:vnet=12`);
    const c = open(`${S2}:c2`, { txSlots: 64 }), d = open(`${S2}:d2`);
    try {
      const tso = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(60000, 4), flags: TCP_ACK, partial: true });
      const good = tsoHdr(12, tso, 1460);
      const bad = tsoHdr(12, tso, 0); // gso_size 0
      sendChain(src, bad);
      sendChain(src, good);
      sendChain(src, good);
      b.rxsync();
      const bc = new Direction(b, c, false);
      const segs = Math.ceil(60000 / 1460); // 42: one super-frame fits a 64-slot ring, two do not
      assert.equal(bc.run(1024), 2, 'the bad one (dropped) and the first good one');
      assert.deepEqual([bc.drops, bc.badVnet, bc.converted], [1, 1, segs]);
      assert.ok(!b.rxRings[0]!.empty(), 'the second super-frame waits in the source ring');
      c.txsync();
      assert.equal(packets(drain(d)).length, segs);
      assert.equal(bc.run(1024), 1, 'then goes');
      c.txsync();
      assert.equal(packets(drain(d)).length, segs);
      assert.equal(c.stats().txDrops, 0);
    } finally {
      src.close(); b.close(); c.close(); d.close();
    }
  });

  test('bridge() says it converts and counts what it converted', async () => {
    const src = open(`${S1}:vm3@conf:vnet=12`), d = open(`${S2}:d3`);
    const lines: string[] = [];
    try {
      const tso = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(20000, 5), flags: TCP_ACK, partial: true });
      const run = bridge({ a: `${S1}:b3@conf:vnet=12`, b: `${S2}:c3`, maxPackets: 1 }, (l) => lines.push(l));
      await new Promise((r) => setTimeout(r, 100));
      sendChain(src, tsoHdr(12, tso, 1448));
      const r = await run;
      assert.match(lines.join('\n'), /^virtio-net headers: valebv\d+a:b3@conf:vnet=12 12 bytes, valebv\d+b:c3 0: converted \(valebv\d+a:b3@conf:vnet=12.s super-frames cut into segments/m);
      assert.match(lines.join('\n'), /zerocopy NOT supported/);
      assert.deepEqual([r.aToB, r.converted, r.drops], [1, Math.ceil(20000 / 1448), 0]);
      assert.equal(packets(drain(d)).length, Math.ceil(20000 / 1448));
    } finally {
      src.close(); d.close();
    }
  });
});
