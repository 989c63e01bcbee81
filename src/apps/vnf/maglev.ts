// Maglev consistent hashing (Eisenbud et al., NSDI 2016) for the l4lb: a lookup table of a
// prime number M of entries, each naming a backend; a flow's hash modulo M picks its entry.
// Each backend has a preference list over the entries, a permutation given by an offset and a
// skip derived from two hashes of its key (its address): entry (offset + j * skip) mod M for
// j = 0, 1, ... Filling the table, backends take turns claiming their next preferred free
// entry, so each gets M/N entries, +-1.
//
// A backend's loss moves only its flows. The table with every backend up is the canonical
// one; with some down, build() keeps every entry of a live backend where it is and hands the
// dead backends' entries to the live ones, again in turns along their preference lists (so the
// freed entries are spread evenly). When the backend comes back the canonical table returns:
// its flows move back and no other flow moves. (Maglev's own rebuild from scratch moves a few
// per cent of the other flows too; this variant moves none, at the price of depending on the
// order of failures only through which backends are down, not when they went.)
//
// Typed arrays only; a lookup is one modulo and one load.

export class Maglev {
  readonly size: number;
  readonly backends: number;
  /** entry -> backend index, or -1 (no backend up) */
  readonly table: Int32Array;
  private readonly canonical: Int32Array;
  private readonly offset: Float64Array;
  private readonly skip: Float64Array;

  /** keys: one u32 per backend (its IPv4 address); size: a prime > the number of backends. */
  constructor(keys: ArrayLike<number>, size = 65537) {
    if (!isPrime(size)) throw new RangeError(`Maglev table size ${size} must be a prime`);
    if (keys.length === 0 || keys.length >= size) throw new RangeError(`Maglev table: 1..${size - 1} backends (got ${keys.length})`);
    this.size = size;
    this.backends = keys.length;
    this.table = new Int32Array(size);
    this.canonical = new Int32Array(size);
    this.offset = new Float64Array(keys.length);
    this.skip = new Float64Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      this.offset[i] = mix32(keys[i]! ^ 0x5bd1e995) % size;
      this.skip[i] = (mix32(keys[i]! ^ 0x1b873593, 0x27d4eb2f) % (size - 1)) + 1;
    }
    const all = new Uint8Array(keys.length).fill(1);
    this.canonical.fill(-1);
    this.fill(this.canonical, all);
    this.table.set(this.canonical);
  }

  /** The backend for a flow hash (u32), or -1 when none is up. */
  lookup(hash: number): number {
    return this.table[(hash >>> 0) % this.size]!;
  }

  /** Rebuild for the backends whose `alive[i]` is non-zero. Returns the number of entries that changed. */
  build(alive: ArrayLike<number>): number {
    const t = this.table, c = this.canonical, before = Int32Array.from(t);
    let live = 0;
    for (let i = 0; i < this.backends; i++) if (alive[i]) live++;
    if (live === 0) t.fill(-1);
    else {
      for (let e = 0; e < this.size; e++) t[e] = alive[c[e]!] ? c[e]! : -1;
      if (live < this.backends) this.fill(t, alive);
    }
    let changed = 0;
    for (let e = 0; e < this.size; e++) if (t[e] !== before[e]) changed++;
    return changed;
  }

  /** Entries per backend in the current table. */
  counts(): number[] {
    const n = new Array<number>(this.backends).fill(0);
    for (let e = 0; e < this.size; e++) if (this.table[e]! >= 0) n[this.table[e]!]!++;
    return n;
  }

  /** Fill the -1 entries of t, live backends taking turns along their preference lists. */
  private fill(t: Int32Array, alive: ArrayLike<number>): void {
    const m = this.size, next = new Float64Array(this.backends);
    let free = 0;
    for (let e = 0; e < m; e++) if (t[e]! < 0) free++;
    while (free > 0) {
      for (let i = 0; i < this.backends && free > 0; i++) {
        if (!alive[i]) continue;
        let e: number;
        do {
          e = (this.offset[i]! + next[i]! * this.skip[i]!) % m;
          next[i]!++;
        } while (t[e]! >= 0);
        t[e] = i;
        free--;
      }
    }
  }
}

/** A flow's hash (u32) from its protocol, addresses and ports (not symmetric: the client's side). */
export function flowHash(proto: number, src: number, dst: number, sport: number, dport: number): number {
  let h = mix32(src ^ Math.imul(proto, 0x01000193), 0x9e3779b1);
  h = mix32(h ^ dst, 0x85ebca6b);
  return mix32(h ^ ((sport << 16) | dport), 0xc2b2ae35);
}

function mix32(x: number, seed = 0x9e3779b1): number {
  let h = Math.imul(x ^ (x >>> 16), seed);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h ^= h >>> 13;
  h = Math.imul(h, 0x297a2d39);
  return (h ^ (h >>> 16)) >>> 0;
}

function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}
