// The VXLAN port's forwarding table where every process can read it: `<dir>/<name>.table`,
// mapped shared by the port's opener (its one writer), whose Fdb (fdb.ts) keeps its entries
// there instead of in private arrays, and read by `vale-ctl --vxlan-fdb-show` (readFdbTable),
// as `bridge fdb show dev vxlan42` lists a Linux vxlan device's table.
//
//   header (64 bytes): magic, version, capacity (entries), gen; ageing (ms), the opener's
//                      performance.timeOrigin (ms since the epoch), the opener's pid (0: closed)
//   then lo u32[capacity], hi u32[capacity], addr u8[16 x capacity], seen f64[capacity]
//
// Consistency: an entry's MAC, VTEP and kind change only when it is made, moved or removed;
// the writer makes `gen` odd before such a change and even after it (a sequence lock), and
// the reader takes a snapshot whose `gen` was even and unchanged across the copy, else tries
// again. The last-seen times are refreshed per frame without it (an age is read as it is).
//
// The file is input to the reader: anyone able to write the directory may have planted it. Its
// magic, version, capacity and size are checked before any array is laid over it, and every
// entry's fields only become text; nothing read from it sizes an allocation beyond the file.
import { closeSync, constants, readSync } from 'node:fs';
import { openOwnedFile } from '../../core/shm.js';
import { close, ftruncate, mmapShared, munmap } from '../../sys/libc.js';
import { formatVtep } from '../../packet/vxlan.js';
import { createOwnFile, vxlanTablePath } from './config.js';

const MAGIC = 0x4e584644; // 'NXFD'
const VERSION = 1;
const HEADER = 64;
/** Header fields: u32 indices, then f64 indices. */
const H_MAGIC = 0, H_VERSION = 1, H_CAPACITY = 2, H_GEN = 3;
const H_AGE_MS = 2, H_TIME_ORIGIN = 3, H_PID = 4;
/** Largest table a reader accepts (the port makes 4096 entries). */
const MAX_CAPACITY = 1 << 16;
/** Bit 16 of `hi`: the entry is in use; bit 17: static. The low 16 bits: the MAC's bytes 0-1. */
export const FDB_VALID = 0x10000, FDB_STATIC = 0x20000;

const tableBytes = (capacity: number): number => HEADER + 32 * capacity;

/** The arrays an Fdb keeps its entries in, and the sequence word its changes bump. */
export interface FdbArrays {
  lo: Uint32Array;
  hi: Uint32Array;
  addr: Uint8Array;
  seen: Float64Array;
  /** The sequence word (odd while an entry changes); length 1. */
  gen: Int32Array;
}

/** Arrays of `capacity` entries over `buffer` at `at` (a mapped table, or private memory). */
function arraysOver(buffer: ArrayBufferLike, at: number, capacity: number, gen: Int32Array): FdbArrays {
  return {
    lo: new Uint32Array(buffer, at + HEADER, capacity),
    hi: new Uint32Array(buffer, at + HEADER + 4 * capacity, capacity),
    addr: new Uint8Array(buffer, at + HEADER + 8 * capacity, 16 * capacity),
    seen: new Float64Array(buffer, at + HEADER + 24 * capacity, capacity),
    gen,
  };
}

/** Private arrays (an Fdb no other process reads: tests, programs). */
export function privateFdbArrays(capacity: number): FdbArrays {
  const b = new ArrayBuffer(tableBytes(capacity));
  return arraysOver(b, 0, capacity, new Int32Array(b, H_GEN * 4, 1));
}

/** The opener's mapping of `<dir>/<name>.table`. */
export class FdbTable {
  private constructor(readonly arrays: FdbArrays, private readonly addr: bigint, private readonly size: number, private readonly f64: Float64Array) {}

  /** Make (or take over and reset) the table file of port `name` for `capacity` entries, mapped shared. */
  static open(name: string, capacity: number, ageMs: number): FdbTable {
    const size = tableBytes(capacity);
    const fd = createOwnFile(vxlanTablePath(name));
    try {
      ftruncate(fd, size);
      const m = mmapShared(fd, size, `${name} VXLAN forwarding table`);
      const u32 = new Uint32Array(m.buffer, 0, HEADER / 4), f64 = new Float64Array(m.buffer, 0, HEADER / 8);
      u32[H_VERSION] = VERSION;
      u32[H_CAPACITY] = capacity;
      f64[H_AGE_MS] = ageMs;
      f64[H_TIME_ORIGIN] = performance.timeOrigin;
      f64[H_PID] = process.pid;
      Atomics.store(u32, H_MAGIC, MAGIC);
      return new FdbTable(arraysOver(m.buffer, 0, capacity, new Int32Array(m.buffer, H_GEN * 4, 1)), m.addr, size, f64);
    } finally {
      close(fd);
    }
  }

  close(): void {
    this.f64[H_PID] = 0;
    munmap(this.addr, this.size);
  }
}

export interface FdbEntry {
  mac: string;
  vtep: string;
  static: boolean;
  /** Seconds since a frame last came from it (learned entries), else null. */
  ageSec: number | null;
}

/** What readFdbTable found: the live entries (MAC order), or why there are none to show. */
export type FdbTableRead = { entries: FdbEntry[]; open: boolean } | { error: string };

/**
 * The entries of port `name`'s table that are live now: static ones, and learned ones younger
 * than the ageing time. `error` when the file is missing or is not a table (planted, damaged,
 * of another version, not a regular file of this user or root), or never held still long
 * enough to be read (a writer changing entries without pause).
 */
export function readFdbTable(name: string, now = Date.now()): FdbTableRead {
  const path = vxlanTablePath(name);
  const f = openOwnedFile(path, constants.O_RDONLY);
  if (!f.ok) return { error: f.notOwn ? f.message : f.code === 'ENOENT' ? 'no table: the port was never opened' : `cannot open the table: ${f.message}` };
  const { fd, size } = f;
  try {
    if (size < HEADER || size > tableBytes(MAX_CAPACITY)) return { error: `${path}: ${size} bytes, not a table` };
    const b = Buffer.alloc(size), g = Buffer.alloc(4);
    for (let attempt = 0; attempt < 20; attempt++) {
      if (readSync(fd, b, 0, b.length, 0) !== b.length) return { error: `${path}: shorter than it was: not a table` };
      const magic = b.readUInt32LE(H_MAGIC * 4), version = b.readUInt32LE(H_VERSION * 4), cap = b.readUInt32LE(H_CAPACITY * 4);
      if (magic !== MAGIC) return { error: `${path}: a wrong magic number: not a table` };
      if (version !== VERSION) return { error: `${path}: a table of version ${version}, this program reads ${VERSION}` };
      if (cap === 0 || cap > MAX_CAPACITY || cap % 4 !== 0 || b.length !== tableBytes(cap)) return { error: `${path}: a capacity of ${cap} entries does not match its ${b.length} bytes` };
      const gen = b.readUInt32LE(H_GEN * 4);
      // the sequence word again, after the copy: unchanged and even, no entry changed during it
      if (readSync(fd, g, 0, 4, H_GEN * 4) !== 4 || (gen & 1) !== 0 || g.readUInt32LE(0) !== gen) continue;
      return { entries: liveEntries(b, cap, now), open: b.readDoubleLE(H_PID * 8) > 0 };
    }
    return { error: 'the table kept changing while it was read (try again)' };
  } finally {
    closeSync(fd);
  }
}

/** The live entries of a checked snapshot `b` of `cap` entries, in MAC order. */
function liveEntries(b: Buffer, cap: number, now: number): FdbEntry[] {
  const ab = new ArrayBuffer(b.length);
  new Uint8Array(ab).set(b);
  return fdbEntries(arraysOver(ab, 0, cap, new Int32Array(ab, H_GEN * 4, 1)), b.readDoubleLE(H_AGE_MS * 8), now, b.readDoubleLE(H_TIME_ORIGIN * 8));
}

/**
 * The entries of `a` live at `now`: static ones, and learned ones whose last frame (at
 * `origin` + their last-seen time, in now's clock) is at most `ageMs` old; in MAC order.
 * Every value may come from a planted file: it only becomes text here.
 */
export function fdbEntries(a: FdbArrays, ageMs: number, now: number, origin: number): FdbEntry[] {
  const entries: FdbEntry[] = [];
  for (let w = 0; w < a.hi.length; w++) {
    const h = a.hi[w];
    if ((h & FDB_VALID) === 0) continue;
    const stat = (h & FDB_STATIC) !== 0;
    const ago = now - (origin + a.seen[w]); // ms since its last frame (NaN: a damaged time)
    if (!stat && !(Number.isFinite(ageMs) && ago <= ageMs)) continue; // aged out (or a damaged ageing time: none live)
    const l = a.lo[w];
    const bytes = [(h >> 8) & 0xff, h & 0xff, l >>> 24, (l >>> 16) & 0xff, (l >>> 8) & 0xff, l & 0xff];
    entries.push({ mac: bytes.map((x) => x.toString(16).padStart(2, '0')).join(':'), vtep: formatVtep(a.addr, w << 4), static: stat, ageSec: stat ? null : Math.max(0, ago) / 1000 });
  }
  return entries.sort((x, y) => (x.mac < y.mac ? -1 : x.mac > y.mac ? 1 : 0));
}
