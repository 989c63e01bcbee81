// A UDP endpoint of the user-space host (host.ts): a port number, a batch of received datagrams
// as typed arrays, and the ways to send.
//
// Receive: Host.poll() fills srcIp/srcPort/off/len/frame for each datagram to this port;
// recv() says how many. The payload of datagram i is u8[off[i], off[i] + len[i]) of the port's
// region: the receive buffer itself, valid until the next poll() (then the slot goes back).
//
// Send, three ways, each writing straight into a tx slot of the port:
//   reply(i)            echo datagram i to its sender: headers written, the payload copied once
//                       from the rx buffer; the UDP checksum is the request's (swapping addresses
//                       and ports leaves the sum unchanged), so nothing is summed again
//   send(dst, port, src, off, len)  copy a payload from any array; the checksum is summed once
//   begin(dst, port, len) / end()   write the payload in place at the offset begin() returns
// A datagram that cannot go (no tx slot, next hop not resolved yet: an ARP request is sent,
// off-link without a gateway, too big) returns false and is counted under that reason.
import { copyWords } from '../core/frame-copy.js';
import { C, D } from './stats.js';
import { UDP_HDRS, udpChecksumAt, writeUdpHeaders, BROADCAST_MAC } from './frames.js';
import type { Host } from './host.js';

export class UdpEndpoint {
  readonly host: Host;
  readonly port: number;
  readonly capacity: number;
  /** The port's region: payloads are views into it. */
  readonly u8: Uint8Array;
  readonly srcIp: Uint32Array;
  readonly srcPort: Uint16Array;
  /** Payload offsets in u8. */
  readonly off: Uint32Array;
  readonly len: Uint16Array;
  /** Offset of the datagram's Ethernet frame in u8 (the sender's MAC is at frame + 6). */
  readonly frame: Uint32Array;
  /** The request's UDP checksum (0: none, or sent to a broadcast address). */
  readonly csum: Uint16Array;
  /** The region's 8-byte view: reply() copies payloads by words. */
  private readonly f64: Float64Array;
  /** The longest payload reply() copies by words. */
  private readonly wordCopyMax: number;
  /** Datagrams filed by the last poll() and not yet taken by recv() (written by the host). */
  count = 0;
  private last = 0;
  private pendingAt = -1;
  private pendingLen = 0;

  constructor(host: Host, port: number, capacity: number) {
    this.host = host;
    this.port = port;
    this.capacity = capacity;
    this.u8 = host.u8;
    this.f64 = host.port.region.f64;
    // a word copy may write up to 7 bytes past the payload: within the tx buffer
    this.wordCopyMax = Math.min(256, host.port.txRings.length ? host.port.txRings[0]!.bufSize - UDP_HDRS - 8 : 0);
    this.srcIp = new Uint32Array(capacity);
    this.srcPort = new Uint16Array(capacity);
    this.off = new Uint32Array(capacity);
    this.len = new Uint16Array(capacity);
    this.frame = new Uint32Array(capacity);
    this.csum = new Uint16Array(capacity);
  }

  /** Datagrams received by the last poll() (indices 0..n-1 of the arrays); 0 when already taken. */
  recv(): number {
    const n = this.count;
    this.count = 0;
    if (n > 0) this.last = n;
    return n;
  }

  /** poll() is about to release the batch: returns what was never taken by recv(). */
  reset(): number {
    const unread = this.count;
    this.count = 0;
    this.last = 0;
    return unread;
  }

  /** Echo datagram i (of the last recv()) back to its sender, from this port. */
  reply(i: number): boolean {
    if (i < 0 || i >= this.last) throw new RangeError(`reply(${i}): the last recv() returned ${this.last}`);
    const h = this.host, u8 = this.u8, plen = this.len[i]!;
    const at = h.txAlloc(UDP_HDRS + plen);
    if (at < 0) return false;
    const o = this.off[i]!, d = at + UDP_HDRS;
    if (((o ^ d) & 7) === 0 && plen <= this.wordCopyMax) {
      // the payload as 8-byte words from the word that holds its first byte (the payload sits
      // at the same place in a word in both buffers: a request without IP options). The bytes
      // this writes before d are header bytes, written next; after the payload, at most 7
      // bytes of the buffer's unused rest. A third of the time of a 22-byte byte loop.
      const lead = o & 7;
      copyWords(this.f64, o - lead, this.f64, d - lead, plen + lead);
    } else if (plen <= 64) for (let k = 0; k < plen; k++) u8[d + k] = u8[o + k]!; // copyWithin costs more than short copies
    else u8.copyWithin(d, o, o + plen);
    writeUdpHeaders(u8, at, u8, this.frame[i]! + 6, h.mac, h.ip, this.srcIp[i]!, this.port, this.srcPort[i]!, plen, h.ttl, h.nextId());
    const ck = this.csum[i]!;
    if (ck !== 0) { u8[at + 40] = ck >>> 8; u8[at + 41] = ck; } else udpChecksumAt(u8, at, plen);
    h.commitTx(UDP_HDRS + plen);
    h.counters[C.udpOut]++;
    return true;
  }

  /**
   * Start a datagram of `len` payload bytes to dst:dport; returns the offset in u8 where the
   * payload goes, or -1 (counted). end() finishes it.
   */
  begin(dst: number, dport: number, len: number): number {
    const h = this.host;
    const hop = h.nextHop(dst);
    if (hop < -1 && hop !== -2) { h.counters[D.noRoute]++; return -1; }
    if (hop === -1) { h.counters[D.noArp]++; return -1; }
    const at = h.txAlloc(UDP_HDRS + len);
    if (at < 0) return -1;
    if (hop === -2) writeUdpHeaders(this.u8, at, BROADCAST_MAC, 0, h.mac, h.ip, dst, this.port, dport, len, h.ttl, h.nextId());
    else writeUdpHeaders(this.u8, at, h.arp.mac, hop * 6, h.mac, h.ip, dst, this.port, dport, len, h.ttl, h.nextId());
    this.pendingAt = at;
    this.pendingLen = len;
    return at + UDP_HDRS;
  }

  /** Checksum and hand over the datagram begin() started. */
  end(): void {
    const at = this.pendingAt;
    if (at < 0) throw new RangeError('end() without a successful begin()');
    this.pendingAt = -1;
    udpChecksumAt(this.u8, at, this.pendingLen);
    this.host.commitTx(UDP_HDRS + this.pendingLen);
    this.host.counters[C.udpOut]++;
  }

  /** Send src[srcOff, srcOff + len) to dst:dport. */
  send(dst: number, dport: number, src: Uint8Array, srcOff: number, len: number): boolean {
    const p = this.begin(dst, dport, len);
    if (p < 0) return false;
    const u8 = this.u8;
    if (src === u8) u8.copyWithin(p, srcOff, srcOff + len);
    else if (len <= 256) for (let k = 0; k < len; k++) u8[p + k] = src[srcOff + k]!;
    else u8.set(src.subarray(srcOff, srcOff + len), p);
    this.end();
    return true;
  }
}
