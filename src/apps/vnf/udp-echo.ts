// udp-echo: the VNF manual's sample server. A user-space host (src/host) on a port answers ARP
// and ping and echoes every UDP datagram sent to its port back to the sender, in batches: a
// poll() takes up to `batch` frames, each datagram is replied into a tx slot (headers written,
// payload copied once, the request's checksum reused), one txsync pushes the batch.
//
// One thread reads the port itself, or with `workers` the distribution (distribute.ts) spreads
// the port's frames over worker threads, each running this echo on a pipe end.
import { Host, type HostOptions } from '../../host/host.js';
import type { HostStats } from '../../host/stats.js';
import { distribute, workerMac, type DistResult, type DistWorkerStats, type Layout } from './distribute.js';

export interface UdpEchoOptions {
  port: string;
  ip: string;
  udpPort?: number;
  mac?: string;
  gateway?: string;
  staticArp?: { ip: string; mac: string }[];
  batch?: number;
  busyWait?: boolean;
  /** Stop after this many seconds (0: until the signal). */
  durationSec?: number;
  signal?: AbortSignal;
  /** Called every statsMs with the counters (cumulative, summed over workers) and the seconds since the start. */
  onStats?: (s: HostStats, seconds: number, dist?: DistResult) => void;
  statsMs?: number;
  /** Called once the host is up (the port open, the gratuitous ARP sent). */
  onReady?: (h: Host) => void;
  /** Worker threads (distribute.ts): the port read by an I/O thread, each worker echoing on a pipe. */
  workers?: number;
  layout?: Layout;
  /** Called once the distribution is up (instead of onReady). */
  onDistReady?: (info: { mac: string; zerocopy: boolean; pipes: string[] }) => void;
}

export interface UdpEchoResult {
  seconds: number;
  /** datagrams received on the port */
  received: number;
  /** datagrams echoed */
  echoed: number;
  stats: HostStats;
  /** With workers: the layout, each worker's counters and the I/O stage's (distribute.ts). */
  layout?: Layout;
  workers?: DistWorkerStats[];
  distribution?: DistResult['distribution'];
}

async function distributed(o: UdpEchoOptions): Promise<UdpEchoResult> {
  const mac = workerMac(o.port, o.ip, o.mac);
  const total = (d: DistResult): { received: number; echoed: number; stats: HostStats } => d.total as { received: number; echoed: number; stats: HostStats };
  const d = await distribute({
    vnf: { kind: 'udp-echo', ip: o.ip, udpPort: o.udpPort ?? 7, mac, gateway: o.gateway, staticArp: o.staticArp ?? [], batch: o.batch ?? 512 },
    ports: [o.port], workers: o.workers!, layout: o.layout ?? 'n-1', batch: o.batch, busyWait: o.busyWait,
    durationSec: o.durationSec, signal: o.signal, statsMs: o.statsMs,
    onStats: o.onStats ? (r) => o.onStats!(total(r).stats, r.seconds, r) : undefined,
    onReady: (info) => o.onDistReady?.({ mac, ...info }),
  });
  const t = total(d);
  return { seconds: d.seconds, received: t.received ?? 0, echoed: t.echoed ?? 0, stats: t.stats, layout: d.layout, workers: d.perWorker, distribution: d.distribution };
}

/** Run the echo server until the signal aborts (or durationSec). */
export async function udpEcho(o: UdpEchoOptions): Promise<UdpEchoResult> {
  if (o.workers !== undefined) return distributed(o);
  const hostOpts: HostOptions = {
    port: o.port, ip: o.ip, mac: o.mac, gateway: o.gateway, batch: o.batch ?? 512,
    arp: { static: o.staticArp ?? [] }, openOptions: { busyWait: o.busyWait ?? false },
  };
  const h = new Host(hostOpts);
  try {
    const ep = h.udp(o.udpPort ?? 7);
    o.onReady?.(h);
    const t0 = performance.now();
    const end = o.durationSec ? t0 + o.durationSec * 1000 : Infinity;
    const statsMs = o.statsMs ?? 1000;
    let nextStats = o.onStats ? t0 + statsMs : Infinity, rounds = 0, echoed = 0;
    while (!o.signal?.aborted) {
      const n = h.poll(0);
      const got = ep.recv();
      for (let i = 0; i < got; i++) if (ep.reply(i)) echoed++;
      h.flush();
      const now = h.now;
      if (now >= end) break;
      if (now >= nextStats) { nextStats += statsMs; o.onStats!(h.stats(), (now - t0) / 1000); }
      if (n === 0) await h.wait(Math.max(1, Math.min(100, end - now, nextStats - now)));
      else if (++rounds % 256 === 0) await new Promise((r) => setImmediate(r)); // let signals and timers in
    }
    const s = h.stats();
    return { seconds: (performance.now() - t0) / 1000, received: s.udpIn, echoed, stats: s };
  } finally {
    h.close();
  }
}
