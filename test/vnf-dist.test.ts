// Distribution to worker threads (apps/vnf/distribute.ts), no privileges: each VNF with
// --workers 2 in both layouts (n-1, n-2) through VALE ports, real traffic, exact counts.
//  - udp-echo (library call): the test's port sends 16 flows of datagrams and hostile frames
//    (truncated, non-IP, a bad checksum, ARP); every datagram is echoed, each flow's requests
//    and echoes hash to one worker (the symmetric RSS hash), each worker echoed exactly the
//    datagrams of its flows, every other frame counted once, sent = received + drops.
//  - firewall (library call) between two switches: `allow udp dst port 9`, default deny; the
//    answers pass with no rule of their own only because both directions of a flow reach the
//    worker whose connection table holds it.
//  - l4lb (processes): udp-client -> l4lb --workers 2 (NAT) -> two udp-echo backends and
//    back; no answer is untracked (a connection's two directions meet on one worker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { open } from '../src/index.js';
import type { Port } from '../src/core/port.js';
import { rssFrameHash } from '../src/packet/toeplitz.js';
import { udpEcho } from '../src/apps/vnf/udp-echo.js';
import { firewall } from '../src/apps/vnf/firewall.js';
import { l4lb } from '../src/apps/vnf/l4lb.js';
import { distribute, distributionSpinUs, distributionThreads, sumStats } from '../src/apps/vnf/distribute.js';
import { arp, eth, ipv4, udp } from './fixtures/vnf-frames.js';
import { NMTS, Proc } from './fixtures/netif-helpers.js';

const LAYOUTS = ['n-1', 'n-2'] as const;
const CLI_MAC = '02:00:00:00:00:02';
const ECHO_MAC = '02:00:00:00:00:e1';

/** Send frames in batches of 32 from `tx`; after each batch wait (up to 5 s) until `rx` received `expect(batch)` frames. */
async function exchange(tx: Port, rx: Port, frames: Uint8Array[], expect: (f: Uint8Array) => number, got: (f: Uint8Array) => void): Promise<void> {
  const offs = new Uint32Array(256), lens = new Uint16Array(256);
  for (let i = 0; i < frames.length; i += 32) {
    const batch = frames.slice(i, i + 32);
    let want = 0;
    for (const f of batch) { assert.ok(tx.inject(f)); want += expect(f); }
    tx.txsync();
    const until = performance.now() + 5000;
    while (want > 0 && performance.now() < until) {
      const n = rx.receiveBatch(offs, lens);
      for (let k = 0; k < n; k++) { got(rx.u8.slice(offs[k]!, offs[k]! + lens[k]!)); want--; }
      if (n === 0) await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(want, 0, `batch at ${i}: ${want} frames missing`);
  }
}

const flowOf = (f: Uint8Array): number => (f[34]! << 8) | f[35]!; // the UDP source port

for (const [layout, W] of [['n-1', 2], ['n-2', 2], ['n-1', 1]] as const) {
  test(`udp-echo --workers ${W} --layout ${layout} on VALE: every datagram echoed, flows stay on their worker, bad frames counted`, { timeout: 60_000 }, async () => {
    const sw = `valeds${process.pid}${layout === 'n-1' ? 'a' : 'b'}${W}`;
    const ac = new AbortController();
    let up!: () => void;
    const ready = new Promise<void>((r) => { up = r; });
    const run = udpEcho({ port: `${sw}:echo`, ip: '10.0.0.1/24', mac: ECHO_MAC, udpPort: 7, workers: W, layout, signal: ac.signal, onDistReady: () => up() });
    run.catch(() => up());
    await ready;
    const cli = open(`${sw}:cli`);
    try {
      const good: Uint8Array[] = [];
      for (let k = 0; k < 40; k++) for (let f = 0; f < 16; f++) good.push(eth(ECHO_MAC, CLI_MAC, 0x0800, ipv4('10.0.0.2', '10.0.0.1', 17, udp('10.0.0.2', '10.0.0.1', 1000 + f, 7, [k, f, 1, 2, 3, 4]))));
      const byWorker = new Array<number>(W).fill(0);
      const workerOfFlow = new Map<number, number>();
      for (const g of good) {
        const w = rssFrameHash(g, 0, g.length) % W;
        byWorker[w]!++;
        workerOfFlow.set(flowOf(g), w);
      }
      assert.ok(byWorker.every((n) => n > 0), 'the 16 flows spread over every worker');
      let echoes = 0;
      // an echo's hash is its request's (symmetric), so the worker that answered is the flow's
      await exchange(cli, cli, good, () => 1, (e) => {
        assert.equal(rssFrameHash(e, 0, e.length) % W, workerOfFlow.get((e[36]! << 8) | e[37]!), 'the echo hashes to its request\'s worker');
        echoes++;
      });
      assert.equal(echoes, good.length);
      // hostile and non-IP frames through the distributor: counted by the worker that got them
      const bad = [
        ...Array.from({ length: 5 }, () => eth(ECHO_MAC, CLI_MAC, 0x0800, [])), // an Ethernet header alone (VALE drops shorter frames itself)
        ...Array.from({ length: 4 }, (_, i) => eth(ECHO_MAC, CLI_MAC, 0x0800, [0x45, 0, 0, 40, i])), // truncated IPv4 header
        ...Array.from({ length: 4 }, () => eth(ECHO_MAC, CLI_MAC, 0x88b5, [1, 2, 3, 4])), // another ethertype
        eth(ECHO_MAC, CLI_MAC, 0x0800, ipv4('10.0.0.2', '10.0.0.1', 17, udp('10.0.0.2', '10.0.0.1', 2000, 7, [9, 9], 'bad'))),
      ];
      await exchange(cli, cli, bad, () => 0, () => {});
      const arps = Array.from({ length: 3 }, () => eth('ff:ff:ff:ff:ff:ff', CLI_MAC, 0x0806, arp(1, CLI_MAC, '10.0.0.2', '00:00:00:00:00:00', '10.0.0.1')));
      let arpReplies = 0;
      await exchange(cli, cli, arps, () => 1, (r) => { if (r[12] === 8 && r[13] === 6 && r[21] === 2) arpReplies++; });
      assert.equal(arpReplies, 3, 'worker 0 answers every ARP request');
      await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      const r = await run;
      const d = r.distribution!, ws = r.workers!;
      const sent = good.length + bad.length + arps.length;
      assert.equal(d.received, sent, 'the I/O stage received every frame sent');
      assert.equal(d.dropped, 0);
      assert.equal(d.nonIp, 4 + 3, 'the other ethertype and ARP are non-IP');
      assert.equal(ws.reduce((n, w) => n + w.handed, 0), d.received + d.arpCopies - d.pipeFull, 'handed = received + copies - drops');
      for (const w of ws) assert.equal(w.rx, w.handed, `worker ${w.worker} took every frame handed to it`);
      ws.forEach((w, i) => assert.equal((w.stats as { echoed: number }).echoed, byWorker[i], `worker ${i} echoed exactly its flows' datagrams`));
      assert.equal(r.echoed, good.length);
      assert.equal(r.received, good.length);
      const s = r.stats;
      assert.equal(s.truncated, 5 + 4);
      assert.equal(s.otherEthertype, 4);
      assert.equal(s.badUdpChecksum, 1);
      assert.equal(s.arpRequestsIn, 3);
      assert.equal(s.rxFrames, s.arpRequestsIn! + s.arpRepliesIn! + s.icmpEchoIn! + s.udpIn! + s.intercepted! + s.rxDropped, 'every frame a worker took: used or counted');
      assert.equal(d.sent, ws.reduce((n, w) => n + w.tx, 0), 'the I/O stage sent every frame the workers answered');
      assert.equal(d.sent, good.length + 3 + 1, 'echoes, ARP replies and worker 0\'s gratuitous ARP');
    } finally {
      cli.close();
      ac.abort();
      await run.catch(() => {});
    }
  });

}

for (const layout of LAYOUTS) {
  test(`firewall --workers 2 --layout ${layout} between two switches: answers pass through the connection table of their flow's worker`, { timeout: 60_000 }, async () => {
    const tag = `${process.pid}${layout === 'n-1' ? 'a' : 'b'}`;
    const A = `valedfa${tag}`, B = `valedfb${tag}`;
    const ac = new AbortController();
    let up!: () => void;
    const ready = new Promise<void>((r) => { up = r; });
    const run = firewall({ a: `${A}:fw`, b: `${B}:fw`, rulesText: 'allow udp dst port 9\n', workers: 2, layout, signal: ac.signal, onDistReady: () => up() });
    run.catch(() => up());
    await ready;
    const c = open(`${A}:c`), sv = open(`${B}:s`);
    const SRV_MAC = '02:00:00:00:00:09';
    try {
      const req: Uint8Array[] = [], rep: Uint8Array[] = [];
      for (let k = 0; k < 20; k++) {
        for (let f = 0; f < 16; f++) {
          req.push(eth(SRV_MAC, CLI_MAC, 0x0800, ipv4('10.0.0.2', '10.1.0.1', 17, udp('10.0.0.2', '10.1.0.1', 3000 + f, 9, [k]))));
          rep.push(eth(CLI_MAC, SRV_MAC, 0x0800, ipv4('10.1.0.1', '10.0.0.2', 17, udp('10.1.0.1', '10.0.0.2', 9, 3000 + f, [k, 1]))));
        }
      }
      await exchange(c, sv, req, () => 1, () => {});
      await exchange(sv, c, rep, () => 1, () => {}); // no rule allows these: only the table
      const denied = Array.from({ length: 10 }, (_, i) => eth(SRV_MAC, CLI_MAC, 0x0800, ipv4('10.0.0.2', '10.1.0.1', 17, udp('10.0.0.2', '10.1.0.1', 4000 + i, 53, [1]))));
      await exchange(c, sv, denied, () => 0, () => {});
      await exchange(c, sv, [eth('ff:ff:ff:ff:ff:ff', CLI_MAC, 0x0806, arp(1, CLI_MAC, '10.0.0.2', '00:00:00:00:00:00', '10.0.0.3'))], () => 1, () => {});
      await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      const r = await run;
      const f = r.firewall, d = r.distribution!;
      assert.equal(r.aToB, req.length + 1);
      assert.equal(r.bToA, rep.length);
      assert.equal(f.ruleAllowed, 16, 'the first frame of each flow by the rule');
      assert.equal(f.established, req.length - 16 + rep.length, 'the rest, answers included, by the table');
      assert.equal(f.defaultDenied, 10);
      assert.equal(f.arpPassed, 1);
      assert.equal(f.conntrack.created, 16, 'each flow entered once, in one worker\'s table');
      assert.equal(d.received, req.length + rep.length + 10 + 1);
      assert.equal(d.dropped, 0);
      assert.equal(d.sent, r.aToB + r.bToA);
      const ws = r.workers!;
      assert.ok(ws.every((w) => w.rx > 0), 'both workers had flows');
      assert.equal(ws.reduce((n, w) => n + w.rx, 0), d.received + d.arpCopies, 'every frame handed to a worker was taken');
      assert.equal(ws.reduce((n, w) => n + w.drops, 0), 10, 'the denied frames are the workers\' only drops');
      const perWorkerCreated = ws.map((w) => (w.stats as { firewall: { conntrack: { created: number } } }).firewall.conntrack.created);
      assert.equal(perWorkerCreated[0]! + perWorkerCreated[1]!, 16);
    } finally {
      c.close();
      sv.close();
      ac.abort();
      await run.catch(() => {});
    }
  });

  test(`l4lb --workers 2 --layout ${layout} (processes): udp-client -> l4lb (NAT) -> two udp-echo backends and back`, { timeout: 120_000 }, async () => {
    const SW = `valedl${process.pid}${layout === 'n-1' ? 'a' : 'b'}`;
    const nmts = (args: string[]): Proc => new Proc(spawn(process.execPath, [NMTS, 'vnf', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }), `nmts vnf ${args.join(' ')}`);
    const be = [11, 12].map((b) => nmts(['udp-echo', '-i', `${SW}:b${b}`, '--ip', `10.0.0.${b}/24`, '--udp-port', '80', '--json']));
    for (const b of be) await b.waitFor(/^udp-echo: /m, 20_000, 'stderr');
    const lb = nmts(['l4lb', '-i', `${SW}:lb`, '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80', '--backend', '10.0.0.11', '--backend', '10.0.0.12', '--workers', '2', '--layout', layout, '--json']);
    try {
      await lb.waitFor(/2 workers, layout n-\d, zerocopy yes/, 20_000, 'stderr');
      const c = await nmts(['udp-client', '-i', `${SW}:cli`, '--ip', '10.0.0.2/24', '--server', '10.0.0.100:80', '--flows', '32', '--rate', '2000', '-n', '2000', '--json']).wait(60_000);
      assert.equal(c.code, 0, c.stderr);
      const cr = JSON.parse(c.stdout.trim()) as { sent: number; received: number; lost: number };
      assert.equal(cr.sent, 2000);
      assert.ok(cr.received >= 1800, `echoes came back from the VIP (${cr.received} of 2000)`);
      lb.kill('SIGTERM');
      const l = await lb.wait(15_000);
      assert.equal(l.code, 0, l.stderr);
      const lr = JSON.parse(l.stdout.trim()) as {
        counters: Record<string, number>; backends: { flows: number; up: boolean }[];
        workers: { rx: number; stats: { counters: Record<string, number> } }[]; distribution: { received: number; dropped: number; arpCopies: number };
      };
      assert.equal(lr.counters.replyUntracked, 0, 'every answer reached the worker that holds its connection');
      assert.equal(lr.counters.moved, 0);
      assert.equal(lr.backends[0]!.flows + lr.backends[1]!.flows, 32, 'each of the 32 flows placed once, by one worker');
      assert.ok(lr.workers.every((w) => w.stats.counters.toBackend! > 0), 'both workers balanced flows');
      assert.ok(lr.counters.toBackend! >= cr.received && lr.counters.toClient! >= cr.received);
      assert.equal(lr.workers.reduce((n, w) => n + w.rx, 0), lr.distribution.received + lr.distribution.arpCopies - lr.distribution.dropped);
    } finally {
      lb.kill('SIGKILL');
      for (const b of be) { b.kill('SIGKILL'); await b.wait(10_000).catch(() => {}); }
    }
  });
}

test('a worker that throws stops the run with its error: udp-echo with a gateway off its link, l4lb with a backend off it', { timeout: 30_000 }, async () => {
  const sw = `valedse${process.pid}`;
  await assert.rejects(udpEcho({ port: `${sw}:e`, ip: '10.0.0.1/24', gateway: '10.9.9.9', workers: 2, layout: 'n-1' }), /worker \d: gateway 10\.9\.9\.9 is not inside/);
  await assert.rejects(l4lb({ port: `${sw}:l`, ip: '10.0.0.1/24', vip: '10.0.0.100', vipPort: 80, backends: ['10.5.0.1'], workers: 3, layout: 'n-2' }), /worker \d: backend 10\.5\.0\.1 is not inside/);
  // the ports and pipes were closed: the names can be opened again
  const again = open(`${sw}:e{0`);
  again.close();
});

test('sumStats adds numbers member by member and keeps text and names', () => {
  assert.deepEqual(sumStats({ a: 1, s: 'x', v: [1, { k: 2 }], o: { n: 3 } }, { a: 2, s: 'y', v: [3, { k: 4 }], o: { n: 5 } }), { a: 3, s: 'x', v: [4, { k: 6 }], o: { n: 8 } });
  assert.deepEqual(sumStats({ rules: [{ line: 3, hits: 1 }] }, { rules: [{ line: 3, hits: 2 }] }), { rules: [{ line: 3, hits: 3 }] }, 'a rule\'s line is not a count');
});

test('distribution threads sleep at once when they outnumber the CPUs, and spin as ports do otherwise', () => {
  assert.equal(distributionThreads(1, 'n-1'), 2);
  assert.equal(distributionThreads(3, 'n-2'), 5);
  // n-1 with one worker, plus the thread that feeds it, on 2 CPUs: no spin
  assert.equal(distributionSpinUs(distributionThreads(1, 'n-1'), 2, undefined), 0);
  assert.equal(distributionSpinUs(4, 4, undefined), 0);
  // each thread (and the feeder) can have a CPU: the port default
  assert.equal(distributionSpinUs(3, 4, undefined), null);
  assert.equal(distributionSpinUs(distributionThreads(4, 'n-2'), 16, ''), null);
  // NMTS_SPIN_US set by the user wins
  assert.equal(distributionSpinUs(8, 2, '50'), null);
  assert.equal(distributionSpinUs(8, 2, '0'), null);
});

test('distribute() refuses a spin that is not a number of microseconds >= 0', async () => {
  const vnf = { kind: 'udp-echo' as const, ip: '10.0.0.1/24', udpPort: 7, mac: '02:00:00:00:00:01', staticArp: [], batch: 512 };
  for (const spinUs of [-1, Number.NaN, Infinity]) {
    await assert.rejects(distribute({ vnf, ports: [`valedsp${process.pid}:e`], workers: 1, layout: 'n-1', spinUs }), /spinUs .*microseconds/);
  }
});
