// The VXLAN port's receive-side TCP merging (src/ports/vxlan/tcp-merge.ts): segments as Linux's
// GSO cuts them (fixtures/gso-frames.ts, an independent model) are placed in ring slots as the
// port receives them; the merged chain, cut again by the project's segmenter (packet/gso.ts),
// gives back the very same segments byte for byte. A segment with a bad checksum, or out of
// sequence, ends a run and is left as it came.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NS_MOREFRAG } from '../src/core/constants.js';
import { createPrivateRegion } from '../src/core/private-region.js';
import type { Region } from '../src/core/region.js';
import { Segmenter } from '../src/packet/gso.js';
import {
  VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_OK, vnetClear, vnetCsumOffset, vnetCsumStart, vnetFlags, vnetGsoSize, vnetGsoType, vnetHdrLen,
} from '../src/packet/vnet-hdr.js';
import { TcpMerge } from '../src/ports/vxlan/tcp-merge.js';
import { TCP_ACK, TCP_PSH, linuxSegments, payloadOf, superFrame, type SuperFrame } from './fixtures/gso-frames.js';

const HL = 10;
const MSS = 1000;

/** A region whose buffer 2 holds fake ring slot words for `n` slots (buffers 3...): the u32 index of slot 0. */
function ring(n: number): { r: Region; s: number; release: () => void } {
  const mem = createPrivateRegion(n + 8, 0, 'tcp-merge test');
  const r = mem.region, s = r.bufOffset(2) >> 2;
  for (let k = 0; k < n; k++) r.u32[s + (k << 2)] = 3 + k;
  return { r, s, release: () => mem.release() };
}

/** Put frame `f` in slot k as the port does (behind a cleared header); its frame offset. */
function place(r: Region, s: number, k: number, f: Uint8Array): number {
  const bo = r.bufOffset(r.u32[s + (k << 2)]);
  vnetClear(r.u8, bo, HL);
  r.u8.set(f, bo + HL);
  r.u32[s + (k << 2) + 1] = HL + f.length;
  return bo + HL;
}

/** What the port does per received frame. */
function receive(m: TcpMerge, s: number, k: number, f: number, len: number): void {
  if (!m.offer(k, f, len)) {
    m.flush(s);
    assert.equal(m.offer(k, f, len), true, 'after a flush a frame is always taken (alone or as a run\'s first)');
  }
}

const slotLen = (r: Region, s: number, k: number): number => r.u32[s + (k << 2) + 1] & 0xffff;
const slotFlags = (r: Region, s: number, k: number): number => r.u32[s + (k << 2) + 1] >>> 16;
const bytesAt = (r: Region, off: number, len: number): number[] => [...r.u8.subarray(off, off + len)];

/** Linux's GSO segments of one IPv4 super-frame: by default 4500 TCP bytes (five segments), sequence numbers wrapping. */
function segments(f: SuperFrame = { family: 4, proto: 'tcp', payload: payloadOf(4500, 7), tcpOptions: 12, flags: TCP_ACK | TCP_PSH, df: true, ipId: 0x1234, seq: 0xfffff000 }): Uint8Array[] {
  const { frame, layout } = superFrame(f);
  return linuxSegments(frame, layout, f.family, f.proto, MSS);
}

/** Frames into slots 0.. of an 8-slot ring, each offered to a merger as the port does, then a flush; `check` reads the result. */
function mergeRun(frames: Uint8Array[], check: (m: TcpMerge, r: Region, s: number, offs: number[]) => void): void {
  const { r, s, release } = ring(8);
  try {
    const m = new TcpMerge(r, HL);
    const offs = frames.map((f, k) => place(r, s, k, f));
    frames.forEach((f, k) => receive(m, s, k, offs[k], f.length));
    m.flush(s);
    check(m, r, s, offs);
  } finally {
    release();
  }
}

// the same five segments over IPv4 and over IPv6: the IP length field of the whole (IPv4 total
// length at frame byte 16, IPv6 payload length at 18), the GSO type and checksum start differ
const FAMILIES = [
  { family: 4 as const, iph: 20, gso: VNET_GSO_TCPV4, lenAt: 16, lenLabel: 'the IPv4 total length of the whole', seq: 0xfffff000 },
  { family: 6 as const, iph: 40, gso: VNET_GSO_TCPV6, lenAt: 18, lenLabel: 'the IPv6 payload length of the whole', seq: 0xffffff00 },
];
for (const v of FAMILIES) {
  test(`IPv${v.family}: five segments become one chain (GSO TCPv${v.family}); cut again they are the same segments`, () => {
    const segs = segments({ family: v.family, proto: 'tcp', payload: payloadOf(4500, 7 + v.family), tcpOptions: 12, flags: TCP_ACK | TCP_PSH, df: true, ipId: 0x1234, seq: v.seq });
    assert.equal(segs.length, 5);
    mergeRun(segs, (m, r, s, offs) => {
      assert.equal(m.merged, 1);
      const hlen = 14 + v.iph + 32;
      assert.deepEqual([m.lessFrames, m.lessBytes], [4, 4 * hlen]);
      // the chain: header + first segment, then payloads at the buffers' starts
      assert.deepEqual([slotLen(r, s, 0), slotFlags(r, s, 0)], [HL + segs[0].length, NS_MOREFRAG]);
      for (let k = 1; k < 4; k++) assert.deepEqual([slotLen(r, s, k), slotFlags(r, s, k)], [MSS, NS_MOREFRAG]);
      assert.deepEqual([slotLen(r, s, 4), slotFlags(r, s, 4)], [500, 0]);
      const h = offs[0] - HL, u8 = r.u8;
      assert.deepEqual([vnetFlags(u8, h), vnetGsoType(u8, h), vnetHdrLen(u8, h), vnetGsoSize(u8, h), vnetCsumStart(u8, h), vnetCsumOffset(u8, h)],
        [VNET_F_NEEDS_CSUM, v.gso, hlen, MSS, 14 + v.iph, 16]);
      assert.equal((u8[offs[0] + v.lenAt] << 8) | u8[offs[0] + v.lenAt + 1], (v.family === 4 ? 20 : 0) + 32 + 4500, v.lenLabel);
      // cut again: byte for byte what Linux's GSO made
      const g = new Segmenter();
      g.fragOff[0] = offs[0]; g.fragLen[0] = segs[0].length;
      for (let k = 1; k < 5; k++) { g.fragOff[k] = offs[k] - HL; g.fragLen[k] = slotLen(r, s, k); }
      assert.equal(g.begin(u8, 5, v.gso, MSS), VNET_OK);
      assert.equal(g.count, 5);
      for (let i = 0; i < 5; i++) {
        const out = new Uint8Array(2048);
        const n = g.write(i, out, 0, out.length);
        assert.deepEqual([...out.subarray(0, n)], [...segs[i]], `segment ${i}`);
      }
    });
  });
}

test('IPv6: a flow label change or a hop-by-hop header ends a run; IPv4 and IPv6 segments never merge together', () => {
  const six = (): Uint8Array[] => segments({ family: 6, proto: 'tcp', payload: payloadOf(3000, 5), flags: TCP_ACK });
  const a = six();
  a[2][15] ^= 0x01; // flow label (its low bits are in byte 1 of the IPv6 header, with the class)
  mergeRun(a, (m, r, s) => {
    assert.equal(m.merged, 1, 'segments 0-1 merge; 2 starts a run of its own');
    assert.deepEqual([slotFlags(r, s, 1), slotFlags(r, s, 2), slotLen(r, s, 2)], [0, 0, HL + a[2].length]);
  });
  const hbh = segments({ family: 6, proto: 'tcp', payload: payloadOf(3000, 5), flags: TCP_ACK, hopByHop: true });
  mergeRun(hbh, (m, r, s) => {
    assert.equal(m.merged, 0, 'an extension header: left as it came');
    hbh.forEach((f, k) => assert.deepEqual([slotLen(r, s, k), slotFlags(r, s, k)], [HL + f.length, 0]));
  });
  const four = segments({ family: 4, proto: 'tcp', payload: payloadOf(3000, 5), flags: TCP_ACK, df: true });
  const mixed = [four[0], six()[1], four[1]];
  mergeRun(mixed, (m, r, s) => {
    assert.equal(m.merged, 0);
    mixed.forEach((f, k) => assert.deepEqual([slotLen(r, s, k), slotFlags(r, s, k)], [HL + f.length, 0]));
  });
});

test('a segment with a bad TCP checksum ends the run and is left as it came', () => {
  const segs = segments();
  segs[2][14 + 20 + 32 + 5] ^= 0x40; // a payload byte: the TCP checksum no longer holds
  mergeRun(segs, (m, r, s, offs) => {
    assert.equal(m.merged, 2, 'segments 0-1 and 3-4');
    assert.deepEqual([slotLen(r, s, 1), slotFlags(r, s, 1)], [MSS, 0], 'the first run ends before the bad one');
    assert.deepEqual([slotLen(r, s, 2), slotFlags(r, s, 2)], [HL + segs[2].length, 0]);
    assert.deepEqual(bytesAt(r, offs[2], segs[2].length), [...segs[2]], 'left untouched');
    assert.deepEqual([slotLen(r, s, 3), slotFlags(r, s, 3)], [HL + segs[3].length, NS_MOREFRAG]);
  });
});

test('segments out of sequence are not merged across the gap', () => {
  const segs = segments();
  const order = [segs[0], segs[2], segs[1], segs[3], segs[4]];
  mergeRun(order, (m, r, s, offs) => {
    // 0 | 2 | 1 | 3 4: segment 3 does not follow segment 1 either; only 3-4 merge
    assert.equal(m.merged, 1);
    for (let k = 0; k < 3; k++) {
      assert.deepEqual([slotLen(r, s, k), slotFlags(r, s, k)], [HL + order[k].length, 0]);
      assert.deepEqual(bytesAt(r, offs[k], order[k].length), [...order[k]]);
    }
    assert.deepEqual([slotFlags(r, s, 3), slotLen(r, s, 4), slotFlags(r, s, 4)], [NS_MOREFRAG, 500, 0]);
  });
});

test('ACKs and non-TCP frames are never merged', () => {
  const udp = segments({ family: 4, proto: 'udp', payload: payloadOf(3000, 3) });
  const ack = superFrame({ family: 4, proto: 'tcp', payload: new Uint8Array(0) }).frame;
  const all = [...udp, ack, ack];
  mergeRun(all, (m, r, s) => {
    assert.equal(m.merged, 0);
    all.forEach((f, k) => assert.deepEqual([slotLen(r, s, k), slotFlags(r, s, k)], [HL + f.length, 0]));
  });
});
