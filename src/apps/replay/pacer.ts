// When replay sends each packet: its due time on the monotonic clock (ms), by the speed option.
//   capture timing (--multiplier M): anchor + tsRel / M, the anchor set at the start of each
//     file and of each pass, so a file plays from its first packet on;
//   --pps R (with --pps-multi K): K packets every K / R s, counted from the anchor;
//   --mbps R: the bytes scheduled so far at R Mbit/s from the anchor;
//   --topspeed: always due (0).
// The schedule is absolute (due times grow from the anchor, they are not sleeps added up), so
// a late batch is followed by an early one and the average rate holds. For pps and mbps the
// anchor moves only after a --loop-delay pause. Called once per packet in replay's send loop:
// no allocation, numbers only.
import type { ReplayOptions } from './options.js';

const TOP = 0, TIMING = 1, PPS = 2, MBPS = 3;

export class Pacer {
  private readonly mode: number;
  private readonly mult: number;
  /** ms per packet (pps) */
  private readonly ppsPeriod: number;
  private readonly ppsMulti: number;
  /** ms per byte (mbps) */
  private readonly msPerByte: number;
  /** ms: schedule origin of this pass or file (timing), since the last loop delay (pps, mbps) */
  private anchor: number;
  /** packets scheduled since the anchor (pps) */
  private pkts = 0;
  /** bytes scheduled since the anchor (mbps) */
  private bytes = 0;

  constructor(o: Pick<ReplayOptions, 'speed' | 'rate' | 'ppsMulti'>, start: number) {
    this.mode = o.speed === 'topspeed' || o.speed === 'oneatatime' ? TOP : o.speed === 'pps' ? PPS : o.speed === 'mbps' ? MBPS : TIMING;
    this.mult = o.speed === 'multiplier' ? o.rate : 1;
    this.ppsPeriod = this.mode === PPS ? 1000 / o.rate : 0;
    this.ppsMulti = o.ppsMulti > 1 ? o.ppsMulti : 1;
    this.msPerByte = this.mode === MBPS ? 8 / (o.rate * 1000) : 0;
    this.anchor = start;
  }

  /** A new pass over the files begins at `now`, after a --loop-delay pause if `paused`. */
  passStart(now: number, paused: boolean): void {
    if (paused || this.mode === TIMING) this.restart(now);
  }

  /** A file's first packet is pending at `now`: capture timing plays each file from its start. */
  fileStart(now: number): void {
    if (this.mode === TIMING) this.anchor = now;
  }

  /** Due time (clock ms) of the next packet, captured `tsRel` ms after its file's first. */
  due(tsRel: number): number {
    const m = this.mode;
    return m === TOP ? 0
      : m === TIMING ? this.anchor + (tsRel > 0 ? tsRel / this.mult : 0)
      : m === PPS ? this.anchor + Math.floor(this.pkts / this.ppsMulti) * this.ppsMulti * this.ppsPeriod
      : this.anchor + this.bytes * this.msPerByte;
  }

  /** A packet of `len` bytes was scheduled (sent, or counted as failed). */
  scheduled(len: number): void {
    this.pkts++;
    this.bytes += len;
  }

  private restart(now: number): void {
    this.anchor = now;
    this.pkts = 0;
    this.bytes = 0;
  }
}
