// A host in user space: an IPv4 address, prefix, MAC and gateway bound to any port (a Linux
// interface netmap:eth0, a VALE port, a pipe end). It answers ARP (with a resolver cache:
// timeouts, static entries, a gratuitous ARP at start) and ICMP echo, validates IPv4, and
// delivers UDP datagrams to endpoints (udp.ts) in batches.
//
// One thread drives it: poll() syncs the port, takes a batch of received frames (their slots
// stay the application's until the next poll(), netmap's contract), answers ARP and ICMP at
// once into tx slots, and files each valid UDP datagram with its endpoint as offsets into the
// ring buffers (no copy, no object per frame). The application then reads each endpoint's
// batch and answers; flush() (or the next poll()) pushes what it wrote.
//
// Layer: above the port kinds (it opens names through port-kinds.ts) and the packet helpers,
// below apps (the VNFs in apps/vnf build on it). Every value read from a frame is checked
// against the frame's length before use; every frame not used is counted under one reason
// (stats.ts).
import { readFileSync } from 'node:fs';
import { NS_MOREFRAG, POLLIN } from '../core/constants.js';
import type { OpenOptions, Port } from '../core/port.js';
import { parseIPv4, parseMac, formatIPv4 } from '../packet/addr.js';
import { checksumAdd, checksumAdd16, checksumAdjust, checksumFold } from '../packet/checksum.js';
import { open } from '../port-kinds.js';
import { ArpCache, type ArpCacheOptions } from './arp-cache.js';
import { BROADCAST_MAC, copyMac, ETH_HLEN, MIN_FRAME, writeArp } from './frames.js';
import { C, D, hostStats, NCOUNTERS, type HostStats } from './stats.js';
import { UdpEndpoint } from './udp.js';

export interface HostOptions {
  /** The port: a netmap name to open (`netmap:eth0`, `vale0:h`, `x}1`) or a port already open. */
  port: string | Port;
  /** Address and prefix, `10.0.0.1/24` (a bare address means /32). */
  ip: string;
  /** Default: the interface's own MAC for netmap:IF, else a locally administered one derived from the address. */
  mac?: string;
  /** Next hop for off-link destinations. */
  gateway?: string;
  arp?: ArpCacheOptions & { static?: { ip: string; mac: string }[] };
  /** Send a gratuitous ARP when the host starts (default true). */
  gratuitous?: boolean;
  /** Frames taken from the port per poll (default 512). */
  batch?: number;
  /** Datagrams an endpoint holds per poll (default: batch). */
  endpointBatch?: number;
  /**
   * Accept a UDP checksum field that holds only the pseudo-header sum: what a Linux sender
   * leaves for the device to finish (CHECKSUM_PARTIAL) and a veth hands over unfinished. Such
   * datagrams are counted (udpCsumPartial) and their replies get a full checksum. Default true:
   * such frames reach VALE ports and pipes too (through an attached interface); a damaged
   * datagram passes only if its field happens to equal that sum (1 in 65536).
   */
  partialChecksums?: boolean;
  /**
   * ICMP port unreachable answers per second for datagrams to ports without an endpoint, as a
   * Linux host sends them (a connected UDP socket then gets ECONNREFUSED); 0: never. Default 100.
   */
  icmpUnreachableRate?: number;
  /**
   * More addresses the host answers ARP and ping for (a load balancer's virtual IP), each
   * inside the prefix or not; replies come from the address asked. UDP to them reaches endpoints.
   */
  aliases?: string[];
  /** TTL of what the host sends (default 64). */
  ttl?: number;
  /** Options for open() when `port` is a name. */
  openOptions?: OpenOptions;
}

/** Parse `a.b.c.d/len` (len 0..32, default 32). */
export function parseCidr(s: string): { ip: number; prefix: number } {
  const slash = s.indexOf('/');
  const ip = parseIPv4(slash < 0 ? s : s.slice(0, slash));
  if (slash < 0) return { ip, prefix: 32 };
  const p = s.slice(slash + 1);
  if (!/^\d{1,2}$/.test(p) || Number(p) > 32) throw new RangeError(`invalid prefix length '${p}' in ${s} (0..32)`);
  return { ip, prefix: Number(p) };
}

function interfaceMac(port: Port): Uint8Array | null {
  if (port.spec.kind !== 'netmap') return null;
  try {
    return parseMac(readFileSync(`/sys/class/net/${port.spec.name}/address`, 'utf8').trim());
  } catch {
    return null;
  }
}

export class Host {
  readonly port: Port;
  /** The port's region bytes: received payloads are at u8[off, off + len). */
  readonly u8: Uint8Array;
  /** The region's 16-bit view (checksums of words at even offsets: packet/checksum.ts checksumAdd16). */
  private readonly u16: Uint16Array;
  readonly ip: number;
  readonly prefix: number;
  readonly netmask: number;
  readonly broadcast: number;
  readonly gateway: number;
  readonly mac: Uint8Array;
  readonly arp: ArpCache;
  readonly ttl: number;
  /** Counters, indexed by stats.ts C and D. */
  readonly counters = new Float64Array(NCOUNTERS);
  /** The addresses of HostOptions.aliases. */
  readonly aliases: Uint32Array;
  /**
   * A function on the receive path (a load balancer's forwarding): called for each received
   * one-slot frame addressed to our MAC (or broadcast) before the host looks at it, with its
   * offset in u8, length and ethertype; true when it took the frame (forwarded it, or dropped
   * and counted it itself), false to let the host handle it. Set once; no allocation per call.
   */
  intercept: ((off: number, len: number, ethertype: number) => boolean) | null = null;
  /** Clock of the current batch (performance.now(), ms). */
  now = 0;
  private readonly ownsPort: boolean;
  private readonly batch: number;
  readonly endpointBatch: number;
  private readonly rxOffs: Uint32Array;
  private readonly rxLens: Uint16Array;
  private readonly rxFlags: Uint16Array;
  /** the last slot taken had NS_MOREFRAG: the next one continues a chain */
  private inChain = false;
  private readonly epIndex = new Uint16Array(65536); // UDP port -> endpoint index + 1
  private readonly endpoints: UdpEndpoint[] = [];
  private txPending = false;
  private nextSweep = 0;
  private ipId = 1;
  private readonly partialOk: boolean;
  private readonly unreachRate: number;
  private unreachBudget = 0;
  private unreachWindow = 0;
  private readonly retry = (ip: number): void => { this.sendArpRequest(ip); };

  constructor(opts: HostOptions) {
    const { ip, prefix } = parseCidr(opts.ip);
    this.ip = ip;
    this.prefix = prefix;
    this.netmask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    this.broadcast = (ip | ~this.netmask) >>> 0;
    this.gateway = opts.gateway ? parseIPv4(opts.gateway) : 0;
    this.aliases = Uint32Array.from(opts.aliases ?? [], (a) => parseIPv4(a));
    if (this.gateway && !this.onLink(this.gateway)) throw new RangeError(`gateway ${opts.gateway} is not inside ${opts.ip}`);
    this.ttl = opts.ttl ?? 64;
    this.batch = opts.batch ?? 512;
    this.endpointBatch = opts.endpointBatch ?? this.batch;
    this.rxOffs = new Uint32Array(this.batch);
    this.rxLens = new Uint16Array(this.batch);
    this.rxFlags = new Uint16Array(this.batch);
    this.arp = new ArpCache(opts.arp);
    for (const s of opts.arp?.static ?? []) {
      if (!this.arp.addStatic(parseIPv4(s.ip), parseMac(s.mac))) throw new RangeError(`static ARP entry ${s.ip}: its cache bucket holds only static entries`);
    }
    this.ownsPort = typeof opts.port === 'string';
    this.port = typeof opts.port === 'string' ? open(opts.port, opts.openOptions) : opts.port;
    this.u8 = this.port.u8;
    this.u16 = this.port.region.u16;
    this.partialOk = opts.partialChecksums ?? true;
    this.unreachRate = opts.icmpUnreachableRate ?? 100;
    try {
      if (this.port.txRings.length === 0 || this.port.rxRings.length === 0) throw new RangeError(`${this.port.name}: a host needs both tx and rx rings`);
      this.mac = opts.mac ? parseMac(opts.mac) : interfaceMac(this.port) ?? new Uint8Array([0x02, 0x6e, ip >>> 24, ip >>> 16, ip >>> 8, ip].map((b) => b & 0xff));
      this.now = performance.now();
      this.nextSweep = this.now + 1000;
      if (opts.gratuitous ?? true) this.sendGratuitous();
      this.flush();
    } catch (e) {
      if (this.ownsPort) this.port.close();
      throw e;
    }
  }

  /** Whether `ip` is one of the aliases. */
  isAlias(ip: number): boolean {
    const a = this.aliases;
    for (let i = 0; i < a.length; i++) if (a[i] === ip) return true;
    return false;
  }

  /** Whether `ip` is inside this host's subnet. */
  onLink(ip: number): boolean {
    return ((ip ^ this.ip) & this.netmask) === 0;
  }

  /** A UDP endpoint on `port` (1..65535); one per port. */
  udp(port: number): UdpEndpoint {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`UDP port ${port}: 1..65535`);
    if (this.epIndex[port]) throw new RangeError(`UDP port ${port} is already bound`);
    const ep = new UdpEndpoint(this, port, this.endpointBatch);
    this.endpoints.push(ep);
    this.epIndex[port] = this.endpoints.length;
    return ep;
  }

  /**
   * Take a batch of received frames (waiting up to timeoutMs when none is there; 0 does not
   * wait, < 0 waits for ever) and handle them: ARP and ICMP answered, UDP filed with its
   * endpoint. What the previous poll() handed out goes back to the port first, so endpoint
   * views are valid until the next poll(). Returns the number of frames taken.
   */
  poll(timeoutMs = 0): number {
    const port = this.port;
    // the answers written since the last poll and the release of its batch reach the peer
    // with one wake-up (Port.holdWakes)
    port.holdWakes();
    let n = 0;
    try {
      this.flush();
      for (let i = 0; i < this.endpoints.length; i++) {
        this.counters[D.unread] += this.endpoints[i]!.reset();
      }
      n = port.receiveBatch(this.rxOffs, this.rxLens, this.batch, this.rxFlags);
    } finally {
      port.releaseWakes();
    }
    if (n === 0 && timeoutMs !== 0) {
      port.poll(POLLIN, timeoutMs);
      n = port.receiveBatch(this.rxOffs, this.rxLens, this.batch, this.rxFlags);
    }
    this.now = performance.now();
    if (this.now >= this.nextSweep) {
      this.nextSweep = this.now + 1000;
      this.arp.sweep(this.now, this.retry);
    }
    if (n > 0) this.handle(n);
    this.flush();
    return n;
  }

  /** Wait for received frames without blocking the event loop (then call poll()). */
  async wait(timeoutMs: number): Promise<void> {
    this.flush();
    await this.port.pollAsync(POLLIN, timeoutMs);
  }

  /** Push what was written into tx slots (one txsync). */
  flush(): void {
    if (!this.txPending) return;
    this.txPending = false;
    this.port.txsync();
  }

  /**
   * A tx buffer offset for a frame of `len` bytes, or -1 (counted as txFull / tooBig). The
   * slot is the ring's head: commitTx(len) hands it over.
   */
  txAlloc(len: number): number {
    if (len > this.port.maxFrame) { this.counters[D.tooBig]++; return -1; }
    const rings = this.port.txRings;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < rings.length; i++) {
        const r = rings[i]!;
        if (!r.empty()) { this.txRing = i; return r.buf(r.head); }
      }
      if (pass === 0) { this.txPending = false; this.port.txsync(); } // reclaim completed slots
    }
    this.counters[D.txFull]++;
    return -1;
  }
  private txRing = 0;

  /** Hand the slot txAlloc() returned to the port, with the frame's length. */
  commitTx(len: number): void {
    const r = this.port.txRings[this.txRing]!;
    const h = r.head;
    r.setLen(h, len);
    r.setSlotFlags(h, 0);
    r.advance(r.next(h));
    this.txPending = true;
    this.counters[C.txFrames]++;
    this.counters[C.txBytes] += len;
  }

  /** Free tx slots now (after a txsync when there are none: completed frames give theirs back). */
  txRoom(): number {
    const rings = this.port.txRings;
    let room = 0;
    for (let i = 0; i < rings.length; i++) room += rings[i]!.space();
    if (room === 0) {
      this.txPending = false;
      this.port.txsync();
      for (let i = 0; i < rings.length; i++) room += rings[i]!.space();
    }
    return room;
  }

  /** Next IPv4 identification. */
  nextId(): number {
    const id = this.ipId;
    this.ipId = (id + 1) & 0xffff;
    return id;
  }

  /**
   * The next hop's MAC for `dst` as an entry of arp (its bytes at arp.mac[entry * 6]), -2 for
   * broadcast (BROADCAST_MAC), or -1 when unknown (an ARP request goes out; counted by the caller).
   */
  nextHop(dst: number): number {
    if (dst === 0xffffffff || dst === this.broadcast) return -2;
    let hop = dst;
    if (!this.onLink(dst)) {
      if (!this.gateway) return -3;
      hop = this.gateway;
    }
    const e = this.arp.resolved(hop, this.now);
    if (e >= 0) return e;
    if (this.arp.wantRequest(hop, this.now)) this.sendArpRequest(hop);
    return -1;
  }

  /** Resolve `ip` (or its gateway) by ARP, polling the port meanwhile; false after timeoutMs. */
  async resolve(ip: number, timeoutMs = 3000, signal?: AbortSignal): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    const hop = this.onLink(ip) ? ip : this.gateway;
    if (!hop) return false;
    this.now = performance.now();
    if (this.arp.resolved(hop, this.now) < 0 && this.arp.wantRequest(hop, this.now)) this.sendArpRequest(hop);
    while (this.arp.resolved(hop, this.now) < 0) {
      if (performance.now() >= end || signal?.aborted) return false;
      if (this.poll(0) === 0) await this.wait(20);
    }
    return true;
  }

  sendArpRequest(target: number): void {
    const at = this.txAlloc(MIN_FRAME);
    if (at < 0) return;
    this.commitTx(writeArp(this.u8, at, 1, BROADCAST_MAC, 0, this.mac, this.ip, ZERO_MAC, 0, target));
    this.counters[C.arpRequestsOut]++;
  }

  /** A gratuitous ARP (a request for our own address, broadcast): neighbours update their caches. */
  sendGratuitous(): void {
    const at = this.txAlloc(MIN_FRAME);
    if (at < 0) return;
    this.commitTx(writeArp(this.u8, at, 1, BROADCAST_MAC, 0, this.mac, this.ip, ZERO_MAC, 0, this.ip));
    this.counters[C.gratuitousOut]++;
  }

  stats(): HostStats {
    const s = hostStats(this.counters);
    const a = this.arp.counts();
    s.arpEntries = a.reachable;
    s.arpIncomplete = a.incomplete;
    s.arpStatic = a.static;
    s.arpEvictions = this.arp.evictions;
    s.arpFailed = this.arp.failed;
    return s;
  }

  /** Close the port if the host opened it. */
  close(): void {
    try { this.flush(); } catch { /* closing anyway */ }
    if (this.ownsPort) this.port.close();
  }

  toString(): string {
    return `${formatIPv4(this.ip)}/${this.prefix} on ${this.port.name}`;
  }

  // ---------------------------------------------------------------- receive path

  private handle(n: number): void {
    const u8 = this.u8, offs = this.rxOffs, lens = this.rxLens, flags = this.rxFlags, c = this.counters, mac = this.mac;
    const m0 = (mac[0]! << 8) | mac[1]!, m1 = (mac[2]! << 8) | mac[3]!, m2 = (mac[4]! << 8) | mac[5]!;
    for (let k = 0; k < n; k++) {
      const o = offs[k]!, len = lens[k]!;
      c[C.rxFrames]++;
      c[C.rxBytes] += len;
      const more = (flags[k]! & NS_MOREFRAG) !== 0;
      if (more || this.inChain) { c[D.multiSlot]++; this.inChain = more; continue; }
      if (len < ETH_HLEN) { c[D.truncated]++; continue; }
      const d0 = (u8[o]! << 8) | u8[o + 1]!, d1 = (u8[o + 2]! << 8) | u8[o + 3]!, d2 = (u8[o + 4]! << 8) | u8[o + 5]!;
      if (!(d0 === m0 && d1 === m1 && d2 === m2) && !(d0 === 0xffff && d1 === 0xffff && d2 === 0xffff)) { c[D.notOurMac]++; continue; }
      const type = (u8[o + 12]! << 8) | u8[o + 13]!;
      if (this.intercept !== null && this.intercept(o, len, type)) { c[C.intercepted]++; continue; }
      if (type === 0x0800) this.ipv4(o, len);
      else if (type === 0x0806) this.arpIn(o, len);
      else if (type === 0x8100 || type === 0x88a8) c[D.vlan]++;
      else if (type === 0x86dd) c[D.ipv6]++;
      else c[D.otherEthertype]++;
    }
  }

  private arpIn(o: number, len: number): void {
    const u8 = this.u8, c = this.counters;
    if (len < ETH_HLEN + 28) { c[D.truncated]++; return; }
    const a = o + ETH_HLEN;
    const op = (u8[a + 6]! << 8) | u8[a + 7]!;
    if (((u8[a]! << 8) | u8[a + 1]!) !== 1 || ((u8[a + 2]! << 8) | u8[a + 3]!) !== 0x0800 || u8[a + 4] !== 6 || u8[a + 5] !== 4 || (op !== 1 && op !== 2)) {
      c[D.arpMalformed]++;
      return;
    }
    const spa = rd32(u8, a + 14), tpa = rd32(u8, a + 24);
    if (spa === this.ip) {
      // our address from our own MAC is our gratuitous ARP looped back (a flood); from another MAC, a conflict
      let same = true;
      for (let i = 0; i < 6; i++) if (u8[a + 8 + i] !== this.mac[i]) same = false;
      c[same ? D.arpNotForUs : D.arpConflict]++; // same MAC: our own ARP looped back
      return;
    }
    const forUs = tpa === this.ip || (this.aliases.length > 0 && this.isAlias(tpa));
    // RFC 826: update an entry we have; add one only when the sender asked us (0.0.0.0 is a probe)
    if (spa !== 0 && (u8[a + 8]! & 1) === 0) this.arp.learn(spa, u8, a + 8, this.now, forUs);
    if (op === 2) { c[C.arpRepliesIn]++; return; }
    if (!forUs) { c[D.arpNotForUs]++; return; }
    c[C.arpRequestsIn]++;
    const at = this.txAlloc(MIN_FRAME);
    if (at < 0) return;
    this.commitTx(writeArp(u8, at, 2, u8, a + 8, this.mac, tpa, u8, a + 8, spa));
    c[C.arpRepliesOut]++;
  }

  private ipv4(o: number, len: number): void {
    const u8 = this.u8, c = this.counters;
    const ip = o + ETH_HLEN;
    if (len < ETH_HLEN + 20) { c[D.truncated]++; return; }
    const vhl = u8[ip]!, hl = (vhl & 15) << 2;
    const tot = (u8[ip + 2]! << 8) | u8[ip + 3]!;
    if (vhl >> 4 !== 4 || hl < 20 || tot < hl) { c[D.badIpHeader]++; return; }
    if (ETH_HLEN + tot > len) { c[D.truncated]++; return; }
    if (checksumAdd16(this.u16, u8, ip, hl, 0) !== 0xffff) { c[D.badIpChecksum]++; return; }
    if ((((u8[ip + 6]! << 8) | u8[ip + 7]!) & 0x3fff) !== 0) { c[D.fragment]++; return; }
    if (u8[ip + 8] === 0) { c[D.badTtl]++; return; }
    const dst = rd32(u8, ip + 16), src = rd32(u8, ip + 12);
    const bcast = dst === 0xffffffff || dst === this.broadcast;
    if (dst !== this.ip && !bcast && !(this.aliases.length > 0 && this.isAlias(dst))) { c[D.notOurIp]++; return; }
    if (src === 0 || src >= 0xe0000000 || src === this.broadcast) { c[D.badSrcIp]++; return; }
    const l4 = ip + hl, l4len = tot - hl, proto = u8[ip + 9];
    if (proto === 17) this.udpIn(o, ip, l4, l4len, src, bcast);
    else if (proto === 1) this.icmpIn(o, ip, hl, l4, l4len, bcast);
    else c[D.otherProto]++;
  }

  private icmpIn(o: number, ip: number, hl: number, l4: number, l4len: number, bcast: boolean): void {
    const u8 = this.u8, c = this.counters;
    if (l4len < 8) { c[D.truncated]++; return; }
    if (checksumFold(checksumAdd(u8, l4, l4len, 0)) !== 0xffff) { c[D.badIcmpChecksum]++; return; }
    if (u8[l4] !== 8 || u8[l4 + 1] !== 0 || bcast) { c[D.icmpIgnored]++; return; }
    c[C.icmpEchoIn]++;
    // the reply: the request's frame with addresses swapped, type 0, to the MAC it came from
    const flen = ETH_HLEN + hl + l4len;
    const at = this.txAlloc(flen);
    if (at < 0) return;
    u8.copyWithin(at, o, o + flen);
    copyMac(u8, at, u8, o + 6);
    copyMac(u8, at + 6, this.mac, 0);
    const rip = at + ETH_HLEN;
    u8.copyWithin(rip + 12, ip + 16, ip + 20); // src = the address they pinged (ours or an alias)
    u8.copyWithin(rip + 16, ip + 12, ip + 16); // dst = their source
    u8[rip + 8] = this.ttl;
    u8[rip + 10] = 0;
    u8[rip + 11] = 0;
    const hs = ~checksumFold(checksumAdd(u8, rip, hl, 0)) & 0xffff;
    u8[rip + 10] = hs >>> 8;
    u8[rip + 11] = hs;
    const ri = rip + hl;
    // type 8 -> 0: the checksum word (type << 8 | code) drops by 0x0800 (RFC 1624)
    const ck = checksumAdjust((u8[ri + 2]! << 8) | u8[ri + 3]!, 0x0800, 0x0000);
    u8[ri] = 0;
    u8[ri + 2] = ck >>> 8;
    u8[ri + 3] = ck;
    this.commitTx(flen);
    c[C.icmpEchoOut]++;
  }

  /** ICMP type 3 code 3 quoting the datagram's IP header and 8 bytes (RFC 792), within the rate. */
  private portUnreachable(o: number, ip: number, tot: number): void {
    if (this.now >= this.unreachWindow) { this.unreachWindow = this.now + 1000; this.unreachBudget = this.unreachRate; }
    if (this.unreachBudget <= 0) return;
    this.unreachBudget--;
    const u8 = this.u8, quoted = Math.min(tot, ((u8[ip]! & 15) << 2) + 8);
    const flen = ETH_HLEN + 28 + quoted;
    const at = this.txAlloc(flen);
    if (at < 0) return;
    copyMac(u8, at, u8, o + 6);
    copyMac(u8, at + 6, this.mac, 0);
    u8[at + 12] = 0x08; u8[at + 13] = 0;
    const r = at + ETH_HLEN;
    u8[r] = 0x45; u8[r + 1] = 0;
    u8[r + 2] = (28 + quoted) >>> 8; u8[r + 3] = 28 + quoted;
    const id = this.nextId();
    u8[r + 4] = id >>> 8; u8[r + 5] = id;
    u8[r + 6] = 0; u8[r + 7] = 0;
    u8[r + 8] = this.ttl; u8[r + 9] = 1;
    u8[r + 10] = 0; u8[r + 11] = 0;
    wr32(u8, r + 12, this.ip);
    u8.copyWithin(r + 16, ip + 12, ip + 16);
    const hs = ~checksumFold(checksumAdd(u8, r, 20, 0)) & 0xffff;
    u8[r + 10] = hs >>> 8; u8[r + 11] = hs;
    const m = r + 20;
    u8[m] = 3; u8[m + 1] = 3; u8[m + 2] = 0; u8[m + 3] = 0;
    u8[m + 4] = 0; u8[m + 5] = 0; u8[m + 6] = 0; u8[m + 7] = 0;
    u8.copyWithin(m + 8, ip, ip + quoted);
    const cs = ~checksumFold(checksumAdd(u8, m, 8 + quoted, 0)) & 0xffff;
    u8[m + 2] = cs >>> 8; u8[m + 3] = cs;
    this.commitTx(flen);
    this.counters[C.icmpUnreachOut]++;
  }

  private udpIn(o: number, ip: number, l4: number, l4len: number, src: number, bcast: boolean): void {
    const u8 = this.u8, c = this.counters;
    if (l4len < 8) { c[D.truncated]++; return; }
    const ulen = (u8[l4 + 4]! << 8) | u8[l4 + 5]!;
    if (ulen < 8 || ulen > l4len) { c[D.badUdpLength]++; return; }
    let ck = (u8[l4 + 6]! << 8) | u8[l4 + 7]!;
    if (ck !== 0) {
      const pseudo = checksumAdd16(this.u16, u8, ip + 12, 8, 17 + ulen);
      if (checksumAdd16(this.u16, u8, l4, ulen, pseudo) !== 0xffff) {
        if (!this.partialOk || checksumFold(pseudo) !== ck) { c[D.badUdpChecksum]++; return; }
        c[C.udpCsumPartial]++;
        ck = 0; // the reply's checksum is computed
      }
    }
    const e = this.epIndex[(u8[l4 + 2]! << 8) | u8[l4 + 3]!]!;
    if (e === 0) {
      c[D.noUdpPort]++;
      if (!bcast && this.unreachRate > 0) this.portUnreachable(o, ip, l4 - ip + l4len);
      return;
    }
    const ep = this.endpoints[e - 1]!;
    const i = ep.count;
    if (i >= ep.capacity) { c[D.endpointFull]++; return; }
    ep.srcIp[i] = src;
    ep.srcPort[i] = (u8[l4]! << 8) | u8[l4 + 1]!;
    ep.off[i] = l4 + 8;
    ep.len[i] = ulen - 8;
    ep.frame[i] = o;
    ep.csum[i] = bcast ? 0 : ck; // a reply from our address to theirs has the same checksum (swap-invariant)
    ep.count = i + 1;
    c[C.udpIn]++;
  }
}

const ZERO_MAC = new Uint8Array(6);

function rd32(u8: Uint8Array, o: number): number {
  return ((u8[o]! << 24) | (u8[o + 1]! << 16) | (u8[o + 2]! << 8) | u8[o + 3]!) >>> 0;
}
function wr32(u8: Uint8Array, o: number, v: number): void {
  u8[o] = v >>> 24; u8[o + 1] = v >>> 16; u8[o + 2] = v >>> 8; u8[o + 3] = v;
}

/** A host bound to a port (see HostOptions). */
export function createHost(opts: HostOptions): Host {
  return new Host(opts);
}
