import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parsePktGenArgs, parseRingConfig, resolveWaitLink, defaultBurst, PktGenUsageError,
  OPT_DUMP, OPT_RUBBISH, REFUSED_BITS, OPT_RANDOM_SRC, OPT_RANDOM_DST, OPT_PPS_STATS, OPT_COPY,
} from '../src/apps/pkt-gen/options.js';
import { pktGenUsage } from '../src/apps/pkt-gen/usage.js';

/** Assert that parsing argv throws a PktGenUsageError with exactly this message. */
function throwsUsage(argv: string[], message: string): void {
  assert.throws(() => parsePktGenArgs(argv), (e: unknown) => {
    assert.ok(e instanceof PktGenUsageError, `expected PktGenUsageError, got ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}

test('defaults', () => {
  const o = parsePktGenArgs(['-i', 'vale0:1']);
  assert.equal(o.port, 'vale0:1');
  assert.equal(o.function, 'rx');
  assert.equal(o.count, 0);
  assert.equal(o.frameLen, 60);
  assert.equal(o.frameLenMin, undefined);
  assert.equal(o.burst, 512);
  assert.equal(o.family, 4);
  assert.equal(o.srcRange, '10.0.0.1:1234');
  assert.equal(o.dstRange, '10.1.0.1:1234');
  assert.equal(o.srcMac, '00:00:00:00:00:00');
  assert.equal(o.srcMacGiven, false);
  assert.equal(o.dstMac, 'ff:ff:ff:ff:ff:ff');
  assert.equal(o.randomSrc, false);
  assert.equal(o.randomDst, false);
  assert.equal(o.cpuPin, undefined);
  assert.equal(o.cpus, 1);
  assert.equal(o.threads, 1);
  assert.equal(o.reportMs, 1000);
  assert.equal(o.waitLinkSec, undefined);
  assert.equal(o.exitOnIdle, false);
  assert.equal(o.rate, 0);
  assert.equal(o.dump, false);
  assert.equal(o.virtioHdrLen, 0);
  assert.equal(o.pcapFile, undefined);
  assert.equal(o.frags, 1);
  assert.equal(o.fragSize, undefined);
  assert.equal(o.indirect, false);
  assert.equal(o.rubbish, false);
  assert.equal(o.ppsStats, false);
  assert.equal(o.framingBytes, 0);
  assert.equal(o.normalize, true);
  assert.equal(o.ringConfig, undefined);
  assert.equal(o.optionBits, 0);
  assert.equal(o.verbose, 0);
  assert.equal(o.help, false);
  assert.equal(o.json, false);
  assert.equal(o.durationSec, undefined);
});

test('every value option, separate and attached', () => {
  const o = parsePktGenArgs([
    '-i', 'vale0:1', '-f', 'tx', '-n', '1000', '-l', '1514', '-b', '64', '-s', '10.0.0.5:99',
    '-d10.1.0.1-10.1.0.9', '-S', '02:00:00:00:00:01', '-D', 'aa:bb:cc:dd:ee:ff', '-a', '3',
    '-c0', '-p', '4', '-T', '250', '-w', '5', '-R', '1000000', '-H', '12', '-P', 'x.pcap',
    '-F', '3', '-M', '512', '-C', '1024,512,2,1', '-o', '4',
  ]);
  assert.equal(o.function, 'tx');
  assert.equal(o.count, 1000);
  assert.equal(o.frameLen, 1514);
  assert.equal(o.burst, 64);
  assert.equal(o.srcRange, '10.0.0.5:99');
  assert.equal(o.dstRange, '10.1.0.1-10.1.0.9');
  assert.equal(o.srcMac, '02:00:00:00:00:01');
  assert.equal(o.srcMacGiven, true);
  assert.equal(o.dstMac, 'aa:bb:cc:dd:ee:ff');
  assert.equal(o.cpuPin, 3);
  assert.equal(o.cpus, 0);
  assert.equal(o.threads, 4);
  assert.equal(o.reportMs, 250);
  assert.equal(o.waitLinkSec, 5);
  assert.equal(o.rate, 1_000_000);
  assert.equal(o.virtioHdrLen, 12);
  assert.equal(o.pcapFile, 'x.pcap');
  assert.equal(o.frags, 3);
  assert.equal(o.fragSize, 512);
  assert.equal(o.ringConfig, '1024,512,2,1');
  assert.equal(o.optionBits, OPT_COPY);
});

test('every flag option', () => {
  const o = parsePktGenArgs(['-i', 'p', '-6', '-N', '-W', '-v', '-X', '-r', '-z', '-Z', '-A', '-B', '-v']);
  assert.equal(o.family, 6);
  assert.equal(o.normalize, false);
  assert.equal(o.indirect, false);
  assert.equal(o.exitOnIdle, true);
  assert.equal(o.verbose, 2);
  assert.equal(o.dump, true);
  assert.equal(o.rubbish, true);
  assert.equal(o.randomSrc, true);
  assert.equal(o.randomDst, true);
  assert.equal(o.ppsStats, true);
  assert.equal(o.framingBytes, 24);
  assert.equal(o.optionBits, OPT_DUMP | OPT_RUBBISH | OPT_RANDOM_SRC | OPT_RANDOM_DST | OPT_PPS_STATS);
  // IPv6 defaults follow the final family, whatever the order.
  assert.equal(o.srcRange, '[fd00::1]:1234');
  assert.equal(o.dstRange, '[fd00::2]:1234');
  assert.equal(parsePktGenArgs(['-6', '-4', '-i', 'p']).family, 4);
});

test('clustered flags and attached values', () => {
  const o = parsePktGenArgs(['-zZ', '-vvn100', '-ivale0:1', '-ftx', '-Al', '128']);
  assert.equal(o.randomSrc && o.randomDst, true);
  assert.equal(o.verbose, 2);
  assert.equal(o.count, 100);
  assert.equal(o.port, 'vale0:1');
  assert.equal(o.function, 'tx');
  assert.equal(o.ppsStats, true);
  assert.equal(o.frameLen, 128);
  // -n 100 and -n100 are the same
  assert.equal(parsePktGenArgs(['-i', 'p', '-n', '100']).count, parsePktGenArgs(['-i', 'p', '-n100']).count);
  // a value may start with '-' (getopt takes the next word whatever it is)
  throwsUsage(['-i', 'p', '-n', '-5'], "pkt-gen: invalid -n '-5': count must be a whole number (0 = forever)");
});

test('-- ends options, operands are rejected', () => {
  assert.equal(parsePktGenArgs(['-i', 'p', '--']).port, 'p');
  throwsUsage(['-i', 'p', '--', '-n', '5'], "pkt-gen: unexpected argument '-n' (pkt-gen takes options only)");
  throwsUsage(['-i', 'p', 'extra'], "pkt-gen: unexpected argument 'extra' (pkt-gen takes options only)");
});

test('-l twice gives a random range [second, first)', () => {
  const o = parsePktGenArgs(['-i', 'p', '-l', '1514', '-l', '64']);
  assert.equal(o.frameLen, 1514);
  assert.equal(o.frameLenMin, 64);
  throwsUsage(['-i', 'p', '-l', '100', '-l', '100'],
    "pkt-gen: invalid -l '100': minimum frame length must be 16..99 (below the first -l 100)");
  assert.equal(parsePktGenArgs(['-i', 'p', '-l', '16']).frameLen, 16);
  assert.equal(parsePktGenArgs(['-i', 'p', '-l', '65536']).frameLen, 65536);
});

test('burst defaults per function and bounds', () => {
  assert.equal(parsePktGenArgs(['-i', 'p', '-f', 'ping']).burst, 1);
  assert.equal(parsePktGenArgs(['-i', 'p', '-f', 'pong']).burst, 1);
  assert.equal(parsePktGenArgs(['-i', 'p', '-f', 'txseq']).burst, 512);
  // -b before -f still wins
  assert.equal(parsePktGenArgs(['-b', '8', '-i', 'p', '-f', 'ping']).burst, 8);
  assert.equal(parsePktGenArgs(['-i', 'p', '-b', '8192']).burst, 8192);
  assert.equal(defaultBurst('rx'), 512);
  throwsUsage(['-i', 'p', '-b', '0'], "pkt-gen: invalid -b '0': burst must be 1..8192");
  throwsUsage(['-i', 'p', '-b', '8193'], "pkt-gen: invalid -b '8193': burst must be 1..8192");
});

test('error messages', () => {
  throwsUsage(['-i', 'p', '-l', '5'], "pkt-gen: invalid -l '5': frame length must be 16..65536");
  throwsUsage(['-i', 'p', '-l', '65537'], "pkt-gen: invalid -l '65537': frame length must be 16..65536");
  throwsUsage(['-i', 'p', '-l', '60x'], "pkt-gen: invalid -l '60x': frame length must be 16..65536");
  throwsUsage(['-i', 'p', '-q'], 'pkt-gen: unknown option -q');
  throwsUsage(['-i', 'p', '-zq'], 'pkt-gen: unknown option -q');
  throwsUsage(['-i', 'p', '-n'], 'pkt-gen: option -n requires an argument');
  throwsUsage(['-i', 'p', '-f', 'foo'], "pkt-gen: invalid -f 'foo': unknown function (expected tx, rx, ping, pong, txseq, rxseq)");
  throwsUsage([], 'pkt-gen: missing -i PORT (the port to use, e.g. -i vale0:1); try --help');
  throwsUsage(['-f', 'tx'], 'pkt-gen: missing -i PORT (the port to use, e.g. -i vale0:1); try --help');
  throwsUsage(['-i', 'p', '-p', '0'], "pkt-gen: invalid -p '0': threads must be 1..64");
  throwsUsage(['-i', 'p', '-p', '65'], "pkt-gen: invalid -p '65': threads must be 1..64");
  throwsUsage(['-i', 'p', '-H', '8'], "pkt-gen: invalid -H '8': virtio-net header length must be 0, 10 or 12");
  throwsUsage(['-i', 'p', '-F', '64'], "pkt-gen: invalid -F '64': fragments must be 1..63");
  throwsUsage(['-i', 'p', '-F', '0'], "pkt-gen: invalid -F '0': fragments must be 1..63");
  throwsUsage(['-i', 'p', '-R', '0'],
    "pkt-gen: invalid -R '0': rate must be a number of packets per second > 0 (k/M/G suffix allowed)");
  throwsUsage(['-i', 'p', '-R', 'fast'],
    "pkt-gen: invalid -R 'fast': rate must be a number of packets per second > 0 (k/M/G suffix allowed)");
  throwsUsage(['-i', 'p', '-T', '0'], "pkt-gen: invalid -T '0': report interval must be a number of milliseconds >= 1");
  throwsUsage(['-i', 'p', '-D', 'ff:ff'], "pkt-gen: invalid -D 'ff:ff': expected a MAC address like aa:bb:cc:dd:ee:ff");
  throwsUsage(['-i', 'p', '-S', 'zz:00:00:00:00:00'],
    "pkt-gen: invalid -S 'zz:00:00:00:00:00': expected a MAC address like aa:bb:cc:dd:ee:ff");
  throwsUsage(['-i', 'p', '-C', '1,2,3,4,5'],
    "pkt-gen: invalid -C '1,2,3,4,5': expected tx_slots[,rx_slots[,tx_rings[,rx_rings]]] (1 to 4 numbers)");
  throwsUsage(['-i', 'p', '-C', '512,,2'],
    "pkt-gen: invalid -C '512,,2': expected tx_slots[,rx_slots[,tx_rings[,rx_rings]]] (1 to 4 numbers)");
  throwsUsage(['-i', 'p', '-o', '128'], "pkt-gen: invalid -o '128': unknown option bits 0x80");
  throwsUsage(['-i', 'p', '-o', 'x'], "pkt-gen: invalid -o 'x': expected a number (bitmask)");
  throwsUsage(['-i', 'p', '-a', 'one'], "pkt-gen: invalid -a 'one': expected a CPU number");
  throwsUsage(['-i', 'p', '-w', '-1'], "pkt-gen: invalid -w '-1': expected seconds to wait for the link, 0..3600");
  throwsUsage(['-i', 'p', '-f', 'ping', '-p', '2'], "pkt-gen: invalid -p '2': -f ping works with one thread only");
  throwsUsage(['-i', 'p', '--json=1'], 'pkt-gen: option --json takes no argument');
  throwsUsage(['-i', 'p', '--frobnicate'], 'pkt-gen: unknown option --frobnicate');
  throwsUsage(['-i', 'p', '--duration'], 'pkt-gen: option --duration requires an argument');
  throwsUsage(['-i', 'p', '--duration', '0'], "pkt-gen: invalid --duration '0': expected a number of seconds > 0");
});

test('address ranges are checked against the family', () => {
  assert.equal(parsePktGenArgs(['-i', 'p', '-s', '10.0.0.1:1000-10.0.0.9:1099']).srcRange, '10.0.0.1:1000-10.0.0.9:1099');
  assert.equal(parsePktGenArgs(['-i', 'p', '-6', '-d', '[fd00::9]:53-[fd00::a]:54']).dstRange, '[fd00::9]:53-[fd00::a]:54');
  assert.equal(parsePktGenArgs(['-i', 'p', '-6', '-s', '3@2001:db8::1']).srcRange, '3@2001:db8::1');
  throwsUsage(['-i', 'p', '-s', '10.0.0.300'],
    "pkt-gen: invalid -s '10.0.0.300': expected addr[:port][-addr[:port]] with IPv4 addresses, e.g. 10.0.0.1:1234-10.0.0.9:1240");
  throwsUsage(['-i', 'p', '-d', '10.0.0.1:70000'],
    "pkt-gen: invalid -d '10.0.0.1:70000': expected addr[:port][-addr[:port]] with IPv4 addresses, e.g. 10.0.0.1:1234-10.0.0.9:1240");
  // -6 after -s: the IPv4 range no longer fits
  throwsUsage(['-i', 'p', '-s', '10.0.0.1', '-6'],
    "pkt-gen: invalid -s '10.0.0.1': expected an IPv6 range such as [fd00::1]:1234-[fd00::9]:1240 (with -6)");
});

test('-o bits and flags agree', () => {
  const o = parsePktGenArgs(['-i', 'p', '-o', '0x440', '-o', '2048']);
  assert.equal(o.optionBits, 0x440 | 2048);
  assert.equal(o.dump, true);
  assert.equal(o.randomDst, true);
  assert.equal(o.ppsStats, true);
  assert.equal(o.randomSrc, false);
});

test('-R accepts suffixes, --duration and --json', () => {
  assert.equal(parsePktGenArgs(['-i', 'p', '-R', '1M']).rate, 1e6);
  assert.equal(parsePktGenArgs(['-i', 'p', '-R', '2.5k']).rate, 2500);
  const o = parsePktGenArgs(['--json', '-i', 'p', '--duration', '2.5']);
  assert.equal(o.json, true);
  assert.equal(o.durationSec, 2.5);
  assert.equal(parsePktGenArgs(['-i', 'p', '--duration=10']).durationSec, 10);
});

test('--on-full: what a sender does when the switch found its destination full (default sleep:50)', () => {
  assert.equal(parsePktGenArgs(['-i', 'p', '-f', 'tx']).onFull, 'sleep:50');
  assert.equal(parsePktGenArgs(['-i', 'p', '--on-full', 'none']).onFull, 'none');
  assert.equal(parsePktGenArgs(['-i', 'p', '--on-full=yield']).onFull, 'yield');
  assert.equal(parsePktGenArgs(['-i', 'p', '--on-full', 'sleep:200']).onFull, 'sleep:200');
  throwsUsage(['-i', 'p', '--on-full'], 'pkt-gen: option --on-full requires an argument');
  throwsUsage(['-i', 'p', '--on-full', 'sleep:0'], 'pkt-gen: --on-full sleep:0: none, yield or sleep:US (US 1..10000 microseconds) expected');
});

test('-h and --help set help without needing -i', () => {
  const h = parsePktGenArgs(['-h']);
  assert.equal(h.help, true);
  assert.equal(h.port, '');
  assert.equal(h.burst, 512);
  assert.equal(parsePktGenArgs(['-f', 'ping', '--help']).help, true);
  assert.equal(parsePktGenArgs(['-f', 'ping', '--help']).burst, 1);
  // an option after -h is not looked at, as with pkt-gen's usage(0)
  assert.equal(parsePktGenArgs(['-zh', '-q']).help, true);
});

test('-C parsing fills in pkt-gen style defaults', () => {
  assert.deepEqual(parseRingConfig('1024'), { txSlots: 1024, rxSlots: 1024, txRings: 0, rxRings: 0 });
  assert.deepEqual(parseRingConfig('1024,512,4'), { txSlots: 1024, rxSlots: 512, txRings: 4, rxRings: 4 });
  assert.deepEqual(parseRingConfig('0,0,2,1'), { txSlots: 0, rxSlots: 0, txRings: 2, rxRings: 1 });
});

test('wait-link default is resolved at run time', () => {
  assert.equal(resolveWaitLink(parsePktGenArgs(['-i', 'vale0:1'])), 0);
  assert.equal(resolveWaitLink(parsePktGenArgs(['-i', 'pipe0{1'])), 2);
  assert.equal(resolveWaitLink(parsePktGenArgs(['-i', 'vale0:1', '-w', '3'])), 3);
});

test('usage lists every option', () => {
  const u = pktGenUsage();
  for (const l of '46afFNniIldsDSbcopTwWvRXCHrPzZAhBM') {
    assert.ok(u.includes(`-${l}`), `usage lacks -${l}`);
  }
  for (const s of ['--json', '--duration', '--on-full', '--help', 'nmts pkt-gen -i vale0:1 -f tx', 'nmts pkt-gen -i vale0:2 -f rx',
    'default 60', 'default 512', 'default 1000', 'ff:ff:ff:ff:ff:ff']) {
    assert.ok(u.includes(s), `usage lacks ${s}`);
  }
  assert.ok(u.endsWith('\n'));
});

test('-I and the -o bits with no effect here are refused with the reason; -o 4 / 8 select a copy mode', () => {
  throwsUsage(['-i', 'p', '-I'], `pkt-gen: -I is not available: ${REFUSED_BITS[3]![1]}`);
  for (const [bit, why] of REFUSED_BITS) {
    throwsUsage(['-i', 'p', '-o', String(bit)], `pkt-gen: invalid -o '${bit}': bit ${why}`);
  }
  throwsUsage(['-i', 'p', '-o', '5'], `pkt-gen: invalid -o '5': bit ${REFUSED_BITS[0]![1]}`);
  assert.equal(parsePktGenArgs(['-i', 'p', '-o', '4']).copyMode, 4);
  assert.equal(parsePktGenArgs(['-i', 'p', '-o', '8']).copyMode, 8);
  assert.equal(parsePktGenArgs(['-i', 'p']).copyMode, 0);
  assert.equal(parsePktGenArgs(['-i', 'p', '-o', '4096']).optionBits, 4096, 'update checksums: always done here, accepted');
  assert.doesNotMatch(pktGenUsage(), /^ {2}-I /m, '--help does not offer -I as an option');
  assert.match(pktGenUsage(), /Not available[^]*-I and -o 32/);
});
