import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddrParseError, formatAddrRange, formatIPv4, formatIPv6, formatMac, parseAddrRange, parseIPv4, parseIPv6, parseMac,
} from '../src/packet/addr.js';

function throwsAt(fn: () => unknown, pos: number, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AddrParseError, `not an AddrParseError: ${String(e)}`);
    assert.equal(e.pos, pos, e.message);
    assert.match(e.message, re);
    assert.match(e.message, new RegExp(`column ${pos + 1}`));
    return true;
  });
}

test('parseMac / formatMac', () => {
  assert.deepEqual([...parseMac('00:1b:21:AB:cd:ef')], [0x00, 0x1b, 0x21, 0xab, 0xcd, 0xef]);
  assert.deepEqual([...parseMac('00-1b-21-ab-cd-ef')], [0x00, 0x1b, 0x21, 0xab, 0xcd, 0xef]);
  assert.deepEqual([...parseMac('0:1:2:a:b:c')], [0, 1, 2, 10, 11, 12]);
  const b = new Uint8Array(10);
  b.set(parseMac('ff:ff:ff:ff:ff:ff'), 3);
  assert.equal(formatMac(b, 3), 'ff:ff:ff:ff:ff:ff');
  assert.equal(formatMac(parseMac('0A-0B-0C-0D-0E-0F'), 0), '0a:0b:0c:0d:0e:0f');
  throwsAt(() => parseMac('00:11:22:33:44'), 14, /expected 6 octets/);
  throwsAt(() => parseMac('00:11:22:33:44:55:66'), 17, /trailing/);
  throwsAt(() => parseMac('00:11-22:33:44:55'), 5, /mixed separators/);
  throwsAt(() => parseMac('00:11:zz:33:44:55'), 6, /hex digit/);
  throwsAt(() => parseMac('00:11:223:33:44:55'), 6, /more than 2 hex digits/);
  throwsAt(() => parseMac('00.11.22.33.44.55'), 2, /expected ':' or '-'/);
  throwsAt(() => parseMac(''), 0, /expected 6 octets/);
});

test('parseIPv4 / formatIPv4', () => {
  assert.equal(parseIPv4('10.0.0.1'), 0x0a000001);
  assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  assert.equal(parseIPv4('0.0.0.0'), 0);
  for (const s of ['1.2.3.4', '192.168.100.200', '255.0.255.0', '0.0.0.1']) assert.equal(formatIPv4(parseIPv4(s)), s);
  throwsAt(() => parseIPv4('10.0.0.256'), 7, /above 255/);
  throwsAt(() => parseIPv4('10.0.0'), 6, /4 dot-separated/);
  throwsAt(() => parseIPv4('10.0.0.1.5'), 8, /unexpected '\.'/);
  throwsAt(() => parseIPv4('10.01.0.1'), 3, /leading zero/);
  throwsAt(() => parseIPv4('10.x.0.1'), 3, /expected a digit/);
  throwsAt(() => parseIPv4('10.0.0.1 '), 8, /unexpected ' '/);
  throwsAt(() => parseIPv4('1234.0.0.1'), 0, /above 255/);
});

test('parseIPv6: RFC 4291 text forms', () => {
  const hex = (s: string) => Buffer.from(parseIPv6(s)).toString('hex');
  assert.equal(hex('2001:DB8:0:0:8:800:200C:417A'), '20010db80000000000080800200c417a');
  assert.equal(hex('2001:db8::8:800:200c:417a'), '20010db80000000000080800200c417a');
  assert.equal(hex('ff01::101'), 'ff010000000000000000000000000101');
  assert.equal(hex('::1'), '00000000000000000000000000000001');
  assert.equal(hex('::'), '00000000000000000000000000000000');
  assert.equal(hex('1::'), '00010000000000000000000000000000');
  assert.equal(hex('0:0:0:0:0:0:13.1.68.3'), '0000000000000000000000000d014403');
  assert.equal(hex('::FFFF:129.144.52.38'), '00000000000000000000ffff81903426');
  assert.equal(hex('1:2:3:4:5:6:7::'), '00010002000300040005000600070000');
  assert.equal(hex('::2:3:4:5:6:7:8'), '00000002000300040005000600070008');
  assert.equal(hex('1:2:3:4:5:6:1.2.3.4'), '00010002000300040005000601020304');
});

test('parseIPv6 errors say what and where', () => {
  throwsAt(() => parseIPv6('1:2:3:4:5:6:7'), 13, /only 7 groups/);
  throwsAt(() => parseIPv6('1:2:3:4:5:6:7:8:9'), 16, /more than 8 groups/);
  throwsAt(() => parseIPv6('1::2::3'), 4, /only once/);
  throwsAt(() => parseIPv6(':1::2'), 0, /leading ':'/);
  throwsAt(() => parseIPv6('1::2:'), 4, /single ':'/);
  throwsAt(() => parseIPv6('12345::'), 0, /more than 4 hex/);
  throwsAt(() => parseIPv6('1:2:3:4:5:6:7:8::'), 0, /already 8 groups/);
  throwsAt(() => parseIPv6('fe80::1%eth0'), 7, /unexpected '%'/);
  throwsAt(() => parseIPv6('1:2:3:4:5:6:7:1.2.3.4'), 14, /does not fit/);
  throwsAt(() => parseIPv6('::1.2.3'), 7, /4 dot-separated/);
  throwsAt(() => parseIPv6('::g'), 2, /unexpected 'g'/);
  throwsAt(() => parseIPv6(''), 0, /empty/);
});

test('formatIPv6: RFC 5952 recommendations', () => {
  const f = (s: string) => formatIPv6(parseIPv6(s), 0);
  assert.equal(f('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  assert.equal(f('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1'); // first of equal runs
  assert.equal(f('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1'); // longest run
  assert.equal(f('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1'); // a single 0 stays
  assert.equal(f('2001:DB8::AAAA'), '2001:db8::aaaa');
  assert.equal(f('::'), '::');
  assert.equal(f('::1'), '::1');
  assert.equal(f('1::'), '1::');
  assert.equal(f('::ffff:192.0.2.1'), '::ffff:192.0.2.1');
  const b = new Uint8Array(20);
  b.set(parseIPv6('fe80::1'), 4);
  assert.equal(formatIPv6(b, 4), 'fe80::1');
});

test('formatIPv6 agrees with the WHATWG URL serializer on random addresses', () => {
  let x = 12345;
  const r = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  for (let k = 0; k < 2000; k++) {
    const a = new Uint8Array(16);
    // mostly zero groups so that runs of zeros of all lengths appear
    for (let g = 0; g < 8; g++) if (r() % 3 === 0) { a[2 * g] = r() % 3 === 0 ? r() & 0xff : 0; a[2 * g + 1] = r() & 0xff; }
    const mine = formatIPv6(a, 0);
    if (mine.startsWith('::ffff:') && mine.includes('.')) continue; // URL prints mapped addresses in hex
    const url = new URL(`http://[${mine}]/`).hostname.slice(1, -1);
    assert.equal(mine, url);
    assert.deepEqual(parseIPv6(mine), a);
  }
});

test('parseAddrRange: IPv4', () => {
  assert.deepEqual(parseAddrRange('10.0.0.1', 4), { ipStart: 0x0a000001, ipEnd: 0x0a000001, portStart: 1234, portEnd: 1234 });
  assert.deepEqual(parseAddrRange('10.0.0.1:5000', 4), { ipStart: 0x0a000001, ipEnd: 0x0a000001, portStart: 5000, portEnd: 5000 });
  assert.deepEqual(parseAddrRange('10.0.0.1-10.0.0.9', 4), { ipStart: 0x0a000001, ipEnd: 0x0a000009, portStart: 1234, portEnd: 1234 });
  assert.deepEqual(parseAddrRange('10.0.0.1:5000-10.0.0.9:5010', 4), { ipStart: 0x0a000001, ipEnd: 0x0a000009, portStart: 5000, portEnd: 5010 });
  // end port defaults to the start port, as in pkt-gen
  assert.deepEqual(parseAddrRange('10.0.0.1:5000-10.0.0.9', 4), { ipStart: 0x0a000001, ipEnd: 0x0a000009, portStart: 5000, portEnd: 5000 });
  // reversed bounds are swapped
  assert.deepEqual(parseAddrRange('10.0.0.9:7-10.0.0.1:3', 4), { ipStart: 0x0a000001, ipEnd: 0x0a000009, portStart: 3, portEnd: 7 });
  // port-only end
  assert.deepEqual(parseAddrRange('10.0.0.1:1000-1010', 4), { ipStart: 0x0a000001, ipEnd: 0x0a000001, portStart: 1000, portEnd: 1010 });
  assert.equal(formatAddrRange(parseAddrRange('1.2.3.4:1-1.2.3.5:2', 4)), '1.2.3.4:1-1.2.3.5:2');
});

test('parseAddrRange: IPv6', () => {
  const r = parseAddrRange('[2001:db8::1]:1234-[2001:db8::9]:1240', 6);
  assert.equal(formatIPv6(r.ipStart, 0), '2001:db8::1');
  assert.equal(formatIPv6(r.ipEnd, 0), '2001:db8::9');
  assert.equal(r.portStart, 1234);
  assert.equal(r.portEnd, 1240);
  const bare = parseAddrRange('2001:db8::1', 6);
  assert.equal(formatIPv6(bare.ipEnd, 0), '2001:db8::1');
  assert.equal(bare.portStart, 1234);
  assert.notEqual(bare.ipStart, bare.ipEnd); // independent copies
  const noPort = parseAddrRange('[::1]', 6);
  assert.equal(noPort.portEnd, 1234);
  const mixed = parseAddrRange('fd00::9-[fd00::1]:99', 6);
  assert.equal(formatAddrRange(mixed), '[fd00::1]:99-[fd00::9]:1234');
  const ports = parseAddrRange('[::1]:1000-1010', 6);
  assert.equal(formatAddrRange(ports), '[::1]:1000-[::1]:1010');
  assert.equal(formatIPv6(parseAddrRange('[::ffff:10.0.0.1]:5', 6).ipStart, 0), '::ffff:10.0.0.1');
});

test('parseAddrRange errors', () => {
  throwsAt(() => parseAddrRange('10.0.0.1:70000', 4), 9, /above 65535/);
  throwsAt(() => parseAddrRange('10.0.0.1:', 4), 9, /missing port/);
  throwsAt(() => parseAddrRange('10.0.0.1:12x', 4), 11, /decimal/);
  throwsAt(() => parseAddrRange('10.0.0.300', 4), 7, /above 255/);
  throwsAt(() => parseAddrRange('10.0.0.1-', 4), 9, /missing end/);
  throwsAt(() => parseAddrRange('-10.0.0.1', 4), 0, /missing start/);
  throwsAt(() => parseAddrRange('1.1.1.1-2.2.2.2-3.3.3.3', 4), 15, /more than one/);
  throwsAt(() => parseAddrRange('10.0.0.1-10.0.0', 4), 15, /4 dot-separated/);
  throwsAt(() => parseAddrRange('', 4), 0, /empty/);
  throwsAt(() => parseAddrRange('[::1:1234', 6), 0, /matching '\]'/);
  throwsAt(() => parseAddrRange('[::1]x', 6), 5, /expected ':port'/);
  throwsAt(() => parseAddrRange('[::1]:5-[::z]', 6), 11, /unexpected 'z'/);
  throwsAt(() => parseAddrRange('10.0.0.1', 6), 8, /only 2 groups/);
  assert.throws(() => parseAddrRange('10.0.0.1', 5 as 4), TypeError);
});
