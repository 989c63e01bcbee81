// The firewall's verdict on one frame: ordered rules (fw-rules.ts) plus a connection table
// (conntrack.ts), with every frame that does not pass counted under one reason.
//
// The rules are compiled together into one generated function (packet/filter.ts
// compileFirstMatch): one call per frame, whatever their number.
// For an IPv4 TCP or UDP frame, the connection table is asked first: a frame of a known flow,
// in either direction, passes without the rules (that is how replies of an allowed flow get
// through with no rule of their own) and moves the flow's state on. Otherwise the rules are
// tried in order and the first that matches decides (its hit counter counts the frame); no
// match: the default policy. An allowed TCP/UDP frame creates an entry for its flow.
// ARP that no rule matches always passes (a bridge that dropped it would cut IPv4 as well);
// every other frame no rule matches gets the default policy.
//
// Checked before anything else (a frame that fails is dropped and counted): the IPv4 header
// (version, lengths, header checksum), the TCP/UDP header fitting in the packet. IP fragments
// are dropped and counted (no reassembly in this slice). TCP and UDP checksums are not
// verified: the receiving host does that.
//
// No allocation per frame: counters are Float64Array slots, the table is typed arrays.
import { checksumAdd, checksumFold } from '../../packet/checksum.js';
import { compileFirstMatch } from '../../packet/filter.js';
import { Conntrack, PROTO_TCP, PROTO_UDP, type ConntrackOptions } from './conntrack.js';
import type { Rule } from './fw-rules.js';

/** Counter indices (FirewallEngine.counters). */
export const F = {
  /** frames that passed because their flow is in the table */
  established: 0,
  /** frames a rule allowed (new flows for TCP/UDP) */
  ruleAllowed: 1,
  /** frames passed by the default policy (allow) */
  defaultAllowed: 2,
  /** ARP frames no rule matched (they pass) */
  arpPassed: 3,
  /** allowed TCP/UDP frames whose flow could not be entered (table at its limit): passed untracked */
  untracked: 4,
  // drops
  truncated: 5,
  badIpHeader: 6,
  badIpChecksum: 7,
  fragment: 8,
  ruleDenied: 9,
  defaultDenied: 10,
} as const;
export const FW_NCOUNTERS = 11;
const FIRST_DROP = F.truncated;

export type FwCounterName = keyof typeof F;

export interface FirewallEngineOptions extends ConntrackOptions {
  rules: Rule[];
  /** The policy for frames no rule matches (ARP excepted): default deny. */
  defaultAllow?: boolean;
}

export interface FirewallStats extends Record<FwCounterName, number> {
  /** sum of the drop reasons */
  dropped: number;
  conntrack: { entries: number; limit: number; created: number; expired: number; evictions: number; byState: Record<string, number> };
  rules: { rule: string; line: number; hits: number }[];
  defaultPolicy: 'allow' | 'deny';
}

export class FirewallEngine {
  readonly rules: Rule[];
  readonly defaultAllow: boolean;
  readonly ct: Conntrack;
  readonly counters = new Float64Array(FW_NCOUNTERS);
  /** per rule: frames it decided */
  readonly hits: Float64Array;
  /** the clock (ms), set by the caller once per batch */
  now = 0;
  /** all the rules as one generated function: the index of the first that matches, or -1 */
  private readonly firstOf: (u8: Uint8Array, off: number, len: number) => number;
  private readonly allows: Uint8Array;

  constructor(o: FirewallEngineOptions) {
    this.rules = o.rules;
    this.defaultAllow = o.defaultAllow ?? false;
    this.ct = new Conntrack(o);
    this.hits = new Float64Array(o.rules.length);
    this.firstOf = compileFirstMatch(o.rules.map((r) => r.expr));
    this.allows = Uint8Array.from(o.rules, (r) => (r.allow ? 1 : 0));
  }

  /** The first rule matching the frame, or -1. */
  private firstMatch(u8: Uint8Array, off: number, len: number): number {
    const i = this.firstOf(u8, off, len);
    if (i >= 0) this.hits[i]++;
    return i;
  }

  /**
   * Whether the Ethernet frame u8[off, off+len) may pass. `chained`: these are the first bytes
   * of a longer frame (a super-frame in several slots): its IPv4 total length may exceed len,
   * the headers must still be within len.
   */
  check(u8: Uint8Array, off: number, len: number, chained = false): boolean {
    const c = this.counters;
    if (len < 14) { c[F.truncated]++; return false; }
    const type = (u8[off + 12]! << 8) | u8[off + 13]!;
    if (type !== 0x0800) {
      const r = this.firstMatch(u8, off, len);
      if (r >= 0) {
        if (this.allows[r]) { c[F.ruleAllowed]++; return true; }
        c[F.ruleDenied]++;
        return false;
      }
      if (type === 0x0806) { c[F.arpPassed]++; return true; }
      return this.byDefault();
    }
    const ip = off + 14;
    if (len < 34) { c[F.truncated]++; return false; }
    const vhl = u8[ip]!, hl = (vhl & 15) << 2, tot = (u8[ip + 2]! << 8) | u8[ip + 3]!;
    if (vhl >> 4 !== 4 || hl < 20 || tot < hl) { c[F.badIpHeader]++; return false; }
    if (14 + tot > len && !chained) { c[F.truncated]++; return false; }
    if (14 + hl > len) { c[F.truncated]++; return false; }
    if (checksumFold(checksumAdd(u8, ip, hl, 0)) !== 0xffff) { c[F.badIpChecksum]++; return false; }
    if ((((u8[ip + 6]! << 8) | u8[ip + 7]!) & 0x3fff) !== 0) { c[F.fragment]++; return false; }
    const proto = u8[ip + 9]!;
    if (proto !== PROTO_TCP && proto !== PROTO_UDP) return this.byRules(u8, off, len, -1, 0, 0, 0, 0, 0);
    const l4 = ip + hl, l4len = tot - hl;
    if (l4len < (proto === PROTO_TCP ? 20 : 8) || l4 + (proto === PROTO_TCP ? 20 : 8) > off + len) { c[F.truncated]++; return false; }
    const src = rd32(u8, ip + 12), dst = rd32(u8, ip + 16);
    const sport = (u8[l4]! << 8) | u8[l4 + 1]!, dport = (u8[l4 + 2]! << 8) | u8[l4 + 3]!;
    const flags = proto === PROTO_TCP ? u8[l4 + 13]! : 0;
    const ct = this.ct;
    const e = ct.lookup(proto, src, dst, sport, dport, this.now);
    if (e >= 0) {
      ct.update(e, ct.reply, flags, this.now);
      c[F.established]++;
      return true;
    }
    return this.byRules(u8, off, len, proto, src, dst, sport, dport, flags);
  }

  private byRules(u8: Uint8Array, off: number, len: number, proto: number, src: number, dst: number, sport: number, dport: number, flags: number): boolean {
    const c = this.counters;
    const r = this.firstMatch(u8, off, len);
    let allow: boolean;
    if (r >= 0) {
      allow = this.allows[r] === 1;
      c[allow ? F.ruleAllowed : F.ruleDenied]++;
    } else {
      allow = this.defaultAllow;
      c[allow ? F.defaultAllowed : F.defaultDenied]++;
    }
    if (allow && proto >= 0) {
      if (this.ct.insert(proto, src, dst, sport, dport, Conntrack.initialState(proto, flags), 0, this.now) < 0) c[F.untracked]++;
    }
    return allow;
  }

  private byDefault(): boolean {
    this.counters[this.defaultAllow ? F.defaultAllowed : F.defaultDenied]++;
    return this.defaultAllow;
  }

  stats(): FirewallStats {
    const c = this.counters;
    const s = {} as Record<string, unknown>;
    let dropped = 0;
    for (const [k, i] of Object.entries(F)) {
      s[k] = c[i];
      if (i >= FIRST_DROP) dropped += c[i]!;
    }
    s.dropped = dropped;
    const ct = this.ct;
    s.conntrack = { entries: ct.count, limit: ct.limit, created: ct.created, expired: ct.expired, evictions: ct.evictions, byState: ct.byState() };
    s.rules = this.rules.map((r, i) => ({ rule: r.text, line: r.line, hits: this.hits[i]! }));
    s.defaultPolicy = this.defaultAllow ? 'allow' : 'deny';
    return s as unknown as FirewallStats;
  }
}

/** The drop reasons, in counter order. */
export const FW_DROP_REASONS = (Object.keys(F) as FwCounterName[]).filter((k) => F[k] >= FIRST_DROP);

function rd32(u8: Uint8Array, o: number): number {
  return ((u8[o]! << 24) | (u8[o + 1]! << 16) | (u8[o + 2]! << 8) | u8[o + 3]!) >>> 0;
}
