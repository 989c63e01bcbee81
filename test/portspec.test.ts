import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NR_EXCLUSIVE,
  NR_MONITOR_RX,
  NR_MONITOR_TX,
  NR_RX_RINGS_ONLY,
  NR_TX_RINGS_ONLY,
  NR_ZCOPY_MON,
} from '../src/core/constants.js';
import { formatPortSpec, parsePortSpec, PortSpecError, type PortSpec } from '../src/core/portspec.js';

const DP = { defaultPrefix: true };

/** Parses and checks the listed fields; fields not listed must have their default value. */
function ok(name: string, expect: Partial<PortSpec>, opts: { defaultPrefix?: boolean } = {}): PortSpec {
  const s = parsePortSpec(name, opts);
  const defaults: Omit<PortSpec, 'raw' | 'kind' | 'name'> = {
    switchName: '', pipe: null, mode: 'all-nic', ringId: 0, flags: 0, memId: 0,
    conf: {}, share: null, extmem: null, offset: null,
  };
  assert.deepEqual(s, { ...defaults, raw: name, ...expect } as PortSpec);
  return s;
}

/** Expects a PortSpecError at `position` whose reason matches `reason`. */
function bad(name: string, position: number, reason: string | RegExp, opts: { defaultPrefix?: boolean } = {}): PortSpecError {
  let err: unknown;
  try {
    parsePortSpec(name, opts);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof PortSpecError, `expected ${JSON.stringify(name)} to be rejected`);
  assert.equal(err.spec, name);
  assert.equal(err.position, position, `position for ${JSON.stringify(name)}: ${err.message}`);
  if (typeof reason === 'string') assert.equal(err.reason, reason);
  else assert.match(err.reason, reason);
  return err;
}

// ---- accepted forms ----------------------------------------------------------------------

test('netmap:IF binds all NIC rings', () => {
  ok('netmap:eth0', { kind: 'netmap', name: 'eth0' });
});

test('VALE port, switch id kept in switchName', () => {
  ok('vale0:1', { kind: 'vale', switchName: 'vale0', name: '1' });
  ok('valeA_b9:port_2', { kind: 'vale', switchName: 'valeA_b9', name: 'port_2' });
});

test('VALE with empty switch id', () => {
  ok('vale:x', { kind: 'vale', switchName: 'vale', name: 'x' });
});

test('pipe master and slave ends, ids are identifiers', () => {
  ok('netmap:x{3', { kind: 'netmap', name: 'x', pipe: { end: 'master', id: '3' } });
  ok('netmap:x}3', { kind: 'netmap', name: 'x', pipe: { end: 'slave', id: '3' } });
  ok('netmap:eth0{left_1', { kind: 'netmap', name: 'eth0', pipe: { end: 'master', id: 'left_1' } });
});

test('pipe hanging off a VALE port', () => {
  ok('vale0:1{2', { kind: 'vale', switchName: 'vale0', name: '1', pipe: { end: 'master', id: '2' } });
  ok('vale0:1}2-1', { kind: 'vale', switchName: 'vale0', name: '1', pipe: { end: 'slave', id: '2' }, mode: 'one-nic', ringId: 1 });
});

test('host rings: ^, ^N, *', () => {
  ok('netmap:eth0^', { kind: 'netmap', name: 'eth0', mode: 'sw' });
  ok('netmap:eth0^2', { kind: 'netmap', name: 'eth0', mode: 'one-sw', ringId: 2 });
  ok('netmap:eth0*', { kind: 'netmap', name: 'eth0', mode: 'nic-sw' });
});

test('one NIC ring -N, bounds 0 and 4094', () => {
  ok('netmap:eth0-0', { kind: 'netmap', name: 'eth0', mode: 'one-nic', ringId: 0 });
  ok('netmap:eth0-4094', { kind: 'netmap', name: 'eth0', mode: 'one-nic', ringId: 4094 });
});

test('each flag letter', () => {
  const letters: Array<[string, number]> = [
    ['x', NR_EXCLUSIVE], ['r', NR_MONITOR_RX], ['t', NR_MONITOR_TX],
    ['z', NR_ZCOPY_MON], ['R', NR_RX_RINGS_ONLY], ['T', NR_TX_RINGS_ONLY],
  ];
  for (const [l, bit] of letters) ok(`netmap:eth0/${l}`, { kind: 'netmap', name: 'eth0', flags: bit });
});

test('flag combinations, after a ring selector', () => {
  ok('netmap:eth0/rt', { kind: 'netmap', name: 'eth0', flags: NR_MONITOR_RX | NR_MONITOR_TX });
  ok('vale0:p-1/xT', { kind: 'vale', switchName: 'vale0', name: 'p', mode: 'one-nic', ringId: 1, flags: NR_EXCLUSIVE | NR_TX_RINGS_ONLY });
  ok('netmap:eth0^/z', { kind: 'netmap', name: 'eth0', mode: 'sw', flags: NR_ZCOPY_MON });
});

test('memory id @N, before or after flags, repeated with the same value', () => {
  ok('netmap:eth0@2', { kind: 'netmap', name: 'eth0', memId: 2 });
  ok('netmap:eth0/x@3', { kind: 'netmap', name: 'eth0', flags: NR_EXCLUSIVE, memId: 3 });
  ok('netmap:eth0*@3/r', { kind: 'netmap', name: 'eth0', mode: 'nic-sw', flags: NR_MONITOR_RX, memId: 3 });
  ok('netmap:eth0@4@4', { kind: 'netmap', name: 'eth0', memId: 4 });
});

test('@conf keys, generic and specific, both spellings', () => {
  ok('netmap:eth0@conf:rings=4,slots=2048', {
    kind: 'netmap', name: 'eth0', conf: { txRings: 4, rxRings: 4, txSlots: 2048, rxSlots: 2048 },
  });
  ok('netmap:eth0@conf:host_rings=2,host-tx-rings=1,rx_slots=64', {
    kind: 'netmap', name: 'eth0', conf: { hostTxRings: 1, hostRxRings: 2, rxSlots: 64 },
  });
});

test('@conf specific keys override generic ones whatever the order', () => {
  ok('netmap:eth0@conf:tx-rings=2,rings=8', { kind: 'netmap', name: 'eth0', conf: { txRings: 2, rxRings: 8 } });
  ok('netmap:eth0@conf:rx-slots=256,tx-slots=128,slots=1024', { kind: 'netmap', name: 'eth0', conf: { txSlots: 128, rxSlots: 256 } });
});

test('@conf range limits: 256 rings, 16 for VALE, 4096 slots', () => {
  ok('netmap:eth0@conf:rings=256,slots=4096', {
    kind: 'netmap', name: 'eth0', conf: { txRings: 256, rxRings: 256, txSlots: 4096, rxSlots: 4096 },
  });
  ok('vale0:1@conf:rings=16', { kind: 'vale', switchName: 'vale0', name: '1', conf: { txRings: 16, rxRings: 16 } });
});

test('@share, both forms, stored canonical', () => {
  ok('vale0:1@share=netmap:eth0', { kind: 'vale', switchName: 'vale0', name: '1', share: 'netmap:eth0' });
  ok('netmap:x{1@share:port=vale1:p', { kind: 'netmap', name: 'x', pipe: { end: 'master', id: '1' }, share: 'vale1:p' });
  // suffixes of the shared port do not matter, as in libnetmap
  ok('netmap:a@share=netmap:b^/x', { kind: 'netmap', name: 'a', share: 'netmap:b' });
});

test('@extmem, short and keyed forms', () => {
  ok('netmap:eth0@extmem=/dev/hugepages/nm', { kind: 'netmap', name: 'eth0', extmem: { file: '/dev/hugepages/nm' } });
  ok('netmap:eth0@extmem:file=/h/x,if-num=4,if_size=1024,ring-num=8,ring-size=36864,buf-num=10000,buf-size=2048', {
    kind: 'netmap', name: 'eth0',
    extmem: { file: '/h/x', ifNum: 4, ifSize: 1024, ringNum: 8, ringSize: 36864, bufNum: 10000, bufSize: 2048 },
  });
});

test('@offset, short and keyed forms', () => {
  ok('netmap:eth0@offset=64', { kind: 'netmap', name: 'eth0', offset: { initial: 64 } });
  ok('netmap:eth0@offset:bits=12,initial=0', { kind: 'netmap', name: 'eth0', offset: { initial: 0, bits: 12 } });
});

test('everything at once', () => {
  ok('vale2:p}q-3/rz@7@conf:rings=2@share=vale2:base@offset=16', {
    kind: 'vale', switchName: 'vale2', name: 'p', pipe: { end: 'slave', id: 'q' }, mode: 'one-nic', ringId: 3,
    flags: NR_MONITOR_RX | NR_ZCOPY_MON, memId: 7, conf: { txRings: 2, rxRings: 2 }, share: 'vale2:base',
    offset: { initial: 16 },
  });
});

test('names netmap accepts beyond identifiers (VLAN dot) and exactly 63 bytes', () => {
  ok('netmap:eth0.100', { kind: 'netmap', name: 'eth0.100' });
  ok(`netmap:${'a'.repeat(63)}`, { kind: 'netmap', name: 'a'.repeat(63) });
  // for VALE the prefix counts: 'vale0:' + 57 = 63
  ok(`vale0:${'b'.repeat(57)}`, { kind: 'vale', switchName: 'vale0', name: 'b'.repeat(57) });
});

test('defaultPrefix: bare names become netmap:', () => {
  ok('eth0', { kind: 'netmap', name: 'eth0' }, DP);
  ok('x{1', { kind: 'netmap', name: 'x', pipe: { end: 'master', id: '1' } }, DP);
  ok('x}1', { kind: 'netmap', name: 'x', pipe: { end: 'slave', id: '1' } }, DP);
  ok('eth0^', { kind: 'netmap', name: 'eth0', mode: 'sw' }, DP);
  ok('eth0@conf:rings=2', { kind: 'netmap', name: 'eth0', conf: { txRings: 2, rxRings: 2 } }, DP);
  ok('valentine0', { kind: 'netmap', name: 'valentine0' }, DP);
});

test('defaultPrefix: explicit prefixes still work, share accepts bare names', () => {
  ok('vale0:1', { kind: 'vale', switchName: 'vale0', name: '1' }, DP);
  ok('netmap:eth0', { kind: 'netmap', name: 'eth0' }, DP);
  ok('a@share=eth1', { kind: 'netmap', name: 'a', share: 'netmap:eth1' }, DP);
});

test("defaultPrefix: 'null' is the null port", () => {
  ok('null', { kind: 'null', name: 'null' }, DP);
  ok('netmap:null', { kind: 'netmap', name: 'null' });
});

// ---- errors ------------------------------------------------------------------------------

test('error message: whole spec, position, reason, caret line', () => {
  const e = bad('vale0:1/q', 8, "unknown flag 'q'");
  assert.equal(e.message, `invalid port name "vale0:1/q": unknown flag 'q' at position 8\n  vale0:1/q\n          ^`);
  assert.equal(e.name, 'PortSpecError');
  assert.ok(e instanceof Error);
});

test('error caret stays aligned with control characters', () => {
  const e = bad('netmap:a\tb', 8, /not allowed in a port name/);
  assert.equal(e.message.split('\n')[1], '  netmap:a?b');
  assert.equal(e.message.split('\n')[2], '          ^');
});

test('empty name and empty port part', () => {
  bad('', 0, 'empty port name');
  bad('', 0, 'empty port name', DP);
  bad('vale0:', 6, 'empty port name');
  bad('netmap:', 7, 'empty port name');
  bad('netmap:^', 7, 'empty port name');
  bad('netmap:{1', 7, "empty port name before '{'");
});

test('missing or unknown prefix', () => {
  bad('eth0', 0, /expected 'netmap:' or 'valeX:'/);
  bad('null', 0, /expected 'netmap:' or 'valeX:'/);
  bad('tap:eth0', 0, /unknown prefix 'tap:'.*expected 'netmap:' or 'valeX:'/);
  bad('pcap:eth0', 0, /unknown prefix 'pcap:'/, DP);
  bad('Netmap:eth0', 0, /unknown prefix/);
});

test('invalid VALE switch name', () => {
  bad('vale-1:x', 4, /invalid character '-' in VALE switch name/);
  bad('vale0.1:x', 5, /invalid character '.' in VALE switch name/, DP);
});

test('characters not allowed in port names', () => {
  bad('netmap:eth 0', 10, "character ' ' is not allowed in a port name");
  bad(' eth0', 0, "character ' ' is not allowed in a port name", DP);
  bad('netmap:eth0\n', 11, 'character "\\n" is not allowed in a port name');
  bad('vale0:a:b', 7, "':' is not allowed in a port name");
});

test('pipe id must be a non-empty identifier', () => {
  bad('netmap:x{', 9, "empty pipe id after '{'");
  bad('netmap:x}-1', 9, "empty pipe id after '}'");
  bad('netmap:x{a.b', 10, /invalid character '.' in pipe id/);
  bad('netmap:x{1{2', 10, /invalid character '\{' in pipe id/);
});

test('pipe suffix after the ring selector', () => {
  bad('netmap:x^{1', 9, "pipe suffix '{' must directly follow the port name");
});

test('names longer than 63 bytes', () => {
  bad(`netmap:${'a'.repeat(64)}`, 7 + 63, /too long \(64 bytes, at most 63\)/);
  bad(`vale0:${'b'.repeat(58)}`, 63, /too long \(64 bytes/);
  // bytes, not characters: 32 two-byte characters = 64 bytes
  bad(`netmap:${'é'.repeat(32)}`, 7 + 31, /too long \(64 bytes/);
  bad(`netmap:${'a'.repeat(60)}\u{1F600}`, 7 + 60, /too long \(64 bytes/);
  // the pipe suffix is part of the kernel name
  bad(`netmap:${'a'.repeat(60)}{123`, 7 + 63, /too long/);
});

test('ring number errors', () => {
  bad('netmap:eth0-', 12, "expected a ring number after '-'");
  bad('netmap:eth0-4095', 12, 'ring number 4095 out of range [0, 4095)');
  bad('netmap:eth0^99999', 12, 'ring number 99999 out of range [0, 4095)');
  bad('netmap:veth-a', 12, /expected a ring number after '-' \(.*cannot contain it\)/);
});

test("'^' combined with '-N' (either order), and other selector conflicts", () => {
  bad('netmap:eth0^-1', 12, /'\^' \(host rings\) cannot be combined with '-N'/);
  bad('netmap:eth0-1^', 13, /'\^' \(host rings\) cannot be combined with '-N'/);
  bad('netmap:eth0^*', 12, "'*' cannot be combined with '^'");
  bad('netmap:eth0**', 12, "ring selector '*' given twice");
  bad('netmap:eth0/x^', 13, "ring selector '^' must come right after the port name");
});

test('pipes have no host rings', () => {
  bad('netmap:x{1^', 10, "a pipe endpoint has no host rings, so '^' is not allowed");
  bad('netmap:x}1^0', 10, "a pipe endpoint has no host rings, so '^0' is not allowed");
  bad('vale0:1{2*', 9, "a pipe endpoint has no host rings, so '*' is not allowed");
});

test('flag errors', () => {
  bad('netmap:eth0/', 11, /'\/' must be followed by at least one flag/);
  bad('netmap:eth0/@1', 11, /'\/' must be followed by at least one flag/);
  bad('netmap:eth0/xq', 13, "unknown flag 'q'");
  bad('netmap:eth0/X', 12, "unknown flag 'X'");
});

test('unexpected characters after modifiers', () => {
  bad('netmap:eth0^x', 12, "unexpected character 'x' after '^'");
  bad('netmap:eth0@1x', 13, "unexpected character 'x' after '@1'");
});

test('memory id errors', () => {
  bad('netmap:eth0@0', 12, 'memory id 0 out of range [1, 65535]');
  bad('netmap:eth0@65536', 12, 'memory id 65536 out of range [1, 65535]');
  bad('netmap:eth0@1@2', 14, /memory id set twice \(@1 at position 11, then @2\)/);
  bad('netmap:eth0@', 11, "empty memory id or option after '@'");
  bad('netmap:eth0@conf:rings=1@2', 25, "memory id '@2' must come before the options");
});

test('option errors: unknown, empty, repeated, no body', () => {
  bad('netmap:eth0@foo=1', 12, /unknown option 'foo' \(known: conf, share, extmem, offset\)/);
  bad('netmap:eth0@conf:rings=1@', 24, "empty option after '@'");
  bad('netmap:eth0@conf:rings=1@@share=netmap:x', 24, "empty option after '@'");
  bad('netmap:eth0@conf:rings=1@conf:slots=2', 25, "option 'conf' given twice");
  bad('netmap:eth0@conf', 16, /option 'conf' needs a value/);
  bad('netmap:eth0@conf:', 17, "option 'conf' has no keys after ':'");
});

test("'@conf=4' has no default key: hint to write '@conf:rings=4'", () => {
  const e = bad('netmap:eth0@conf=4', 16, /no default key; write '@conf:rings=4'/);
  assert.match(e.message, /@conf:rings=4/);
});

test('key errors: unknown, duplicate (any spelling), missing value, empty key', () => {
  bad('netmap:eth0@conf:ring=4', 17, /unknown key 'ring' for option 'conf' \(known: rings, tx-rings/);
  bad('netmap:eth0@conf:tx-rings=1,tx_rings=2', 28, /duplicate key 'tx_rings' in option 'conf' \(already set to '1'\)/);
  bad('netmap:eth0@conf:slots', 22, "missing '=value' for key 'slots' in option 'conf'");
  bad('netmap:eth0@conf:slots=', 23, "empty value for key 'slots' in option 'conf'");
  bad('netmap:eth0@conf:rings=1,', 25, "empty key in option 'conf'");
  bad('netmap:eth0@conf:=3', 17, "missing key before '=' in option 'conf'");
});

test('numeric values: non-numeric and out of range', () => {
  bad('netmap:eth0@conf:rings=four', 23, "value 'four' of key 'rings' is not a number");
  bad('netmap:eth0@conf:rings=-1', 23, "value '-1' of key 'rings' is not a number");
  bad('netmap:eth0@conf:rings=0', 23, 'rings=0 out of range [1, 256]');
  bad('netmap:eth0@conf:tx-rings=257', 26, 'tx-rings=257 out of range [1, 256]');
  bad('vale0:1@conf:rings=17', 19, 'rings=17 out of range [1, 16] for a VALE port');
  bad('netmap:eth0@conf:slots=4097', 23, 'slots=4097 out of range [1, 4096]');
  bad('netmap:eth0@extmem:file=/f,buf-num=x', 35, "value 'x' of key 'buf-num' is not a number");
  bad('netmap:eth0@offset:initial=1,bits=65', 34, 'bits=65 out of range [1, 64]');
});

test('a generic key is checked even when specific keys override it', () => {
  bad('netmap:eth0@conf:tx-rings=1,rx-rings=1,rings=999', 45, 'rings=999 out of range [1, 256]');
});

test('missing mandatory keys', () => {
  bad('netmap:eth0@share:', 18, "option 'share' has no keys after ':'");
  bad('netmap:eth0@extmem:if-num=3', 27, "option 'extmem' is missing mandatory key 'file'");
  bad('netmap:eth0@offset:bits=3', 25, "option 'offset' is missing mandatory key 'initial'");
  bad('netmap:eth0@share=', 18, "missing value for option 'share'");
});

test('the shared port must be a valid port name', () => {
  bad('netmap:a@share=eth1', 15, /in shared port name: missing prefix/);
  bad('netmap:a@share=netmap:x{', 24, "in shared port name: empty pipe id after '{'");
  bad('a@share=null', 8, 'the null port has no memory to share', DP);
});

// ---- canonical form ----------------------------------------------------------------------

test('formatPortSpec gives the canonical form', () => {
  const f = (s: string, o = {}) => formatPortSpec(parsePortSpec(s, o));
  assert.equal(f('vale0:1'), 'vale0:1');
  assert.equal(f('eth0', DP), 'netmap:eth0');
  assert.equal(f('null', DP), 'null');
  assert.equal(f('netmap:eth0-007/Tx'), 'netmap:eth0-7/xT');
  assert.equal(f('netmap:eth0@conf:tx_rings=2,rx-rings=2,slots=512'), 'netmap:eth0@conf:rings=2,slots=512');
  assert.equal(f('netmap:eth0@conf:rings=4,tx-rings=1'), 'netmap:eth0@conf:tx-rings=1,rx-rings=4');
  assert.equal(f('netmap:eth0@extmem:file=/f'), 'netmap:eth0@extmem=/f');
  assert.equal(f('netmap:eth0@offset:initial=8'), 'netmap:eth0@offset=8');
  // options come out in a fixed order
  assert.equal(f('netmap:eth0@offset=8@extmem:buf-num=9,file=/f@share=netmap:b@conf:slots=8'),
    'netmap:eth0@conf:slots=8@share=netmap:b@extmem:file=/f,buf-num=9@offset=8');
});

test('round trip: parse(format(x)) deep-equals x except raw', () => {
  const specs: Array<[string, { defaultPrefix?: boolean }]> = [
    ['netmap:eth0', {}],
    ['vale:x', {}],
    ['vale0:1{2', {}],
    ['vale0:1}abc_9-3/rt@5', {}],
    ['netmap:eth0^', {}],
    ['netmap:eth0^7/z', {}],
    ['netmap:eth0*/xRT@1@1', {}],
    ['netmap:eth0-4094', {}],
    ['netmap:eth0@conf:host-rings=2,host-rx-rings=3,tx-slots=64', {}],
    ['vale3:p@conf:rings=16,rx-rings=1,slots=4096', {}],
    ['netmap:a@share:port=vale0:b{1@offset:initial=0,bits=10', {}],
    ['netmap:a@extmem:file=/x,if-num=1,if-size=2,ring-num=3,ring-size=4,buf-num=5,buf-size=6', {}],
    ['null', DP],
    ['x}1', DP],
    ['eth1@share=eth2@extmem=/h', DP],
  ];
  for (const [s, o] of specs) {
    const a = parsePortSpec(s, o);
    const text = formatPortSpec(a);
    const b = parsePortSpec(text, a.kind === 'null' ? DP : {});
    assert.deepEqual({ ...b, raw: '' }, { ...a, raw: '' }, `${s} -> ${text}`);
    assert.equal(formatPortSpec(b), text, 'canonical form is stable');
  }
});

test('@conf:vnet=N: the virtio-net header length (0, 10, 12), kept by formatPortSpec', () => {
  const s = ok('vale0:a@conf:vnet=12', { kind: 'vale', switchName: 'vale0', name: 'a', conf: { vnetHdrLen: 12 } });
  assert.equal(formatPortSpec(s), 'vale0:a@conf:vnet=12');
  const t = ok('vale0:a@conf:slots=256,vnet=0', { kind: 'vale', switchName: 'vale0', name: 'a', conf: { txSlots: 256, rxSlots: 256, vnetHdrLen: 0 } });
  assert.equal(formatPortSpec(t), 'vale0:a@conf:slots=256,vnet=0');
  ok('vale0:a@conf:vnet=10', { kind: 'vale', switchName: 'vale0', name: 'a', conf: { vnetHdrLen: 10 } });
  bad('vale0:a@conf:vnet=11', 18, 'vnet=11: a virtio-net header is 0, 10 or 12 bytes');
  bad('vale0:a@conf:vnet=13', 18, 'vnet=13 out of range [0, 12] (0, 10 or 12)');
  bad('vale0:a@conf:vnet=x', 18, "value 'x' of key 'vnet' is not a number");
});
