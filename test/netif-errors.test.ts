// The errors users trip over when opening netmap:IF, for both backends, in a network namespace of
// our own: no such interface (ENXIO), interface down (ENETDOWN), no privileges (EPERM with the
// capabilities and the setcap line), an MTU larger than a buffer (EMSGSIZE with the MTU that fits:
// AF_XDP moves frames of up to 1792 bytes, AF_PACKET 2048), and offload advice (GRO) as warnings
// that pkt-gen prints. Runs as root only (skipped otherwise, with the reason).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, accessSync, chmodSync, constants as fsConstants, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND_LINE, BACKENDS, CHILD, NMTS, Netns, ROOT, skipReason } from './fixtures/netif-helpers.js';

const skip = skipReason();
const skipEthtool = skip || skipReason(['ethtool']);
const skipSetpriv = skip || skipReason(['setpriv']);
const A = 'vethA', B = 'vethB', C = 'vethC', D = 'vethD', E = 'vethE', F = 'vethF';
const MODES = [...BACKENDS, 'auto'] as const;

interface Opened { ok: boolean; code?: string; name?: string; message?: string; info?: { backend: string; fallbackReason: string; warnings: string[] } }

describe('netmap:IF: errors that say what to do', { timeout: 60_000 }, () => {
  const ns = new Netns('err');
  before(() => {
    if (skip) return;
    ns.create([[A, B], [C, D], [E, F, 2]]);
    ns.ip('link', 'set', C, 'down');
  });
  after(async () => {
    await ns.destroy();
  });

  /** Open netmap:IF with the backend (or auto) in a child inside the namespace. */
  async function openIn(ifname: string, mode: string, prefix: string[] = [], child = CHILD): Promise<Opened> {
    const p = ns.spawn(process.execPath, [child, 'open', ifname, mode], process.env, prefix);
    const r = await p.wait(15_000);
    assert.equal(r.code, 0, r.stderr);
    const o = p.json<Opened>()[0];
    assert.ok(o, `no result: ${r.stdout} ${r.stderr}`);
    return o;
  }

  test('no such interface: ENXIO naming it, with every backend; pkt-gen says so and fails', { skip }, async () => {
    for (const mode of MODES) {
      const o = await openIn('nmtsnone0', mode);
      assert.equal(o.ok, false, mode);
      assert.equal(o.code, 'ENXIO', `${mode}: ${o.message}`);
      assert.equal(o.message, "netmap:nmtsnone0: no such interface 'nmtsnone0' in this network namespace (see `ip link`)");
    }
    const r = await ns.nmts(['pkt-gen', '-i', 'netmap:nmtsnone0', '-f', 'tx', '-n', '1', '-w', '0']).wait();
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no such interface 'nmtsnone0' in this network namespace/);
    assert.equal(r.stdout, '', 'no summary: nothing ran');
  });

  test('interface down: ENETDOWN with the command that brings it up, with every backend', { skip }, async () => {
    for (const mode of MODES) {
      const o = await openIn(C, mode);
      assert.equal(o.ok, false, mode);
      assert.equal(o.code, 'ENETDOWN', `${mode}: ${o.message}`);
      assert.equal(o.message, `netmap:${C}: interface ${C} is down (bring it up: ip link set ${C} up)`);
    }
    const r = await ns.nmts(['pkt-gen', '-i', `netmap:${C}`, '-f', 'rx', '-n', '1', '-w', '0']).wait();
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`interface ${C} is down \\(bring it up: ip link set ${C} up\\)`));
  });

  // ---- privileges: a process run as nobody (setpriv), with no capabilities, then with those the advice names ----

  const asNobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'];
  let nobodyTmp = '';
  after(() => {
    if (nobodyTmp) rmSync(nobodyTmp, { recursive: true, force: true });
  });
  /** Where nobody reads the code from: the checkout, or a copy in /tmp when the checkout is private. */
  function nobodyRoot(): string {
    if (nobodyTmp) return nobodyTmp;
    const probe = spawnSync(asNobody[0]!, [...asNobody.slice(1), '--', process.execPath, '-e',
      `const fs = require('fs'); fs.accessSync(${JSON.stringify(CHILD)}, 4); fs.accessSync(${JSON.stringify(NMTS)}, 4); fs.accessSync(${JSON.stringify(join(ROOT, 'node_modules', 'koffi', 'package.json'))}, 4)`]);
    if (probe.status === 0 && process.env.NMTS_TEST_COPY !== '1') return ROOT;
    nobodyTmp = mkdtempSync(join(tmpdir(), 'nmtsi-nobody-'));
    for (const d of ['dist/src', 'dist/test/fixtures', 'bin', 'node_modules/koffi', 'node_modules/@koromix', 'package.json']) cpSync(join(ROOT, d), join(nobodyTmp, d), { recursive: true });
    spawnSync('chmod', ['-R', 'a+rX', nobodyTmp]);
    chmodSync(nobodyTmp, 0o755);
    const child = join(nobodyTmp, 'dist', 'test', 'fixtures', 'netif-child.js');
    accessSync(child, fsConstants.R_OK);
    return nobodyTmp;
  }
  const HINT = 'opening an interface needs CAP_NET_RAW and CAP_NET_ADMIN (and CAP_BPF and CAP_IPC_LOCK for AF_XDP, whose UMEM is locked memory): run as root, or grant them to node: setcap cap_net_raw,cap_net_admin,cap_bpf,cap_ipc_lock+ep "$(command -v node)"';

  test('not privileged (a process run as nobody): EPERM naming CAP_NET_RAW, CAP_NET_ADMIN and the setcap command', { skip: skipSetpriv }, async () => {
    const root = nobodyRoot();
    const child = join(root, 'dist', 'test', 'fixtures', 'netif-child.js');
    for (const mode of MODES) {
      const o = await openIn(A, mode, [...asNobody, '--'], child);
      assert.equal(o.ok, false, mode);
      assert.equal(o.code, 'EPERM', `${mode}: ${o.message}`);
      assert.ok(o.message!.startsWith(`netmap:${A}: `), o.message);
      assert.ok(o.message!.endsWith(HINT), o.message);
      // what the kernel refused: the XDP map for AF_XDP (and auto: no fallback, AF_PACKET would be refused too), the socket for AF_PACKET
      assert.match(o.message!, mode === 'af_packet' ? /socket\(AF_PACKET, vethA\): EPERM/ : /bpf\(BPF_MAP_CREATE, nmts_xsks\): EPERM/);
    }
    const r = await ns.spawn(process.execPath, [join(root, 'bin', 'nmts.js'), 'pkt-gen', '-i', `netmap:${A}`, '-f', 'tx', '-n', '1', '-w', '0'], process.env, [...asNobody, '--']).wait();
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /CAP_NET_RAW and CAP_NET_ADMIN/);
    assert.match(r.stderr, /setcap cap_net_raw,cap_net_admin,cap_bpf,cap_ipc_lock\+ep/);
  });

  test('the capabilities the advice names are enough for AF_XDP on a 2-queue interface, even with ulimit -l 64; without CAP_IPC_LOCK the UMEM error says why', { skip: skipSetpriv }, async () => {
    const root = nobodyRoot();
    const child = join(root, 'dist', 'test', 'fixtures', 'netif-child.js');
    // what `setcap CAPS+ep node` grants, given to nobody as ambient capabilities
    const caps = /setcap (\S+)\+ep/.exec(HINT)![1]!.split(',').map((c) => c.replace(/^cap_/, ''));
    const withCaps = (list: string[]): string[] => {
      const set = list.map((c) => `+${c}`).join(',');
      return [...asNobody, `--inh-caps=${set}`, `--ambient-caps=${set}`, '--', 'sh', '-c', 'ulimit -l 64 && exec "$@"', 'sh'];
    };
    const granted = await openIn(E, 'af_xdp', withCaps(caps), child);
    assert.equal(granted.ok, true, granted.message);
    assert.equal(granted.info!.backend, 'af_xdp');
    const k0 = ns.counters(F);
    const r = await ns.spawn(process.execPath, [join(root, 'bin', 'nmts.js'), 'pkt-gen', '-i', `netmap:${E}`, '-f', 'tx', '-n', '100', '-w', '0'], process.env, withCaps(caps)).wait();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /backend AF_XDP \(native XDP, copy mode, queues 0,1\)/);
    assert.equal(ns.counters(F).rxPackets - k0.rxPackets, 100);
    // without CAP_IPC_LOCK, the UMEM is charged to the 64 KiB limit: the error says so, and auto takes AF_PACKET
    const noLock = withCaps(caps.filter((c) => c !== 'ipc_lock'));
    const x = await openIn(E, 'af_xdp', noLock, child);
    assert.equal(x.code, 'ENOBUFS', x.message);
    assert.match(x.message!, /^setsockopt\(XDP_UMEM_REG, vethE\): ENOBUFS \(No buffer space available\): the UMEM \([\d.]+ MiB for queue 0\) does not fit the locked-memory limit \(ulimit -l\); raise it, or grant CAP_IPC_LOCK$/);
    const auto = await openIn(E, 'auto', noLock, child);
    assert.equal(auto.ok, true, auto.message);
    assert.equal(auto.info!.backend, 'af_packet');
    assert.match(auto.info!.fallbackReason, /^AF_XDP: setsockopt\(XDP_UMEM_REG, vethE\): ENOBUFS .*ulimit -l/);
  });

  test('MTU 3000: EMSGSIZE naming the MTU, the buffer and the MTU that fits, with every backend', { skip }, async () => {
    ns.ip('link', 'set', A, 'mtu', '3000');
    try {
      for (const mode of MODES) {
        const o = await openIn(A, mode);
        assert.equal(o.ok, false, mode);
        assert.equal(o.code, 'EMSGSIZE', `${mode}: ${o.message}`);
        assert.match(o.message!, new RegExp(`^netmap:${A}: the MTU of ${A} \\(3000\\) is larger than a buffer holds: frames of up to 3018 bytes`));
        // AF_XDP: 1792-byte frames; AF_PACKET (and auto, which falls back to it): 2048-byte buffers
        const fits = mode === 'af_xdp' ? 1774 : 2030;
        assert.ok(o.message!.endsWith(`; lower it: ip link set ${A} mtu ${fits}`), o.message);
      }
    } finally {
      ns.ip('link', 'set', A, 'mtu', '1500');
    }
  });

  test('MTU 1800: too large for AF_XDP (1792-byte frames), fine for AF_PACKET, which moves full-size frames', { skip }, async () => {
    ns.ip('link', 'set', A, 'mtu', '1800');
    ns.ip('link', 'set', B, 'mtu', '1800');
    try {
      const x = await openIn(A, 'af_xdp');
      assert.equal(x.code, 'EMSGSIZE', x.message);
      assert.equal(x.message, `netmap:${A}: the MTU of ${A} (1800) is larger than a buffer holds: frames of up to 1818 bytes, buffers take 1792 (AF_XDP: 2048-byte chunks less 256 bytes of kernel headroom); lower it: ip link set ${A} mtu 1774`);
      const p = await openIn(A, 'af_packet');
      assert.equal(p.ok, true, p.message);
      assert.equal(p.info!.backend, 'af_packet');
      // 1814-byte frames (MTU 1800 + Ethernet header) go out whole
      const k0 = ns.counters(B);
      const r = await ns.nmts(['pkt-gen', '-i', `netmap:${A}`, '-f', 'tx', '-n', '100', '-l', '1814', '-w', '0'], { NMTS_BACKEND: 'af_packet' }).wait();
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, BACKEND_LINE.af_packet);
      const k1 = ns.counters(B);
      assert.equal(k1.rxPackets - k0.rxPackets, 100);
      assert.equal(k1.rxBytes - k0.rxBytes, 100 * 1814);
    } finally {
      ns.ip('link', 'set', A, 'mtu', '1500');
      ns.ip('link', 'set', B, 'mtu', '1500');
    }
  });

  // auto should take AF_PACKET when only AF_XDP's frame size is too small (open-interface.ts treats
  // EMSGSIZE from the AF_XDP attempt as final today)
  test('MTU 1800, backend auto: falls back to AF_PACKET, saying why', { skip }, async () => {
    ns.ip('link', 'set', A, 'mtu', '1800');
    try {
      const o = await openIn(A, 'auto');
      assert.equal(o.ok, true, o.message);
      assert.equal(o.info!.backend, 'af_packet');
      assert.match(o.info!.fallbackReason, /^AF_XDP: .*MTU of vethA \(1800\)/);
    } finally {
      ns.ip('link', 'set', A, 'mtu', '1500');
    }
  });

  test('GRO on: a warning in port.info.warnings with the ethtool command that turns it off, printed by pkt-gen; none once off', { skip: skipEthtool }, async () => {
    const advice = `${A}: GRO on: received frames may be merged beyond the buffer size; for small-packet tests run: ethtool -K ${A} gro off`;
    ns.run('ethtool', ['-K', A, 'gro', 'on']);
    try {
      for (const mode of MODES) {
        const o = await openIn(A, mode);
        assert.equal(o.ok, true, `${mode}: ${o.message}`);
        assert.deepEqual(o.info!.warnings, [advice], mode);
      }
      for (const backend of BACKENDS) {
        const r = await ns.nmts(['pkt-gen', '-i', `netmap:${A}`, '-f', 'tx', '-n', '10', '-w', '0'], { NMTS_BACKEND: backend }).wait();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, BACKEND_LINE[backend]);
        assert.ok(r.stderr.split('\n').includes(`warning: ${advice}`), r.stderr);
      }
    } finally {
      ns.run('ethtool', ['-K', A, 'gro', 'off']);
    }
    for (const mode of MODES) {
      const o = await openIn(A, mode);
      assert.deepEqual(o.info?.warnings, [], `${mode}: no advice with GRO off`);
    }
  });
});
