// netmap:IF ports on veth pairs in a network namespace of our own, for both backends (AF_XDP and
// AF_PACKET): pkt-gen's frames counted by the kernel and by tcpdump on the peer, tcpreplay's frames
// received whole by pkt-gen, the XDP program gone after close and after SIGKILL, the ring contract
// (zero-copy swaps between the rx and tx rings, buffers conserved) and stats() including rx drops.
// Runs as root only (skipped otherwise, with the reason); the namespace is deleted after.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fillEntriesFor } from '../src/ports/netif/xdp-port.js';
import { join } from 'node:path';
import {
  BACKEND_LINE, BACKENDS, Netns, frameLen, parseDumps, pcapBytes, skipReason, tcpdumpRead, testFrames, until, writePcap,
} from './fixtures/netif-helpers.js';

const skip = skipReason(['tcpdump', 'tcpreplay']);
const A = 'vethA', B = 'vethB';
const Q = 'vethQ', R = 'vethR'; // two queues

describe('netmap:IF on a veth pair (AF_XDP and AF_PACKET)', { timeout: 60_000 }, () => {
  const ns = new Netns('port');
  before(() => {
    if (!skip) ns.create([[A, B], [Q, R, 2]]);
  });
  after(async () => {
    await ns.destroy();
  });

  test('pkt-gen -p 2 on a 2-queue interface: both worker threads bind their queue through the one XDP program', { skip }, async () => {
    const N = 20_000;
    const k0 = ns.counters(R);
    const gen = ns.nmts(['pkt-gen', '-i', `netmap:${Q}`, '-f', 'tx', '-p', '2', '-n', String(N), '-l', '60', '-w', '0']);
    const r = await gen.wait(20_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`netmap:${Q}: backend AF_XDP \\(\\w+ XDP, \\w+ mode, queue 0\\)`));
    assert.doesNotMatch(r.stderr, /thread 1|not AF_XDP/, 'thread 1 did not fall back to another backend');
    assert.equal(ns.counters(R).rxPackets - k0.rxPackets, N, `${R} rx_packets delta`);
    assert.equal(ns.xdpProg(Q), null, 'the shared program is gone once both threads closed their queue');
  });

  test('two processes on two queues of one interface: the second joins the first one\'s XDP program, which stays until both closed', { skip }, async () => {
    const h0 = ns.child(['hold', `${Q}-0`, 'af_xdp']);
    await h0.waitFor(/"ready":true/, 10_000, 'stdout');
    const prog = ns.xdpProg(Q);
    assert.ok(prog);
    const h1 = ns.child(['hold', `${Q}-1`, 'af_xdp']);
    await h1.waitFor(/"ready":true/, 10_000, 'stdout');
    const info = h1.json<{ info: { backend: string; detail: string } }>()[0]!.info;
    assert.equal(info.backend, 'af_xdp');
    assert.match(info.detail, /^the XDP program of another netmap-ts process, \w+ mode, queue 1$/);
    assert.equal(ns.xdpProg(Q)?.id, prog.id, 'one program');
    h0.child.stdin!.write('close\n');
    await h0.waitFor(/"closed":true/, 5000, 'stdout');
    h0.child.stdin!.write('exit\n');
    await h0.wait();
    assert.equal(ns.xdpProg(Q)?.id, prog.id, 'the second process keeps the program attached');
    h1.child.kill('SIGKILL');
    await h1.wait();
    await until('the program detached', () => ns.xdpProg(Q) === null);
  });

  for (const backend of BACKENDS) {
    test(`${backend}: pkt-gen -f tx -n N -l 60 sends exactly N 60-byte frames (the peer's kernel counters and tcpdump agree)`, { skip }, async () => {
      const N = 10_000;
      const file = join(ns.dir, `tx-${backend}.pcap`);
      const dump = await ns.tcpdump(B, file);
      const k0 = ns.counters(B);
      const gen = ns.nmts(['pkt-gen', '-i', `netmap:${A}`, '-f', 'tx', '-n', String(N), '-l', '60', '-w', '0'], { NMTS_BACKEND: backend });
      const r = await gen.wait(20_000);
      assert.equal(r.code, 0, r.stderr);
      const line = BACKEND_LINE[backend].exec(r.stderr);
      assert.ok(line, `pkt-gen names the backend on stderr: ${r.stderr}`);
      assert.equal(line[1], A);
      assert.match(r.stdout, new RegExp(`^Sent ${N} packets ${N * 60} bytes `, 'm'));
      await dump.stop(pcapBytes(new Array<number>(N).fill(60)));
      const k1 = ns.counters(B);
      assert.equal(k1.rxPackets - k0.rxPackets, N, `${B} rx_packets delta`);
      assert.equal(k1.rxBytes - k0.rxBytes, N * 60, `${B} rx_bytes delta`);
      assert.match(dump.proc.stderr, /\b0 packets dropped by kernel/, dump.proc.stderr);
      const seen = tcpdumpRead(file);
      assert.equal(seen.count, N, 'frames tcpdump -r reads back');
      assert.deepEqual([...new Set(seen.lengths)], [60], 'every frame is 60 bytes');
      assert.match(seen.lines[0]!, /ethertype IPv4 \(0x0800\), length 60: 10\.0\.0\.1\.\d+ > 10\.1\.0\.1\.\d+: UDP/);
    });
  }

  // tcpreplay on one end, pkt-gen -f rx on the other: both backends, both directions
  for (const backend of BACKENDS) {
    for (const [rx, tx] of [[A, B], [B, A]] as const) {
      test(`${backend}: every frame tcpreplay sends on ${tx} (VLAN tags included) is received whole by pkt-gen -f rx on netmap:${rx}`, { skip }, async () => {
        const N = 500; // fewer than an rx ring holds: a receiver scheduled late (a busy machine) still loses none
        const frames = testFrames(N); // some VLAN-tagged: the tags must be in the frames received
        const bytes = frames.reduce((a, f) => a + f.length, 0);
        const file = join(ns.dir, `replay-${backend}-${rx}.pcap`);
        writePcap(file, frames);
        const k0 = ns.counters(tx);
        // -X: every received frame is dumped, so every byte can be compared
        const rcv = ns.nmts(['pkt-gen', '-i', `netmap:${rx}`, '-f', 'rx', '-n', String(N), '-w', '0', '-X'], { NMTS_BACKEND: backend });
        await rcv.waitFor(BACKEND_LINE[backend], 10_000, 'stderr');
        const rep = ns.run('tcpreplay', ['-i', tx, '--pps=50000', file]);
        assert.match(rep, new RegExp(`Successful packets:\\s+${N}\\b`), rep);
        const r = await rcv.wait(15_000);
        assert.equal(r.code, 0, r.stderr.slice(-2000));
        assert.equal(ns.counters(tx).txPackets - k0.txPackets, N, `${tx} tx_packets delta`);
        assert.match(r.stdout, new RegExp(`^Received ${N} packets ${bytes} bytes `, 'm'), r.stdout);
        const got = parseDumps(r.stderr);
        assert.equal(got.length, N, 'frames dumped');
        for (let i = 0; i < N; i++) assert.deepEqual(got[i], frames[i], `frame ${i} (${frames[i]!.length} bytes)`);
      });
    }
  }

  test('af_xdp: the XDP program is detached by close() and by SIGKILL of its holder; the interface opens again after', { skip }, async () => {
    assert.equal(ns.xdpProg(A), null, 'no program before');
    // close()
    const h1 = ns.child(['hold', A, 'af_xdp']);
    await h1.waitFor(/"ready":true/, 10_000, 'stdout');
    const p1 = ns.xdpProg(A);
    assert.ok(p1, 'ip -d link show: the program is attached while the port is open');
    assert.equal(p1.generic, false, 'veth has native XDP');
    assert.equal(ns.xdpProg(B), null, 'the peer has none');
    // while the port is held: a second process falls back to AF_PACKET (auto) or fails (forced AF_XDP)
    const auto = ns.child(['open', A, 'auto']);
    await auto.wait();
    const a = auto.json<{ ok: boolean; info: { backend: string; fallbackReason: string; warnings: string[] } }>()[0]!;
    assert.equal(a.ok, true, auto.stdout);
    assert.equal(a.info.backend, 'af_packet');
    assert.match(a.info.fallbackReason, /^AF_XDP: .*EBUSY/);
    assert.ok(a.info.warnings.some((w) => w.includes(`${A} already has an XDP program`) && w.includes('never reach this AF_PACKET port')), a.info.warnings.join('\n'));
    const forced = ns.child(['open', A, 'af_xdp']);
    await forced.wait();
    assert.deepEqual(forced.json<{ ok: boolean; code: string }>().map((o) => [o.ok, o.code]), [[false, 'EBUSY']]);
    h1.child.stdin!.write('close\n');
    await h1.waitFor(/"closed":true/, 5000, 'stdout');
    assert.equal(ns.xdpProg(A), null, 'detached by close(), the process still running');
    h1.child.stdin!.write('exit\n');
    assert.equal((await h1.wait(5000)).code, 0);

    // SIGKILL
    const h2 = ns.child(['hold', A, 'af_xdp']);
    const m = await h2.waitFor(/"pid":(\d+)/, 10_000, 'stdout');
    assert.equal(Number(m[1]), h2.child.pid, '`ip netns exec` execs node: SIGKILL reaches the holder');
    const p2 = ns.xdpProg(A);
    assert.ok(p2 && p2.id !== p1.id, 'a new program');
    h2.kill('SIGKILL');
    assert.equal((await h2.wait(5000)).signal, 'SIGKILL');
    await until('the program to go away with its holder', () => ns.xdpProg(A) === null);

    // and the interface is usable again: AF_XDP, no fallback, frames go out
    const again = ns.child(['open', A, 'auto']);
    await again.wait();
    const o = again.json<{ ok: boolean; info: { backend: string; fallbackReason: string } }>()[0]!;
    assert.equal(o.ok, true, again.stdout);
    assert.equal(o.info.backend, 'af_xdp');
    assert.equal(o.info.fallbackReason, '');
    const k0 = ns.counters(B);
    const gen = ns.nmts(['pkt-gen', '-i', `netmap:${A}`, '-f', 'tx', '-n', '100', '-w', '0']);
    const g = await gen.wait();
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stderr, BACKEND_LINE.af_xdp);
    assert.equal(ns.counters(B).rxPackets - k0.rxPackets, 100);
    assert.equal(ns.xdpProg(A), null, 'and detached again when pkt-gen exits');
  });

  test('af_packet: an AF_PACKET port attaches no XDP program', { skip }, async () => {
    const h = ns.child(['hold', A, 'af_packet']);
    await h.waitFor(/"ready":true/, 10_000, 'stdout');
    assert.equal(ns.xdpProg(A), null);
    h.child.stdin!.write('exit\n');
    assert.equal((await h.wait(5000)).code, 0);
  });

  for (const backend of BACKENDS) {
    test(`${backend}: ring contract: rx buffers swapped into tx slots (zero copy) reach the peer whole, and no buffer is lost or duplicated after 10k frames`, { skip }, async () => {
      const COUNT = 10_000;
      const k0 = ns.counters(B);
      const c = ns.child(['reflect', A, B, backend, String(COUNT)]);
      const r = await c.wait(40_000);
      assert.equal(r.code, 0, r.stderr);
      const o = c.json<{
        sent: number; got: number; forwarded: number; swaps: number; error: string | null; extra: number; txPending: boolean;
        bufs: { count: number; duplicates: number[]; outOfRange: number[] }; expectBufs: number;
        aStats: Record<string, number>; bStats: Record<string, number>; aInfo: { backend: string };
      }>()[0]!;
      assert.equal(o.aInfo.backend, backend);
      assert.equal(o.error, null);
      assert.equal(o.sent, COUNT);
      assert.equal(o.got, COUNT, 'every frame came back, in order, with its bytes');
      assert.equal(o.forwarded, COUNT);
      assert.equal(o.swaps, COUNT, 'every forwarded frame moved by a buffer swap');
      assert.equal(o.extra, 0, 'nothing more than what was sent');
      assert.equal(o.txPending, false);
      assert.deepEqual(o.bufs.duplicates, [], 'no buffer index in two slots');
      assert.deepEqual(o.bufs.outOfRange, []);
      assert.equal(o.bufs.count, o.expectBufs, 'one buffer per slot, as at open');
      const bytes = Array.from({ length: COUNT }, (_, i) => frameLen(i)).reduce((x, y) => x + y, 0);
      for (const s of [o.aStats, o.bStats]) {
        assert.deepEqual(s, { txPackets: COUNT, txBytes: bytes, rxPackets: COUNT, rxBytes: bytes, txDrops: 0, rxDrops: 0 });
      }
      const k1 = ns.counters(B);
      assert.equal(k1.txPackets - k0.txPackets, COUNT, `${B} tx_packets delta`);
      assert.equal(k1.rxPackets - k0.rxPackets, COUNT, `${B} rx_packets delta`);
    });
  }

  for (const backend of BACKENDS) {
    test(`${backend}: stats() counts what was sent and received, and the frames dropped while the rx ring is not serviced`, { skip }, async () => {
      const N = 1000, M = 20_000, LEN = 1000;
      const k0 = ns.counters(B);
      const c = ns.child(['stats', A, B, backend, String(N), String(M), String(LEN)]);
      const r = await c.wait(30_000);
      assert.equal(r.code, 0, r.stderr);
      type S = { txPackets: number; txBytes: number; rxPackets: number; rxBytes: number; txDrops: number; rxDrops: number };
      type X = { rxDropped: number; rxRingFull: number; rxInvalidDescs: number } | null;
      const [p1, p2] = c.json<{ phase: number; got: number; error: string | null; a: S; b: S; bBefore: S; xdp: X; xdpBefore: X; rxSlots: number }>();
      assert.ok(p1 && p2, r.stdout);
      // serviced: everything arrives, and both ends count it
      assert.equal(p1.error, null);
      assert.equal(p1.got, N);
      assert.deepEqual(p1.a, { txPackets: N, txBytes: N * LEN, rxPackets: 0, rxBytes: 0, txDrops: 0, rxDrops: 0 });
      assert.deepEqual(p1.b, { txPackets: 0, txBytes: 0, rxPackets: N, rxBytes: N * LEN, txDrops: 0, rxDrops: 0 });
      // not serviced: A still sends all M; what B's ring could not take is counted as rx drops
      assert.equal(p2.error, null, 'the frames B did get are the first ones, whole');
      assert.equal(p2.a.txPackets, N + M);
      assert.equal(p2.a.txBytes, (N + M) * LEN);
      assert.equal(p2.a.txDrops, 0);
      const drops = p2.bBefore.rxDrops;
      assert.ok(drops > 0, 'rx drops counted');
      assert.equal(p2.b.rxDrops, drops, 'taking frames adds no drops');
      assert.equal(p2.got + drops, M, 'every frame was either received or counted as dropped');
      assert.equal(p2.b.rxPackets, N + p2.got);
      assert.equal(p2.b.rxBytes, (N + p2.got) * LEN);
      if (backend === 'af_xdp') {
        // the kernel holds the fill ring's buffers (fillEntriesFor): exactly that many frames were kept
        assert.equal(p2.got, fillEntriesFor(p2.rxSlots, 1));
        assert.ok(p2.xdpBefore && p1.xdp);
        assert.equal(p1.xdp.rxDropped + p1.xdp.rxRingFull, 0);
        assert.equal(p2.xdpBefore.rxDropped + p2.xdpBefore.rxRingFull, drops, 'XDP_STATISTICS rx_dropped + rx_ring_full = stats().rxDrops');
        assert.equal(p2.xdpBefore.rxInvalidDescs, 0);
      } else {
        assert.equal(p2.xdp, null);
      }
      assert.equal(ns.counters(B).rxPackets - k0.rxPackets, N + M, `${B} rx_packets delta: the kernel saw all of them`);
    });
  }
});
