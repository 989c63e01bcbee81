// A memory region: one shared buffer holding rings, slots, packet buffers and the records
// that describe ports and switches. All addressing is by byte offset or buffer index, as in
// netmap, so the same code works whether the buffer is a SharedArrayBuffer shared by worker
// threads or (later) a file mapped by several processes.
//
// Layout: [header 4 KiB][directory][object bitmap][free-buffer stack][objects][buffers]
//
// A mapped file is input: any process that may write it may have written anything. The
// layout is checked once, when the region is attached (sizes and offsets consistent with
// each other and with the mapping), and kept in fields: later writes to the header's layout
// words change nothing here. Directory entries are checked each time they are read
// (dirList/dirFind skip bad ones and report them), and isObj() tells whether an offset read
// from a record may designate a record.
import { DEFAULT_BUF_SIZE } from './constants.js';
import { DIR, DIR_NAME_MAX, DirType, OBJ_UNIT, REGION_HEADER_SIZE, REGION_MAGIC, REGION_VERSION, RH } from './layout.js';
import { lockWithin, unlock } from './lock.js';
import { futexWait, futexWaitAsync, futexWaitv, futexWaitvAvailable, futexWaitvEntry, futexWake } from '../sys/libc.js';

export class NetmapError extends Error {
  /** errno-style code: EINVAL, EBUSY, ENOMEM, ENXIO, ENOENT, EEXIST, ENOTSUP */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'NetmapError';
    this.code = code;
  }
}

/** Thrown when a region turns out to be retired: the caller maps the name again. */
export class RegionRetired extends Error {
  constructor() {
    super('netmap-ts region retired');
  }
}

export interface RegionOptions {
  size: number;
  bufSize?: number;
  memId?: number;
  dirEntries?: number;
  /**
   * Bytes past a page boundary where the buffer area starts (default 0). An AF_XDP port uses
   * 256: the kernel writes a received frame 256 bytes (XDP_PACKET_HEADROOM) into its chunk, so
   * a UMEM that starts 256 bytes before buffer 0 puts every frame at the start of a buffer.
   */
  bufsPhase?: number;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;
/** Longest wait for a config lock whose owner is alive: creation and destruction are short. */
export const CONFIG_LOCK_MAX_MS = 5000;

export interface RegionLayout {
  size: number; bufSize: number; nbufs: number; bufsOfs: number; memId: number;
  objOfs: number; objSize: number; bitmapOfs: number; dirOfs: number; dirEntries: number; freeStackOfs: number;
}

/**
 * Check a region header against the bytes available (`length`): magic, version, and areas
 * that follow each other inside the region. Returns the layout, or what is wrong.
 */
export function checkHeader(u32: Uint32Array, length: number): RegionLayout | string {
  if (length < REGION_HEADER_SIZE || u32.length < REGION_HEADER_SIZE / 4) return `${length} bytes, smaller than a region header`;
  if (u32[RH.magic >> 2] !== REGION_MAGIC) return `bad magic 0x${u32[RH.magic >> 2].toString(16)}`;
  if (u32[RH.version >> 2] !== REGION_VERSION) return `version ${u32[RH.version >> 2]}, expected ${REGION_VERSION}`;
  const w = (o: number): number => u32[o >> 2];
  const h: RegionLayout = {
    size: w(RH.size), bufSize: w(RH.bufSize), nbufs: w(RH.nbufs), bufsOfs: w(RH.bufsOfs), memId: w(RH.memId),
    objOfs: w(RH.objOfs), objSize: w(RH.objSize), bitmapOfs: w(RH.bitmapOfs), dirOfs: w(RH.dirOfs),
    dirEntries: w(RH.dirEntries), freeStackOfs: w(RH.freeStackOfs),
  };
  if (h.size > length || h.size < REGION_HEADER_SIZE) return `size ${h.size} does not fit the ${length} bytes there (truncated?)`;
  if (h.bufSize < 64 || h.bufSize % 64 !== 0 || h.bufSize > 65536) return `buffer size ${h.bufSize}`;
  if (h.dirOfs < REGION_HEADER_SIZE || h.dirOfs % 16 !== 0 || h.dirEntries < 1 || h.dirEntries > 65536) return `directory at ${h.dirOfs} with ${h.dirEntries} entries`;
  if (h.objSize === 0 || h.objSize % (OBJ_UNIT * 32) !== 0) return `object area of ${h.objSize} bytes`;
  if (h.bitmapOfs % 4 !== 0 || h.bitmapOfs < h.dirOfs + h.dirEntries * DIR.size) return `bitmap at ${h.bitmapOfs} overlaps the directory`;
  if (h.freeStackOfs % 4 !== 0 || h.freeStackOfs < h.bitmapOfs + h.objSize / OBJ_UNIT / 8) return `free-buffer stack at ${h.freeStackOfs} overlaps the bitmap`;
  if (h.nbufs < 2 || h.objOfs % OBJ_UNIT !== 0 || h.objOfs < h.freeStackOfs + h.nbufs * 4) return `object area at ${h.objOfs} overlaps the free-buffer stack`;
  if (h.bufsOfs % 64 !== 0 || h.bufsOfs < h.objOfs + h.objSize) return `buffers at ${h.bufsOfs} overlap the object area`;
  if (h.bufsOfs + h.nbufs * h.bufSize > h.size) return `${h.nbufs} buffers of ${h.bufSize} bytes at ${h.bufsOfs} exceed the size ${h.size}`;
  return h;
}
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Region {
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly size: number;
  readonly bufSize: number;
  readonly nbufs: number;
  readonly bufsOfs: number;
  readonly memId: number;

  /** The shared file behind the region ('' for a SharedArrayBuffer). */
  path = '';
  /** Open ports of this thread in the region (a mapping is released only at 0). */
  ports = 0;
  /** Set once a port of this thread bound rings here (views of it may be held). */
  hadPorts = false;
  /** Set once the mapping was released: the region must not be touched any more. */
  unmapped = false;
  /** The shared file, kept open while the region is mapped (its size is checked before each pass). */
  fd = -1;
  /** Address of a mapped file (for futexes), 0n for a SharedArrayBuffer. */
  readonly addr: bigint;
  private readonly ts = new BigInt64Array(2);

  private constructor(buffer: SharedArrayBuffer | ArrayBuffer, addr: bigint) {
    this.buffer = buffer;
    this.addr = addr;
    this.u8 = new Uint8Array(buffer);
    this.u16 = new Uint16Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
    const h = checkHeader(this.u32, buffer.byteLength);
    if (typeof h === 'string') throw new NetmapError('EINVAL', `not a usable netmap-ts memory region: ${h}`);
    this.size = h.size;
    this.bufSize = h.bufSize;
    this.nbufs = h.nbufs;
    this.bufsOfs = h.bufsOfs;
    this.memId = h.memId;
    this.objOfs = h.objOfs;
    this.objSize = h.objSize;
    this.bitmapOfs = h.bitmapOfs;
    this.dirOfs = h.dirOfs;
    this.dirEntries = h.dirEntries;
    this.freeStackOfs = h.freeStackOfs;
  }

  // layout, validated at attach (see checkHeader)
  readonly objOfs: number;
  readonly objSize: number;
  readonly bitmapOfs: number;
  readonly dirOfs: number;
  readonly dirEntries: number;
  readonly freeStackOfs: number;

  /** True if `ofs` may be the start of a record of `bytes` bytes in the object area. */
  isObj(ofs: number, bytes: number): boolean {
    return ofs >= this.objOfs && (ofs - this.objOfs) % OBJ_UNIT === 0 && ofs + bytes <= this.objOfs + this.objSize;
  }

  /** True if `ofs` is the start of a directory entry. */
  isDirEntry(ofs: number): boolean {
    return ofs >= this.dirOfs && ofs < this.dirOfs + this.dirEntries * DIR.size && (ofs - this.dirOfs) % DIR.size === 0;
  }

  /** How to name this region in an error message. */
  get label(): string {
    return this.path || 'the process region';
  }

  /** Lay out a new region in `buffer` (which must be zero-filled) and return it. */
  static format(buffer: SharedArrayBuffer | ArrayBuffer, opts: RegionOptions, addr = 0n): Region {
    const size = opts.size;
    const bufSize = opts.bufSize ?? DEFAULT_BUF_SIZE;
    if (size > buffer.byteLength) throw new NetmapError('EINVAL', 'region size exceeds its buffer');
    if (size >= 2 ** 32) throw new NetmapError('EINVAL', 'a region is limited to 4 GiB');
    if (bufSize < 64 || bufSize % 64 !== 0 || bufSize > 65536) throw new NetmapError('EINVAL', `buffer size ${bufSize} must be a multiple of 64 in 64..65536`);
    const dirEntries = opts.dirEntries ?? 2048;
    const dirOfs = REGION_HEADER_SIZE;
    const objSize = align(Math.max(4 << 20, Math.floor(size / 8)), OBJ_UNIT * 32);
    const bitmapOfs = align(dirOfs + dirEntries * DIR.size, 64);
    const bitmapBytes = objSize / OBJ_UNIT / 8;
    const roughBufs = Math.floor((size - objSize) / bufSize);
    const freeStackOfs = align(bitmapOfs + bitmapBytes, 64);
    const objOfs = align(freeStackOfs + roughBufs * 4, 4096);
    const phase = opts.bufsPhase ?? 0;
    if (phase < 0 || phase % 64 !== 0 || phase >= 4096) throw new NetmapError('EINVAL', `buffer phase ${phase} must be a multiple of 64 below 4096`);
    const bufsOfs = align(objOfs + objSize, Math.max(4096, bufSize)) + phase;
    const nbufs = Math.floor((size - bufsOfs) / bufSize);
    if (nbufs < 64) throw new NetmapError('EINVAL', `region of ${size} bytes is too small`);
    const u32 = new Uint32Array(buffer);
    u32[RH.size >> 2] = size;
    u32[RH.bufSize >> 2] = bufSize;
    u32[RH.nbufs >> 2] = nbufs;
    u32[RH.bufsOfs >> 2] = bufsOfs;
    u32[RH.objOfs >> 2] = objOfs;
    u32[RH.objSize >> 2] = objSize;
    u32[RH.bitmapOfs >> 2] = bitmapOfs;
    u32[RH.dirOfs >> 2] = dirOfs;
    u32[RH.dirEntries >> 2] = dirEntries;
    u32[RH.freeStackOfs >> 2] = freeStackOfs;
    u32[RH.memId >> 2] = opts.memId ?? 1;
    u32[RH.bufWatermark >> 2] = 2; // buffers 0 and 1 are reserved, as in netmap
    u32[RH.freeBufs >> 2] = nbufs - 2;
    u32[RH.version >> 2] = REGION_VERSION;
    Atomics.store(u32, RH.magic >> 2, REGION_MAGIC);
    return new Region(buffer, addr);
  }

  /**
   * Attach to a region already formatted: a SharedArrayBuffer received from another thread,
   * or a mapped file (with its address, for futexes).
   */
  static attach(buffer: SharedArrayBuffer | ArrayBuffer, addr = 0n): Region {
    return new Region(buffer, addr);
  }

  // ---- configuration lock: serialises creation and destruction of records ----
  /**
   * Take the config lock. A live owner that keeps it longer than CONFIG_LOCK_MAX_MS (a stopped
   * process, a hostile participant) gives ETIMEDOUT naming it, rather than a hang.
   */
  lockConfig(): void {
    const owner = lockWithin(this, RH.configLock, CONFIG_LOCK_MAX_MS);
    if (owner !== 0) throw this.lockTimeout(owner, CONFIG_LOCK_MAX_MS);
  }
  /** lockConfig(), but throws RegionRetired if the region was retired meanwhile. */
  lockLive(): void {
    const start = Date.now();
    for (;;) {
      if (this.dead) throw new RegionRetired();
      const owner = lockWithin(this, RH.configLock, 100);
      if (owner === 0) break;
      if (Date.now() - start >= CONFIG_LOCK_MAX_MS) throw this.lockTimeout(owner, CONFIG_LOCK_MAX_MS);
    }
    if (this.dead) {
      unlock(this, RH.configLock);
      throw new RegionRetired();
    }
  }
  /** Take the config lock within `waitMs`; returns 0, or the live owner's thread id. */
  tryLockConfig(waitMs: number): number {
    return lockWithin(this, RH.configLock, waitMs);
  }
  lockTimeout(owner: number, ms: number): NetmapError {
    return new NetmapError('ETIMEDOUT', `${this.label}: config lock held by live task ${owner} for more than ${ms} ms (a stopped or hung process?); not waiting any longer`);
  }
  unlockConfig(): void { unlock(this, RH.configLock); }

  // ---- sleeping on a word: Atomics for a SharedArrayBuffer, futex for a mapped file ----
  /** Sleep while i32[idx] === value, at most timeoutMs (< 0: forever) or until notify(). */
  wait(idx: number, value: number, timeoutMs: number): void {
    if (this.addr === 0n) Atomics.wait(this.i32, idx, value, timeoutMs < 0 ? undefined : timeoutMs);
    else futexWait(this.addr + BigInt(idx << 2), value, timeoutMs, this.ts);
  }

  /** Whether waitMany() can sleep on several words at once: a mapped file, and futex_waitv(2) in the kernel. */
  get canWaitMany(): boolean {
    return this.addr !== 0n && futexWaitvAvailable();
  }

  /**
   * Sleep while i32[idxs[k]] === values[k] for every k < n, at most timeoutMs (< 0: forever) or
   * until one of them is notified. Only where canWaitMany (else throws ENOTSUP); n <= vec's room.
   */
  waitMany(idxs: Int32Array, values: Int32Array, n: number, timeoutMs: number): void {
    if (!this.canWaitMany) throw new NetmapError('ENOTSUP', `${this.label}: no sleep on several words here`);
    const vec = this.waitv;
    if (n > vec.length / 3) throw new NetmapError('EINVAL', `${this.label}: ${n} words to sleep on, at most ${vec.length / 3}`);
    for (let k = 0; k < n; k++) futexWaitvEntry(vec, k, this.addr + BigInt(idxs[k] << 2), values[k]);
    futexWaitv(vec, n, timeoutMs, this.ts);
  }

  /** The futex_waitv vector of waitMany (up to 128 words: a switch's ports). */
  private readonly waitv = new BigUint64Array(3 * 128);

  /** wait() without blocking the thread. */
  async waitAsync(idx: number, value: number, timeoutMs: number): Promise<void> {
    if (this.addr === 0n) {
      const w = Atomics.waitAsync(this.i32, idx, value, timeoutMs < 0 ? undefined : timeoutMs);
      if (w.async) await w.value;
    } else {
      await futexWaitAsync(this.addr + BigInt(idx << 2), value, timeoutMs);
    }
  }

  /** Wake up to `count` threads sleeping on i32[idx] (in any process mapping the region). */
  notify(idx: number, count: number): void {
    if (this.addr === 0n) Atomics.notify(this.i32, idx, count);
    else futexWake(this.addr + BigInt(idx << 2), count);
  }

  nextGeneration(): number {
    return (Atomics.add(this.u32, RH.generation >> 2, 1) + 1) >>> 0;
  }

  /** Byte offset of buffer `idx`. */
  bufOffset(idx: number): number {
    return this.bufsOfs + idx * this.bufSize;
  }

  /** True once the region was retired (see core/shm.ts): start over with a new one. */
  get dead(): boolean {
    return this.unmapped || Atomics.load(this.u32, RH.dead >> 2) !== 0;
  }

  freeBuffers(): number {
    return this.u32[RH.freeBufs >> 2];
  }

  // ---- buffers: a stack of free indices plus a watermark of never-used ones ----
  /** Allocate one buffer (config lock held). Returns 0 when none is left. */
  allocBuf(): number {
    const u32 = this.u32, nbufs = this.nbufs;
    let top = u32[RH.freeTop >> 2];
    if (top > nbufs) top = 0; // a corrupted stack top: forget the stack rather than read past it
    while (top > 0) {
      const idx = u32[(this.freeStackOfs >> 2) + top - 1];
      u32[RH.freeTop >> 2] = --top;
      if (idx >= 2 && idx < nbufs) {
        if (u32[RH.freeBufs >> 2] > 0) u32[RH.freeBufs >> 2]--;
        return idx;
      }
    }
    u32[RH.freeTop >> 2] = 0;
    const idx = u32[RH.bufWatermark >> 2];
    if (idx < 2 || idx >= nbufs) return 0;
    u32[RH.bufWatermark >> 2] = idx + 1;
    if (u32[RH.freeBufs >> 2] > 0) u32[RH.freeBufs >> 2]--;
    // never used: write to each of its pages now, so that the page is allocated here (at
    // open) and not by a producer copying the first frame into it, in the data path. A first
    // write to a page of the file is a page fault, 20-300 us on a loaded 2-vCPU machine,
    // where copying a 60-byte frame takes 50 ns: a receiver feeding a new monitor stalled
    // for 10-50 ms per batch (netmap's buffers are resident kernel memory).
    const end = this.bufsOfs + (idx + 1) * this.bufSize;
    for (let o = this.bufsOfs + idx * this.bufSize; o < end; o += 4096) this.u8[o] = 0;
    return idx;
  }

  /** Return a buffer (config lock held). Invalid indices are ignored, and so is a full stack. */
  freeBuf(idx: number): void {
    if (idx < 2 || idx >= this.nbufs) return;
    const u32 = this.u32;
    const top = u32[RH.freeTop >> 2];
    if (top >= this.nbufs) return;
    u32[(this.freeStackOfs >> 2) + top] = idx;
    u32[RH.freeTop >> 2] = top + 1;
    u32[RH.freeBufs >> 2]++;
  }

  // ---- object area: first-fit over a bitmap of 256-byte units ----
  /** Allocate `bytes` zeroed bytes of object space (config lock held); 0 when full. */
  allocObj(bytes: number): number {
    const u32 = this.u32;
    const units = Math.ceil(bytes / OBJ_UNIT);
    const total = this.objSize / OBJ_UNIT;
    const bm = this.bitmapOfs >> 2;
    let run = 0;
    for (let unit = 0; unit < total; unit++) {
      const word = u32[bm + (unit >>> 5)];
      if (word === 0xffffffff && (unit & 31) === 0) { run = 0; unit += 31; continue; }
      if (word & (1 << (unit & 31))) { run = 0; continue; }
      if (++run === units) {
        const first = unit - units + 1;
        for (let k = first; k <= unit; k++) u32[bm + (k >>> 5)] |= 1 << (k & 31);
        const ofs = this.objOfs + first * OBJ_UNIT;
        this.u8.fill(0, ofs, ofs + units * OBJ_UNIT);
        u32[RH.objUsedUnits >> 2] += units;
        return ofs;
      }
    }
    return 0;
  }

  /** Free object space (config lock held); an offset outside the object area is ignored. */
  freeObj(ofs: number, bytes: number): void {
    if (!this.isObj(ofs, OBJ_UNIT)) return;
    const u32 = this.u32;
    const first = (ofs - this.objOfs) / OBJ_UNIT;
    const end = Math.min(first + Math.ceil(bytes / OBJ_UNIT), this.objSize / OBJ_UNIT);
    const bm = this.bitmapOfs >> 2;
    for (let k = first; k < end; k++) u32[bm + (k >>> 5)] &= ~(1 << (k & 31));
    const used = u32[RH.objUsedUnits >> 2];
    u32[RH.objUsedUnits >> 2] = used > end - first ? used - (end - first) : 0;
  }

  // ---- directory of named records ----
  /**
   * What is wrong with a non-free directory entry, or null: a name longer than DIR_NAME_MAX,
   * a record offset outside the object area, an unknown type.
   */
  dirEntryProblem(e: number): string | null {
    const u32 = this.u32;
    const type = u32[(e + DIR.type) >> 2], len = u32[(e + DIR.nameLen) >> 2], rec = u32[(e + DIR.recOfs) >> 2];
    if (type > DirType.Monitor) return `type ${type}`;
    if (len > DIR_NAME_MAX) return `name length ${len} (at most ${DIR_NAME_MAX})`;
    if (!this.isObj(rec, OBJ_UNIT)) return `record offset ${rec} outside the object area`;
    return null;
  }

  private reportEntry(e: number, problem: string, problems?: string[]): void {
    problems?.push(`${this.label}: directory entry ${(e - this.dirOfs) / DIR.size}: ${problem}; skipped`);
  }

  /** Find the directory entry of `name` and `type`; returns its byte offset or 0. */
  dirFind(type: DirType, name: string, problems?: string[]): number {
    const key = encoder.encode(name);
    const u32 = this.u32, u8 = this.u8;
    const base = this.dirOfs;
    const n = this.dirEntries;
    for (let i = 0; i < n; i++) {
      const e = base + i * DIR.size;
      if (u32[(e + DIR.type) >> 2] !== type || u32[(e + DIR.nameLen) >> 2] !== key.length) continue;
      let same = true;
      for (let k = 0; k < key.length; k++) if (u8[e + DIR.name + k] !== key[k]) { same = false; break; }
      if (!same) continue;
      const bad = this.dirEntryProblem(e);
      if (bad) { this.reportEntry(e, bad, problems); continue; }
      return e;
    }
    return 0;
  }

  /** Add an entry (config lock held). Throws when the directory is full. */
  dirAdd(type: DirType, name: string, recOfs: number, gen: number): number {
    const key = encoder.encode(name);
    if (key.length > DIR_NAME_MAX) throw new NetmapError('EINVAL', `name "${name}" is longer than ${DIR_NAME_MAX} bytes`);
    const u32 = this.u32;
    const base = this.dirOfs;
    const n = this.dirEntries;
    for (let i = 0; i < n; i++) {
      const e = base + i * DIR.size;
      if (u32[(e + DIR.type) >> 2] !== DirType.Free) continue;
      this.u8.fill(0, e, e + DIR.size);
      this.u8.set(key, e + DIR.name);
      u32[(e + DIR.nameLen) >> 2] = key.length;
      u32[(e + DIR.recOfs) >> 2] = recOfs;
      u32[(e + DIR.gen) >> 2] = gen;
      Atomics.store(u32, (e + DIR.type) >> 2, type);
      return e;
    }
    throw new NetmapError('ENOMEM', 'netmap-ts directory is full (too many ports and switches)');
  }

  /** Named records in the directory. */
  dirCount(): number {
    const u32 = this.u32;
    const base = this.dirOfs, n = this.dirEntries;
    let c = 0;
    for (let i = 0; i < n; i++) if (u32[(base + i * DIR.size + DIR.type) >> 2] !== DirType.Free) c++;
    return c;
  }

  /** Free a directory entry; an offset that is not one is ignored. */
  dirRemove(entryOfs: number): void {
    if (!this.isDirEntry(entryOfs)) return;
    Atomics.store(this.u32, (entryOfs + DIR.type) >> 2, DirType.Free);
  }

  /**
   * Every valid entry of a type: [name, recOfs] pairs (for listings; allocates). Bad entries
   * are skipped and described in `problems`.
   */
  dirList(type: DirType, problems?: string[]): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    const u32 = this.u32;
    const base = this.dirOfs;
    const n = this.dirEntries;
    for (let i = 0; i < n; i++) {
      const e = base + i * DIR.size;
      if (u32[(e + DIR.type) >> 2] !== type) continue;
      const bad = this.dirEntryProblem(e);
      if (bad) { this.reportEntry(e, bad, problems); continue; }
      out.push([this.readName(e + DIR.name, u32[(e + DIR.nameLen) >> 2]), u32[(e + DIR.recOfs) >> 2]]);
    }
    return out;
  }

  readName(ofs: number, len: number): string {
    return decoder.decode(this.u8.slice(ofs, ofs + Math.min(len, DIR_NAME_MAX)));
  }

  writeName(ofs: number, name: string, max: number): number {
    const b = encoder.encode(name).subarray(0, max);
    this.u8.set(b, ofs);
    return b.length;
  }
}
