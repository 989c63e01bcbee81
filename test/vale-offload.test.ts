// VALE between ports whose virtio-net header lengths differ (src/vale/offload.ts): TSO/USO/UFO
// super-frames sent as NS_MOREFRAG chains from a vnet=12 port reach a vnet=0 port as the
// segments Linux's GSO makes (the independent model of test/fixtures/gso-frames.ts, which
// test/packet-gso-kernel.test.ts holds to the running kernel) with checksums tshark accepts,
// and a vnet=12 port on the same switch gets the chain whole; partial checksums are completed;
// headers are added (0 -> 12) and re-laid (10 <-> 12); the MAC lookup reads behind the header;
// each kind of malformed header is dropped and counted (tx_bad_vnet_hdr) without breaking the
// forwarder.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { open, valeSwitch, type Port, type ValePort } from '../src/index.js';
import { PR, RR } from '../src/core/layout.js';
import { PcapWriter } from '../src/packet/pcap.js';
import {
  VNET_F_NEEDS_CSUM, VNET_GSO_NONE, VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_UDP, VNET_GSO_UDP_L4,
} from '../src/packet/vnet-hdr.js';
import { readMetrics } from '../src/vale/metrics.js';
import { exposition } from '../src/apps/metrics/prometheus.js';
import { valeCtl } from '../src/apps/vale-ctl/vale-ctl.js';
import { pktGen } from '../src/apps/pkt-gen/run.js';
import { parsePktGenArgs } from '../src/apps/pkt-gen/options.js';
import {
  TCP_ACK, TCP_CWR, TCP_FIN, TCP_PSH, checksumsValid, linuxSegments, payloadOf, superFrame, udpDatagramValid, type SuperFrame,
} from './fixtures/gso-frames.js';
import { drain, mac, type Rx } from './fixtures/vale-helpers.js';
import { packets, sendChain, tsoHdr, withHdr } from './fixtures/vnet-chain.js';
import { needs } from './fixtures/requires.js';

const ID = process.pid;
const dir = mkdtempSync(join(tmpdir(), 'nmts-vale-offload-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The port's drops, and the bad_vnet_hdr part of its tx drops (RR.txBadVnet of its tx rings). */
function stats(p: Port): { txDrops: number; txBadVnet: number; rxDrops: number } {
  const { txDrops, rxDrops } = p.stats();
  const txBadVnet = p.txRings.reduce((n, r) => n + p.region.f64[(r.ofs + RR.txBadVnet) >> 3]!, 0);
  return { txDrops, txBadVnet, rxDrops };
}

describe('VALE: a vnet=12 sender of super-frames, a vnet=0 and a vnet=12 receiver', () => {
  const S = `valeoff${ID}`;
  let received: Uint8Array[] = [];
  const cases: Array<[SuperFrame, number, number]> = [
    [{ family: 4, proto: 'tcp', payload: payloadOf(65535 - 20 - 32, 1), flags: TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR, ipId: 0xfff0, df: true, partial: true, tcpOptions: 12, seq: 0xffffff00 }, VNET_GSO_TCPV4, 1448],
    [{ family: 6, proto: 'tcp', payload: payloadOf(30000, 2), flags: TCP_ACK | TCP_PSH, partial: true, vlans: 1 }, VNET_GSO_TCPV6, 1428],
    [{ family: 4, proto: 'udp', payload: payloadOf(9000, 3), ipId: 77, partial: true }, VNET_GSO_UDP_L4, 1472],
    [{ family: 6, proto: 'udp', payload: payloadOf(9000, 4), partial: true }, VNET_GSO_UDP_L4, 1452],
    [{ family: 4, proto: 'tcp', payload: payloadOf(1000, 5), flags: TCP_ACK | TCP_PSH, partial: true }, VNET_GSO_TCPV4, 1448], // one segment
    [{ family: 4, proto: 'tcp', payload: payloadOf(6000, 6), flags: TCP_ACK | TCP_PSH, partial: true, tcpOptions: 12 }, VNET_GSO_TCPV4, 3000], // segments longer than a buffer
  ];

  test('segments equal Linux GSO\'s, checksums valid; the vnet=12 port gets each chain whole', () => {
    const tx = open(`${S}:vm@conf:vnet=12`);
    const r0 = open(`${S}:host`);
    const r12 = open(`${S}:vm2@conf:vnet=12`);
    try {
      let sentSlots = 0;
      const expect: Uint8Array[][] = [];
      const sent: Uint8Array[] = [];
      for (const [f, type, mss] of cases) {
        const { frame, layout } = superFrame(f);
        const b = withHdr(12, frame, VNET_F_NEEDS_CSUM, type, layout.hdrEnd, mss, layout.l4, f.proto === 'tcp' ? 16 : 6);
        sentSlots += sendChain(tx, b);
        sent.push(b);
        expect.push(linuxSegments(frame, layout, f.family, f.proto, mss));
        // (the destination MAC is unknown: flooded to both receivers)
      }
      // UFO: IP fragments, the datagram's checksum in the first
      const ufo = superFrame({ family: 4, proto: 'udp', payload: payloadOf(5000, 7), ipId: 99, partial: true });
      const ufoB = withHdr(12, ufo.frame, VNET_F_NEEDS_CSUM, VNET_GSO_UDP, ufo.layout.hdrEnd, 1480, ufo.layout.l4, 6);
      sentSlots += sendChain(tx, ufoB);
      sent.push(ufoB);

      const got = packets(drain(r0));
      const want = expect.flat();
      assert.equal(got.length, want.length + Math.ceil((5000 + 8) / 1480));
      for (let i = 0; i < want.length; i++) {
        assert.equal(hex(got[i]![0]), hex(want[i]!), `segment ${i} differs from Linux's`);
        assert.equal(got[i]![1], Math.ceil(want[i]!.length / tx.txRings[0]!.bufSize), 'one slot per segment when it fits a buffer');
      }
      // every segment's checksums are right (the model's own check, then tshark's below)
      let k = 0;
      cases.forEach(([f], ci) => {
        const { layout } = superFrame(f);
        for (let s = 0; s < expect[ci]!.length; s++, k++) assert.ok(checksumsValid(got[k]![0], layout, f.family, f.proto), `frame ${ci} segment ${s}`);
      });
      // UFO: the fragments reassemble into the datagram with a valid checksum
      const frags = got.slice(want.length).map(([b]) => b);
      const l4 = ufo.layout.l4;
      const udp = Buffer.concat(frags.map((b, i) => b.subarray(i === 0 ? l4 : ufo.layout.l3 + 20)));
      assert.equal(udp.length, 5008);
      assert.ok(udpDatagramValid(4, udp));
      frags.forEach((b, i) => {
        const fo = (b[ufo.layout.l3 + 6]! << 8) | b[ufo.layout.l3 + 7]!;
        assert.equal(fo & 0x2000, i < frags.length - 1 ? 0x2000 : 0, 'MF on all but the last');
        assert.equal((b[ufo.layout.l3 + 4]! << 8) | b[ufo.layout.l3 + 5]!, 99, 'one id');
      });

      // the port with the same header length: each chain as sent, header untouched
      const whole = packets(drain(r12));
      assert.deepEqual(whole.map(([b]) => hex(b)), sent.map(hex));
      assert.equal(whole.reduce((n, [, s]) => n + s, 0), sentSlots);

      assert.deepEqual([stats(tx).txDrops, stats(tx).txBadVnet, stats(r0).rxDrops], [0, 0, 0]);

      received = got.map(([b]) => b);
    } finally {
      tx.close(); r0.close(); r12.close();
    }
  });

  test('tshark finds every IP, TCP and UDP checksum of what the vnet=0 port received good', { skip: needs(['tshark']) }, () => {
    assert.ok(received.length > 0, 'the test above ran');
    const w = new PcapWriter();
    const file = join(dir, 'segments.pcap');
    writeFileSync(file, Buffer.concat([w.header(), ...received.map((b, i) => w.record(b, 0, b.length, 1_700_000_000, i))]));
    const r = spawnSync('tshark', ['-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE',
      '-T', 'fields', '-E', 'separator=/t', '-e', 'frame.number', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'udp.checksum.status',
      '-e', '_ws.malformed'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
    assert.equal(rows.length, received.length);
    for (const [no, ...st] of rows) {
      for (const x of st.slice(0, 3)) assert.ok(x === '' || x === '1', `frame ${no}: checksum status ${x} (1 = good)`);
      assert.equal(st[3] ?? '', '', `frame ${no}: malformed`);
      assert.ok(st.slice(0, 3).includes('1'), `frame ${no}: a checksum checked`);
    }
  });

  test('partial checksums (NEEDS_CSUM without GSO) arrive completed, in one slot or a chain', () => {
    const S2 = `${S}c`;
    const tx = open(`${S2}:vm@conf:vnet=10`);
    const rx = open(`${S2}:host`);
    try {
      const frames: Array<[SuperFrame, number]> = [
        [{ family: 4, proto: 'tcp', payload: payloadOf(1000, 11), partial: true }, 0],
        [{ family: 6, proto: 'udp', payload: payloadOf(333, 12), partial: true }, 0],
        [{ family: 4, proto: 'udp', payload: payloadOf(6001, 13), partial: true }, 777], // a chain with odd pieces
        [{ family: 6, proto: 'tcp', payload: payloadOf(8000, 14), partial: true, tcpOptions: 12 }, 1001],
      ];
      for (const [f, piece] of frames) {
        const { frame, layout } = superFrame(f);
        const b = withHdr(10, frame, VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, 0, layout.l4, f.proto === 'tcp' ? 16 : 6);
        sendChain(tx, b, piece || undefined);
      }
      const got = packets(drain(rx));
      assert.equal(got.length, frames.length);
      frames.forEach(([f], i) => {
        const { frame, layout } = superFrame(f);
        const b = got[i]![0];
        assert.equal(b.length, frame.length, 'the header is removed');
        assert.ok(checksumsValid(b, layout, f.family, f.proto), `frame ${i}: checksum completed`);
        const at = layout.l4 + (f.proto === 'tcp' ? 16 : 6);
        assert.equal(hex(b.subarray(0, at)), hex(frame.subarray(0, at)), 'nothing else changed');
        assert.equal(hex(b.subarray(at + 2)), hex(frame.subarray(at + 2)));
      });
      assert.equal(stats(tx).txDrops, 0);
    } finally {
      tx.close(); rx.close();
    }
  });
});

describe('VALE: headers added, re-laid, passed', () => {
  test('vnet=0 -> vnet=12: a header asking for nothing is put before the frame (one slot and a chain)', () => {
    const S = `valeoff${ID}a`;
    const tx = open(`${S}:host`);
    const rx = open(`${S}:vm@conf:vnet=12`);
    try {
      const small = payloadOf(60, 21);
      small[0] = 0x02; // unicast, unknown: flooded
      const big = payloadOf(5000, 22);
      big[0] = 0x02;
      sendChain(tx, small);
      sendChain(tx, big);
      const got = packets(drain(rx));
      assert.equal(got.length, 2);
      const zero12 = '00000000000000000000' + '0100'; // num_buffers 1
      assert.equal(hex(got[0]![0]), zero12 + hex(small));
      assert.equal(hex(got[1]![0]), zero12 + hex(big));
      assert.equal(got[1]![1], Math.ceil((5000 + 12) / rx.rxRings[0]!.bufSize));
    } finally {
      tx.close(); rx.close();
    }
  });

  test('pkt-gen -H 12 on a VALE port: a vnet=0 receiver gets its frames without the header', async () => {
    const S = `valeoff${ID}p`;
    const rx = open(`${S}:host`);
    try {
      const io = { out: (): void => {}, err: (): void => {} };
      const r = await pktGen(parsePktGenArgs(['-i', `${S}:vm`, '-f', 'tx', '-n', '100', '-l', '60', '-H', '12']), io) as { packets: number };
      assert.equal(r.packets, 100);
      const got = packets(drain(rx));
      assert.equal(got.length, 100);
      for (const [b, slots] of got) {
        assert.equal(slots, 1);
        assert.equal(b.length, 60, 'the 12-byte header is gone');
        assert.equal((b[12]! << 8) | b[13]!, 0x0800, 'an Ethernet frame from its first byte');
        assert.equal(b[14], 0x45);
      }
    } finally {
      rx.close();
    }
  });

  test('10 <-> 12: the header is re-laid, its fields kept; equal lengths pass untouched', () => {
    const S = `valeoff${ID}r`;
    const p10 = open(`${S}:a@conf:vnet=10`);
    const p12 = open(`${S}:b@conf:vnet=12`);
    try {
      const sf = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(20000, 31), partial: true });
      const h10 = tsoHdr(10, sf, 1448);
      sendChain(p10, h10);
      const at12 = packets(drain(p12));
      assert.equal(at12.length, 1, 'the super-frame is not cut between two ports with headers');
      const want12 = tsoHdr(12, sf, 1448);
      assert.equal(hex(at12[0]![0]), hex(want12));
      // and back: num_buffers goes
      const w12 = Uint8Array.from(want12);
      w12[10] = 7; // a num_buffers the sender wrote: not carried into a 10-byte header
      sendChain(p12, w12);
      const at10 = packets(drain(p10));
      assert.equal(at10.length, 1);
      assert.equal(hex(at10[0]![0]), hex(h10));
    } finally {
      p10.close(); p12.close();
    }
  });

  test('the MAC lookup reads the frame behind the header (learning through a 10-byte header)', () => {
    const S = `valeoff${ID}l`;
    const a = open(`${S}:a@conf:vnet=10`);
    const b = open(`${S}:b`);
    const c = open(`${S}:c`);
    try {
      const eth = (dst: Uint8Array, src: Uint8Array): Uint8Array => {
        const f = new Uint8Array(60);
        f.set(dst, 0); f.set(src, 6); f[12] = 0x08;
        return f;
      };
      sendChain(b, eth(mac(1), mac(2))); // unknown: flooded, b's MAC learned
      assert.equal(packets(drain(a)).length, 1);
      assert.equal(packets(drain(c)).length, 1);
      // a (behind its header) to b: learned, unicast; a's MAC learned from behind the header
      sendChain(a, withHdr(10, eth(mac(2), mac(1)), 0, VNET_GSO_NONE, 0, 0, 0, 0));
      const atB = packets(drain(b));
      assert.equal(atB.length, 1);
      assert.equal(hex(atB[0]![0]), hex(eth(mac(2), mac(1))), 'header removed');
      assert.equal(packets(drain(c)).length, 0, 'unicast: c does not see it');
      sendChain(c, eth(mac(1), mac(3)));
      assert.equal(packets(drain(a)).length, 1, 'a learned at its port');
      assert.equal(packets(drain(b)).length, 0);
    } finally {
      a.close(); b.close(); c.close();
    }
  });
});

describe('VALE: malformed virtio-net headers are dropped and counted', () => {
  test('each kind: bad csum_start/csum_offset, gso_size 0, hdr_len past the frame, unknown gso_type, over 64 KiB, not what the type says', async () => {
    const S = `valeoff${ID}m`;
    const tx = open(`${S}:vm@conf:vnet=12`);
    const rx = open(`${S}:host`);
    try {
      const { frame, layout } = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(4000, 41), partial: true });
      const L = frame.length;
      const bad: Array<[string, Uint8Array]> = [
        ['csum_start past the frame', withHdr(12, frame, VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, 0, L, 16)],
        ['csum_offset past the frame', withHdr(12, frame, VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, 0, layout.l4, L)],
        ['odd csum_offset', withHdr(12, frame, VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, 0, layout.l4, 15)],
        ['gso_size 0', withHdr(12, frame, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, layout.hdrEnd, 0, layout.l4, 16)],
        ['hdr_len past the frame', withHdr(12, frame, 0, VNET_GSO_NONE, L + 1, 0, 0, 0)],
        ['unknown gso_type', withHdr(12, frame, 0, 2, layout.hdrEnd, 1448, 0, 0)],
        ['unknown flag', withHdr(12, frame, 0x10, VNET_GSO_NONE, 0, 0, 0, 0)],
        ['TCPv6 type on an IPv4 frame', withHdr(12, frame, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV6, layout.hdrEnd, 1448, layout.l4, 16)],
        ['over 64 KiB', withHdr(12, Uint8Array.from([...frame, ...payloadOf(70000 - L, 42)]), 0, VNET_GSO_NONE, 0, 0, 0, 0)],
        ['header longer than the first slot', withHdr(12, frame.subarray(0, 60), 0, VNET_GSO_NONE, 0, 0, 0, 0)], // sent in 8-byte slots
      ];
      for (const [what, b] of bad) {
        const before = stats(tx);
        sendChain(tx, b, what.startsWith('header longer') ? 8 : undefined);
        const after = stats(tx);
        if (what.startsWith('header longer')) {
          // (the lookup finds no Ethernet header in the first slot: no destination, not a header fault)
          assert.equal(after.txDrops - before.txDrops, 1, what);
        } else {
          assert.equal(after.txBadVnet - before.txBadVnet, 1, `${what}: counted as bad_vnet_hdr`);
          assert.equal(after.txDrops - before.txDrops, 1, `${what}: and as a drop`);
        }
        assert.equal(packets(drain(rx)).length, 0, `${what}: nothing delivered`);
      }
      // the forwarder still works
      const good = tsoHdr(12, { frame, layout }, 1448);
      sendChain(tx, good);
      assert.equal(packets(drain(rx)).length, Math.ceil(4000 / 1448));
      const nBad = bad.length - 1;
      assert.equal(stats(tx).txBadVnet, nBad);
      assert.equal(stats(rx).rxDrops, 0, 'not the receiver\'s drops');
      // shown by vale-ctl -v and the metrics reader under its own cause
      const v = valeCtl(['-v']);
      assert.equal(v.status, 0, v.stderr);
      assert.match(v.stdout, new RegExp(`${S}:vm .* tx_drops ${nBad + 1} .* tx_bad_vnet_hdr ${nBad}\\b`));
      const m = readMetrics().switches.find((s) => s.name === S)!.ports.find((p) => p.port === `${S}:vm`)!;
      assert.deepEqual([m.drops.badVnetHdr, m.drops.undelivered], [nBad, 1]);
      assert.equal(m.rings.find((r) => r.direction === 'tx')!.badVnetHdr, nBad);
      const { text } = await exposition(readMetrics());
      const line = (cause: string): string | undefined => text.split('\n').find((l) => l.startsWith('nmts_port_drops_total{') &&
        l.includes(`port="${S}:vm"`) && l.includes('direction="tx"') && l.includes(`cause="${cause}"`));
      assert.match(line('bad_vnet_hdr') ?? '', new RegExp(` ${nBad}$`), 'Prometheus: its own cause');
      assert.match(line('undelivered') ?? '', / 1$/);
    } finally {
      tx.close(); rx.close();
    }
  });
});

describe('VALE conversion: rings, floods, damage, fuzz', () => {
  test('a super-frame goes whole or not at all: no room for its segments counts them as the receiver\'s drops', () => {
    const S = `valeoff${ID}f`;
    const tx = open(`${S}:vm@conf:vnet=12`);
    const rx = open(`${S}:host`, { rxSlots: 64 }); // holds 63 frames
    try {
      const { frame, layout } = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(40 * 1448, 51), partial: true, flags: TCP_ACK });
      const b = tsoHdr(12, { frame, layout }, 1448);
      sendChain(tx, b); // 40 segments: fit
      sendChain(tx, b); // 40 more: 23 free slots, dropped whole
      assert.equal(stats(rx).rxDrops, 40, 'the receiver counts the 40 frames it could not take');
      assert.equal(stats(tx).txDrops, 1, 'the sender counts its one packet');
      assert.equal(stats(tx).txBadVnet, 0);
      const got = packets(drain(rx));
      assert.equal(got.length, 40);
      sendChain(tx, b);
      assert.equal(packets(drain(rx)).length, 40, 'after the receiver drained: delivered');
    } finally {
      tx.close(); rx.close();
    }
  });

  test('RSS: segments of a flow spread by flow hash land on one rx ring, in order', () => {
    const S = `valeoff${ID}s`;
    const tx = open(`${S}:vm@conf:vnet=10`);
    const rx = open(`${S}:host@conf:rings=4`);
    try {
      valeSwitch(S).setRss(true);
      const got: Rx[] = [];
      for (let i = 0; i < 8; i++) {
        const { frame, layout } = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(5000, 60 + i), partial: true, seq: 1000 * i });
        frame[layout.l4 + 1] = i; // source port: a flow each
        const b = tsoHdr(10, { frame, layout }, 1448);
        sendChain(tx, b);
        const r = drain(rx);
        assert.equal(r.length, 4, `flow ${i}: 4 segments`);
        assert.equal(new Set(r.map((x) => x.ring)).size, 1, `flow ${i}: one ring`);
        got.push(...r);
      }
      assert.ok(new Set(got.map((x) => x.ring)).size > 1, 'flows spread over rings');
    } finally {
      tx.close(); rx.close();
    }
  });

  test('a damaged header length in a port record: nothing is forwarded to or from it, counted', () => {
    const S = `valeoff${ID}d`;
    const a = open(`${S}:a@conf:vnet=12`) as ValePort;
    const b = open(`${S}:b`) as ValePort;
    try {
      const f = new Uint8Array(60);
      f[0] = 2; f[6] = 2; f[11] = 1; f[12] = 8;
      b.region.u32[(b.rec + PR.vnetHdrLen) >> 2] = 5; // as a planted file could
      sendChain(a, withHdr(12, f, 0, VNET_GSO_NONE, 0, 0, 0, 0));
      assert.equal(packets(drain(b)).length, 0);
      assert.equal(stats(a).txDrops, 1, 'undelivered');
      a.region.u32[(a.rec + PR.vnetHdrLen) >> 2] = 99;
      sendChain(a, withHdr(12, f, 0, VNET_GSO_NONE, 0, 0, 0, 0));
      assert.deepEqual([stats(a).txDrops, stats(a).txBadVnet], [2, 1], 'the sender\'s own length is damaged: bad_vnet_hdr');
      a.region.u32[(a.rec + PR.vnetHdrLen) >> 2] = 12;
      b.region.u32[(b.rec + PR.vnetHdrLen) >> 2] = 0;
      sendChain(a, withHdr(12, f, 0, VNET_GSO_NONE, 0, 0, 0, 0));
      assert.equal(hex(packets(drain(b))[0]![0]), hex(f), 'repaired: forwarded again');
    } finally {
      a.close(); b.close();
    }
  });

  test('fuzz: random headers and frames never throw; every packet is delivered or counted', () => {
    const S = `valeoff${ID}z`;
    const tx = open(`${S}:vm@conf:vnet=12`);
    const r0 = open(`${S}:host`, { rxSlots: 4096 });
    const r10 = open(`${S}:vm10@conf:vnet=10`, { rxSlots: 4096 });
    let segmented = 0, converted = 0;
    try {
      fc.assert(fc.property(
        fc.record({
          family: fc.constantFrom<4 | 6>(4, 6), tcp: fc.boolean(), n: fc.integer({ min: 0, max: 9000 }),
          gso: fc.boolean(), gsoSize: fc.integer({ min: 500, max: 3000 }), piece: fc.integer({ min: 100, max: 2048 }),
          // a well-formed header, then maybe one field or one frame byte changed
          field: fc.integer({ min: -1, max: 6 }), value: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 100 })),
          garble: fc.integer({ min: -40, max: 90 }),
        }),
        (c) => {
          const { frame, layout } = superFrame({ family: c.family, proto: c.tcp ? 'tcp' : 'udp', payload: payloadOf(c.n, c.n), partial: true });
          if (c.garble >= 0 && c.garble < frame.length) frame[c.garble] ^= 0x5a;
          frame[0] = 0xff; // broadcast: both receivers
          const type = !c.gso ? VNET_GSO_NONE : c.tcp ? (c.family === 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6) : VNET_GSO_UDP_L4;
          const h = [VNET_F_NEEDS_CSUM, type, layout.hdrEnd, c.gsoSize, layout.l4, c.tcp ? 16 : 6];
          if (c.field >= 0 && c.field < 6) h[c.field] = c.field < 2 ? c.value & 0xff : c.value;
          const b = withHdr(12, frame, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!);
          if (c.field === 6) b[10] = c.value; // num_buffers: ignored
          const before = stats(tx);
          sendChain(tx, b, Math.max(c.piece, 12 + 14, Math.ceil(b.length / 64))); // (one packet: at most 64 slots)
          const after = stats(tx);
          const at0 = packets(drain(r0)), at10 = packets(drain(r10));
          const refused = after.txBadVnet - before.txBadVnet;
          assert.equal(after.txDrops - before.txDrops, refused, 'drops are refusals (the rings have room)');
          assert.equal(refused + (at0.length > 0 ? 1 : 0) + (at10.length > 0 ? 1 : 0), 2, 'each receiver got it or it was refused for it');
          if (at10.length) assert.equal(hex(at10[0]![0].subarray(10)), hex(frame), 'the 10-byte port gets the frame behind a re-laid header');
          if (at0.length === 1 && !(h[1]! & 0x7f)) assert.equal(at0[0]![0].length, frame.length);
          if (c.field === -1 && c.garble < 0) {
            assert.equal(refused, 0, 'a well-formed frame is never refused');
            for (const [seg] of at0) assert.ok(checksumsValid(seg, layout, c.family, c.tcp ? 'tcp' : 'udp'), 'checksums of a well-formed frame are right');
          }
          if (at0.length > 1) segmented++;
          if (at0.length > 0) converted++;
        },
      ), { numRuns: 400, seed: 20261205 });
      assert.ok(segmented > 40 && converted > 150, `the fuzz reached the conversions: ${converted} delivered to the vnet=0 port, ${segmented} of them segmented`);
    } finally {
      tx.close(); r0.close(); r10.close();
    }
  });
});
