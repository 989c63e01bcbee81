// IPv4 datagram sockets for the VXLAN port's underlay, through koffi: a UDP socket bound to
// local:4789 that receives a batch of datagrams per recvmmsg(2), and a raw IPv4 socket
// (IPPROTO_RAW: the caller writes the IP and UDP headers, so each datagram has its own UDP
// source port, TTL and DF bit) that sends a batch per sendmmsg(2) (net.ts). The kernel routes
// and resolves the next hop's MAC address (its neighbour table), as for any host's traffic.
// One system call per batch; the message vectors are prepared once by the caller.
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

/** A non-blocking UDP socket bound to ip:port (0: any address), with a receive buffer of `rcvbuf` bytes. */
export function udpSocket(ip: number, port: number, rcvbuf: number, what: string): number {
  const fd = socket(K.AF_INET, K.SOCK_DGRAM | K.SOCK_NONBLOCK, K.IPPROTO_UDP, what);
  try {
    setsockopt(fd, K.SOL_SOCKET, K.SO_RCVBUF, rcvbuf, what);
    bind(fd, sockaddrIn(ip, port), what);
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/** A raw IPv4 socket sending whole IP packets (IP_HDRINCL implied); bound to `dev` when given. */
export function rawIpSocket(dev: string | null, sndbuf: number, what: string): number {
  const fd = socket(K.AF_INET, K.SOCK_RAW | K.SOCK_NONBLOCK, K.IPPROTO_RAW, what);
  try {
    setsockopt(fd, K.SOL_SOCKET, K.SO_SNDBUF, sndbuf, what);
    if (dev) setsockopt(fd, K.SOL_SOCKET, K.SO_BINDTODEVICE, Buffer.from(`${dev}\0`), dev);
    return fd;
  } catch (e) {
    closeFd(fd);
    throw e;
  }
}

/** Join multicast `group` on the interface `ifindex` (0: the kernel's choice) for socket fd. */
export function joinGroup(fd: number, group: number, ifindex: number, what: string): void {
  const m = new Uint8Array(K.ip_mreqn.size);
  const dv = new DataView(m.buffer);
  dv.setUint32(K.ip_mreqn.imr_multiaddr, group, false); // network order
  dv.setInt32(K.ip_mreqn.imr_ifindex, ifindex, true);
  setsockopt(fd, K.IPPROTO_IP, K.IP_ADD_MEMBERSHIP, m, what);
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
