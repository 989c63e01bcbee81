// nmts lb: the Toeplitz hash (Microsoft's verification vectors, symmetry of the 0x6d5a key,
// even spread), end-to-end forwarding over a VALE switch and over pipes (zero-copy proven by
// buffer indices), chained groups, overflow queues with extra buffers, lb's JSON statistics
// and the command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLoadBalancer, lbPipeNames, lbStatsLines } from '../src/apps/lb/lb.js';
import { NS_MOREFRAG, open, type Port } from '../src/index.js';
import { symmetricFlowHash, symmetricFlowHashBits } from '../src/packet/flow-hash.js';
import {
  MICROSOFT_KEY, RSS_KEY_SYMMETRIC, SYMMETRIC_KEY, lastFrameKind, rssFrameHash, rssFrameHashBits, toeplitz, toeplitzKey, FRAME_IPV4, FRAME_IPV6, FRAME_OTHER,
} from '../src/packet/toeplitz.js';

const id = process.pid;
const CLI = fileURLToPath(new URL('./fixtures/lb-cli.js', import.meta.url));

// ---- flows and frames ----

interface Flow { v6: boolean; src: number[]; dst: number[]; sport: number; dport: number; proto: number; vlan?: number }

function ip4(s: string): number[] { return s.split('.').map(Number); }
function ip6(s: string): number[] {
  const [a, b] = s.split('::');
  const words = (x: string | undefined): number[] => (x ? x.split(':').map((w) => parseInt(w, 16)) : []);
  const head = words(a), tail = b === undefined ? [] : words(b);
  const all = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  return all.flatMap((w) => [w >> 8, w & 0xff]);
}
const reverse = (f: Flow): Flow => ({ ...f, src: f.dst, dst: f.src, sport: f.dport, dport: f.sport });

/** Write an Ethernet/IP/UDP-or-TCP frame of `len` bytes at u8[o]; payload: seq then pattern. */
function writeFrame(u8: Uint8Array, o: number, f: Flow, seq: number, len: number): void {
  u8.fill(0, o, o + len);
  u8.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x11], o);
  let l3 = o + 14;
  if (f.vlan !== undefined) {
    u8.set([0x81, 0x00, f.vlan >> 8, f.vlan & 0xff], o + 12);
    l3 += 4;
  }
  const type = f.v6 ? 0x86dd : 0x0800;
  u8[l3 - 2] = type >> 8; u8[l3 - 1] = type & 0xff;
  let l4: number;
  if (f.v6) {
    u8[l3] = 0x60; u8[l3 + 6] = f.proto; u8[l3 + 7] = 64;
    const pl = len - (l3 - o) - 40;
    u8[l3 + 4] = pl >> 8; u8[l3 + 5] = pl & 0xff;
    u8.set(f.src, l3 + 8); u8.set(f.dst, l3 + 24);
    l4 = l3 + 40;
  } else {
    u8[l3] = 0x45; u8[l3 + 8] = 64; u8[l3 + 9] = f.proto;
    const tl = len - (l3 - o);
    u8[l3 + 2] = tl >> 8; u8[l3 + 3] = tl & 0xff;
    u8.set(f.src, l3 + 12); u8.set(f.dst, l3 + 16);
    l4 = l3 + 20;
  }
  u8.set([f.sport >> 8, f.sport & 0xff, f.dport >> 8, f.dport & 0xff], l4);
  const p = l4 + 20;
  u8[p] = seq >>> 24; u8[p + 1] = (seq >>> 16) & 0xff; u8[p + 2] = (seq >>> 8) & 0xff; u8[p + 3] = seq & 0xff;
  for (let k = p + 4; k < o + len; k++) u8[k] = (seq + k - o) & 0xff;
}

/** Frame of flow f hashed with the lb's default (symmetric) key. */
function frameHash(f: Flow, key = SYMMETRIC_KEY): number {
  const b = new Uint8Array(200);
  writeFrame(b, 0, f, 0, 120);
  return rssFrameHash(b, 0, 120, key);
}

/** Deterministic pseudo-random numbers. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0; s ^= s >>> 12; return s; };
}
function randomFlow(r: () => number, v6 = (r() & 3) === 0): Flow {
  const addr = (): number[] => Array.from({ length: v6 ? 16 : 4 }, () => r() & 0xff);
  return { v6, src: addr(), dst: addr(), sport: 1024 + (r() % 60000), dport: [80, 443, 53, 5060][r() & 3], proto: r() & 1 ? 6 : 17 };
}
const flowKey = (f: Flow): string => {
  const a = `${f.src.join('.')}:${f.sport}`, b = `${f.dst.join('.')}:${f.dport}`;
  return a < b ? `${a}|${b}` : `${b}|${a}`;
};

// ---- port helpers ----

/** Write frames seq from..from+n-1 (flow flows[seq % flows.length]) into p's tx ring 0; sync. Returns buffer indices. */
function send(p: Port, flows: Flow[], from: number, n: number, lenOf = (seq: number) => 100 + (seq % 400)): number[] {
  const r = p.txRings[0];
  const idx: number[] = [];
  let h = r.head;
  for (let i = 0; i < n; i++) {
    const seq = from + i;
    writeFrame(p.u8, r.buf(h), flows[seq % flows.length], seq, lenOf(seq));
    r.setLen(h, lenOf(seq));
    r.setSlotFlags(h, 0);
    idx.push(r.bufIdx(h));
    h = r.next(h);
  }
  r.advance(h);
  p.txsync();
  return idx;
}

interface Got { seq: number; buf: number; len: number; ok: boolean; hash: number; flags: number }

/** Drain a consumer: every frame, its seq, buffer index, and whether its bytes are intact. */
function drain(p: Port, flows: Flow[], lenOf = (seq: number) => 100 + (seq % 400)): Got[] {
  p.rxsync();
  const out: Got[] = [];
  const scratch = new Uint8Array(2048);
  for (const r of p.rxRings) {
    for (let i = r.head; i !== r.tail; i = r.next(i)) {
      const o = r.buf(i), len = r.len(i);
      const u8 = p.u8;
      // the seq follows the 20-byte L4 header; the frame's own headers give its offset
      let l3 = o + 14;
      if (u8[o + 12] === 0x81) l3 += 4;
      const l4 = l3 + (u8[l3 - 2] === 0x86 ? 40 : 20);
      const s = ((u8[l4 + 20] << 24) | (u8[l4 + 21] << 16) | (u8[l4 + 22] << 8) | u8[l4 + 23]) >>> 0;
      writeFrame(scratch, 0, flows[s % flows.length], s, lenOf(s));
      let ok = len === lenOf(s);
      for (let k = 0; ok && k < len; k++) if (scratch[k] !== u8[o + k]) ok = false;
      out.push({ seq: s, buf: r.bufIdx(i), len, ok, hash: rssFrameHash(u8, o, len), flags: r.slotFlags(i) });
    }
    r.advance(r.tail);
  }
  p.rxsync();
  return out;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

// ---- the hash ----

test('Toeplitz: Microsoft RSS verification vectors (IPv4 and IPv6, with and without ports)', () => {
  const v4: Array<[string, number, string, number, number, number]> = [
    ['161.142.100.80', 1766, '66.9.149.187', 2794, 0x323e8fc2, 0x51ccc178],
    ['65.69.140.83', 4739, '199.92.111.2', 14230, 0xd718262a, 0xc626b0ea],
    ['12.22.207.184', 38024, '24.19.198.95', 12898, 0xd2d0a5de, 0x5c2b394a],
    ['209.142.163.6', 2217, '38.27.205.30', 48228, 0x82989176, 0xafc7327f],
    ['202.188.127.2', 1303, '153.39.163.191', 44251, 0x5d1809c5, 0x10e828a2],
  ];
  for (const [dst, dport, src, sport, h2, h4] of v4) {
    const ports = [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff];
    assert.equal(toeplitz(MICROSOFT_KEY, [...ip4(src), ...ip4(dst)]), h2, `${src} -> ${dst}`);
    assert.equal(toeplitz(MICROSOFT_KEY, [...ip4(src), ...ip4(dst), ...ports]), h4, `${src}:${sport} -> ${dst}:${dport}`);
    // the same through the frame parser (TCP frame; plain VLAN-tagged too)
    const f: Flow = { v6: false, src: ip4(src), dst: ip4(dst), sport, dport, proto: 6 };
    assert.equal(frameHash(f, MICROSOFT_KEY), h4);
    assert.equal(lastFrameKind(), FRAME_IPV4);
    assert.equal(frameHash({ ...f, vlan: 100 }, MICROSOFT_KEY), h4, '802.1Q tag skipped');
    assert.equal(frameHash({ ...f, proto: 1 }, MICROSOFT_KEY), h2, 'ICMP: addresses only');
  }
  const v6: Array<[string, number, string, number, number, number]> = [
    ['3ffe:2501:200:3::1', 1766, '3ffe:2501:200:1fff::7', 2794, 0x2cc18cd5, 0x40207d3d],
    ['ff02::1', 4739, '3ffe:501:8::260:97ff:fe40:efab', 14230, 0x0f0c461c, 0xdde51bbf],
    ['fe80::200:f8ff:fe21:67cf', 38024, '3ffe:1900:4545:3:200:f8ff:fe21:67cf', 44251, 0x4b61e985, 0x02d1feef],
  ];
  for (const [dst, dport, src, sport, h2, h4] of v6) {
    const ports = [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff];
    assert.equal(toeplitz(MICROSOFT_KEY, [...ip6(src), ...ip6(dst)]), h2, `${src} -> ${dst}`);
    assert.equal(toeplitz(MICROSOFT_KEY, [...ip6(src), ...ip6(dst), ...ports]), h4);
    assert.equal(frameHash({ v6: true, src: ip6(src), dst: ip6(dst), sport, dport, proto: 17 }, MICROSOFT_KEY), h4);
    assert.equal(lastFrameKind(), FRAME_IPV6);
  }
  assert.throws(() => toeplitz(MICROSOFT_KEY, new Uint8Array(37)), RangeError);
});

test('symmetric key: A->B and B->A hash alike (raw tuples, IPv4, IPv6, VLAN, non-IP); the standard key is not symmetric', () => {
  assert.deepEqual(toeplitzKey(RSS_KEY_SYMMETRIC).table, SYMMETRIC_KEY.table);
  const r = rng(7);
  let asymmetric = 0;
  for (let i = 0; i < 2000; i++) {
    const f = randomFlow(r, i % 3 === 0);
    if (i % 5 === 0) f.vlan = i & 0xfff;
    assert.equal(frameHash(f), frameHash(reverse(f)), `flow ${i}`);
    const rev = reverse(f);
    const tuple = (x: Flow): number[] => [...x.src, ...x.dst, x.sport >> 8, x.sport & 0xff, x.dport >> 8, x.dport & 0xff];
    assert.equal(toeplitz(SYMMETRIC_KEY, tuple(f)), toeplitz(SYMMETRIC_KEY, tuple(rev)));
    if (frameHash(f, MICROSOFT_KEY) !== frameHash(rev, MICROSOFT_KEY)) asymmetric++;
  }
  assert.ok(asymmetric > 1900, 'the Microsoft key tells the directions apart');
  // non-IP: the MAC pair, both ways
  const a = new Uint8Array(64), b = new Uint8Array(64);
  a.set([1, 2, 3, 4, 5, 6, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x88, 0xcc]);
  b.set([0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 1, 2, 3, 4, 5, 6, 0x88, 0xcc]);
  assert.equal(rssFrameHash(a, 0, 60), rssFrameHash(b, 0, 60));
  assert.equal(lastFrameKind(), FRAME_OTHER);
  assert.notEqual(rssFrameHash(a, 0, 60), 0);
});

test('the symmetric key folds its input (two lookups): the same hash as byte by byte, for every kind of frame', () => {
  assert.equal(SYMMETRIC_KEY.periodic16, true);
  assert.equal(MICROSOFT_KEY.periodic16, false);
  const bytewise = { ...SYMMETRIC_KEY, periodic16: false }; // the general path, same table
  const r = rng(11);
  for (let i = 0; i < 3000; i++) {
    const f = randomFlow(r, i % 3 === 0);
    if (i % 5 === 0) f.vlan = i & 0xfff;
    if (i % 7 === 0) f.proto = 1; // no ports: the addresses alone
    assert.equal(frameHash(f), frameHash(f, bytewise), `flow ${i}`);
    const tuple = f.proto === 1 ? [...f.src, ...f.dst] : [...f.src, ...f.dst, f.sport >> 8, f.sport & 0xff, f.dport >> 8, f.dport & 0xff];
    assert.equal(frameHash(f), toeplitz(SYMMETRIC_KEY, tuple), `flow ${i}: the Toeplitz hash of its tuple`);
  }
  // non-IP frames: the MAC pair
  const b = new Uint8Array(64);
  for (let i = 0; i < 200; i++) {
    for (let j = 0; j < 12; j++) b[j] = r() & 0xff;
    b[12] = 0x88; b[13] = 0xcc;
    assert.equal(rssFrameHash(b, 0, 60), rssFrameHash(b, 0, 60, bytewise));
  }
});

test('the int32 forms of the hashes (for hot loops) hold the same 32 bits, for IPv4, IPv6 and non-IP frames', () => {
  const r = rng(7);
  const b = new Uint8Array(128);
  let high = 0;
  for (let i = 0; i < 3000; i++) {
    for (let j = 0; j < b.length; j++) b[j] = r() & 0xff;
    const kind = i % 3;
    b[12] = kind === 0 ? 0x08 : kind === 1 ? 0x86 : 0x88; b[13] = kind === 0 ? 0x00 : kind === 1 ? 0xdd : 0xcc;
    if (kind === 0) { b[14] = 0x45; b[20] = 0; b[21] = 0; b[23] = 17; }
    if (kind === 1) b[20] = 6;
    const u = rssFrameHash(b, 0, 120), bits = rssFrameHashBits(b, 0, 120);
    assert.ok(u >= 0 && u < 2 ** 32 && Number.isInteger(u));
    assert.equal(bits, u | 0);
    assert.equal(rssFrameHash(b, 0, 120, MICROSOFT_KEY), rssFrameHashBits(b, 0, 120, MICROSOFT_KEY) >>> 0);
    const f = symmetricFlowHash(b, 0, 120);
    assert.ok(f >= 0 && f < 2 ** 32 && Number.isInteger(f));
    assert.equal(symmetricFlowHashBits(b, 0, 120), f | 0);
    if (u >= 2 ** 31) high++;
  }
  assert.ok(high > 1000, `about half the hashes above 2^31 (${high})`);
});

test('even spread: 10k random flows over 4 pipes within ±10 %', () => {
  const r = rng(42);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 10_000; i++) counts[frameHash(randomFlow(r)) % 4]++;
  for (const c of counts) assert.ok(c > 2250 && c < 2750, `counts ${counts.join(' ')}`);
  // 3 pipes (not a power of two) too
  const c3 = [0, 0, 0];
  for (let i = 0; i < 9_000; i++) c3[frameHash(randomFlow(r)) % 3]++;
  for (const c of c3) assert.ok(c > 2700 && c < 3300, `counts ${c3.join(' ')}`);
});

// ---- naming ----

test('pipe names: after the input, same-name groups continue numbering, bad names refused', () => {
  assert.deepEqual(lbPipeNames('vale0:1').map((p) => [p.master, p.consumer]), [['vale0:1{0/xT', 'vale0:1}0'], ['vale0:1{1/xT', 'vale0:1}1']]);
  const g = lbPipeNames('vale0:in', [{ count: 2 }, { name: 'ids', count: 1 }, { count: 1 }, { name: 'vale0:ids', count: 1 }]);
  assert.deepEqual(g.map((p) => `${p.group}:${p.consumer}`), ['0:vale0:in}0', '0:vale0:in}1', '1:vale0:ids}0', '2:vale0:in}2', '3:vale0:ids}1']);
  assert.deepEqual(lbPipeNames('x}3', [{ count: 2 }, { name: 'b', count: 1 }]).map((p) => p.consumer), ['x}3_0', 'x}3_1', 'x}b_0']);
  assert.throws(() => lbPipeNames('vale0:1', [{ count: 0 }]), /at least 1/);
  assert.throws(() => lbPipeNames('x}3', [{ name: 'a-b', count: 1 }]), /pipe id|ring number/);
});

// ---- forwarding ----

/** N frames of 300 flows through lb to `outputs` consumers (a power of two: the mask; else the modulus). */
async function endToEnd(outputs: number): Promise<void> {
  const sw = `valelb${id}o${outputs}`;
  const sender = open(`${sw}:s`);
  const lb = createLoadBalancer({ input: `${sw}:in`, outputs, batch: 256 });
  assert.deepEqual(lb.consumers(), Array.from({ length: outputs }, (_, i) => `${sw}:in}${i}`));
  assert.match(lb.pipes[0].interface, new RegExp(`^${sw}:in\\{0/xT@\\d+$`));
  const cons = lb.consumers().map((n) => open(n));
  const r = rng(3);
  const base = Array.from({ length: 150 }, () => randomFlow(r));
  const flows = base.flatMap((f) => [f, reverse(f)]);
  const N = 6000;
  const running = lb.run();
  const got: Got[][] = Array.from({ length: outputs }, () => []);
  let sent = 0, total = 0;
  const deadline = Date.now() + 15_000;
  while (total < N && Date.now() < deadline) {
    if (sent < N && sent - lb.totals.received < 512) {
      const n = Math.min(256, N - sent, sender.txRings[0].space());
      if (n > 0) { send(sender, flows, sent, n); sent += n; }
    }
    cons.forEach((c, i) => { const g = drain(c, flows); got[i].push(...g); total += g.length; });
    await tick();
  }
  const totals = await lb.stop();
  assert.equal(total, N, `received ${total} of ${N}`);
  assert.deepEqual([totals.received, totals.forwarded, totals.dropped, totals.nonIp], [N, N, 0, 0]);
  assert.equal(lb.exitLine(), `${N} packets forwarded.  0 packets dropped. Total ${N}`);
  const seen = new Set<number>();
  const pipeOfFlow = new Map<string, number>();
  got.forEach((list, pipe) => {
    assert.ok(list.length > N / 8, `pipe ${pipe} got ${list.length}`);
    for (const g of list) {
      assert.ok(g.ok, `frame ${g.seq} intact`);
      assert.ok(!seen.has(g.seq), `frame ${g.seq} once`);
      seen.add(g.seq);
      assert.equal(g.hash % outputs, pipe);
      const k = flowKey(flows[g.seq % flows.length]);
      assert.equal(pipeOfFlow.get(k) ?? pipe, pipe, `flow ${k} on one pipe`);
      pipeOfFlow.set(k, pipe);
    }
  });
  assert.equal(pipeOfFlow.size, 150, 'both directions of each flow share a pipe');
  assert.ok(got.some((l) => l.some((g) => g.hash >= 2 ** 31)), 'some hashes above 2^31 (a uint32 that is no int32)');
  for (const c of cons) c.close();
  sender.close();
  await running;
}

test('end-to-end over a VALE switch: N frames of 300 flows reach 4 consumers once, each flow (both directions) on one pipe, bytes intact', () => endToEnd(4));
test('the same with 3 consumers: the pipe is the hash modulo 3, hashes above 2^31 included', () => endToEnd(3));

test('zero-copy with a pipe input: the very buffers the sender filled reach the consumers; fragment chains stay on one pipe', () => {
  const base = `lbz${id}`;
  const feed = open(`${base}{0`);
  const lb = createLoadBalancer({ input: `${base}}0`, outputs: 4 });
  assert.deepEqual(lb.consumers(), [0, 1, 2, 3].map((i) => `${base}}0_${i}`));
  const cons = lb.consumers().map((n) => open(n));
  const r = rng(11);
  const flows = Array.from({ length: 64 }, () => randomFlow(r));
  const sentIdx = send(feed, flows, 0, 800);
  assert.equal(lb.step(), 800);
  const got = cons.flatMap((c) => drain(c, flows));
  assert.equal(got.length, 800);
  assert.ok(got.every((g) => g.ok));
  assert.deepEqual(got.map((g) => g.buf).sort((a, b) => a - b), [...sentIdx].sort((a, b) => a - b), 'buffer indices moved, nothing copied');
  // a 3-slot chain (NS_MOREFRAG) goes whole to the pipe of its first slot
  const ring = feed.txRings[0];
  let h = ring.head;
  const chainBufs: number[] = [];
  for (let k = 0; k < 3; k++) {
    writeFrame(feed.u8, ring.buf(h), flows[5], 5, 105);
    ring.setLen(h, 105);
    ring.setSlotFlags(h, k < 2 ? NS_MOREFRAG : 0);
    chainBufs.push(ring.bufIdx(h));
    h = ring.next(h);
  }
  ring.advance(h);
  feed.txsync();
  lb.step();
  const pipe = rssFrameHash(feed.u8, ring.bufAt(chainBufs[0]), 105) % 4;
  const chain = drain(cons[pipe], flows);
  assert.deepEqual(chain.map((g) => g.buf), chainBufs);
  assert.deepEqual(chain.map((g) => g.flags & NS_MOREFRAG), [NS_MOREFRAG, NS_MOREFRAG, 0]);
  assert.ok(chain.every((g) => g.ok));
  assert.equal(lb.totals.received, 803);
  lb.close();
  for (const c of cons) c.close();
  feed.close();
});

test('chained groups: every packet reaches group 0, then (once released) the same buffer reaches group 1', () => {
  const base = `lbg${id}`;
  const feed = open(`${base}{0`);
  const lb = createLoadBalancer({ input: `${base}}0`, groups: [{ count: 2 }, { name: 'b', count: 3 }] });
  assert.deepEqual(lb.consumers(1), [`${base}}b_0`, `${base}}b_1`, `${base}}b_2`]);
  const g0 = lb.consumers(0).map((n) => open(n)), g1 = lb.consumers(1).map((n) => open(n));
  const r = rng(5);
  const flows = Array.from({ length: 40 }, () => randomFlow(r));
  send(feed, flows, 0, 300);
  lb.step();
  assert.equal(g1.flatMap((c) => drain(c, flows)).length, 0, 'group 1 waits for group 0');
  const first = g0.flatMap((c) => drain(c, flows));
  assert.equal(first.length, 300);
  lb.step(); // picks up the slots group 0 released
  const second = g1.map((c) => drain(c, flows));
  const all = second.flat();
  assert.equal(all.length, 300);
  assert.ok(all.every((g) => g.ok));
  second.forEach((list, pipe) => { for (const g of list) assert.equal(g.hash % 3, pipe); });
  assert.deepEqual(all.map((g) => g.buf).sort((a, b) => a - b), first.map((g) => g.buf).sort((a, b) => a - b), 'the same buffers, passed on');
  assert.deepEqual([lb.totals.received, lb.totals.forwarded, lb.totals.dropped], [300, 600, 0]);
  lb.close();
  for (const c of [...g0, ...g1]) c.close();
  feed.close();
});

const PIPE_KEYS = ['ts', 'interface', 'output_ring', 'packets_forwarded', 'packets_dropped', 'data_forward_rate_Mbps', 'data_drop_rate_Mbps', 'packet_forward_rate_kpps', 'packet_drop_rate_kpps', 'overflow_queue_size'];
const AGG_KEYS = ['ts', 'interface', 'output_ring', 'packets_received', 'packets_forwarded', 'packets_dropped', 'non_ip_packets', 'data_forward_rate_Mbps', 'data_drop_rate_Mbps', 'packet_forward_rate_kpps', 'packet_drop_rate_kpps', 'free_buffer_slots'];

test('-B overflow queue: a consumer that does not drain fills its pipe, then the queue, then drops are counted; order kept; no buffer leaks', () => {
  const base = `lbo${id}`;
  const feed = open(`${base}{0`);
  const freeBefore = feed.region.freeBuffers();
  const lb = createLoadBalancer({ input: `${base}}0`, outputs: 1, extraBufs: 300, pipeSlots: 64 });
  const cons = open(lb.consumers()[0]);
  const r = rng(9);
  const flows = Array.from({ length: 30 }, () => randomFlow(r));
  const prev = lb.counters();
  send(feed, flows, 0, 563);
  lb.step();
  assert.deepEqual([lb.totals.received, lb.totals.forwarded, lb.totals.dropped], [563, 63, 200]);
  assert.deepEqual(lb.queued(), [300]);
  const lines = lbStatsLines(lb.counters(), prev).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  assert.deepEqual(Object.keys(lines[0]), PIPE_KEYS);
  assert.deepEqual(Object.keys(lines[1]), AGG_KEYS);
  assert.equal(lines[0].output_ring, 0);
  assert.equal(lines[0].interface, lb.pipes[0].interface);
  assert.equal(lines[0].packets_forwarded, 63);
  assert.equal(lines[0].packets_dropped, 200);
  assert.equal(lines[0].overflow_queue_size, 300);
  assert.equal(lines[1].output_ring, null);
  assert.equal(lines[1].interface, `${base}}0`);
  assert.deepEqual([lines[1].packets_received, lines[1].packets_forwarded, lines[1].packets_dropped, lines[1].non_ip_packets, lines[1].free_buffer_slots], [563, 63, 200, 0, 0]);
  assert.ok((lines[1].packet_drop_rate_kpps as number) > 0);
  // now the consumer drains: the queue empties into the pipe, in order
  const got: Got[] = [];
  for (let i = 0; i < 20 && got.length < 363; i++) { got.push(...drain(cons, flows)); lb.step(); }
  assert.deepEqual(got.map((g) => g.seq), Array.from({ length: 363 }, (_, i) => i), 'the first 363 frames, in order');
  assert.ok(got.every((g) => g.ok));
  assert.deepEqual(lb.queued(), [0]);
  assert.deepEqual([lb.totals.forwarded, lb.totals.dropped], [363, 200]);
  assert.equal(lb.counters().freeq, 300, 'the extra buffers are free again');
  lb.close();
  cons.close();
  assert.equal(feed.region.freeBuffers(), freeBefore, 'every buffer went back to the region');
  feed.close();
});

test('-B exhausted across pipes: the longest queue is revoked (counted as drops); counts add up', () => {
  const base = `lbr${id}`;
  const feed = open(`${base}{0`);
  const lb = createLoadBalancer({ input: `${base}}0`, outputs: 2, extraBufs: 100, pipeSlots: 16 });
  const cons = lb.consumers().map((n) => open(n));
  const r = rng(13);
  const flows = Array.from({ length: 50 }, () => randomFlow(r));
  send(feed, flows, 0, 400);
  lb.step();
  const t = lb.totals, q = lb.queued();
  const c = lb.counters();
  assert.equal(t.received, 400);
  assert.equal(t.forwarded, 30, 'two pipes of 15 usable slots');
  assert.equal(q[0] + q[1] + c.freeq, 100, 'extra buffers are queued or free');
  assert.equal(t.forwarded + t.dropped + q[0] + q[1], 400);
  assert.ok(t.dropped > 0);
  assert.equal(c.pipes[0].drop + c.pipes[1].drop, t.dropped);
  lb.close();
  for (const x of cons) x.close();
  feed.close();
});

test('lb needs the pipes in the input\'s region (zero-copy): another switch is refused', () => {
  const s = open(`valelbx${id}:keep`);
  assert.throws(() => createLoadBalancer({ input: `valelbx${id}:in`, groups: [{ name: `valelby${id}:p`, count: 1 }] }), /memory region/);
  // nothing left behind: the same input opens again
  const lb = createLoadBalancer({ input: `valelbx${id}:in`, outputs: 1 });
  lb.close();
  s.close();
});

// ---- command line ----

test('nmts lb: bad flags exit 2, an unavailable port exits 1', () => {
  const cases: string[][] = [[], ['-i'], ['-i', 'vale0:1', '-p', '0'], ['-x'], ['-i', 'vale0:1', '-b', 'abc'], ['-i', 'vale0:1', '-p', ':3'], ['-i', 'vale0:1', '-B', '-1'], ['-i', 'a}b{c'], ['-i', 'vale0:1', 'extra']];
  for (const args of cases) {
    const res = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(res.status, 2, `${args.join(' ')}: ${res.stderr}`);
    assert.match(res.stderr, /usage: nmts lb|invalid port name/);
  }
  const res = spawnSync(process.execPath, [CLI, '-i', 'nmtsnone0'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(res.status, 1, res.stderr);
  const help = spawnSync(process.execPath, [CLI, '-h'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /-p \[name:\]N/);
});

test('nmts lb -o: JSON statistics lines with lb\'s keys, and the exit line on SIGINT', async () => {
  const sw = `valelbc${id}`;
  const child = spawn(process.execPath, [CLI, '-i', `${sw}:in`, '-p', '2', '-B', '10', '-o', '0.2'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const until = async (f: () => boolean, what: string): Promise<void> => {
    const end = Date.now() + 10_000;
    while (!f()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; stdout ${out} stderr ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until(() => /read it as .*\}1/.test(err), 'the pipes');
  const sender = open(`${sw}:s`);
  const c0 = open(`${sw}:in}0`), c1 = open(`${sw}:in}1`);
  const r = rng(21);
  const flows = Array.from({ length: 20 }, () => randomFlow(r));
  send(sender, flows, 0, 100);
  const aggregate = (): Record<string, unknown> | undefined => out.split('\n').filter((l) => l.includes('"output_ring":null'))
    .map((l) => JSON.parse(l) as Record<string, unknown>).find((j) => j.packets_forwarded === 100);
  await until(() => aggregate() !== undefined, 'a stats line with 100 packets');
  const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const j of lines) assert.deepEqual(Object.keys(j), j.output_ring === null ? AGG_KEYS : PIPE_KEYS);
  const agg = aggregate()!;
  assert.equal(agg.packets_received, 100);
  assert.equal(agg.free_buffer_slots, 10);
  assert.equal(agg.interface, `${sw}:in`);
  assert.equal(drain(c0, flows).length + drain(c1, flows).length, 100);
  child.kill('SIGINT');
  assert.equal(await exited, 0, err);
  assert.match(out, /\n100 packets forwarded\. {2}0 packets dropped\. Total 100\n$/);
  c0.close(); c1.close(); sender.close();
});
