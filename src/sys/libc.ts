// Thin bindings to the libc calls netmap-ts needs, through koffi (no native code to build).
// Every failing call throws a SysError that names the call, its subject and errno.
// One FFI call costs ~0.3-0.5 µs, so callers make at most one per batch, never per packet.
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

export class SysError extends Error {
  readonly call: string;
  readonly errno: number;
  readonly code: string;
  constructor(call: string, subject: string, errno: number) {
    const code = ERRNO_NAMES[errno] ?? `E${errno}`;
    super(`${call}(${subject}): ${code} (${strerror(errno)})`);
    this.name = 'SysError';
    this.call = call;
    this.errno = errno;
    this.code = code;
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES',
  16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 24: 'EMFILE', 28: 'ENOSPC', 95: 'EOPNOTSUPP',
  98: 'EADDRINUSE', 100: 'ENETDOWN', 105: 'ENOBUFS', 110: 'ETIMEDOUT', 111: 'ECONNREFUSED',
};

const _strerror = libc.func('const char *strerror(int)');
export function strerror(errno: number): string {
  return _strerror(errno) as string;
}

export function errno(): number {
  return koffi.errno();
}

const _open = libc.func('int open(const char *, int, uint32_t)');
const _close = libc.func('int close(int)');
const _ftruncate = libc.func('int ftruncate(int, int64_t)');
const _fchmod = libc.func('int fchmod(int, uint32_t)');
const _mmap = libc.func('void *mmap(void *, size_t, int, int, int, int64_t)');
const _munmap = libc.func('int munmap(void *, size_t)');
const _unlink = libc.func('int unlink(const char *)');
const _flock = libc.func('int flock(int, int)');
const _kill = libc.func('int kill(int, int)');
const _getpid = libc.func('int getpid()');
// syscall(2) declared with fixed integer arguments: fine on x86-64 and arm64 (arguments in
// registers), and usable with koffi's .async(), which variadic functions are not.
const _syscall6 = libc.func('long syscall(long, uint64_t, long, long, uint64_t, uint64_t, long)');
// the same, with the 4th argument a pointer koffi pins for the call (futex's timeout)
const _syscallPtr = libc.func('long syscall(long, uint64_t, long, long, void *, uint64_t, long)');

export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_CLOEXEC = 0o2000000;
export const O_NONBLOCK = 0o4000;
/** Refuse a symbolic link as the last path component (its value differs on arm64). */
export const O_NOFOLLOW = process.arch === 'arm64' || process.arch === 'arm' ? 0o100000 : 0o400000;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 1;
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

const SYS_futex = process.arch === 'arm64' ? 98 : 202;
const SYS_gettid = process.arch === 'arm64' ? 178 : 186;
const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;
export const ETIMEDOUT = 110;
export const EAGAIN = 11;
export const EINTR = 4;
export const ESRCH = 3;

function check(ret: number, call: string, subject: string): number {
  if (ret < 0) throw new SysError(call, subject, koffi.errno());
  return ret;
}

export function open(path: string, flags: number, mode = 0o600): number {
  return check(_open(path, flags | O_CLOEXEC, mode) as number, 'open', path);
}

export function close(fd: number): void {
  check(_close(fd) as number, 'close', String(fd));
}

export function ftruncate(fd: number, size: number): void {
  check(_ftruncate(fd, size) as number, 'ftruncate', String(fd));
}

export function fchmod(fd: number, mode: number): void {
  check(_fchmod(fd, mode) as number, 'fchmod', String(fd));
}

export function unlink(path: string): void {
  check(_unlink(path) as number, 'unlink', path);
}

/** flock(); with LOCK_NB returns false instead of throwing when the lock is held. */
export function flock(fd: number, op: number): boolean {
  const r = _flock(fd, op) as number;
  if (r < 0) {
    const e = koffi.errno();
    if (e === 11 && op & LOCK_NB) return false;
    throw new SysError('flock', String(fd), e);
  }
  return true;
}

/** A shared mapping of `size` bytes of fd; returns its address and an ArrayBuffer over it. */
export function mmapShared(fd: number, size: number, what: string): { addr: bigint; buffer: ArrayBuffer } {
  const p = _mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const addr = koffi.address(p) as bigint;
  if (addr === 0xffffffffffffffffn || addr === 0n) throw new SysError('mmap', what, koffi.errno());
  return { addr, buffer: koffi.view(p, size) as ArrayBuffer };
}

const _mmapFixed = libc.func('void *mmap(uint64_t, size_t, int, int, int, int64_t)');
const MAP_PRIVATE = 0x02, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;

/**
 * Replace a mapping, in place, with private zero pages that cost nothing until written.
 * The shared pages are released, but the addresses stay valid, so a stale view of the old
 * mapping reads zeros instead of crashing the process.
 */
export function replaceWithAnonymous(addr: bigint, size: number): void {
  const p = _mmapFixed(addr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if ((koffi.address(p) as bigint) !== addr) throw new SysError('mmap', `MAP_FIXED 0x${addr.toString(16)}`, koffi.errno());
}

export function munmap(addr: bigint, size: number): void {
  check(_munmap(addr as unknown as object, size) as number, 'munmap', `0x${addr.toString(16)}`);
}

/** True if process `pid` exists (kill(pid, 0): ESRCH means it does not). */
export function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  if ((_kill(pid, 0) as number) === 0) return true;
  return koffi.errno() !== ESRCH; // EPERM: exists, owned by someone else
}

export function getpid(): number {
  return _getpid() as number;
}

export function gettid(): number {
  return Number(_syscall6(SYS_gettid, 0n, 0, 0, 0n, 0n, 0));
}

/** futexWait() run on koffi's thread pool: resolves true when woken, false on timeout. */
export function futexWaitAsync(addr: bigint, value: number, timeoutMs: number): Promise<boolean> {
  const ts = new BigInt64Array(2);
  if (timeoutMs >= 0) {
    const ns = Math.round(timeoutMs * 1e6);
    ts[0] = BigInt(Math.floor(ns / 1e9));
    ts[1] = BigInt(ns % 1e9);
  }
  const start = performance.now();
  return new Promise((resolve, reject) => {
    _syscallPtr.async(SYS_futex, addr, FUTEX_WAIT, value | 0, timeoutMs >= 0 ? ts : null, 0n, 0, (err: unknown, r: number | bigint) => {
      if (err) return reject(err);
      // The call ran on a pool thread: its errno is not this thread's (koffi.errno() here would
      // read the main thread's). Woken (0), or -1: the word changed (EAGAIN), a signal (EINTR)
      // or the timeout (ETIMEDOUT), told apart by the time elapsed.
      resolve(Number(r) === 0 || timeoutMs < 0 || performance.now() - start < timeoutMs);
    });
  });
}

/**
 * FUTEX_WAIT on the 32-bit word at `addr` while it holds `value`, for at most timeoutMs
 * (< 0: forever). Shared (not private) futex: works between processes mapping the same file.
 * Returns false on timeout.
 */
export function futexWait(addr: bigint, value: number, timeoutMs: number, ts: BigInt64Array): boolean {
  if (timeoutMs >= 0) {
    const ns = Math.round(timeoutMs * 1e6);
    ts[0] = BigInt(Math.floor(ns / 1e9));
    ts[1] = BigInt(ns % 1e9);
  }
  const r = Number(_syscallPtr(SYS_futex, addr, FUTEX_WAIT, value | 0, timeoutMs >= 0 ? ts : null, 0n, 0));
  if (r === 0) return true;
  const e = koffi.errno();
  if (e === ETIMEDOUT) return false;
  if (e === EAGAIN || e === EINTR) return true; // value changed, or a signal: re-check
  throw new SysError('futex', 'FUTEX_WAIT', e);
}

// futex_waitv(2) (Linux 5.16): one sleep on several words; the same number on x86-64 and arm64
const SYS_futex_waitv = 449;
const FUTEX2_SIZE_U32 = 0x02;
const _syscallWaitv = libc.func('long syscall(long, void *, long, long, void *, long)');
const CLOCK_MONOTONIC = 1;
const ENOSYS = 38;
/** Bytes of one struct futex_waitv: value (u64), address (u64), flags (u32), reserved (u32). */
export const FUTEX_WAITV_SIZE = 24;
let waitvMissing = false;

/** Whether futex_waitv(2) is there (false after it answered ENOSYS: a kernel before 5.16). */
export function futexWaitvAvailable(): boolean {
  return !waitvMissing;
}

/**
 * Fill entry i of a futex_waitv vector (a BigUint64Array of 3 words per entry): sleep while the
 * shared (not process-private) 32-bit word at addr holds value.
 */
export function futexWaitvEntry(vec: BigUint64Array, i: number, addr: bigint, value: number): void {
  vec[3 * i] = BigInt(value >>> 0);
  vec[3 * i + 1] = addr;
  vec[3 * i + 2] = BigInt(FUTEX2_SIZE_U32);
}

/**
 * Sleep until any of the n words of `vec` is woken, one no longer holds its value, or
 * timeoutMs passes (< 0: forever); `ts` holds the deadline (CLOCK_MONOTONIC, which libuv's
 * hrtime reads too). Returns false on a timeout, true otherwise (re-check the words); throws
 * ENOSYS on a kernel without futex_waitv (futexWaitvAvailable() is false from then on).
 */
export function futexWaitv(vec: BigUint64Array, n: number, timeoutMs: number, ts: BigInt64Array): boolean {
  if (timeoutMs >= 0) {
    const at = process.hrtime.bigint() + BigInt(Math.round(timeoutMs * 1e6));
    ts[0] = at / 1_000_000_000n;
    ts[1] = at % 1_000_000_000n;
  }
  const r = Number(_syscallWaitv(SYS_futex_waitv, vec, n, 0, timeoutMs >= 0 ? ts : null, CLOCK_MONOTONIC));
  if (r >= 0) return true;
  const e = koffi.errno();
  if (e === ETIMEDOUT) return false;
  if (e === EAGAIN || e === EINTR) return true; // a word changed, or a signal: re-check
  if (e === ENOSYS) waitvMissing = true;
  throw new SysError('futex_waitv', `${n} words`, e);
}

/** FUTEX_WAKE up to `count` waiters of the word at `addr`. */
export function futexWake(addr: bigint, count: number): number {
  return Number(_syscall6(SYS_futex, addr, FUTEX_WAKE, count, 0n, 0n, 0));
}

const _getsockopt = libc.func('int getsockopt(int, int, int, void *, _Inout_ uint32_t *)');
koffi.struct('nmts_group', { gr_name: 'char *', gr_passwd: 'char *', gr_gid: 'uint32_t', gr_mem: 'void *' });
const _getgrnam = libc.func('nmts_group *getgrnam(const char *)');
const SOL_SOCKET = 1, SO_PEERCRED = 17;

/** SO_PEERCRED of a connected Unix socket: who connected; null if unavailable. */
export function peerCredentials(fd: number): { pid: number; uid: number; gid: number } | null {
  const buf = Buffer.alloc(12);
  const len = [12];
  if ((_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf, len) as number) !== 0 || len[0] < 12) return null;
  return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
}

/** The gid of a group name, or null if there is no such group. */
export function groupId(name: string): number | null {
  const p = _getgrnam(name);
  return p ? (koffi.decode(p, 'nmts_group') as { gr_gid: number }).gr_gid : null;
}

// ---------------------------------------------------------------- dropping privileges (capture -Z)
koffi.struct('nmts_passwd', {
  pw_name: 'char *', pw_passwd: 'char *', pw_uid: 'uint32_t', pw_gid: 'uint32_t', pw_gecos: 'char *', pw_dir: 'char *', pw_shell: 'char *',
});
const _getpwnam = libc.func('nmts_passwd *getpwnam(const char *)');
const _initgroups = libc.func('int initgroups(const char *, uint32_t)');
const _setgid = libc.func('int setgid(uint32_t)');
const _setuid = libc.func('int setuid(uint32_t)');
const _getuid = libc.func('uint32_t getuid()');
const _geteuid = libc.func('uint32_t geteuid()');
const _getgid = libc.func('uint32_t getgid()');

/** uid and primary gid of a user name (or a numeric uid), or null if there is no such user. */
export function userIds(name: string): { uid: number; gid: number } | null {
  const p = _getpwnam(name);
  if (p) {
    const pw = koffi.decode(p, 'nmts_passwd') as { pw_uid: number; pw_gid: number };
    return { uid: pw.pw_uid, gid: pw.pw_gid };
  }
  return null;
}

/**
 * Become `user` for good, as tcpdump -Z does: its supplementary groups (initgroups), its
 * primary group, then its uid (in that order: after setuid the others are no longer
 * allowed). glibc applies each to every thread of the process. Throws SysError naming the
 * call that failed, and checks afterwards that uid and euid both changed.
 */
export function dropPrivileges(user: string): { uid: number; gid: number } {
  const ids = userIds(user);
  if (ids === null) throw new SysError('getpwnam', user, 2);
  if ((_initgroups(user, ids.gid) as number) !== 0) throw new SysError('initgroups', user, koffi.errno());
  if ((_setgid(ids.gid) as number) !== 0) throw new SysError('setgid', String(ids.gid), koffi.errno());
  if ((_setuid(ids.uid) as number) !== 0) throw new SysError('setuid', String(ids.uid), koffi.errno());
  if ((_getuid() as number) !== ids.uid || (_geteuid() as number) !== ids.uid || (_getgid() as number) !== ids.gid) {
    throw new SysError('setuid', `${user}: ids did not change`, 1);
  }
  return ids;
}
