// The host's counters: one Float64Array, one index per counter, so the frame loop counts with
// an indexed add (no object per frame). Every frame the host does not use is counted under
// exactly one drop reason; `hostStats` turns the array into named numbers with the drop total.

/** Counters that are not drops. */
export const C = {
  rxFrames: 0, rxBytes: 1, txFrames: 2, txBytes: 3,
  /** ARP requests for our address (requests for others: arpNotForUs) */
  arpRequestsIn: 4, arpRepliesIn: 5, arpRepliesOut: 6, arpRequestsOut: 7, gratuitousOut: 8,
  icmpEchoIn: 9, icmpEchoOut: 10, udpIn: 11, udpOut: 12,
  /** UDP datagrams whose checksum field holds only the pseudo-header sum (a Linux sender's
   *  CHECKSUM_PARTIAL, seen on veth and other virtual links): accepted, see HostOptions.partialChecksums */
  udpCsumPartial: 13,
  /** ICMP port unreachable sent for a datagram to a port without endpoint (rate-limited) */
  icmpUnreachOut: 14,
  /** frames taken by Host.intercept (a load balancer's forwarding): counted in rxFrames, handled there */
  intercepted: 42,
} as const;

/** Drop reasons: a received frame, or a frame the application asked to send, that went nowhere. */
export const D = {
  /** shorter than its headers say (Ethernet, ARP, IPv4, ICMP or UDP header cut off) */
  truncated: 15,
  /** unicast to another MAC, or multicast */
  notOurMac: 16,
  /** 802.1Q/802.1ad tagged: VLANs are not handled in this version */
  vlan: 17,
  /** IPv6: not handled in this version */
  ipv6: 18,
  /** another ethertype */
  otherEthertype: 19,
  /** ARP with other hardware/protocol types or sizes, or an unknown operation */
  arpMalformed: 20,
  /** an ARP request for another address, or a neighbour's gratuitous ARP (counted, nothing to answer) */
  arpNotForUs: 21,
  /** an ARP packet claiming our own address from another MAC */
  arpConflict: 22,
  /** IPv4 version, header length or total length inconsistent */
  badIpHeader: 23,
  badIpChecksum: 24,
  /** TTL 0 */
  badTtl: 25,
  /** a fragment (MF set or offset non-zero): reassembly is not done */
  fragment: 26,
  /** IPv4 to another address */
  notOurIp: 27,
  /** source address multicast, broadcast or 0 */
  badSrcIp: 28,
  /** IPv4 protocols other than ICMP and UDP */
  otherProto: 29,
  badIcmpChecksum: 30,
  /** ICMP other than echo request (or an echo to a broadcast address) */
  icmpIgnored: 31,
  badUdpLength: 32,
  badUdpChecksum: 33,
  /** UDP to a port with no endpoint */
  noUdpPort: 34,
  /** the endpoint's batch was full (the application did not recv() since the last poll) */
  endpointFull: 35,
  /** no tx slot (the port's tx ring full after a sync) */
  txFull: 36,
  /** send(): the next hop's MAC is not known yet (an ARP request went out) */
  noArp: 37,
  /** send(): off-link destination and no gateway */
  noRoute: 38,
  /** send(): the frame does not fit a buffer */
  tooBig: 39,
  /** datagrams filed with an endpoint that the application did not recv() before the next poll() */
  unread: 40,
  /** slots of frames longer than a buffer (NS_MOREFRAG chains): the host handles one-slot frames */
  multiSlot: 41,
} as const;

export const NCOUNTERS = 43;
const FIRST_DROP = D.truncated;
const isDrop = (i: number): boolean => i >= FIRST_DROP && i <= D.multiSlot;

const NAMES: string[] = [];
for (const [k, v] of Object.entries(C)) NAMES[v] = k;
for (const [k, v] of Object.entries(D)) NAMES[v] = k;

export interface HostStats {
  [name: string]: number;
  /** the sum of all drop reasons */
  dropped: number;
  /**
   * received frames dropped (every reason but the sending ones and `unread`): so that
   * rxFrames = arpRequestsIn + arpRepliesIn + icmpEchoIn + udpIn + intercepted + rxDropped
   */
  rxDropped: number;
}

/** Drops of datagrams the application sends, and of datagrams already counted as received. */
const NOT_RX: readonly number[] = [D.txFull, D.noArp, D.noRoute, D.tooBig, D.unread];

/** Named counters, with `dropped` the sum of the drop reasons. */
export function hostStats(c: Float64Array): HostStats {
  const out: HostStats = { dropped: 0, rxDropped: 0 };
  for (let i = 0; i < NCOUNTERS; i++) {
    out[NAMES[i]!] = c[i]!;
    if (isDrop(i)) out.dropped += c[i]!;
    if (isDrop(i) && !NOT_RX.includes(i)) out.rxDropped += c[i]!;
  }
  return out;
}

/** The drop reasons that are non-zero, "name=N" separated by spaces ('' if none). */
export function dropSummary(s: HostStats): string {
  const parts: string[] = [];
  for (let i = FIRST_DROP; i < NCOUNTERS; i++) if (isDrop(i) && s[NAMES[i]!]) parts.push(`${NAMES[i]}=${s[NAMES[i]!]}`);
  return parts.join(' ');
}
