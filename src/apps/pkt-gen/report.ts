// pkt-gen's output, as pure functions: numbers in, strings out, no I/O.
// The formats follow netmap's apps/pkt-gen/pkt-gen.c (main_thread(), tx_output(),
// ping_body()) and norm() in apps/include/ctrs.h, so existing scripts that scrape
// pkt-gen output keep working. One deviation: with -A we put a space between
// "[avg/std ... pps]" and "(" (the C tool runs them together).

/**
 * printf("%.<digits>f", x). Number.prototype.toFixed rounds exact halves away from
 * zero while glibc rounds them to even (printf("%.0f", 2.5) is "2"); we follow glibc.
 */
export function formatFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return x < 0 ? '-nan' : 'nan';
  if (!Number.isFinite(x)) return x < 0 ? '-inf' : 'inf';
  const sign = x < 0 ? '-' : '';
  const a = Math.abs(x);
  if (a >= 1e21) {
    // Too big for toFixed; such doubles are integers anyway.
    return sign + BigInt(a).toString() + (digits > 0 ? '.' + '0'.repeat(digits) : '');
  }
  let s = a.toFixed(digits);
  // An exact tie shows as "5" then only zeros in the exact expansion (toFixed(100)
  // is exact for every double this can be a tie for).
  const exact = a.toFixed(100);
  const dot = exact.indexOf('.');
  const tail = exact.slice(dot + 1 + digits);
  if (/^50*$/.test(tail)) {
    const kept = digits > 0 ? exact.slice(0, dot + 1 + digits) : exact.slice(0, dot);
    const last = kept.charCodeAt(kept.length - 1) - 48;
    if (last % 2 === 0) s = kept;
  }
  return sign + s;
}

const UNITS = ['', 'K', 'M', 'G', 'T'] as const;

/**
 * pkt-gen's norm(): with normalize, divide by 1000 while >= 1000 (up to T) and print
 * "%.3f <unit>"; without, "%.0f ". The unit letter (or nothing) is followed by the
 * caller's "pps"/"bps"/"pkts", hence "6.728 Mpps", "999.000 pps", "14880000 pps".
 */
export function norm(value: number, normalize: boolean): string {
  if (!normalize) return `${formatFixed(value, 0)} `;
  let v = value;
  let i = 0;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${formatFixed(v, 3)} ${UNITS[i]}`;
}

/** pkt-gen's rounded packets per second for an interval: (pkts * 1e6 + usec / 2) / usec. */
export function intervalPps(pkts: number, usec: number): number {
  if (usec <= 0) return 0;
  return Math.floor((pkts * 1e6 + Math.floor(usec / 2)) / usec);
}

/** Bits per second for an interval, -B's framing bytes included. */
export function intervalBps(pkts: number, bytes: number, usec: number, framingBytes = 0): number {
  if (usec <= 0) return 0;
  return (1e6 * (bytes * 8 + pkts * framingBytes * 8)) / usec;
}

export interface IntervalStats {
  /** Packets per second (see intervalPps). */
  pps: number;
  /** Packets in the interval. */
  pkts: number;
  /** Bits per second (see intervalBps). */
  bps: number;
  /** Length of the interval in microseconds. */
  usec: number;
  /** Packets per sync (pkts / events), 0 without events. */
  avgBatch: number;
  /** Smallest free space seen in the rx rings (0 for tx). */
  minSpace: number;
  /** -A: window mean and standard deviation of pps (RateWindow). */
  avgPps?: number;
  stdPps?: number;
}

/**
 * One report line of main_thread(), without the timestamp prefix:
 * "6.728 Mpps (6.735 Mpkts 3.229 Gbps in 1001031 usec) 512.00 avg_batch 0 min_space",
 * with showAvg "6.728 Mpps [avg/std 6.730 M/2.000 K pps] (6.735 Mpkts ...".
 */
export function intervalLine(s: IntervalStats, o: { normalize: boolean; showAvg: boolean }): string {
  const n = o.normalize;
  const avg = o.showAvg ? `[avg/std ${norm(s.avgPps ?? 0, n)}/${norm(s.stdPps ?? 0, n)} pps] ` : '';
  return `${norm(s.pps, n)}pps ${avg}(${norm(s.pkts, n)}pkts ${norm(s.bps, n)}bps in ${Math.trunc(s.usec)} usec) ` +
    `${formatFixed(s.avgBatch, 2)} avg_batch ${Math.trunc(s.minSpace)} min_space`;
}

export interface SummaryStats {
  direction: 'Sent' | 'Received';
  pkts: number;
  bytes: number;
  /** Syncs that moved at least one packet. */
  events: number;
  /** Printed as "N bytes each"; default floor(bytes / pkts) as pkt-gen does. */
  frameLen?: number;
  /** Elapsed time of the data loop. */
  seconds: number;
  /** bytes plus framing (-B: 24 per packet); equals bytes without -B. */
  rawBytes: number;
}

/**
 * tx_output(): the final two lines, e.g.
 *   "Sent 500111222 packets 30006673320 bytes 976780 events 60 bytes each in 33.61 seconds."
 *   "Speed: 14.880 Mpps Bandwidth: 7.142 Gbps (raw 7.142 Gbps). Average batch: 512.00 pkts"
 * or the single line "Received nothing." ("Sent nothing.") without packets.
 * Rates are computed with 1 us when seconds is 0, like pkt-gen.
 */
export function summaryLines(s: SummaryStats, normalize: boolean): string[] {
  if (s.pkts === 0) return [`${s.direction} nothing.`];
  const each = s.frameLen ?? Math.floor(s.bytes / s.pkts);
  const first = `${s.direction} ${s.pkts} packets ${s.bytes} bytes ${s.events} events ${each} bytes each in ` +
    `${formatFixed(s.seconds, 2)} seconds.`;
  const t = s.seconds > 0 ? s.seconds : 1e-6;
  const pps = s.pkts / t;
  const bw = (8 * s.bytes) / t;
  const raw = (8 * s.rawBytes) / t;
  const batch = s.events > 0 ? s.pkts / s.events : 0;
  const second = `Speed: ${norm(pps, normalize)}pps Bandwidth: ${norm(bw, normalize)}bps ` +
    `(raw ${norm(raw, normalize)}bps). Average batch: ${formatFixed(batch, 2)} pkts`;
  return [first, second];
}

/**
 * -A: mean and population standard deviation of the last `size` pps samples (15 in
 * pkt-gen). As in pkt-gen, zero samples do not count: the window starts empty and an
 * idle interval does not drag the mean down. Fixed storage, nothing allocated per sample.
 */
export class RateWindow {
  private readonly win: Float64Array;
  private idx = 0;
  private m = 0;
  private sd = 0;

  constructor(size = 15) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`RateWindow size must be >= 1, got ${size}`);
    this.win = new Float64Array(size);
  }

  /** Add one sample and recompute mean and std-dev. */
  push(pps: number): void {
    const w = this.win;
    w[this.idx] = pps;
    this.idx = (this.idx + 1) % w.length;
    let sum = 0;
    let n = 0;
    for (let i = 0; i < w.length; i++) {
      const v = w[i] as number;
      if (v !== 0) {
        sum += v;
        n++;
      }
    }
    if (n === 0) {
      this.m = 0;
      this.sd = 0;
      return;
    }
    const mean = sum / n;
    let sq = 0;
    for (let i = 0; i < w.length; i++) {
      const v = w[i] as number;
      if (v !== 0) sq += (v - mean) * (v - mean);
    }
    this.m = mean;
    this.sd = Math.sqrt(sq / n);
  }

  mean(): number {
    return this.m;
  }

  std(): number {
    return this.sd;
  }

  /** Forget all samples. */
  clear(): void {
    this.win.fill(0);
    this.idx = 0;
    this.m = 0;
    this.sd = 0;
  }
}

/** Index of the highest set bit (0 for 0 and for values below 2). */
export function log2Bucket(ns: number): number {
  if (!(ns >= 2)) return 0;
  if (ns < 4294967296) return 31 - Math.clz32(ns);
  const hi = Math.floor(ns / 4294967296);
  return Math.min(63, 63 - Math.clz32(hi));
}

/**
 * ping's RTT statistics for one report interval: log2 buckets of nanoseconds (bucket k
 * holds [2^k, 2^(k+1)) ns, with 0 and 1 ns in bucket 0), plus count, minimum and sum.
 */
export class RttHistogram {
  readonly buckets = new Float64Array(64);
  count = 0;
  minNs = Infinity;
  sumNs = 0;

  add(ns: number): void {
    const k = log2Bucket(ns);
    this.buckets[k] = (this.buckets[k] as number) + 1;
    this.count++;
    this.sumNs += ns;
    if (ns < this.minNs) this.minNs = ns;
  }

  /** Mean RTT, 0 without samples. */
  avgNs(): number {
    return this.count > 0 ? this.sumNs / this.count : 0;
  }

  /** Lowest and highest non-empty bucket, or undefined if empty. */
  range(): { kmin: number; kmax: number } | undefined {
    let kmin = 0;
    while (kmin < 64 && this.buckets[kmin] === 0) kmin++;
    if (kmin === 64) return undefined;
    let kmax = 63;
    while (this.buckets[kmax] === 0) kmax--;
    return { kmin, kmax };
  }

  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.minNs = Infinity;
    this.sumNs = 0;
  }
}

function ns(v: number): string {
  return Number.isFinite(v) ? String(Math.trunc(v)) : '0';
}

/** ping's per-second line: "count 1000 RTT: min 5012 av 7311 ns" (integers, truncated). */
export function rttLine(count: number, minNs: number, avgNs: number): string {
  return `count ${count} RTT: min ${ns(minNs)} av ${ns(avgNs)} ns`;
}

/**
 * ping's histogram, two lines as pkt-gen prints them: "k: 2^kmin .. 2^kmax", then a
 * tab and the counts of buckets kmin..kmax, each as " %5d":
 *   "k: 4096 .. 16384\n\t   12   950    38"
 * An empty histogram prints "k: 0 .. 0" and an empty second line.
 */
export function histogramLine(h: RttHistogram): string {
  const r = h.range();
  if (r === undefined) return 'k: 0 .. 0\n\t';
  let counts = '';
  for (let k = r.kmin; k <= r.kmax; k++) counts += ' ' + String(h.buckets[k]).padStart(5);
  return `k: ${2 ** r.kmin} .. ${2 ** r.kmax}\n\t${counts}`;
}

/** ping's final line: "RTT over 5000 packets: min 4980 av 7400 ns". */
export function rttSummary(count: number, minNs: number, avgNs: number): string {
  return `RTT over ${count} packets: min ${ns(minNs)} av ${ns(avgNs)} ns`;
}

/**
 * Ours, after the summary: the frames the port lost while pkt-gen ran, so that nothing is
 * lost silently. A sender: "Dropped 12 packets: the switch could not deliver them (receiver
 * ring full, or no destination)."; a receiver: "Dropped 12 packets: this port's receive ring
 * was full.". Printed with 0 too, so that scripts can rely on the line.
 */
export function dropLine(direction: 'Sent' | 'Received', dropped: number): string {
  return direction === 'Sent'
    ? `Dropped ${dropped} packets: the switch could not deliver them (receiver ring full, or no destination).`
    : `Dropped ${dropped} packets: this port's receive ring was full.`;
}

export interface JsonSummaryInput {
  function: string;
  port: string;
  packets: number;
  bytes: number;
  events: number;
  seconds: number;
  /** bytes plus -B framing; defaults to bytes. */
  rawBytes?: number;
  /** Frames the port lost (dropLine); 0 when not given. */
  dropped?: number;
  /** ping only. */
  rttMinNs?: number;
  rttAvgNs?: number;
}

function round(x: number, digits: number): number {
  if (!Number.isFinite(x)) return 0;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * --json: the summary as one line of JSON. Keys, always in this order:
 *   function   -f value ("tx", "rx", ...)
 *   port       -i value
 *   packets    packets moved (sent or received; ping: requests sent)
 *   bytes      bytes moved, without framing
 *   events     syncs that moved at least one packet
 *   seconds    elapsed time, 6 decimals
 *   pps        packets per second, rounded to an integer
 *   mpps       millions of packets per second, 6 decimals
 *   gbps       payload bandwidth in Gbit/s, 6 decimals
 *   raw_gbps   bandwidth including -B framing, 6 decimals (= gbps without -B)
 *   avg_batch  packets / events, 3 decimals (0 without events)
 *   frame_len  bytes / packets rounded down (0 without packets)
 *   dropped    frames the port lost: tx, not delivered by the switch; rx, its ring was full
 * and for ping, when given:
 *   rtt_min_ns, rtt_avg_ns   integers, truncated
 * Rates are 0 when seconds is 0. No trailing newline.
 */
export function jsonSummary(s: JsonSummaryInput): string {
  const t = s.seconds;
  const rate = (x: number): number => (t > 0 ? x / t : 0);
  const out: Record<string, string | number> = {
    function: s.function,
    port: s.port,
    packets: s.packets,
    bytes: s.bytes,
    events: s.events,
    seconds: round(t, 6),
    pps: Math.round(rate(s.packets)),
    mpps: round(rate(s.packets) / 1e6, 6),
    gbps: round(rate(8 * s.bytes) / 1e9, 6),
    raw_gbps: round(rate(8 * (s.rawBytes ?? s.bytes)) / 1e9, 6),
    avg_batch: round(s.events > 0 ? s.packets / s.events : 0, 3),
    frame_len: s.packets > 0 ? Math.floor(s.bytes / s.packets) : 0,
    dropped: s.dropped ?? 0,
  };
  if (s.rttMinNs !== undefined) out['rtt_min_ns'] = Number.isFinite(s.rttMinNs) ? Math.trunc(s.rttMinNs) : 0;
  if (s.rttAvgNs !== undefined) out['rtt_avg_ns'] = Number.isFinite(s.rttAvgNs) ? Math.trunc(s.rttAvgNs) : 0;
  return JSON.stringify(out);
}

/**
 * The prefix pkt-gen's D() puts on log lines, "SSS.UUUUUU func [line] ", where SSS is
 * the Unix time in seconds modulo 1000 and UUUUUU the microseconds. We keep the clock
 * part and the function name but drop "[line]": C source line numbers would mean
 * nothing here, and faking them would only mislead. So: "749.057310 main_thread ".
 * `when` is a Date or milliseconds since the epoch (fractions give microseconds);
 * default now, with microseconds from performance.now().
 */
export function timestampPrefix(when?: Date | number, func = 'main_thread'): string {
  const ms = when === undefined
    ? performance.timeOrigin + performance.now()
    : typeof when === 'number' ? when : when.getTime();
  const totalUs = Math.round(ms * 1000);
  const sec = Math.floor(totalUs / 1e6);
  const us = totalUs - sec * 1e6;
  const sss = String(sec % 1000).padStart(3, '0');
  return `${sss}.${String(us).padStart(6, '0')} ${func} `;
}
