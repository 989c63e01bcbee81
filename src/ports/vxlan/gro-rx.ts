// Receiving trains of VXLAN datagrams whole (UDP_GRO on the port's UDP sockets): the other
// side of gso-tx.ts's sends. A UDP GSO send of N datagrams crosses a veth as one packet, and a
// NIC's GRO joins a flow's datagrams the same way; without UDP_GRO the kernel cuts such a
// packet into N again just before the socket (one skb and one queue entry each), with it the
// socket hands over the train in one message: the payloads back to back, every one `size`
// bytes but the last (a UDP_GRO control message gives the size; a message without one is a
// single datagram).
//
//   message i:  iov 0 -> hdr(i): the first datagram's 8-byte VXLAN header
//               iov 1 -> train(i): the rest, 64 KiB (the most a train holds)
//   datagram j of the train starts at train(i) + j * size - 8 (its VXLAN header), its inner
//   frame 8 bytes later
//
// The port (vxlan-rx.ts rxTrains) checks each datagram's header and copies each inner frame
// into a slot's buffer: a train does not fit the one-buffer-per-message scheme of the plain
// receive, which stays zero-copy for ports without GRO. Each train starts `shift` bytes past
// a 64-byte boundary, the offset of a frame in the port's slot buffers (after its virtio-net
// header): a train of datagrams whose size is a multiple of 8 (TCP's full segments at the
// usual MTUs) then has every inner frame at the alignment of its destination, and the copy
// moves 8-byte words (with a 10-byte header and unshifted trains, it moved bytes: 31 % of
// the receiving thread under an iperf3 stream). TRAIN_MSGS messages per recvmmsg(2);
// nothing is allocated per frame.
import { mmapAnonymous, munmap, NetError, setsockopt, type Mapping } from '../../sys/net.js';
import { put64, recvmmsg } from '../../sys/udp.js';
import * as K from '../../sys/kernel-abi.js';

/** Messages per recvmmsg. */
export const TRAIN_MSGS = 32;
/**
 * Most datagrams in one train: the kernel's GRO joins up to 64, and a GSO send crossing a
 * veth whole carries up to its UDP_MAX_SEGMENTS (128 since Linux 6.9).
 */
export const TRAIN_MAX = 128;
/** Bytes of a train after its first VXLAN header (a GRO'd UDP packet is at most 64 KiB). */
const TRAIN_BYTES = 65536;
/** The distance between two trains' buffers: room for TRAIN_BYTES at any shift below 64. */
const TRAIN_STRIDE = TRAIN_BYTES + 64;
const NAME = K.sockaddr_in6.size;
const CTL = 32; // one cmsghdr with an int, aligned
/** UDP_GRO (linux/udp.h): the socket option, and the control message's type at SOL_UDP */
const UDP_GRO = 104;

/** Turn UDP_GRO on for socket fd; false when the kernel has no such option (before Linux 5.0). */
export function enableUdpGro(fd: number, what: string): boolean {
  try {
    setsockopt(fd, K.SOL_UDP, UDP_GRO, 1, what);
    return true;
  } catch (e) {
    if (e instanceof NetError) return false;
    throw e;
  }
}

export class GroRx {
  private readonly m: Mapping;
  readonly v8: Uint8Array;
  readonly v32: Uint32Array;
  readonly v64: Float64Array;
  private readonly base: number;
  private readonly msg = 0;
  private readonly iov = TRAIN_MSGS * K.mmsghdr.size;
  private readonly names = this.iov + TRAIN_MSGS * 2 * K.iovec.size;
  private readonly hdrs = this.names + TRAIN_MSGS * NAME;
  private readonly ctls = this.hdrs + TRAIN_MSGS * 16;
  private readonly trains: number;

  /** `shift`: where a frame starts in the receiving port's buffers, modulo 64 (its header length). */
  constructor(what: string, shift: number) {
    this.trains = ((this.ctls + TRAIN_MSGS * CTL + 63) & ~63) + (shift & 63);
    this.m = mmapAnonymous(((this.trains + TRAIN_MSGS * TRAIN_STRIDE) | 63) + 1, `${what} VXLAN receive trains`);
    this.v8 = new Uint8Array(this.m.buffer);
    this.v32 = new Uint32Array(this.m.buffer);
    this.v64 = new Float64Array(this.m.buffer);
    this.base = Number(this.m.addr);
    for (let i = 0; i < TRAIN_MSGS; i++) {
      const mh = this.msg + i * K.mmsghdr.size, io = this.iov + i * 2 * K.iovec.size;
      put64(this.v32, mh + K.msghdr.msg_name, this.base + this.names + i * NAME);
      put64(this.v32, mh + K.msghdr.msg_iov, this.base + io);
      put64(this.v32, mh + K.msghdr.msg_iovlen, 2);
      put64(this.v32, mh + K.msghdr.msg_control, this.base + this.ctls + i * CTL);
      put64(this.v32, io + K.iovec.iov_base, this.base + this.hdrs + i * 16);
      put64(this.v32, io + K.iovec.iov_len, 8);
      put64(this.v32, io + K.iovec.size + K.iovec.iov_base, this.base + this.trains + i * TRAIN_STRIDE);
      put64(this.v32, io + K.iovec.size + K.iovec.iov_len, TRAIN_BYTES);
    }
  }

  /** recvmmsg up to `want` (<= TRAIN_MSGS) messages from fd: how many came (0: none waits). */
  receive(fd: number, want: number, what: string): number {
    const v32 = this.v32;
    for (let i = 0; i < want; i++) {
      const mh = this.msg + i * K.mmsghdr.size;
      v32[(mh + K.msghdr.msg_namelen) >> 2] = NAME;
      v32[(mh + K.msghdr.msg_controllen) >> 2] = CTL;
      v32[((mh + K.msghdr.msg_controllen) >> 2) + 1] = 0;
      v32[(mh + K.msghdr.msg_flags) >> 2] = 0;
    }
    return recvmmsg(fd, this.base + this.msg, want, what);
  }

  /** Bytes message i brought (its first VXLAN header included). */
  length(i: number): number {
    return this.v32[(this.msg + i * K.mmsghdr.size + K.mmsghdr.msg_len) >> 2];
  }

  /** Whether message i was cut short (longer than its buffers). */
  truncated(i: number): boolean {
    return (this.v32[(this.msg + i * K.mmsghdr.size + K.msghdr.msg_flags) >> 2] & K.MSG_TRUNC) !== 0;
  }

  /** The size of each datagram of message i's train (from its UDP_GRO control message), or its length when it is one datagram. */
  datagramSize(i: number): number {
    const v32 = this.v32, mh = this.msg + i * K.mmsghdr.size, c = this.ctls + i * CTL;
    const clen = v32[(mh + K.msghdr.msg_controllen) >> 2];
    if (clen >= K.cmsghdr.size + 4 && v32[(c + K.cmsghdr.cmsg_level) >> 2] === K.SOL_UDP && v32[(c + K.cmsghdr.cmsg_type) >> 2] === UDP_GRO) {
      const size = v32[(c + K.cmsghdr.size) >> 2];
      if (size > 0) return size;
    }
    return this.length(i);
  }

  /** Byte offset (in v8) of message i's first VXLAN header. */
  hdrAt(i: number): number {
    return this.hdrs + i * 16;
  }

  /** Byte offset (in v8) of message i's train: the first inner frame, then the rest. */
  trainAt(i: number): number {
    return this.trains + i * TRAIN_STRIDE;
  }

  /** Byte offset (in v8) of message i's sender address (sockaddr_in or sockaddr_in6). */
  nameAt(i: number): number {
    return this.names + i * NAME;
  }

  close(): void {
    munmap(this.m.addr, this.m.size);
  }
}
