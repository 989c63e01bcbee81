// The frame paths of a vhost-user port with offloads (apps/vhost-user/offload-path.ts) between
// a real VALE port with a 12-byte header and the test front end's queues, in one thread:
//   * a TSO super-frame (an NS_MOREFRAG chain) reaches a guest that negotiated GUEST_TSO4 and
//     GUEST_CSUM whole, with its header and num_buffers;
//   * to a guest that did not, it is cut into the segments Linux's GSO makes (the independent
//     model of fixtures/gso-frames.ts), each with valid checksums and a header asking nothing;
//     a partial checksum alone is completed; a malformed header is dropped and counted;
//   * a 5 000-byte frame from the guest with its header goes into a chain of 2 048-byte slots
//     and arrives whole at another port with a header.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, type ValePort } from '../src/index.js';
import { NS_MOREFRAG } from '../src/core/constants.js';
import { VhostUserDevice } from '../src/ports/vhost-user/device.js';
import { bit, F, OFFLOAD_FEATURES } from '../src/ports/vhost-user/protocol.js';
import { VNET_F_NEEDS_CSUM, VNET_GSO_NONE, VNET_GSO_TCPV4, vnetWrite } from '../src/packet/vnet-hdr.js';
import { guestToRingWithHdr, ringToGuestWithHdr } from '../src/apps/vhost-user/offload-path.js';
import { checksumsValid, linuxSegments, payloadOf, superFrame } from './fixtures/gso-frames.js';
import { BUF_SIZE, BUFS, GPA, N, TestFrontEnd } from './fixtures/vhost-front.js';

const dir = mkdtempSync(join(tmpdir(), 'nmts-vhop-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const BASE = bit(F.VERSION_1) | bit(F.MRG_RXBUF) | bit(F.EVENT_IDX) | bit(F.PROTOCOL_FEATURES);
let serial = 0;

function setup(want: bigint): { dev: VhostUserDevice; fe: TestFrontEnd; a: ValePort; b: ValePort; done: () => void } {
  const dev = new VhostUserDevice({ path: join(dir, `vm${serial++}.sock`), offloads: true });
  const fe = new TestFrontEnd(dev.path, () => dev.service());
  fe.setup(want);
  const sw = `valeqp${process.pid}x${serial}`;
  const a = open(`${sw}:a`, { vnetHdrLen: 12 }) as ValePort, b = open(`${sw}:b`, { vnetHdrLen: 12 }) as ValePort;
  return { dev, fe, a, b, done: () => { a.close(); b.close(); fe.close(); dev.close(); } };
}

/** Send header+frame from port p as a chain of buffer-sized slots. */
function sendChain(p: ValePort, bytes: Uint8Array): void {
  const ring = p.txRings[0]!, piece = ring.bufSize;
  for (let o = 0; o < bytes.length; o += piece) {
    const h = ring.head, n = Math.min(piece, bytes.length - o);
    p.u8.set(bytes.subarray(o, o + n), ring.buf(h));
    ring.setLen(h, n);
    ring.setSlotFlags(h, o + n < bytes.length ? NS_MOREFRAG : 0);
    ring.advance(ring.next(h));
  }
  p.txsync();
}

function withHdr(frame: Uint8Array, flags: number, gsoType: number, gsoSize: number, csumStart: number, csumOffset: number): Uint8Array {
  const out = new Uint8Array(12 + frame.length);
  vnetWrite(out, 0, 12, flags, gsoType, 0, gsoSize, csumStart, csumOffset);
  out.set(frame, 12);
  return out;
}

/** What the guest received: per packet its header and frame (merged buffers joined). */
function received(fe: TestFrontEnd): { hdr: number[]; frame: Uint8Array }[] {
  const out: { hdr: number[]; frame: Uint8Array }[] = [];
  const used = fe.takeUsed(0);
  for (let i = 0; i < used.length;) {
    const first = fe.rxBuffer(used[i][0], used[i][1]);
    const nb = first.hdr[10] | (first.hdr[11] << 8);
    const parts = [first.frame];
    for (let k = 1; k < nb; k++) {
      const [id, len] = used[i + k];
      const b = BUFS + (N + id) * BUF_SIZE;
      parts.push(fe.u8.slice(b, b + len));
    }
    out.push({ hdr: [...first.hdr], frame: Uint8Array.from(Buffer.concat(parts)) });
    i += nb;
  }
  return out;
}

const tso = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(4000), partial: true });
const tsoPkt = withHdr(tso.frame, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, 1448, tso.layout.l4, 16);

test('a guest with GUEST_TSO4 and GUEST_CSUM takes the super-frame whole, with its header', () => {
  const { dev, fe, a, b, done } = setup(BASE | OFFLOAD_FEATURES);
  try {
    fe.postRx(16, BUF_SIZE);
    sendChain(b, tsoPkt);
    a.rxsync();
    const rxq = dev.queues[0];
    assert.equal(ringToGuestWithHdr(a.rxRings[0]!, a.u8, a.region.u32, a.region.f64, rxq, rxq, dev.featuresLo, 64), 1);
    const got = received(fe);
    assert.equal(got.length, 1);
    assert.deepEqual(got[0].hdr.slice(0, 10), [...tsoPkt.subarray(0, 10)]);
    assert.equal(got[0].hdr[10], 2, 'num_buffers: 4066 bytes over 2048-byte buffers');
    assert.deepEqual(got[0].frame, tso.frame);
    assert.equal(rxq.drops, 0);
  } finally { done(); }
});

test('a guest without them gets the segments Linux makes, checksums done; a partial checksum is completed; a bad header is dropped', () => {
  const { dev, fe, a, b, done } = setup(BASE);
  try {
    assert.equal(dev.features & OFFLOAD_FEATURES, 0n);
    fe.postRx(32, BUF_SIZE);
    sendChain(b, tsoPkt);
    const small = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(300, 2), partial: true });
    sendChain(b, withHdr(small.frame, VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, small.layout.l4, 16));
    sendChain(b, withHdr(small.frame, VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, small.frame.length + 4, 16)); // csum_start past the frame
    a.rxsync();
    const rxq = dev.queues[0];
    assert.equal(ringToGuestWithHdr(a.rxRings[0]!, a.u8, a.region.u32, a.region.f64, rxq, rxq, dev.featuresLo, 64), 3);
    const got = received(fe);
    const want = linuxSegments(tso.frame, tso.layout, 4, 'tcp', 1448);
    assert.equal(got.length, want.length + 1);
    for (let i = 0; i < want.length; i++) {
      assert.deepEqual(got[i].hdr, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], 'a header asking nothing');
      assert.deepEqual(got[i].frame, want[i], `segment ${i}`);
      assert.ok(checksumsValid(got[i].frame, tso.layout, 4, 'tcp'));
    }
    const last = got[want.length];
    assert.ok(checksumsValid(last.frame, small.layout, 4, 'tcp'), 'the partial checksum completed');
    assert.equal(last.frame.length, small.frame.length);
    assert.equal(rxq.drops, 1, 'the malformed header');
  } finally { done(); }
});

test('a 5000-byte frame from the guest goes into a chain of slots with its header and arrives whole', () => {
  const { dev, fe, a, b, done } = setup(BASE | OFFLOAD_FEATURES);
  try {
    const f = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(4946, 3), partial: true }).frame;
    // one guest TX descriptor: a 12-byte header then the frame (the fixture's buffers are 2048 bytes: use 3 of them)
    const buf = BUFS; // descriptors 0..2 point at consecutive buffers
    vnetWrite(fe.u8, buf, 12, VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, 0, 34, 16);
    fe.u8.set(f, buf + 12);
    fe.writeDesc(1, 0, GPA + buf, 12 + f.length, 0, 0);
    fe.pushAvail(1, 0);
    const txq = dev.queues[1];
    assert.equal(guestToRingWithHdr(txq, b.txRings[0]!, b.u8, b.region.u32, b.region.f64, 64), 1);
    txq.finish();
    b.txsync();
    a.rxsync();
    const ring = a.rxRings[0]!;
    const parts: Uint8Array[] = [];
    for (let j = ring.head; j !== ring.tail; j = ring.next(j)) parts.push(a.u8.slice(ring.buf(j), ring.buf(j) + ring.len(j)));
    assert.equal(parts.length, 3, '5012 bytes in 2048-byte slots');
    const pkt = Buffer.concat(parts);
    assert.equal(pkt[0], VNET_F_NEEDS_CSUM, 'the guest\'s header kept');
    assert.deepEqual(Uint8Array.from(pkt.subarray(12)), f);
  } finally { done(); }
});
