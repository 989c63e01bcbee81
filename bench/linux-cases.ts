// `npm run bench -- --linux`: netmap-ts on Linux interfaces beside the tools people use there, in
// one run, on veth pairs inside a network namespace of its own (bench/linux-ns.ts):
//
//   transmit   60-byte frames out of nmtsbA, counted on its peer nmtsbB: tcpreplay, trafgen,
//              DPDK's AF_XDP driver, frames generated inside XDP (the limit), our pkt-gen
//   receive    tcpreplay into nmtsbB, receivers on nmtsbA: tcpdump, the npm packages cap and
//              pcap, DPDK, our pkt-gen and capture
//   forward    nmtsbB -> nmtsbA -> forwarder -> nmtsbC -> counted on nmtsbD: the Linux bridge,
//              DPDK, our bridge, VALE
//   tcp        iperf3 between two host namespaces through VALE and through nmts bridge, with
//              the hosts' offloads as Linux sets them and off, each beside the Linux bridge on
//              the same hosts in the same case, interleaved (bench/linux-tcp.ts)
//
// Peers run first in each section; each of our rows is then compared with the best peer of its
// section (transmit: max(tcpreplay, trafgen)) and with DPDK: `vsBestPeer` and `vsDpdk` in the
// --json line and the table. A peer that is not installed gives a row that says what to install.
// prepareLinux() must run before the first case: it checks the peers, installs cap and pcap into
// a temporary prefix, creates the namespace and the files the peers replay.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerCase, DEFAULT_WARMUP_MS, type CaseResult } from './cases.js';
import { writePcap, writeTrafgenConf } from './linux-frames.js';
import { fwdDpdk, fwdKernelBridge, fwdNmtsBridge, fwdVale } from './linux-fwd.js';
import type { LinuxCtx } from './linux-measure.js';
import { A, B, C, D, createTopology, removeStaleNamespaces } from './linux-ns.js';
import { checkAptPeers, peerStatus, prepareNpmPeers } from './linux-peers.js';
import { rxDpdk, rxNmtsCapture, rxNmtsPktGen, rxNpm, rxTcpdump, type RxSender } from './linux-rx.js';
import { tcpRow } from './linux-tcp.js';
import { txDpdk, txNmts, txNmtsReplay, txPeer, txXdp } from './linux-tx.js';

export { PeerMissing } from './linux-peers.js';

interface Prepared { ns: string; dir: string; pcap: string; trafgenConf: string }
let prepared: Prepared | null = null;

/** Share of CPU time (all cores) spent outside idle over `ms`: another benchmark running skews every row. */
async function busyShare(ms: number): Promise<number> {
  const read = (): number[] => readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  const d = b.map((x, i) => x - a[i]!);
  const total = d.reduce((x, y) => x + y, 0);
  const idle = d[3]! + (d[4] ?? 0); // idle + iowait
  return total > 0 ? 1 - idle / total : 0;
}

/** Check the peers, set up the namespace and the replay files. Progress goes to `log` (stderr). */
export async function prepareLinux(log: (s: string) => void): Promise<void> {
  if (prepared) return;
  if (process.getuid?.() !== 0) throw new Error('--linux needs root: it creates a network namespace, veth pairs and XDP programs');
  const stale = removeStaleNamespaces();
  if (stale.length) log(`bench: removed namespaces left by earlier runs: ${stale.join(', ')}\n`);
  checkAptPeers();
  await prepareNpmPeers(log);
  const dir = mkdtempSync(join(tmpdir(), 'nmtsb-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ns = createTopology();
  prepared = { ns, dir, pcap: writePcap(dir), trafgenConf: writeTrafgenConf(dir) };
  log(`bench: namespace ${ns}: ${A} <-> ${B}, ${C} <-> ${D} (deleted at exit)\n`);
  const peers = [...peerStatus()].map(([name, s]) => `  ${name.padEnd(9)} ${s.ok ? `ok (${s.path})` : s.why}`);
  log(`bench: peers:\n${peers.join('\n')}\n`);
  const busy = await busyShare(500);
  if (busy > 0.2) log(`bench: WARNING: ${(busy * 100).toFixed(0)} % of the CPU is busy before the first case: another benchmark? The figures will be low\n`);
}

// ------------------------------------------------------------------ cases

type Section = 'tx' | 'rx' | 'flood' | 'fwd' | 'tcp';

interface LinuxCase {
  name: string;
  description: string;
  section: Section;
  /** peers are compared against; ours are compared; the limit is the ceiling of its section */
  role: 'peer' | 'dpdk' | 'limit' | 'ours';
  run(ctx: LinuxCtx): Promise<CaseResult>;
  /** Frame length for the table (60 unless given). */
  frameLen?: number;
  /** Extra time beyond warm-up + duration (default 15 s). */
  slackMs?: number;
}

/** The peers each section's "vs best peer" takes the maximum of. */
const BEST_OF: Record<Section, string[]> = {
  tx: ['linux-tx-tcpreplay-60', 'linux-tx-trafgen-60'],
  rx: ['linux-rx-tcpdump-60', 'linux-rx-cap-60', 'linux-rx-pcap-60'],
  flood: ['linux-flood-tcpdump-60', 'linux-flood-cap-60', 'linux-flood-pcap-60'],
  fwd: ['linux-fwd-kbridge-60'],
  tcp: [], // each TCP row compares with the Linux bridge itself, in the same case
};
const DPDK: Record<Section, string> = { tx: 'linux-tx-dpdk-60', rx: 'linux-rx-dpdk-60', flood: 'linux-flood-dpdk-60', fwd: 'linux-fwd-dpdk-60', tcp: '' };
const LIMIT = 'linux-tx-xdp-limit-60';

const FLOOD: RxSender = { kind: 'flood', sink: false };
const FLOOD_SINK: RxSender = { kind: 'flood', sink: true };

const CASES: LinuxCase[] = [
  { name: 'linux-tx-tcpreplay-60', section: 'tx', role: 'peer', description: 'tcpreplay --topspeed -K -l 0 on nmtsbA, counted on nmtsbB', run: (c) => txPeer(c, 'tcpreplay') },
  { name: 'linux-tx-trafgen-60', section: 'tx', role: 'peer', description: 'trafgen --cpus 1 (qdisc bypass) on nmtsbA, counted on nmtsbB', run: (c) => txPeer(c, 'trafgen') },
  { name: 'linux-tx-dpdk-60', section: 'tx', role: 'dpdk', description: 'dpdk-testpmd txonly on net_af_xdp (nmtsbA), --no-huge, counted on nmtsbB', run: txDpdk },
  { name: 'linux-tx-xdp-limit-60', section: 'tx', role: 'limit', description: 'frames generated in XDP (BPF_PROG_TEST_RUN live frames, XDP_TX on nmtsbA), XDP_DROP on nmtsbB', run: (c) => txXdp(c, 'drop') },
  { name: 'linux-tx-xdp-stack-60', section: 'tx', role: 'limit', description: 'frames generated in XDP as above, XDP_PASS on nmtsbB (frames go up its stack)', run: (c) => txXdp(c, 'pass') },
  { name: 'linux-tx-nmts-60', section: 'tx', role: 'ours', description: 'nmts pkt-gen -i netmap:nmtsbA -f tx -l 60 (backend chosen by nmts)', run: (c) => txNmts(c, 'auto') },
  { name: 'linux-tx-nmts-xdp-60', section: 'tx', role: 'ours', description: 'the same with NMTS_BACKEND=xdp', run: (c) => txNmts(c, 'xdp') },
  { name: 'linux-tx-nmts-replay-60', section: 'tx', role: 'ours', description: 'nmts replay -i netmap:nmtsbA -t -K -l 0 (the pcap tcpreplay plays)', run: txNmtsReplay },
  { name: 'linux-tx-nmts-packet-60', section: 'tx', role: 'ours', description: 'the same with NMTS_BACKEND=packet', run: (c) => txNmts(c, 'packet') },

  { name: 'linux-rx-tcpdump-60', section: 'rx', role: 'peer', description: 'tcpdump -w /dev/null udp and dst port 4321 on nmtsbA, tcpreplay into nmtsbB', run: rxTcpdump },
  { name: 'linux-rx-cap-60', section: 'rx', role: 'peer', description: "npm 'cap' receiver on nmtsbA, tcpreplay into nmtsbB", run: (c) => rxNpm(c, 'cap') },
  { name: 'linux-rx-pcap-60', section: 'rx', role: 'peer', description: "npm 'pcap' receiver on nmtsbA, tcpreplay into nmtsbB", run: (c) => rxNpm(c, 'pcap') },
  { name: 'linux-rx-dpdk-60', section: 'rx', role: 'dpdk', description: 'dpdk-testpmd rxonly on net_af_xdp (nmtsbA), tcpreplay into nmtsbB', run: rxDpdk },
  { name: 'linux-rx-nmts-60', section: 'rx', role: 'ours', description: 'nmts pkt-gen -i netmap:nmtsbA -f rx, tcpreplay into nmtsbB', run: (c) => rxNmtsPktGen(c, 'auto') },
  { name: 'linux-rx-nmts-xdp-60', section: 'rx', role: 'ours', description: 'the same with NMTS_BACKEND=xdp', run: (c) => rxNmtsPktGen(c, 'xdp') },
  { name: 'linux-rx-nmts-packet-60', section: 'rx', role: 'ours', description: 'the same with NMTS_BACKEND=packet', run: (c) => rxNmtsPktGen(c, 'packet') },
  { name: 'linux-rx-nmts-capture-60', section: 'rx', role: 'ours', description: 'nmts capture -i netmap:nmtsbA -w /dev/null udp and dst port 4321, tcpreplay into nmtsbB', run: (c) => rxNmtsCapture(c, '/dev/null') },

  // receive under a flood generated in XDP from nmtsbB (several Mpps), beyond what tcpreplay offers
  { name: 'linux-flood-tcpdump-60', section: 'flood', role: 'peer', description: 'tcpdump -w /dev/null on nmtsbA (XDP_PASS on it), XDP flood from nmtsbB', run: (c) => rxTcpdump(c, FLOOD_SINK) },
  { name: 'linux-flood-cap-60', section: 'flood', role: 'peer', description: "npm 'cap' on nmtsbA (XDP_PASS on it), XDP flood from nmtsbB", run: (c) => rxNpm(c, 'cap', FLOOD_SINK) },
  { name: 'linux-flood-pcap-60', section: 'flood', role: 'peer', description: "npm 'pcap' on nmtsbA (XDP_PASS on it), XDP flood from nmtsbB", run: (c) => rxNpm(c, 'pcap', FLOOD_SINK) },
  { name: 'linux-flood-dpdk-60', section: 'flood', role: 'dpdk', description: 'dpdk-testpmd rxonly on net_af_xdp (nmtsbA), XDP flood from nmtsbB', run: (c) => rxDpdk(c, FLOOD) },
  { name: 'linux-flood-nmts-60', section: 'flood', role: 'ours', description: 'nmts pkt-gen -i netmap:nmtsbA -f rx (AF_XDP), XDP flood from nmtsbB', run: (c) => rxNmtsPktGen(c, 'xdp', FLOOD) },
  { name: 'linux-flood-nmts-capture-60', section: 'flood', role: 'ours', description: 'nmts capture -i netmap:nmtsbA -w /dev/null udp and dst port 4321 (AF_XDP), XDP flood from nmtsbB', run: (c) => rxNmtsCapture(c, '/dev/null', FLOOD) },
  { name: 'linux-flood-nmts-packet-60', section: 'flood', role: 'ours', description: 'the same with NMTS_BACKEND=packet (XDP_PASS on nmtsbA)', run: (c) => rxNmtsPktGen(c, 'packet', FLOOD_SINK) },

  { name: 'linux-fwd-kbridge-60', section: 'fwd', role: 'peer', description: 'Linux bridge nmtsbA <-> nmtsbC; sender on nmtsbB, counted on nmtsbD', run: fwdKernelBridge },
  { name: 'linux-fwd-dpdk-60', section: 'fwd', role: 'dpdk', description: 'dpdk-testpmd io between net_af_xdp nmtsbA and nmtsbC', run: fwdDpdk },
  { name: 'linux-fwd-nmts-bridge-60', section: 'fwd', role: 'ours', description: 'nmts bridge -i netmap:nmtsbA -i netmap:nmtsbC', run: fwdNmtsBridge },
  { name: 'linux-fwd-vale-pktgen-60', section: 'fwd', role: 'ours', description: 'the same VALE forwarding with nmts pkt-gen on both ends (tx on netmap:nmtsbB, rx on netmap:nmtsbD)', run: (c) => fwdVale(c, true) },
  { name: 'linux-fwd-vale-60', section: 'fwd', role: 'ours', description: 'nmts daemon, then nmts vale-ctl -a SW:nmtsbA -a SW:nmtsbC (VALE forwarding between the interfaces)', run: (c) => fwdVale(c) },

  // TCP between two hosts (iperf3), ours interleaved with the Linux bridge on the same hosts
  ...(['vale', 'bridge'] as const).flatMap((fwd) => (['default', 'off'] as const).map((off): LinuxCase => ({
    name: `linux-tcp-${fwd}-${off === 'default' ? 'offloads' : 'nooffloads'}`, section: 'tcp', role: 'ours', frameLen: 1514, slackMs: 90_000,
    description: `iperf3 TCP between two host namespaces through ${fwd === 'vale' ? 'VALE (nmts daemon, vale-ctl -a of both veths)' : 'nmts bridge'}, offloads ${off === 'default' ? 'as Linux sets them (tx csum, TSO, GSO on)' : 'off (tx, tso, gso)'}; interleaved with the Linux bridge on the same hosts`,
    run: (c) => tcpRow(c, fwd, off),
  }))),
];

const NAMES = new Set(CASES.map((c) => c.name));

/** Is this one of the --linux cases (left out of the default run, the only ones with --linux)? */
export function isLinuxCase(name: string): boolean {
  return NAMES.has(name);
}

/** Mpps of the --linux rows run so far in this process. */
const mpps = new Map<string, number>();

function ratio(x: number, of: number | undefined): number | null {
  return of && of > 0 ? Number((x / of).toPrecision(3)) : null;
}

/** vs best peer / vs DPDK (and the share of the XDP limit, for transmit) of one of our rows. */
function compare(c: LinuxCase, rate: number): Record<string, number | string | null> {
  const peers = BEST_OF[c.section].filter((n) => mpps.has(n));
  const best = peers.sort((x, y) => mpps.get(y)! - mpps.get(x)!)[0];
  return {
    vsBestPeer: best ? ratio(rate, mpps.get(best)) : null,
    bestPeer: best ?? null,
    vsDpdk: ratio(rate, mpps.get(DPDK[c.section])),
    ...(c.section === 'tx' ? { vsXdpLimit: ratio(rate, mpps.get(LIMIT)) } : {}),
  };
}

for (const c of CASES) {
  registerCase({
    name: c.name,
    description: c.description,
    frameLen: c.frameLen ?? 60,
    kind: 'other',
    slackMs: c.slackMs ?? 15_000, // peers start slowly (testpmd without hugepages) and stop with a grace period
    async run(durationMs, opts) {
      if (!prepared) throw new Error('--linux cases need prepareLinux() first (run them with --linux)');
      const r = await c.run({ ...prepared, durationMs, warmupMs: opts?.warmupMs ?? DEFAULT_WARMUP_MS });
      const rate = r.packets / r.seconds / 1e6;
      mpps.set(c.name, rate);
      const extra = { ...r.extra, section: c.section, role: c.role, ...(c.role === 'ours' && c.section !== 'tcp' ? compare(c, rate) : {}) };
      return { ...r, extra };
    },
  });
}
