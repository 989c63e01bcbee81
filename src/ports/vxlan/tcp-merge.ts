// Receive-side merging of a VXLAN port's inner TCP segments into super-frames (what Linux's
// GRO does for its stack), for an opener that takes a virtio-net header (vale-ctl -a): a TCP
// stream then reaches the overlay's host in 64 KiB units, as through Linux's vxlan device.
//
// The port receives each datagram's inner frame straight into a slot's buffer behind a header
// asking for nothing (vxlan-rx.ts rxFrom). Consecutive slots holding TCP segments of one
// connection (same MACs, addresses, ports, ack, window, options such as timestamps; IPv4:
// TTL, TOS and DF, no IP options or fragments; IPv6: traffic class, flow label and hop limit,
// TCP right after the fixed header; in sequence; all full-sized but the last; only ACK/PSH;
// IPv4 header and TCP checksums verified here) are made ONE frame in place, an NS_MOREFRAG
// chain of those slots:
//   first slot   [header: NEEDS_CSUM, GSO TCPv4 or TCPv6, gso_size = the segments' payload size]
//                [the first segment, its IPv4 total length and header checksum (IPv6: payload
//                 length) rewritten for the whole, PSH if the last had it, the TCP checksum
//                 field partial (the pseudo-header's sum, as a sender's stack leaves it for
//                 the device)]
//   other slots  [their payload, moved to the start of the buffer]
// which a container's AF_PACKET port hands its kernel as one skb (and which the switch cuts
// again for a port without a header). A run ends at 64 slots (a chain's most), at 64 KiB of
// IP, or at the first segment that does not continue it; a run of one is left as it came.
//
// Every offset and length comes from the slot lengths the port wrote (checked against the
// buffer size) and from the frames, which are checked here before anything is trusted.
// Nothing is allocated per frame.
import { NETMAP_MAX_FRAGS, NS_MOREFRAG } from '../../core/constants.js';
import type { Region } from '../../core/region.js';
import { checksumFold, ipv4HeaderChecksum } from '../../packet/checksum.js';
import { sumWords, wholeView, wholeWords } from '../../packet/csum-complete.js';
import { VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, VNET_GSO_TCPV6, vnetWrite } from '../../packet/vnet-hdr.js';

const ETH = 14;
const IP4 = 20;
const IP6 = 40;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;

export class TcpMerge {
  // the run: ring slots (consecutive) and their frames' offsets, payload lengths
  private readonly slot = new Int32Array(NETMAP_MAX_FRAGS);
  private readonly off = new Float64Array(NETMAP_MAX_FRAGS);
  private readonly pay = new Int32Array(NETMAP_MAX_FRAGS);
  private n = 0;
  private total = 0;
  private mss = 0;
  private thl = 0;
  private nextSeq = 0;
  /** The run's IP header length: 20 (IPv4) or 40 (IPv6). */
  private iph = IP4;
  /** The IP header length of the frame payload() last took. */
  private lastIph = IP4;
  /** super-frames made since open */
  merged = 0;
  /** frames (ring slots) the last flush() took away by merging, and header bytes it removed */
  lessFrames = 0;
  lessBytes = 0;

  constructor(private readonly region: Region, private readonly hl: number) {}

  /**
   * TCP segment (IPv4 or IPv6) at u8[f, f+len) that may be merged, checksums valid: its
   * payload length (its IP header length in lastIph), else -1.
   */
  private payload(f: number, len: number): number {
    const g = this.region.u8;
    if (len < ETH + IP4 + 20) return -1;
    const ip = f + ETH, dv = wholeView(g), w = wholeWords(g), abs = g.byteOffset;
    let tot: number, iph: number, pseudo: number;
    if (g[f + 12] === 0x08 && g[f + 13] === 0x00) {
      if (g[ip] !== 0x45 || g[ip + 9] !== 6 || ((g[ip + 6] & 0x3f) | g[ip + 7]) !== 0) return -1; // no options, TCP, not a fragment
      tot = (g[ip + 2] << 8) | g[ip + 3];
      if (tot !== len - ETH) return -1;
      if (checksumFold(sumWords(dv, abs + ip, IP4, 0, w)) !== 0xffff) return -1;
      iph = IP4;
      pseudo = ((g[ip + 12] << 8) | g[ip + 13]) + ((g[ip + 14] << 8) | g[ip + 15]) + ((g[ip + 16] << 8) | g[ip + 17]) + ((g[ip + 18] << 8) | g[ip + 19]) + 6 + tot - IP4;
    } else if (g[f + 12] === 0x86 && g[f + 13] === 0xdd) {
      if ((g[ip] >> 4) !== 6 || g[ip + 6] !== 6 || len < ETH + IP6 + 20) return -1; // TCP right after the fixed header
      tot = IP6 + ((g[ip + 4] << 8) | g[ip + 5]);
      if (tot !== len - ETH) return -1;
      iph = IP6;
      pseudo = sumWords(dv, abs + ip + 8, 32, 6 + tot - IP6, w); // addresses, upper-layer length, next header
    } else {
      return -1;
    }
    const th = ip + iph, thl = (g[th + 12] >> 4) << 2;
    if (thl < 20 || iph + thl >= tot) return -1; // (no payload: an ACK, never merged)
    if ((g[th + 13] & ~TCP_PSH) !== TCP_ACK) return -1;
    if (checksumFold(sumWords(dv, abs + th, tot - iph, pseudo, w)) !== 0xffff) return -1;
    this.lastIph = iph;
    return tot - iph - thl;
  }

  /** Whether the segment at f (payload p) continues the run. */
  private continues(f: number, p: number): boolean {
    const n = this.n;
    if (n === NETMAP_MAX_FRAGS || this.pay[n - 1] !== this.mss) return false; // full, or ended by a short segment
    const g = this.region.u8, h = this.off[0]!, last = this.off[n - 1]!, thl = this.thl, iph = this.iph;
    if (this.lastIph !== iph) return false; // another family
    // the IP length field's limit: IPv4 total length, IPv6 payload length
    if ((g[last + ETH + iph + 13] & TCP_PSH) !== 0 || p > this.mss || (iph === IP4 ? IP4 : 0) + thl + this.total + p > 65535) return false;
    const th = f + ETH + iph, hth = h + ETH + iph, ip = f + ETH, hip = h + ETH;
    if (((g[th + 12] >> 4) << 2) !== thl) return false;
    for (let i = 0; i < 12; i++) if (g[f + i] !== g[h + i]) return false; // MACs
    if (iph === IP4) {
      if (g[ip + 1] !== g[hip + 1] || g[ip + 8] !== g[hip + 8] || (g[ip + 6] & 0x40) !== (g[hip + 6] & 0x40)) return false; // TOS, TTL, DF
      for (let i = 12; i < 20; i++) if (g[ip + i] !== g[hip + i]) return false; // addresses
    } else {
      for (let i = 0; i < 4; i++) if (g[ip + i] !== g[hip + i]) return false; // version, traffic class, flow label
      if (g[ip + 7] !== g[hip + 7]) return false; // hop limit
      for (let i = 8; i < 40; i++) if (g[ip + i] !== g[hip + i]) return false; // addresses
    }
    for (let i = 0; i < 4; i++) if (g[th + i] !== g[hth + i]) return false; // ports
    for (let i = 8; i < 12; i++) if (g[th + i] !== g[hth + i]) return false; // ack
    if (g[th + 14] !== g[hth + 14] || g[th + 15] !== g[hth + 15]) return false; // window
    for (let i = 20; i < thl; i++) if (g[th + i] !== g[hth + i]) return false; // options
    return (((g[th + 4] << 24) | (g[th + 5] << 16) | (g[th + 6] << 8) | g[th + 7]) >>> 0) === this.nextSeq;
  }

  /**
   * The port received a frame into ring slot k (its frame at region offset f, len bytes, the
   * slot's header cleared). Returns false when the run must be flushed first (then offer again).
   */
  offer(k: number, f: number, len: number): boolean {
    const p = this.payload(f, len);
    if (p <= 0) return this.n === 0; // not mergeable: alone (after the run)
    if (this.n !== 0 && !this.continues(f, p)) return false;
    const g = this.region.u8, th = f + ETH + this.lastIph;
    if (this.n === 0) {
      this.iph = this.lastIph;
      this.mss = p;
      this.thl = (g[th + 12] >> 4) << 2;
      this.total = 0;
    }
    this.slot[this.n] = k;
    this.off[this.n] = f;
    this.pay[this.n] = p;
    this.n++;
    this.total += p;
    this.nextSeq = ((((g[th + 4] << 24) | (g[th + 5] << 16) | (g[th + 6] << 8) | g[th + 7]) >>> 0) + p) >>> 0;
    return true;
  }

  /** Make the run one frame (2 segments or more) in the ring whose slot words start at u32 index s. */
  flush(s: number): void {
    this.lessFrames = 0;
    this.lessBytes = 0;
    const n = this.n;
    this.n = 0;
    if (n < 2) return;
    const region = this.region, u8 = region.u8, u32 = region.u32, hl = this.hl, thl = this.thl, iph = this.iph, hlen = ETH + iph + thl;
    const f = this.off[0]!, ip = f + ETH, th = ip + iph, tl = thl + this.total;
    let ps: number;
    if (iph === IP4) {
      const tot = IP4 + tl;
      u8[ip + 2] = tot >> 8; u8[ip + 3] = tot & 0xff;
      u8[ip + 10] = 0; u8[ip + 11] = 0;
      const ipc = ipv4HeaderChecksum(u8, ip);
      u8[ip + 10] = ipc >> 8; u8[ip + 11] = ipc & 0xff;
      ps = ((u8[ip + 12] << 8) | u8[ip + 13]) + ((u8[ip + 14] << 8) | u8[ip + 15]) + ((u8[ip + 16] << 8) | u8[ip + 17]) + ((u8[ip + 18] << 8) | u8[ip + 19]) + 6 + tl;
    } else {
      u8[ip + 4] = tl >> 8; u8[ip + 5] = tl & 0xff;
      ps = sumWords(wholeView(u8), u8.byteOffset + ip + 8, 32, 6 + tl, wholeWords(u8));
    }
    u8[th + 13] |= u8[this.off[n - 1]! + ETH + iph + 13] & TCP_PSH;
    const pc = checksumFold(ps);
    u8[th + 16] = pc >> 8; u8[th + 17] = pc & 0xff;
    vnetWrite(u8, f - hl, hl, VNET_F_NEEDS_CSUM, iph === IP4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6, hlen, this.mss, ETH + iph, 16);
    u32[s + (this.slot[0]! << 2) + 1] = ((hl + hlen + this.pay[0]!) | (NS_MOREFRAG << 16)) >>> 0;
    for (let i = 1; i < n; i++) {
      const fi = this.off[i]!, b = fi - hl, p = this.pay[i]!;
      u8.copyWithin(b, fi + hlen, fi + hlen + p);
      u32[s + (this.slot[i]! << 2) + 1] = (p | (i === n - 1 ? 0 : NS_MOREFRAG << 16)) >>> 0;
    }
    this.merged++;
    this.lessFrames = n - 1;
    this.lessBytes = (n - 1) * hlen;
  }
}
