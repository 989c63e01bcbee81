// Linux interfaces on a VALE switch: `nmts vale-ctl -a` attaches a2 and b2 of a middle
// namespace (fixtures/nmtsv-topology.ts) to one switch, through an `nmts daemon` running
// there, so that the switch connects the two hosts: ping and a TCP transfer cross it, after
// the vale-ctl processes have exited. The switch learns (a port of another program reaches
// the interface it learned, floods reach the interfaces), -p/-P switch busy polling, -d
// detaches (no XDP program left), errors keep netmap's format, -h attaches the host stack (or
// says why not), SIGTERM detaches everything, and without a daemon vale-ctl -a starts one
// that exits once nothing is attached.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { daemonRequest } from '../src/apps/daemon/daemon.js';
import { open, type Port } from '../src/index.js';
import { ip, skipReason, Topology, type Proc } from './fixtures/nmtsv-topology.js';

const skip = skipReason();
const topo = new Topology('a');
const SW = `valev${process.pid}`;
const SOCK = `/tmp/nmtsv-${process.pid}.sock`;
const env = { NMTS_SOCKET: SOCK };
let daemon: Proc | null = null;

const valeCtl = (...args: string[]) => topo.nmtsRun(['vale-ctl', ...args], env);

/** The listing's lines of this test's switch. */
async function listing(): Promise<string[]> {
  const r = await valeCtl();
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.startsWith(`${SW}:`));
}

function mac(text: string): number[] {
  return text.split(':').map((x) => parseInt(x, 16));
}

/** Poll `cond` every 20 ms for at most ms. */
async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('Linux interfaces on a VALE switch (vale-ctl -a/-h/-d/-p/-P, served by nmts daemon)', { skip }, () => {
  before(async () => {
    topo.create();
    daemon = topo.nmts(['daemon', '--socket', SOCK]);
    await daemon.waitFor(/started: socket/);
  });
  after(async () => {
    daemon?.kill('SIGKILL');
    await topo.destroy();
    rmSync(SOCK, { force: true });
  });

  test('-a attaches both interfaces; the listing shows them as netmap does; ping and TCP cross the switch after vale-ctl exited', { timeout: 60_000 }, async (t) => {
    const a = await valeCtl('-a', `${SW}:a2`);
    assert.deepEqual([a.code, a.stdout], [0, ''], a.stderr);
    const b = await valeCtl('-v', '-a', `${SW}:b2`);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, new RegExp(`^attached b2 to ${SW}: ${SW}:b2 port_idx 1$`, 'm'));
    assert.match(b.stdout, /^netmap:b2: backend AF_XDP \(/m);
    const rows = await listing();
    assert.equal(rows.length, 2, rows.join('\n'));
    assert.match(rows[0], new RegExp(`^${SW}:a2 bridge_idx \\d+ port_idx 0$`));
    assert.match(rows[1], new RegExp(`^${SW}:b2 bridge_idx \\d+ port_idx 1$`));
    assert.ok(topo.xdp('a2') && topo.xdp('b2'), 'both interfaces are bound (XDP)');

    // both vale-ctl processes have exited: the daemon's forwarders carry the traffic
    const ping = await topo.ping(20, 0.05);
    assert.equal(ping.received, 20, ping.text);
    t.diagnostic(`VALE (-a a2, -a b2): ping rtt min/avg/max ${ping.min}/${ping.avg}/${ping.max} ms`);
    const tcp = await topo.iperf(3);
    assert.equal(tcp.error, null);
    assert.ok(tcp.bytes > 0, 'bytes crossed the switch');
    t.diagnostic(`VALE (-a a2, -a b2): iperf3 TCP ${(tcp.bps / 1e9).toFixed(2)} Gbit/s, ${(tcp.bytes / 1e6).toFixed(0)} MB in 3 s, ${tcp.retransmits} retransmits`);

    const att = await daemonRequest(SOCK, { cmd: 'attached' });
    const list = att.attachments as Array<{ port: string; backend: string; counters: Record<string, { packets: number }> }>;
    assert.deepEqual(list.map((x) => x.port).sort(), [`${SW}:a2`, `${SW}:b2`]);
    for (const x of list) {
      assert.equal(x.backend, 'af_xdp');
      assert.ok(x.counters.nicToSwitch.packets > 0 && x.counters.switchToNic.packets > 0, JSON.stringify(x.counters));
    }
  });

  test('learning: another program\'s switch port reaches the interface the switch learned; floods reach that port', { timeout: 30_000 }, async () => {
    // the switch file is shared (/dev/shm): this process joins the switch from the root namespace
    const probe: Port = open(`${SW}:probe`);
    try {
      const a1 = mac(topo.mac(topo.ns1, 'a1'));
      const rxA = topo.counter(topo.ns1, 'a1', 'rx_packets'), rxB = topo.counter(topo.ns2, 'b1', 'rx_packets');
      const frame = new Uint8Array(60);
      frame.set(a1, 0);
      frame.set([0x02, 0, 0, 0, 0, 0x99], 6);
      frame.set([0x88, 0xb5], 12); // local experimental ethertype
      for (let i = 0; i < 50; i++) assert.ok(probe.inject(frame));
      probe.txsync();
      await until('50 frames reach a1', () => topo.counter(topo.ns1, 'a1', 'rx_packets') - rxA >= 50);
      const toB = topo.counter(topo.ns2, 'b1', 'rx_packets') - rxB;
      assert.ok(toB < 50, `unicast to a learned MAC is not flooded (b1 got ${toB})`);

      // a1 asks for an address nobody has: its ARP broadcasts are flooded to every port
      const srcA1 = a1.join(',');
      let seen = 0;
      const ping = topo.ping(3, 0.2, '10.201.0.77');
      const offs = new Uint32Array(64), lens = new Uint16Array(64);
      await until('a1\'s ARP broadcast reaches the probe port', () => {
        const n = probe.receiveBatch(offs, lens);
        for (let i = 0; i < n; i++) {
          const o = offs[i];
          if ([...probe.u8.subarray(o + 6, o + 12)].join(',') === srcA1 && probe.u8[o + 12] === 0x08 && probe.u8[o + 13] === 0x06) seen++;
        }
        return seen > 0;
      });
      await ping;
    } finally {
      probe.close();
    }
  });

  test('-p/-P: busy polling (pinned with -C 0,CPU); -d is refused while polling, as in netmap', { timeout: 30_000 }, async (t) => {
    const p = await valeCtl('-v', '-p', `${SW}:a2`, '-C', '0,0');
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, new RegExp(`^polling ${SW}:a2: busy polling on CPU 0$`, 'm'));
    const att = await daemonRequest(SOCK, { cmd: 'attached' });
    const a2 = (att.attachments as Array<{ port: string; polling: { cpu: number } | null }>).find((x) => x.port === `${SW}:a2`);
    assert.deepEqual(a2?.polling?.cpu, 0);
    const ping = await topo.ping(10, 0.05);
    assert.equal(ping.received, 10, ping.text);
    t.diagnostic(`VALE with a2 polling: ping rtt min/avg/max ${ping.min}/${ping.avg}/${ping.max} ms`);
    const again = await valeCtl('-p', `${SW}:a2`);
    assert.deepEqual([again.code, again.stderr], [1, `failed to enable polling on ${SW}:a2: Device or resource busy (${SW}:a2 is already in polling mode (busy polling on CPU 0))\n`]);
    const d = await valeCtl('-d', `${SW}:a2`);
    assert.equal(d.code, 1);
    assert.match(d.stderr, new RegExp(`^failed to detach ${SW}:a2: Device or resource busy \\(${SW}:a2 is in polling mode: stop polling first \\(vale-ctl -P ${SW}:a2\\)\\)$`, 'm'));
    assert.equal((await valeCtl('-P', `${SW}:a2`)).code, 0);
    const off = await valeCtl('-P', `${SW}:a2`);
    assert.deepEqual([off.code, off.stderr], [1, `failed to disable polling on ${SW}:a2: Invalid argument (${SW}:a2 is not in polling mode)\n`]);
    const bad = await valeCtl('-p', `${SW}:a2`, '-C', '0,64');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^failed to enable polling on .*: Invalid argument \(CPU 64 does not exist/m);
  });

  test('errors, in netmap\'s format: no such interface, already attached, not attached, names that cannot be ports', { timeout: 30_000 }, async () => {
    const cases: Array<[string[], RegExp]> = [
      [['-a', `${SW}:nmtsnone0`], new RegExp(`^failed to attach ${SW}:nmtsnone0: No such device or address \\(no network interface nmtsnone0 in the daemon's network namespace`)],
      [['-h', `${SW}:nmtsnone0`], /^failed to attach .*: No such device or address/],
      [['-a', `${SW}:a2`], new RegExp(`^failed to attach ${SW}:a2: Device or resource busy \\(a2 is already attached to ${SW}\\)$`, 'm')],
      [['-a', `valew${process.pid}:a2`], new RegExp(`^failed to attach valew${process.pid}:a2: Device or resource busy \\(a2 is attached to ${SW}; detach it first: vale-ctl -d ${SW}:a2\\)$`, 'm')],
      [['-d', `${SW}:nmtsnone0`], /^failed to detach .*: No such device or address \(no network interface nmtsnone0/],
      [['-d', `valew${process.pid}:a2`], new RegExp(`^failed to detach valew${process.pid}:a2: No such device or address \\(a2 is not attached to valew${process.pid}: it is attached to ${SW}\\)$`, 'm')],
      [['-P', `${SW}:lo`], new RegExp(`^failed to disable polling on ${SW}:lo: No such device or address \\(lo is not attached to ${SW}\\)$`, 'm')],
      [['-a', `${SW}:a-2`], /^failed to attach .*: Invalid argument \(interface a-2 cannot be named as a netmap port/],
      [['-a', `${SW}:a2^`], /^failed to attach .*: Invalid argument \(name the interface, not its host port/],
      [['-a', 'a2'], /^failed to attach a2: Invalid argument \(expected valeX:IF/],
    ];
    const results = await Promise.all(cases.map(([args]) => valeCtl(...args)));
    cases.forEach(([args, re], i) => {
      const r = results[i];
      assert.equal(r.code, 1, `vale-ctl ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, re, `vale-ctl ${args.join(' ')}`);
    });
    // opening the attached port by name is refused: the forwarder binds it exclusively
    assert.throws(() => open(`${SW}:a2`), /EBUSY|exclusive|network interface/);
  });

  test('-d detaches: no XDP program left, the port leaves the switch, the other attachment stays', { timeout: 30_000 }, async () => {
    const d = await valeCtl('-v', '-d', `${SW}:a2`);
    assert.deepEqual([d.code, d.stdout], [0, `detached ${SW}:a2\n`], d.stderr);
    assert.equal(topo.xdp('a2'), false, 'ip -d link show a2: no prog/xdp');
    assert.equal(topo.xdp('b2'), true);
    const rows = await listing();
    assert.deepEqual(rows.map((l) => l.split(' ')[0]), [`${SW}:b2`]);
    const again = await valeCtl('-d', `${SW}:a2`);
    assert.deepEqual([again.code, again.stderr], [1, `failed to detach ${SW}:a2: No such device or address (a2 is not attached to ${SW})\n`]);
  });

  test('-h attaches the interface with its host stack (valeX:IF and valeX:IF^), or says why it cannot', { timeout: 30_000 }, async () => {
    const h = await valeCtl('-h', `${SW}:a2`);
    if (h.code !== 0) {
      // netmap:IF^ (the host rings) is not in this build yet
      assert.equal(h.code, 1);
      assert.match(h.stderr, new RegExp(`^failed to attach ${SW}:a2: Operation not supported \\(the host stack of a2 \\(netmap:a2\\^\\) cannot be opened: .*; -a attaches the interface without its host stack\\)$`, 'm'));
      assert.equal(topo.xdp('a2'), false, 'nothing left bound');
      assert.deepEqual((await listing()).map((l) => l.split(' ')[0]), [`${SW}:b2`]);
      return;
    }
    try {
      const rows = (await listing()).map((l) => l.split(' ')[0]).sort();
      assert.deepEqual(rows, [`${SW}:a2`, `${SW}:a2^`, `${SW}:b2`]);
      // the middle box's own stack answers a1 through the switch: its host side is the TAP
      // a2^ (with a2's MAC address), where the stack's addresses go
      ip('-n', topo.mid, 'addr', 'add', '10.201.0.3/24', 'dev', 'a2^');
      const ping = await topo.ping(5, 0.1, '10.201.0.3');
      assert.equal(ping.received, 5, ping.text);
    } finally {
      const d = await valeCtl('-d', `${SW}:a2`);
      assert.equal(d.code, 0, d.stderr);
    }
    assert.deepEqual((await listing()).map((l) => l.split(' ')[0]), [`${SW}:b2`]);
    assert.equal(topo.xdp('a2'), false);
    assert.throws(() => ip('-n', topo.mid, 'link', 'show', 'a2^'), 'the host TAP went with the attachment');
  });

  test('SIGTERM: the daemon detaches every interface and exits 0', { timeout: 30_000 }, async () => {
    assert.ok(daemon);
    daemon.kill('SIGTERM');
    assert.equal((await daemon.wait()).code, 0, daemon.stderr);
    assert.match(daemon.stderr, new RegExp(`stopped: detached ${SW}:b2, released 0 port\\(s\\)`));
    assert.equal(topo.xdp('b2'), false);
    assert.equal(existsSync(SOCK), false);
    daemon = null;
    assert.deepEqual(await listing(), []);
  });

  test('an interface another program holds is refused (EBUSY); a daemon killed with SIGKILL leaves nothing behind: the kernel detaches the XDP program, the next listing drops the port', { timeout: 30_000 }, async () => {
    const sock = `/tmp/nmtsv-kill-${process.pid}.sock`;
    const d = topo.nmts(['daemon', '--socket', sock]);
    try {
      await d.waitFor(/started: socket/);
      // another program holds b2's XDP hook: EBUSY, as netmap (not a silent AF_PACKET fallback)
      const holder = topo.nmts(['bridge', '-L', '-i', 'netmap:b2']);
      await holder.waitFor(/Ready to go/);
      const busy = await topo.nmtsRun(['vale-ctl', '-a', `${SW}:b2`], { NMTS_SOCKET: sock });
      holder.kill('SIGINT');
      assert.equal((await holder.wait()).code, 0);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, new RegExp(`^failed to attach ${SW}:b2: Device or resource busy \\(b2 is in use: another program holds its XDP hook`, 'm'));
      const a = await topo.nmtsRun(['vale-ctl', '-a', `${SW}:b2`], { NMTS_SOCKET: sock });
      assert.equal(a.code, 0, a.stderr);
      assert.equal(topo.xdp('b2'), true);
      d.kill('SIGKILL');
      await d.exited;
      await until('the XDP program goes with the killed process', () => !topo.xdp('b2'));
      assert.deepEqual(await listing(), [], 'the dead forwarder\'s port is reclaimed');
    } finally {
      d.kill('SIGKILL');
      rmSync(sock, { force: true });
    }
  });

  test('no daemon: -d/-p say nothing is attached; -a starts a daemon that exits once nothing is attached', { timeout: 40_000 }, async () => {
    const sock = `/tmp/nmtsv-auto-${process.pid}.sock`, log = `/tmp/nmtsv-auto-${process.pid}.log`;
    const env2 = { NMTS_SOCKET: sock };
    let pid = 0;
    try {
      const d = await topo.nmtsRun(['vale-ctl', '-d', `${SW}:b2`], env2);
      assert.deepEqual([d.code, d.stderr], [1, `failed to detach ${SW}:b2: No such device or address (b2 is not attached to ${SW}: no nmts daemon answers on ${sock}, and attachments live in the daemon)\n`]);
      const off = await topo.nmtsRun(['vale-ctl', '-a', `${SW}:b2`], { ...env2, NMTS_DAEMON_AUTOSTART: '0' });
      assert.equal(off.code, 1);
      assert.match(off.stderr, new RegExp(`^failed to attach ${SW}:b2: No such file or directory \\(no nmts daemon answers on ${sock}: start one`));
      assert.equal(existsSync(sock), false, 'no daemon was started');

      const a = await topo.nmtsRun(['vale-ctl', '-a', `${SW}:b2`], env2);
      assert.equal(a.code, 0, a.stderr);
      const m = new RegExp(`^vale-ctl: started nmts daemon \\(pid (\\d+)\\) on ${sock}, log ${log}; it exits once nothing is attached$`, 'm').exec(a.stderr);
      assert.ok(m, a.stderr);
      pid = Number(m[1]);
      assert.ok(existsSync(`/proc/${pid}`), 'the daemon outlives vale-ctl');
      assert.equal(topo.xdp('b2'), true);
      assert.deepEqual((await listing()).map((l) => l.split(' ')[0]), [`${SW}:b2`]);
      const d2 = await topo.nmtsRun(['vale-ctl', '-d', `${SW}:b2`], env2);
      assert.equal(d2.code, 0, d2.stderr);
      await until('the daemon exits', () => !existsSync(`/proc/${pid}`), 5000);
      assert.equal(topo.xdp('b2'), false);
      assert.equal(existsSync(sock), false, 'its socket is gone');
    } finally {
      if (pid && existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
      rmSync(sock, { force: true });
      rmSync(log, { force: true });
    }
  });
  test('an attached interface that goes away is detached, and the daemon says why (runs last: it deletes b2)', { timeout: 30_000 }, async () => {
    const sock = `/tmp/nmtsv-gone-${process.pid}.sock`, log = `/tmp/nmtsv-gone-${process.pid}.log`;
    let pid = 0;
    try {
      const a = await topo.nmtsRun(['vale-ctl', '-a', `${SW}:b2`], { NMTS_SOCKET: sock });
      assert.equal(a.code, 0, a.stderr);
      pid = Number(/\(pid (\d+)\)/.exec(a.stderr)?.[1]);
      ip('-n', topo.mid, 'link', 'del', 'b2');
      await until('the daemon detaches b2 and exits', () => !existsSync(`/proc/${pid}`), 5000);
      const text = readFileSync(log, 'utf8');
      assert.match(text, new RegExp(`attachment ${SW}:b2 failed: ENXIO: interface b2 went away`));
      assert.deepEqual(await listing(), []);
    } finally {
      if (pid && existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
      rmSync(sock, { force: true });
      rmSync(log, { force: true });
    }
  });
});
