// nmts vnf firewall between two network namespaces, with clients and servers no one here
// wrote: `curl` to a Python http.server passes when a rule allows it and is dropped when a rule
// denies it (counted on that rule); the server's answers pass with no rule of their own (the
// connection table); iperf3 TCP runs through it. Three namespaces of our own: nf-fw-PID holds
// the firewall's two veth ends (netmap:nffa, netmap:nffb, AF_XDP), nf-cli-PID the client
// (10.99.0.1 on nfca) and nf-srv-PID the servers (10.99.0.2 on nfsb).
// Offloads are off on the client's and server's veths: the port-forward machinery moves
// AF_XDP frames of at most one buffer, without the virtio-net header path (docs/vnf.md).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Netns, type Proc } from './fixtures/netif-helpers.js';
import { needs } from './fixtures/requires.js';

const skip = needs(['root', 'ip', 'curl', 'python3', 'iperf3', 'ethtool']);

const RULES = `# the firewall test's rules
allow tcp dst port 80          # the web server
deny tcp dst port 8080         # another one, refused
allow tcp dst port 5201        # iperf3 (control and data connections)
`;

interface FwJson {
  aToB: number; bToA: number; zerocopy: boolean;
  firewall: { established: number; ruleAllowed: number; ruleDenied: number; defaultDenied: number; arpPassed: number; dropped: number; rules: { rule: string; hits: number }[]; conntrack: { created: number } };
}

describe('nmts vnf firewall between namespaces: curl, http.server, iperf3', { skip, timeout: 180_000 }, () => {
  const fw = new Netns('fw', 'nf'), cli = new Netns('cli', 'nf'), srv = new Netns('srv', 'nf');
  const servers: Proc[] = [];
  before(() => {
    if (skip) return;
    fw.create([['nffa', 'nfca'], ['nffb', 'nfsb']]);
    cli.create([]);
    srv.create([]);
    fw.ip('link', 'set', 'nfca', 'netns', cli.name);
    fw.ip('link', 'set', 'nfsb', 'netns', srv.name);
    for (const [ns, dev, addr] of [[cli, 'nfca', '10.99.0.1/24'], [srv, 'nfsb', '10.99.0.2/24']] as const) {
      ns.ip('addr', 'add', addr, 'dev', dev);
      ns.ip('link', 'set', dev, 'up');
      ns.run('ethtool', ['-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off', 'rx', 'off']);
    }
    for (const dev of ['nffa', 'nffb']) fw.run('ethtool', ['-K', dev, 'gro', 'off']);
    const www = join(srv.dir, 'www');
    mkdirSync(www);
    writeFileSync(join(www, 'hello.txt'), 'hello through the firewall\n');
    for (const port of ['80', '8080']) servers.push(srv.spawn('sh', ['-c', `cd ${www} && exec python3 -m http.server ${port} --bind 10.99.0.2`]));
    writeFileSync(join(fw.dir, 'rules'), RULES);
  });
  after(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await cli.destroy();
    await srv.destroy();
    await fw.destroy();
  });

  async function run(expectBackend: RegExp, arpExpected: boolean): Promise<number> {
    const p = fw.nmts(['vnf', 'firewall', '-i', 'netmap:nffa', '-i', 'netmap:nffb', '--rules', join(fw.dir, 'rules'), '--json']);
    await p.waitFor(/^firewall: .* 3 rules, default deny/m, 20_000, 'stderr');
    assert.match(p.stderr, expectBackend);
    await servers[0]!.waitFor(/Serving HTTP/, 10_000);
    const ok = cli.run('sh', ['-c', 'curl -sS -m 10 --retry 2 http://10.99.0.2/hello.txt'], { timeout: 60_000 });
    assert.equal(ok, 'hello through the firewall\n');
    const denied = cli.run('sh', ['-c', 'curl -sS -m 3 http://10.99.0.2:8080/hello.txt; echo "rc=$?"'], { timeout: 30_000 });
    assert.match(denied, /rc=28/, 'the connection times out: its SYNs are dropped');
    const iperfServer = srv.spawn('iperf3', ['-s', '-1', '-B', '10.99.0.2', '--forceflush']);
    await iperfServer.waitFor(/Server listening/, 10_000);
    const ip = JSON.parse(cli.run('iperf3', ['-c', '10.99.0.2', '-t', '3', '-J', '--connect-timeout', '5000'], { timeout: 60_000 })) as { end: { sum_received: { bytes: number; bits_per_second: number } } };
    const got = ip.end.sum_received;
    assert.ok(got.bytes > 1e6, `iperf3 moved ${got.bytes} bytes`);
    const mbps = got.bits_per_second / 1e6;
    await iperfServer.wait(20_000);
    p.kill('SIGTERM');
    const r = await p.wait(20_000);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as FwJson;
    const f = j.firewall;
    assert.equal(j.zerocopy, false, 'two interfaces: two regions, frames copied');
    const [web, refused, iperf] = f.rules.map((x) => x.hits);
    assert.ok(web! >= 1, 'the web server flow was allowed by rule 1');
    assert.ok(refused! >= 1, `the SYNs to 8080 were counted on rule 2 (${refused})`);
    assert.ok(iperf! >= 2, 'iperf3: control and data connections');
    assert.ok(f.established > 100, `answers and the rest of each flow passed through the connection table (${f.established})`);
    if (arpExpected) assert.ok(f.arpPassed >= 2, 'ARP passed with no rule');
    assert.equal(f.ruleDenied, refused);
    assert.ok(j.aToB > 100 && j.bToA > 100);
    return mbps;
  }

  test('offloads off: allowed, denied (on its rule), replies without a rule, iperf3 TCP', async () => {
    const mbps = await run(/netmap:nffa \((af_xdp|af_packet)/, true);
    process.stderr.write(`iperf3 through the firewall, offloads off: ${mbps.toFixed(0)} Mbit/s\n`);
  });

  test('default offloads (TSO, GSO, checksums): the same through AF_PACKET with virtio-net headers', async () => {
    for (const [ns, dev] of [[cli, 'nfca'], [srv, 'nfsb']] as const) ns.run('ethtool', ['-K', dev, 'tso', 'on', 'gso', 'on', 'gro', 'on', 'tx', 'on', 'rx', 'on']);
    const mbps = await run(/netmap:nffa \(af_packet, 10-byte virtio-net header\) <-> netmap:nffb \(af_packet, 10-byte virtio-net header\)/, false); // neighbours cached by the first test
    process.stderr.write(`iperf3 through the firewall, default offloads: ${mbps.toFixed(0)} Mbit/s\n`);
  });
});
