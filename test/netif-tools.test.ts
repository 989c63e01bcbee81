// The traffic tools on Linux interfaces (issue #5), both backends, in a network namespace of our
// own: `nmts replay -i netmap:vethA` delivers exactly the file's frames to the peer (the kernel's
// counters and tcpdump agree, byte for byte), and `nmts capture -i netmap:vethA -w` writes exactly
// what tcpreplay sent on the peer, in a file tcpdump reads. Runs as root only.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  BACKENDS, Netns, pcapBytes, pcapFrames, skipReason, tcpdumpRead, testFrames, writePcap,
} from './fixtures/netif-helpers.js';

const skip = skipReason(['tcpdump', 'tcpreplay']);
const A = 'vethA', B = 'vethB';
// fewer frames than an AF_XDP rx ring holds (1024): a capture that is scheduled late (a busy machine) loses none
const N = 1000;

describe('nmts replay and nmts capture on netmap:IF', { timeout: 60_000 }, () => {
  const ns = new Netns('tools');
  const frames = testFrames(N); // some VLAN-tagged: the tags are part of the frames, both ways
  const bytes = frames.reduce((a, f) => a + f.length, 0);
  let file = '';
  before(() => {
    if (skip) return;
    ns.create([[A, B]]);
    file = join(ns.dir, 'frames.pcap');
    writePcap(file, frames);
  });
  after(async () => {
    await ns.destroy();
  });

  for (const backend of BACKENDS) {
    test(`${backend}: nmts replay -i netmap:${A} delivers exactly the file's frames to ${B} (kernel counters, tcpdump)`, { skip }, async () => {
      const out = join(ns.dir, `replayed-${backend}.pcap`);
      const dump = await ns.tcpdump(B, out);
      const k0 = ns.counters(B);
      const r = await ns.nmts(['replay', '-i', `netmap:${A}`, '-t', file], { NMTS_BACKEND: backend }).wait(20_000);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Actual: ${N} packets \\(${bytes} bytes\\) sent in `, 'm'), r.stdout);
      assert.match(r.stdout, new RegExp(`Statistics for network device: netmap:${A}\\n\\s+Successful packets:\\s+${N}\\n\\s+Failed packets:\\s+0\\n`), r.stdout);
      await dump.stop(pcapBytes(frames.map((f) => f.length)));
      const k1 = ns.counters(B);
      assert.equal(k1.rxPackets - k0.rxPackets, N, `${B} rx_packets delta`);
      assert.equal(k1.rxBytes - k0.rxBytes, bytes, `${B} rx_bytes delta`);
      assert.match(dump.proc.stderr, /\b0 packets dropped by kernel/, dump.proc.stderr);
      const seen = tcpdumpRead(out);
      assert.equal(seen.count, N, 'frames tcpdump -r reads back');
      assert.deepEqual(seen.lengths, frames.map((f) => f.length));
      const got = pcapFrames(out);
      for (let i = 0; i < N; i++) assert.deepEqual(got[i], frames[i], `frame ${i}`);
    });
  }

  for (const backend of BACKENDS) {
    test(`${backend}: nmts capture -i netmap:${A} -w out.pcap -c N captures exactly what tcpreplay sends on ${B}`, { skip }, async () => {
      const out = join(ns.dir, `captured-${backend}.pcap`);
      const k0 = ns.counters(B);
      const cap = ns.nmts(['capture', '-i', `netmap:${A}`, '-w', out, '-c', String(N)], { NMTS_BACKEND: backend });
      await cap.waitFor(new RegExp(`listening on netmap:${A}, link-type EN10MB \\(Ethernet\\)`), 10_000, 'stderr');
      // capture does not print the backend: the XDP program on the interface shows which one it uses
      assert.equal(ns.xdpProg(A) !== null, backend === 'af_xdp', `XDP program on ${A} while capturing`);
      const rep = ns.run('tcpreplay', ['-i', B, '--pps=50000', file]);
      assert.match(rep, new RegExp(`Successful packets:\\s+${N}\\b`), rep);
      const r = await cap.wait(15_000);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`^${N} packets captured\\n${N} packets received by filter\\n0 packets dropped by kernel$`, 'm'), r.stderr);
      assert.equal(ns.counters(B).txPackets - k0.txPackets, N, `${B} tx_packets delta`);
      const seen = tcpdumpRead(out);
      assert.equal(seen.count, N, 'frames tcpdump -r reads in the capture');
      assert.deepEqual(seen.lengths, frames.map((f) => f.length));
      const got = pcapFrames(out);
      assert.equal(got.length, N);
      for (let i = 0; i < N; i++) assert.deepEqual(got[i], frames[i], `frame ${i}`);
    });
  }
});
