// Regions in shared files, so that several processes (and every thread of each) see the
// same switches and pipes: `/dev/shm/nmts-<key>`, one file per switch or pipe parent, mapped
// MAP_SHARED by everyone who opens a name in it. The file is sparse: only the pages that
// rings and buffers touch use memory. The first opener creates and formats it (O_EXCL
// settles races); the last record to go retires it: the header's `dead` flag is set under
// the config lock and the file unlinked, so an opener that mapped it just before sees the
// flag and starts over with a new file.
import { fstatSync, readdirSync, statSync } from 'node:fs';
import { close, ftruncate, fchmod, mmapShared, replaceWithAnonymous, O_CREAT, O_EXCL, O_RDWR, open, SysError, unlink } from '../sys/libc.js';
import { DirType, REGION_MAGIC, RH } from './layout.js';
import { parseSize } from './memory.js';
import { NetmapError, Region } from './region.js';
import { reclaimDead } from './records.js';

export const SHM_DIR = process.env.NMTS_SHM_DIR ?? '/dev/shm';
export const SHM_PREFIX = 'nmts-';
const DEFAULT_SIZE = 1 << 30;

const mapped = new Map<string, Region>(); // by path, per thread

/** File name for a region key ('vale0', 'pipe.x'); unusual characters are %-escaped. */
export function regionPath(key: string): string {
  return `${SHM_DIR}/${SHM_PREFIX}${key.replace(/[^A-Za-z0-9_.:{}-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}`;
}

/** The key of a region file name, or null if the name is not one of ours. */
export function regionKey(fileName: string): string | null {
  if (!fileName.startsWith(SHM_PREFIX)) return null;
  return fileName.slice(SHM_PREFIX.length).replace(/%([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
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

/** Map the region of `key` (creating it if needed); cached per thread. */
export function openSharedRegion(key: string, opts: SharedRegionOptions = {}): Region {
  const path = regionPath(key);
  const cached = mapped.get(path);
  if (cached && !cached.dead) return cached;
  mapped.delete(path);
  const mode = opts.mode ?? fileMode();
  const size = regionSize(); // before creating anything: a bad setting must leave no file
  for (let attempt = 0; attempt < 200; attempt++) {
    let fd: number, creator = false;
    try {
      fd = open(path, O_RDWR);
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      if (e.code === 'EACCES') throw explainAccess(path, e);
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
    try {
      let region: Region;
      if (creator) {
        try {
          fchmod(fd, mode); // the umask must not narrow what the user asked for
          ftruncate(fd, size);
          const m = mmapShared(fd, size, path);
          region = Region.format(m.buffer, { size, memId: memIdOf(key) }, m.addr);
        } catch (e) {
          try { unlink(path); } catch { /* already gone */ }
          throw e;
        }
      } else {
        const size = fstatSync(fd).size;
        if (size === 0) { sleepMs(1); continue; } // the creator has not sized it yet
        const m = mmapShared(fd, size, path);
        const u32 = new Uint32Array(m.buffer, 0, 64);
        for (let i = 0; i < 1000 && Atomics.load(u32, RH.magic >> 2) !== REGION_MAGIC; i++) sleepMs(1);
        region = Region.attach(m.buffer, m.addr);
      }
      if (region.dead) continue; // retired just now: start over
      region.path = path;
      mapped.set(path, region);
      return region;
    } finally {
      close(fd);
    }
  }
  throw new NetmapError('EAGAIN', `${path}: could not open the region (it kept being created and retired)`);
}

/** Retire a shared region that holds nothing any more (config lock held). */
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
  forgetRegion(region);
  return true;
}

/**
 * Forget a cached mapping (after seeing it dead). The mapping itself is released once no
 * port of this thread uses it any more (see releaseMapping).
 */
export function forgetRegion(region: Region): void {
  if (mapped.get(region.path) === region) mapped.delete(region.path);
  releaseMapping(region);
}

/**
 * Release the shared pages of a region that is neither cached nor used by a port of this
 * thread. The address range is kept (zero pages) rather than unmapped: a Ring or view the
 * program still holds must never point at unmapped memory.
 */
export function releaseMapping(region: Region): void {
  if (region.addr === 0n || region.ports > 0 || mapped.get(region.path) === region || region.unmapped) return;
  region.unmapped = true;
  replaceWithAnonymous(region.addr, region.size);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * Visit every region file: reclaim the ports of dead threads and processes, and retire a
 * region left empty (its file is unlinked). Files this user may not open are skipped.
 * Returns the openers reclaimed and the regions retired.
 */
export function reclaimAll(alive: (tid: number) => boolean): { openers: number; ports: string[]; retired: string[] } {
  let names: string[] = [];
  try { names = readdirSync(SHM_DIR); } catch { return { openers: 0, ports: [], retired: [] }; }
  let openers = 0;
  const retired: string[] = [], ports: string[] = [];
  for (const f of names) {
    const key = regionKey(f);
    if (key === null) continue;
    let region: Region;
    try { region = openSharedRegion(key, { create: false }); } catch { continue; }
    region.lockConfig();
    try {
      if (region.dead) continue;
      const before = region.dirList(DirType.Port).map(([n]) => n);
      const n = reclaimDead(region, alive);
      if (n === 0) continue;
      openers += n;
      const after = new Set(region.dirList(DirType.Port).map(([p]) => p));
      for (const p of before) if (!after.has(p)) ports.push(p);
      if (region.dirCount() === 0 && retireRegion(region)) retired.push(key);
    } finally {
      region.unlockConfig();
    }
  }
  return { openers, ports, retired };
}
