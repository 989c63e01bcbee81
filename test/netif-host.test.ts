// The host stack through TAP devices, in network namespaces of our own (nmtsh1-PID, nmtsh2-PID):
// `nmts bridge -i netmap:vethA -i netmap:vethA^` carries ping both ways between the stack on the
// TAP vethA^ and a peer namespace (AF_XDP and AF_PACKET); netmap:IF* has the NIC rings plus the host
// ring, last; frames cross between the host rings and raw sockets on the TAP; the TAP made for
// IF^ goes at close and when its process is killed, a persistent one stays; `vale-ctl -n / -r`
// make and remove persistent TAPs that netmap:NAME opens. Root only (skipped otherwise, with the
// reason); the namespaces are deleted after.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { needs } from './fixtures/requires.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NMTS = join(ROOT, 'bin', 'nmts.js');
const CHILD = fileURLToPath(new URL('./fixtures/netif-host-child.js', import.meta.url));
const NS1 = `nmtsh1-${process.pid}`, NS2 = `nmtsh2-${process.pid}`;
const BACKENDS = ['af_xdp', 'af_packet'] as const;

const skip = needs(['root', 'ip', 'ping'], 'network namespaces, veth pairs, TAP devices');

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Run a command in a namespace: its status and output (never throws on a failure status). */
function inNs(ns: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const valeCtl = (...args: string[]): ReturnType<typeof inNs> => inNs(NS1, process.execPath, [NMTS, 'vale-ctl', ...args]);

/** The fixture's one JSON line (`frames`). */
function frames(env: NodeJS.ProcessEnv, ...args: string[]): Record<string, unknown> {
  const r = inNs(NS1, process.execPath, [CHILD, 'frames', ...args], env);
  assert.equal(r.status, 0, `netif-host-child frames ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

interface Link { ifname: string; address: string; mtu: number; linkinfo?: { info_kind: string; info_data?: { type?: string; persist?: boolean } } }

/** The interfaces of a namespace (`ip -j -d link`). */
function links(ns = NS1): Map<string, Link> {
  return new Map((JSON.parse(ip('-n', ns, '-j', '-d', 'link', 'show')) as Link[]).map((l) => [l.ifname, l]));
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A process in NS1, its output collected. */
class Proc {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly child: ChildProcess;
  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn('ip', ['netns', 'exec', NS1, process.execPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.stdout += d; });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; });
    this.exited = new Promise((r) => this.child.once('close', (code) => r(code)));
  }
  /** Wait until stdout or stderr matches re. */
  async waitFor(re: RegExp, ms = 10_000): Promise<RegExpExecArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = re.exec(`${this.stdout}\n${this.stderr}`);
      if (m) return m;
      if (this.child.exitCode !== null || this.child.signalCode !== null || Date.now() > end) {
        assert.fail(`waiting for ${re}: stdout ${JSON.stringify(this.stdout)} stderr ${JSON.stringify(this.stderr)}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  /** The last JSON line of stdout. */
  json(): Record<string, unknown> {
    return JSON.parse(this.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  }
  kill(sig: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(sig);
  }
}

/** The fixture holding a port open: {ready, pid, info, rings} once open. */
async function holder(port: string, env: NodeJS.ProcessEnv = {}): Promise<{ p: Proc; ready: Record<string, unknown> }> {
  const p = new Proc([CHILD, 'hold', port], env);
  await p.waitFor(/^\{.*\}$/m);
  const ready = p.json();
  if (!ready.ready) {
    p.kill();
    assert.fail(`${port}: ${JSON.stringify(ready)}`);
  }
  return { p, ready };
}

describe('host stack through TAP devices (netmap:IF^, netmap:IF*) and TAP ports (vale-ctl -n / -r)', { timeout: 120_000 }, () => {
  const procs: Proc[] = [];
  before(() => {
    if (skip) return;
    for (const ns of [NS1, NS2]) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      // no router solicitations or DAD: only the test's frames move
      inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    ip('-n', NS1, 'link', 'add', 'vethA', 'type', 'veth', 'peer', 'name', 'vethB', 'netns', NS2);
    ip('-n', NS1, 'link', 'set', 'vethA', 'up');
    ip('-n', NS2, 'link', 'set', 'vethB', 'up');
    ip('-n', NS2, 'addr', 'add', '10.77.0.2/24', 'dev', 'vethB');
    ip('-n', NS1, 'link', 'add', 'vethC', 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'vethD');
    ip('-n', NS1, 'link', 'set', 'vethC', 'up');
    ip('-n', NS1, 'link', 'set', 'vethD', 'up');
  });
  after(async () => {
    for (const p of procs) p.kill();
    await Promise.all(procs.map((p) => p.exited));
    if (skip) return;
    for (const ns of [NS1, NS2]) {
      try { ip('netns', 'del', ns); } catch { /* never made */ }
    }
  });

  for (const backend of BACKENDS) {
    test(`nmts bridge -i netmap:vethA -i netmap:vethA^ (${backend}): ping from the peer to the address on the TAP vethA^, and back`, { skip }, async () => {
      const bridge = new Proc([NMTS, 'bridge', '-i', 'netmap:vethA', '-i', 'netmap:vethA^'], { NMTS_BACKEND: backend });
      procs.push(bridge);
      await bridge.waitFor(/^Ready to go/m, 20_000);
      // (the TAP takes vethA's header length: none on AF_XDP, 10 bytes when AF_PACKET is forced)
      assert.match(bridge.stderr, /^netmap:vethA\^: backend TAP \(host stack of vethA: TAP vethA\^, made for this port, (one read\(\)\/write\(\)|10-byte virtio-net header, offloads taken \(TSO, partial checksums\), one readv\(\)\/writev\(\)) per frame\)$/m);
      const tap = links().get('vethA^');
      assert.ok(tap, 'the bridge made the TAP vethA^');
      assert.equal(tap.address, links().get('vethA')!.address, "the TAP has vethA's MAC address");
      assert.deepEqual([tap.linkinfo?.info_kind, tap.linkinfo?.info_data?.type, tap.linkinfo?.info_data?.persist], ['tun', 'tap', false]);
      ip('-n', NS1, 'addr', 'add', '10.77.0.1/24', 'dev', 'vethA^');
      const there = inNs(NS2, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.77.0.1']);
      assert.equal(there.status, 0, `ping 10.77.0.1 from ${NS2}: ${there.stdout}${there.stderr}`);
      assert.match(there.stdout, /3 packets transmitted, 3 received/);
      const back = inNs(NS1, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.77.0.2']);
      assert.equal(back.status, 0, `ping 10.77.0.2 from ${NS1}: ${back.stdout}${back.stderr}`);
      assert.match(back.stdout, /3 packets transmitted, 3 received/);
      bridge.kill('SIGINT');
      assert.equal(await bridge.exited, 0, bridge.stderr);
      const m = /^(\d+) packets netmap:vethA -> netmap:vethA\^, (\d+) packets back/m.exec(bridge.stdout);
      assert.ok(m, bridge.stdout);
      // 3 echo requests and 3 replies each way, and ARP
      assert.ok(Number(m[1]) >= 6 && Number(m[2]) >= 6, bridge.stdout);
      assert.equal(links().has('vethA^'), false, 'the TAP went with the bridge');
    });
  }

  for (const backend of BACKENDS) {
    test(`netmap:vethC* (${backend}): the NIC ring and the host ring last (ring id 1); frames cross the wire and the TAP both ways`, { skip }, () => {
      const r = frames({ NMTS_BACKEND: backend }, 'netmap:vethC*', 'vethC^', 'vethD');
      const info = r.info as { backend: string; detail: string; tap: string };
      assert.equal(info.backend, backend);
      assert.equal(info.tap, 'vethC^');
      assert.match(info.detail, /; host rings \(last\): TAP vethC\^, made for this port/);
      assert.deepEqual(r.rings, { tx: [0, 1], rx: [0, 1] }, 'one queue on a veth: N = 1, N + 1 rings');
      assert.deepEqual([r.hostTx, r.hostRx, r.nicTx, r.nicRx], [true, true, true, true], JSON.stringify(r));
      const stats = r.stats as { txPackets: number; rxPackets: number; txDrops: number };
      assert.equal(stats.txPackets, 2);
      assert.ok(stats.rxPackets >= 2);
      assert.equal(links().has('vethC^'), false, 'the TAP went with the port');
    });
  }

  test('netmap:vethC^ and netmap:vethC^0: the host ring alone (ring id N = 1, backend tap); NMTS_HOST_TAP names the TAP; ^1 does not exist', { skip }, () => {
    const r = frames({}, 'netmap:vethC^', 'vethC^');
    assert.deepEqual(r.rings, { tx: [1], rx: [1] });
    assert.deepEqual([r.hostTx, r.hostRx], [true, true], JSON.stringify(r));
    assert.equal((r.info as { backend: string }).backend, 'tap');
    assert.deepEqual(r.stats, { txPackets: 1, txBytes: 90, rxPackets: 1, rxBytes: 130, txDrops: 0, rxDrops: 0 });

    const named = frames({ NMTS_HOST_TAP: 'hostC0' }, 'netmap:vethC^0', 'hostC0');
    assert.equal((named.info as { tap: string }).tap, 'hostC0');
    assert.deepEqual([named.hostTx, named.hostRx], [true, true], JSON.stringify(named));
    assert.equal(links().has('hostC0'), false);

    const one = inNs(NS1, process.execPath, [CHILD, 'hold', 'netmap:vethC^1']);
    assert.match(one.stdout, /"code":"EINVAL","message":"netmap:vethC\^1: host ring 1 does not exist \(vethC has one host ring, \^0\)"/);
  });

  test('the TAP made for netmap:IF^ goes at close and when its process is killed (SIGKILL); a persistent one (vale-ctl -n IF^) stays', { skip }, async () => {
    const vethC = links().get('vethC')!;
    const a = await holder('netmap:vethC^');
    procs.push(a.p);
    const tap = links().get('vethC^');
    assert.ok(tap, 'made at open');
    assert.deepEqual([tap.address, tap.mtu], [vethC.address, 1400], "vethC's MAC address and MTU");
    a.p.child.stdin!.write('close\n');
    await a.p.waitFor(/"closed":true/);
    assert.equal(links().has('vethC^'), false, 'gone at close');
    a.p.child.stdin!.end('exit\n');
    await a.p.exited;

    const b = await holder('netmap:vethC^');
    procs.push(b.p);
    assert.ok(links().has('vethC^'));
    b.p.kill('SIGKILL');
    await b.p.exited;
    await until('the TAP to go with the killed process', () => !links().has('vethC^'));

    assert.deepEqual(valeCtl('-n', 'vethC^'), { status: 0, stdout: '', stderr: '' });
    const made = links().get('vethC^')!;
    assert.deepEqual([made.address, made.mtu, made.linkinfo?.info_data?.persist], [vethC.address, 1400, true], 'IF^ made by vale-ctl -n gets IF\'s MAC and MTU');
    const c = await holder('netmap:vethC^');
    procs.push(c.p);
    assert.match((c.ready.info as { detail: string }).detail, /TAP vethC\^, persistent/);
    const busy = valeCtl('-r', 'vethC^');
    assert.equal(busy.status, 1);
    assert.match(busy.stderr, /^failed to remove vethC\^: Device or resource busy \(vethC\^ is in use/);
    c.p.child.stdin!.write('close\n');
    await c.p.waitFor(/"closed":true/);
    c.p.child.stdin!.end('exit\n');
    assert.ok(links().has('vethC^'), 'a persistent TAP stays');
    assert.deepEqual(valeCtl('-r', 'vethC^'), { status: 0, stdout: '', stderr: '' });
    assert.equal(links().has('vethC^'), false);
  });

  test('vale-ctl -n NAME makes a persistent TAP that netmap:NAME opens (backend tap); -r removes it; errors as netmap\'s', { skip }, async () => {
    assert.deepEqual(valeCtl('-n', 'nmtst0'), { status: 0, stdout: '', stderr: '' });
    const l = links().get('nmtst0');
    assert.ok(l, 'ip link shows it');
    assert.deepEqual([l.linkinfo?.info_kind, l.linkinfo?.info_data?.type, l.linkinfo?.info_data?.persist], ['tun', 'tap', true]);

    const failures: Array<[string[], string]> = [
      [['-n', 'nmtst0'], 'failed to create nmtst0: File exists (network interface nmtst0 already exists)'],
      [['-n', 'bad/name'], "failed to create bad/name: Invalid argument (not a valid interface name: 1 to 15 bytes, no '/', ':' or spaces)"],
      [['-n', 'sixteen-bytes-xx'], "failed to create sixteen-bytes-xx: Invalid argument (not a valid interface name: 1 to 15 bytes, no '/', ':' or spaces)"],
      [['-n', 'vale0x'], 'failed to create vale0x: Invalid argument (a persistent port is named like an interface, without the vale prefix; attach it with -a valeX:NAME)'],
      [['-r', 'nmtsnone'], 'failed to remove nmtsnone: No such device or address (no network interface nmtsnone)'],
      [['-r', 'vethC'], 'failed to remove vethC: Invalid argument (vethC is not a persistent VALE port; netmap-ts makes them as TAP devices, with vale-ctl -n)'],
    ];
    for (const [args, line] of failures) assert.deepEqual(valeCtl(...args), { status: 1, stdout: '', stderr: `${line}\n` }, args.join(' '));

    // the port: frames to the TAP's stack and from it
    const r = frames({}, 'netmap:nmtst0', 'nmtst0');
    assert.deepEqual(r.info, { backend: 'tap', detail: 'TAP nmtst0, persistent, one read()/write() per frame', fallbackReason: '', warnings: [], tap: 'nmtst0' });
    assert.deepEqual(r.rings, { tx: [0], rx: [0] });
    assert.deepEqual([r.hostTx, r.hostRx], [true, true], JSON.stringify(r));
    // a TAP is its own host stack
    const sw = inNs(NS1, process.execPath, [CHILD, 'hold', 'netmap:nmtst0^']);
    assert.match(sw.stdout, /"code":"EINVAL","message":"netmap:nmtst0\^: nmtst0 is a TAP device: netmap:nmtst0 already reaches its host stack/);

    // held by a port: busy, for vale-ctl -r and for a second opener
    const h = await holder('netmap:nmtst0');
    procs.push(h.p);
    const busy = valeCtl('-r', 'nmtst0');
    assert.equal(busy.status, 1);
    assert.match(busy.stderr, /^failed to remove nmtst0: Device or resource busy \(nmtst0 is in use/);
    const second = inNs(NS1, process.execPath, [CHILD, 'hold', 'netmap:nmtst0']);
    assert.match(second.stdout, /"code":"EBUSY","message":"netmap:nmtst0: TAP nmtst0 is held by another process or port/);
    h.p.child.stdin!.end('exit\n');
    await h.p.exited;

    assert.deepEqual(valeCtl('-r', 'nmtst0'), { status: 0, stdout: '', stderr: '' });
    assert.equal(links().has('nmtst0'), false, 'removed');
    assert.equal(valeCtl('-r', 'nmtst0').stderr, 'failed to remove nmtst0: No such device or address (no network interface nmtst0)\n');

    // -C and -m are accepted (netmap's syntax) and have no effect; a name netmap:NAME cannot say is noted
    const conf = valeCtl('-n', 'nmtst1', '-C', '2048,1024,2,2', '-m', '1');
    assert.equal(conf.status, 0, conf.stderr);
    assert.match(conf.stderr, /^vale-ctl: -C has no effect on a TAP port/m);
    const dash = valeCtl('-n', 'nmts-t2');
    assert.equal(dash.status, 0, dash.stderr);
    assert.match(dash.stderr, /^vale-ctl: note: netmap:nmts-t2 names another port/m);
    for (const n of ['nmtst1', 'nmts-t2']) assert.equal(valeCtl('-r', n).status, 0);
    assert.equal(links().has('nmtst1') || links().has('nmts-t2'), false);
  });
});
