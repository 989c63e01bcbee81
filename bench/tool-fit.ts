// Least-squares slope of a running count over time: the rate of a stream whose arrivals are
// observed in batches or by sampling, robust to one late observation at either end.

export class RateFit {
  private n = 0;
  private st = 0;
  private sc = 0;
  private stt = 0;
  private stc = 0;

  /** One observation: `count` (cumulative) seen at `t` seconds. */
  add(t: number, count: number): void {
    this.n++;
    this.st += t;
    this.sc += count;
    this.stt += t * t;
    this.stc += t * count;
  }

  /** Count per second; NaN with fewer than two distinct times. */
  slope(): number {
    const d = this.n * this.stt - this.st * this.st;
    return d > 0 ? (this.n * this.stc - this.st * this.sc) / d : NaN;
  }
}
