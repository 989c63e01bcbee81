// VXLAN with a multicast group (issue 13): two netmap-ts hosts (A1, A2: a VALE switch, a
// container, a VXLAN port `vni=42,local=...,group=239.1.1.1,dev=...` with no remotes, each host
// its own nmts daemon) and a plain Linux host (B: `ip link add vxlan42 type vxlan id 42 group
// 239.1.1.1 dev ...`, a bridge, a container), on one underlay bridge. Broadcast (ARP) goes to
// the group once and reaches every host; unicast then goes to the learned VTEP; every container
// pings every other. The same over an IPv6 underlay with group ff05::42 (containers at MTU
// 1430). Namespaces start with vxo.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needs } from './fixtures/requires.js';

const skip = needs(['root', 'ip', 'ping', 'ethtool'], 'network namespaces, veth pairs, a Linux vxlan device');
const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const P = process.pid;
const OV = { c1: '192.168.44.1', c2: '192.168.44.2', cb: '192.168.44.3' };
const SW = `valem${P % 100000}`;
const children: ChildProcess[] = [];

const ip = (...a: string[]): string => execFileSync('ip', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const inNs = (ns: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string =>
  execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env, timeout: 30_000 });

for (const v6 of [false, true]) {
  const t6 = v6 ? '6' : '';
  const NS = { u: `vxo${t6}U-${P}`, a1: `vxo${t6}A1-${P}`, a2: `vxo${t6}A2-${P}`, b: `vxo${t6}B3-${P}`, c1: `vxo${t6}C1-${P}`, c2: `vxo${t6}C2-${P}`, cb: `vxo${t6}C3-${P}` };
  const UL = v6 ? { a1: 'fd01::1', a2: 'fd01::2', b: 'fd01::3' } : { a1: '10.9.1.1', a2: '10.9.1.2', b: '10.9.1.3' };
  const GROUP = v6 ? 'ff05::42' : '239.1.1.1';
  const MTU = v6 ? '1430' : '1450';
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vxom-'));

  function hostEnv(h: 'a1' | 'a2'): NodeJS.ProcessEnv {
    return { ...process.env, NMTS_SHM_DIR: join(dir, h), NMTS_SOCKET: join(dir, `${h}.sock`), NMTS_DAEMON_AUTOSTART: '0' };
  }

  function nmts(h: 'a1' | 'a2', ...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', NS[h], process.execPath, NMTS, ...args], { encoding: 'utf8', env: hostEnv(h), timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  function vx(h: 'a1' | 'a2'): Record<string, number> {
    const r = nmts(h, 'vale-ctl', '-v');
    const line = r.stdout.split('\n').find((l) => l.startsWith('vx0 vxlan '));
    assert.ok(line, r.stdout + r.stderr);
    const w = line.split(' '), out: Record<string, number> = {};
    for (let i = 0; i < w.length - 1; i++) if (/^(tx|rx|fdb)_/.test(w[i])) out[w[i]] = Number(w[i + 1]);
    return out;
  }

  function ping(ns: string, dst: string, count: number): number {
    try {
      const t = inNs(ns, 'ping', ['-c', String(count), '-i', '0.05', '-W', '1', dst]);
      return Number(/(\d+) received/.exec(t)?.[1] ?? 0);
    } catch (e) {
      return Number(/(\d+) received/.exec(String((e as { stdout?: string }).stdout))?.[1] ?? 0);
    }
  }

  function container(ns: string, hostNs: string, inner: string, outer: string, addr: string, master?: string): void {
    ip('link', 'add', inner, 'netns', ns, 'type', 'veth', 'peer', 'name', outer, 'netns', hostNs);
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', inner);
    ip('-n', ns, 'link', 'set', inner, 'mtu', MTU, 'up');
    if (master) ip('-n', hostNs, 'link', 'set', outer, 'master', master);
    ip('-n', hostNs, 'link', 'set', outer, 'mtu', MTU, 'up');
    inNs(ns, 'ethtool', ['-K', inner, 'tx', 'off']); // frames cross a user-space switch: no checksum left to offload
  }

  describe(`VXLAN with a multicast group: two netmap-ts hosts and a Linux host on ${GROUP}`, { skip }, () => {
    before(async () => {
      for (const ns of Object.values(NS)) {
        ip('netns', 'add', ns);
        inNs(ns, 'sh', ['-c', 'for c in all default; do f=/proc/sys/net/ipv6/conf/$c/disable_ipv6; if [ -e $f ]; then echo 1 > $f; fi; done']);
        ip('-n', ns, 'link', 'set', 'lo', 'up');
      }
      ip('-n', NS.u, 'link', 'add', 'vxoubr', 'type', 'bridge');
      ip('-n', NS.u, 'link', 'set', 'vxoubr', 'up');
      for (const h of ['a1', 'a2', 'b'] as const) {
        ip('link', 'add', 'vxoul', 'netns', NS[h], 'type', 'veth', 'peer', 'name', `vxou${h}`, 'netns', NS.u);
        ip('-n', NS.u, 'link', 'set', `vxou${h}`, 'master', 'vxoubr', 'up');
        if (v6) {
          inNs(NS[h], 'sh', ['-c', 'echo 0 > /proc/sys/net/ipv6/conf/vxoul/disable_ipv6']);
          ip('-n', NS[h], 'addr', 'add', `${UL[h]}/64`, 'dev', 'vxoul', 'nodad');
        } else {
          ip('-n', NS[h], 'addr', 'add', `${UL[h]}/24`, 'dev', 'vxoul');
        }
        ip('-n', NS[h], 'link', 'set', 'vxoul', 'up');
      }
      // host B: Linux, the same group
      ip('-n', NS.b, 'link', 'add', 'vxlan42', 'type', 'vxlan', 'id', '42', 'local', UL.b, 'group', GROUP, 'dev', 'vxoul', 'dstport', '4789');
      ip('-n', NS.b, 'link', 'add', 'vxobr', 'type', 'bridge');
      ip('-n', NS.b, 'link', 'set', 'vxlan42', 'master', 'vxobr', 'up');
      ip('-n', NS.b, 'link', 'set', 'vxobr', 'up');
      container(NS.cb, NS.b, 'vxoc0', 'vxoc1', OV.cb, 'vxobr');
      // hosts A1, A2: netmap-ts
      for (const [h, c] of [['a1', 'c1'], ['a2', 'c2']] as const) {
        container(NS[c], NS[h], 'vxoc0', 'vxoc1', OV[c]);
        const d = spawn('ip', ['netns', 'exec', NS[h], process.execPath, NMTS, 'daemon', '--socket', hostEnv(h).NMTS_SOCKET!], { env: hostEnv(h), stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(d);
        await new Promise<void>((resolve, reject) => {
          let text = '';
          const t = setTimeout(() => reject(new Error(`daemon of ${h}: ${text}`)), 10_000);
          const on = (b: Buffer): void => { text += b.toString(); if (/started: socket/.test(text)) { clearTimeout(t); resolve(); } };
          d.stdout.on('data', on);
          d.stderr.on('data', on);
        });
        for (const args of [['-n', 'vx0', '--vxlan', `vni=42,local=${UL[h]},group=${GROUP},dev=vxoul`], ['-a', `${SW}:vxoc1`], ['-a', `${SW}:vx0`]]) {
          const r = nmts(h, 'vale-ctl', ...args);
          assert.equal(r.status, 0, `${h}: vale-ctl ${args.join(' ')}: ${r.stderr}`);
        }
      }
    });
    after(() => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      for (const ns of Object.values(NS)) {
        try { ip('netns', 'del', ns); } catch { /* not made */ }
      }
      rmSync(dir, { recursive: true, force: true });
    });

    test('ARP flooded to the group reaches every host; all three containers ping each other', { timeout: 60_000 }, () => {
      assert.equal(ping(NS.c1, OV.c2, 3), 3, 'netmap-ts to netmap-ts');
      assert.equal(ping(NS.c1, OV.cb, 3), 3, 'netmap-ts to Linux');
      assert.equal(ping(NS.cb, OV.c2, 3), 3, 'Linux to netmap-ts');
      const a1 = vx('a1'), a2 = vx('a2');
      assert.ok(a1.tx_flooded >= 2, `A1 flooded its ARP requests: ${JSON.stringify(a1)}`);
      assert.equal(a1.tx_datagrams, a1.tx_unicast + a1.tx_flooded, `one datagram per flooded frame (to the group): ${JSON.stringify(a1)}`);
      assert.equal(a1.tx_no_remote, 0);
      assert.ok(a1.tx_unicast >= 6 && a2.tx_unicast >= 3, `replies and later requests went unicast to learned VTEPs: ${JSON.stringify([a1, a2])}`);
      assert.ok(a2.fdb_learned >= 2, `A2 learned container 1 behind A1 and container B behind B: ${JSON.stringify(a2)}`);
    });

    test('a broadcast from the Linux host reaches both netmap-ts hosts through the group', { timeout: 60_000 }, () => {
      const r1 = vx('a1').rx_frames, r2 = vx('a2').rx_frames;
      // a new address on container B: its gratuitous-ARP-like request goes to everyone
      inNs(NS.cb, 'ip', ['neigh', 'flush', 'dev', 'vxoc0']);
      assert.equal(ping(NS.cb, OV.c1, 2), 2);
      assert.ok(vx('a1').rx_frames > r1, 'A1 received');
      assert.ok(vx('a2').rx_frames > r2, 'A2 received the ARP request for container 1 through the group');
    });
  });
}
