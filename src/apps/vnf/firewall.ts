// `nmts vnf firewall`: a stateful firewall between two ports (a bump in the wire: no address of
// its own). Frames move both ways with the bridge's machinery (apps/common/port-forward.ts:
// buffer swaps when both ports share a memory region, copies otherwise); each direction's
// per-frame verdict is the FirewallEngine's (fw-engine.ts: rules in the tcpdump filter
// language, a connection table), so a refused frame is simply not moved, and counted.
//
// Offloads: when both ports are Linux interfaces, they are opened offload-aware (as the bridge
// and vale-ctl -a open theirs): an interface with TSO/GSO/tx-checksumming on gets AF_PACKET with
// a virtio-net header, so the hosts' super-frames (NS_MOREFRAG chains) and partial checksums
// cross whole; the rules see the headers in the first slot, behind the virtio-net header. If
// the two ports end up with different header lengths they are opened again without (AF_XDP
// where possible: then the hosts must turn those offloads off).
//
// One thread reads both ports, or with `workers` the distribution (distribute.ts) spreads both
// ports' frames over worker threads by a symmetric hash: a flow's two directions meet on one
// worker, so each worker owns its own connection table. Under distribution the ports are
// opened without virtio-net headers (the pipes carry none): the hosts' offloads must be off.
import { readFileSync } from 'node:fs';
import { POLLIN, POLLOUT } from '../../core/constants.js';
import { pollPorts } from '../../core/poll.js';
import type { Port } from '../../core/port.js';
import { open } from '../../port-kinds.js';
import { parsePortSpec } from '../../core/portspec.js';
import type { InterfaceOpenOptions } from '../../ports/netif/kernel-port.js';
import { Direction, rxPending } from '../common/port-forward.js';
import { FirewallEngine, type FirewallStats } from './fw-engine.js';
import { parseRules, type Rule } from './fw-rules.js';
import type { ConntrackTimeouts } from './conntrack.js';
import { distribute, type DistResult, type DistWorkerStats, type Layout } from './distribute.js';

export interface FirewallOptions {
  a: string;
  b: string;
  /** The rules file's path, or its text with `rulesText`. */
  rulesFile?: string;
  rulesText?: string;
  defaultAllow?: boolean;
  /** Connection table limit (65536). */
  conntrackLimit?: number;
  timeouts?: Partial<ConntrackTimeouts>;
  burst?: number;
  /** Copy even when the ports share a region. */
  copy?: boolean;
  busyWait?: boolean;
  durationSec?: number;
  signal?: AbortSignal;
  statsMs?: number;
  onStats?: (r: FirewallResult) => void;
  onReady?: (info: { a: Port; b: Port; zerocopy: boolean; rules: Rule[] }) => void;
  /** Worker threads (distribute.ts): the ports read by I/O threads, each worker filtering on pipes. */
  workers?: number;
  layout?: Layout;
  /** Called once the distribution is up (instead of onReady). */
  onDistReady?: (info: { zerocopy: boolean; pipes: string[]; rules: Rule[] }) => void;
}

export interface FirewallResult {
  seconds: number;
  zerocopy: boolean;
  /** frames moved a -> b and b -> a, and their bytes */
  aToB: number;
  bToA: number;
  bytesAToB: number;
  bytesBToA: number;
  /** frames a destination could not take (too long for it) */
  tooLong: number;
  firewall: FirewallStats;
  /** With workers: the layout, each worker's counters and the I/O stage's (distribute.ts). */
  layout?: Layout;
  workers?: DistWorkerStats[];
  distribution?: DistResult['distribution'];
}

async function distributed(o: FirewallOptions, rules: Rule[]): Promise<FirewallResult> {
  const rulesText = o.rulesText ?? (o.rulesFile !== undefined ? readFileSync(o.rulesFile, 'utf8') : '');
  const shape = (d: DistResult): FirewallResult => {
    const t = d.total as unknown as FirewallResult;
    return {
      seconds: d.seconds, zerocopy: d.zerocopy, aToB: t.aToB ?? 0, bToA: t.bToA ?? 0, bytesAToB: t.bytesAToB ?? 0, bytesBToA: t.bytesBToA ?? 0,
      tooLong: (t.tooLong ?? 0) + d.distribution.tooLong, firewall: t.firewall, layout: d.layout, workers: d.perWorker, distribution: d.distribution,
    };
  };
  const d = await distribute({
    vnf: { kind: 'firewall', rulesText, rulesName: o.rulesFile ?? 'rules', defaultAllow: o.defaultAllow ?? false, conntrackLimit: o.conntrackLimit, timeouts: o.timeouts, burst: o.burst ?? 512 },
    ports: [o.a, o.b], out: [1, 0], workers: o.workers!, layout: o.layout ?? 'n-1', batch: o.burst, busyWait: o.busyWait, copy: o.copy,
    durationSec: o.durationSec, signal: o.signal, statsMs: o.statsMs,
    onStats: o.onStats ? (r) => o.onStats!(shape(r)) : undefined,
    onReady: (info) => o.onDistReady?.({ ...info, rules }),
  });
  return shape(d);
}

/** Rules from options (file or text). */
export function loadRules(o: Pick<FirewallOptions, 'rulesFile' | 'rulesText'>): Rule[] {
  if (o.rulesText !== undefined) return parseRules(o.rulesText, 'rules');
  if (o.rulesFile === undefined) return [];
  return parseRules(readFileSync(o.rulesFile, 'utf8'), o.rulesFile);
}

function openPair(a: string, b: string, opts: InterfaceOpenOptions): [Port, Port] {
  const pa = open(a, opts);
  try {
    return [pa, open(b, opts)];
  } catch (e) {
    pa.close();
    throw e;
  }
}

/** Run the firewall until the signal aborts (or durationSec). */
export async function firewall(o: FirewallOptions): Promise<FirewallResult> {
  const rules = loadRules(o);
  if (o.workers !== undefined) return distributed(o, rules);
  const eng = new FirewallEngine({ rules, defaultAllow: o.defaultAllow, limit: o.conntrackLimit, timeouts: o.timeouts });
  const burst = o.burst ?? 512;
  const iface = (n: string): boolean => {
    try { const s = parsePortSpec(n, { defaultPrefix: true }); return s.kind === 'netmap' && !s.pipe; } catch { return false; }
  };
  let [pa, pb] = openPair(o.a, o.b, { busyWait: o.busyWait ?? false, offloadAware: iface(o.a) && iface(o.b) });
  if (pa.vnetHdrLen !== pb.vnetHdrLen) {
    pb.close();
    pa.close();
    [pa, pb] = openPair(o.a, o.b, { busyWait: o.busyWait ?? false });
  }
  const zerocopy = !o.copy && pa.region === pb.region;
  const ab = new Direction(pa, pb, zerocopy), ba = new Direction(pb, pa, zerocopy);
  ab.filter = (u8, off, len, chained) => eng.check(u8, off, len, chained);
  ba.filter = ab.filter;
  const t0 = performance.now();
  const result = (): FirewallResult => ({
    seconds: (performance.now() - t0) / 1000, zerocopy,
    aToB: ab.packets, bToA: ba.packets, bytesAToB: ab.bytes, bytesBToA: ba.bytes, tooLong: ab.drops + ba.drops,
    firewall: eng.stats(),
  });
  const ports = [pa, pb];
  const evs = new Int32Array(2), rev = new Int32Array(2);
  const end = o.durationSec ? t0 + o.durationSec * 1000 : Infinity;
  const statsMs = o.statsMs ?? 1000;
  let nextStats = o.onStats ? t0 + statsMs : Infinity, nextSweep = t0 + 1000, rounds = 0;
  try {
    o.onReady?.({ a: pa, b: pb, zerocopy, rules });
    while (!o.signal?.aborted) {
      const aPending = rxPending(pa), bPending = rxPending(pb);
      evs[0] = (aPending ? 0 : POLLIN) | (bPending ? POLLOUT : 0);
      evs[1] = (bPending ? 0 : POLLIN) | (aPending ? POLLOUT : 0);
      const now0 = performance.now();
      const idle = pollPorts(ports, evs, rev, Math.max(0, Math.min(100, end - now0, nextStats - now0))) === 0;
      const now = performance.now();
      eng.now = now;
      ab.run(burst);
      ba.run(burst);
      if (now >= end) break;
      if (now >= nextSweep) { nextSweep = now + 1000; eng.ct.sweep(now); }
      if (now >= nextStats) { nextStats += statsMs; o.onStats!(result()); }
      if (idle || ++rounds % 256 === 0) await new Promise((r) => setImmediate(r)); // let signals in
    }
    return result();
  } finally {
    try {
      pa.txsync();
      pb.txsync();
    } finally {
      pb.close();
      pa.close();
    }
  }
}
