// pkt-gen's interval lines: every -T ms the main thread reads the threads' counters (shared.ts)
// and prints the rate since the last line (pps, bps, average batch, least free space; with
// ping, the round trips and their histogram), as netmap's pkt-gen does.
import type { PktGenOptions } from './options.js';
import { histogramLine, intervalBps, intervalLine, intervalPps, RateWindow, RttHistogram, rttLine, timestampPrefix } from './report.js';
import { HIST, ROW, S } from './shared.js';

export class IntervalReporter {
  private readonly window = new RateWindow();
  private readonly hist = new RttHistogram();
  /** Totals at the last line, and when (performance.now()). */
  private last: { pkts: number; bytes: number; events: number; rtt: number; rttSum: number; t: number };

  constructor(private readonly o: PktGenOptions, private readonly stats: Float64Array, private readonly err: (line: string) => void, t0: number) {
    this.last = { pkts: 0, bytes: 0, events: 0, rtt: 0, rttSum: 0, t: t0 };
  }

  /** The sum of counter k over the threads. */
  sum(k: number): number {
    let v = 0;
    for (let t = 0; t < this.o.threads; t++) v += this.stats[t * ROW + k];
    return v;
  }

  /** Milliseconds until the next line is due (<= 0: now). */
  dueIn(now: number): number {
    return this.last.t + this.o.reportMs - now;
  }

  /** Print one interval line (and with ping, its round trips). */
  report(): void {
    const o = this.o, stats = this.stats, last = this.last;
    const now = performance.now();
    const pkts = this.sum(S.pkts), bytes = this.sum(S.bytes), events = this.sum(S.events);
    const usec = (now - last.t) * 1000;
    const dp = pkts - last.pkts, db = bytes - last.bytes, de = events - last.events;
    const pps = intervalPps(dp, usec);
    if (o.ppsStats) this.window.push(pps);
    let minSpace = 0;
    for (let t = 0; t < o.threads; t++) {
      const m = stats[t * ROW + S.minSpace];
      if (m >= 0) minSpace = t === 0 ? m : Math.min(minSpace, m);
      stats[t * ROW + S.minSpace] = -1;
    }
    this.err(timestampPrefix() + intervalLine({ pps, pkts: dp, bps: intervalBps(dp, db, usec, o.framingBytes), usec, avgBatch: de ? dp / de : 0, minSpace, avgPps: this.window.mean(), stdPps: this.window.std() }, { normalize: o.normalize, showAvg: o.ppsStats }));
    if (o.function === 'ping') {
      const cnt = stats[S.rttCount], rsum = stats[S.rttSum];
      for (let k = 0; k < 64; k++) this.hist.buckets[k] = stats[o.threads * ROW + k];
      const dc = cnt - last.rtt;
      if (dc > 0) {
        this.err(rttLine(dc, stats[S.rttMin], (rsum - last.rttSum) / dc));
        this.err(histogramLine(this.hist));
      }
      last.rtt = cnt; last.rttSum = rsum;
      stats.fill(0, o.threads * ROW, o.threads * ROW + HIST);
    }
    last.pkts = pkts; last.bytes = bytes; last.events = events; last.t = now;
  }
}
