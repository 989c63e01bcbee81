// udp-client: the VNF manual's sample client, on the user-space host. It resolves the server's
// MAC by ARP (or a gateway's), then sends datagrams of `size` bytes from `flows` source ports
// (10000, 10001, ...) at `rate` per second (0: as fast as the tx ring takes them), each carrying
// a magic word, a sequence number and its send time; every echo that comes back is matched by
// its magic and its time gives the round trip, filed in a log2 histogram of microseconds.
// Datagrams are written in place (UdpEndpoint.begin/end): no copy, no object per datagram.
import { Host } from '../../host/host.js';
import type { HostStats } from '../../host/stats.js';
import type { UdpEndpoint } from '../../host/udp.js';
import { parseIPv4 } from '../../packet/addr.js';

export const CLIENT_MAGIC = 0x4e4d5545; // "NMUE"
/** Histogram buckets: [0,1) µs, [1,2), [2,4), ... [2^(B-2), inf). */
export const LAT_BUCKETS = 24;
export const FIRST_SPORT = 10000;

export interface UdpClientOptions {
  port: string;
  ip: string;
  server: string;
  serverPort?: number;
  rate?: number;
  size?: number;
  flows?: number;
  count?: number;
  durationSec?: number;
  mac?: string;
  gateway?: string;
  staticArp?: { ip: string; mac: string }[];
  batch?: number;
  busyWait?: boolean;
  signal?: AbortSignal;
  onStats?: (r: UdpClientResult) => void;
  statsMs?: number;
  /** How long to wait for echoes after the last send (default 200 ms). */
  drainMs?: number;
}

export interface UdpClientResult {
  seconds: number;
  sent: number;
  received: number;
  /** sent - received (in flight or lost) */
  lost: number;
  /** send attempts refused by the host (no tx slot): counted in stats.txFull */
  sendFailures: number;
  /** microseconds: min, mean, max and the upper bound of the bucket holding p50 / p99 */
  latencyUs: { min: number; mean: number; max: number; p50: number; p99: number };
  /** counts per bucket: bucket 0 is < 1 µs, bucket k >= 1 is [2^(k-1), 2^k) µs, the last open-ended */
  histogram: number[];
  stats: HostStats;
}

export class UdpClientError extends Error {
  override name = 'UdpClientError';
}

/** Bucket upper bound in µs. */
export function bucketLimit(k: number): number {
  return k === 0 ? 1 : 2 ** k;
}

export async function udpClient(o: UdpClientOptions): Promise<UdpClientResult> {
  const size = o.size ?? 64, flows = o.flows ?? 1, rate = o.rate ?? 0, batch = o.batch ?? 256;
  if (size < 16) throw new RangeError('size: at least 16 bytes (magic, sequence, send time)');
  const h = new Host({ port: o.port, ip: o.ip, mac: o.mac, gateway: o.gateway, batch: 512, arp: { static: o.staticArp ?? [] }, openOptions: { busyWait: o.busyWait ?? false } });
  try {
    const server = parseIPv4(o.server), sport = o.serverPort ?? 7;
    const eps: UdpEndpoint[] = [];
    for (let f = 0; f < flows; f++) eps.push(h.udp(FIRST_SPORT + f));
    if (!(await h.resolve(server, 3000, o.signal))) {
      throw new UdpClientError(`no ARP answer from ${o.server}${h.onLink(server) ? '' : ` (gateway ${o.gateway ?? 'none'})`} within 3 s`);
    }
    const u8 = h.u8;
    const hist = new Float64Array(LAT_BUCKETS);
    const f64 = new Float64Array(1), f64b = new Uint8Array(f64.buffer);
    let sent = 0, received = 0, failures = 0, latSum = 0, latMin = Infinity, latMax = 0;
    const t0 = performance.now();
    const end = o.durationSec ? t0 + o.durationSec * 1000 : Infinity;
    const count = o.count ?? 0;
    const statsMs = o.statsMs ?? 1000;
    let nextStats = t0 + statsMs, flow = 0, rounds = 0, lastSend = t0;

    const result = (): UdpClientResult => {
      let acc = 0, p50 = 0, p99 = 0;
      for (let k = 0; k < LAT_BUCKETS; k++) {
        acc += hist[k]!;
        if (!p50 && acc >= received * 0.5) p50 = bucketLimit(k);
        if (!p99 && acc >= received * 0.99) p99 = bucketLimit(k);
      }
      return {
        seconds: (performance.now() - t0) / 1000, sent, received, lost: sent - received, sendFailures: failures,
        latencyUs: { min: received ? latMin : 0, mean: received ? latSum / received : 0, max: latMax, p50: received ? p50 : 0, p99: received ? p99 : 0 },
        histogram: Array.from(hist), stats: h.stats(),
      };
    };
    const collect = (): void => {
      const now = performance.now();
      for (let f = 0; f < flows; f++) {
        const ep = eps[f]!;
        const n = ep.recv();
        for (let i = 0; i < n; i++) {
          const p = ep.off[i]!;
          if (ep.len[i]! < 16 || ((u8[p]! << 24) | (u8[p + 1]! << 16) | (u8[p + 2]! << 8) | u8[p + 3]!) >>> 0 !== CLIENT_MAGIC) continue;
          for (let k = 0; k < 8; k++) f64b[k] = u8[p + 8 + k]!;
          const us = (now - f64[0]!) * 1000;
          if (!(us >= 0 && us < 1e9)) continue; // not one of ours (the time is checked like any input)
          received++;
          latSum += us;
          if (us < latMin) latMin = us;
          if (us > latMax) latMax = us;
          const k = us < 1 ? 0 : Math.min(LAT_BUCKETS - 1, 1 + Math.floor(Math.log2(us)));
          hist[k]++;
        }
      }
    };

    while (!o.signal?.aborted) {
      const now = performance.now();
      if (now >= end || (count && sent >= count)) break;
      // how many the schedule allows now (a stalled sender resumes at the rate, no catch-up burst)
      let want = batch;
      if (rate > 0) {
        if (lastSend < now - 10) lastSend = now - 10; // at most 10 ms of catch-up
        want = Math.min(batch, Math.floor((now - lastSend) * rate / 1000));
      }
      if (count) want = Math.min(want, count - sent);
      if (want > 0) want = Math.min(want, h.txRoom()); // a full ring is back-pressure, not a drop
      let k = 0;
      for (; k < want; k++) {
        const ep = eps[flow]!;
        const p = ep.begin(server, sport, size);
        if (p < 0) { failures++; break; }
        u8[p] = CLIENT_MAGIC >>> 24; u8[p + 1] = CLIENT_MAGIC >>> 16; u8[p + 2] = CLIENT_MAGIC >>> 8; u8[p + 3] = CLIENT_MAGIC;
        u8[p + 4] = sent >>> 24; u8[p + 5] = sent >>> 16; u8[p + 6] = sent >>> 8; u8[p + 7] = sent;
        f64[0] = performance.now();
        for (let b = 0; b < 8; b++) u8[p + 8 + b] = f64b[b]!;
        u8.fill(0x61, p + 16, p + size);
        ep.end();
        sent++;
        if (++flow === flows) flow = 0;
      }
      if (rate > 0) lastSend += k * 1000 / rate;
      const n = h.poll(0); // flushes what was written, takes echoes
      collect();
      if (o.onStats && now >= nextStats) { nextStats += statsMs; o.onStats(result()); }
      if (n === 0 && k === 0) await h.wait(1);
      else if (++rounds % 64 === 0) await new Promise((r) => setImmediate(r));
    }
    // the echoes still on their way
    const drainEnd = performance.now() + (o.drainMs ?? 200);
    while (received < sent && performance.now() < drainEnd) {
      if (h.poll(0) === 0) await h.wait(5);
      collect();
    }
    return result();
  } finally {
    h.close();
  }
}
