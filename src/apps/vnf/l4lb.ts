// `nmts vnf l4lb`: a layer-4 load balancer on one port. A user-space host (src/host) holds the
// balancer's own address and answers ARP and ping for it and for the virtual IP (an alias);
// TCP and UDP to VIP:PORT are spread over the backends by a Maglev table (maglev.ts) and a
// connection table (conntrack.ts: a flow stays on its backend while that backend is up, even
// when the table changes).
//
// Modes (IPVS's names):
//  - nat: the destination address is rewritten to the backend's, the frame sent to the
//    backend's MAC; the backends route their answers through the balancer (its address is
//    their gateway), whose source address is rewritten back to the VIP. IPv4 header and
//    TCP/UDP checksums are patched incrementally (RFC 1624), never summed again.
//  - dsr: only the MACs change (direct server return); each backend holds the VIP on a
//    loopback and does not answer ARP for it, and answers the client directly.
//
// Health: every checkMs the balancer ARPs each backend through the host stack; a backend whose
// last sign of life (an ARP answer, or in NAT mode any answer it sends through the balancer:
// an ARP answer lost in a flood does not take a busy backend down) is older than 3 intervals is down, and the Maglev table is rebuilt without it
// (only its flows move); it is up again at its next answer.
//
// The forwarding runs in Host.intercept, on the frames of a batch in place: each frame for the
// VIP (or a NAT answer from a backend) is copied once into a tx slot and patched there. Frames
// that fail IPv4 validation are left to the host, which counts them under its reasons.
// One thread reads the port itself, or with `workers` the distribution (distribute.ts) spreads
// the port's frames over worker threads, each running an L4lb (its own Maglev table, connection
// table and health checks) on a pipe end; a connection's frames are steered by its client's
// (address, port), so the request and (NAT) the backend's answer meet on one worker.
import { Host, type HostOptions } from '../../host/host.js';
import type { HostStats } from '../../host/stats.js';
import { formatIPv4, parseIPv4 } from '../../packet/addr.js';
import { checksumAdd, checksumAdjust, checksumFold } from '../../packet/checksum.js';
import { Conntrack, PROTO_TCP, PROTO_UDP, ST_TCP_CLOSED, ST_TCP_CLOSING, TCP_ACK, TCP_SYN } from './conntrack.js';
import { flowHash, Maglev } from './maglev.js';
import { distribute, workerMac, type DistResult, type DistWorkerStats, type Layout } from './distribute.js';

export interface L4lbOptions {
  port: string;
  ip: string;
  vip: string;
  vipPort: number;
  backends: string[];
  mode?: 'nat' | 'dsr';
  mac?: string;
  gateway?: string;
  staticArp?: { ip: string; mac: string }[];
  batch?: number;
  /** Maglev table entries, a prime (65537). */
  tableSize?: number;
  /** Health check interval, ms (1000); a backend is down after 3 without an answer. */
  checkMs?: number;
  conntrackLimit?: number;
  busyWait?: boolean;
  durationSec?: number;
  signal?: AbortSignal;
  statsMs?: number;
  onStats?: (r: L4lbResult) => void;
  onReady?: (h: Host, lb: L4lbResult) => void;
  /** A backend went up or down. */
  onHealth?: (backend: string, up: boolean) => void;
  /** Worker threads (distribute.ts): the port read by an I/O thread, each worker balancing on a pipe. */
  workers?: number;
  layout?: Layout;
  /** Called once the distribution is up (instead of onReady). */
  onDistReady?: (info: { mac: string; zerocopy: boolean; pipes: string[] }) => void;
}

/** Counter indices (L4lb.counters). */
export const L = {
  /** frames to the VIP sent on to a backend */
  toBackend: 0,
  /** NAT: answers from a backend sent on to the client (source rewritten to the VIP) */
  toClient: 1,
  /** of toClient: answers whose flow was not in the connection table (forwarded anyway) */
  replyUntracked: 2,
  /** flows moved to another backend because theirs went down */
  moved: 3,
  /** new flows the connection table could not take (forwarded by the Maglev table alone) */
  untracked: 4,
  tableRebuilds: 5,
  // drops
  /** no backend up */
  noBackend: 6,
  /** the next hop's MAC (backend or client) unknown yet: an ARP request went out */
  noArp: 7,
  /** no tx slot */
  txFull: 8,
} as const;
const NL = 9;
const FIRST_DROP = L.noBackend;

export interface L4lbBackendStats { ip: string; up: boolean; flows: number; packets: number; bytes: number; tableEntries: number }

export interface L4lbResult {
  seconds: number;
  mode: 'nat' | 'dsr';
  vip: string;
  counters: Record<keyof typeof L, number> & { dropped: number };
  backends: L4lbBackendStats[];
  conntrack: { entries: number; limit: number; created: number; expired: number; evictions: number };
  host: HostStats;
  /** With workers: the layout, each worker's counters and the I/O stage's (distribute.ts). */
  layout?: Layout;
  workers?: DistWorkerStats[];
  distribution?: DistResult['distribution'];
}

async function distributed(o: L4lbOptions): Promise<L4lbResult> {
  const mac = workerMac(o.port, o.ip, o.mac);
  const shape = (d: DistResult): L4lbResult => {
    const t = d.total as unknown as L4lbResult; // (tableEntries: worker 0's, every worker builds the same Maglev table)
    return { ...t, seconds: d.seconds, layout: d.layout, workers: d.perWorker, distribution: d.distribution };
  };
  const d = await distribute({
    vnf: {
      kind: 'l4lb', ip: o.ip, mac, gateway: o.gateway, staticArp: o.staticArp ?? [], batch: o.batch ?? 512, vip: o.vip, vipPort: o.vipPort,
      backends: o.backends, mode: o.mode ?? 'nat', tableSize: o.tableSize, checkMs: o.checkMs, conntrackLimit: o.conntrackLimit,
    },
    ports: [o.port], workers: o.workers!, layout: o.layout ?? 'n-1', steer: { vip: parseIPv4(o.vip), vipPort: o.vipPort },
    batch: o.batch, busyWait: o.busyWait, durationSec: o.durationSec, signal: o.signal, statsMs: o.statsMs,
    onStats: o.onStats ? (r) => o.onStats!(shape(r)) : undefined,
    onReady: (info) => o.onDistReady?.({ mac, ...info }),
  });
  return shape(d);
}

export class L4lb {
  readonly h: Host;
  readonly mode: 'nat' | 'dsr';
  readonly vip: number;
  readonly vipPort: number;
  readonly backendIp: Uint32Array;
  readonly alive: Uint8Array;
  readonly lastSeen: Float64Array;
  readonly flows: Float64Array;
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
  readonly maglev: Maglev;
  readonly ct: Conntrack;
  readonly counters = new Float64Array(NL);
  readonly checkMs: number;
  /** Added to the host's clock (tests move time forward with it). */
  clockSkew = 0;
  private nextCheck = 0;
  private nextEval = 0;
  private readonly onHealth?: (backend: string, up: boolean) => void;

  constructor(h: Host, o: Pick<L4lbOptions, 'vip' | 'vipPort' | 'backends' | 'mode' | 'tableSize' | 'checkMs' | 'conntrackLimit' | 'onHealth'>) {
    this.h = h;
    this.mode = o.mode ?? 'nat';
    this.vip = parseIPv4(o.vip);
    this.vipPort = o.vipPort;
    this.backendIp = Uint32Array.from(o.backends, (b) => parseIPv4(b));
    const n = this.backendIp.length;
    this.alive = new Uint8Array(n);
    this.lastSeen = new Float64Array(n).fill(-Infinity);
    this.flows = new Float64Array(n);
    this.packets = new Float64Array(n);
    this.bytes = new Float64Array(n);
    this.maglev = new Maglev(this.backendIp, o.tableSize ?? 65537);
    this.maglev.build(this.alive); // nobody up until they answer ARP
    this.ct = new Conntrack({ limit: o.conntrackLimit });
    this.checkMs = o.checkMs ?? 1000;
    this.onHealth = o.onHealth;
    for (let i = 0; i < n; i++) {
      if (!h.onLink(this.backendIp[i]!)) throw new RangeError(`backend ${o.backends[i]} is not inside ${formatIPv4(h.ip)}/${h.prefix}: backends must be on the balancer's link`);
    }
    h.intercept = (off, len, type) => this.frame(off, len, type);
  }

  private backendOf(ip: number): number {
    const b = this.backendIp;
    for (let i = 0; i < b.length; i++) if (b[i] === ip) return i;
    return -1;
  }

  /** Health: ARP each backend every checkMs; re-evaluate up/down every 50 ms. Call once per batch. */
  tick(now: number): void {
    if (now >= this.nextCheck) {
      this.nextCheck = now + this.checkMs;
      for (let i = 0; i < this.backendIp.length; i++) this.h.sendArpRequest(this.backendIp[i]!);
    }
    if (now < this.nextEval) return;
    this.nextEval = now + 50;
    let changed = false;
    const deadline = now - 3 * this.checkMs - 50;
    for (let i = 0; i < this.alive.length; i++) {
      const up = this.lastSeen[i]! >= deadline ? 1 : 0;
      if (up !== this.alive[i]) { this.alive[i] = up; changed = true; this.onHealth?.(formatIPv4(this.backendIp[i]!), up === 1); }
    }
    if (changed) { this.maglev.build(this.alive); this.counters[L.tableRebuilds]++; }
  }

  /** Host.intercept: true when the frame was ours (forwarded, or dropped and counted). */
  private frame(o: number, len: number, type: number): boolean {
    const u8 = this.h.u8;
    if (type === 0x0806) {
      // an ARP reply from a backend: it is alive (the host still learns it)
      if (len >= 42 && u8[o + 21] === 2 && u8[o + 15] === 1 && u8[o + 16] === 8 && u8[o + 17] === 0 && u8[o + 18] === 6 && u8[o + 19] === 4) {
        const b = this.backendOf(rd32(u8, o + 28));
        if (b >= 0) {
          this.lastSeen[b] = this.h.now + this.clockSkew;
          if (!this.alive[b]) this.nextEval = 0; // up at the next tick
        }
      }
      return false;
    }
    if (type !== 0x0800 || len < 34) return false;
    const ip = o + 14, vhl = u8[ip]!, hl = (vhl & 15) << 2, tot = (u8[ip + 2]! << 8) | u8[ip + 3]!;
    if (vhl >> 4 !== 4 || hl < 20 || tot < hl || 14 + tot > len) return false; // the host counts it
    const proto = u8[ip + 9]!;
    if (proto !== PROTO_TCP && proto !== PROTO_UDP) return false;
    const l4 = ip + hl;
    if (tot - hl < (proto === PROTO_TCP ? 20 : 8)) return false;
    if ((((u8[ip + 6]! << 8) | u8[ip + 7]!) & 0x3fff) !== 0) return false; // fragment
    const src = rd32(u8, ip + 12), dst = rd32(u8, ip + 16);
    const sport = (u8[l4]! << 8) | u8[l4 + 1]!, dport = (u8[l4 + 2]! << 8) | u8[l4 + 3]!;
    const toVip = dst === this.vip && dport === this.vipPort;
    let from = -1;
    if (!toVip) {
      if (this.mode !== 'nat' || sport !== this.vipPort || dst === this.h.ip) return false;
      from = this.backendOf(src);
      if (from < 0) return false;
    }
    if (checksumFold(checksumAdd(u8, ip, hl, 0)) !== 0xffff) return false; // the host counts it
    if (u8[ip + 8] === 0) return false; // the host counts it (the balancer keeps the TTL: it is not a hop, as a bridge)
    const flags = proto === PROTO_TCP ? u8[l4 + 13]! : 0;
    if (toVip) this.toBackend(o, len, ip, l4, proto, src, dst, sport, dport, flags);
    else {
      this.lastSeen[from] = this.h.now + this.clockSkew; // its answers show it is alive as well as its ARP
      this.toClient(o, len, ip, l4, proto, src, dst, sport, dport, flags);
    }
    return true;
  }

  private toBackend(o: number, len: number, ip: number, l4: number, proto: number, src: number, dst: number, sport: number, dport: number, flags: number): void {
    const c = this.counters, ct = this.ct, now = this.h.now + this.clockSkew;
    let e = ct.lookup(proto, src, dst, sport, dport, now), b: number;
    if (e >= 0 && (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && ct.state[e]! >= ST_TCP_CLOSING && ct.state[e]! <= ST_TCP_CLOSED) {
      // a new connection on the 5-tuple of a closed one: a new flow, placed by the table
      ct.remove(e);
      e = -1;
    }
    if (e >= 0) {
      b = ct.value[e]!;
      if (!this.alive[b]) {
        b = this.maglev.lookup(flowHash(proto, src, dst, sport, dport));
        if (b < 0) { c[L.noBackend]++; return; }
        ct.value[e] = b;
        c[L.moved]++;
        this.flows[b]++;
      }
      ct.update(e, ct.reply, flags, now);
    } else {
      b = this.maglev.lookup(flowHash(proto, src, dst, sport, dport));
      if (b < 0) { c[L.noBackend]++; return; }
      e = ct.insert(proto, src, dst, sport, dport, Conntrack.initialState(proto, flags), b, now);
      if (e < 0) c[L.untracked]++;
      this.flows[b]++;
    }
    const bip = this.backendIp[b]!;
    const h = this.h, arp = h.arp;
    const ae = arp.resolved(bip, now);
    if (ae < 0) {
      if (arp.wantRequest(bip, now)) h.sendArpRequest(bip);
      c[L.noArp]++;
      return;
    }
    const at = h.txAlloc(len);
    if (at < 0) { c[L.txFull]++; return; }
    const u8 = h.u8;
    u8.copyWithin(at, o, o + len);
    const mac = arp.mac, hm = h.mac;
    for (let k = 0; k < 6; k++) { u8[at + k] = mac[ae * 6 + k]!; u8[at + 6 + k] = hm[k]!; }
    if (this.mode === 'nat') rewriteAddr(u8, at + (ip - o), at + (l4 - o), proto, 16, dst, bip);
    h.commitTx(len);
    c[L.toBackend]++;
    this.packets[b]++;
    this.bytes[b] += len;
  }

  private toClient(o: number, len: number, ip: number, l4: number, proto: number, src: number, dst: number, sport: number, dport: number, flags: number): void {
    const c = this.counters, ct = this.ct, h = this.h, now = h.now + this.clockSkew;
    const e = ct.lookup(proto, dst, this.vip, dport, this.vipPort, now);
    if (e >= 0) ct.update(e, true, flags, now);
    else c[L.replyUntracked]++;
    const he = h.nextHop(dst);
    if (he < 0) { c[L.noArp]++; return; } // -1: ARP sent; -2/-3 (broadcast, no route): nowhere to send
    const at = h.txAlloc(len);
    if (at < 0) { c[L.txFull]++; return; }
    const u8 = h.u8, mac = h.arp.mac;
    u8.copyWithin(at, o, o + len);
    const hm = h.mac;
    for (let k = 0; k < 6; k++) { u8[at + k] = mac[he * 6 + k]!; u8[at + 6 + k] = hm[k]!; }
    rewriteAddr(u8, at + (ip - o), at + (l4 - o), proto, 12, src, this.vip);
    h.commitTx(len);
    c[L.toClient]++;
  }

  result(seconds: number): L4lbResult {
    const c = this.counters, counters = { dropped: 0 } as L4lbResult['counters'];
    for (const [k, i] of Object.entries(L)) {
      counters[k as keyof typeof L] = c[i]!;
      if (i >= FIRST_DROP) counters.dropped += c[i]!;
    }
    const entries = this.maglev.counts();
    const ct = this.ct;
    return {
      seconds, mode: this.mode, vip: `${formatIPv4(this.vip)}:${this.vipPort}`, counters,
      backends: Array.from(this.backendIp, (ip, i) => ({ ip: formatIPv4(ip), up: this.alive[i] === 1, flows: this.flows[i]!, packets: this.packets[i]!, bytes: this.bytes[i]!, tableEntries: entries[i]! })),
      conntrack: { entries: ct.count, limit: ct.limit, created: ct.created, expired: ct.expired, evictions: ct.evictions },
      host: this.h.stats(),
    };
  }
}

/**
 * Replace the IPv4 address at ip + at (12: source, 16: destination), from `from` to `to`, in
 * the header checksum and the TCP/UDP checksum (the pseudo-header holds it), incrementally.
 */
function rewriteAddr(u8: Uint8Array, ip: number, l4: number, proto: number, at: number, from: number, to: number): void {
  const fh = from >>> 16, fl = from & 0xffff, th = to >>> 16, tl = to & 0xffff;
  u8[ip + at] = to >>> 24; u8[ip + at + 1] = to >>> 16; u8[ip + at + 2] = to >>> 8; u8[ip + at + 3] = to;
  let hc = (u8[ip + 10]! << 8) | u8[ip + 11]!;
  hc = checksumAdjust(checksumAdjust(hc, fh, th), fl, tl);
  u8[ip + 10] = hc >>> 8; u8[ip + 11] = hc;
  const co = l4 + (proto === PROTO_TCP ? 16 : 6);
  let lc = (u8[co]! << 8) | u8[co + 1]!;
  if (proto === PROTO_UDP && lc === 0) return; // no UDP checksum: none to patch
  lc = checksumAdjust(checksumAdjust(lc, fh, th), fl, tl);
  if (proto === PROTO_UDP && lc === 0) lc = 0xffff; // 0 means "none" in UDP
  u8[co] = lc >>> 8; u8[co + 1] = lc;
}

function rd32(u8: Uint8Array, o: number): number {
  return ((u8[o]! << 24) | (u8[o + 1]! << 16) | (u8[o + 2]! << 8) | u8[o + 3]!) >>> 0;
}

/** Run the balancer until the signal aborts (or durationSec). */
export async function l4lb(o: L4lbOptions): Promise<L4lbResult> {
  if (o.workers !== undefined) return distributed(o);
  const hostOpts: HostOptions = {
    port: o.port, ip: o.ip, mac: o.mac, gateway: o.gateway, batch: o.batch ?? 512, aliases: [o.vip],
    arp: { static: o.staticArp ?? [] }, openOptions: { busyWait: o.busyWait ?? false },
  };
  const h = new Host(hostOpts);
  try {
    const lb = new L4lb(h, o);
    const t0 = performance.now();
    // the first health check: up to one interval for every backend to answer
    const ready = t0 + lb.checkMs;
    lb.tick(t0);
    while (!o.signal?.aborted && performance.now() < ready && lb.alive.some((a) => !a)) {
      if (h.poll(0) === 0) await h.wait(10);
      lb.tick(h.now);
    }
    o.onReady?.(h, lb.result(0));
    const end = o.durationSec ? t0 + o.durationSec * 1000 : Infinity;
    const statsMs = o.statsMs ?? 1000;
    let nextStats = o.onStats ? performance.now() + statsMs : Infinity, rounds = 0;
    while (!o.signal?.aborted) {
      const n = h.poll(0);
      const now = h.now;
      lb.tick(now);
      h.flush();
      if (now >= end) break;
      if (now >= nextStats) { nextStats += statsMs; o.onStats!(lb.result((now - t0) / 1000)); }
      if (n === 0) await h.wait(Math.max(1, Math.min(50, end - now, nextStats - now)));
      else if (++rounds % 256 === 0) await new Promise((r) => setImmediate(r)); // let signals and timers in
    }
    return lb.result((performance.now() - t0) / 1000);
  } finally {
    h.close();
  }
}
