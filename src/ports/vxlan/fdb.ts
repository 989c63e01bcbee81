// The VXLAN port's forwarding database: inner MAC address -> remote VTEP, as Linux's
// vxlan FDB (`bridge fdb show dev vxlan42`). Entries are learned from the inner source MAC of
// every decapsulated frame (a MAC seen behind another VTEP moves there), age out after
// `ageing` seconds without traffic, or are static (from the config, never aged or moved).
//
// A VTEP is 16 bytes, keyed by address family: an IPv6 address as is, an IPv4 one as
// ::ffff:a.b.c.d (packet/vxlan.ts parseVtep), so entries of the two families never match each
// other. lookup() gives the entry (index + 1); the caller reads its VTEP from `addr`.
//
// Typed arrays only, no allocation per lookup: 4-way set-associative buckets, so an aged entry
// simply stops matching and a full bucket replaces its oldest learned entry (counted). The
// arrays are private, or a VXLAN port's shared table file (fdb-table.ts) that vale-ctl reads:
// an entry being made, moved or removed is bracketed by the table's sequence word.
import { FDB_STATIC, FDB_VALID, fdbEntries, privateFdbArrays, type FdbArrays, type FdbEntry } from './fdb-table.js';

const WAYS = 4;

/** Entries of an Fdb of `buckets` buckets. */
export const fdbCapacity = (buckets: number): number => buckets * WAYS;

export class Fdb {
  readonly capacity: number;
  private readonly mask: number;
  private readonly lo: Uint32Array;
  private readonly hi: Uint32Array; // FDB_VALID, FDB_STATIC; low 16 bits: MAC bytes 0-1
  /** The VTEP of entry w at addr[w * 16 .. + 16). */
  readonly addr: Uint8Array;
  private readonly seen: Float64Array; // ms (performance.now()) of the last frame from it
  private readonly gen: Int32Array;
  private readonly arrays: FdbArrays;
  private genValue = 0;
  private readonly ageMs: number;
  /** learned (new entries), moved (a MAC seen behind another VTEP), evicted (full bucket) */
  learned = 0;
  moved = 0;
  evicted = 0;

  /** `arrays`: where the entries live (fdbCapacity(buckets) of them; private ones by default). */
  constructor(buckets = 1024, ageingSec = 300, arrays: FdbArrays = privateFdbArrays(fdbCapacity(buckets))) {
    this.capacity = fdbCapacity(buckets);
    this.mask = buckets - 1;
    if (buckets < 1 || (buckets & this.mask) !== 0) throw new RangeError('Fdb: buckets must be a power of two');
    if (arrays.lo.length !== this.capacity || arrays.seen.length !== this.capacity) throw new RangeError(`Fdb: arrays of ${arrays.lo.length} entries for ${this.capacity}`);
    this.lo = arrays.lo;
    this.hi = arrays.hi;
    this.addr = arrays.addr;
    this.seen = arrays.seen;
    this.gen = arrays.gen;
    this.arrays = arrays;
    this.ageMs = ageingSec * 1000;
  }

  /** An entry's MAC, VTEP or kind is about to change (odd sequence word), or has (even). */
  private changing(): void {
    Atomics.store(this.gen, 0, ++this.genValue);
  }

  private bucket(lo: number, hi: number): number {
    let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 13;
    return (h & this.mask) * WAYS;
  }

  /** The entry of the MAC at u8[off..off+6) as its index + 1 (its VTEP at addr[index * 16]), or 0 (none, or aged out). */
  lookup(u8: Uint8Array, off: number, now: number): number {
    const lo = ((u8[off + 2] << 24) | (u8[off + 3] << 16) | (u8[off + 4] << 8) | u8[off + 5]) >>> 0;
    const hi = (u8[off] << 8) | u8[off + 1];
    const b = this.bucket(lo, hi);
    for (let w = b; w < b + WAYS; w++) {
      const h = this.hi[w];
      if ((h & 0x1ffff) === (FDB_VALID | hi) && this.lo[w] === lo) {
        if ((h & FDB_STATIC) === 0 && now - this.seen[w] > this.ageMs) return 0;
        return w + 1;
      }
    }
    return 0;
  }

  /** Learn (or refresh) MAC u8[off..off+6) behind the VTEP a[aOff..+16); multicast sources are ignored. */
  learn(u8: Uint8Array, off: number, a: Uint8Array, aOff: number, now: number): void {
    if (u8[off] & 1) return;
    this.put(u8, off, a, aOff, now, false);
  }

  /** A static entry (config): never aged, never moved by learning. */
  addStatic(mac: Uint8Array, vtep: Uint8Array): void {
    this.put(mac, 0, vtep, 0, 0, true);
  }

  /** Forget the entry of MAC u8[off..off+6), static or learned (a static entry removed at run time). */
  remove(u8: Uint8Array, off: number): boolean {
    const lo = ((u8[off + 2] << 24) | (u8[off + 3] << 16) | (u8[off + 4] << 8) | u8[off + 5]) >>> 0;
    const hi = (u8[off] << 8) | u8[off + 1];
    const b = this.bucket(lo, hi);
    for (let w = b; w < b + WAYS; w++) {
      if ((this.hi[w] & 0x1ffff) === (FDB_VALID | hi) && this.lo[w] === lo) {
        this.changing();
        this.hi[w] = 0;
        this.changing();
        return true;
      }
    }
    return false;
  }

  private sameVtep(w: number, a: Uint8Array, aOff: number): boolean {
    const d = this.addr, o = w << 4;
    for (let i = 0; i < 16; i++) if (d[o + i] !== a[aOff + i]) return false;
    return true;
  }

  private setVtep(w: number, a: Uint8Array, aOff: number): void {
    const d = this.addr, o = w << 4;
    for (let i = 0; i < 16; i++) d[o + i] = a[aOff + i];
  }

  private put(u8: Uint8Array, off: number, a: Uint8Array, aOff: number, now: number, stat: boolean): void {
    const lo = ((u8[off + 2] << 24) | (u8[off + 3] << 16) | (u8[off + 4] << 8) | u8[off + 5]) >>> 0;
    const hi = (u8[off] << 8) | u8[off + 1];
    const b = this.bucket(lo, hi);
    let free = -1, oldest = -1;
    for (let w = b; w < b + WAYS; w++) {
      const h = this.hi[w];
      if ((h & 0x1ffff) === (FDB_VALID | hi) && this.lo[w] === lo) {
        if (h & FDB_STATIC && !stat) return; // static: learning does not move it
        if (!this.sameVtep(w, a, aOff)) {
          const live = (h & FDB_STATIC) !== 0 || now - this.seen[w] <= this.ageMs;
          if (live) this.moved++;
          else this.learned++;
          this.changing();
          this.setVtep(w, a, aOff);
          this.changing();
        } else if (now - this.seen[w] > this.ageMs && (h & FDB_STATIC) === 0) {
          this.learned++; // aged out and back
        }
        this.seen[w] = now;
        if (stat && this.hi[w] !== (FDB_VALID | FDB_STATIC | hi)) {
          this.changing();
          this.hi[w] = FDB_VALID | FDB_STATIC | hi;
          this.changing();
        }
        return;
      }
      if ((h & FDB_VALID) === 0 || ((h & FDB_STATIC) === 0 && now - this.seen[w] > this.ageMs)) {
        if (free < 0) free = w;
      } else if ((h & FDB_STATIC) === 0 && (oldest < 0 || this.seen[w] < this.seen[oldest])) {
        oldest = w;
      }
    }
    let w = free;
    if (w < 0) {
      if (oldest < 0) return; // a bucket of static entries
      w = oldest;
      this.evicted++;
    }
    this.changing();
    this.hi[w] = (stat ? FDB_VALID | FDB_STATIC : FDB_VALID) | hi;
    this.lo[w] = lo;
    this.setVtep(w, a, aOff);
    this.seen[w] = now;
    this.changing();
    this.learned++;
  }

  /** Entries live at `now` (for counters and listings: entries(), counted). */
  size(now: number): number {
    return this.entries(now).length;
  }


  /** The live entries in MAC order (listings, tests): fdb-table.ts's reading of a table, on ours. */
  entries(now: number): FdbEntry[] {
    return fdbEntries(this.arrays, this.ageMs, now, 0);
  }
}
