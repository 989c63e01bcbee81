// packet/vxlan.ts: the VXLAN header, the outer IPv4/UDP headers, whole encapsulation and the
// checks of decapsulation (every cause), and tshark's reading of what encapsulate writes
// (`-d udp.port==4789,vxlan`: VNI, flags, TTL, DF, checksums, the inner frame intact); the
// IPv6 outer headers with their UDP checksum, verified by tshark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checksumAdd, ipv4HeaderChecksum } from '../src/packet/checksum.js';
import { PcapWriter } from '../src/packet/pcap.js';
import {
  decapsulate, encapsulate, formatIpv4, parseIpv4, parseVtep, readVxlanHeader, vxlanHeaderSum, writeOuterIpv6Udp, vxlanSourcePort, writeVxlanHeader, VX_BAD_FLAGS, VX_BAD_LENGTH,
  VX_FRAGMENT, VX_NOT_IPV4, VX_NOT_UDP, VX_SHORT, VXLAN_OVERHEAD, VXLAN_PORT, VXLAN_SPORT_MIN, type VxlanFound, type VxlanOuter,
} from '../src/packet/vxlan.js';
import { needs } from './fixtures/requires.js';

/** An inner Ethernet/IPv4/UDP frame of `len` bytes between two MACs, UDP ports sport -> dport. */
function innerFrame(len: number, sport: number, dport: number, srcLast = 1): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, srcLast, 0x08, 0x00], 0);
  f.set([0x45, 0, (len - 14) >> 8, (len - 14) & 0xff, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 7, 1, 192, 168, 7, 2], 14);
  const c = ipv4HeaderChecksum(f, 14);
  f[24] = c >> 8; f[25] = c & 0xff;
  f.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, (len - 34) >> 8, (len - 34) & 0xff, 0, 0], 34);
  for (let i = 42; i < len; i++) f[i] = i & 0xff;
  return f;
}

const OUTER: VxlanOuter = {
  vni: 42, src: parseIpv4('10.0.0.1'), dst: parseIpv4('10.0.0.2'), ttl: 64, df: true, dstPort: VXLAN_PORT,
  srcMac: Uint8Array.from([0x02, 0xaa, 0, 0, 0, 1]), dstMac: Uint8Array.from([0x02, 0xbb, 0, 0, 0, 2]),
};

test('VXLAN header: written with the I flag and the VNI, read back; other flags are refused', () => {
  const b = new Uint8Array(8 + 14);
  writeVxlanHeader(b, 0, 0xabcdef);
  assert.deepEqual([...b.subarray(0, 8)], [0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0]);
  assert.equal(readVxlanHeader(b, 0, b.length), 0xabcdef);
  assert.equal(readVxlanHeader(b, 0, 8 + 13), VX_SHORT);
  for (const [at, v] of [[0, 0x00], [0, 0x88], [1, 1], [3, 0x80], [7, 1]] as const) {
    const c = b.slice();
    c[at] = v;
    assert.equal(readVxlanHeader(c, 0, c.length), VX_BAD_FLAGS, `byte ${at} = ${v}`);
  }
});

test('source port: from the inner flow hash, in 49152-65535, the same for both directions of a flow', () => {
  const seen = new Set<number>();
  for (let p = 1000; p < 1200; p++) {
    const a = innerFrame(60, p, 80), sp = vxlanSourcePort(a, 0, 60);
    assert.ok(sp >= VXLAN_SPORT_MIN && sp <= 65535);
    seen.add(sp);
    const back = innerFrame(60, 80, p);
    back.copyWithin(30, 26, 30); // swap the IP addresses too (symmetric hash)
    back.set([192, 168, 7, 2], 26);
    back.set([192, 168, 7, 1], 30);
    assert.equal(vxlanSourcePort(back, 0, 60), sp);
  }
  assert.ok(seen.size > 150, `flows spread over source ports (${seen.size} distinct of 200)`);
});

test('encapsulate adds 50 bytes; decapsulate gives back the inner frame, VNI and VTEP', () => {
  const inner = innerFrame(98, 5000, 6000);
  const out = new Uint8Array(2048);
  const n = encapsulate(out, 0, inner, 0, inner.length, OUTER, 7);
  assert.equal(n, inner.length + VXLAN_OVERHEAD);
  assert.equal(ipv4HeaderChecksum(out, 14), (out[24] << 8) | out[25], 'outer IP checksum');
  assert.equal(out[14 + 8], 64, 'TTL');
  assert.equal(out[14 + 6] & 0x40, 0x40, 'DF');
  assert.equal((out[40] << 8) | out[41], 0, 'UDP checksum 0');
  const f: VxlanFound = { vni: 0, innerOff: 0, innerLen: 0, src: 0, srcPort: 0 };
  assert.equal(decapsulate(out, 0, n, VXLAN_PORT, f), 0);
  assert.equal(f.vni, 42);
  assert.equal(formatIpv4(f.src), '10.0.0.1');
  assert.equal(f.srcPort, vxlanSourcePort(inner, 0, inner.length));
  assert.deepEqual(out.subarray(f.innerOff, f.innerOff + f.innerLen), inner);
  // in place: the frame already 50 bytes into the buffer
  const buf = new Uint8Array(2048);
  buf.set(inner, 50);
  assert.equal(encapsulate(buf, 0, buf, 50, inner.length, OUTER, 7), n);
  assert.deepEqual(buf.subarray(0, n), out.subarray(0, n));
  // DF off, another TTL
  encapsulate(out, 0, inner, 0, inner.length, { ...OUTER, df: false, ttl: 5 });
  assert.equal(out[20] & 0x40, 0);
  assert.equal(out[22], 5);
});

test('decapsulate: each malformed kind has its cause', () => {
  const inner = innerFrame(60, 1, 2);
  const good = new Uint8Array(200);
  const n = encapsulate(good, 0, inner, 0, 60, OUTER);
  const f: VxlanFound = { vni: 0, innerOff: 0, innerLen: 0, src: 0, srcPort: 0 };
  const variant = (edit: (b: Uint8Array) => void, len = n): number => {
    const b = good.slice();
    edit(b);
    return decapsulate(b, 0, len, VXLAN_PORT, f);
  };
  assert.equal(variant(() => {}, 63), VX_SHORT);
  assert.equal(variant((b) => { b[12] = 0x86; b[13] = 0xdd; }), VX_NOT_IPV4);
  assert.equal(variant((b) => { b[14] = 0x46; }), VX_NOT_IPV4);
  assert.equal(variant((b) => { b[23] = 6; }), VX_NOT_UDP);
  assert.equal(variant((b) => { b[36] = 0; b[37] = 53; }), VX_NOT_UDP);
  assert.equal(variant((b) => { b[20] |= 0x20; }), VX_FRAGMENT);
  assert.equal(variant((b) => { b[21] = 1; }), VX_FRAGMENT);
  assert.equal(variant((b) => { b[17] += 4; }), VX_BAD_LENGTH); // IP length beyond the frame
  assert.equal(variant((b) => { b[39] -= 2; }), VX_BAD_LENGTH); // UDP length disagrees
  assert.equal(variant((b) => { b[42] = 0x0c; }), VX_BAD_FLAGS);
  assert.equal(variant(() => {}), 0);
});

test('addresses: dotted quads parse and format; others are NaN', () => {
  assert.equal(parseIpv4('10.0.0.1'), 0x0a000001);
  assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
  assert.ok(Number.isNaN(parseIpv4('256.0.0.1')));
  assert.ok(Number.isNaN(parseIpv4('10.0.0')));
  assert.equal(formatIpv4(0xc0a80701), '192.168.7.1');
});

test('tshark reads encapsulated frames as VXLAN: VNI, flags, outer TTL/DF/checksums, the inner flow', { skip: needs(['tshark']) }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vxlan-'));
  try {
    const w = new PcapWriter();
    const file = new Uint8Array(1 << 16);
    let at = w.writeHeader(file, 0);
    const frame = new Uint8Array(2048);
    const vnis = [42, 1, 0xffffff];
    for (let i = 0; i < vnis.length; i++) {
      const inner = innerFrame(60 + i * 100, 4000 + i, 80, 1 + i);
      const n = encapsulate(frame, 0, inner, 0, inner.length, { ...OUTER, vni: vnis[i], ttl: 10 + i, df: i !== 1 }, i + 1);
      at = w.writeRecord(file, at, frame, 0, n, 1_700_000_000 + i, 0);
    }
    const path = join(dir, 'vx.pcap');
    writeFileSync(path, file.subarray(0, at));
    const fields = ['vxlan.vni', 'vxlan.flags', 'ip.ttl', 'ip.flags.df', 'ip.checksum.status', 'udp.checksum', 'udp.dstport', 'eth.src', 'ip.src', 'udp.srcport', 'frame.len'];
    const r = spawnSync('tshark', ['-r', path, '-o', 'ip.check_checksum:TRUE', '-d', 'udp.port==4789,vxlan', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,',
      ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => l.split('|'));
    assert.equal(rows.length, 3);
    rows.forEach((row, i) => {
      const v = Object.fromEntries(fields.map((f, k) => [f, row[k]]));
      assert.equal(v['vxlan.vni'], String(vnis[i]), `frame ${i}: VNI`);
      assert.equal(v['vxlan.flags'], '0x0800', `frame ${i}: flags`);
      assert.equal(v['ip.ttl'].split(',')[0], String(10 + i), `frame ${i}: outer TTL`);
      assert.equal(v['ip.flags.df'].split(',')[0], i === 1 ? '0' : '1', `frame ${i}: DF`);
      assert.equal(v['ip.checksum.status'].split(',')[0], '1', `frame ${i}: outer IP checksum good`); // 1 = good, 0 = bad, 2 = unverified
      assert.equal(v['udp.checksum'].split(',')[0], '0x0000', `frame ${i}: outer UDP checksum none`);
      assert.equal(v['udp.dstport'].split(',')[0], '4789');
      assert.equal(v['eth.src'], `02:aa:00:00:00:01,02:00:00:00:00:0${1 + i}`, `frame ${i}: outer and inner source MACs`);
      assert.equal(v['ip.src'], '10.0.0.1,192.168.7.1');
      assert.equal(v['udp.srcport'].split(',')[1], String(4000 + i), `frame ${i}: inner UDP source port`);
      assert.equal(v['frame.len'], String(110 + i * 100));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** An outer Ethernet + IPv6 + UDP + VXLAN frame around `inner`, as the port writes it over an IPv6 underlay. */
function encapsulate6(out: Uint8Array, inner: Uint8Array, vni: number, sport: number, hop: number): number {
  const src = parseVtep('fd00::1')!, dst = parseVtep('fd00::2')!;
  out.set([0x02, 0xbb, 0, 0, 0, 2, 0x02, 0xaa, 0, 0, 0, 1, 0x86, 0xdd], 0);
  writeVxlanHeader(out, 14 + 48, vni);
  out.set(inner, 14 + 56);
  const psum = checksumAdd(inner, 0, inner.length, vxlanHeaderSum(vni));
  writeOuterIpv6Udp(out, 14, src, 0, dst, 0, hop, sport, VXLAN_PORT, 8 + inner.length, psum);
  return 14 + 56 + inner.length;
}

test('IPv6 outer headers: hop limit, addresses, and the UDP checksum IPv6 requires, verified by tshark', { skip: needs(['tshark']) }, () => {
  // the header's own sum equals checksumAdd over its bytes
  const h = new Uint8Array(8);
  writeVxlanHeader(h, 0, 0xabcdef);
  assert.equal(checksumAdd(h, 0, 8, 0), vxlanHeaderSum(0xabcdef));
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vxlan6-'));
  try {
    const w = new PcapWriter();
    const file = new Uint8Array(1 << 16);
    let at = w.writeHeader(file, 0);
    const frame = new Uint8Array(2048);
    const lens = [60, 61, 1430];
    for (let i = 0; i < lens.length; i++) {
      const n = encapsulate6(frame, innerFrame(lens[i], 5000 + i, 80), 42 + i, 50000 + i, 30 + i);
      at = w.writeRecord(file, at, frame, 0, n, 1_700_000_000 + i, 0);
    }
    // a payload whose checksum comes out 0 is sent as 0xffff: find one by varying a byte
    const inner = innerFrame(60, 1, 2);
    for (let v = 0; v < 65536; v++) {
      inner[58] = v >> 8; inner[59] = v & 0xff;
      const n = encapsulate6(frame, inner, 42, 50000, 64);
      if (frame[14 + 46] === 0xff && frame[14 + 47] === 0xff) { at = w.writeRecord(file, at, frame, 0, n, 1_700_000_010, 0); break; }
    }
    const path = join(dir, 'vx6.pcap');
    writeFileSync(path, file.subarray(0, at));
    const fields = ['ipv6.src', 'ipv6.dst', 'ipv6.hlim', 'udp.srcport', 'udp.checksum', 'udp.checksum.status', 'vxlan.vni', 'ip.src'];
    const r = spawnSync('tshark', ['-r', path, '-o', 'udp.check_checksum:TRUE', '-d', 'udp.port==4789,vxlan', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=f',
      ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => Object.fromEntries(l.split('|').map((x, k) => [fields[k], x])));
    assert.equal(rows.length, 4, 'three frames and the 0xffff one');
    rows.forEach((v, i) => {
      assert.equal(v['ipv6.src'], 'fd00::1');
      assert.equal(v['ipv6.dst'], 'fd00::2');
      assert.equal(v['udp.checksum.status'], '1', `frame ${i}: UDP checksum good (${v['udp.checksum']})`);
      assert.equal(v['ip.src'], '192.168.7.1', 'the inner frame decoded');
      if (i < 3) {
        assert.equal(v['ipv6.hlim'], String(30 + i));
        assert.equal(v['udp.srcport'], String(50000 + i));
        assert.equal(v['vxlan.vni'], String(42 + i));
      }
    });
    assert.equal(rows[3]['udp.checksum'], '0xffff');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
