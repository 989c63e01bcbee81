import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatFixed, norm, intervalPps, intervalBps, intervalLine, summaryLines, RateWindow,
  RttHistogram, log2Bucket, rttLine, histogramLine, rttSummary, jsonSummary, timestampPrefix, dropLine,
} from '../src/apps/pkt-gen/report.js';

test('formatFixed follows printf, ties to even', () => {
  assert.equal(formatFixed(2.5, 0), '2');
  assert.equal(formatFixed(3.5, 0), '4');
  assert.equal(formatFixed(0.125, 2), '0.12');
  assert.equal(formatFixed(0.375, 2), '0.38');
  assert.equal(formatFixed(1.005, 2), '1.00'); // 1.005 is really 1.00499999...
  assert.equal(formatFixed(33.61, 2), '33.61');
  assert.equal(formatFixed(-1.5, 0), '-2');
  assert.equal(formatFixed(1e22, 1), '10000000000000000000000.0');
  assert.equal(formatFixed(Infinity, 2), 'inf');
});

test('norm: units, spacing and boundaries', () => {
  assert.equal(norm(14880000, true), '14.880 M');
  assert.equal(norm(0, true), '0.000 ');
  assert.equal(norm(999, true), '999.000 ');
  // below 1000 stays unitless even when it prints as 1000.000, as in ctrs.h
  assert.equal(norm(999.9999, true), '1000.000 ');
  assert.equal(norm(1000, true), '1.000 K');
  assert.equal(norm(999999, true), '999.999 K');
  assert.equal(norm(1e6, true), '1.000 M');
  assert.equal(norm(1e9, true), '1.000 G');
  assert.equal(norm(1e12, true), '1.000 T');
  assert.equal(norm(2.5e15, true), '2500.000 T'); // T is the largest unit
  assert.equal(norm(14880000, false), '14880000 ');
  assert.equal(norm(2.5, false), '2 ');
  assert.equal(`${norm(6728063, true)}pps`, '6.728 Mpps');
  assert.equal(`${norm(500, true)}pps`, '500.000 pps');
});

test('interval line matches pkt-gen', () => {
  const usec = 1001031;
  const pkts = 6735000;
  const pps = intervalPps(pkts, usec);
  assert.equal(pps, 6728063);
  const bps = intervalBps(pkts, pkts * 60, usec);
  assert.equal(
    intervalLine({ pps, pkts, bps, usec, avgBatch: 512, minSpace: 0 }, { normalize: true, showAvg: false }),
    '6.728 Mpps (6.735 Mpkts 3.229 Gbps in 1001031 usec) 512.00 avg_batch 0 min_space',
  );
  assert.equal(
    intervalLine({ pps, pkts, bps, usec, avgBatch: 512, minSpace: 0, avgPps: 6730000, stdPps: 2000 },
      { normalize: true, showAvg: true }),
    '6.728 Mpps [avg/std 6.730 M/2.000 K pps] (6.735 Mpkts 3.229 Gbps in 1001031 usec) 512.00 avg_batch 0 min_space',
  );
  assert.equal(
    intervalLine({ pps: 1000, pkts: 1000, bps: 480000, usec: 1000000, avgBatch: 1, minSpace: 1023 },
      { normalize: false, showAvg: false }),
    '1000 pps (1000 pkts 480000 bps in 1000000 usec) 1.00 avg_batch 1023 min_space',
  );
  // -B adds 24 bytes per packet to the bandwidth
  assert.equal(intervalBps(1000, 60000, 1e6, 24), 1000 * 84 * 8);
  assert.equal(intervalPps(5, 0), 0);
});

test('summary lines match tx_output()', () => {
  const s = {
    direction: 'Sent' as const, pkts: 500111222, bytes: 30006673320, events: 976780, seconds: 33.61,
    rawBytes: 30006673320,
  };
  assert.deepEqual(summaryLines(s, true), [
    'Sent 500111222 packets 30006673320 bytes 976780 events 60 bytes each in 33.61 seconds.',
    'Speed: 14.880 Mpps Bandwidth: 7.142 Gbps (raw 7.142 Gbps). Average batch: 512.00 pkts',
  ]);
  const raw = summaryLines({ ...s, direction: 'Received', rawBytes: s.bytes + 24 * s.pkts }, true);
  assert.equal(raw[1], 'Speed: 14.880 Mpps Bandwidth: 7.142 Gbps (raw 9.999 Gbps). Average batch: 512.00 pkts');
  assert.ok(raw[0]?.startsWith('Received 500111222 packets '));
  assert.deepEqual(
    summaryLines({ direction: 'Received', pkts: 10, bytes: 1000, events: 4, frameLen: 99, seconds: 2, rawBytes: 1000 }, false),
    [
      'Received 10 packets 1000 bytes 4 events 99 bytes each in 2.00 seconds.',
      'Speed: 5 pps Bandwidth: 4000 bps (raw 4000 bps). Average batch: 2.50 pkts',
    ],
  );
  assert.deepEqual(summaryLines({ direction: 'Received', pkts: 0, bytes: 0, events: 0, seconds: 3, rawBytes: 0 }, true),
    ['Received nothing.']);
});

test('drop line after the summary, for senders and receivers', () => {
  assert.equal(dropLine('Sent', 12), 'Dropped 12 packets: the switch could not deliver them (receiver ring full, or no destination).');
  assert.equal(dropLine('Received', 0), 'Dropped 0 packets: this port\'s receive ring was full.');
});

test('RateWindow mean and std-dev over a sliding window', () => {
  const w = new RateWindow(4);
  assert.equal(w.mean(), 0);
  w.push(2);
  w.push(4);
  w.push(4);
  w.push(4);
  assert.equal(w.mean(), 3.5);
  assert.ok(Math.abs(w.std() - Math.sqrt(0.75)) < 1e-12);
  w.push(4); // pushes the 2 out
  assert.equal(w.mean(), 4);
  assert.equal(w.std(), 0);
  // zero samples are ignored, as in pkt-gen
  const z = new RateWindow(15);
  z.push(10);
  z.push(0);
  z.push(20);
  assert.equal(z.mean(), 15);
  assert.equal(z.std(), 5);
  z.clear();
  assert.equal(z.mean(), 0);
  assert.throws(() => new RateWindow(0), RangeError);
});

test('RTT histogram buckets are log2 of nanoseconds', () => {
  assert.equal(log2Bucket(0), 0);
  assert.equal(log2Bucket(1), 0);
  assert.equal(log2Bucket(2), 1);
  assert.equal(log2Bucket(1023), 9);
  assert.equal(log2Bucket(1024), 10);
  assert.equal(log2Bucket(2 ** 32), 32);
  assert.equal(log2Bucket(2 ** 40 + 5), 40);
  const h = new RttHistogram();
  for (const ns of [5000, 6000, 8191, 8192, 20000]) h.add(ns);
  assert.equal(h.buckets[12], 3);
  assert.equal(h.buckets[13], 1);
  assert.equal(h.buckets[14], 1);
  assert.equal(h.count, 5);
  assert.equal(h.minNs, 5000);
  assert.equal(h.avgNs(), (5000 + 6000 + 8191 + 8192 + 20000) / 5);
  assert.deepEqual(h.range(), { kmin: 12, kmax: 14 });
  assert.equal(histogramLine(h), 'k: 4096 .. 16384\n\t     3     1     1');
  h.reset();
  assert.equal(h.range(), undefined);
  assert.equal(histogramLine(h), 'k: 0 .. 0\n\t');
  h.add(100);
  h.add(1000);
  assert.equal(histogramLine(h), 'k: 64 .. 512\n\t     1     0     0     1');
});

test('ping lines', () => {
  assert.equal(rttLine(1000, 5012, 7311.8), 'count 1000 RTT: min 5012 av 7311 ns');
  assert.equal(rttLine(0, Infinity, 0), 'count 0 RTT: min 0 av 0 ns');
  assert.equal(rttSummary(5000, 4980, 7400.2), 'RTT over 5000 packets: min 4980 av 7400 ns');
});

test('JSON summary is one parseable line', () => {
  const line = jsonSummary({
    function: 'tx', port: 'vale0:1', packets: 500111222, bytes: 30006673320, events: 976780, seconds: 33.61,
  });
  assert.ok(!line.includes('\n'));
  const j = JSON.parse(line) as Record<string, unknown>;
  assert.deepEqual(Object.keys(j), ['function', 'port', 'packets', 'bytes', 'events', 'seconds', 'pps', 'mpps',
    'gbps', 'raw_gbps', 'avg_batch', 'frame_len', 'dropped']);
  assert.equal(j['function'], 'tx');
  assert.equal(j['port'], 'vale0:1');
  assert.equal(j['packets'], 500111222);
  assert.equal(j['pps'], 14879834);
  assert.equal(j['mpps'], 14.879834);
  assert.equal(j['gbps'], 7.14232);
  assert.equal(j['raw_gbps'], j['gbps']);
  assert.equal(j['avg_batch'], 512);
  assert.equal(j['frame_len'], 60);
  assert.equal(j['dropped'], 0);
  assert.equal(JSON.parse(jsonSummary({ function: 'tx', port: 'vale0:1', packets: 10, bytes: 600, events: 1, seconds: 1, dropped: 4 }))['dropped'], 4);
  const p = JSON.parse(jsonSummary({
    function: 'ping', port: 'vale1:a', packets: 10, bytes: 600, events: 10, seconds: 0, rttMinNs: 4980.7, rttAvgNs: 7400,
  })) as Record<string, unknown>;
  assert.equal(p['mpps'], 0);
  assert.equal(p['rtt_min_ns'], 4980);
  assert.equal(p['rtt_avg_ns'], 7400);
});

test('timestamp prefix', () => {
  // 1700000749.057310 s since the epoch
  assert.equal(timestampPrefix(1700000749057.31), '749.057310 main_thread ');
  assert.equal(timestampPrefix(new Date(1700000005001), 'start_threads'), '005.001000 start_threads ');
  assert.match(timestampPrefix(), /^\d{3}\.\d{6} main_thread $/);
});
