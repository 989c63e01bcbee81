// udp-echo --workers 2 against Linux clients no one here wrote, in a network namespace of our
// own (dis-wk-<pid>): one veth end opened by netmap-ts (netmap:disa), the other (disb) with a
// Linux address. The kernel resolves our address by ARP (worker 0 answers: the spreader hands
// it every ARP request), `nc -u` from 8 fixed source ports and a Python socket client get
// every datagram back byte for byte, and each worker echoed the flows the symmetric hash gave it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Netns, ROOT } from './fixtures/netif-helpers.js';
import { needs } from './fixtures/requires.js';
import { eth, ipv4, udp } from './fixtures/vnf-frames.js';
import { rssFrameHash } from '../src/packet/toeplitz.js';

const skip = needs(['root', 'ip', 'nc', 'python3']);
const PEER = join(ROOT, 'test', 'fixtures', 'vnf-peer.py');
const NC_PORTS = [41001, 41002, 41003, 41004, 41005, 41006, 41007, 41008];

describe('udp-echo --workers 2 with Linux clients: nc -u and Python sockets through a veth', { skip, timeout: 300_000 }, () => {
  const ns = new Netns('wk', 'dis');
  before(() => {
    if (skip) return;
    ns.create([['disa', 'disb']]);
    ns.ip('addr', 'add', '10.79.0.2/24', 'dev', 'disb');
  });
  after(async () => { await ns.destroy(); });

  for (const layout of ['n-1', 'n-2'] as const) {
    test(`--layout ${layout}: every datagram echoed, each flow by the worker its hash names`, async () => {
      ns.ip('neigh', 'flush', 'dev', 'disb'); // the layout before this one left our MAC in the kernel's cache: ARP again
      const echo = ns.nmts(['vnf', 'udp-echo', '-i', 'netmap:disa', '--ip', '10.79.0.1/24', '--workers', '2', '--layout', layout, '--json']);
      await echo.waitFor(/^udp-echo: .* 2 workers, layout n-\d/m, 20_000, 'stderr');
      for (const p of NC_PORTS) {
        const out = ns.run('sh', ['-c', `printf 'hello from ${p}' | nc -u -w 2 -p ${p} 10.79.0.1 7`], { timeout: 30_000 });
        assert.equal(out, `hello from ${p}`);
      }
      const py = JSON.parse(ns.run('python3', [PEER, 'udp', '10.79.0.1', '7', '40'], { timeout: 120_000 })) as { sent: number; ok: number; bad: number; lost: number };
      assert.deepEqual(py, { sent: 40, ok: 40, bad: 0, lost: 0 }, 'every datagram (0..1472 bytes) echoed byte for byte');
      echo.kill('SIGTERM');
      const r = await echo.wait(15_000);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
        echoed: number; stats: Record<string, number>; workers: { stats: { echoed: number } }[]; distribution: { received: number; dropped: number; arpCopies: number };
      };
      assert.equal(s.echoed, NC_PORTS.length + 40);
      assert.ok(s.stats.arpRequestsIn! >= 1, 'the kernel\'s ARP request answered (by worker 0)');
      const ncOn = [0, 0];
      for (const p of NC_PORTS) {
        const f = eth('02:00:00:00:00:01', '02:00:00:00:00:02', 0x0800, ipv4('10.79.0.2', '10.79.0.1', 17, udp('10.79.0.2', '10.79.0.1', p, 7, [])));
        ncOn[rssFrameHash(f, 0, f.length) % 2]!++;
      }
      assert.ok(ncOn[0]! > 0 && ncOn[1]! > 0, 'the nc ports spread over both workers');
      s.workers.forEach((w, i) => assert.ok(w.stats.echoed >= ncOn[i]!, `worker ${i} echoed its ${ncOn[i]} nc flows (+ the Python flow if its): ${w.stats.echoed}`));
      assert.equal(s.workers[0]!.stats.echoed + s.workers[1]!.stats.echoed - NC_PORTS.length, 40, 'the Python client\'s flow on one worker');
      assert.equal(s.distribution.dropped, 0);
    });
  }
});
