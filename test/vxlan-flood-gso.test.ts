// A TCP super-frame to an unknown MAC on a VXLAN port with two remotes (head-end replication):
// the port cuts it into segments and sends each remote every segment with UDP GSO (sendGso's
// flood), and what each remote receives is, datagram by datagram, a VXLAN header with the VNI
// and the segment Linux's GSO would have made (the independent model of
// fixtures/gso-frames.ts). On loopback: the port's local address 127.0.0.1, the remotes two
// UDP sockets of this test at 127.0.0.2 and 127.0.0.3.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needs } from './fixtures/requires.js';
import { linuxSegments, payloadOf, superFrame, TCP_ACK } from './fixtures/gso-frames.js';
import { sendChain, tsoHdr } from './fixtures/vnet-chain.js';

const skip = needs(['root'], 'a raw IP socket (the VXLAN port sends through one)');
const dir = mkdtempSync(join(tmpdir(), 'nmts-vxflood-'));
process.env.NMTS_SHM_DIR = dir;
const PORT = 47_000 + (process.pid % 2000);
const MSS = 1400;

/** Datagrams arriving at addr:PORT, kept in order. */
function receiver(addr: string): Promise<{ sock: Socket; got: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4'), got: Buffer[] = [];
    sock.on('message', (m) => got.push(m));
    sock.once('error', reject);
    sock.bind(PORT, addr, () => resolve({ sock, got }));
  });
}

describe('VXLAN: a super-frame flooded to two remotes leaves as UDP GSO to each, cut as Linux cuts it', { skip }, () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('every remote gets every segment, each behind a VXLAN header with the VNI', { timeout: 30_000 }, async () => {
    await import('../src/index.js');
    const { open } = await import('../src/core/open.js');
    const { parseVxlanSpec, storeVxlanConfig } = await import('../src/ports/vxlan/config.js');
    const { readVxlanStats } = await import('../src/ports/vxlan/stats.js');
    storeVxlanConfig('vxf0', parseVxlanSpec(`vni=4242,local=127.0.0.1,remote=127.0.0.2,remote=127.0.0.3,port=${PORT}`));
    const r2 = await receiver('127.0.0.2'), r3 = await receiver('127.0.0.3');
    const port = open('netmap:vxf0', { vnetHdrLen: 10 });
    try {
      const sf = superFrame({ family: 4, proto: 'tcp', payload: payloadOf(6 * MSS + 321, 17), partial: true, flags: TCP_ACK, df: true, ipId: 7 });
      const want = linuxSegments(sf.frame, sf.layout, 4, 'tcp', MSS);
      assert.equal(want.length, 7);
      sendChain(port, tsoHdr(10, sf, MSS));
      const until = Date.now() + 5000;
      while ((r2.got.length < want.length || r3.got.length < want.length) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      for (const [name, r] of [['127.0.0.2', r2], ['127.0.0.3', r3]] as const) {
        assert.equal(r.got.length, want.length, `${name}: one datagram per segment`);
        r.got.forEach((d, i) => {
          assert.deepEqual([...d.subarray(0, 8)], [0x08, 0, 0, 0, 0, 0x10, 0x92, 0], `${name} datagram ${i}: flags I, VNI 4242`);
          assert.deepEqual([...d.subarray(8)], [...want[i]], `${name} datagram ${i}: the segment Linux's GSO makes`);
        });
      }
      const s = readVxlanStats('vxf0')!.counters;
      assert.equal(s.tx_flooded, want.length, 'each segment counted flooded once');
      assert.equal(s.tx_datagrams, 2 * want.length, 'and sent to both remotes');
      assert.ok(s.tx_gso_sends >= 2 && s.tx_gso_sends < 2 * want.length, `as UDP GSO sends (${s.tx_gso_sends}), not one per datagram`);
      assert.equal(s.tx_errors + s.tx_bad_vnet + s.tx_too_big, 0);
    } finally {
      port.close();
      r2.sock.close();
      r3.sock.close();
    }
  });
});
