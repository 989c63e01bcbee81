// The --vnf rows on veth pairs between network namespaces (root): each VNF beside the kernel's
// own version of it, the same frames, the same rules, the same topology, in the same run.
//
//   firewall   vnfb<pid>c: vnfbB ── vnfbA  vnfb<pid>f  vnfbC ── vnfbD :vnfb<pid>s
//              `nmts pkt-gen` on vnfbB sends 60-byte UDP frames over 1000 flows, to vnfbA's MAC,
//              10.9.1.2 -> 10.9.2.2:9; the frames are counted as rx_packets of vnfbD. In the
//              middle, either `nmts vnf firewall -i netmap:vnfbA -i netmap:vnfbC` (a bump in the
//              wire, AF_XDP) or the kernel routing them with nftables filtering the forward hook
//              with the same 100 rules and its connection table (nftRuleset(): a flow allowed
//              once is marked and passes without the rules after, as in our table).
//   l4lb       vnfb<pid>c: vnfbQ ── vnfbP ┐
//              vnfb<pid>l: vnfbL ── vnfbM ┤ bridge vnfbbr in vnfb<pid>w
//              vnfb<pid>k: vnfbO ── vnfbN ┘
//              pkt-gen on vnfbQ sends UDP to the VIP 10.9.3.100:9 (vnfbL's MAC) over 1000 flows;
//              either `nmts vnf l4lb -i netmap:vnfbL` (NAT) or IPVS (ipvsadm, NAT, one-armed)
//              in vnfb<pid>l sends them on to the backends 10.9.3.11 and .12 on vnfbO, whose
//              rx_packets count them. A kernel without IPVS (CONFIG_IP_VS) skips that row with a
//              note; nftables' DNAT to a jhash map is the kernel row always there.
//
// The receiving namespaces drop everything in nftables' prerouting (rx_packets is counted
// before), so no ICMP errors flow back. The middle interfaces have TSO, GSO and tx checksums
// off on every row: the VNFs then read them through AF_XDP and the kernel never sees their
// frames. Namespaces are made per row and deleted after it (and at exit).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_WARMUP_MS, type CaseResult, type RunOptions } from './cases.js';
import * as cmd from './linux-commands.js';
import { window } from './linux-measure.js';
import { delta } from './linux-ns.js';
import { PeerMissing } from './linux-peers.js';
import { spawnInNs, type Proc } from './linux-proc.js';
import { firewallRules } from './vnf-vale.js';

const live = new Set<string>();
let hooked = false;

function sh(argv: string[], input?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}
const inNs = (ns: string, argv: string[], input?: string): string => sh(['ip', 'netns', 'exec', ns, ...argv], input);

function addNs(ns: string): void {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => { for (const n of live) try { sh(['ip', 'netns', 'del', n]); } catch { /* gone */ } });
  }
  try { sh(['ip', 'netns', 'del', ns]); } catch { /* not there */ }
  sh(['ip', 'netns', 'add', ns]);
  live.add(ns);
  for (const k of ['all', 'default']) inNs(ns, ['sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
  sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
}

function delNs(ns: string): void {
  try { sh(['ip', 'netns', 'del', ns]); } catch { /* gone */ }
  live.delete(ns);
}

/** A veth pair x (in nsX) <-> y (in nsY), up, with fixed MACs. */
function veth(nsX: string, x: string, macX: string, nsY: string, y: string, macY: string): void {
  sh(['ip', '-n', nsX, 'link', 'add', x, 'address', macX, 'type', 'veth', 'peer', 'name', y, 'address', macY, 'netns', nsY]);
  sh(['ip', '-n', nsX, 'link', 'set', x, 'up']);
  sh(['ip', '-n', nsY, 'link', 'set', y, 'up']);
}

function offloadsOff(ns: string, dev: string): void {
  inNs(ns, ['ethtool', '-K', dev, 'tx', 'off', 'tso', 'off', 'gso', 'off']);
}

/** Drop every IPv4/IPv6 frame in prerouting (counted as rx_packets before): a sink. */
function sink(ns: string): void {
  inNs(ns, ['nft', '-f', '-'], 'table inet vnfbsink {\n  chain pre { type filter hook prerouting priority -400; policy drop; }\n}\n');
}

function needRoot(): void {
  if (process.getuid?.() !== 0) throw new PeerMissing('needs root (network namespaces, veth pairs, nftables)');
  for (const [bin, pkg] of [['ethtool', 'ethtool'], ['nft', 'nftables']] as const) {
    try { sh([bin, '--version']); } catch { throw new PeerMissing(`${bin} not installed (apt-get install ${pkg})`); }
  }
}

const MAC = { A: '02:76:6e:66:00:0a', B: '02:76:6e:66:00:0b', C: '02:76:6e:66:00:0c', D: '02:76:6e:66:00:0d', L: '02:76:6e:66:00:1a', O: '02:76:6e:66:00:1e', Q: '02:76:6e:66:00:20' };
const FLOWS = '1000-1999';

function limitS(ms: number): number {
  return ms / 1000 + 15;
}

/** pkt-gen in `ns` on netmap:dev: 60-byte UDP frames over 1000 source ports. */
function sender(ns: string, dev: string, srcMac: string, dstMac: string, src: string, dst: string, totalMs: number): Proc {
  const [lo, hi] = FLOWS.split('-');
  return spawnInNs(ns, cmd.nmts(['pkt-gen', '-i', `netmap:${dev}`, '-f', 'tx', '-w', '0', '-l', '60', '-S', srcMac, '-D', dstMac,
    '-s', `${src}:${lo}-${src}:${hi}`, '-d', dst]), { limitS: limitS(totalMs), label: 'nmts pkt-gen tx' });
}

interface Counted { ns: string; dev: string }

/** Run the sender until `dev` counts frames, then measure a window; the forwarder (if a process) must stay up. */
async function measure(count: Counted, send: Proc, forwarder: Proc | null, t0: number, warmupMs: number, durationMs: number, what: string): Promise<CaseResult> {
  try {
    const w = await window(count.ns, count.dev, forwarder ? [send, forwarder] : [send], t0, warmupMs, durationMs);
    const got = delta(w.s0, w.s1, count.dev).rxPackets;
    return { packets: got, bytes: got * 60, seconds: w.seconds, notes: `${what}; counted as rx_packets of ${count.dev}`, extra: { startupMs: Math.round(w.startupMs) } };
  } finally {
    await send.stop(300);
  }
}

// ------------------------------------------------------------------- firewall

/** The firewall rows' 100 rules for nftables: the same verdicts as firewallRules().ours. */
export function nftRuleset(table: string): string {
  const { deniedTcpPorts } = firewallRules();
  return [
    `table inet ${table} {`,
    '  chain forward {',
    '    type filter hook forward priority 0; policy drop;',
    '    ct mark 1 accept', // a flow allowed before: our connection table's "established"
    ...deniedTcpPorts.map((p) => `    tcp dport ${p} drop`),
    '    meta l4proto udp ct mark set 1 accept', // `allow udp`, entering the flow
    '  }',
    '}',
    '',
  ].join('\n');
}

interface FwTopo { c: string; f: string; s: string }

function fwTopology(): FwTopo {
  const p = `vnfb${process.pid}`;
  const t = { c: `${p}c`, f: `${p}f`, s: `${p}s` };
  for (const ns of Object.values(t)) addNs(ns);
  veth(t.c, 'vnfbB', MAC.B, t.f, 'vnfbA', MAC.A);
  veth(t.f, 'vnfbC', MAC.C, t.s, 'vnfbD', MAC.D);
  offloadsOff(t.f, 'vnfbA');
  offloadsOff(t.f, 'vnfbC');
  sh(['ip', '-n', t.c, 'addr', 'add', '10.9.1.2/24', 'dev', 'vnfbB']);
  sh(['ip', '-n', t.f, 'addr', 'add', '10.9.1.1/24', 'dev', 'vnfbA']);
  sh(['ip', '-n', t.f, 'addr', 'add', '10.9.2.1/24', 'dev', 'vnfbC']);
  sh(['ip', '-n', t.s, 'addr', 'add', '10.9.2.2/24', 'dev', 'vnfbD']);
  sh(['ip', '-n', t.f, 'neigh', 'replace', '10.9.2.2', 'lladdr', MAC.D, 'dev', 'vnfbC', 'nud', 'permanent']);
  sink(t.s);
  return t;
}

export async function firewallVeth(durationMs: number, opts: RunOptions | undefined, kernel: boolean): Promise<CaseResult> {
  needRoot();
  const warm = opts?.warmupMs ?? DEFAULT_WARMUP_MS, total = warm + durationMs;
  const t0 = performance.now();
  const t = fwTopology();
  const dir = mkdtempSync(join(tmpdir(), 'nmts-vnfb-'));
  let fw: Proc | null = null;
  try {
    if (kernel) {
      inNs(t.f, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      inNs(t.f, ['nft', '-f', '-'], nftRuleset('vnfbfw'));
    } else {
      const rules = join(dir, 'rules');
      writeFileSync(rules, firewallRules().ours);
      fw = spawnInNs(t.f, cmd.nmts(['vnf', 'firewall', '-i', 'netmap:vnfbA', '-i', 'netmap:vnfbC', '--rules', rules]), { limitS: limitS(total), label: 'nmts vnf firewall' });
      await fw.waitFor(/firewall: /, warm + 6000);
    }
    const send = sender(t.c, 'vnfbB', MAC.B, MAC.A, '10.9.1.2', '10.9.2.2:9', total);
    const what = kernel
      ? 'Linux forwarding 10.9.1.0/24 -> 10.9.2.0/24 with nftables (inet forward hook, 100 rules, conntrack: a flow allowed once is marked and skips the rules), 1000 flows'
      : 'nmts vnf firewall (one thread, AF_XDP both sides, 100 rules, connection table), 1000 flows';
    const r = await measure({ ns: t.s, dev: 'vnfbD' }, send, fw, t0, warm, durationMs, what);
    if (fw && !fw.running) throw new Error(`the firewall ended: ${fw.lastWords()}`);
    return r;
  } finally {
    if (fw) await fw.stop(800);
    for (const ns of Object.values(t)) delNs(ns);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ----------------------------------------------------------------------- l4lb

interface LbTopo { c: string; l: string; w: string; k: string }

function lbTopology(): LbTopo {
  const p = `vnfb${process.pid}`;
  const t = { c: `${p}c`, l: `${p}l`, w: `${p}w`, k: `${p}k` };
  for (const ns of Object.values(t)) addNs(ns);
  sh(['ip', '-n', t.w, 'link', 'add', 'vnfbbr', 'type', 'bridge']);
  sh(['ip', '-n', t.w, 'link', 'set', 'vnfbbr', 'up']);
  veth(t.c, 'vnfbQ', MAC.Q, t.w, 'vnfbP', '02:76:6e:66:00:1f');
  veth(t.l, 'vnfbL', MAC.L, t.w, 'vnfbM', '02:76:6e:66:00:1b');
  veth(t.k, 'vnfbO', MAC.O, t.w, 'vnfbN', '02:76:6e:66:00:1d');
  for (const d of ['vnfbP', 'vnfbM', 'vnfbN']) sh(['ip', '-n', t.w, 'link', 'set', d, 'master', 'vnfbbr']);
  offloadsOff(t.l, 'vnfbL');
  sh(['ip', '-n', t.l, 'addr', 'add', '10.9.3.1/24', 'dev', 'vnfbL']);
  for (const b of ['10.9.3.11/24', '10.9.3.12/24']) sh(['ip', '-n', t.k, 'addr', 'add', b, 'dev', 'vnfbO']);
  sink(t.k);
  return t;
}

export type LbKind = 'ours' | 'ipvs' | 'nft';

function ipvs(ns: string): void {
  // (ipvsadm --version itself fails on a kernel without IPVS: look for the program instead)
  if (!['/usr/sbin', '/sbin', '/usr/bin', '/bin', ...(process.env.PATH ?? '').split(':')].some((d) => d && existsSync(join(d, 'ipvsadm')))) {
    throw new PeerMissing('ipvsadm not installed (apt-get install ipvsadm)');
  }
  try {
    inNs(ns, ['ipvsadm', '-A', '-u', '10.9.3.100:9', '-s', 'sh']);
  } catch (e) {
    const lines = String((e as { stderr?: string }).stderr ?? e).trim().split('\n');
    const why = lines.find((l) => /initialize|not available|not supported/i.test(l)) ?? lines[0];
    throw new PeerMissing(`IPVS not available in this kernel (CONFIG_IP_VS): ${why}`);
  }
  for (const b of ['10.9.3.11', '10.9.3.12']) inNs(ns, ['ipvsadm', '-a', '-u', '10.9.3.100:9', '-r', `${b}:9`, '-m']);
}

/** nftables' load balancer: DNAT to a backend picked by a hash of the flow (the kernel row always there). */
function nftNat(ns: string): void {
  inNs(ns, ['nft', '-f', '-'], [
    'table ip vnfblb {',
    '  chain pre {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    '    ip daddr 10.9.3.100 udp dport 9 dnat to jhash ip saddr . udp sport mod 2 map { 0 : 10.9.3.11, 1 : 10.9.3.12 }',
    '  }',
    '}',
    '',
  ].join('\n'));
}

export async function l4lbVeth(durationMs: number, opts: RunOptions | undefined, kind: LbKind): Promise<CaseResult> {
  needRoot();
  const warm = opts?.warmupMs ?? DEFAULT_WARMUP_MS, total = warm + durationMs;
  const t0 = performance.now();
  const t = lbTopology();
  let lb: Proc | null = null;
  try {
    if (kind === 'ours') {
      lb = spawnInNs(t.l, cmd.nmts(['vnf', 'l4lb', '-i', 'netmap:vnfbL', '--ip', '10.9.3.1/24', '--vip', '10.9.3.100:9',
        '--backend', '10.9.3.11', '--backend', '10.9.3.12', '--mode', 'nat']), { limitS: limitS(total), label: 'nmts vnf l4lb' });
      await lb.waitFor(/l4lb: .*VIP/, warm + 6000);
    } else {
      // one-armed NAT: the VIP is local, the backends on the same link; no ICMP redirects
      inNs(t.l, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      for (const d of ['all', 'default', 'vnfbL']) inNs(t.l, ['sysctl', '-qw', `net.ipv4.conf.${d}.send_redirects=0`]);
      sh(['ip', '-n', t.l, 'addr', 'add', '10.9.3.100/32', 'dev', 'vnfbL']);
      for (const [ip, ] of [['10.9.3.11'], ['10.9.3.12']]) sh(['ip', '-n', t.l, 'neigh', 'replace', ip!, 'lladdr', MAC.O, 'dev', 'vnfbL', 'nud', 'permanent']);
      if (kind === 'ipvs') ipvs(t.l);
      else nftNat(t.l);
      // a frame from vnfbL teaches the bridge its MAC (the VNF's gratuitous ARP does it for ours),
      // so the sender's frames are not flooded to the backends before the first one is forwarded
      try { inNs(t.l, ['ping', '-c', '1', '-W', '0.2', '10.9.3.11']); } catch { /* no answer: the backends drop everything */ }
    }
    const send = sender(t.c, 'vnfbQ', MAC.Q, MAC.L, '10.9.3.2', '10.9.3.100:9', total);
    const what = kind === 'ours'
      ? 'nmts vnf l4lb --mode nat (one thread, AF_XDP), 2 backends, 1000 flows through a Linux bridge'
      : kind === 'ipvs'
        ? 'IPVS NAT (ipvsadm -s sh -m, one-armed), 2 backends, 1000 flows through a Linux bridge'
        : 'nftables DNAT to jhash(saddr . sport) mod 2, one-armed, 2 backends, 1000 flows through a Linux bridge';
    return await measure({ ns: t.k, dev: 'vnfbO' }, send, lb, t0, warm, durationMs, what);
  } finally {
    if (lb) await lb.stop(800);
    for (const ns of Object.values(t)) delNs(ns);
  }
}
