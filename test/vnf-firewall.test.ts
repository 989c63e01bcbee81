// The firewall's parts without privileges: the rules file parser, the connection table
// (both directions, timeouts, the size limit and evictions), the engine's verdicts and
// counters on frames written by test/fixtures/vnf-frames.ts (plus TCP written here), hostile
// and random input each accounted for, and `firewall()` itself between two pipe ends of one
// parent (zero-copy) with the test on the other ends.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { open, type Port } from '../src/index.js';
import { Conntrack, PROTO_TCP, PROTO_UDP, ST_TCP_EST, ST_TCP_SYN, ST_UDP_REPLIED, TCP_ACK, TCP_FIN, TCP_SYN } from '../src/apps/vnf/conntrack.js';
import { F, FirewallEngine, FW_DROP_REASONS } from '../src/apps/vnf/fw-engine.js';
import { parseRules, RuleError } from '../src/apps/vnf/fw-rules.js';
import { firewall } from '../src/apps/vnf/firewall.js';
import { parseFirewall, VnfUsageError } from '../src/apps/vnf/options.js';
import { arp, eth, icmpEcho, ip4, ipv4, udp } from './fixtures/vnf-frames.js';

const A = '02:00:00:00:00:0a', B = '02:00:00:00:00:0b';
const ip = (s: string): number => ip4(s).reduce((a, b) => a * 256 + b, 0);

/** A TCP segment with its checksum (written here, independently of src/). */
function tcp(src: string, dst: string, sport: number, dport: number, flags: number, data: number[] = []): number[] {
  const t = [sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0, ...data];
  const pseudo = [...ip4(src), ...ip4(dst), 0, 6, t.length >> 8, t.length & 255];
  let s = 0;
  const all = [...pseudo, ...t, ...(t.length % 2 ? [0] : [])];
  for (let i = 0; i < all.length; i += 2) s += (all[i]! << 8) | all[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  const c = ~s & 0xffff;
  t[16] = c >> 8; t[17] = c & 255;
  return t;
}
const tcpFrame = (src: string, dst: string, sp: number, dp: number, flags: number, from = A, to = B): Uint8Array =>
  eth(to, from, 0x0800, ipv4(src, dst, 6, tcp(src, dst, sp, dp, flags)));
const udpFrame = (src: string, dst: string, sp: number, dp: number, from = A, to = B): Uint8Array =>
  eth(to, from, 0x0800, ipv4(src, dst, 17, udp(src, dst, sp, dp, [1, 2, 3])));
const check = (e: FirewallEngine, f: Uint8Array): boolean => e.check(f, 0, f.length);

const RULES = `# web only
allow tcp dst port 80
deny udp     # no UDP at all
allow icmp
  and not host 10.0.0.66   # a continued rule
`;

test('rules: allow/deny lines, comments, continuation lines; errors name the line', () => {
  const r = parseRules(RULES, 'fw.rules');
  assert.deepEqual(r.map((x) => [x.allow, x.expr, x.line]), [[true, 'tcp dst port 80', 2], [false, 'udp', 3], [true, 'icmp and not host 10.0.0.66', 4]]);
  assert.equal(parseRules('allow\n').length, 1);
  assert.ok(parseRules('deny')[0]!.match(new Uint8Array(60), 0, 60), 'a bare verb matches every frame');
  assert.throws(() => parseRules('allow tcp\npermit udp', 'x'), (e: unknown) => e instanceof RuleError && /x:2: a rule starts with allow or deny/.test(e.message));
  assert.throws(() => parseRules('allow tcp port\n', 'x'), (e: unknown) => e instanceof RuleError && /^x:1: /.test(e.message));
});

test('options: two ports, --rules, --default, --workers, --layout (each implies the other)', () => {
  const o = parseFirewall(['-i', 'a{1', '-i', 'b{1', '--rules', 'f', '--default', 'allow', '--json']);
  assert.deepEqual([o.ports, o.rules, o.defaultAllow, o.json], [['a{1', 'b{1'], 'f', true, true]);
  assert.throws(() => parseFirewall(['-i', 'a{1', '--rules', 'f']), VnfUsageError);
  assert.throws(() => parseFirewall(['-i', 'a{1', '-i', 'b{1']), /missing --rules/);
  assert.throws(() => parseFirewall(['-i', 'a{1', '-i', 'b{1', '--rules', 'f', '--default', 'maybe']), /deny or allow/);
  assert.equal(o.workers, undefined, 'no distribution by default');
  const w = parseFirewall(['-i', 'a{1', '-i', 'b{1', '--rules', 'f', '--workers', '2']);
  assert.deepEqual([w.workers, w.layout], [2, 'n-1']);
  const l = parseFirewall(['-i', 'a{1', '-i', 'b{1', '--rules', 'f', '--layout', 'n-2']);
  assert.deepEqual([l.workers, l.layout], [1, 'n-2']);
  assert.throws(() => parseFirewall(['-i', 'a{1', '-i', 'b{1', '--rules', 'f', '--workers', '0']), /invalid --workers '0'/);
  assert.throws(() => parseFirewall(['-i', 'a{1', '-i', 'b{1', '--rules', 'f', '--layout', 'n1']), /invalid --layout 'n1'/);
});

test('connection table: found from both directions, states, timeouts', () => {
  const ct = new Conntrack({ limit: 100, timeouts: { tcpSyn: 100, tcpEstablished: 1000, udp: 50, udpReplied: 500 } });
  const c = ip('10.0.0.1'), s = ip('10.0.0.2');
  const e = ct.insert(PROTO_TCP, c, s, 40000, 80, Conntrack.initialState(PROTO_TCP, TCP_SYN), 7, 0);
  assert.equal(ct.state[e], ST_TCP_SYN);
  assert.equal(ct.lookup(PROTO_TCP, c, s, 40000, 80, 10), e);
  assert.equal(ct.reply, false);
  assert.equal(ct.lookup(PROTO_TCP, s, c, 80, 40000, 10), e, 'the reply finds the same entry');
  assert.equal(ct.reply, true);
  assert.equal(ct.lookup(PROTO_UDP, s, c, 80, 40000, 10), -1, 'another protocol');
  assert.equal(ct.lookup(PROTO_TCP, s, c, 81, 40000, 10), -1, 'another port');
  ct.update(e, true, TCP_SYN | TCP_ACK, 20);
  assert.equal(ct.state[e], ST_TCP_EST);
  assert.equal(ct.value[e], 7);
  assert.equal(ct.lookup(PROTO_TCP, c, s, 40000, 80, 900), e, 'established: 1000 ms');
  ct.update(e, false, TCP_FIN | TCP_ACK, 900);
  assert.equal(ct.lookup(PROTO_TCP, c, s, 40000, 80, 900 + 10_001), -1, 'closing: expired after 10 s');
  assert.equal(ct.count, 0);
  const u = ct.insert(PROTO_UDP, c, s, 5000, 53, Conntrack.initialState(PROTO_UDP, 0), 0, 0);
  assert.equal(ct.lookup(PROTO_UDP, c, s, 5000, 53, 60), -1, 'unreplied UDP: 50 ms');
  const u2 = ct.insert(PROTO_UDP, c, s, 5000, 53, Conntrack.initialState(PROTO_UDP, 0), 0, 100);
  assert.equal(ct.lookup(PROTO_UDP, s, c, 53, 5000, 120), u2);
  ct.update(u2, true, 0, 120);
  assert.equal(ct.state[u2], ST_UDP_REPLIED);
  assert.equal(ct.lookup(PROTO_UDP, c, s, 5000, 53, 600), u2, 'replied UDP: 500 ms');
  assert.ok(u >= 0);
  assert.equal(ct.sweep(10_000), 1);
  assert.equal(ct.count, 0);
});

test('connection table: a size limit, the entry expiring first evicted, lookups still right', () => {
  const ct = new Conntrack({ limit: 50 });
  for (let i = 0; i < 5000; i++) {
    const e = ct.insert(PROTO_TCP, ip('10.1.0.1') + (i % 200), ip('10.2.0.1'), 1024 + i, 80, ST_TCP_EST, i, i);
    assert.ok(e >= 0);
    assert.ok(ct.count <= 50, `count ${ct.count} at most the limit`);
    assert.equal(ct.lookup(PROTO_TCP, ip('10.2.0.1'), ip('10.1.0.1') + (i % 200), 80, 1024 + i, i), e, 'the new entry is found');
    assert.equal(ct.value[e], i);
  }
  assert.equal(ct.evictions, 5000 - 50);
  assert.equal(ct.created, 5000);
});

test('engine: allowed flows and their replies, denials on their rule, default deny, ARP', () => {
  const e = new FirewallEngine({ rules: parseRules(RULES) });
  e.now = 1;
  assert.equal(check(e, tcpFrame('10.0.0.1', '10.0.0.2', 40000, 80, TCP_SYN)), true, 'allowed by rule 1');
  assert.equal(check(e, tcpFrame('10.0.0.2', '10.0.0.1', 80, 40000, TCP_SYN | TCP_ACK, B, A)), true, 'the reply: no rule of its own');
  assert.equal(check(e, tcpFrame('10.0.0.1', '10.0.0.2', 40000, 80, TCP_ACK)), true);
  assert.equal(check(e, tcpFrame('10.0.0.2', '10.0.0.1', 80, 40001, TCP_SYN | TCP_ACK, B, A)), false, 'not a known flow: default deny');
  assert.equal(check(e, tcpFrame('10.0.0.2', '10.0.0.1', 22, 40000, TCP_SYN, B, A)), false);
  assert.equal(check(e, udpFrame('10.0.0.1', '10.0.0.2', 5000, 53)), false, 'deny udp');
  assert.equal(check(e, eth(B, A, 0x0800, ipv4('10.0.0.1', '10.0.0.2', 1, icmpEcho(1, 1, [])))), true, 'allow icmp');
  assert.equal(check(e, eth(B, A, 0x0800, ipv4('10.0.0.66', '10.0.0.2', 1, icmpEcho(1, 1, [])))), false, 'not host .66: default');
  assert.equal(check(e, eth('ff:ff:ff:ff:ff:ff', A, 0x0806, arp(1, A, '10.0.0.1', '00:00:00:00:00:00', '10.0.0.2'))), true, 'ARP passes');
  assert.equal(check(e, eth(B, A, 0x86dd, new Array(40).fill(0))), false, 'IPv6: default policy');
  const s = e.stats();
  assert.deepEqual([s.ruleAllowed, s.established, s.ruleDenied, s.defaultDenied, s.arpPassed], [2, 2, 1, 4, 1]);
  assert.deepEqual(s.rules.map((r) => r.hits), [1, 1, 1]);
  assert.equal(s.conntrack.entries, 1);
  assert.equal(s.dropped, 5);
  const allow = new FirewallEngine({ rules: parseRules('deny udp'), defaultAllow: true });
  assert.equal(check(allow, eth(B, A, 0x86dd, new Array(40).fill(0))), true, 'default allow');
});

test('engine: truncated headers, bad IP checksums, fragments and a full table are counted; random frames all accounted for', () => {
  const e = new FirewallEngine({ rules: parseRules('allow tcp\nallow udp'), limit: 8 });
  e.now = 1;
  const good = tcpFrame('10.0.0.1', '10.0.0.2', 40000, 80, TCP_SYN);
  assert.equal(check(e, good.slice(0, 10)), false);
  assert.equal(check(e, good.slice(0, 30)), false);
  assert.equal(check(e, good.slice(0, 40)), false, 'the TCP header cut off');
  const bad = good.slice(); bad[24] ^= 0xff;
  assert.equal(check(e, bad), false, 'bad IP header checksum');
  const badHdr = good.slice(); badHdr[14] = 0x55;
  assert.equal(check(e, badHdr), false);
  const frag = eth(B, A, 0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, udp('10.0.0.1', '10.0.0.2', 1, 2, [1]), { flags: 0x2000 }));
  assert.equal(check(e, frag), false, 'a first fragment');
  // the first slot of a super-frame: IPv4 says 9014 bytes, the slot holds the headers
  const head = eth(B, A, 0x0800, ipv4('10.0.0.1', '10.0.0.2', 6, tcp('10.0.0.1', '10.0.0.2', 40000, 80, TCP_ACK, new Array(9000).fill(0)))).slice(0, 200);
  assert.equal(e.check(head, 0, head.length, true), true, 'chained: the headers are enough');
  assert.equal(e.check(head, 0, head.length), false, 'alone: truncated');
  assert.equal(e.check(head, 0, 50, true), false, 'chained but the TCP header cut: truncated');
  let s = e.stats();
  assert.deepEqual([s.truncated, s.badIpChecksum, s.badIpHeader, s.fragment], [5, 1, 1, 1]);
  for (let i = 0; i < 1000; i++) assert.equal(check(e, tcpFrame('10.0.0.1', '10.0.0.2', 10000 + i, 80, TCP_SYN)), true);
  s = e.stats();
  assert.ok(s.conntrack.entries <= 8);
  assert.equal(s.conntrack.evictions + s.untracked, 1001 - 8, 'every flow beyond the limit evicted another or went untracked');
  // random bytes, and random damage to good frames: no throw, every frame passed or counted once
  let seed = 12345;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
  const e2 = new FirewallEngine({ rules: parseRules('allow tcp port 80\ndeny udp\nallow arp'), limit: 64 });
  let passed = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    let f: Uint8Array;
    if (i % 2) { f = new Uint8Array(rnd() % 100); for (let k = 0; k < f.length; k++) f[k] = rnd(); if (f.length > 13 && i % 4 === 1) { f[12] = 8; f[13] = 0; } }
    else { f = i % 4 ? udpFrame('10.0.0.1', '10.0.0.2', rnd(), 80) : tcpFrame('10.0.0.1', '10.0.0.2', rnd(), 80, TCP_SYN); f = f.slice(0, rnd() % (f.length + 1)); if (f.length > 20) f[14 + (rnd() % 20) % (f.length - 14)] ^= rnd(); }
    e2.now = i;
    if (check(e2, f)) passed++;
  }
  const s2 = e2.stats();
  const passes = s2.established + s2.ruleAllowed + s2.defaultAllowed + s2.arpPassed;
  assert.equal(passes, passed);
  assert.equal(passes + s2.dropped, n, 'every frame passed or counted under one reason');
  assert.deepEqual(FW_DROP_REASONS, ['truncated', 'badIpHeader', 'badIpChecksum', 'fragment', 'ruleDenied', 'defaultDenied']);
  assert.equal(F.established, 0);
});

// ------------------------------------------------------------------ firewall() on pipes

const P = `nffw${process.pid}`;
const opened: Port[] = [];
after(() => { for (const p of opened) p.close(); });

function take(p: Port): Uint8Array[] {
  const offs = new Uint32Array(1024), lens = new Uint16Array(1024);
  const n = p.receiveBatch(offs, lens);
  return Array.from({ length: n }, (_, i) => p.u8.slice(offs[i], offs[i]! + lens[i]!));
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('firewall() between two pipe ends of one parent: zero-copy, verdicts per direction, counters', async () => {
  const ac = new AbortController();
  let ready = false;
  const run = firewall({
    a: `${P}{1`, b: `${P}{2`, rulesText: 'allow tcp dst port 80\ndeny udp\n', signal: ac.signal, statsMs: 50,
    onReady: () => { ready = true; },
  });
  await until(() => ready);
  const pa = open(`${P}}1`), pb = open(`${P}}2`);
  opened.push(pa, pb);
  const got: Uint8Array[] = [], back: Uint8Array[] = [];
  const syn = tcpFrame('10.0.0.1', '10.0.0.2', 40000, 80, TCP_SYN);
  for (const f of [syn, udpFrame('10.0.0.1', '10.0.0.2', 1, 53), tcpFrame('10.0.0.1', '10.0.0.2', 40001, 22, TCP_SYN)]) assert.ok(pa.inject(f));
  pa.txsync();
  await until(() => { pb.rxsync(); got.push(...take(pb)); return got.length >= 1; });
  assert.ok(pb.inject(tcpFrame('10.0.0.2', '10.0.0.1', 80, 40000, TCP_SYN | TCP_ACK, B, A)));
  assert.ok(pb.inject(tcpFrame('10.0.0.2', '10.0.0.1', 80, 40009, TCP_SYN | TCP_ACK, B, A)));
  pb.txsync();
  await until(() => { pa.rxsync(); back.push(...take(pa)); return back.length >= 1; });
  await new Promise((r) => setTimeout(r, 100));
  pb.rxsync(); got.push(...take(pb));
  pa.rxsync(); back.push(...take(pa));
  ac.abort();
  const r = await run;
  assert.equal(got.length, 1, 'only the allowed SYN went a -> b');
  assert.deepEqual([...got[0]!], [...syn], 'unchanged');
  assert.equal(back.length, 1, 'only the reply of the allowed flow went b -> a');
  assert.equal(r.zerocopy, true);
  assert.deepEqual([r.aToB, r.bToA], [1, 1]);
  const f = r.firewall;
  assert.deepEqual([f.ruleAllowed, f.established, f.ruleDenied, f.defaultDenied, f.dropped], [1, 1, 1, 2, 3]);
  assert.deepEqual(f.rules.map((x) => x.hits), [1, 1]);
});

test('the rules compiled together pick the same first match as each filter alone', async () => {
  const { compileFirstMatch, compileFilter } = await import('../src/packet/filter.js');
  const exprs = ['tcp dst port 80', 'udp and src host 10.0.0.1', 'arp', '', 'icmp'];
  const first = compileFirstMatch(exprs);
  const each = exprs.map((e) => (e === '' ? () => true : compileFilter(e)));
  let seed = 7;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
  const frames = [tcpFrame('10.0.0.1', '10.0.0.2', 1, 80, TCP_SYN), udpFrame('10.0.0.1', '10.0.0.2', 1, 2), udpFrame('10.0.0.3', '10.0.0.2', 1, 2)];
  for (let i = 0; i < 3000; i++) {
    const f = frames[i % 3]!.slice(0, rnd() % 80);
    if (f.length > 20 && i % 2) f[12 + (rnd() % (f.length - 12))] = rnd();
    assert.equal(first(f, 0, f.length), each.findIndex((m) => m(f, 0, f.length)));
  }
  assert.equal(compileFirstMatch(['tcp'])(frames[1]!, 0, frames[1]!.length), -1);
});
