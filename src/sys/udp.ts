// Datagram sockets for the VXLAN port's underlay, IPv4 or IPv6, through koffi: a UDP socket
// bound to local:4789 (and one bound to the multicast group, the only way a socket receives a
// group's datagrams besides binding the wildcard) that receives a batch of datagrams per
// recvmmsg(2), and a raw IP socket (IPPROTO_RAW: the caller writes the IP and UDP headers, so
// each datagram has its own UDP source port, TTL / hop limit and DF bit; for IPv6 the caller
// also computes the UDP checksum) that sends a batch per sendmmsg(2). The kernel routes and
// resolves the next hop's MAC address (its neighbour table), as for any host's traffic. One
// system call per batch; the message vectors are prepared once by the caller.
//
// With UDP GSO (an offload-aware opener: TCP super-frames reach the port whole) a super-frame's
// segments, each behind its own VXLAN header, leave in one send on a UDP socket bound to
// local:<the flow's source port> with a UDP_SEGMENT control message (udpGsoSocket): the kernel
// cuts the payload into datagrams of that size after routing it once. A UDP socket has one
// source port, so there is one such socket per flow-hash source port in use, opened at the
// flow's first super-frame.
//
// Addresses are given as 16 bytes (packet/vxlan.ts parseVtep: IPv4 as ::ffff:a.b.c.d).
import koffi from 'koffi';
import { close as closeFd } from './libc.js';
import { bind, NetError, setsockopt, socket } from './net.js';
import * as K from './kernel-abi.js';

const libc = koffi.load('libc.so.6');
// the message vectors are addressed by number (a mapping's address plus an offset), so a call
// on part of a vector allocates nothing
const _recvmmsg = libc.func('int recvmmsg(int, uint64_t, unsigned int, int, void *)');
const _sendmmsg = libc.func('int sendmmsg(int, uint64_t, unsigned int, int)');

/** struct sockaddr_in for `ip` (unsigned 32-bit, host order) and `port`. */
export function sockaddrIn(ip: number, port: number, into?: Uint8Array, at = 0): Uint8Array {
  const b = into ?? new Uint8Array(K.sockaddr_in.size);
  const o = at;
  b.fill(0, o, o + K.sockaddr_in.size);
  b[o + K.sockaddr_in.sin_family] = K.AF_INET & 0xff;
  b[o + K.sockaddr_in.sin_family + 1] = K.AF_INET >> 8;
  b[o + K.sockaddr_in.sin_port] = port >> 8;
  b[o + K.sockaddr_in.sin_port + 1] = port & 0xff;
  const a = o + K.sockaddr_in.sin_addr;
  b[a] = ip >>> 24; b[a + 1] = (ip >>> 16) & 0xff; b[a + 2] = (ip >>> 8) & 0xff; b[a + 3] = ip & 0xff;
  return b;
}

/** struct sockaddr_in6 for the 16-byte address a[aOff..] and `port` (scope: an interface index, or 0). */
export function sockaddrIn6(a: Uint8Array, aOff: number, port: number, scope = 0): Uint8Array {
  const b = new Uint8Array(K.sockaddr_in6.size);
  b[K.sockaddr_in6.sin6_family] = K.AF_INET6 & 0xff;
  b[K.sockaddr_in6.sin6_port] = port >> 8;
  b[K.sockaddr_in6.sin6_port + 1] = port & 0xff;
  b.set(a.subarray(aOff, aOff + 16), K.sockaddr_in6.sin6_addr);
  new DataView(b.buffer).setUint32(K.sockaddr_in6.sin6_scope_id, scope, true);
  return b;
}

function isV4(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

const v4Of = (a: Uint8Array): number => ((a[12] << 24) | (a[13] << 16) | (a[14] << 8) | a[15]) >>> 0;

/**
 * A non-blocking UDP socket bound to addr:port (addr: 16 bytes, IPv4 mapped or IPv6; an IPv6
 * one takes only IPv6), with a receive buffer of `rcvbuf` bytes; `scope`: the interface index
 * for a link-scoped IPv6 address (a multicast group's).
 */
export function udpSocket(addr: Uint8Array, port: number, rcvbuf: number, what: string, scope = 0): number {
  const v4 = isV4(addr);
  const fd = socket(v4 ? K.AF_INET : K.AF_INET6, K.SOCK_DGRAM | K.SOCK_NONBLOCK, K.IPPROTO_UDP, what);
  try {
    setsockopt(fd, K.SOL_SOCKET, K.SO_RCVBUF, rcvbuf, what);
    if (!v4) setsockopt(fd, K.IPPROTO_IPV6, K.IPV6_V6ONLY, 1, what);
    bind(fd, v4 ? sockaddrIn(v4Of(addr), port) : sockaddrIn6(addr, 0, port, scope), what);
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/**
 * A raw IPv4 or IPv6 socket sending whole IP packets (IPPROTO_RAW: the header included);
 * bound to `dev` when given; multicast leaves through interface `mcIfindex` (when > 0).
 */
export function rawIpSocket(v6: boolean, dev: string | null, mcIfindex: number, sndbuf: number, what: string): number {
  const fd = socket(v6 ? K.AF_INET6 : K.AF_INET, K.SOCK_RAW | K.SOCK_NONBLOCK, K.IPPROTO_RAW, what);
  try {
    setsockopt(fd, K.SOL_SOCKET, K.SO_SNDBUF, sndbuf, what);
    if (dev) setsockopt(fd, K.SOL_SOCKET, K.SO_BINDTODEVICE, Buffer.from(`${dev}\0`), dev);
    if (mcIfindex > 0 && v6) setsockopt(fd, K.IPPROTO_IPV6, K.IPV6_MULTICAST_IF, mcIfindex, what);
    if (mcIfindex > 0 && !v6) {
      const m = new Uint8Array(K.ip_mreqn.size);
      new DataView(m.buffer).setInt32(K.ip_mreqn.imr_ifindex, mcIfindex, true);
      setsockopt(fd, K.IPPROTO_IP, K.IP_MULTICAST_IF, m, what);
    }
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/**
 * A non-blocking UDP socket for sending UDP GSO batches from addr:sport (addr: 16 bytes) with
 * the outer TTL / hop limit and DF bit of the port's config, bound to `dev` when given;
 * multicast leaves through interface `mcIfindex` (when > 0). It receives nothing the port
 * reads (its receive buffer is the kernel's minimum). Throws NetError (EADDRINUSE: the source
 * port is taken by another socket of this network namespace).
 */
export function udpGsoSocket(addr: Uint8Array, sport: number, o: { dev: string | null; ttl: number; df: boolean; mcIfindex: number; sndbuf: number }, what: string): number {
  const v4 = isV4(addr);
  const fd = socket(v4 ? K.AF_INET : K.AF_INET6, K.SOCK_DGRAM | K.SOCK_NONBLOCK, K.IPPROTO_UDP, what);
  try {
    setsockopt(fd, K.SOL_SOCKET, K.SO_SNDBUF, o.sndbuf, what);
    setsockopt(fd, K.SOL_SOCKET, K.SO_RCVBUF, 0, what);
    if (o.dev) setsockopt(fd, K.SOL_SOCKET, K.SO_BINDTODEVICE, Buffer.from(`${o.dev}\0`), o.dev);
    if (v4) {
      setsockopt(fd, K.IPPROTO_IP, K.IP_TTL, o.ttl, what);
      setsockopt(fd, K.IPPROTO_IP, K.IP_MULTICAST_TTL, o.ttl, what);
      setsockopt(fd, K.IPPROTO_IP, K.IP_MTU_DISCOVER, o.df ? K.IP_PMTUDISC_DO : K.IP_PMTUDISC_DONT, what);
      if (o.mcIfindex > 0) {
        const m = new Uint8Array(K.ip_mreqn.size);
        new DataView(m.buffer).setInt32(K.ip_mreqn.imr_ifindex, o.mcIfindex, true);
        setsockopt(fd, K.IPPROTO_IP, K.IP_MULTICAST_IF, m, what);
      }
    } else {
      setsockopt(fd, K.IPPROTO_IPV6, K.IPV6_V6ONLY, 1, what);
      setsockopt(fd, K.IPPROTO_IPV6, K.IPV6_UNICAST_HOPS, o.ttl, what);
      setsockopt(fd, K.IPPROTO_IPV6, K.IPV6_MULTICAST_HOPS, o.ttl, what);
      if (o.mcIfindex > 0) setsockopt(fd, K.IPPROTO_IPV6, K.IPV6_MULTICAST_IF, o.mcIfindex, what);
    }
    bind(fd, v4 ? sockaddrIn(v4Of(addr), sport) : sockaddrIn6(addr, 0, sport), what);
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/** Join multicast `group` (16 bytes, IPv4 mapped or IPv6) on the interface `ifindex` (0: the kernel's choice) for socket fd. */
export function joinGroup(fd: number, group: Uint8Array, ifindex: number, what: string): void {
  if (isV4(group)) {
    const m = new Uint8Array(K.ip_mreqn.size);
    const dv = new DataView(m.buffer);
    dv.setUint32(K.ip_mreqn.imr_multiaddr, v4Of(group), false); // network order
    dv.setInt32(K.ip_mreqn.imr_ifindex, ifindex, true);
    setsockopt(fd, K.IPPROTO_IP, K.IP_ADD_MEMBERSHIP, m, what);
    return;
  }
  const m = new Uint8Array(K.ipv6_mreq.size);
  m.set(group.subarray(0, 16), K.ipv6_mreq.ipv6mr_multiaddr);
  new DataView(m.buffer).setInt32(K.ipv6_mreq.ipv6mr_interface, ifindex, true);
  setsockopt(fd, K.IPPROTO_IPV6, K.IPV6_ADD_MEMBERSHIP, m, what);
}

/**
 * Write a 64-bit field (a pointer, a size_t) of a message vector built in a mapping, at byte
 * offset `at` of its 32-bit view, as two words (little-endian; values below 2^53).
 */
export function put64(v32: Uint32Array, at: number, v: number): void {
  v32[at >> 2] = v >>> 0;
  v32[(at >> 2) + 1] = Math.floor(v / 4294967296) >>> 0;
}

/** Read back a 64-bit field put64 wrote. */
export function get64(v32: Uint32Array, at: number): number {
  return v32[at >> 2]! + v32[(at >> 2) + 1]! * 4294967296;
}

/**
 * recvmmsg(2) into `count` prepared mmsghdrs at address `vec`, non-blocking: the number of
 * messages received, 0 when none waits (EAGAIN), -errno for errors listed in `tolerate`.
 */
export function recvmmsg(fd: number, vec: number, count: number, what: string, tolerate: readonly number[] = []): number {
  const r = _recvmmsg(fd, vec, count, K.MSG_DONTWAIT, null) as number;
  if (r < 0) {
    const e = koffi.errno();
    if (e === K.EAGAIN || e === K.EINTR) return 0;
    if (tolerate.includes(e)) return -e;
    throw new NetError('recvmmsg', '', what, e);
  }
  return r;
}

/** sendmmsg(2) of `count` prepared mmsghdrs at address `vec`: messages sent, or -errno for `tolerate`d errors. */
export function sendmmsgAt(fd: number, vec: number, count: number, what: string, tolerate: readonly number[]): number {
  const r = _sendmmsg(fd, vec, count, K.MSG_DONTWAIT) as number;
  if (r < 0) {
    const e = koffi.errno();
    if (tolerate.includes(e)) return -e;
    throw new NetError('sendmmsg', '', what, e);
  }
  return r;
}
