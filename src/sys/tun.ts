// TAP devices through /dev/net/tun, with no native code: create one or attach to an existing one
// (TUNSETIFF), make it persistent or not (TUNSETPERSIST), and move one frame per read(2) or
// write(2) between the device and a buffer given by its address.
//
// A TAP offers a user-space reader no batched interface: every frame costs one system call
// (about 1 µs with the FFI call). This is the only place in netmap-ts that makes a call per frame.
// The buffer is passed as an address (a number below 2^53) rather than as a view, so a frame goes
// straight into or out of a buffer of a private region (anonymous memory whose address is known)
// without a view, a subarray or a copy.
import { readFileSync } from 'node:fs';
import koffi from 'koffi';
import { close, open, SysError } from './libc.js';
import { ifreqFor, ioctl, NetError } from './net.js';
import * as K from './kernel-abi.js';

const libc = koffi.load('libc.so.6');
const _read = libc.func('intptr_t read(int, uint64_t, size_t)');
const _write = libc.func('intptr_t write(int, uint64_t, size_t)');
// a frame spread over several buffers (a virtio-net super-frame): one readv/writev, iovecs by address
const _readv = libc.func('intptr_t readv(int, uint64_t, int)');
const _writev = libc.func('intptr_t writev(int, uint64_t, int)');
const _ioctlPtr = libc.func('int ioctl(int, unsigned long, _Inout_ int *)');
// TUNSETPERSIST takes its argument by value, not through a pointer
const _ioctlValue = libc.func('int ioctl(int, unsigned long, unsigned long)');

export const TUN_PATH = '/dev/net/tun';

/**
 * The TUN/TAP flags of interface `name` (/sys/class/net/NAME/tun_flags: IFF_TUN or IFF_TAP,
 * IFF_PERSIST, IFF_MULTI_QUEUE...), or null when it is not a TUN/TAP device or does not exist.
 */
export function tunFlags(name: string): number | null {
  if (name === '' || name.includes('/') || name === '.' || name === '..') return null;
  try {
    return parseInt(readFileSync(`/sys/class/net/${name}/tun_flags`, 'utf8').trim(), 16);
  } catch {
    return null;
  }
}

export interface TapDevice {
  /** nonblocking, close-on-exec; closing it removes the device unless it is persistent */
  fd: number;
  name: string;
  /** true when this open made the device (it was not persistent before) */
  created: boolean;
  /** the virtio-net header before each frame read or written (0: none) */
  vnetHdrLen: 0 | 10 | 12;
}

/**
 * Attach to TAP `name` (frames without a packet-information header), or create it:
 * - 'create': make a new device; EBUSY if an interface of that name exists (IFF_TUN_EXCL);
 * - 'attach': the device must exist (ENODEV otherwise); EBUSY if another process holds it;
 * - 'either': attach, or create when it does not exist.
 * A device made here lives until its fd closes (close(), or the death of the process) unless
 * it is made persistent. Throws NetError (ioctl TUNSETIFF, EPERM without CAP_NET_ADMIN).
 */
export function openTap(name: string, mode: 'create' | 'attach' | 'either', vnetHdrLen: 0 | 10 | 12 = 0): TapDevice {
  const ifr = ifreqFor(name);
  const before = tunFlags(name);
  if (mode === 'attach' && before === null) throw new NetError('ioctl', 'TUNSETIFF', name, K.ENODEV, ' (no TAP device of that name)');
  let flags = K.IFF_TAP | K.IFF_NO_PI;
  if (before !== null) flags |= before & K.IFF_MULTI_QUEUE; // the flag must match the device's
  if (mode === 'create') flags |= K.IFF_TUN_EXCL;
  if (vnetHdrLen) flags |= K.IFF_VNET_HDR; // a property of this fd, not of the device
  ifr.writeUInt16LE(flags, K.ifreq.ifr_flags);
  let fd: number;
  try {
    fd = open(TUN_PATH, K.O_RDWR | K.O_NONBLOCK);
  } catch (e) {
    if (e instanceof SysError) throw new NetError('open', TUN_PATH, name, e.errno);
    throw e;
  }
  try {
    ioctl(fd, K.TUNSETIFF, ifr, name);
    if (vnetHdrLen) setVnet(fd, name, vnetHdrLen);
  } catch (e) {
    close(fd);
    throw e;
  }
  // a device that existed and that nobody held was persistent; one we attached to that is
  // not persistent is the one this call made
  const now = tunFlags(name);
  return { fd, name, created: now === null || (now & K.IFF_PERSIST) === 0, vnetHdrLen };
}

/**
 * A TAP fd opened with IFF_VNET_HDR: every frame read or written starts with a `len`-byte
 * virtio-net header (TUNSETVNETHDRSZ), and the reader takes partial checksums and TCP
 * super-frames (TUNSETOFFLOAD: TUN_F_CSUM | TSO4 | TSO6 | TSO_ECN), so the stack leaves
 * checksums and segmentation to whoever reads, as it would to a NIC.
 */
function setVnet(fd: number, name: string, len: number): void {
  if ((_ioctlPtr(fd, K.TUNSETVNETHDRSZ, [len]) as number) < 0) throw new NetError('ioctl', 'TUNSETVNETHDRSZ', name, koffi.errno());
  const off = K.TUN_F_CSUM | K.TUN_F_TSO4 | K.TUN_F_TSO6 | K.TUN_F_TSO_ECN;
  if ((_ioctlValue(fd, K.TUNSETOFFLOAD, off) as number) < 0) throw new NetError('ioctl', 'TUNSETOFFLOAD', name, koffi.errno());
}

/** TUNSETOFFLOAD 0: a persistent TAP left behind takes no more super-frames (its next reader may not ask for them). */
export function clearTapOffloads(fd: number): void {
  _ioctlValue(fd, K.TUNSETOFFLOAD, 0);
}

/** TUNSETPERSIST: a persistent device stays when its last fd closes (vale-ctl -n), until made non-persistent. */
export function setPersistent(fd: number, name: string, on: boolean): void {
  if ((_ioctlValue(fd, K.TUNSETPERSIST, on ? 1 : 0) as number) < 0) throw new NetError('ioctl', 'TUNSETPERSIST', name, koffi.errno());
}

/** Close a TAP's fd: the device goes unless it is persistent. */
export function closeTap(fd: number): void {
  close(fd);
}

/**
 * read(2) of one frame into `len` bytes at address `addr`: the frame's length (which may exceed
 * `len`, the frame then being cut), or -errno (-EAGAIN: no frame waiting).
 */
export function tapRead(fd: number, addr: number, len: number): number {
  const r = _read(fd, addr, len) as number;
  return r >= 0 ? r : -koffi.errno();
}

/** write(2) of one frame of `len` bytes at address `addr`: `len`, or -errno. */
export function tapWrite(fd: number, addr: number, len: number): number {
  const r = _write(fd, addr, len) as number;
  return r >= 0 ? r : -koffi.errno();
}

/** readv(2) of one frame into `count` iovecs at address `iov`: the frame's length, or -errno. */
export function tapReadv(fd: number, iov: number, count: number): number {
  const r = _readv(fd, iov, count) as number;
  return r >= 0 ? r : -koffi.errno();
}

/** writev(2) of one frame from `count` iovecs at address `iov`: its length, or -errno. */
export function tapWritev(fd: number, iov: number, count: number): number {
  const r = _writev(fd, iov, count) as number;
  return r >= 0 ? r : -koffi.errno();
}
