// Unix stream sockets that carry file descriptors (SCM_RIGHTS), eventfds, memfds and shared
// mappings of a received fd, through koffi: what a vhost-user back end needs (the front end
// sends its guest memory as memfds and its kick/call notifiers as eventfds over a Unix socket;
// Node's net module cannot receive descriptors).
//
// Everything is non-blocking unless said otherwise. recvmsg/sendmsg go through a per-thread
// scratch page (anonymous memory whose address is known), so building a msghdr allocates
// nothing native per call; the control plane may allocate small JS arrays (fds received), the
// data plane's calls (eventfd read/write) allocate nothing.
import koffi from 'koffi';
import { SysError, close } from './libc.js';
import * as K from './kernel-abi.js';

const libc = koffi.load('libc.so.6');
const _socket = libc.func('int socket(int, int, int)');
const _bind = libc.func('int bind(int, const void *, uint32_t)');
const _listen = libc.func('int listen(int, int)');
const _connect = libc.func('int connect(int, const void *, uint32_t)');
const _accept4 = libc.func('int accept4(int, void *, void *, int)');
const _recvmsg = libc.func('intptr_t recvmsg(int, uint64_t, int)');
const _sendmsg = libc.func('intptr_t sendmsg(int, uint64_t, int)');
const _read = libc.func('intptr_t read(int, uint64_t, size_t)');
const _write = libc.func('intptr_t write(int, uint64_t, size_t)');
const _eventfd = libc.func('int eventfd(unsigned int, int)');
const _memfdCreate = libc.func('int memfd_create(const char *, unsigned int)');
const _mmap = libc.func('void *mmap(void *, size_t, int, int, int, int64_t)');
const _mmapAnon = libc.func('void *mmap(void *, size_t, int, int, int, int64_t)');

export const AF_UNIX = 1;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;
const MSG_NOSIGNAL = 0x4000;
const MSG_DONTWAIT = 0x40;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
const MFD_CLOEXEC = 1;
/** Most descriptors one message may carry here (vhost-user sends at most 8 memory regions). */
export const MAX_FDS = 16;

function fail(call: string, subject: string): never {
  throw new SysError(call, subject, koffi.errno());
}

/** struct sockaddr_un for `path` (at most 107 bytes). */
function sockaddrUn(path: string): Buffer {
  const p = Buffer.from(path);
  if (p.length > 107) throw new SysError('bind', path, K.EINVAL);
  const a = Buffer.alloc(110);
  a.writeUInt16LE(AF_UNIX, 0);
  p.copy(a, 2);
  return a;
}

/** A listening, non-blocking Unix stream socket bound to `path` (which must not exist). */
export function unixListen(path: string, backlog = 4): number {
  const fd = _socket(AF_UNIX, K.SOCK_STREAM | K.SOCK_CLOEXEC | K.SOCK_NONBLOCK, 0) as number;
  if (fd < 0) fail('socket', 'AF_UNIX');
  const a = sockaddrUn(path);
  if ((_bind(fd, a, a.length) as number) < 0 || (_listen(fd, backlog) as number) < 0) {
    const e = koffi.errno();
    close(fd);
    throw new SysError('bind', path, e);
  }
  return fd;
}

/** A blocking connection to the Unix socket `path` (tests, clients). */
export function unixConnect(path: string): number {
  const fd = _socket(AF_UNIX, K.SOCK_STREAM | K.SOCK_CLOEXEC, 0) as number;
  if (fd < 0) fail('socket', 'AF_UNIX');
  const a = sockaddrUn(path);
  if ((_connect(fd, a, a.length) as number) < 0) {
    const e = koffi.errno();
    close(fd);
    throw new SysError('connect', path, e);
  }
  return fd;
}

/** accept4(2): a non-blocking, close-on-exec connection, or -1 when none is waiting. */
export function unixAccept(fd: number): number {
  const c = _accept4(fd, null, null, K.SOCK_CLOEXEC | K.SOCK_NONBLOCK) as number;
  if (c >= 0) return c;
  const e = koffi.errno();
  if (e === K.EAGAIN || e === 4 /* EINTR */ || e === 103 /* ECONNABORTED */) return -1;
  throw new SysError('accept4', String(fd), e);
}

// ---- the per-thread scratch page: msghdr, iovec, control buffer, data ----
const SCRATCH = 65536;
const MSGHDR = 0, IOV = 64, CTRL = 128, CTRL_LEN = 512, DATA = 1024;
/** Largest payload one recvmsg/sendmsg here moves. */
export const MAX_MSG = SCRATCH - DATA;
let scratchAddr = 0;
let scratch: Buffer | null = null;

function page(): Buffer {
  if (scratch) return scratch;
  const p = _mmapAnon(null, SCRATCH, 3, K.MAP_PRIVATE | K.MAP_ANONYMOUS, -1, 0);
  const addr = koffi.address(p) as bigint;
  if (addr === 0xffffffffffffffffn || addr === 0n) fail('mmap', 'scratch page');
  scratchAddr = Number(addr);
  scratch = Buffer.from(koffi.view(p, SCRATCH) as ArrayBuffer);
  return scratch;
}

function writeAddr(b: Buffer, at: number, v: number): void {
  b.writeBigUInt64LE(BigInt(v), at);
}

function setupMsg(len: number, ctrlLen: number): Buffer {
  const b = page();
  b.fill(0, MSGHDR, IOV + 16);
  writeAddr(b, IOV, scratchAddr + DATA);
  writeAddr(b, IOV + 8, len);
  writeAddr(b, MSGHDR + 16, scratchAddr + IOV); // msg_iov
  writeAddr(b, MSGHDR + 24, 1); // msg_iovlen
  writeAddr(b, MSGHDR + 32, ctrlLen ? scratchAddr + CTRL : 0); // msg_control
  writeAddr(b, MSGHDR + 40, ctrlLen); // msg_controllen
  return b;
}

export interface Received {
  /** bytes received: 0 = the peer closed, -1 = nothing waiting (EAGAIN) */
  bytes: number;
  /** descriptors that came with them (close-on-exec), in order */
  fds: number[];
  /** the payload (a copy), `bytes` long */
  data: Buffer;
  /** the control data was cut (MSG_CTRUNC): some descriptors were lost */
  truncated: boolean;
}

/**
 * recvmsg(2) of at most `len` bytes and the descriptors (SCM_RIGHTS) that came with them.
 * `wait`: block until something comes (else EAGAIN gives bytes -1). Throws SysError otherwise.
 */
export function recvWithFds(fd: number, len: number, wait = false): Received {
  if (len > MAX_MSG) throw new SysError('recvmsg', `${len} bytes`, K.EINVAL);
  const b = setupMsg(len, CTRL_LEN);
  const r = Number(_recvmsg(fd, scratchAddr + MSGHDR, MSG_CMSG_CLOEXEC | (wait ? 0 : MSG_DONTWAIT)));
  if (r < 0) {
    const e = koffi.errno();
    if (e === K.EAGAIN || e === 4) return { bytes: -1, fds: [], data: Buffer.alloc(0), truncated: false };
    throw new SysError('recvmsg', String(fd), e);
  }
  const fds: number[] = [];
  const ctrlLen = Number(b.readBigUInt64LE(MSGHDR + 40));
  const flags = b.readInt32LE(MSGHDR + 48);
  // struct cmsghdr { size_t len; int level; int type; data... }, each aligned to 8
  let at = 0;
  while (at + 16 <= ctrlLen) {
    const clen = Number(b.readBigUInt64LE(CTRL + at));
    if (clen < 16 || at + clen > ctrlLen) break;
    const level = b.readInt32LE(CTRL + at + 8), type = b.readInt32LE(CTRL + at + 12);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let o = 16; o + 4 <= clen; o += 4) fds.push(b.readInt32LE(CTRL + at + o));
    }
    at += (clen + 7) & ~7;
  }
  return { bytes: r, fds, data: Buffer.from(b.subarray(DATA, DATA + r)), truncated: (flags & 0x8) !== 0 };
}

/** sendmsg(2) of `data` with descriptors `fds` (SCM_RIGHTS); blocks (the socket's mode). Returns bytes sent. */
export function sendWithFds(fd: number, data: Uint8Array, fds: readonly number[] = []): number {
  if (data.length > MAX_MSG) throw new SysError('sendmsg', `${data.length} bytes`, K.EINVAL);
  if (fds.length > MAX_FDS) throw new SysError('sendmsg', `${fds.length} descriptors`, K.EINVAL);
  const ctrlLen = fds.length ? (16 + 4 * fds.length + 7) & ~7 : 0;
  const b = setupMsg(data.length, ctrlLen);
  b.set(data, DATA);
  if (ctrlLen) {
    b.fill(0, CTRL, CTRL + ctrlLen);
    writeAddr(b, CTRL, 16 + 4 * fds.length);
    b.writeInt32LE(SOL_SOCKET, CTRL + 8);
    b.writeInt32LE(SCM_RIGHTS, CTRL + 12);
    fds.forEach((f, i) => b.writeInt32LE(f, CTRL + 16 + 4 * i));
  }
  const r = Number(_sendmsg(fd, scratchAddr + MSGHDR, MSG_NOSIGNAL));
  if (r < 0) fail('sendmsg', String(fd));
  return r;
}

/** An eventfd (non-blocking, close-on-exec), counter 0. */
export function eventfd(): number {
  const fd = _eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number;
  if (fd < 0) fail('eventfd', '');
  return fd;
}

/** Add 1 to an eventfd's counter (a kick or an interrupt): false if it failed (closed, full). */
export function eventfdSignal(fd: number): boolean {
  const b = page();
  b.writeUInt32LE(1, 8);
  b.writeUInt32LE(0, 12);
  return Number(_write(fd, scratchAddr + 8, 8)) === 8;
}

/** Read and reset an eventfd's counter: its value, 0 if it was 0 (EAGAIN), -errno on error. */
export function eventfdConsume(fd: number): number {
  const b = page();
  const r = Number(_read(fd, scratchAddr + 16, 8));
  if (r === 8) return b.readUInt32LE(16) + b.readUInt32LE(20) * 2 ** 32;
  const e = koffi.errno();
  return e === K.EAGAIN ? 0 : -e;
}

/** memfd_create(2) (close-on-exec): anonymous memory with an fd, for tests and front ends. */
export function memfdCreate(name: string): number {
  const fd = _memfdCreate(name, MFD_CLOEXEC) as number;
  if (fd < 0) fail('memfd_create', name);
  return fd;
}

export interface FdMapping { addr: bigint; buffer: ArrayBuffer; size: number }

/**
 * mmap(2) `size` bytes of fd from byte `offset` (a multiple of the page size), MAP_SHARED,
 * read-write, not prefaulted (a guest's memory may be large and mostly untouched).
 */
export function mmapFd(fd: number, size: number, offset: number, what: string): FdMapping {
  if (!Number.isSafeInteger(size) || size <= 0 || !Number.isSafeInteger(offset) || offset < 0 || offset % 4096 !== 0) {
    throw new SysError('mmap', `${what}: size ${size} offset ${offset}`, K.EINVAL);
  }
  const p = _mmap(null, size, 3, K.MAP_SHARED, fd, offset);
  const addr = koffi.address(p) as bigint;
  if (addr === 0xffffffffffffffffn || addr === 0n) fail('mmap', what);
  return { addr, buffer: koffi.view(p, size) as ArrayBuffer, size };
}
