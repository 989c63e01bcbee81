// pkt-gen end to end, as a library: a receiver and a sender in worker threads on the same
// process region, through VALE and through zero-copy pipes. Every count is exact: pipes
// have back-pressure, and the VALE test sends no more frames than the receiver ring holds
// (VALE drops when the destination ring is full, as netmap does), so nothing here depends
// on scheduling or on timing.
//
// The end-to-end tests run concurrently (each on its own ports): a pkt-gen run costs a few
// hundred milliseconds of worker start-up and shutdown, and running them side by side keeps
// the file short on a 2-core machine without making any count timing-dependent.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pktGen, type PktGenResult } from '../src/apps/pkt-gen/run.js';
import { parsePktGenArgs } from '../src/apps/pkt-gen/options.js';
import { RX_VALE_SLOTS } from '../src/apps/pkt-gen/run.js';
import { listSwitches } from '../src/vale/api.js';
import { DEFAULT_SLOTS } from '../src/core/constants.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Run {
  result: Promise<PktGenResult>;
  /** Resolves once every thread has its port open (pkt-gen's "Sending on" / "Receiving from" line). */
  ready: Promise<void>;
  out: string[];
  err: string[];
}

function start(args: string[], signal?: AbortSignal): Run {
  const out: string[] = [], err: string[] = [];
  let opened!: () => void;
  const ready = new Promise<void>((r) => { opened = r; });
  const result = pktGen(parsePktGenArgs(args), {
    out: (l) => {
      out.push(l);
      if (/^(Sending on|Receiving from|Working on) /.test(l)) opened();
    },
    err: (l) => err.push(l),
    signal,
  });
  // a failed start must not leave `ready` pending forever
  result.catch(() => opened());
  return { result, ready, out, err };
}

/** Start the receiving side, wait until its port is open, then run the sender to completion. */
async function pair(rxArgs: string[], txArgs: string[]): Promise<{ rx: PktGenResult; tx: PktGenResult; rxRun: Run; txRun: Run }> {
  const rxRun = start(rxArgs);
  await rxRun.ready;
  const txRun = start(txArgs);
  const [tx, rx] = await Promise.all([txRun.result, rxRun.result]);
  return { rx, tx, rxRun, txRun };
}

const SENT_RE = /^Sent \d+ packets \d+ bytes \d+ events \d+ bytes each in \d+\.\d\d seconds\.$/;
const RECEIVED_RE = /^Received \d+ packets \d+ bytes \d+ events \d+ bytes each in \d+\.\d\d seconds\.$/;
const SPEED_RE = /^Speed: [\d.]+ [KMGT]?pps Bandwidth: .*bps \(raw .*bps\)\. Average batch: \d+\.\d\d pkts$/;

describe('pkt-gen end to end', { concurrency: true }, () => {
  test('tx -> rx through VALE: exact count with -n (receiver ring larger than the count)', async () => {
    const N = 4000; // < 4095, the capacity of a 4096-slot ring: the switch can never drop
    const { rx, tx, rxRun, txRun } = await pair(
      ['-i', 'vale5:rx@conf:slots=4096', '-f', 'rx', '-n', String(N)],
      ['-i', 'vale5:tx', '-f', 'tx', '-n', String(N), '-S', '02:00:00:00:05:01', '-D', '02:00:00:00:05:02'],
    );
    assert.equal(tx.packets, N);
    assert.equal(rx.packets, N);
    assert.equal(tx.bytes, N * 60);
    assert.equal(rx.bytes, N * 60);
    assert.equal(rx.seqErrors, 0);
    assert.ok(rxRun.out[0]?.startsWith('Receiving from vale5:rx@conf:slots=4096: 1 queues, 1 threads'), rxRun.out[0]);
    assert.equal(txRun.out[1], '10.0.0.1 -> 10.1.0.1 (02:00:00:00:05:01 -> 02:00:00:00:05:02)', txRun.out.join('\n'));
  });

  test('tx -> rx through a pipe: 200000 packets, none lost (pipes have back-pressure)', async () => {
    const N = 200000;
    const { rx, tx } = await pair(['-i', 'pr}1', '-f', 'rx', '-n', String(N)], ['-i', 'pr{1', '-f', 'tx', '-n', String(N)]);
    assert.equal(tx.packets, N);
    assert.equal(rx.packets, N);
    assert.equal(rx.bytes, tx.bytes);
    assert.ok(tx.events > 0 && tx.events <= N);
    assert.ok(rx.events > 0 && rx.events <= N);
  });

  test('tx -> rx with -l 1514 through a pipe counts bytes exactly', async () => {
    const N = 5000;
    const { rx, tx } = await pair(['-i', 'pl}1', '-f', 'rx', '-n', String(N)], ['-i', 'pl{1', '-f', 'tx', '-n', String(N), '-l', '1514']);
    assert.equal(tx.packets, N);
    assert.equal(rx.packets, N);
    assert.equal(tx.bytes, N * 1514);
    assert.equal(rx.bytes, N * 1514);
  });

  test('txseq -> rxseq through a pipe: exact count, no sequence errors', async () => {
    const N = 50000;
    const { rx, tx, rxRun } = await pair(['-i', 'ps}1', '-f', 'rxseq', '-n', String(N)], ['-i', 'ps{1', '-f', 'txseq', '-n', String(N)]);
    assert.equal(tx.packets, N);
    assert.equal(rx.packets, N);
    assert.equal(rx.seqErrors, 0);
    assert.equal(rxRun.err.filter((l) => /Sequence/.test(l)).length, 0, rxRun.err.join('\n'));
  });

  test('ping <-> pong through a pipe: RTTs measured and summarised', async () => {
    const N = 200;
    const { rx: pong, tx: ping, txRun } = await pair(['-i', 'pp}1', '-f', 'pong', '-n', String(N)], ['-i', 'pp{1', '-f', 'ping', '-n', String(N)]);
    assert.equal(ping.packets, N, 'every ping answered');
    assert.equal(pong.packets, N);
    assert.equal(ping.lost, 0);
    assert.ok(ping.rttMinNs !== undefined && ping.rttMinNs > 0, `rttMinNs ${ping.rttMinNs}`);
    assert.ok(ping.rttAvgNs !== undefined && ping.rttAvgNs >= ping.rttMinNs, `rttAvgNs ${ping.rttAvgNs} < min ${ping.rttMinNs}`);
    const rtt = txRun.out.find((l) => l.startsWith('RTT over'));
    assert.ok(rtt, txRun.out.join('\n'));
    assert.match(rtt, new RegExp(`^RTT over ${N} packets: min \\d+ av \\d+ ns$`));
  });

  test('-p 2 on a pipe: two threads, one ring each, exactly -n packets in total', async () => {
    const N = 100001; // odd: the threads get 50001 and 50000
    // one receiver thread bound to both rings of the pipe end
    const { rx, tx, txRun } = await pair(['-i', 'pm}1@conf:rings=2', '-f', 'rx', '-n', String(N)], ['-i', 'pm{1', '-f', 'tx', '-p', '2', '-n', String(N)]);
    assert.equal(tx.packets, N);
    assert.equal(rx.packets, N);
    assert.ok(txRun.out[0]?.startsWith('Sending on pm{1: 2 queues, 2 threads'), txRun.out[0]);
  });

  test('-p 2 on both sides of a pipe', async () => {
    const N = 60000;
    const { rx, tx, rxRun } = await pair(['-i', 'pn}1', '-f', 'rx', '-p', '2', '-n', String(N)], ['-i', 'pn{1', '-f', 'tx', '-p', '2', '-n', String(N)]);
    assert.equal(tx.packets, N);
    assert.equal(rx.packets, N);
    assert.ok(rxRun.out[0]?.startsWith('Receiving from pn}1: 2 queues, 2 threads'), rxRun.out[0]);
  });

  test('summary lines have pkt-gen\'s format', async () => {
    const N = 3000;
    const { rxRun, txRun } = await pair(['-i', 'pf}1', '-f', 'rx', '-n', String(N)], ['-i', 'pf{1', '-f', 'tx', '-n', String(N)]);
    // stdout: netmap's header lines, then the summary
    assert.match(txRun.out.shift()!, /^Sending on pf\{1: 1 queues, 1 threads and \d+ cpus\.$/);
    assert.equal(txRun.out.shift(), '10.0.0.1 -> 10.1.0.1 (00:00:00:00:00:00 -> ff:ff:ff:ff:ff:ff)');
    assert.match(rxRun.out.shift()!, /^Receiving from pf\}1: 1 queues, 1 threads and \d+ cpus\.$/);
    assert.equal(txRun.out.length, 3, txRun.out.join('\n'));
    assert.match(txRun.out[0]!, SENT_RE);
    assert.match(txRun.out[0]!, new RegExp(`^Sent ${N} packets ${N * 60} bytes \\d+ events 60 bytes each in `));
    assert.match(txRun.out[1]!, SPEED_RE);
    assert.equal(txRun.out[2], 'Dropped 0 packets: the switch could not deliver them (receiver ring full, or no destination).');
    assert.equal(rxRun.out.length, 3, rxRun.out.join('\n'));
    assert.match(rxRun.out[0]!, RECEIVED_RE);
    assert.match(rxRun.out[0]!, new RegExp(`^Received ${N} packets ${N * 60} bytes `));
    assert.match(rxRun.out[1]!, SPEED_RE);
    assert.equal(rxRun.out[2], 'Dropped 0 packets: this port\'s receive ring was full.');
  });

  test('--json prints one parseable line instead of the text summary', async () => {
    const N = 2000;
    const { txRun, rxRun } = await pair(['-i', 'pj}1', '-f', 'rx', '-n', String(N), '--json'], ['-i', 'pj{1', '-f', 'tx', '-n', String(N), '--json']);
    for (const [run, fn] of [[txRun, 'tx'], [rxRun, 'rx']] as const) {
      const json = run.out.filter((l) => l.startsWith('{'));
      assert.equal(json.length, 1, run.out.join('\n'));
      assert.equal(run.out[run.out.length - 1], json[0], 'the JSON line comes last');
      const j = JSON.parse(json[0]!) as Record<string, unknown>;
      assert.equal(j.function, fn);
      assert.equal(j.packets, N);
      assert.equal(j.bytes, N * 60);
      assert.equal(j.frame_len, 60);
      assert.equal(j.dropped, 0);
    }
  });

  test('rx on an idle port stops at --duration and reports nothing received', async () => {
    const run = start(['-i', 'vale6:idle', '-f', 'rx', '--duration', '0.3']);
    const r = await run.result;
    assert.equal(r.packets, 0);
    assert.deepEqual(run.out.slice(1), ['Received nothing.', 'Dropped 0 packets: this port\'s receive ring was full.']);
  });

  test('an AbortSignal stops an endless receiver and the summary is still produced', async () => {
    const ac = new AbortController();
    const run = start(['-i', 'pa}1', '-f', 'rx'], ac.signal);
    await run.ready;
    ac.abort();
    const r = await run.result;
    assert.equal(r.packets, 0);
    assert.deepEqual(run.out.slice(1), ['Received nothing.', 'Dropped 0 packets: this port\'s receive ring was full.']);
  });

  test('rx on a VALE port it creates asks for RX_VALE_SLOTS rx slots unless -C or @conf says otherwise', async () => {
    const slotsOf = async (args: string[], port: string): Promise<{ tx: number; rx: number }> => {
      const ac = new AbortController();
      const run = start(args, ac.signal);
      await run.ready;
      const p = listSwitches().find((s) => s.name === 'vale7')?.ports.find((x) => x.name === port || x.name === `vale7:${port}`);
      ac.abort();
      await run.result;
      assert.ok(p, `${port} listed while open`);
      return { tx: p.txSlots, rx: p.rxSlots };
    };
    assert.equal(RX_VALE_SLOTS, 4096);
    assert.deepEqual(await slotsOf(['-i', 'vale7:big', '-f', 'rx'], 'big'), { tx: DEFAULT_SLOTS, rx: RX_VALE_SLOTS });
    assert.deepEqual(await slotsOf(['-i', 'vale7:seq', '-f', 'rxseq'], 'seq'), { tx: DEFAULT_SLOTS, rx: RX_VALE_SLOTS });
    assert.deepEqual(await slotsOf(['-i', 'vale7:c', '-f', 'rx', '-C', '1024'], 'c'), { tx: 1024, rx: 1024 });
    assert.deepEqual(await slotsOf(['-i', 'vale7:n@conf:rx-slots=512', '-f', 'rx'], 'n'), { tx: DEFAULT_SLOTS, rx: 512 });
    // a sender keeps netmap's default
    assert.deepEqual(await slotsOf(['-i', 'vale7:tx', '-f', 'tx', '-R', '1000'], 'tx'), { tx: DEFAULT_SLOTS, rx: DEFAULT_SLOTS });
  });

  test('rx in a region too small for the larger ring opens with the default ring instead', () => {
    // 8 MiB holds the port's two default rings (2 x 1024 buffers) but not 4096 + 1024
    const nmts = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
    const r = spawnSync(process.execPath, [nmts, 'pkt-gen', '-i', 'vale7:small', '-f', 'rx', '--duration', '0.2', '--json'],
      { env: { ...process.env, NMTS_MEMORY: '8m' }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim().split('\n').pop()!).packets, 0);
  });

  test('a port that cannot be opened is reported, not hung on', async () => {
    await assert.rejects(start(['-i', 'vale5:bad@conf:slots=3', '-f', 'rx', '-n', '1']).result, /slots/);
  });
});
