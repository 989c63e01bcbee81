// Socket and network-interface calls for the Linux-interface ports (AF_PACKET, AF_XDP), through
// koffi: no native code. Every failing call throws a NetError that names the call, what it did
// (option, ioctl, mapping) and the interface, e.g. `ioctl(SIOCGIFINDEX, eth9): ENODEV (No such device)`.
// One FFI call costs ~0.3-0.5 µs: callers make one per batch (a kick, a poll), never one per packet.
import koffi from 'koffi';
import { SysError, strerror, close, munmap } from './libc.js';
import * as K from './kernel-abi.js';

export { close, munmap };

const libc = koffi.load('libc.so.6');
const _socket = libc.func('int socket(int, int, int)');
const _bind = libc.func('int bind(int, const void *, uint32_t)');
const _setsockopt = libc.func('int setsockopt(int, int, int, const void *, uint32_t)');
const _getsockopt = libc.func('int getsockopt(int, int, int, void *, _Inout_ uint32_t *)');
const _sendto = libc.func('intptr_t sendto(int, const void *, size_t, int, const void *, uint32_t)');
const _poll = libc.func('int poll(void *, unsigned long, int)');
// ioctl(2) is variadic; every request used here takes one pointer, passed in a register alike.
const _ioctl = libc.func('int ioctl(int, unsigned long, void *)');
const _mmap = libc.func('void *mmap(void *, size_t, int, int, int, int64_t)');

const ERRNO_NAME: Record<number, string> = { 524: 'ENOTSUPP' };
for (const [k, v] of Object.entries(K)) if (typeof v === 'number' && /^E[A-Z0-9]+$/.test(k)) ERRNO_NAME[v] = k;

/** A failed socket, ioctl, mmap or bpf call: which call, what it did, on which interface, and errno. */
export class NetError extends SysError {
  /** the option, ioctl request, command or mapping, e.g. 'SIOCGIFINDEX', 'XDP_UMEM_REG' ('' if none) */
  readonly op: string;
  /** the interface the call was for ('' if none) */
  readonly ifname: string;
  constructor(call: string, op: string, ifname: string, errno: number, detail = '') {
    const subject = [op, ifname].filter((s) => s !== '').join(', ');
    super(call, subject, errno);
    const code = ERRNO_NAME[errno] ?? this.code;
    Object.defineProperty(this, 'code', { value: code, enumerable: true });
    this.message = `${call}(${subject}): ${code} (${strerror(errno)})${detail}`;
    this.name = 'NetError';
    this.op = op;
    this.ifname = ifname;
  }
}

function fail(call: string, op: string, ifname: string): never {
  throw new NetError(call, op, ifname, koffi.errno());
}

const FAMILY: Record<number, string> = { [K.AF_INET]: 'AF_INET', [K.AF_PACKET]: 'AF_PACKET', [K.AF_XDP]: 'AF_XDP' };
const SOCKOPTS: Record<number, readonly string[]> = {
  [K.SOL_SOCKET]: ['SO_RCVBUF', 'SO_SNDBUF', 'SO_BUSY_POLL', 'SO_PREFER_BUSY_POLL', 'SO_BUSY_POLL_BUDGET'],
  [K.SOL_PACKET]: ['PACKET_ADD_MEMBERSHIP', 'PACKET_DROP_MEMBERSHIP', 'PACKET_RX_RING', 'PACKET_STATISTICS', 'PACKET_VERSION',
    'PACKET_HDRLEN', 'PACKET_RESERVE', 'PACKET_TX_RING', 'PACKET_LOSS', 'PACKET_VNET_HDR', 'PACKET_TIMESTAMP', 'PACKET_FANOUT', 'PACKET_QDISC_BYPASS',
    'PACKET_IGNORE_OUTGOING'],
  [K.SOL_XDP]: ['XDP_MMAP_OFFSETS', 'XDP_RX_RING', 'XDP_TX_RING', 'XDP_UMEM_REG', 'XDP_UMEM_FILL_RING', 'XDP_UMEM_COMPLETION_RING',
    'XDP_STATISTICS', 'XDP_OPTIONS'],
};
const LEVEL: Record<number, string> = { [K.SOL_SOCKET]: 'SOL_SOCKET', [K.SOL_PACKET]: 'SOL_PACKET', [K.SOL_XDP]: 'SOL_XDP' };

/** 'XDP_UMEM_REG' for (SOL_XDP, 4); 'SOL_XDP/99' for an option without a name here. */
export function sockoptName(level: number, opt: number): string {
  const abi = K as unknown as Record<string, number>;
  const name = SOCKOPTS[level]?.find((n) => abi[n] === opt);
  return name ?? `${LEVEL[level] ?? level}/${opt}`;
}

export function htons(v: number): number {
  return ((v & 0xff) << 8) | ((v >> 8) & 0xff);
}

/** socket(2), always close-on-exec. `ifname` is only for the error message. */
export function socket(domain: number, type: number, protocol: number, ifname = ''): number {
  const fd = _socket(domain, type | K.SOCK_CLOEXEC, protocol) as number;
  if (fd < 0) fail('socket', FAMILY[domain] ?? String(domain), ifname);
  return fd;
}

export function bind(fd: number, addr: Uint8Array, ifname = ''): void {
  if ((_bind(fd, addr, addr.byteLength) as number) < 0) fail('bind', FAMILY[addr[0] | (addr[1] << 8)] ?? '', ifname);
}

/** setsockopt(2) with a struct (bytes) or an int value. */
export function setsockopt(fd: number, level: number, opt: number, value: Uint8Array | number, ifname = ''): void {
  let buf: Uint8Array;
  if (typeof value === 'number') {
    buf = new Uint8Array(4);
    new DataView(buf.buffer).setInt32(0, value, true);
  } else {
    buf = value;
  }
  if ((_setsockopt(fd, level, opt, buf, buf.byteLength) as number) < 0) fail('setsockopt', sockoptName(level, opt), ifname);
}

/** getsockopt(2) into `buf`; returns the length the kernel wrote. */
export function getsockopt(fd: number, level: number, opt: number, buf: Uint8Array, ifname = ''): number {
  const len = [buf.byteLength];
  if ((_getsockopt(fd, level, opt, buf, len) as number) < 0) fail('getsockopt', sockoptName(level, opt), ifname);
  return len[0];
}

/** getsockopt(2) of an int option. */
export function getsockoptInt(fd: number, level: number, opt: number, ifname = ''): number {
  const buf = new Uint8Array(4);
  getsockopt(fd, level, opt, buf, ifname);
  return new DataView(buf.buffer).getInt32(0, true);
}

/**
 * sendto(2): `len` bytes of `buf` (null and 0 for an AF_XDP TX kick) to `addr` (null: the bound one).
 * Returns the bytes sent; errnos listed in `tolerate` return -errno instead of throwing.
 */
export function sendto(fd: number, buf: Uint8Array | null, len: number, flags: number, addr: Uint8Array | null, ifname = '',
  tolerate: readonly number[] = []): number {
  const r = Number(_sendto(fd, buf, len, flags, addr, addr ? addr.byteLength : 0));
  if (r < 0) {
    const e = koffi.errno();
    if (tolerate.includes(e)) return -e;
    throw new NetError('sendto', '', ifname, e);
  }
  return r;
}

/** A reusable pollfd array, so a poll() allocates nothing. */
export class PollSet {
  readonly fds: readonly number[];
  private readonly buf: Buffer;
  constructor(fds: readonly number[], events: number = K.POLLIN) {
    this.fds = fds;
    this.buf = Buffer.alloc(fds.length * K.pollfd.size);
    fds.forEach((fd, i) => {
      this.buf.writeInt32LE(fd, i * K.pollfd.size + K.pollfd.fd);
      this.buf.writeInt16LE(events, i * K.pollfd.size + K.pollfd.events);
    });
  }
  setEvents(i: number, events: number): void {
    this.buf.writeInt16LE(events, i * K.pollfd.size + K.pollfd.events);
  }
  revents(i: number): number {
    return this.buf.readUInt16LE(i * K.pollfd.size + K.pollfd.revents);
  }
  /** poll(2) on a libuv worker thread (the event loop keeps running): ready fds, 0 on timeout. */
  pollAsync(timeoutMs: number, ifname = ''): Promise<number> {
    return new Promise((resolve, reject) => {
      _poll.async(this.buf, this.fds.length, timeoutMs, (err: unknown, r: number) => {
        if (err) reject(err);
        else if (r < 0) reject(new NetError('poll', '', ifname, K.EINTR));
        else resolve(r);
      });
    });
  }

  /** poll(2): the number of ready fds; 0 on timeout or EINTR. */
  poll(timeoutMs: number, ifname = ''): number {
    const r = _poll(this.buf, this.fds.length, timeoutMs) as number;
    if (r < 0) {
      const e = koffi.errno();
      if (e === K.EINTR) return 0;
      throw new NetError('poll', '', ifname, e);
    }
    return r;
  }
}

/** poll(2) of one fd: its revents (0 on timeout). */
export function poll(fd: number, events: number, timeoutMs: number, ifname = ''): number {
  const set = new PollSet([fd], events);
  return set.poll(timeoutMs, ifname) > 0 ? set.revents(0) : 0;
}

export interface Mapping { addr: bigint; buffer: ArrayBuffer; size: number }

/** mmap(2) `size` bytes of fd at byte `offset` (an AF_XDP ring, a TPACKET ring), shared, read-write, prefaulted. */
export function mmap(fd: number, size: number, offset: number, what: string, ifname = ''): Mapping {
  const p = _mmap(null, size, K.PROT_READ | K.PROT_WRITE, K.MAP_SHARED | K.MAP_POPULATE, fd, offset);
  const addr = koffi.address(p) as bigint;
  if (addr === 0xffffffffffffffffn || addr === 0n) fail('mmap', what, ifname);
  return { addr, buffer: koffi.view(p, size) as ArrayBuffer, size };
}

/** Anonymous private memory (e.g. an AF_XDP UMEM), prefaulted. */
export function mmapAnonymous(size: number, what: string): Mapping {
  const p = _mmap(null, size, K.PROT_READ | K.PROT_WRITE, K.MAP_PRIVATE | K.MAP_ANONYMOUS | K.MAP_POPULATE, -1, 0);
  const addr = koffi.address(p) as bigint;
  if (addr === 0xffffffffffffffffn || addr === 0n) fail('mmap', what, '');
  return { addr, buffer: koffi.view(p, size) as ArrayBuffer, size };
}

const IOCTL_NAME: Record<number, string> = {
  [K.SIOCGIFINDEX]: 'SIOCGIFINDEX', [K.SIOCGIFFLAGS]: 'SIOCGIFFLAGS', [K.SIOCGIFMTU]: 'SIOCGIFMTU', [K.SIOCGIFHWADDR]: 'SIOCGIFHWADDR',
  [K.SIOCSIFFLAGS]: 'SIOCSIFFLAGS', [K.SIOCSIFMTU]: 'SIOCSIFMTU', [K.SIOCSIFHWADDR]: 'SIOCSIFHWADDR', [K.TUNSETIFF]: 'TUNSETIFF',
};

/** ioctl(2) with a pointer argument. */
export function ioctl(fd: number, request: number, arg: Uint8Array, ifname = ''): number {
  const r = _ioctl(fd, request, arg) as number;
  if (r < 0) fail('ioctl', IOCTL_NAME[request] ?? `0x${request.toString(16)}`, ifname);
  return r;
}

let ctlFd = -1;
/** This thread's ioctl socket, -1 before the first use (a terminated thread's is closed by whoever terminated it). */
export function ctlSocketFd(): number {
  return ctlFd;
}
/** A datagram socket for interface ioctls, opened once (in the network namespace of the first call). */
function controlSocket(): number {
  if (ctlFd < 0) ctlFd = socket(K.AF_INET, K.SOCK_DGRAM, 0);
  return ctlFd;
}

/** A struct ifreq naming the interface (EINVAL for a name the kernel would refuse). */
export function ifreqFor(name: string): Buffer {
  const b = Buffer.alloc(K.ifreq.size);
  const n = Buffer.from(name, 'utf8');
  if (n.length === 0 || n.length >= K.IFNAMSIZ || n.includes(0) || name.includes('/')) {
    throw new NetError('ioctl', 'ifname', name, K.EINVAL, ` (interface names are 1-${K.IFNAMSIZ - 1} bytes)`);
  }
  n.copy(b, K.ifreq.ifr_name);
  return b;
}

function ifrequest(name: string, request: number): Buffer {
  const b = ifreqFor(name);
  ioctl(controlSocket(), request, b, name);
  return b;
}

/** The interface's index (SIOCGIFINDEX). */
export function ifIndex(name: string): number {
  return ifrequest(name, K.SIOCGIFINDEX).readInt32LE(K.ifreq.ifr_ifindex);
}

export interface IfFlags { up: boolean; running: boolean; promisc: boolean; loopback: boolean; broadcast: boolean; raw: number }

/** The interface's flags (SIOCGIFFLAGS): administratively up, running (carrier), promiscuous. */
export function ifFlags(name: string): IfFlags {
  const raw = ifrequest(name, K.SIOCGIFFLAGS).readUInt16LE(K.ifreq.ifr_flags);
  return {
    up: (raw & K.IFF_UP) !== 0, running: (raw & K.IFF_RUNNING) !== 0, promisc: (raw & K.IFF_PROMISC) !== 0,
    loopback: (raw & K.IFF_LOOPBACK) !== 0, broadcast: (raw & K.IFF_BROADCAST) !== 0, raw,
  };
}

/** The interface's MTU (SIOCGIFMTU). */
export function ifMtu(name: string): number {
  return ifrequest(name, K.SIOCGIFMTU).readInt32LE(K.ifreq.ifr_mtu);
}

/** The interface's hardware address as 'aa:bb:cc:dd:ee:ff' (SIOCGIFHWADDR), and its ARPHRD type. */
export function ifHwAddr(name: string): string {
  return ifHardware(name).addr;
}

export function ifHardware(name: string): { addr: string; type: number } {
  const b = ifrequest(name, K.SIOCGIFHWADDR);
  const at = K.ifreq.ifr_hwaddr + K.sockaddr.sa_data;
  const addr = [...b.subarray(at, at + K.ETH_ALEN)].map((x) => x.toString(16).padStart(2, '0')).join(':');
  return { addr, type: b.readUInt16LE(K.ifreq.ifr_hwaddr + K.sockaddr.sa_family) };
}

/** Set the interface's MTU (SIOCSIFMTU). */
export function setIfMtu(name: string, mtu: number): void {
  const b = ifreqFor(name);
  b.writeInt32LE(mtu, K.ifreq.ifr_mtu);
  ioctl(controlSocket(), K.SIOCSIFMTU, b, name);
}

/** Set the interface's Ethernet address, 'aa:bb:cc:dd:ee:ff' (SIOCSIFHWADDR). */
export function setIfHwAddr(name: string, mac: string): void {
  const bytes = mac.split(':').map((h) => parseInt(h, 16));
  if (bytes.length !== K.ETH_ALEN || bytes.some((x) => !(x >= 0 && x <= 255))) throw new NetError('ioctl', 'SIOCSIFHWADDR', name, K.EINVAL, ` (bad address '${mac}')`);
  const b = ifreqFor(name);
  b.writeUInt16LE(K.ARPHRD_ETHER, K.ifreq.ifr_hwaddr + K.sockaddr.sa_family);
  b.set(bytes, K.ifreq.ifr_hwaddr + K.sockaddr.sa_data);
  ioctl(controlSocket(), K.SIOCSIFHWADDR, b, name);
}

/** Bring the interface up or down, keeping its other flags (SIOCGIFFLAGS, SIOCSIFFLAGS). */
export function setIfUp(name: string, up: boolean): void {
  const b = ifrequest(name, K.SIOCGIFFLAGS);
  const flags = b.readUInt16LE(K.ifreq.ifr_flags);
  b.writeUInt16LE(up ? flags | K.IFF_UP : flags & ~K.IFF_UP, K.ifreq.ifr_flags);
  ioctl(controlSocket(), K.SIOCSIFFLAGS, b, name);
}

/** struct sockaddr_ll for bind()/sendto() on an AF_PACKET socket. `protocol` in host order. */
export function sockaddrLl(ifindex: number, protocol: number = K.ETH_P_ALL, mac?: Uint8Array): Buffer {
  const b = Buffer.alloc(K.sockaddr_ll.size);
  b.writeUInt16LE(K.AF_PACKET, K.sockaddr_ll.sll_family);
  b.writeUInt16BE(protocol, K.sockaddr_ll.sll_protocol);
  b.writeInt32LE(ifindex, K.sockaddr_ll.sll_ifindex);
  if (mac) {
    b[K.sockaddr_ll.sll_halen] = mac.length;
    b.set(mac, K.sockaddr_ll.sll_addr);
  }
  return b;
}

// ethtool requests carry a pointer to their argument inside the ifreq, so the argument lives in
// a small mapping whose address is known (one page, made on first use).
let ethtoolScratch: Mapping | null = null;

/**
 * An ETHTOOL_G* value (e.g. ETHTOOL_GGRO) of the interface through SIOCETHTOOL; null when the
 * driver does not report it (EOPNOTSUPP).
 */
export function ethtoolGet(name: string, cmd: number): number | null {
  ethtoolScratch ??= mmapAnonymous(4096, 'ethtool argument');
  const v = new DataView(ethtoolScratch.buffer);
  v.setUint32(K.ethtool_value.cmd, cmd, true);
  v.setUint32(K.ethtool_value.data, 0, true);
  const req = ifreqFor(name);
  req.writeBigUInt64LE(ethtoolScratch.addr, K.ifreq.ifr_data);
  const r = _ioctl(controlSocket(), K.SIOCETHTOOL, req) as number;
  if (r < 0) {
    const e = koffi.errno();
    if (e === K.EOPNOTSUPP || e === K.EINVAL) return null;
    throw new NetError('ioctl', `SIOCETHTOOL 0x${cmd.toString(16)}`, name, e);
  }
  return v.getUint32(K.ethtool_value.data, true);
}

/** The transmit offloads of an interface as ethtool -k shows them (null: the driver does not say). */
export interface TxOffloads { txCsum: boolean | null; tso: boolean | null; gso: boolean | null }

/**
 * tx-checksumming, TSO and GSO of the interface (ETHTOOL_GTXCSUM / GTSO / GGSO): read only, nothing
 * is changed. A host stack with any of them on hands its frames over with checksums left to the
 * device or as super-frames, which only a port speaking the virtio-net header carries as they are.
 */
export function txOffloads(name: string): TxOffloads {
  const on = (cmd: number): boolean | null => {
    const v = ethtoolGet(name, cmd);
    return v === null ? null : v !== 0;
  };
  return { txCsum: on(K.ETHTOOL_GTXCSUM), tso: on(K.ETHTOOL_GTSO), gso: on(K.ETHTOOL_GGSO) };
}

const _sendmmsg = libc.func('int sendmmsg(int, void *, unsigned int, int)');
const _recvfrom = libc.func('intptr_t recvfrom(int, void *, size_t, int, void *, void *)');

/** sendmmsg(2) of `count` prepared mmsghdrs at the start of `vec`; returns messages sent, or -errno for `tolerate`d errors. */
export function sendmmsg(fd: number, vec: ArrayBuffer, count: number, flags: number, ifname: string, tolerate: readonly number[]): number {
  const r = _sendmmsg(fd, vec, count, flags) as number;
  if (r < 0) {
    const e = koffi.errno();
    if (tolerate.includes(e)) return -e;
    throw new NetError('sendmmsg', '', ifname, e);
  }
  return r;
}

/** recvfrom(fd, NULL, 0, MSG_DONTWAIT): wakes an AF_XDP socket's driver; the result is ignored. */
export function recvKick(fd: number): void {
  _recvfrom(fd, null, 0, K.MSG_DONTWAIT, null, null);
}
