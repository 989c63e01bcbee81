// Regions in shared files, so that several processes (and every thread of each) see the
// same switches and pipes: `/dev/shm/nmts-<key>`, one file per switch or pipe parent, mapped
// MAP_SHARED by everyone who opens a name in it. The file is sparse: only the pages that
// rings and buffers touch use memory. The first opener creates and formats it (O_EXCL
// settles races); the last record to go retires it: the header's `dead` flag is set under
// the config lock and the file unlinked, so an opener that mapped it just before sees the
// flag and starts over with a new file.
//
// Every file in the directory is untrusted input (any local user may plant one in a shared
// /dev/shm): only regular files are opened (O_NOFOLLOW, fstat), owned by this user or root
// unless the directory is private; the header is read and checked against the file size
// before anything is mapped; a mapping that fails a check is unmapped at once; a cached
// mapping is used again only after checking that the file was not truncated meanwhile.
// Passes over every file (reclaimAll, listings) bound their wait for each file's config lock
// and report the files they skipped, with the reason.
import { closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { close, flock, ftruncate, fchmod, LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN, mmapShared, munmap, replaceWithAnonymous, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDWR, open, SysError, unlink } from '../sys/libc.js';
import { DirType, REGION_HEADER_SIZE, RH } from './layout.js';
import { dirNames } from './dir-names.js';
import { parseSize } from './memory.js';
import { checkHeader, NetmapError, Region } from './region.js';
import { reclaimDead } from './records.js';

export const SHM_DIR = process.env.NMTS_SHM_DIR ?? '/dev/shm';
export const SHM_PREFIX = 'nmts-';
const DEFAULT_SIZE = 1 << 30;

const mapped = new Map<string, Region>(); // by path, per thread

const SAFE_CHAR = /[A-Za-z0-9_.:{}-]/;

/**
 * A key as it appears in a file name: characters outside [A-Za-z0-9_.:{}-] become %xx (code
 * units up to 0xff, as always) or %uxxxx (above), so the mapping is one-to-one and reversible.
 */
export function escapeKey(key: string): string {
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const ch = key[i], c = key.charCodeAt(i);
    if (SAFE_CHAR.test(ch)) out += ch;
    else if (c < 0x100) out += `%${c.toString(16).padStart(2, '0')}`;
    else out += `%u${c.toString(16).padStart(4, '0')}`;
  }
  return out;
}

/** File name for a region key ('vale0', 'pipe.x'). */
export function regionPath(key: string): string {
  return `${SHM_DIR}/${SHM_PREFIX}${escapeKey(key)}`;
}

/** The key of a region file name, or null if the name is not one regionPath() makes. */
export function regionKey(fileName: string): string | null {
  if (!fileName.startsWith(SHM_PREFIX)) return null;
  const enc = fileName.slice(SHM_PREFIX.length);
  if (enc === '') return null;
  const key = enc.replace(/%u([0-9a-f]{4})|%([0-9a-f]{2})/g, (_, u: string | undefined, h: string | undefined) => String.fromCharCode(parseInt(u ?? h!, 16)));
  return escapeKey(key) === enc ? key : null;
}

function fileMode(): number {
  const env = process.env.NMTS_MODE;
  if (env === undefined || env === '') return 0o660;
  if (!/^0?[0-7]{3}$/.test(env)) throw new NetmapError('EINVAL', `NMTS_MODE=${env}: expected an octal file mode such as 0660`);
  return parseInt(env, 8);
}

function regionSize(): number {
  const env = process.env.NMTS_MEMORY;
  const n = env ? parseSize(env) : DEFAULT_SIZE;
  if (n < 8 << 20 || n > 4095 * (1 << 20)) throw new NetmapError('EINVAL', `NMTS_MEMORY=${env}: must be between 8m and 4095m`);
  return n;
}

/** netmap-style memory id for a region key: stable across processes, 2..65535. */
function memIdOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return 2 + ((h >>> 0) % 65534);
}

function explainAccess(path: string, e: SysError): NetmapError {
  let who = '';
  try {
    const st = statSync(path);
    who = ` (owner uid ${st.uid}, group gid ${st.gid}, mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`;
  } catch { /* gone meanwhile */ }
  return new NetmapError('EACCES', `permission denied: ${path}${who}: ${e.message}; this user may not use the switch or pipe stored there (its creator can grant access through the file's group: NMTS_MODE=0660 and a shared group)`);
}

export interface SharedRegionOptions {
  /** Create the file if missing (default true). */
  create?: boolean;
  /** File mode when creating (default NMTS_MODE or 0660). */
  mode?: number;
}

/**
 * Make (or check) a directory of ours inside the shm directory (VXLAN configs, VM claims): it
 * must be a real directory (not a symlink), owned by this user or root, that no one else may
 * write — in a directory anyone may write, another user could have made it first and then
 * planted files there, or replaced ours. EPERM naming what is wrong otherwise.
 */
export function ownSubdir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o755 });
  const st = lstatSync(path), me = process.geteuid?.() ?? 0;
  let why = '';
  if (st.isSymbolicLink() || !st.isDirectory()) why = 'not a directory (a symlink or a file)';
  else if (st.uid !== me && st.uid !== 0) why = `owned by uid ${st.uid}, neither this user (uid ${me}) nor root`;
  else if ((st.mode & 0o022) !== 0) why = `writable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`;
  if (why) throw new NetmapError('EPERM', `${path}: ${why}: another user may have made it; remove it (rm -r ${path}) and try again`);
}

/** What openOwnedFile gives: the descriptor and size, or why not. */
export type OwnedFile = { ok: true; fd: number; size: number } | { ok: false; code: string; message: string; notOwn: boolean };

/**
 * Open a file of one of our shm subdirectories (ownSubdir) as untrusted input: never through
 * a symlink (O_NOFOLLOW), never waiting on a FIFO (O_NONBLOCK), and kept only when it is a
 * regular file of this user or root. `flags` and `mode` as for open(2); on failure, the open's
 * code and message, or notOwn (closed again) when the file is not one to use.
 */
export function openOwnedFile(path: string, flags: number, mode = 0o644): OwnedFile {
  let fd: number;
  try {
    fd = openSync(path, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, code: code && /^E[A-Z0-9]+$/.test(code) ? code : 'EIO', message: (e as Error).message, notOwn: false };
  }
  const st = fstatSync(fd), me = process.geteuid?.() ?? 0;
  if (!st.isFile() || (st.uid !== me && st.uid !== 0)) {
    closeSync(fd);
    return { ok: false, code: 'EPERM', message: `${path}: not a regular file of this user or root`, notOwn: true };
  }
  return { ok: true, fd, size: st.size };
}

/** True when anyone (not only the owner and group) may create files in the shm directory. */
function dirIsShared(): boolean {
  try { return (statSync(SHM_DIR).mode & 0o002) !== 0; } catch { return true; }
}

/** Why an existing file may not be used as a region, or null. */
function distrust(st: Stats): string | null {
  if (st.isDirectory()) return 'a directory, not a region file';
  if (!st.isFile()) return 'not a regular file';
  const me = process.geteuid?.() ?? 0;
  if (st.uid === me || st.uid === 0 || !dirIsShared()) return null;
  return `owned by uid ${st.uid}, neither this user (uid ${me}) nor root, in ${SHM_DIR}, where anyone may create files (to share switches between users, point NMTS_SHM_DIR to a directory only they can write)`;
}

/** Longest wait for a creator that is formatting a file (it holds an flock meanwhile). */
const CREATOR_WAIT_MS = 1000;

/**
 * The header of an existing file, checked against its size. A file without a header is
 * waited for only while its creator formats it: the creator holds an exclusive flock from
 * just after O_EXCL until the magic is stored, so a file nobody is formatting (planted,
 * zeroed, abandoned by a creator that died) is refused at once.
 */
function readHeader(fd: number, path: string): { size: number } | 'retry' {
  const hdr = new Uint32Array(REGION_HEADER_SIZE / 4);
  const bytes = new Uint8Array(hdr.buffer);
  const start = Date.now();
  for (let i = 0; ; i++) {
    const st = fstatSync(fd);
    const n = st.size >= REGION_HEADER_SIZE ? readSync(fd, bytes, 0, REGION_HEADER_SIZE, 0) : 0;
    if (n === REGION_HEADER_SIZE && Atomics.load(hdr, RH.magic >> 2) !== 0) {
      const h = checkHeader(hdr, st.size);
      if (typeof h === 'string') throw new NetmapError('EINVAL', `${path}: not a usable netmap-ts region: ${h}`);
      return { size: h.size };
    }
    const formatting = !flock(fd, LOCK_SH | LOCK_NB);
    if (!formatting) flock(fd, LOCK_UN);
    // an empty file may be one whose creator has not taken its flock yet (microseconds)
    const waitable = formatting || (st.size === 0 && i < 5);
    if (!waitable || Date.now() - start > CREATOR_WAIT_MS) {
      throw new NetmapError('EINVAL', `${path}: not a usable netmap-ts region: ${st.size < REGION_HEADER_SIZE ? `${st.size} bytes` : 'no magic'}, and nobody is creating it`);
    }
    if (st.size === 0 && i >= 50) return 'retry'; // let the caller start over
    sleepMs(1);
  }
}

/** Throw (and stop using the mapping) if the file behind a cached region was truncated. */
function checkFileSize(region: Region): void {
  if (region.fd < 0 || region.unmapped) return;
  const size = fstatSync(region.fd).size;
  if (size >= region.size) return;
  // touching the missing pages would kill this process with SIGBUS: zero pages instead
  dropMapping(region, true);
  throw new NetmapError('EIO', `${region.path}: the file was truncated to ${size} bytes while mapped (the region has ${region.size}); it is no longer used`);
}

/** Map the region of `key` (creating it if needed); cached per thread. */
export function openSharedRegion(key: string, opts: SharedRegionOptions = {}): Region {
  const path = regionPath(key);
  const cached = mapped.get(path);
  if (cached) {
    if (!cached.dead) {
      checkFileSize(cached);
      return cached;
    }
    forgetRegion(cached); // retired by someone else: map the name again
  }
  const mode = opts.mode ?? fileMode();
  const size = regionSize(); // before creating anything: a bad setting must leave no file
  let deadSeen = 0;
  for (let attempt = 0; attempt < 200; attempt++) {
    let fd: number, creator = false;
    try {
      fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK);
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      if (e.code === 'EACCES') throw explainAccess(path, e);
      if (e.code === 'ELOOP') throw new NetmapError('EPERM', `${path}: a symbolic link, not followed`);
      if (e.code === 'EISDIR') throw new NetmapError('EPERM', `${path}: a directory, not a region file`);
      if (e.code !== 'ENOENT') throw new NetmapError(e.code, `${path}: ${e.message}`);
      if (opts.create === false) throw new NetmapError('ENOENT', `${key}: does not exist (no ${path})`);
      try {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL, mode);
        creator = true;
      } catch (e2) {
        if (e2 instanceof SysError && e2.code === 'EEXIST') continue; // lost the race: open theirs
        if (e2 instanceof SysError && e2.code === 'EACCES') throw explainAccess(path, e2);
        throw e2;
      }
    }
    let m: { addr: bigint; buffer: ArrayBuffer } | null = null, mapSize = 0;
    try {
      let region: Region;
      if (creator) {
        try {
          flock(fd, LOCK_EX); // "being formatted" (see readHeader)
          fchmod(fd, mode); // the umask must not narrow what the user asked for
          ftruncate(fd, size);
          m = mmapShared(fd, size, path);
          mapSize = size;
          region = Region.format(m.buffer, { size, memId: memIdOf(key) }, m.addr);
          flock(fd, LOCK_UN);
        } catch (e) {
          try { unlink(path); } catch { /* already gone */ }
          throw e;
        }
      } else {
        const bad = distrust(fstatSync(fd));
        if (bad) throw new NetmapError('EPERM', `${path}: ${bad}; not opened`);
        const h = readHeader(fd, path);
        if (h === 'retry') continue;
        m = mmapShared(fd, h.size, path);
        mapSize = h.size;
        region = Region.attach(m.buffer, m.addr); // checks the header again, in the mapping
      }
      if (region.dead) { // retired just now (or marked dead and left there): start over
        munmap(m.addr, mapSize);
        m = null;
        const stays = existsSync(path);
        if (stays && (opts.create === false || ++deadSeen > 20)) throw new NetmapError('EAGAIN', `${path}: the region is marked retired (dead) but its file is still there`);
        if (!stays && opts.create === false) throw new NetmapError('ENOENT', `${key}: does not exist (no ${path})`);
        sleepMs(1);
        continue;
      }
      region.path = path;
      region.fd = fd;
      fd = -1; // kept open with the mapping
      m = null;
      mapped.set(path, region);
      return region;
    } catch (e) {
      if (m) munmap(m.addr, mapSize);
      throw e;
    } finally {
      if (fd >= 0) close(fd);
    }
  }
  throw new NetmapError('EAGAIN', `${path}: could not open the region (it kept being created and retired)`);
}

/**
 * Retire a shared region that holds nothing any more (config lock held). The caller
 * unlocks, then calls forgetRegion(): the unlock must reach the shared file, not zero pages.
 */
export function retireRegion(region: Region): boolean {
  if (!region.path) return false;
  // Unlink first: in a sticky /dev/shm only the file's owner (or root) may, and a region
  // that stays must not be marked dead. New openers create a new file from now on; those
  // that mapped this one see `dead` once they hold the config lock.
  try {
    unlink(region.path);
  } catch (e) {
    if (!(e instanceof SysError && e.code === 'ENOENT')) {
      if (e instanceof SysError && (e.code === 'EPERM' || e.code === 'EACCES')) return false;
      throw e;
    }
  }
  Atomics.store(region.u32, RH.dead >> 2, 1);
  if (mapped.get(region.path) === region) mapped.delete(region.path); // never locked through the cache again
  return true;
}

/**
 * Forget a cached mapping (after seeing it dead, config lock not held). The mapping itself
 * is released once no port of this thread uses it any more (see releaseMapping).
 */
export function forgetRegion(region: Region): void {
  if (mapped.get(region.path) === region) mapped.delete(region.path);
  releaseMapping(region);
}

/**
 * Release the shared pages of a region that is neither cached nor used by a port of this
 * thread. A region a port of this thread used keeps its address range (zero pages): a Ring
 * or view the program still holds must never point at unmapped memory. One no port used
 * (mapped by a listing or a reclaim pass) is unmapped.
 */
export function releaseMapping(region: Region): void {
  if (region.addr === 0n || region.ports > 0 || mapped.get(region.path) === region || region.unmapped) return;
  dropMapping(region, region.hadPorts);
}

function dropMapping(region: Region, keepRange: boolean): void {
  if (region.unmapped || region.addr === 0n) return;
  region.unmapped = true;
  if (mapped.get(region.path) === region) mapped.delete(region.path);
  if (keepRange) replaceWithAnonymous(region.addr, region.size);
  else munmap(region.addr, region.size);
  if (region.fd >= 0) {
    try { close(region.fd); } catch { /* already closed */ }
    region.fd = -1;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** A file a pass over the shm directory did not visit, and why. */
export interface SkippedFile { file: string; reason: string; code: string }

export interface ReclaimReport {
  /** Openers of dead threads and processes released. */
  openers: number;
  /** Ports destroyed because their last opener was dead. */
  ports: string[];
  /** Region keys whose files were removed (left empty). */
  retired: string[];
  /** Files not visited: not ours to trust, unreadable, damaged, or locked too long. */
  skipped: SkippedFile[];
  /** Damaged records found (and skipped) in the files visited. */
  problems: string[];
}

export interface ReclaimOptions {
  /** Longest wait for a file's config lock held by a live task (default 200 ms; 0: try once). */
  lockWaitMs?: number;
  /** Called for every live region, config lock held, after its reclaim (listings). */
  visit?: (region: Region, key: string, problems: string[]) => void;
  /** Visit only the keys this accepts (default: all). */
  filter?: (key: string) => boolean;
}

/** Default bound on the wait for one file's config lock in a pass over all files. */
export const PASS_LOCK_WAIT_MS = 200;


/**
 * The regions of the shm directory, in name order, for a pass over all of them: each opened
 * (never created) as it is reached. Files that are not ours or that `want` declines are passed
 * over, files retired meanwhile are left out, and files this user may not use are added to
 * `skipped` with the reason. Used by reclaimAll and the metrics reader.
 */
export function* regionsInDir(skipped: SkippedFile[], want?: (key: string) => boolean): Generator<{ key: string; file: string; region: Region }> {
  let names: readonly string[] = [];
  try { names = dirNames(SHM_DIR); } catch { return; } // listed again only when the directory changed

  for (const f of names) {
    const key = regionKey(f);
    if (key === null || (want && !want(key))) continue;
    const file = `${SHM_DIR}/${f}`;
    let region: Region;
    try {
      region = openSharedRegion(key, { create: false });
    } catch (e) {
      if (e instanceof NetmapError && e.code === 'ENOENT') continue; // gone meanwhile
      if (!(e instanceof NetmapError || e instanceof SysError)) throw e;
      skipped.push({ file, reason: e.message, code: e.code });
      continue;
    }
    yield { key, file, region };
  }
}

/**
 * Visit every region file: reclaim the ports of dead threads and processes, and retire a
 * region left empty (its file is unlinked). A file that cannot be trusted or opened, or whose
 * config lock a live task holds longer than `lockWaitMs`, is skipped and reported.
 */
export function reclaimAll(alive: (tid: number) => boolean, opts: ReclaimOptions = {}): ReclaimReport {
  const report: ReclaimReport = { openers: 0, ports: [], retired: [], skipped: [], problems: [] };
  const waitMs = opts.lockWaitMs ?? PASS_LOCK_WAIT_MS;
  for (const { key, file, region } of regionsInDir(report.skipped, opts.filter)) {
    const owner = region.tryLockConfig(waitMs);
    if (owner !== 0) {
      report.skipped.push({ file, reason: `config lock held by live task ${owner} for more than ${waitMs} ms; skipped this time`, code: 'ETIMEDOUT' });
      continue;
    }
    try {
      if (region.dead) continue;
      const problems: string[] = [];
      const before = region.dirList(DirType.Port).map(([n]) => n);
      const n = reclaimDead(region, alive, problems);
      report.openers += n;
      // ports gone in this pass: those of dead openers, and orphans (no opener, no reference)
      const after = new Set(region.dirList(DirType.Port).map(([p]) => p));
      const gone = before.filter((p) => !after.has(p));
      report.ports.push(...gone);
      if ((n > 0 || gone.length > 0) && region.dirCount() === 0 && retireRegion(region)) report.retired.push(key);
      else opts.visit?.(region, key, problems);
      report.problems.push(...problems);
    } catch (e) {
      if (!(e instanceof NetmapError)) throw e;
      report.skipped.push({ file, reason: e.message, code: e.code });
    } finally {
      region.unlockConfig();
    }
    if (region.dead) forgetRegion(region);
  }
  return report;
}
