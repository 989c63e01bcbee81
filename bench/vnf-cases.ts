// `npm run bench -- --vnf`: the network functions (docs/vnf.md) against issue 15's targets, in
// one run. Registration order is run order, each kernel or socket row before the row compared
// with it:
//
//   vnf-echo-linux-lo-64    C echo server on a UDP socket (recvmmsg/sendmmsg) over loopback
//   vnf-echo-vale-64        nmts vnf udp-echo on VALE, a pkt-gen style client; >= 5 Mpps, >= 10x Linux
//   vnf-echo-n1-vale-64     the same with --layout n-1 --workers 1; >= 0.6x the row above
//   vnf-fw-vale-60          nmts vnf firewall, 100 rules + connection table, VALE -> VALE; >= 5 Mpps
//   vnf-fw-veth-nft-60      Linux forwarding with nftables, the same rules (root)
//   vnf-fw-veth-60          our firewall on the same veths; >= 1x nftables
//   vnf-l4lb-veth-ipvs-60   IPVS NAT (root; skipped on a kernel without IPVS)
//   vnf-l4lb-veth-nft-60    nftables DNAT by a flow hash (root)
//   vnf-l4lb-veth-60        nmts vnf l4lb NAT on the same topology; >= 1x IPVS (and vs nftables)
//
// Each row's --json line carries `vs` (the row compared with), `ratio`, `target` and `meets`;
// rows whose tool or privilege is missing are skipped with a note (PeerMissing).
import { registerCase, type BenchCase, type CaseResult, type RunOptions } from './cases.js';
import { echoLinuxLoopback } from './vnf-linux-echo.js';
import { echoVale, firewallVale } from './vnf-vale.js';
import { firewallVeth, l4lbVeth } from './vnf-veth.js';

interface Target {
  /** compared with this row's Mpps (else an absolute Mpps target) */
  vs?: string;
  /** ratio (with vs) or Mpps (without) to reach */
  min: number;
  /** a second comparison shown beside the first (no target) */
  also?: string;
}

interface VnfRow {
  name: string;
  description: string;
  frameLen: number;
  run(durationMs: number, opts?: RunOptions): Promise<CaseResult>;
  target?: Target;
  processStarts?: number;
  slackMs?: number;
}

const ROWS: VnfRow[] = [
  { name: 'vnf-echo-linux-lo-64', frameLen: 64, description: 'Linux: a C UDP echo server on sockets (recvmmsg/sendmmsg, one thread) over loopback, flooded by a C client', run: echoLinuxLoopback, slackMs: 5000 },
  { name: 'vnf-echo-vale-64', frameLen: 64, description: 'nmts vnf udp-echo (one thread) on VALE; a pkt-gen style client sends 64-byte UDP, counts the answers', run: (ms, o) => echoVale(ms, o, false), target: { vs: 'vnf-echo-linux-lo-64', min: 10 }, processStarts: 1, slackMs: 5000 },
  { name: 'vnf-echo-n1-vale-64', frameLen: 64, description: 'the same with --layout n-1 --workers 1: an I/O thread spreads into a zero-copy pipe, one worker echoes (the cost of distribution)', run: (ms, o) => echoVale(ms, o, true), target: { vs: 'vnf-echo-vale-64', min: 0.6 }, processStarts: 1, slackMs: 5000 },
  { name: 'vnf-fw-vale-60', frameLen: 60, description: 'nmts vnf firewall, 100 rules + connection table, 60-byte UDP over 1000 flows VALE -> VALE', run: firewallVale, target: { min: 5 }, processStarts: 1, slackMs: 5000 },
  { name: 'vnf-fw-veth-nft-60', frameLen: 60, description: 'Linux forwarding between veths in namespaces, nftables with the same 100 rules and conntrack (root)', run: (ms, o) => firewallVeth(ms, o, true), slackMs: 15_000 },
  { name: 'vnf-fw-veth-60', frameLen: 60, description: 'nmts vnf firewall on the same veths (AF_XDP), same rules and traffic (root)', run: (ms, o) => firewallVeth(ms, o, false), target: { vs: 'vnf-fw-veth-nft-60', min: 1 }, slackMs: 15_000 },
  { name: 'vnf-l4lb-veth-ipvs-60', frameLen: 60, description: 'IPVS NAT (ipvsadm), one-armed, 2 backends, UDP over 1000 flows on veths and a bridge (root)', run: (ms, o) => l4lbVeth(ms, o, 'ipvs'), slackMs: 15_000 },
  { name: 'vnf-l4lb-veth-nft-60', frameLen: 60, description: 'nftables DNAT to a jhash map, same topology and traffic (root)', run: (ms, o) => l4lbVeth(ms, o, 'nft'), slackMs: 15_000 },
  { name: 'vnf-l4lb-veth-60', frameLen: 60, description: 'nmts vnf l4lb --mode nat (AF_XDP), same topology and traffic (root)', run: (ms, o) => l4lbVeth(ms, o, 'ours'), target: { vs: 'vnf-l4lb-veth-ipvs-60', min: 1, also: 'vnf-l4lb-veth-nft-60' }, slackMs: 15_000 },
];

const NAMES = new Set(ROWS.map((r) => r.name));

/** Is this one of the --vnf rows (left out of the default run, the only ones with --vnf)? */
export function isVnfCase(name: string): boolean {
  return NAMES.has(name);
}

/** Mpps of the --vnf rows run so far in this process. */
const mpps = new Map<string, number>();

const r3 = (x: number): number => Number(x.toPrecision(3));

function compare(t: Target, rate: number): Record<string, number | string | boolean | null> {
  if (!t.vs) return { vs: null, ratio: null, target: `>= ${t.min} Mpps`, meets: rate >= t.min };
  const base = mpps.get(t.vs);
  const ratio = base ? r3(rate / base) : null;
  const also = t.also ? mpps.get(t.also) : undefined;
  return {
    vs: t.vs, ratio, target: `>= ${t.min}x`, meets: ratio === null ? null : ratio >= t.min,
    ...(t.also ? { vsAlso: t.also, ratioAlso: also ? r3(rate / also) : null } : {}),
  };
}

for (const row of ROWS) {
  const c: BenchCase = {
    name: row.name, description: row.description, frameLen: row.frameLen, kind: 'vnf',
    processStarts: row.processStarts, slackMs: row.slackMs,
    async run(durationMs, opts) {
      const r = await row.run(durationMs, opts);
      const rate = r.packets / r.seconds / 1e6;
      mpps.set(row.name, rate);
      return { ...r, extra: { ...r.extra, ...(row.target ? compare(row.target, rate) : {}) } };
    },
  };
  registerCase(c);
}
