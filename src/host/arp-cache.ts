// The host's ARP resolver cache: IPv4 address -> MAC, in typed arrays (no object per entry).
//
// Set-associative: an address hashes to a bucket of WAYS consecutive entries; a lookup looks at
// those WAYS entries only (a few compares, no probing chains, no tombstones), an insert takes a
// free entry of the bucket or evicts the one whose timer runs out first (never a static entry).
// So an ARP storm from many addresses costs a bounded amount per frame and evicts learned
// entries (counted), never static ones.
//
// States: FREE, INCOMPLETE (a request was sent, no answer yet: retried every retryMs, dropped
// after maxTries), REACHABLE (learned; valid until `expires`), STATIC (never expires, never
// overwritten by what the wire says). Times are milliseconds of the caller's clock (the host
// reads it once per batch).

export const ARP_FREE = 0;
export const ARP_INCOMPLETE = 1;
export const ARP_REACHABLE = 2;
export const ARP_STATIC = 3;

const WAYS = 8;

export interface ArpCacheOptions {
  /** Entries (rounded up to a power of two, at least 8; default 1024). */
  size?: number;
  /** How long a learned entry stays valid (default 60 s, as Linux's base_reachable_time x2). */
  reachableMs?: number;
  /** Between two requests for an unresolved address (default 1000 ms). */
  retryMs?: number;
  /** Requests sent before an unresolved address is given up (default 3). */
  maxTries?: number;
}

export class ArpCache {
  readonly size: number;
  readonly ip: Uint32Array;
  /** 6 bytes per entry. */
  readonly mac: Uint8Array;
  readonly state: Uint8Array;
  readonly tries: Uint8Array;
  /** REACHABLE: when it expires; INCOMPLETE: when the next request is due. */
  readonly timer: Float64Array;
  readonly reachableMs: number;
  readonly retryMs: number;
  readonly maxTries: number;
  private readonly mask: number;
  /** Learned entries pushed out by others (a storm of new senders, or a full bucket). */
  evictions = 0;
  /** Inserts refused: the bucket holds only static entries. */
  full = 0;
  /** Unresolved addresses given up after maxTries requests. */
  failed = 0;

  constructor(opts: ArpCacheOptions = {}) {
    let n = WAYS;
    while (n < (opts.size ?? 1024)) n <<= 1;
    this.size = n;
    this.mask = n / WAYS - 1;
    this.ip = new Uint32Array(n);
    this.mac = new Uint8Array(n * 6);
    this.state = new Uint8Array(n);
    this.tries = new Uint8Array(n);
    this.timer = new Float64Array(n);
    this.reachableMs = opts.reachableMs ?? 60_000;
    this.retryMs = opts.retryMs ?? 1000;
    this.maxTries = opts.maxTries ?? 3;
  }

  private bucket(ip: number): number {
    // Fibonacci hashing of the address: neighbours (10.0.0.1, .2, ...) land in different buckets
    return ((Math.imul(ip, 0x9e3779b1) >>> 16) & this.mask) * WAYS;
  }

  /** The entry holding `ip` in any state, or -1. */
  find(ip: number): number {
    const b = this.bucket(ip), st = this.state, a = this.ip;
    for (let i = b; i < b + WAYS; i++) if (st[i] !== ARP_FREE && a[i] === ip) return i;
    return -1;
  }

  /** The entry whose MAC can be used now for `ip` (static, or learned and not expired), or -1. */
  resolved(ip: number, now: number): number {
    const b = this.bucket(ip), st = this.state, a = this.ip;
    for (let i = b; i < b + WAYS; i++) {
      if (a[i] !== ip) continue;
      const s = st[i];
      if (s === ARP_STATIC || (s === ARP_REACHABLE && this.timer[i] > now)) return i;
    }
    return -1;
  }

  /** A free entry of ip's bucket, else the learned/incomplete one expiring first (evicted); -1 if all static. */
  private take(ip: number): number {
    const b = this.bucket(ip), st = this.state;
    let victim = -1;
    for (let i = b; i < b + WAYS; i++) {
      if (st[i] === ARP_FREE) return i;
      if (st[i] !== ARP_STATIC && (victim < 0 || this.timer[i] < this.timer[victim])) victim = i;
    }
    if (victim < 0) { this.full++; return -1; }
    this.evictions++;
    st[victim] = ARP_FREE;
    return victim;
  }

  private setMac(i: number, src: Uint8Array, off: number): void {
    const m = this.mac, o = i * 6;
    for (let k = 0; k < 6; k++) m[o + k] = src[off + k]!;
  }

  /**
   * What the wire says: `ip` is at src[off..off+6). Updates an existing non-static entry; with
   * `create` (the sender asked us, RFC 826's merge rule) adds one. Returns the entry or -1.
   */
  learn(ip: number, src: Uint8Array, off: number, now: number, create: boolean): number {
    let i = this.find(ip);
    if (i >= 0 && this.state[i] === ARP_STATIC) return i;
    if (i < 0) {
      if (!create) return -1;
      i = this.take(ip);
      if (i < 0) return -1;
      this.ip[i] = ip;
    }
    this.setMac(i, src, off);
    this.state[i] = ARP_REACHABLE;
    this.tries[i] = 0;
    this.timer[i] = now + this.reachableMs;
    return i;
  }

  /** A static entry (replaces whatever the bucket held for ip). False when the bucket is all static. */
  addStatic(ip: number, mac: Uint8Array): boolean {
    let i = this.find(ip);
    if (i < 0) i = this.take(ip);
    if (i < 0) return false;
    this.ip[i] = ip;
    this.setMac(i, mac, 0);
    this.state[i] = ARP_STATIC;
    this.timer[i] = Infinity;
    return true;
  }

  /** Forget ip (any state but static unless `evenStatic`). */
  remove(ip: number, evenStatic = false): boolean {
    const i = this.find(ip);
    if (i < 0 || (this.state[i] === ARP_STATIC && !evenStatic)) return false;
    this.state[i] = ARP_FREE;
    return true;
  }

  /**
   * The caller needs ip's MAC and has none: true when a request should go out now (first miss,
   * or retryMs after the last request). The entry is INCOMPLETE until an answer is learned.
   */
  wantRequest(ip: number, now: number): boolean {
    let i = this.find(ip);
    if (i >= 0 && this.state[i] === ARP_STATIC) return false;
    if (i >= 0 && this.state[i] === ARP_INCOMPLETE) return false; // sweep() retries on schedule
    if (i < 0) {
      i = this.take(ip);
      if (i < 0) return false;
      this.ip[i] = ip;
    }
    // an expired REACHABLE entry becomes INCOMPLETE: re-resolve
    this.state[i] = ARP_INCOMPLETE;
    this.tries[i] = 1;
    this.timer[i] = now + this.retryMs;
    return true;
  }

  /**
   * Timers: expired learned entries go; INCOMPLETE entries whose retry is due are returned
   * through `retry` (call it for each: send a request), or given up after maxTries.
   */
  sweep(now: number, retry: (ip: number) => void): void {
    const st = this.state;
    for (let i = 0; i < this.size; i++) {
      const s = st[i];
      if (s === ARP_REACHABLE && this.timer[i] <= now) {
        st[i] = ARP_FREE;
      } else if (s === ARP_INCOMPLETE && this.timer[i] <= now) {
        if (this.tries[i] >= this.maxTries) { st[i] = ARP_FREE; this.failed++; continue; }
        this.tries[i]++;
        this.timer[i] = now + this.retryMs;
        retry(this.ip[i]!);
      }
    }
  }

  /** Entries in use, by state (for stats). */
  counts(): { incomplete: number; reachable: number; static: number } {
    const c = { incomplete: 0, reachable: 0, static: 0 };
    for (let i = 0; i < this.size; i++) {
      const s = this.state[i];
      if (s === ARP_INCOMPLETE) c.incomplete++;
      else if (s === ARP_REACHABLE) c.reachable++;
      else if (s === ARP_STATIC) c.static++;
    }
    return c;
  }
}
