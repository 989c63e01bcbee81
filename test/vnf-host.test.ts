// The user-space host (src/host) on a zero-copy pipe: the test holds the other end and plays
// the neighbour, with frames written by test/fixtures/vnf-frames.ts. ARP (answers, the
// resolver cache, gratuitous ARP, static entries, timeouts, a storm), ICMP echo, UDP recv /
// reply / send with checksums a kernel accepts, and every kind of bad input counted.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { host, open, type Port } from '../src/index.js';
import { arp, eth, icmpEcho, ipv4, parseIp, udp } from './fixtures/vnf-frames.js';

const { createHost, ArpCache, parseCidr } = host;
const P = `vnfh${process.pid}`;
const HMAC = '02:00:00:00:00:01', PEER = '02:00:00:00:00:99';
const opened: { close(): void }[] = [];
after(() => { for (const o of opened.reverse()) o.close(); });

let nPipe = 0;
function setup(extra: Partial<host.HostOptions> = {}): { h: host.Host; peer: Port } {
  const n = nPipe++;
  const h = createHost({ port: `${P}{${n}`, ip: '10.9.0.1/24', mac: HMAC, ...extra });
  const peer = open(`${P}}${n}`);
  opened.push(peer, h);
  return { h, peer };
}

function send(peer: Port, ...frames: Uint8Array[]): void {
  for (const f of frames) assert.ok(peer.inject(f), 'room in the peer ring');
  peer.txsync();
}

function take(peer: Port): Uint8Array[] {
  const offs = new Uint32Array(4096), lens = new Uint16Array(4096);
  const n = peer.receiveBatch(offs, lens);
  return Array.from({ length: n }, (_, i) => peer.u8.slice(offs[i], offs[i]! + lens[i]!));
}

test('a gratuitous ARP at start; an ARP request for our address is answered and its sender learned', () => {
  const { h, peer } = setup();
  const g = take(peer);
  assert.equal(g.length, 1);
  assert.deepEqual([...g[0]!.subarray(0, 14)], [255, 255, 255, 255, 255, 255, 2, 0, 0, 0, 0, 1, 8, 6]);
  assert.deepEqual([...g[0]!.subarray(14, 42)], arp(1, HMAC, '10.9.0.1', '00:00:00:00:00:00', '10.9.0.1'), 'sender = target = our address');
  assert.equal(g[0]!.length, 60, 'padded to 60 bytes');
  send(peer, eth('ff:ff:ff:ff:ff:ff', PEER, 0x0806, arp(1, PEER, '10.9.0.2', '00:00:00:00:00:00', '10.9.0.1')));
  assert.equal(h.poll(0), 1);
  const r = take(peer);
  assert.equal(r.length, 1);
  assert.deepEqual([...r[0]!.subarray(0, 42)], [...eth(PEER, HMAC, 0x0806, arp(2, HMAC, '10.9.0.1', PEER, '10.9.0.2'))]);
  assert.ok(h.arp.resolved(parseCidr('10.9.0.2').ip, h.now) >= 0, 'the asker is in the cache');
  // a request for someone else: learned only if already known (RFC 826), not answered
  send(peer, eth('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:77', 0x0806, arp(1, '02:00:00:00:00:77', '10.9.0.7', '00:00:00:00:00:00', '10.9.0.3')));
  h.poll(0);
  assert.equal(take(peer).length, 0);
  assert.equal(h.arp.find(parseCidr('10.9.0.7').ip), -1);
  const s = h.stats();
  assert.deepEqual([s.arpRequestsIn, s.arpRepliesOut, s.gratuitousOut, s.arpNotForUs, s.arpEntries], [1, 1, 1, 1, 1]);
});

test('ICMP echo: the reply swaps addresses, keeps id, sequence and data, and both checksums verify', () => {
  const { h, peer } = setup();
  take(peer);
  const data = Array.from({ length: 56 }, (_, i) => i);
  send(peer, eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 1, icmpEcho(0x1234, 9, data))));
  h.poll(0);
  const r = take(peer);
  assert.equal(r.length, 1);
  const p = parseIp(r[0]!);
  assert.deepEqual([p.src, p.dst, p.proto, p.srcMac, p.dstMac], ['10.9.0.1', '10.9.0.2', 1, HMAC, PEER]);
  assert.deepEqual([...p.l4.subarray(0, 2)], [0, 0], 'echo reply');
  assert.deepEqual([...p.l4.subarray(4)], [0x12, 0x34, 0, 9, ...data]);
  assert.equal(h.stats().icmpEchoOut, 1);
});

test('UDP: recv() hands views of the payloads; reply() echoes them with a valid checksum; send() after ARP resolution', () => {
  const { h, peer } = setup();
  take(peer);
  const ep = h.udp(7);
  const frames = [
    eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 17, udp('10.9.0.2', '10.9.0.1', 5000, 7, [1, 2, 3, 4, 5]))),
    eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 17, udp('10.9.0.2', '10.9.0.1', 5001, 7, [9, 8, 7], 'none'))),
    eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 17, udp('10.9.0.2', '10.9.0.1', 5002, 7, []))),
  ];
  send(peer, ...frames);
  assert.equal(h.poll(0), 3);
  const n = ep.recv();
  assert.equal(n, 3);
  assert.equal(ep.recv(), 0, 'taken');
  assert.deepEqual([...ep.u8.subarray(ep.off[0], ep.off[0]! + ep.len[0]!)], [1, 2, 3, 4, 5]);
  assert.deepEqual([ep.srcIp[1], ep.srcPort[1], ep.len[2]], [parseCidr('10.9.0.2').ip, 5001, 0]);
  for (let i = 0; i < n; i++) assert.ok(ep.reply(i));
  h.flush();
  const r = take(peer);
  assert.equal(r.length, 3);
  const sports = [5000, 5001, 5002], datas = [[1, 2, 3, 4, 5], [9, 8, 7], []];
  r.forEach((f, i) => {
    const p = parseIp(f); // checksums verified
    assert.deepEqual([p.src, p.dst, p.dstMac], ['10.9.0.1', '10.9.0.2', PEER]);
    assert.deepEqual([...p.l4.subarray(0, 4)], [0, 7, sports[i]! >> 8, sports[i]! & 0xff]);
    assert.notEqual((p.l4[6]! << 8) | p.l4[7]!, 0, 'a checksum is always sent');
    assert.deepEqual([...p.l4.subarray(8)], datas[i]);
  });
  // send() to a host not in the cache: an ARP request, false until the reply comes
  const dst = parseCidr('10.9.0.5').ip, msg = Uint8Array.from([0xaa, 0xbb]);
  assert.equal(ep.send(dst, 9999, msg, 0, 2), false);
  h.flush();
  const q = take(peer);
  assert.equal(q.length, 1);
  assert.deepEqual([...q[0]!.subarray(14, 42)], arp(1, HMAC, '10.9.0.1', '00:00:00:00:00:00', '10.9.0.5'));
  assert.equal(ep.send(dst, 9999, msg, 0, 2), false, 'still INCOMPLETE: no second request');
  assert.equal(take(peer).length, 0);
  send(peer, eth(HMAC, '02:00:00:00:00:05', 0x0806, arp(2, '02:00:00:00:00:05', '10.9.0.5', HMAC, '10.9.0.1')));
  h.poll(0);
  assert.ok(ep.send(dst, 9999, msg, 0, 2));
  h.flush();
  const d = take(peer);
  const p = parseIp(d[0]!);
  assert.deepEqual([p.dst, p.dstMac, [...p.l4.subarray(8)]], ['10.9.0.5', '02:00:00:00:00:05', [0xaa, 0xbb]]);
  // off-link without a gateway
  assert.equal(ep.send(parseCidr('8.8.8.8').ip, 53, msg, 0, 2), false);
  const s = h.stats();
  assert.deepEqual([s.udpIn, s.udpOut, s.noArp, s.noRoute], [3, 4, 2, 1]);
});

test('a UDP checksum field holding only the pseudo-header sum (Linux CHECKSUM_PARTIAL) is accepted and counted; the reply gets a full checksum; partialChecksums: false drops it', () => {
  for (const accept of [true, false]) {
    const { h, peer } = setup({ partialChecksums: accept });
    take(peer);
    const ep = h.udp(7);
    const f = eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 17, udp('10.9.0.2', '10.9.0.1', 5000, 7, [1, 2, 3], 'none')));
    // what a Linux sender leaves for the device: the folded pseudo-header sum (addresses, protocol, length)
    let s = 0x0a09 + 0x0002 + 0x0a09 + 0x0001 + 17 + 11;
    s = (s & 0xffff) + (s >>> 16);
    f[40] = s >> 8; f[41] = s & 0xff;
    send(peer, f);
    h.poll(0);
    assert.equal(ep.recv(), accept ? 1 : 0);
    const st = h.stats();
    assert.deepEqual([st.udpCsumPartial, st.badUdpChecksum], accept ? [1, 0] : [0, 1]);
    if (!accept) continue;
    assert.ok(ep.reply(0));
    h.flush();
    const p = parseIp(take(peer)[0]!); // verifies the reply's checksum
    assert.deepEqual([...p.l4.subarray(8)], [1, 2, 3]);
  }
});

test('a gateway carries off-link traffic; a static entry is used without ARP and never overwritten', () => {
  const { h, peer } = setup({ gateway: '10.9.0.254', arp: { static: [{ ip: '10.9.0.254', mac: '02:00:00:00:00:fe' }] } });
  take(peer);
  const ep = h.udp(1234);
  const msg = new Uint8Array([1]);
  assert.ok(ep.send(parseCidr('192.0.2.1').ip, 53, msg, 0, 1));
  h.flush();
  assert.equal(parseIp(take(peer)[0]!).dstMac, '02:00:00:00:00:fe');
  send(peer, eth('ff:ff:ff:ff:ff:ff', PEER, 0x0806, arp(1, PEER, '10.9.0.254', '00:00:00:00:00:00', '10.9.0.1')));
  h.poll(0);
  take(peer);
  const e = h.arp.find(parseCidr('10.9.0.254').ip);
  assert.deepEqual([...h.arp.mac.subarray(e * 6, e * 6 + 6)], [2, 0, 0, 0, 0, 0xfe], 'static entry kept');
  assert.equal(h.stats().arpStatic, 1);
});

test('bad input is counted under its reason and nothing is answered', () => {
  const { h, peer } = setup({ icmpUnreachableRate: 0 });
  take(peer);
  h.udp(7);
  const U = (d: number[], o = {}): Uint8Array => eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 17, udp('10.9.0.2', '10.9.0.1', 1, 7, d), o));
  const good = U([1, 2, 3]);
  const cases: [string, Uint8Array][] = [
    ['truncated', good.subarray(0, 10)],
    ['truncated', good.subarray(0, 30)], // IPv4 header cut
    ['truncated', good.subarray(0, good.length - 2)], // total length beyond the frame
    ['badIpChecksum', U([1], { badCsum: true })],
    ['fragment', U([1], { flags: 0x2000 })],
    ['fragment', U([1], { flags: 0x0010 })],
    ['badTtl', U([1], { ttl: 0 })],
    ['badUdpChecksum', eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 17, udp('10.9.0.2', '10.9.0.1', 1, 7, [5], 'bad')))],
    ['badUdpLength', (() => { const f = U([1, 2]); f[38] = 0; f[39] = 99; return f; })()],
    ['badIpHeader', (() => { const f = U([1]); f[14] = 0x65; return f; })()],
    ['noUdpPort', eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 17, udp('10.9.0.2', '10.9.0.1', 1, 8, [1])))],
    ['notOurIp', eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.9', 17, udp('10.9.0.2', '10.9.0.9', 1, 7, [1])))],
    ['notOurMac', eth('02:00:00:00:00:42', PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 1, icmpEcho(1, 1, [])))],
    ['notOurMac', eth('01:00:5e:00:00:01', PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 1, icmpEcho(1, 1, [])))],
    ['vlan', eth(HMAC, PEER, 0x8100, [0, 5, 8, 0, ...ipv4('10.9.0.2', '10.9.0.1', 1, icmpEcho(1, 1, []))])],
    ['ipv6', eth(HMAC, PEER, 0x86dd, new Array(60).fill(0))],
    ['otherEthertype', eth(HMAC, PEER, 0x88b5, [1, 2, 3])],
    ['otherProto', eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 6, new Array(20).fill(0)))],
    ['badIcmpChecksum', (() => { const f = eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 1, icmpEcho(1, 1, [1, 2]))); f[40] ^= 1; return f; })()],
    ['icmpIgnored', eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 1, [0, 0, 0xff, 0xff, 0, 0, 0, 0]))],
    ['truncated', eth(HMAC, PEER, 0x0806, [0, 1, 8, 0])],
    ['arpMalformed', eth(HMAC, PEER, 0x0806, arp(1, PEER, '10.9.0.2', '00:00:00:00:00:00', '10.9.0.1').map((b, i) => (i === 4 ? 8 : b)))],
    ['arpConflict', eth('ff:ff:ff:ff:ff:ff', PEER, 0x0806, arp(1, PEER, '10.9.0.1', '00:00:00:00:00:00', '10.9.0.1'))],
    ['badSrcIp', eth(HMAC, PEER, 0x0800, ipv4('224.0.0.1', '10.9.0.1', 17, udp('224.0.0.1', '10.9.0.1', 1, 7, [1])))],
  ];
  for (const [why, f] of cases) {
    const before = h.stats();
    send(peer, f);
    assert.equal(h.poll(0), 1);
    const s = h.stats();
    assert.equal(s[why]! - before[why]!, 1, `${why}: ${[...f.subarray(0, 48)].join(',')}`);
    assert.equal(s.dropped - before.dropped, 1, `${why}: one drop`);
  }
  h.udp(8).recv();
  assert.equal(take(peer).length, 0, 'nothing answered');
  assert.equal(h.udp(9).recv(), 0);
});

test('an ARP storm: 20000 requests from distinct senders are answered while the tx ring has room, the cache stays bounded, static entries stay', () => {
  const { h, peer } = setup({ arp: { size: 64, static: [{ ip: '10.9.0.200', mac: '02:00:00:00:00:c8' }] } });
  take(peer);
  let answered = 0;
  for (let k = 0; k < 20_000; k += 500) {
    for (let j = 0; j < 500; j++) {
      const i = k + j, a = `10.9.${1 + (i >> 8) % 200}.${i & 255}`;
      send(peer, eth('ff:ff:ff:ff:ff:ff', PEER, 0x0806, arp(1, PEER, a, '00:00:00:00:00:00', '10.9.0.1')));
    }
    while (h.poll(0) > 0) answered += take(peer).length;
    answered += take(peer).length;
  }
  const s = h.stats();
  assert.equal(s.arpRequestsIn, 20_000);
  assert.equal(answered + s.txFull, 20_000, 'every request answered or its reply counted as txFull');
  assert.ok(s.arpEntries <= 64);
  assert.ok(s.arpEvictions > 19_000, `evictions ${s.arpEvictions}`);
  assert.equal(s.arpStatic, 1);
});

test('ArpCache: learned entries expire, incomplete ones are retried then given up', () => {
  const c = new ArpCache({ size: 16, reachableMs: 100, retryMs: 10, maxTries: 3 });
  const m = Uint8Array.from([2, 0, 0, 0, 0, 1]);
  c.learn(1, m, 0, 0, true);
  assert.ok(c.resolved(1, 50) >= 0);
  assert.equal(c.resolved(1, 100), -1, 'expired at 100 ms');
  assert.equal(c.learn(2, m, 0, 0, false), -1, 'not created without create');
  assert.ok(c.wantRequest(3, 0));
  assert.ok(!c.wantRequest(3, 1), 'one request per retry period');
  const retried: number[] = [];
  for (let t = 10; t <= 40; t += 10) c.sweep(t, (ip) => retried.push(ip));
  assert.deepEqual(retried, [3, 3]);
  assert.equal(c.find(3), -1);
  assert.equal(c.failed, 1);
});

test('examples/udp-upper.ts: a datagram from a neighbour that ARPed us is answered in upper case', async () => {
  const { serveOnce } = await import('../examples/udp-upper.js');
  const { h, peer } = setup();
  take(peer);
  const ep = h.udp(4000);
  const c = { answered: 0, failed: 0 };
  send(peer, eth('ff:ff:ff:ff:ff:ff', PEER, 0x0806, arp(1, PEER, '10.9.0.2', '00:00:00:00:00:00', '10.9.0.1')),
    eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 17, udp('10.9.0.2', '10.9.0.1', 3333, 4000, [...Buffer.from('hello, Host 42')]))));
  assert.equal(serveOnce(h, ep, c), 2);
  const out = take(peer);
  assert.equal(out.length, 2, 'the ARP reply and the answer');
  const p = parseIp(out[1]!);
  assert.deepEqual([p.dst, p.dstMac, (p.l4[2]! << 8) | p.l4[3]!], ['10.9.0.2', PEER, 3333]);
  assert.equal(Buffer.from(p.l4.subarray(8)).toString(), 'HELLO, HOST 42');
  assert.deepEqual(c, { answered: 1, failed: 0 });
});

test('20000 random frames (to our MAC, IPv4 or ARP, random lengths and bytes): no exception, every frame accounted for', () => {
  const { h, peer } = setup();
  take(peer);
  h.udp(7);
  let seed = 12345;
  const rnd = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 8; };
  const base = eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 17, udp('10.9.0.2', '10.9.0.1', 1, 7, new Array(40).fill(1))));
  for (let k = 0; k < 20_000; k += 400) {
    for (let j = 0; j < 400; j++) {
      const len = rnd() % 120;
      const f = base.slice(0, Math.max(len, 0));
      if (len > 13) f[13] = rnd() % 3 === 0 ? 6 : 0; // a third ARP (0x0806), the rest IPv4
      // damage a few bytes past the MACs, often inside the headers
      for (let d = rnd() % 4; d > 0 && len > 14; d--) f[12 + (rnd() % (len - 12))] = rnd() & 0xff;
      if (f.length === 0) continue;
      assert.ok(peer.inject(f));
    }
    peer.txsync();
    while (h.poll(0) > 0) take(peer);
    take(peer);
  }
  const s = h.stats();
  assert.ok(s.rxFrames > 19_000);
  assert.equal(s.arpRequestsIn! + s.arpRepliesIn! + s.icmpEchoIn! + s.udpIn! + s.rxDropped, s.rxFrames, JSON.stringify(s));
  assert.ok(s.truncated! > 0 && s.badIpChecksum! > 0, 'damage was seen');
});

test('a datagram to a port without endpoint gets an ICMP port unreachable quoting it, at most icmpUnreachableRate per second', () => {
  const { h, peer } = setup({ icmpUnreachableRate: 5 });
  take(peer);
  const f = eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 17, udp('10.9.0.2', '10.9.0.1', 4444, 9, [1, 2, 3, 4, 5, 6])));
  for (let i = 0; i < 8; i++) send(peer, f);
  h.poll(0);
  const out = take(peer);
  assert.equal(out.length, 5, 'the rate limit');
  const p = parseIp(out[0]!); // checksums verified
  assert.deepEqual([p.src, p.dst, p.proto, p.dstMac, p.l4[0], p.l4[1]], ['10.9.0.1', '10.9.0.2', 1, PEER, 3, 3]);
  assert.deepEqual([...p.l4.subarray(8)], [...f.subarray(14, 14 + 28)], 'the IP header and the first 8 bytes of the datagram');
  const s = h.stats();
  assert.deepEqual([s.noUdpPort, s.icmpUnreachOut], [8, 5]);
});

test('a frame chained over several slots (NS_MOREFRAG) is counted per slot as multiSlot, and the next frame is handled', () => {
  const { h, peer } = setup();
  take(peer);
  const r = peer.txRings[0]!;
  const ping = eth(HMAC, PEER, 0x0800, ipv4('10.9.0.2', '10.9.0.1', 1, icmpEcho(1, 1, [1, 2, 3])));
  let hd = r.head;
  for (const [f, flags] of [[ping, 0x20], [ping, 0x20], [ping, 0], [ping, 0]] as const) {
    peer.u8.set(f, r.buf(hd)); r.setLen(hd, f.length); r.setSlotFlags(hd, flags); hd = r.next(hd);
  }
  r.advance(hd);
  peer.txsync();
  assert.equal(h.poll(0), 4);
  const s = h.stats();
  assert.deepEqual([s.multiSlot, s.icmpEchoOut], [3, 1]);
  assert.equal(take(peer).length, 1);
});
