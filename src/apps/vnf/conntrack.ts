// A connection table for TCP and UDP flows, as the firewall and the l4lb keep it: keyed by the
// 5-tuple of the flow's first packet (the "original" direction), found from either direction.
//
// Layout: parallel typed arrays over a power-of-two number of slots, open addressing with
// linear probing. The hash is symmetric in (address, port) pairs, so a packet and its reply
// start probing at the same slot; an entry matches a packet in the original direction (src,
// dst, sport, dport equal) or in the reply direction (swapped). No object per flow or packet.
//
// Lifetime: every entry has an expiry time (ms, the caller's clock) set from its protocol and
// state (TCP: SYN seen, established once the reply direction was seen, closing after FIN, a
// short one after RST; UDP: unreplied, replied). An expired entry found by a lookup is removed
// (a tombstone keeps later probes going); sweep() removes the rest (once a second is enough).
// Size limit: at most `limit` live entries and at most MAX_PROBE slots probed. Inserting into a
// full table, or into a probe window full of live entries, evicts the entry of that window that
// expires first (Linux's early drop; a table at its limit whose window holds no live entry
// evicts the next live entry after a hand going round the table) and counts it in `evictions`.
//
// Each entry carries a u32 `value` for its user (the l4lb's backend index).

export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

/** TCP flag bits (the 14th byte of the TCP header). */
export const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_ACK = 0x10;

/** Entry states (slot `state`): 0 empty, 1 tombstone, then the live ones. */
export const ST_EMPTY = 0, ST_DEAD = 1, ST_TCP_SYN = 2, ST_TCP_EST = 3, ST_TCP_CLOSING = 4, ST_TCP_CLOSED = 5, ST_UDP = 6, ST_UDP_REPLIED = 7;
export const STATE_NAMES = ['empty', 'dead', 'tcpSyn', 'tcpEstablished', 'tcpClosing', 'tcpClosed', 'udp', 'udpReplied'] as const;

/** Timeouts in ms, per protocol and state. */
export interface ConntrackTimeouts {
  tcpSyn: number;
  tcpEstablished: number;
  tcpClosing: number;
  tcpClosed: number;
  udp: number;
  udpReplied: number;
}

export const DEFAULT_TIMEOUTS: ConntrackTimeouts = {
  tcpSyn: 30_000, tcpEstablished: 3_600_000, tcpClosing: 10_000, tcpClosed: 1_000, udp: 30_000, udpReplied: 120_000,
};

export interface ConntrackOptions {
  /** Live entries at most (default 65536); the table has the next power of two >= 2 x limit slots. */
  limit?: number;
  timeouts?: Partial<ConntrackTimeouts>;
}

const MAX_PROBE = 32;

export class Conntrack {
  readonly limit: number;
  readonly slots: number;
  private readonly mask: number;
  readonly src: Uint32Array;
  readonly dst: Uint32Array;
  /** sport << 16 | dport of the original direction */
  readonly ports: Uint32Array;
  readonly proto: Uint8Array;
  readonly state: Uint8Array;
  readonly expires: Float64Array;
  readonly value: Uint32Array;
  private readonly t: Float64Array; // timeouts by state
  /** Live entries (expired ones included until a lookup or a sweep removes them). */
  count = 0;
  /** Entries evicted to make room (the table or a probe window was full). */
  evictions = 0;
  /** Entries created; entries removed because they expired. */
  created = 0;
  expired = 0;
  /** Set by lookup(): whether the packet goes in the reply direction of the entry found. */
  reply = false;

  constructor(o: ConntrackOptions = {}) {
    const limit = o.limit ?? 65536;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1 << 24) throw new RangeError(`connection table limit ${limit}: 1..16777216`);
    this.limit = limit;
    let n = 64;
    while (n < limit * 2) n *= 2;
    this.slots = n;
    this.mask = n - 1;
    this.src = new Uint32Array(n);
    this.dst = new Uint32Array(n);
    this.ports = new Uint32Array(n);
    this.proto = new Uint8Array(n);
    this.state = new Uint8Array(n);
    this.expires = new Float64Array(n);
    this.value = new Uint32Array(n);
    const tt = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
    this.t = new Float64Array(8);
    this.t[ST_TCP_SYN] = tt.tcpSyn;
    this.t[ST_TCP_EST] = tt.tcpEstablished;
    this.t[ST_TCP_CLOSING] = tt.tcpClosing;
    this.t[ST_TCP_CLOSED] = tt.tcpClosed;
    this.t[ST_UDP] = tt.udp;
    this.t[ST_UDP_REPLIED] = tt.udpReplied;
  }

  private home(proto: number, a: number, b: number, pa: number, pb: number): number {
    // symmetric: (a, pa) and (b, pb) combine with commutative operations
    let h = Math.imul((a ^ b) >>> 0, 0x9e3779b1) ^ Math.imul((a + b) | 0, 0x85ebca6b);
    h ^= Math.imul((pa ^ pb) | ((pa + pb) << 16), 0xc2b2ae35) ^ proto;
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 13;
    return h & this.mask;
  }

  /**
   * The entry of this packet's flow, or -1. Sets `reply` (the packet goes in the entry's reply
   * direction). An expired entry is removed and not returned.
   */
  lookup(proto: number, src: number, dst: number, sport: number, dport: number, now: number): number {
    const m = this.mask, st = this.state;
    const fwd = ((sport << 16) | dport) >>> 0, rev = ((dport << 16) | sport) >>> 0;
    let i = this.home(proto, src, dst, sport, dport);
    for (let p = 0; p < MAX_PROBE; p++, i = (i + 1) & m) {
      const s = st[i]!;
      if (s === ST_EMPTY) return -1;
      if (s === ST_DEAD || this.proto[i] !== proto) continue;
      let rep: boolean;
      if (this.src[i] === src && this.dst[i] === dst && this.ports[i] === fwd) rep = false;
      else if (this.src[i] === dst && this.dst[i] === src && this.ports[i] === rev) rep = true;
      else continue;
      if (this.expires[i]! <= now) { this.remove(i); this.expired++; return -1; }
      this.reply = rep;
      return i;
    }
    return -1;
  }

  /**
   * A new entry for a packet with no entry (lookup() returned -1), in state `state`, holding
   * `value`. When the table or the probe window is full, the entry of the window that expires
   * first is evicted (counted); when the table is at its limit and the window holds no live
   * entry, one found by a hand going round the table. Returns the entry (never -1 today; callers
   * still count a -1 as untracked).
   */
  insert(proto: number, src: number, dst: number, sport: number, dport: number, state: number, value: number, now: number): number {
    const m = this.mask, st = this.state;
    const home = this.home(proto, src, dst, sport, dport);
    let at = -1, soonest = -1, i = home;
    for (let p = 0; p < MAX_PROBE; p++, i = (i + 1) & m) {
      const s = st[i]!;
      if (s === ST_EMPTY || s === ST_DEAD) { if (at < 0) at = i; if (s === ST_EMPTY) break; continue; }
      if (this.expires[i]! <= now) { this.remove(i); this.expired++; if (at < 0) at = i; continue; }
      if (soonest < 0 || this.expires[i]! < this.expires[soonest]!) soonest = i;
    }
    if (at < 0 || this.count >= this.limit) {
      // full (table at its limit, or the whole window live): evict what expires first in the window
      if (soonest < 0) soonest = this.victim(); // at the limit with no live entry in this window
      this.remove(soonest, true); // a tombstone: the new entry may sit past it
      this.evictions++;
      if (at < 0) at = soonest;
    }
    st[at] = state;
    this.proto[at] = proto;
    this.src[at] = src;
    this.dst[at] = dst;
    this.ports[at] = ((sport << 16) | dport) >>> 0;
    this.value[at] = value;
    this.expires[at] = now + this.t[state]!;
    this.count++;
    this.created++;
    return at;
  }

  /** A live entry elsewhere: the next one after a hand that goes round the table (2 slots per entry: a few steps). */
  private victim(): number {
    const st = this.state, m = this.mask;
    let i = this.hand;
    while (st[i]! <= ST_DEAD) i = (i + 1) & m;
    this.hand = (i + 1) & m;
    return i;
  }
  private hand = 0;

  /** Advance entry e's state for a packet (`reply`: in its reply direction; tcpFlags for TCP) and renew its timer. */
  update(e: number, reply: boolean, tcpFlags: number, now: number): void {
    let s = this.state[e]!;
    if (s === ST_UDP) { if (reply) s = ST_UDP_REPLIED; }
    else if (s !== ST_UDP_REPLIED) {
      if (tcpFlags & TCP_RST) s = ST_TCP_CLOSED;
      else if (tcpFlags & TCP_FIN) { if (s !== ST_TCP_CLOSED) s = ST_TCP_CLOSING; }
      else if (s === ST_TCP_SYN && reply) s = ST_TCP_EST;
      else if ((s === ST_TCP_CLOSED || s === ST_TCP_CLOSING) && (tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN && !reply) s = ST_TCP_SYN; // the same 5-tuple opened again
    }
    this.state[e] = s;
    this.expires[e] = now + this.t[s]!;
  }

  /** The state a new entry starts in, for a packet of `proto` with `tcpFlags`. */
  static initialState(proto: number, tcpFlags: number): number {
    if (proto === PROTO_UDP) return ST_UDP;
    if (tcpFlags & TCP_RST) return ST_TCP_CLOSED;
    if (tcpFlags & TCP_FIN) return ST_TCP_CLOSING;
    // a SYN opens; anything else allowed mid-stream (the table was full, or the VNF restarted) is taken as established
    return (tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN ? ST_TCP_SYN : ST_TCP_EST;
  }

  remove(e: number, tombstone = false): void {
    // a tombstone unless the next slot is empty (then nothing probes past this one)
    this.state[e] = !tombstone && this.state[(e + 1) & this.mask] === ST_EMPTY ? ST_EMPTY : ST_DEAD;
    this.count--;
  }

  /** Remove every expired entry; returns how many. */
  sweep(now: number): number {
    let n = 0;
    const st = this.state, ex = this.expires;
    for (let i = this.slots - 1; i >= 0; i--) {
      const s = st[i]!;
      if (s > ST_DEAD && ex[i]! <= now) { this.remove(i); n++; }
      else if (s === ST_DEAD && st[(i + 1) & this.mask] === ST_EMPTY) st[i] = ST_EMPTY; // tombstones at a run's end
    }
    this.expired += n;
    return n;
  }

  /** Live entries by state name (for stats; walks the table). */
  byState(): Record<string, number> {
    const c = new Array<number>(8).fill(0);
    for (let i = 0; i < this.slots; i++) c[this.state[i]!]!++;
    const out: Record<string, number> = {};
    for (let s = ST_TCP_SYN; s < 8; s++) out[STATE_NAMES[s]!] = c[s]!;
    return out;
  }
}
