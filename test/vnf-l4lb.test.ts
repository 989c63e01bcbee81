// The l4lb's parts without privileges: the Maglev table directly (balance; a backend's loss
// moves only its entries, its return restores the table), then the balancer on a pipe with the
// test playing the client and two backends on the other end (frames written by
// test/fixtures/vnf-frames.ts, checksums verified here as a kernel would): ARP for the VIP,
// NAT both ways, each flow to one backend, health checks moving a dead backend's flows and no
// other, DSR, and hostile input counted.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { host, open, type Port } from '../src/index.js';
import { flowHash, Maglev } from '../src/apps/vnf/maglev.js';
import { L4lb } from '../src/apps/vnf/l4lb.js';
import { parseL4lb } from '../src/apps/vnf/options.js';
import { arp, eth, ip4, ipv4, udp } from './fixtures/vnf-frames.js';

const ipn = (s: string): number => ip4(s).reduce((a, b) => a * 256 + b, 0);

test('Maglev: balanced; a lost backend moves only its entries, spread over the others; its return restores the table', () => {
  const keys = ['10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.14', '10.0.0.15'].map(ipn);
  const m = new Maglev(keys, 65537);
  const c = m.counts();
  assert.ok(Math.max(...c) - Math.min(...c) <= 1, `balanced: ${c}`);
  const canonical = Int32Array.from(m.table);
  const alive = new Uint8Array([1, 1, 0, 1, 1]);
  const changed = m.build(alive);
  assert.equal(changed, c[2], 'exactly the lost backend\'s entries changed');
  for (let e = 0; e < m.size; e++) {
    if (canonical[e] !== 2) assert.equal(m.table[e], canonical[e], `entry ${e} of a live backend kept`);
    else assert.notEqual(m.table[e], 2);
  }
  const c2 = m.counts();
  assert.equal(c2[2], 0);
  for (const i of [0, 1, 3, 4]) assert.ok(Math.abs(c2[i]! - m.size / 4) < m.size * 0.01, `the freed entries spread evenly: ${c2}`);
  // flows: only the lost backend's move
  let moved = 0;
  for (let f = 0; f < 20000; f++) {
    const h = flowHash(6, ipn('10.0.0.2') + f, ipn('10.0.0.100'), 1024 + (f % 50000), 80);
    const before = canonical[h % m.size]!, now = m.lookup(h);
    if (before === 2) moved++;
    else assert.equal(now, before);
  }
  assert.ok(moved > 3000 && moved < 5000, `about a fifth of the flows moved (${moved})`);
  alive[2] = 1;
  m.build(alive);
  assert.deepEqual(m.table, canonical, 'back up: the canonical table');
  alive.fill(0);
  m.build(alive);
  assert.equal(m.lookup(123), -1, 'no backend up');
  assert.throws(() => new Maglev(keys, 65536), /prime/);
  const small = new Maglev(keys.slice(0, 2), 7);
  assert.deepEqual(small.counts().sort(), [3, 4]);
});

test('l4lb options: --vip, --backend, --mode, --workers, --layout', () => {
  const o = parseL4lb(['-i', 'x{1', '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80', '--backend', '10.0.0.11', '--backend', '10.0.0.12', '--mode', 'dsr']);
  assert.deepEqual([o.vip, o.vipPort, o.backends, o.mode], ['10.0.0.100', 80, ['10.0.0.11', '10.0.0.12'], 'dsr']);
  assert.throws(() => parseL4lb(['-i', 'x{1', '--ip', '10.0.0.1/24', '--vip', '10.0.0.100', '--backend', '10.0.0.11']), /ADDRESS:PORT/);
  assert.throws(() => parseL4lb(['-i', 'x{1', '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80']), /--backend/);
  assert.throws(() => parseL4lb(['-i', 'x{1', '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80', '--backend', '10.0.0.11', '--workers', 'two']), /invalid --workers 'two'/);
  const w = parseL4lb(['-i', 'x{1', '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80', '--backend', '10.0.0.11', '--workers', '3', '--layout', 'n-2']);
  assert.deepEqual([w.workers, w.layout], [3, 'n-2']);
});

// ------------------------------------------------------------------ on a pipe

const P = `nflb${process.pid}`;
const LB = '02:00:00:00:01:00', CL = '02:00:00:00:00:02', B1 = '02:00:00:00:00:11', B2 = '02:00:00:00:00:12';
const opened: { close(): void }[] = [];
after(() => { for (const o of opened.reverse()) o.close(); });

function sum16(b: Uint8Array | number[], s = 0): number {
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (i + 1 < b.length ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** TCP segment with its checksum (written here). */
function tcp(src: string, dst: string, sport: number, dport: number, flags: number, data: number[] = []): number[] {
  const t = [sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0, ...data];
  const c = ~sum16([...ip4(src), ...ip4(dst), 0, 6, t.length >> 8, t.length & 255, ...t, ...(t.length % 2 ? [0] : [])]) & 0xffff;
  t[16] = c >> 8; t[17] = c & 255;
  return t;
}

interface Seen { dstMac: string; srcMac: string; src: string; dst: string; sport: number; dport: number; proto: number }
/** Parse a frame the balancer sent, verifying the IPv4 and TCP/UDP checksums. */
function parse(f: Uint8Array): Seen {
  const hex = (a: Uint8Array): string => [...a].map((b) => b.toString(16).padStart(2, '0')).join(':');
  assert.equal((f[12]! << 8) | f[13]!, 0x0800);
  assert.equal(sum16(f.subarray(14, 34)), 0xffff, 'IPv4 header checksum');
  const tot = (f[16]! << 8) | f[17]!, l4 = f.subarray(34, 14 + tot), proto = f[23]!;
  if (proto === 6 || (proto === 17 && ((l4[6]! << 8) | l4[7]!) !== 0)) {
    assert.equal(sum16([...f.subarray(26, 34), 0, proto, l4.length >> 8, l4.length & 255, ...l4]), 0xffff, 'TCP/UDP checksum');
  }
  return { dstMac: hex(f.subarray(0, 6)), srcMac: hex(f.subarray(6, 12)), src: [...f.subarray(26, 30)].join('.'), dst: [...f.subarray(30, 34)].join('.'), sport: (l4[0]! << 8) | l4[1]!, dport: (l4[2]! << 8) | l4[3]!, proto };
}

let nPipe = 0;
function setup(mode: 'nat' | 'dsr', conntrackLimit?: number): { h: host.Host; lb: L4lb; peer: Port; take: () => Uint8Array[]; send: (...f: Uint8Array[]) => void; round: (dt?: number) => Uint8Array[] } {
  const n = nPipe++;
  const h = host.createHost({ port: `${P}{${n}`, ip: '10.0.0.1/24', mac: LB, aliases: ['10.0.0.100'] });
  const peer = open(`${P}}${n}`);
  opened.push(peer, h);
  const lb = new L4lb(h, { vip: '10.0.0.100', vipPort: 80, backends: ['10.0.0.11', '10.0.0.12'], mode, tableSize: 251, checkMs: 1000, conntrackLimit });
  const offs = new Uint32Array(1024), lens = new Uint16Array(1024);
  const take = (): Uint8Array[] => {
    const k = peer.receiveBatch(offs, lens);
    return Array.from({ length: k }, (_, i) => peer.u8.slice(offs[i], offs[i]! + lens[i]!));
  };
  const send = (...fs: Uint8Array[]): void => { for (const f of fs) assert.ok(peer.inject(f)); peer.txsync(); };
  let clock = 0;
  const round = (dt = 0): Uint8Array[] => {
    clock += dt;
    lb.clockSkew = clock;
    h.poll(0);
    lb.tick(h.now + clock);
    h.flush();
    return take();
  };
  return { h, lb, peer, take, send, round };
}

/** Answer the balancer's ARP requests for the backends named in `up`. */
function answerArp(frames: Uint8Array[], up: Record<string, string>): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of frames) {
    if (((f[12]! << 8) | f[13]!) !== 0x0806 || f[21] !== 1) continue;
    const target = [...f.subarray(38, 42)].join('.');
    if (up[target]) out.push(eth(LB, up[target]!, 0x0806, arp(2, up[target]!, target, LB, '10.0.0.1')));
  }
  return out;
}

const syn = (sport: number, flags = 0x02): Uint8Array => eth(LB, CL, 0x0800, ipv4('10.0.0.2', '10.0.0.100', 6, tcp('10.0.0.2', '10.0.0.100', sport, 80, flags)));

test('l4lb NAT on a pipe: ARP for the VIP, each flow to one backend, answers back from the VIP, checksums patched', () => {
  const { h, lb, send, round, take } = setup('nat');
  take(); // the gratuitous ARP
  const reqs = round();
  assert.equal(reqs.filter((f) => f[21] === 1).length, 2, 'an ARP request per backend');
  send(...answerArp(reqs, { '10.0.0.11': B1, '10.0.0.12': B2 }));
  round(0);
  assert.deepEqual([...lb.alive], [1, 1], 'both backends answered: up');
  // the client resolves the VIP
  send(eth('ff:ff:ff:ff:ff:ff', CL, 0x0806, arp(1, CL, '10.0.0.2', '00:00:00:00:00:00', '10.0.0.100')));
  const ans = round();
  assert.deepEqual([...ans[0]!.subarray(0, 42)], [...eth(CL, LB, 0x0806, arp(2, LB, '10.0.0.100', CL, '10.0.0.2'))], 'the VIP answered with our MAC');
  // 200 flows, twice each: the same backend both times, both backends used
  const where = new Map<number, string>();
  for (let pass = 0; pass < 2; pass++) {
    for (let p = 0; p < 200; p += 50) {
      for (let s = p; s < p + 50; s++) send(syn(30000 + s, pass ? 0x10 : 0x02));
      const out = round();
      assert.equal(out.length, 50);
      out.forEach((f, i) => {
        const s = parse(f);
        assert.equal(s.srcMac, LB);
        assert.ok((s.dst === '10.0.0.11' && s.dstMac === B1) || (s.dst === '10.0.0.12' && s.dstMac === B2), JSON.stringify(s));
        assert.deepEqual([s.src, s.sport, s.dport], ['10.0.0.2', 30000 + p + i, 80]);
        if (pass === 0) where.set(s.sport, s.dst); else assert.equal(where.get(s.sport), s.dst, 'the same flow, the same backend');
      });
    }
  }
  const n11 = [...where.values()].filter((d) => d === '10.0.0.11').length;
  assert.ok(n11 > 50 && n11 < 150, `both backends get flows (${n11} of 200 to .11)`);
  // an answer from a backend goes to the client from the VIP
  const b = where.get(30000)!, bmac = b === '10.0.0.11' ? B1 : B2;
  send(eth(LB, bmac, 0x0800, ipv4(b, '10.0.0.2', 6, tcp(b, '10.0.0.2', 80, 30000, 0x12, [1, 2, 3]))));
  const back = round();
  assert.equal(back.length, 1);
  const s = parse(back[0]!);
  assert.deepEqual([s.src, s.dst, s.sport, s.dport, s.dstMac, s.srcMac], ['10.0.0.100', '10.0.0.2', 80, 30000, CL, LB]);
  // UDP to the VIP too, with and without a checksum
  send(eth(LB, CL, 0x0800, ipv4('10.0.0.2', '10.0.0.100', 17, udp('10.0.0.2', '10.0.0.100', 5353, 80, [7, 7]))));
  send(eth(LB, CL, 0x0800, ipv4('10.0.0.2', '10.0.0.100', 17, udp('10.0.0.2', '10.0.0.100', 5354, 80, [7, 7], 'none'))));
  const u = round().map(parse);
  assert.equal(u.length, 2);
  assert.ok(u.every((x) => x.proto === 17 && x.dst.startsWith('10.0.0.1')));
  // backend .12 stops answering ARP: after 3 intervals it is down; its flows move, no other does
  let t = 0;
  for (let k = 0; k < 5; k++) { t += 1000; send(...answerArp(round(1000), { '10.0.0.11': B1 })); }
  round(0);
  assert.deepEqual([...lb.alive], [1, 0]);
  for (let p = 0; p < 200; p += 50) {
    for (let s2 = p; s2 < p + 50; s2++) send(syn(30000 + s2, 0x10));
    for (const f of round()) assert.equal(parse(f).dst, '10.0.0.11');
  }
  const r = lb.result(t / 1000);
  assert.equal(r.counters.moved, 200 - n11, 'only the flows of the lost backend moved');
  assert.equal(r.backends[1]!.up, false);
  assert.equal(r.counters.toClient, 1);
  assert.equal(r.counters.dropped, 0);
  assert.equal(h.stats().dropped, 0);
});

test('l4lb DSR: only the MACs change; hostile frames are counted by the host, nothing crashes', () => {
  const { h, lb, send, round, take } = setup('dsr');
  take();
  send(...answerArp(round(), { '10.0.0.11': B1, '10.0.0.12': B2 }));
  round(0);
  assert.deepEqual([...lb.alive], [1, 1]);
  const f = syn(40000);
  send(f);
  const out = round();
  assert.equal(out.length, 1);
  assert.ok(parse(out[0]!).dstMac === B1 || parse(out[0]!).dstMac === B2);
  assert.deepEqual([...out[0]!.subarray(12)], [...f.subarray(12)], 'the IP packet unchanged');
  // hostile: truncated, bad IP checksum, a fragment, a header cut in the middle of TCP
  const bad = f.slice(); bad[24] ^= 0x40;
  const frag = eth(LB, CL, 0x0800, ipv4('10.0.0.2', '10.0.0.100', 6, tcp('10.0.0.2', '10.0.0.100', 1, 80, 2), { flags: 0x2000 }));
  const short = f.slice(0, 40);
  short[16] = 0; short[17] = 26; // total length 26: 6 bytes of TCP
  short[24] = 0; short[25] = 0;
  const c = ~sum16(short.subarray(14, 34)) & 0xffff; short[24] = c >> 8; short[25] = c & 255;
  send(f.slice(0, 20), bad, frag, short);
  assert.equal(round().length, 0);
  const s = h.stats();
  assert.deepEqual([s.truncated, s.badIpChecksum, s.fragment, s.notOurIp], [1, 1, 1, 0]);
  assert.equal(s.otherProto, 1, 'a TCP segment too short to balance is left to the host: not UDP/ICMP, counted');
  // random frames to our MAC: no throw, every frame accounted for
  let seed = 99;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
  for (let i = 0; i < 2000; i++) {
    const g = f.slice(0, 14 + (rnd() % 60));
    for (let k = 14; k < g.length; k++) if (rnd() < 40) g[k] = rnd();
    send(g);
    round();
  }
  const s2 = h.stats(), r = lb.result(0);
  assert.equal(s2.rxFrames, s2.arpRequestsIn + s2.arpRepliesIn + s2.icmpEchoIn + s2.udpIn + s2.intercepted + s2.rxDropped);
  assert.equal(s2.intercepted, r.counters.toBackend + r.counters.toClient + r.counters.dropped);
});

test('l4lb: a connection table of 16 under 300 flows: evictions counted, every frame still placed by the table', () => {
  const { lb, send, round, take } = setup('nat', 16);
  take();
  send(...answerArp(round(), { '10.0.0.11': B1, '10.0.0.12': B2 }));
  round(0);
  const first = new Map<number, string>();
  for (let pass = 0; pass < 2; pass++) {
    for (let p = 0; p < 300; p += 50) {
      for (let s = p; s < p + 50; s++) send(syn(20000 + s));
      round().forEach((f, i) => {
        const x = parse(f);
        if (pass === 0) first.set(20000 + p + i, x.dst);
        else assert.equal(x.dst, first.get(20000 + p + i), 'an evicted flow is placed again where the table put it');
      });
    }
  }
  assert.equal(first.size, 300);
  const r = lb.result(0);
  assert.ok(r.conntrack.entries <= 16);
  assert.equal(r.conntrack.evictions, 600 - 16, 'every new entry beyond the limit evicted one');
  assert.equal(r.counters.toBackend, 600);
  assert.equal(r.counters.dropped, 0);
});
