// The XDP redirect program as bytes (pure), and bpf(2) against the running kernel (root): map
// creation and info, program load and test runs, the verifier log in a load error, XSKMAP updates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Asm, createMap, loadProgram, mapInfo, mapUpdateU32, progInfo, testRun, BpfLoadError } from '../src/sys/bpf.js';
import { createXskMap, loadRedirectProgram, redirectProgram, xskSocket } from '../src/sys/xdp.js';
import { NetError, close } from '../src/sys/net.js';
import * as K from '../src/sys/kernel-abi.js';
import { needs } from './fixtures/requires.js';

const needsRoot = needs(['root'], 'bpf');

test('the redirect program is the 6-instruction, 48-byte sequence of the reference (map fd and fallback filled in)', () => {
  const hex = Buffer.from(redirectProgram(0x1234, K.XDP_PASS)).toString('hex').match(/.{16}/g);
  assert.deepEqual(hex, [
    '6112100000000000', // ldxw r2, [r1+16]   ctx->rx_queue_index
    '1811000034120000', // lddw r1, map_fd    (src = BPF_PSEUDO_MAP_FD)
    '0000000000000000',
    'b703000002000000', // mov r3, XDP_PASS
    '8500000033000000', // call bpf_redirect_map
    '9500000000000000', // exit
  ]);
  assert.equal(Buffer.from(redirectProgram(3, K.XDP_DROP)).readInt32LE(28), K.XDP_DROP);
});

test('bpf(2): XSKMAP, program load, info and test runs: an empty slot takes the fallback action', { skip: needsRoot }, () => {
  const map = createXskMap(4);
  const prog = loadRedirectProgram(map);
  try {
    assert.deepEqual({ ...mapInfo(map), id: 0 }, { type: K.BPF_MAP_TYPE_XSKMAP, id: 0, keySize: 4, valueSize: 4, maxEntries: 4 });
    const info = progInfo(prog);
    assert.equal(info.type, K.BPF_PROG_TYPE_XDP);
    assert.equal(info.name, 'nmts_xsk_redir');
    assert.ok(info.id > 0);
    const pkt = Buffer.alloc(64, 0xab);
    const r = testRun(prog, pkt, 10);
    assert.equal(r.retval, K.XDP_PASS);
    assert.deepEqual(r.data, pkt);
    const drop = loadRedirectProgram(map, K.XDP_DROP, 'nmts_drop');
    assert.equal(testRun(drop, pkt).retval, K.XDP_DROP);
    close(drop);
  } finally {
    close(prog);
    close(map);
  }
});

test('a program the verifier refuses: BpfLoadError names the program and carries the verifier log', { skip: needsRoot }, () => {
  const bad = new Asm().exit().build(); // returns r0 without setting it
  assert.throws(() => loadProgram({ type: K.BPF_PROG_TYPE_XDP, insns: bad, name: 'nmts_bad', expectedAttachType: K.BPF_XDP }), (e: unknown) => {
    assert.ok(e instanceof BpfLoadError && e instanceof NetError);
    assert.equal(e.code, 'EACCES');
    assert.match(e.log, /R0 !read_ok/);
    assert.match(e.message, /^bpf\(BPF_PROG_LOAD, nmts_bad\): EACCES \(Permission denied\)\nverifier log:\n/);
    return true;
  });
});

test('XSKMAP updates: an AF_XDP socket goes in; a non-socket fd, a bad fd and a queue past the end are refused, naming the queue', { skip: needsRoot }, () => {
  const map = createXskMap(2);
  const xsk = xskSocket();
  const other = createMap({ type: K.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, name: 'nmts_arr' });
  try {
    assert.throws(() => mapUpdateU32(map, 0, other, K.BPF_ANY, 'veth0 queue 0'), /^NetError: bpf\(BPF_MAP_UPDATE_ELEM, veth0 queue 0\): ENOTSOCK/);
    assert.throws(() => mapUpdateU32(map, 1, 1_000_000, K.BPF_ANY, 'veth0 queue 1'), /^NetError: bpf\(BPF_MAP_UPDATE_ELEM, veth0 queue 1\): EBADF/);
    // older kernels (before ~6.x) also refuse a socket that is not bound yet (EOPNOTSUPP)
    try {
      mapUpdateU32(map, 0, xsk);
    } catch (e) {
      assert.ok(e instanceof NetError && e.code === 'EOPNOTSUPP', String(e));
    }
    assert.throws(() => mapUpdateU32(map, 5, xsk), /E2BIG/, 'a queue beyond the map');
  } finally {
    close(other);
    close(xsk);
    close(map);
  }
});
