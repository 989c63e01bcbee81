// How `nmts prep` splits a capture into primary (-i, client to server) and secondary (-I,
// server to client) packets, decision for decision as tcpprep 4.x does it (its tree.c,
// tcpprep.c), including its quirks, so that the same pcap gives the same cache:
//  - auto modes, pass 1: every IPv4/IPv6 source address becomes a host; a packet votes
//    "client" (TCP flags exactly SYN; a DNS query to port 53), "server" (exactly SYN+ACK; a
//    DNS answer; ICMP port unreachable) or nothing; a TCP source port stored as the bytes
//    0x14 0x00 (tcpprep compares the network-order field with 20) votes nothing;
//  - a host is a server when server votes >= client votes * ratio (default 2), a client when
//    it had any vote, else unknown; pass 2 sends a packet out primary when its source is a
//    client, secondary when a server; unknowns: client mode primary, server/bridge secondary,
//    router primary (secondary with --nonip);
//  - tcpprep compares IPv6 hosts with themselves, so all IPv6 sources are one host (the
//    first one seen) and share its votes;
//  - router mode fails ("unable to build a valid list of servers") when the lowest host of
//    tcpprep's tree (IPv4 ordered by the address read as a little-endian word) is a client;
//  - non-IP packets go out secondary (primary with --nonip) in every mode;
//  - port mode: TCP/UDP to a port 0-1023 primary, other TCP/UDP secondary, other protocols
//    as non-IP (an IPv6 fragment: secondary); cidr mode: a source inside the list primary,
//    else secondary;
//  - IP is found by EtherType (after 802.1Q/802.1ad tags) without checking the version
//    nibble, and an 802.3 frame whose first payload byte starts with 4 or 6 counts as IP.
// Headers are read only after their length is checked against caplen.
import { DIR_PRIMARY, DIR_SECONDARY } from '../replay/tcpprep-cache.js';

export type AutoMode = 'bridge' | 'router' | 'client' | 'server' | 'first';
export const HOST_UNKNOWN = -1, HOST_CLIENT = 0, HOST_SERVER = 1;

export class PrepError extends Error {
  override name = 'PrepError';
}

/** The IP header of a frame: version 4 or 6 (0 = not IP) and its offset. */
export interface L3 { ver: number; l3: number }

/** Find the IPv4/IPv6 header (Ethernet with VLAN tags, raw IP, Linux cooked v1/v2). */
export function findL3(b: Uint8Array, off: number, len: number, linkType: number, r: L3): void {
  r.ver = 0; r.l3 = 0;
  let etype = 0, l3 = off;
  const end = off + len;
  if (linkType === 1) {
    if (len <= 14) return;
    etype = (b[off + 12]! << 8) | b[off + 13]!;
    l3 = off + 14;
    while ((etype === 0x8100 || etype === 0x88a8 || etype === 0x9100) && l3 + 4 <= end) {
      etype = (b[l3 + 2]! << 8) | b[l3 + 3]!;
      l3 += 4;
    }
    if (etype === 0x8100 || etype === 0x88a8 || etype === 0x9100 || l3 >= end) return;
    if (etype <= 1500) {
      // an 802.3 length field: tcpprep takes the next byte's high nibble as an IP version
      const v = b[l3]! >> 4;
      etype = v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0;
    }
  } else if (linkType === 101 || linkType === 228 || linkType === 229 || linkType === 12 || linkType === 14) {
    if (len < 1) return;
    const v = b[off]! >> 4;
    etype = v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0;
  } else if (linkType === 113) {
    if (len <= 16) return;
    etype = (b[off + 14]! << 8) | b[off + 15]!;
    l3 = off + 16;
  } else if (linkType === 276) {
    if (len <= 20) return;
    etype = (b[off]! << 8) | b[off + 1]!;
    l3 = off + 20;
  } else {
    return;
  }
  // as tcpprep: the EtherType decides, the version nibble is not checked
  if (etype === 0x0800 && l3 + 20 <= end) { r.ver = 4; r.l3 = l3; }
  else if (etype === 0x86dd && l3 + 40 <= end) { r.ver = 6; r.l3 = l3; }
}

interface Host { key: number; server: number; client: number; type: number }

/** tcpprep's host tree (pass 1 of the auto modes). */
export class HostTree {
  private readonly v4 = new Map<number, Host>();
  private v6: Host | null = null;

  /** The host of a packet's source (IPv4 key: address bytes read little-endian, as tcpprep's tree orders them). */
  private find(b: Uint8Array, r: L3): Host | undefined {
    if (r.ver === 6) return this.v6 ?? undefined;
    return this.v4.get(key4(b, r.l3 + 12));
  }

  private insert(b: Uint8Array, r: L3, at: number, h: Host): void {
    if (r.ver === 6) this.v6 = h;
    else { h.key = key4(b, at); this.v4.set(h.key, h); }
  }

  /** Pass 1, a packet's vote for its source host. */
  add(b: Uint8Array, off: number, len: number, r: L3): void {
    const vote = packetVote(b, off + len, r);
    const h = this.find(b, r);
    if (h === undefined) {
      const n: Host = { key: 0, server: vote === HOST_SERVER ? 1 : 0, client: vote === HOST_CLIENT ? 1 : 0, type: vote };
      this.insert(b, r, r.l3 + 12, n);
    } else if (vote === HOST_SERVER) h.server++;
    else if (vote === HOST_CLIENT) h.client++;
  }

  /** --auto=first, pass 1: a source is a client, a destination a server, the first time each is seen. */
  addFirst(b: Uint8Array, r: L3): void {
    if (this.find(b, r) === undefined) this.insert(b, r, r.l3 + 12, { key: 0, server: 0, client: 1000, type: HOST_CLIENT });
    const dstAt = r.ver === 6 ? r.l3 + 24 : r.l3 + 16;
    const dst = r.ver === 6 ? this.v6 : this.v4.get(key4(b, dstAt));
    if (!dst) this.insert(b, r, dstAt, { key: 0, server: 1000, client: 0, type: HOST_SERVER });
  }

  /** tree_calculate(): every host's type from its votes. */
  calculate(ratio: number): void {
    const calc = (h: Host): void => {
      if (h.server > 0 || h.client > 0) h.type = h.server >= h.client * ratio ? HOST_SERVER : HOST_CLIENT;
      else h.type = HOST_UNKNOWN;
    };
    for (const h of this.v4.values()) calc(h);
    if (this.v6) calc(this.v6);
  }

  /** process_tree(): false when tcpprep's router mode gives up (its first host is a client). */
  routerOk(ratio: number): boolean {
    this.calculate(ratio);
    let first: Host | null = null;
    for (const h of this.v4.values()) if (first === null || h.key < first.key) first = h;
    if (first === null) first = this.v6;
    return !(first !== null && first.type === HOST_CLIENT);
  }

  /** Pass 2: the direction of a packet whose source host has `unknownAs` when unknown. */
  dir(b: Uint8Array, r: L3, unknownAs: number): number {
    const h = this.find(b, r);
    const t = h === undefined || h.type === HOST_UNKNOWN ? unknownAs : h.type;
    return t === HOST_CLIENT ? DIR_PRIMARY : DIR_SECONDARY;
  }
}

function key4(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/** packet2tree(): what a packet says about its source (HOST_CLIENT / HOST_SERVER / HOST_UNKNOWN). */
function packetVote(b: Uint8Array, end: number, r: L3): number {
  const l3 = r.l3;
  let proto: number, l4: number;
  if (r.ver === 4) { proto = b[l3 + 9]!; l4 = l3 + (b[l3]! & 15) * 4; }
  else { proto = b[l3 + 6]!; l4 = l3 + 40; }
  const short = (): never => { throw new PrepError(`packet capture length ${end - l3} too small to process`); };
  if (proto === 6) {
    if (l4 + 20 > end) short();
    if (b[l4] === 20 && b[l4 + 1] === 0) return HOST_UNKNOWN; // tcpprep's "ftp-data" test, in network order
    const flags = b[l4 + 13]!;
    return flags === 0x02 ? HOST_CLIENT : flags === 0x12 ? HOST_SERVER : HOST_UNKNOWN;
  }
  if (proto === 17) {
    if (l4 + 8 > end) short();
    const sport = (b[l4]! << 8) | b[l4 + 1]!, dport = (b[l4 + 2]! << 8) | b[l4 + 3]!;
    if (dport === 53 || sport === 53) {
      if (l4 + 8 + 12 > end) short();
      const f = b[l4 + 10]! | (b[l4 + 11]! << 8); // the flags word as tcpprep reads it (host order)
      if (dport === 53) return (f & 0x8000) !== 0 ? HOST_SERVER : HOST_CLIENT;
      return ((f & 0x7ffff) ^ 0x8000) !== 0 ? HOST_SERVER : HOST_CLIENT;
    }
    return HOST_UNKNOWN;
  }
  if (proto === 1) {
    if (l4 + 4 > end) short();
    return b[l4] === 3 && b[l4 + 1] === 3 ? HOST_SERVER : HOST_UNKNOWN;
  }
  return HOST_UNKNOWN;
}

/** Port mode: 1 when a TCP/UDP packet goes to a port 0..1023, 0 otherwise, -1 not TCP/UDP. */
export function toServerPort(b: Uint8Array, end: number, r: L3): number {
  const l3 = r.l3;
  let proto: number, l4: number;
  if (r.ver === 4) {
    const hl = (b[l3]! & 15) * 4;
    if (end - l3 < hl + 4) return 0; // not enough to know
    proto = b[l3 + 9]!; l4 = l3 + hl;
  } else {
    if (end - l3 < 44) return 0;
    proto = b[l3 + 6]!; l4 = l3 + 40;
    if (proto === 44 || proto === 50) return 0; // a fragment or ESP: no transport header to read
  }
  if (proto === 6 || proto === 17) {
    if (l4 + 4 > end) return 0;
    const dport = (b[l4 + 2]! << 8) | b[l4 + 3]!;
    return dport <= 1023 ? 1 : 0;
  }
  return -1;
}

/** A CIDR list (IPv4, tcpprep's -c "10.0.0.0/8,192.168.1.1"). */
export function parseCidrs(s: string): Array<{ net: number; mask: number }> {
  const out: Array<{ net: number; mask: number }> = [];
  for (const part of s.split(/[,\s]+/)) {
    if (part === '') continue;
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(part);
    if (!m || [1, 2, 3, 4].some((i) => Number(m[i]) > 255) || (m[5] !== undefined && Number(m[5]) > 32)) {
      throw new PrepError(`invalid CIDR '${part}' (a.b.c.d or a.b.c.d/len)`);
    }
    const len = m[5] === undefined ? 32 : Number(m[5]);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    const ip = ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
    out.push({ net: (ip & mask) >>> 0, mask });
  }
  if (out.length === 0) throw new PrepError('empty CIDR list');
  return out;
}

export function inCidrs(list: Array<{ net: number; mask: number }>, b: Uint8Array, at: number): boolean {
  const ip = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  for (const c of list) if (((ip & c.mask) >>> 0) === c.net) return true;
  return false;
}
