// The virtio-net header (src/packet/vnet-hdr.ts), checksum completion (csum-complete.ts) and
// software segmentation (gso.ts): segments are compared byte for byte with an independent model
// of Linux's GSO (fixtures/gso-frames.ts), every checksum is checked with that model's own
// ones'-complement sum, and fast-check varies sizes, pieces, flags and garbage.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter } from '../src/packet/pcap.js';
import { needs } from './fixtures/requires.js';
import {
  VNET_BAD_CSUM_OFFSET, VNET_BAD_CSUM_START, VNET_BAD_FLAGS, VNET_BAD_GSO_TYPE, VNET_BAD_SIZE, VNET_DST_TOO_SMALL,
  VNET_F_DATA_VALID, VNET_F_NEEDS_CSUM, VNET_GSO_ECN, VNET_GSO_NONE, VNET_GSO_SIZE_ZERO, VNET_GSO_TCPV4, VNET_GSO_TCPV6,
  VNET_GSO_UDP, VNET_GSO_UDP_L4, VNET_GSO_UNSUPPORTED, VNET_HDRS_SPLIT, VNET_HDR_LEN, VNET_HDR_LEN_MRG,
  VNET_HDR_LEN_PAST_FRAME, VNET_NOT_GSO_FRAME, VNET_OK, VNET_REASONS, VNET_TOO_MANY_SEGMENTS,
  vnetCheck, vnetClear, vnetCsumOffset, vnetCsumStart, vnetFlags, vnetGsoSize, vnetGsoType, vnetHdrLen,
  vnetNeedsWork, vnetNumBuffers, vnetWrite,
} from '../src/packet/vnet-hdr.js';
import { completeChecksum } from '../src/packet/csum-complete.js';
import { GSO_MAX_SEGS, Segmenter } from '../src/packet/gso.js';
import {
  TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, checksumsValid, linuxSegments, payloadOf, superFrame, sumsToFfff,
  udpDatagramValid, type SuperFrame,
} from './fixtures/gso-frames.js';

const typeOf = (f: { family: 4 | 6; proto: 'tcp' | 'udp' }): number =>
  f.proto === 'udp' ? VNET_GSO_UDP_L4 : f.family === 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6;

/** Segment `frame` (one piece, at offset 0 of its own array) into fresh arrays. */
function segmentAll(s: Segmenter, frame: Uint8Array, gsoType: number, mss: number): Uint8Array[] {
  s.fragOff[0] = 0;
  s.fragLen[0] = frame.length;
  assert.equal(VNET_REASONS[s.begin(frame, 1, gsoType, mss)], 'ok');
  const out: Uint8Array[] = [];
  for (let i = 0; i < s.count; i++) {
    const dst = new Uint8Array(s.segmentLength(i));
    assert.equal(s.write(i, dst, 0, dst.length), dst.length);
    out.push(dst);
  }
  return out;
}

describe('virtio-net header', () => {
  test('fields are written and read back, little-endian, in both sizes', () => {
    for (const size of [VNET_HDR_LEN, VNET_HDR_LEN_MRG]) {
      const u8 = new Uint8Array(20).fill(0xee);
      vnetWrite(u8, 3, size, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4 | VNET_GSO_ECN, 66, 1448, 34, 16);
      assert.deepEqual([vnetFlags(u8, 3), vnetGsoType(u8, 3), vnetHdrLen(u8, 3), vnetGsoSize(u8, 3), vnetCsumStart(u8, 3), vnetCsumOffset(u8, 3)],
        [1, 0x81, 66, 1448, 34, 16]);
      assert.deepEqual([...u8.subarray(3, 13)], [1, 0x81, 66, 0, 0xa8, 0x05, 34, 0, 16, 0]);
      assert.equal(u8[2], 0xee, 'nothing before the header');
      if (size === 12) assert.equal(vnetNumBuffers(u8, 3), 1);
      else assert.equal(u8[13], 0xee, 'a 10-byte header writes 10 bytes');
      assert.equal(vnetCheck(u8, 3, size, 2000), VNET_OK);
      assert.equal(vnetNeedsWork(u8, 3), true);
      vnetClear(u8, 3, size);
      assert.equal(vnetNeedsWork(u8, 3), false);
      assert.equal(vnetCheck(u8, 3, size, 0), VNET_OK);
    }
  });

  test('each malformed header gives its reason', () => {
    const u8 = new Uint8Array(12);
    const check = (flags: number, gt: number, hl: number, gs: number, cs: number, co: number, frameLen = 100, size = 10): string => {
      vnetWrite(u8, 0, 12, flags, gt, hl, gs, cs, co);
      return VNET_REASONS[vnetCheck(u8, 0, size, frameLen)]!;
    };
    assert.equal(check(VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID, VNET_GSO_NONE, 0, 0, 34, 16), 'ok');
    assert.equal(check(0, 0, 0, 0, 0, 0, 100, 11), VNET_REASONS[VNET_BAD_SIZE]);
    assert.equal(check(4, 0, 0, 0, 0, 0), VNET_REASONS[VNET_BAD_FLAGS]);
    assert.equal(check(0, 2, 0, 0, 0, 0), VNET_REASONS[VNET_BAD_GSO_TYPE]);
    assert.equal(check(0, VNET_GSO_UDP_L4 | VNET_GSO_ECN, 0, 1000, 0, 0), VNET_REASONS[VNET_BAD_GSO_TYPE]);
    assert.equal(check(0, VNET_GSO_ECN, 0, 0, 0, 0), VNET_REASONS[VNET_BAD_GSO_TYPE]);
    assert.equal(check(VNET_F_NEEDS_CSUM, 0, 0, 0, 100, 0), VNET_REASONS[VNET_BAD_CSUM_START]);
    assert.equal(check(VNET_F_NEEDS_CSUM, 0, 0, 0, 34, 65), VNET_REASONS[VNET_BAD_CSUM_OFFSET]);
    assert.equal(check(VNET_F_NEEDS_CSUM, 0, 0, 0, 34, 17), VNET_REASONS[VNET_BAD_CSUM_OFFSET]);
    assert.equal(check(VNET_F_NEEDS_CSUM, 0, 0, 0, 34, 64), 'ok', 'the field may end at the last byte');
    assert.equal(check(0, VNET_GSO_TCPV4, 54, 0, 0, 0), VNET_REASONS[VNET_GSO_SIZE_ZERO]);
    assert.equal(check(0, VNET_GSO_UDP, 42, 7, 0, 0), VNET_REASONS[VNET_GSO_SIZE_ZERO]);
    assert.equal(check(0, VNET_GSO_TCPV6, 101, 1440, 0, 0), VNET_REASONS[VNET_HDR_LEN_PAST_FRAME]);
    assert.equal(vnetCheck(u8, 5, 10, 100), VNET_BAD_SIZE, 'a header past the array');
  });

  test('vnetCheck never throws and returns a known reason on any bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.integer({ min: -5, max: 70000 }), fc.constantFrom(0, 10, 12, 14),
      (b, len, size) => {
        const r = vnetCheck(b, 0, size, len);
        return r >= 0 && r < VNET_REASONS.length;
      }), { numRuns: 2000 });
  });
});

describe('checksum completion', () => {
  for (const f of [{ family: 4, proto: 'tcp' }, { family: 6, proto: 'tcp' }, { family: 4, proto: 'udp' }, { family: 6, proto: 'udp' }] as const) {
    test(`a partial ${f.proto}v${f.family} checksum is completed`, () => {
      for (const n of [0, 1, 2, 3, 17, 18, 1001, 1448, 1449, 1450]) {
        const { frame, layout } = superFrame({ ...f, payload: payloadOf(n, n), partial: true, vlans: n % 3 });
        const start = layout.l4;
        const offset = f.proto === 'tcp' ? 16 : 6;
        const at = 4 + (n & 3); // every alignment
        const buf = new Uint8Array(frame.length + 9);
        buf.set(frame, at);
        assert.equal(completeChecksum(buf, at, frame.length, start, offset), VNET_OK);
        const out = buf.subarray(at, at + frame.length);
        assert.ok(checksumsValid(out, layout, f.family, f.proto), `payload ${n}`);
        if (f.proto === 'udp') assert.notEqual((out[start + 6]! << 8) | out[start + 7]!, 0);
        assert.deepEqual(out, linuxSegments(frame, layout, f.family, f.proto, 65535)[0], 'same as a whole-checksum segment');
      }
    });
  }

  test('positions outside the frame are refused and nothing is written', () => {
    const { frame } = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(10), partial: true });
    const copy = frame.slice();
    assert.equal(completeChecksum(frame, 0, frame.length, frame.length, 0), VNET_BAD_CSUM_START);
    assert.equal(completeChecksum(frame, 0, frame.length, 34, frame.length - 35), VNET_BAD_CSUM_OFFSET);
    assert.equal(completeChecksum(frame, 0, frame.length, 34, 15), VNET_BAD_CSUM_OFFSET);
    assert.equal(completeChecksum(frame, 0, frame.length, -2, 0), VNET_BAD_CSUM_START);
    assert.deepEqual(frame, copy);
  });
});

describe('segmentation matches Linux', () => {
  const s = new Segmenter();
  const cases: Array<[string, SuperFrame, number]> = [
    ['64 KiB TCPv4 to MSS 1448, FIN|PSH|CWR', { family: 4, proto: 'tcp', payload: payloadOf(65536 - 54, 1), flags: TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR | TCP_ECE, ipId: 0xfff0, df: true, seq: 0xfffff000, partial: true }, 1448],
    ['TCPv4 with timestamps option, VLAN', { family: 4, proto: 'tcp', payload: payloadOf(30000, 2), tcpOptions: 12, vlans: 1, flags: TCP_ACK | TCP_PSH }, 1448],
    ['TCPv6, QinQ, hop-by-hop', { family: 6, proto: 'tcp', payload: payloadOf(20001, 3), vlans: 2, hopByHop: true, flags: TCP_ACK | TCP_CWR | TCP_FIN }, 1428],
    ['TCPv6 payload an exact multiple', { family: 6, proto: 'tcp', payload: payloadOf(1440 * 5, 4), flags: TCP_ACK | TCP_PSH }, 1440],
    ['TCPv4 payload smaller than the MSS', { family: 4, proto: 'tcp', payload: payloadOf(100, 5), flags: TCP_ACK | TCP_PSH | TCP_CWR }, 1448],
    ['TCPv4 no payload', { family: 4, proto: 'tcp', payload: payloadOf(0, 5), flags: TCP_ACK | TCP_FIN }, 1448],
    ['USOv4 odd sizes', { family: 4, proto: 'udp', payload: payloadOf(9999, 6) }, 1333],
    ['USOv6', { family: 6, proto: 'udp', payload: payloadOf(60000, 7), partial: true }, 1452],
  ];
  for (const [name, f, mss] of cases) {
    test(name, () => {
      const { frame, layout } = superFrame(f);
      const type = typeOf(f) | (f.flags !== undefined && (f.flags & TCP_CWR) ? VNET_GSO_ECN : 0);
      const got = segmentAll(s, frame, type, mss);
      const want = linuxSegments(frame, layout, f.family, f.proto, mss);
      assert.equal(got.length, want.length);
      assert.equal(got.length, Math.max(1, Math.ceil(f.payload.length / mss)));
      for (let i = 0; i < got.length; i++) {
        assert.ok(checksumsValid(got[i]!, layout, f.family, f.proto), `segment ${i}: checksums`);
        assert.deepEqual(got[i], want[i], `segment ${i}`);
      }
      // the payloads, in order, are the frame's
      const joined = Buffer.concat(got.map((g) => g.subarray(layout.hdrEnd)));
      assert.deepEqual(new Uint8Array(joined), f.payload);
    });
  }

  test('TCP flags and numbers of the first, middle and last segments', () => {
    const { frame, layout } = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(4000), flags: TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR, seq: 0xffffffff, ipId: 0xffff });
    const g = segmentAll(s, frame, VNET_GSO_TCPV4 | VNET_GSO_ECN, 1448);
    const t = layout.l4;
    const seq = (x: Uint8Array): number => ((x[t + 4]! << 24) | (x[t + 5]! << 16) | (x[t + 6]! << 8) | x[t + 7]!) >>> 0;
    assert.deepEqual(g.map((x) => x[t + 13]), [TCP_ACK | TCP_CWR, TCP_ACK, TCP_ACK | TCP_PSH | TCP_FIN]);
    assert.deepEqual(g.map(seq), [0xffffffff, 1447, 2895]);
    assert.deepEqual(g.map((x) => (x[layout.l3 + 4]! << 8) | x[layout.l3 + 5]!), [0xffff, 0, 1]);
    assert.deepEqual(g.map((x) => (x[layout.l3 + 2]! << 8) | x[layout.l3 + 3]!), [1488, 1488, 20 + 20 + 4000 - 2 * 1448]);
    assert.equal(frame[t + 13], TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR, 'the source is not touched');
  });

  test('UFO: IPv4 fragments of one datagram with its checksum, same id, MF and offsets', () => {
    const data = payloadOf(5000, 9);
    const { frame, layout } = superFrame({ family: 4, proto: 'udp', payload: data, ipId: 0x4242, df: true, partial: true });
    const g = segmentAll(s, frame, VNET_GSO_UDP, 1481); // rounded down to 1480
    assert.equal(g.length, Math.ceil((5000 + 8) / 1480));
    const ip = layout.l3;
    const parts: number[] = [];
    g.forEach((x, i) => {
      assert.ok(sumsToFfff(x.subarray(ip, ip + 20)), `fragment ${i}: IP header checksum`);
      assert.equal((x[ip + 4]! << 8) | x[ip + 5]!, 0x4242);
      const fo = (x[ip + 6]! << 8) | x[ip + 7]!;
      assert.equal(fo & 0x1fff, (i * 1480) / 8);
      assert.equal((fo & 0x2000) !== 0, i < g.length - 1, 'MF on all but the last');
      assert.equal(fo & 0x4000, 0, 'DF cleared');
      assert.equal((x[ip + 2]! << 8) | x[ip + 3]!, x.length - ip);
      parts.push(...x.subarray(layout.l4));
    });
    const udp = Uint8Array.from(parts);
    assert.equal(udp.length, 5008);
    assert.equal((udp[4]! << 8) | udp[5]!, 5008);
    assert.ok(udpDatagramValid(4, udp), 'the reassembled datagram checksum');
    assert.deepEqual(udp.subarray(8), data);
  });
});

describe('segmentation: pieces, buffers and bad input', () => {
  test('a frame in pieces, into the same buffer or another, gives the same segments (property)', () => {
    const s = new Segmenter();
    fc.assert(fc.property(
      fc.record({
        family: fc.constantFrom<4 | 6>(4, 6), proto: fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp'), n: fc.integer({ min: 0, max: 9000 }),
        mss: fc.integer({ min: 1, max: 3000 }), seq: fc.integer({ min: 0, max: 0xffffffff }), flags: fc.integer({ min: 0, max: 255 }),
        id: fc.integer({ min: 0, max: 0xffff }), vlans: fc.integer({ min: 0, max: 2 }), cuts: fc.array(fc.integer({ min: 1, max: 4000 }), { maxLength: 8 }),
        at: fc.integer({ min: 0, max: 7 }), same: fc.boolean(),
      }),
      (r) => {
        const f: SuperFrame = { family: r.family, proto: r.proto, payload: payloadOf(r.n, r.n + r.mss), seq: r.seq, flags: r.flags, ipId: r.id, vlans: r.vlans };
        const { frame, layout } = superFrame(f);
        const want = linuxSegments(frame, layout, f.family, f.proto, r.mss);
        // scatter the frame into pieces with gaps in one array; the first holds the headers
        const room = want.reduce((a, w) => a + w.length + 4, 8);
        const big = new Uint8Array(frame.length * 2 + 200 + room);
        let pos = 0;
        let at = r.at;
        let k = 0;
        const cuts = [layout.hdrEnd + (r.cuts[0] ?? frame.length), ...r.cuts.slice(1)];
        while (pos < frame.length) {
          const len = Math.min(frame.length - pos, k < cuts.length ? cuts[k]! : frame.length);
          big.set(frame.subarray(pos, pos + len), at);
          s.fragOff[k] = at;
          s.fragLen[k] = len;
          pos += len;
          at += len + 3 + (k & 1);
          k++;
        }
        if (want.length > GSO_MAX_SEGS) {
          assert.equal(s.begin(big, k, typeOf(f), r.mss), VNET_TOO_MANY_SEGMENTS);
          return;
        }
        assert.equal(s.begin(big, k, typeOf(f), r.mss), VNET_OK);
        assert.equal(s.count, want.length);
        const dst = r.same ? big : new Uint8Array(room);
        let d = r.same ? big.length - room + 1 : 1;
        for (let i = s.count - 1; i >= 0; i--) { // any order
          const len = s.write(i, dst, d, 4000);
          if (want[i]!.length > 4000) {
            assert.equal(len, -VNET_DST_TOO_SMALL);
            continue;
          }
          assert.equal(len, want[i]!.length);
          assert.deepEqual(dst.subarray(d, d + len), want[i], `segment ${i}`);
          d += len + (i & 3);
        }
      }), { numRuns: 300 });
  });

  test('gather: writeHeaders + payloadPieces give the bytes write() gives, pieces pointing into the frame (property); not for UFO', () => {
    const s = new Segmenter();
    const out = new Float64Array(8);
    fc.assert(fc.property(
      fc.record({
        family: fc.constantFrom<4 | 6>(4, 6), proto: fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp'), n: fc.integer({ min: 0, max: 9000 }),
        mss: fc.integer({ min: 1, max: 3000 }), seq: fc.integer({ min: 0, max: 0xffffffff }), cut: fc.integer({ min: 1, max: 2100 }),
      }),
      (r) => {
        const f: SuperFrame = { family: r.family, proto: r.proto, payload: payloadOf(r.n, r.n + r.mss), seq: r.seq };
        const { frame, layout } = superFrame(f);
        const want = linuxSegments(frame, layout, f.family, f.proto, r.mss);
        // the frame in 2 KiB-like pieces after the first (headers + `cut` bytes), with gaps
        const big = new Uint8Array(frame.length * 2 + 4096);
        let pos = 0, at = 5, k = 0;
        while (pos < frame.length) {
          const len = Math.min(frame.length - pos, k === 0 ? layout.hdrEnd + r.cut : 2048);
          big.set(frame.subarray(pos, pos + len), at);
          s.fragOff[k] = at; s.fragLen[k] = len;
          pos += len; at += len + 7; k++;
        }
        if (want.length > GSO_MAX_SEGS) return;
        assert.equal(s.begin(big, k, typeOf(f), r.mss), VNET_OK);
        assert.equal(s.gatherable, true);
        const hdrs = new Uint8Array(s.hdrLen + 3);
        for (let i = 0; i < s.count; i++) {
          const len = s.writeHeaders(i, hdrs, 3, s.hdrLen);
          assert.equal(len, want[i]!.length, 'the whole segment\'s length');
          const parts = [...hdrs.subarray(3, 3 + s.hdrLen)];
          const n = s.payloadPieces(i, out, 4);
          assert.ok(n >= 0 && n <= 4, `segment ${i}: ${n} pieces`);
          for (let p = 0; p < n; p++) parts.push(...big.subarray(out[2 * p]!, out[2 * p]! + out[2 * p + 1]!));
          assert.deepEqual(Uint8Array.from(parts), want[i], `segment ${i}`);
        }
        assert.equal(s.payloadPieces(s.count, out, 4), -1, 'no segment past the last');
      }), { numRuns: 200 });
    // a payload crossing more pieces than allowed, and UFO (its first fragment's UDP header is rewritten)
    const { frame } = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(3000, 1) });
    s.fragOff[0] = 0; s.fragLen[0] = 70;
    for (let k = 1; k * 10 + 60 < frame.length; k++) { s.fragOff[k] = 60 + k * 10; s.fragLen[k] = Math.min(10, frame.length - 60 - k * 10); }
    const nf = Math.ceil((frame.length - 70) / 10) + 1;
    assert.equal(s.begin(frame, nf, VNET_GSO_TCPV4, 1000), VNET_OK);
    assert.equal(s.payloadPieces(0, out, 4), -1, 'more than 4 pieces: -1');
    const u = superFrame({ family: 4, proto: 'udp', payload: payloadOf(3000, 2) }).frame;
    s.fragOff[0] = 0; s.fragLen[0] = u.length;
    assert.equal(s.begin(u, 1, VNET_GSO_UDP, 1480), VNET_OK);
    assert.equal(s.gatherable, false);
    assert.equal(s.writeHeaders(0, new Uint8Array(100), 0, 100), -VNET_GSO_UNSUPPORTED);
  });

  test('a segment larger than the destination is refused and nothing is written', () => {
    const s = new Segmenter();
    const { frame } = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(3000) });
    s.fragOff[0] = 0; s.fragLen[0] = frame.length;
    assert.equal(s.begin(frame, 1, VNET_GSO_TCPV4, 1448), VNET_OK);
    const dst = new Uint8Array(2000);
    assert.equal(s.write(0, dst, 0, 1501), -VNET_DST_TOO_SMALL);
    assert.equal(s.write(0, dst, 600, 1502), -VNET_DST_TOO_SMALL, 'past the array');
    assert.equal(s.write(3, dst, 0, 2000), -VNET_BAD_SIZE);
    assert.ok(dst.every((b) => b === 0));
  });

  test('frames that cannot be cut give their reason', () => {
    const s = new Segmenter();
    const reason = (frame: Uint8Array, type: number, mss = 1448, len0 = frame.length): string => {
      s.fragOff[0] = 0; s.fragLen[0] = len0;
      s.fragOff[1] = len0; s.fragLen[1] = frame.length - len0;
      return VNET_REASONS[s.begin(frame, len0 < frame.length ? 2 : 1, type, mss)]!;
    };
    const tcp4 = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(3000) });
    const udp6 = superFrame({ family: 6, proto: 'udp', payload: payloadOf(3000) });
    assert.equal(reason(tcp4.frame, VNET_GSO_TCPV6), VNET_REASONS[VNET_NOT_GSO_FRAME]);
    assert.equal(reason(tcp4.frame, VNET_GSO_UDP_L4), VNET_REASONS[VNET_NOT_GSO_FRAME]);
    assert.equal(reason(tcp4.frame, VNET_GSO_NONE), VNET_REASONS[VNET_BAD_GSO_TYPE]);
    assert.equal(reason(tcp4.frame, VNET_GSO_TCPV4, 0), VNET_REASONS[VNET_GSO_SIZE_ZERO]);
    assert.equal(reason(tcp4.frame, VNET_GSO_TCPV4, 1448, 40), VNET_REASONS[VNET_HDRS_SPLIT]);
    assert.equal(reason(tcp4.frame.subarray(0, 50), VNET_GSO_TCPV4), VNET_REASONS[VNET_HDRS_SPLIT]);
    assert.equal(reason(udp6.frame, VNET_GSO_UDP), VNET_REASONS[VNET_GSO_UNSUPPORTED]);
    const frag = tcp4.frame.slice();
    frag[tcp4.layout.l3 + 6] = 0x20; // MF
    assert.equal(reason(frag, VNET_GSO_TCPV4), VNET_REASONS[VNET_GSO_UNSUPPORTED]);
    const doff = tcp4.frame.slice();
    doff[tcp4.layout.l4 + 12] = 0x40;
    assert.equal(reason(doff, VNET_GSO_TCPV4), VNET_REASONS[VNET_NOT_GSO_FRAME]);
    const arp = tcp4.frame.slice();
    arp[12] = 0x08; arp[13] = 0x06;
    assert.equal(reason(arp, VNET_GSO_TCPV4), VNET_REASONS[VNET_NOT_GSO_FRAME]);
  });

  test('garbage never throws and never writes past the destination (property)', () => {
    const s = new Segmenter();
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.constantFrom(1, 3, 4, 5, 0x81, 7), fc.integer({ min: 0, max: 70000 }),
      fc.integer({ min: 0, max: 2000 }),
      (b, type, mss, cap) => {
        // make some of them look like IP
        if (b.length > 14 && (b[0]! & 1)) { b[12] = b[1]! & 1 ? 0x86 : 0x08; b[13] = b[1]! & 1 ? 0xdd : 0x00; b[14] = b[1]! & 1 ? 0x60 : 0x45; }
        s.fragOff[0] = 0; s.fragLen[0] = b.length;
        const r = s.begin(b, 1, type, mss);
        assert.ok(r >= 0 && r < VNET_REASONS.length);
        if (r !== VNET_OK) return;
        const dst = new Uint8Array(cap + 16);
        for (let i = 0; i < Math.min(s.count, 50); i++) {
          const n = s.write(i, dst, 8, cap);
          assert.ok(n <= cap);
        }
        assert.ok(dst.subarray(cap + 8).every((x) => x === 0));
      }), { numRuns: 1000 });
  });
});

describe('tshark decodes the segments', () => {
  test('every IP, TCP and UDP checksum is good, lengths and sequence numbers add up', { skip: needs(['tshark']) }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'nmts-gso-'));
    try {
      const s = new Segmenter();
      const w = new PcapWriter();
      const parts: Uint8Array[] = [w.header()];
      const frames: Array<[SuperFrame, number, number]> = [
        [{ family: 4, proto: 'tcp', payload: payloadOf(65536 - 54, 11), flags: TCP_ACK | TCP_PSH, seq: 0xfffff000, tcpOptions: 12 }, VNET_GSO_TCPV4, 1448],
        [{ family: 6, proto: 'tcp', payload: payloadOf(30000, 12), flags: TCP_ACK | TCP_FIN, vlans: 1 }, VNET_GSO_TCPV6, 1428],
        [{ family: 4, proto: 'udp', payload: payloadOf(8000, 13) }, VNET_GSO_UDP_L4, 1472],
        [{ family: 6, proto: 'udp', payload: payloadOf(8000, 14) }, VNET_GSO_UDP_L4, 1452],
        [{ family: 4, proto: 'udp', payload: payloadOf(8000, 15) }, VNET_GSO_UDP, 1480],
      ];
      const dst = new Uint8Array(2048);
      let tcpBytes = 0;
      let n = 0;
      for (const [f, type, mss] of frames) {
        const { frame } = superFrame(f);
        s.fragOff[0] = 0; s.fragLen[0] = frame.length;
        assert.equal(s.begin(frame, 1, type, mss), VNET_OK);
        for (let i = 0; i < s.count; i++) {
          const len = s.write(i, dst, 0, dst.length);
          parts.push(w.record(dst, 0, len, 1_700_000_000, n++));
        }
        if (f.proto === 'tcp') tcpBytes += f.payload.length;
      }
      const file = join(dir, 'segments.pcap');
      writeFileSync(file, Buffer.concat(parts));
      const r = spawnSync('tshark', ['-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE',
        '-T', 'fields', '-E', 'separator=/t', '-e', 'frame.number', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'udp.checksum.status',
        '-e', 'tcp.len', '-e', '_ws.malformed', '-e', '_ws.expert.severity'], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      const rows = r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
      assert.equal(rows.length, n);
      let seenTcp = 0;
      let udpChecked = 0;
      for (const [no, ipSt, tcpSt, udpSt, tcpLen, malformed] of rows) {
        for (const st of [ipSt, tcpSt, udpSt]) assert.ok(st === '' || st === '1', `frame ${no}: checksum status ${st} (1 = good)`);
        assert.equal(malformed ?? '', '', `frame ${no}: malformed`);
        if (tcpLen) seenTcp += Number(tcpLen);
        if (udpSt === '1') udpChecked++;
      }
      assert.equal(seenTcp, tcpBytes);
      // USO: every datagram checked; UFO: the reassembled datagram, once
      assert.equal(udpChecked, Math.ceil(8000 / 1472) + Math.ceil(8000 / 1452) + 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
