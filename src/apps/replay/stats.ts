// tcpreplay's statistics output, number for number (packet_stats() in src/common/utils.c,
// flow_stats() in src/tcpreplay.c, sendpacket_getstat() in src/common/sendpacket.c), and
// its flow accounting (flow_decode() in src/common/flows.c) as an allocation-free table.
//
// All rates are computed as tcpreplay does, in integer arithmetic on microseconds
// (BigInt here, once per print), so the digits match: e.g. "Rated: 305.6 Bps, 0.002 Mbps,
// 2.98 pps", "sent in 6.70 seconds", "sent in 0.000116 seconds".

export interface PacketCounters {
  packets: number;
  bytes: number;
  /** Packets that could not be sent (tcpreplay's stats.failed). */
  failed: number;
}

/** The "Actual:" and "Rated:" lines (+ "Failed write attempts:" when there were some). */
export function packetStatsLines(c: PacketCounters, diffUs: number): string[] {
  const us = BigInt(Math.max(0, Math.round(diffUs)));
  const pkts = BigInt(c.packets), bytes = BigInt(c.bytes);
  let bytesSec = 0n, bytesSec10 = 0n, mbSec = 0n, mbSec100 = 0n, mbSec1000 = 0n, ppsSec = 0n, ppsSec100 = 0n;
  if (us > 0n && pkts > 0n && bytes > 0n) {
    let bX10: bigint, pX100: bigint;
    if (bytes > 1_000_000_000n && us > 1_000_000n) {
      bX10 = (bytes * 10n * 1000n) / (us / 1000n);
      pX100 = (pkts * 100n * 1000n) / (us / 1000n);
    } else {
      bX10 = (bytes * 10n * 1_000_000n) / us;
      pX100 = (pkts * 100n * 1_000_000n) / us;
    }
    bytesSec = bX10 / 10n;
    bytesSec10 = bX10 % 10n;
    const mX1000 = (bytesSec * 8n) / 1000n;
    const mX100 = mX1000 / 10n;
    mbSec = mX1000 / 1000n;
    mbSec100 = mX100 % 100n;
    mbSec1000 = mX1000 % 1000n;
    ppsSec = pX100 / 100n;
    ppsSec100 = pX100 % 100n;
  }
  const sec = us / 1_000_000n, usec = us % 1_000_000n;
  const p2 = (v: bigint): string => v.toString().padStart(2, '0');
  const lines: string[] = [];
  lines.push(us >= 1_000_000n
    ? `Actual: ${pkts} packets (${bytes} bytes) sent in ${sec}.${p2(usec / 10_000n)} seconds`
    : `Actual: ${pkts} packets (${bytes} bytes) sent in ${sec}.${usec.toString().padStart(6, '0')} seconds`);
  lines.push(mbSec >= 1n
    ? `Rated: ${bytesSec}.${bytesSec10} Bps, ${mbSec}.${p2(mbSec100)} Mbps, ${ppsSec}.${p2(ppsSec100)} pps`
    : `Rated: ${bytesSec}.${bytesSec10} Bps, ${mbSec}.${mbSec1000.toString().padStart(3, '0')} Mbps, ${ppsSec}.${p2(ppsSec100)} pps`);
  if (c.failed > 0) lines.push(`Failed write attempts: ${c.failed}`);
  return lines;
}

/**
 * The "Flows:" line, or null when there were no flows (tcpreplay prints nothing then). With
 * `expiry` (--flow-expiry) the line also shows the unique and expired flows, as tcpreplay's.
 */
export function flowStatsLine(flows: number, flowPackets: number, nonFlowPackets: number, diffUs: number,
  expiry?: { unique: number; expired: number }): string | null {
  if (!flows) return null;
  const us = BigInt(Math.max(0, Math.round(diffUs)));
  let fps = 0n, fps100 = 0n;
  if (us > 0n) {
    const x100 = (BigInt(flows) * 100n * 1_000_000n) / us;
    fps = x100 / 100n;
    fps100 = x100 % 100n;
  }
  const rate = `${fps}.${fps100.toString().padStart(2, '0')} fps`;
  if (expiry) {
    return `Flows: ${flows} flows, ${expiry.unique} unique, ${expiry.expired} expired, ${rate}, ${flowPackets} unique flow packets, ${nonFlowPackets} unique non-flow packets`;
  }
  return `Flows: ${flows} flows, ${rate}, ${flowPackets} unique flow packets, ${nonFlowPackets} unique non-flow packets`;
}

export interface DeviceCounters {
  sent: number;
  failed: number;
  truncated: number;
  retriedEnobufs: number;
  retriedEagain: number;
}

/** sendpacket_getstat(): the per-device block, tab-indented. */
export function deviceStatsLines(name: string, d: DeviceCounters): string[] {
  return [
    `Statistics for network device: ${name}`,
    `\tSuccessful packets:        ${d.sent}`,
    `\tFailed packets:            ${d.failed}`,
    `\tTruncated packets:         ${d.truncated}`,
    `\tRetried packets (ENOBUFS): ${d.retriedEnobufs}`,
    `\tRetried packets (EAGAIN):  ${d.retriedEagain}`,
  ];
}

/** format_date_time(): local time as "YYYY-MM-DD HH:MM:SS.uuuuuu". */
export function formatDateTime(epochMs: number): string {
  const d = new Date(Math.floor(epochMs));
  const p = (v: number, n = 2): string => String(v).padStart(n, '0');
  const usec = Math.floor((epochMs - Math.floor(epochMs / 1000) * 1000) * 1000);
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(Math.min(usec, 999999), 6)}`;
}

// --- flows ------------------------------------------------------------------

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;

const KEY_WORDS = 10; // version|proto, src[4], dst[4], sport<<16|dport

/** What flow_decode() said about a packet. */
export const FLOW_NEW = 0, FLOW_EXISTING = 1, FLOW_NON_IP = 2, FLOW_INVALID = 3, FLOW_EXPIRED = 4;

/**
 * Flows as tcpreplay counts them: a directional 5-tuple (IP version, protocol, addresses,
 * ports) of every IPv4/IPv6 packet; TCP and UDP give their ports, ICMP its type and code,
 * other protocols 0. Non-IP packets are "non-flow"; IP packets too short for their headers
 * are counted in neither. Open addressing over a Uint32Array: no allocation per packet
 * (the table doubles when half full).
 */
export class FlowTable {
  /** New flows plus expired ones seen again (tcpreplay's "flows"). */
  flows = 0;
  /** Flows seen for the first time. */
  unique = 0;
  /** Packets of a flow idle longer than the expiry (each starts the flow again). */
  expired = 0;
  flowPackets = 0;
  nonFlowPackets = 0;
  private cap = 0;
  private keys = new Uint32Array(0);
  private used = new Uint8Array(0);
  /** Capture second each flow was last seen (for --flow-expiry). */
  private seen = new Float64Array(0);
  /** Slot of the last put(). */
  private at = 0;
  private readonly k = new Uint32Array(KEY_WORDS);

  constructor(initial = 1024) {
    this.alloc(initial);
  }

  private alloc(cap: number): void {
    this.cap = cap;
    this.keys = new Uint32Array(cap * KEY_WORDS);
    this.used = new Uint8Array(cap);
    this.seen = new Float64Array(cap);
  }

  get size(): number { return this.flows; }

  reset(): void {
    this.used.fill(0);
    this.flows = this.unique = this.expired = this.flowPackets = this.nonFlowPackets = 0;
  }

  /**
   * Classify one packet and count it; returns FLOW_NEW, FLOW_EXISTING, FLOW_EXPIRED,
   * FLOW_NON_IP or FLOW_INVALID. With expiry > 0 (seconds), a flow idle for more than
   * expiry seconds of capture time (tsSec: the packet's) counts again, as expired
   * (tcpreplay's hash_put_data()).
   */
  add(b: Uint8Array, off: number, len: number, linkType: number, tsSec = 0, expiry = 0): number {
    const r = this.decode(b, off, len, linkType);
    if (r === FLOW_NON_IP) this.nonFlowPackets++;
    else if (r === FLOW_INVALID) return r;
    else {
      this.flowPackets++;
      const found = this.put();
      const i = this.at;
      let res = FLOW_NEW;
      if (!found) { this.flows++; this.unique++; }
      else if (expiry > 0 && tsSec > expiry + this.seen[i]!) { this.flows++; this.expired++; res = FLOW_EXPIRED; }
      else res = FLOW_EXISTING;
      if (expiry > 0) this.seen[i] = tsSec;
      return res;
    }
    return r;
  }

  private decode(b: Uint8Array, off: number, len: number, linkType: number): number {
    const k = this.k;
    let l3 = off, end = off + len, etype = 0;
    if (linkType === LINKTYPE_ETHERNET) {
      if (len < 14) return FLOW_INVALID;
      etype = (b[off + 12]! << 8) | b[off + 13]!;
      l3 = off + 14;
      while ((etype === 0x8100 || etype === 0x88a8 || etype === 0x9100) && l3 + 4 <= end) {
        etype = (b[l3 + 2]! << 8) | b[l3 + 3]!;
        l3 += 4;
      }
    } else if (linkType === LINKTYPE_RAW || linkType === LINKTYPE_IPV4 || linkType === LINKTYPE_IPV6) {
      if (len < 1) return FLOW_INVALID;
      const v = b[off]! >> 4;
      etype = v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0;
    } else {
      return FLOW_NON_IP;
    }
    let proto = 0, l4 = 0;
    if (etype === 0x0800) {
      if (l3 + 20 > end) return FLOW_INVALID;
      if (b[l3]! >> 4 !== 4) return FLOW_NON_IP;
      proto = b[l3 + 9]!;
      k[0] = 0x400 | proto;
      k[1] = ((b[l3 + 12]! << 24) | (b[l3 + 13]! << 16) | (b[l3 + 14]! << 8) | b[l3 + 15]!) >>> 0;
      k[2] = k[3] = k[4] = 0;
      k[5] = ((b[l3 + 16]! << 24) | (b[l3 + 17]! << 16) | (b[l3 + 18]! << 8) | b[l3 + 19]!) >>> 0;
      k[6] = k[7] = k[8] = 0;
      l4 = l3 + (b[l3]! & 15) * 4;
    } else if (etype === 0x86dd) {
      if (l3 + 40 > end) return FLOW_INVALID;
      if (b[l3]! >> 4 !== 6) return FLOW_NON_IP;
      proto = b[l3 + 6]!;
      l4 = l3 + 40;
      if (proto === 0 && l4 + 2 <= end) { // hop-by-hop options, as tcpreplay
        proto = b[l4]!;
        l4 += (b[l4 + 1]! + 1) * 8;
      }
      k[0] = 0x600 | proto;
      for (let w = 0; w < 4; w++) {
        const s = l3 + 8 + w * 4, d = l3 + 24 + w * 4;
        k[1 + w] = ((b[s]! << 24) | (b[s + 1]! << 16) | (b[s + 2]! << 8) | b[s + 3]!) >>> 0;
        k[5 + w] = ((b[d]! << 24) | (b[d + 1]! << 16) | (b[d + 2]! << 8) | b[d + 3]!) >>> 0;
      }
    } else {
      return FLOW_NON_IP;
    }
    if (proto === 6 || proto === 17) {
      if (l4 + (proto === 6 ? 20 : 8) > end) return FLOW_INVALID;
      k[9] = ((b[l4]! << 24) | (b[l4 + 1]! << 16) | (b[l4 + 2]! << 8) | b[l4 + 3]!) >>> 0;
    } else if (proto === 1 || proto === 58) {
      if (l4 + 4 > end) return FLOW_INVALID;
      k[9] = ((b[l4]! << 16) | b[l4 + 1]!) >>> 0;
    } else {
      k[9] = 0;
    }
    return FLOW_NEW;
  }

  /** Insert the decoded key; true when it was there already. */
  private put(): boolean {
    const k = this.k;
    let h = 0x811c9dc5 | 0;
    for (let w = 0; w < KEY_WORDS; w++) {
      h = Math.imul(h ^ k[w]!, 0x01000193);
      h ^= h >>> 15;
    }
    const mask = this.cap - 1;
    let i = h & mask;
    const keys = this.keys, used = this.used;
    for (;;) {
      if (!used[i]) break;
      const base = i * KEY_WORDS;
      let eq = true;
      for (let w = 0; w < KEY_WORDS; w++) if (keys[base + w] !== k[w]) { eq = false; break; }
      if (eq) { this.at = i; return true; }
      i = (i + 1) & mask;
    }
    const base = i * KEY_WORDS;
    for (let w = 0; w < KEY_WORDS; w++) keys[base + w] = k[w]!;
    used[i] = 1;
    this.seen[i] = 0;
    this.at = i;
    if ((this.unique + 1) * 2 > this.cap) this.grow();
    return false;
  }

  private grow(): void {
    const oldKeys = this.keys, oldUsed = this.used, oldSeen = this.seen, oldCap = this.cap;
    const at = this.at;
    let newAt = 0;
    this.alloc(oldCap * 2);
    const k = this.k;
    const saved = Uint32Array.from(k);
    for (let i = 0; i < oldCap; i++) {
      if (!oldUsed[i]) continue;
      for (let w = 0; w < KEY_WORDS; w++) k[w] = oldKeys[i * KEY_WORDS + w]!;
      this.put();
      this.seen[this.at] = oldSeen[i]!;
      if (i === at) newAt = this.at;
    }
    k.set(saved);
    this.at = newAt;
  }
}

// --- -v ---------------------------------------------------------------------

function ip4(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}
function ip6(b: Uint8Array, o: number): string {
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((b[o + i]! << 8) | b[o + i + 1]!).toString(16));
  return w.join(':');
}

/** A one-line tcpdump-like summary of a frame (for -v; allocates). */
export function describePacket(b: Uint8Array, off: number, len: number, linkType: number): string {
  let l3 = off, etype = 0;
  const end = off + len;
  if (linkType === LINKTYPE_ETHERNET) {
    if (len < 14) return `truncated frame, length ${len}`;
    etype = (b[off + 12]! << 8) | b[off + 13]!;
    l3 = off + 14;
    while ((etype === 0x8100 || etype === 0x88a8) && l3 + 4 <= end) { etype = (b[l3 + 2]! << 8) | b[l3 + 3]!; l3 += 4; }
  } else if (linkType === LINKTYPE_RAW || linkType === LINKTYPE_IPV4 || linkType === LINKTYPE_IPV6) {
    etype = len && b[off]! >> 4 === 6 ? 0x86dd : 0x0800;
  } else {
    return `linktype ${linkType}, length ${len}`;
  }
  let src: string, dst: string, proto: number, l4: number, fam: string;
  if (etype === 0x0800 && l3 + 20 <= end) {
    src = ip4(b, l3 + 12); dst = ip4(b, l3 + 16); proto = b[l3 + 9]!; l4 = l3 + (b[l3]! & 15) * 4; fam = 'IP';
  } else if (etype === 0x86dd && l3 + 40 <= end) {
    src = ip6(b, l3 + 8); dst = ip6(b, l3 + 24); proto = b[l3 + 6]!; l4 = l3 + 40; fam = 'IP6';
  } else if (etype === 0x0806) {
    return `ARP, length ${len}`;
  } else {
    return `ethertype 0x${etype.toString(16).padStart(4, '0')}, length ${len}`;
  }
  if ((proto === 6 || proto === 17) && l4 + 4 <= end) {
    const sp = (b[l4]! << 8) | b[l4 + 1]!, dp = (b[l4 + 2]! << 8) | b[l4 + 3]!;
    return `${fam} ${src}.${sp} > ${dst}.${dp}: ${proto === 6 ? 'TCP' : 'UDP'}, length ${len}`;
  }
  return `${fam} ${src} > ${dst}: proto ${proto}, length ${len}`;
}
