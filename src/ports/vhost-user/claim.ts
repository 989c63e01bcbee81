// Who serves a VM port's socket: the daemon's port thread, or a program that opened netmap:NAME
// directly. The daemon makes the port (vale-ctl -n NAME --vhost-user PATH) and writes this small
// claim file, `<NMTS_SHM_DIR>/nmts.vm/NAME` (not an `nmts-` region file: region passes skip it);
// the opener and the daemon's thread hand the socket over through the state word in it, mapped
// shared by both (Atomics on a MAP_SHARED mapping work across processes):
//
//   FREE      the daemon's thread serves the socket (not attached)
//   ATTACHED  the daemon's thread serves it and the port is attached to a switch (CAS FREE->ATTACHED,
//             refused unless FREE: "open directly")
//   WANT      an opener asks for it (CAS FREE->WANT, refused when ATTACHED: "attached to valeX")
//   LENT      the thread let go (front end disconnected, socket removed); the opener listens on PATH
//
// The opener holds an exclusive flock on the file while it has the port: a second opener gets
// EBUSY, and the daemon's thread, once it can take the lock itself, knows the opener is gone (a
// process killed with SIGKILL included) and serves the socket again. The opener's close puts
// FREE back. `seq` moves at each change of state (a futex word the opener waits on).
//
// The file is untrusted input when read: opened without following links, a regular file of
// this user or root, its magic, version, state, kind and lengths checked.
import { closeSync, constants, fstatSync, lstatSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { ownSubdir, SHM_DIR } from '../../core/shm.js';
import { NetmapError } from '../../core/region.js';
import { flock, futexWait, futexWake, LOCK_EX, LOCK_NB, LOCK_UN, mmapShared, munmap, processAlive, replaceWithAnonymous } from '../../sys/libc.js';

export const CLAIM = { FREE: 0, ATTACHED: 1, WANT: 2, LENT: 3 } as const;
export type ClaimState = (typeof CLAIM)[keyof typeof CLAIM];
export type ClaimKind = 'vhost-user' | 'stream';

const MAGIC = 0x4d564d4e; // 'NMVM'
const VERSION = 1;
const SIZE = 512;
/** Int32 words. */
const W = { magic: 0, version: 1, state: 2, kind: 3, daemonPid: 4, openerPid: 5, pathLen: 6, swLen: 7, seq: 8 } as const;
const PATH_OFS = 64, PATH_MAX = 107, SW_OFS = 192, SW_MAX = 64;
const NAME = /^[A-Za-z0-9_.]{1,15}$/;

export function claimDir(): string {
  return `${SHM_DIR}/nmts.vm`;
}

export function claimPath(name: string): string {
  return `${claimDir()}/${name}`;
}

/** A VM port of that name has a claim file (made by a daemon): netmap:NAME opens it directly. */
export function vmPortExists(name: string): boolean {
  if (!NAME.test(name)) return false;
  try {
    return lstatSync(claimPath(name)).isFile();
  } catch {
    return false;
  }
}

/**
 * The daemon: write the claim file of a new port (one of a dead daemon is replaced). False,
 * with nothing written, when another live daemon has a port of that name: netmap:NAME is
 * that one's (a name is the opener's only handle), and this port is served for attaching only.
 */
export function writeClaim(name: string, kind: ClaimKind, socketPath: string): boolean {
  if (!NAME.test(name)) throw new NetmapError('EINVAL', `'${name}' is not a VM port name`);
  const p = Buffer.from(socketPath);
  if (p.length > PATH_MAX) throw new NetmapError('EINVAL', `socket path longer than ${PATH_MAX} bytes: ${socketPath}`);
  if (claimOwner(name) > 0) return false;
  ownSubdir(claimDir());
  const b = Buffer.alloc(SIZE);
  b.writeInt32LE(MAGIC, W.magic * 4);
  b.writeInt32LE(VERSION, W.version * 4);
  b.writeInt32LE(CLAIM.FREE, W.state * 4);
  b.writeInt32LE(kind === 'stream' ? 2 : 1, W.kind * 4);
  b.writeInt32LE(process.pid, W.daemonPid * 4);
  b.writeInt32LE(p.length, W.pathLen * 4);
  p.copy(b, PATH_OFS);
  const tmp = `${claimPath(name)}.${process.pid}.tmp`;
  try { unlinkSync(tmp); } catch { /* none left over */ }
  writeFileSync(tmp, b, { mode: 0o600, flag: 'wx' }); // (wx: never through a planted link)
  renameSync(tmp, claimPath(name)); // whole, at once: an opener never sees half a file
  return true;
}

/** The pid of another live daemon whose claim file `name` is, else 0. */
function claimOwner(name: string): number {
  let c: Claim;
  try { c = Claim.open(name); } catch { return 0; } // none, or unreadable: replaced
  const pid = c.daemonPid;
  c.close();
  return pid !== process.pid && processAlive(pid) ? pid : 0;
}

/** The daemon: the port is gone. */
export function removeClaim(name: string): void {
  let c: Claim;
  try { c = Claim.open(name); } catch { return; }
  const mine = c.daemonPid === process.pid;
  c.close();
  if (mine) try { unlinkSync(claimPath(name)); } catch { /* gone */ }
}

export class Claim {
  readonly name: string;
  readonly fd: number;
  readonly kind: ClaimKind;
  readonly socketPath: string;
  private readonly addr: bigint;
  private readonly w: Int32Array;
  private readonly u8: Uint8Array;
  private locked = false;
  private closed = false;
  private readonly ts = new BigInt64Array(2);

  private constructor(name: string, fd: number, addr: bigint, buffer: ArrayBuffer) {
    this.name = name;
    this.fd = fd;
    this.addr = addr;
    this.w = new Int32Array(buffer, 0, SIZE / 4);
    this.u8 = new Uint8Array(buffer, 0, SIZE);
    const w = this.w;
    const what = `${claimPath(name)}`;
    if (w[W.magic] !== MAGIC || w[W.version] !== VERSION) throw new NetmapError('EINVAL', `${what}: not a VM port claim file`);
    const kind = w[W.kind], len = w[W.pathLen];
    if (kind !== 1 && kind !== 2) throw new NetmapError('EINVAL', `${what}: kind ${kind}`);
    if (!(len > 1 && len <= PATH_MAX)) throw new NetmapError('EINVAL', `${what}: socket path length ${len}`);
    this.kind = kind === 2 ? 'stream' : 'vhost-user';
    this.socketPath = Buffer.from(this.u8.subarray(PATH_OFS, PATH_OFS + len)).toString();
    if (!this.socketPath.startsWith('/') || this.socketPath.includes('\0')) throw new NetmapError('EINVAL', `${what}: bad socket path`);
  }

  /** Map the claim file of port `name` (ENXIO when there is none). */
  static open(name: string): Claim {
    if (!NAME.test(name)) throw new NetmapError('EINVAL', `'${name}' is not a VM port name`);
    let fd: number;
    try {
      fd = openSync(claimPath(name), constants.O_RDWR | constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new NetmapError('ENXIO', `no VM port ${name}`);
      throw new NetmapError(code ?? 'EIO', `${claimPath(name)}: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      const st = fstatSync(fd);
      const uid = process.geteuid?.() ?? 0;
      if (!st.isFile() || st.size < SIZE || (st.uid !== uid && st.uid !== 0)) {
        throw new NetmapError('EPERM', `${claimPath(name)}: not a claim file of this user or root (size ${st.size}, owner ${st.uid})`);
      }
      const m = mmapShared(fd, SIZE, claimPath(name));
      try {
        return new Claim(name, fd, m.addr, m.buffer);
      } catch (e) {
        munmap(m.addr, SIZE);
        throw e;
      }
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  get state(): ClaimState {
    const s = Atomics.load(this.w, W.state);
    return s === CLAIM.ATTACHED || s === CLAIM.WANT || s === CLAIM.LENT ? s : CLAIM.FREE;
  }

  get daemonPid(): number { return Atomics.load(this.w, W.daemonPid); }
  get openerPid(): number { return Atomics.load(this.w, W.openerPid); }

  /** The switch the daemon's thread attached the port to ('' when none or unreadable). */
  get switchName(): string {
    const n = Atomics.load(this.w, W.swLen);
    if (!(n > 0 && n <= SW_MAX)) return '';
    return Buffer.from(this.u8.subarray(SW_OFS, SW_OFS + n)).toString().replace(/[^A-Za-z0-9_.:-]/g, '?');
  }

  /** Move from `from` to `to`; false (nothing changed) when the state was not `from`. */
  cas(from: ClaimState, to: ClaimState): boolean {
    if (Atomics.compareExchange(this.w, W.state, from, to) !== from) return false;
    this.bump();
    return true;
  }

  set(to: ClaimState): void {
    Atomics.store(this.w, W.state, to);
    this.bump();
  }

  private bump(): void {
    Atomics.add(this.w, W.seq, 1);
    futexWake(this.addr + BigInt(W.seq * 4), 64);
  }

  setSwitch(sw: string): void {
    const b = Buffer.from(sw).subarray(0, SW_MAX);
    this.u8.set(b, SW_OFS);
    Atomics.store(this.w, W.swLen, b.length);
  }

  setOpener(pid: number): void {
    Atomics.store(this.w, W.openerPid, pid);
  }

  /** Wait until the state is `want` (true) or `ms` pass (false). */
  waitFor(want: ClaimState, ms: number): boolean {
    const end = performance.now() + ms;
    for (;;) {
      const seq = Atomics.load(this.w, W.seq);
      if (this.state === want) return true;
      const left = end - performance.now();
      if (left <= 0) return false;
      futexWait(this.addr + BigInt(W.seq * 4), seq, Math.min(left, 50), this.ts);
    }
  }

  /** The exclusive lock of the opener (non-blocking): false when another holder has it. */
  tryLock(): boolean {
    if (this.locked) return true;
    this.locked = flock(this.fd, LOCK_EX | LOCK_NB);
    return this.locked;
  }

  unlock(): void {
    if (!this.locked) return;
    this.locked = false;
    try { flock(this.fd, LOCK_UN); } catch { /* closing anyway */ }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unlock();
    try { replaceWithAnonymous(this.addr, 4096); } catch { /* gone */ } // a stale view reads zeros
    try { closeSync(this.fd); } catch { /* gone */ }
  }
}
