// Every constant and struct layout of src/sys/kernel-abi.ts, checked against the kernel and libc
// headers: a C program is generated from the module's exports, compiled with `cc` and run, and
// what it prints (the macro / enum value, offsetof, sizeof) must equal the TypeScript value.
// Without a C compiler or the headers the test is skipped, naming the package (.ci/run installs gcc,
// libc6-dev, linux-libc-dev and fails on any skip).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as abi from '../src/sys/kernel-abi.js';
import { needs, needsFile } from './fixtures/requires.js';

/** For each layout: its C type, a prefix for member paths, and paths of nested members. */
const LAYOUTS: Record<string, { c: string; prefix?: string; path?: Record<string, string> }> = {
  pollfd: { c: 'struct pollfd' },
  ifreq: { c: 'struct ifreq' },
  sockaddr: { c: 'struct sockaddr' },
  sockaddr_ll: { c: 'struct sockaddr_ll' },
  packet_mreq: { c: 'struct packet_mreq' },
  tpacket_req3: { c: 'struct tpacket_req3' },
  tpacket_req: { c: 'struct tpacket_req' },
  tpacket2_hdr: { c: 'struct tpacket2_hdr' },
  tpacket3_hdr: { c: 'struct tpacket3_hdr', path: { tp_rxhash: 'hv1.tp_rxhash', tp_vlan_tci: 'hv1.tp_vlan_tci', tp_vlan_tpid: 'hv1.tp_vlan_tpid' } },
  tpacket_block_desc: {
    c: 'struct tpacket_block_desc',
    path: Object.fromEntries(['block_status', 'num_pkts', 'offset_to_first_pkt', 'blk_len', 'seq_num', 'ts_first_pkt', 'ts_last_pkt'].map((f) => [f, `hdr.bh1.${f}`])),
  },
  tpacket_stats_v3: { c: 'struct tpacket_stats_v3' },
  tpacket_stats: { c: 'struct tpacket_stats' },
  sockaddr_xdp: { c: 'struct sockaddr_xdp' },
  xdp_umem_reg: { c: 'struct xdp_umem_reg' },
  xdp_ring_offset: { c: 'struct xdp_ring_offset' },
  xdp_mmap_offsets: { c: 'struct xdp_mmap_offsets' },
  xdp_desc: { c: 'struct xdp_desc' },
  xdp_statistics: { c: 'struct xdp_statistics' },
  xdp_options: { c: 'struct xdp_options' },
  xdp_md: { c: 'struct xdp_md' },
  bpf_insn: { c: 'struct bpf_insn' },
  bpf_attr_map_create: { c: 'union bpf_attr' },
  bpf_attr_map_elem: { c: 'union bpf_attr' },
  bpf_attr_prog_load: { c: 'union bpf_attr' },
  bpf_attr_test: { c: 'union bpf_attr', prefix: 'test.' },
  bpf_attr_info: { c: 'union bpf_attr', prefix: 'info.' },
  bpf_attr_link_create: { c: 'union bpf_attr', prefix: 'link_create.' },
  bpf_prog_info: { c: 'struct bpf_prog_info' },
  bpf_map_info: { c: 'struct bpf_map_info' },
  bpf_attr_get_id: { c: 'union bpf_attr' },
  bpf_link_info: { c: 'struct bpf_link_info', path: { xdp_ifindex: 'xdp.ifindex' } },
  ethtool_value: { c: 'struct ethtool_value' },
  iovec: { c: 'struct iovec' },
  msghdr: { c: 'struct msghdr' },
  mmsghdr: { c: 'struct mmsghdr' },
  cmsghdr: { c: 'struct cmsghdr' },
  sockaddr_in: { c: 'struct sockaddr_in' },
  ip_mreqn: { c: 'struct ip_mreqn' },
  sockaddr_in6: { c: 'struct sockaddr_in6' },
  ipv6_mreq: { c: 'struct ipv6_mreq' },
};

const HEADERS = [
  'stdio.h', 'stddef.h', 'errno.h', 'poll.h', 'sys/socket.h', 'sys/mman.h', 'sys/syscall.h',
  'linux/if.h', 'linux/sockios.h', 'linux/if_ether.h', 'linux/if_arp.h', 'linux/if_packet.h',
  'linux/if_xdp.h', 'linux/if_link.h', 'linux/bpf.h', 'linux/ethtool.h', 'sys/uio.h', 'fcntl.h', 'sys/ioctl.h', 'linux/if_tun.h', 'netinet/in.h', 'netinet/udp.h',
];

type Check = { key: string; c: string; ts: number };

function collect(): Check[] {
  const checks: Check[] = [];
  for (const [name, value] of Object.entries(abi)) {
    if (typeof value === 'number') {
      checks.push({ key: name, c: `(long long)(${name})`, ts: value });
      continue;
    }
    const l = LAYOUTS[name];
    assert.ok(l, `kernel-abi export ${name} is neither a number nor a layout known to this test`);
    assert.equal(typeof value, 'object');
    for (const [field, off] of Object.entries(value as Record<string, number>)) {
      const c = field === 'size'
        ? `(long long)sizeof(${l.c})`
        : `(long long)offsetof(${l.c}, ${l.path?.[field] ?? (l.prefix ?? '') + field})`;
      checks.push({ key: `${name}.${field}`, c, ts: off });
    }
  }
  return checks;
}

const skipCc = needs(['cc']) || needsFile('/usr/include/stdio.h', 'libc6-dev') || needsFile('/usr/include/linux/if_xdp.h', 'linux-libc-dev');
test('every kernel-abi constant and struct layout matches the kernel headers (cc + offsetof/sizeof)', { skip: skipCc }, () => {
  const checks = collect();
  const src = [
    '#define _GNU_SOURCE', // struct mmsghdr
    ...HEADERS.map((h) => `#include <${h}>`),
    'int main(void) {',
    ...checks.map((k) => `  printf("%s %lld\\n", "${k.key}", ${k.c});`),
    '  return 0;',
    '}',
    '',
  ].join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'nmts-abi-'));
  try {
    writeFileSync(join(dir, 'abi.c'), src);
    try {
      execFileSync('cc', ['-std=gnu11', '-o', join(dir, 'abi'), join(dir, 'abi.c')], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: Buffer; message: string };
      assert.fail(`cc failed (needs gcc, libc6-dev, linux-libc-dev): ${err.stderr?.toString() || err.message}`);
    }
    const out = execFileSync(join(dir, 'abi'), { encoding: 'utf8' });
    const c = new Map(out.trim().split('\n').map((line) => {
      const [k, v] = line.split(' ');
      return [k, Number(v)] as const;
    }));
    const wrong = checks.filter((k) => c.get(k.key) !== k.ts).map((k) => `${k.key}: ts ${k.ts}, headers ${c.get(k.key)}`);
    assert.deepEqual(wrong, [], 'values that differ from the headers');
    assert.equal(c.size, checks.length);
    assert.ok(checks.length > 250, `checked ${checks.length} values`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the layouts are self-consistent: fields lie inside the struct, ring page offsets are page-aligned', () => {
  for (const [name, value] of Object.entries(abi)) {
    if (typeof value !== 'object') continue;
    const l = value as Record<string, number>;
    if (l.size === undefined) continue;
    for (const [f, off] of Object.entries(l)) if (f !== 'size') assert.ok(off < l.size, `${name}.${f} = ${off} < ${l.size}`);
  }
  assert.equal(abi.xdp_mmap_offsets.size, 4 * abi.xdp_ring_offset.size);
  assert.equal(abi.XDP_UMEM_PGOFF_COMPLETION_RING % 4096, 0);
});
