// One status line for long-running tools (replay, capture -c, lb): rewritten in place on
// standard error ("\r" + text + erase-to-end-of-line) when that is a terminal, and erased
// at the end so the tool's own summary starts on a clean line. Nothing is written when
// standard error is not a terminal (a log, a pipe, a test), unless the user asked for it
// with --progress: then each update is a plain line, for a log that wants them.
//
// The tools call update() from the periodic hooks they already have (replay's pacing loop,
// capture's batch loop, lb's statistics timer), with figures read from their counters; the
// text is built there, at most once per interval (`due()`), never per packet. Lines the
// tool prints meanwhile go through line(), which erases the status, prints, and redraws it.

/** 'auto': only on a terminal (the default); 'on': always; 'off': never. */
export type ProgressMode = 'auto' | 'on' | 'off';

/** What the line is written to (process.stderr, or a test's fake). */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

/** Erase from the cursor to the end of the line (ANSI EL). */
const EL = '\x1b[K';

export class ProgressLine {
  /** True when updates are written at all. */
  readonly enabled: boolean;
  /** True when the line is rewritten in place (a terminal); false: one line per update. */
  readonly inPlace: boolean;
  private readonly stream: ProgressStream;
  private readonly intervalMs: number;
  private shown = '';
  private next = 0;

  constructor(stream: ProgressStream, mode: ProgressMode = 'auto', intervalMs = 1000) {
    this.stream = stream;
    this.inPlace = stream.isTTY === true;
    this.enabled = mode === 'on' || (mode === 'auto' && this.inPlace);
    this.intervalMs = intervalMs;
  }

  /** The line for process.stderr with the user's choice. */
  static stderr(mode: ProgressMode, intervalMs?: number): ProgressLine {
    return new ProgressLine(process.stderr, mode, intervalMs);
  }

  /**
   * True when an update is due at `now` (ms, any monotonic clock) and the line is enabled;
   * the next one is then due an interval later. Cheap: a caller may ask on every batch.
   */
  due(now: number): boolean {
    if (!this.enabled || now < this.next) return false;
    this.next = now + this.intervalMs;
    return true;
  }

  /** Show `text` (one line, no newline). */
  update(text: string): void {
    if (!this.enabled) return;
    if (!this.inPlace) { this.stream.write(text + '\n'); return; }
    const cols = this.stream.columns ?? 0;
    // a line wider than the terminal would wrap and "\r" would no longer reach its start
    const t = cols > 1 && text.length >= cols ? text.slice(0, cols - 1) : text;
    this.shown = t;
    this.stream.write('\r' + t + EL);
  }

  /** Print a whole line (a notice, a warning) without mangling the status line. */
  line(text: string): void {
    if (this.shown === '') { this.stream.write(text + '\n'); return; }
    this.stream.write('\r' + EL + text + '\n' + this.shown + EL);
  }

  /** Write `text` (a whole line) to another stream on the same terminal (stdout): the status
   * line is erased first and redrawn after, so neither garbles the other. */
  lineOn(other: ProgressStream, text: string): void {
    if (this.shown === '') { other.write(text + '\n'); return; }
    this.stream.write('\r' + EL);
    other.write(text + '\n');
    this.stream.write(this.shown + EL);
  }

  /** Erase the status line (at the end, before the summary). Idempotent. */
  clear(): void {
    if (this.shown === '') return;
    this.shown = '';
    this.stream.write('\r' + EL);
  }
}

/** Parse --progress / --no-progress into a mode; null when `arg` is neither. */
export function progressFlag(arg: string): ProgressMode | null {
  return arg === '--progress' ? 'on' : arg === '--no-progress' ? 'off' : null;
}

/** A count with an SI suffix: 999, 1.23k, 45.6M. */
export function siCount(v: number): string {
  if (!Number.isFinite(v)) return '-';
  const a = Math.abs(v);
  const [d, s] = a >= 1e9 ? [1e9, 'G'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'k'] : [1, ''];
  if (d === 1) return String(Math.round(v));
  const x = v / d;
  return `${Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2)}${s}`;
}

/** Seconds as m:ss or h:mm:ss ('-' when unknown). */
export function clockTime(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '-';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const p = (v: number): string => String(v).padStart(2, '0');
  return h > 0 ? `${h}:${p(m)}:${p(r)}` : `${m}:${p(r)}`;
}

/**
 * "done/total (pct)  rate unit/s  elapsed  ETA" for work with a known end: `fraction` is the
 * share done (0..1, from whatever bounds the run), `total` the count when known (else the
 * count alone is shown).
 */
export function progressText(o: {
  tool: string; done: number; total?: number | string; unit: string; rate: number; elapsedSec: number; fraction?: number; extra?: string;
}): string {
  const parts: string[] = [];
  let count = `${o.tool}: ${o.done}`;
  if (o.total !== undefined && o.total !== '' && (typeof o.total === 'string' || Number.isFinite(o.total))) count += `/${o.total}`;
  count += ` ${o.unit}`;
  const f = o.fraction;
  if (f !== undefined && Number.isFinite(f)) count += ` (${(Math.min(1, Math.max(0, f)) * 100).toFixed(1)} %)`;
  parts.push(count);
  parts.push(`${siCount(o.rate)} ${o.unit}/s`);
  if (o.extra) parts.push(o.extra);
  parts.push(`elapsed ${clockTime(o.elapsedSec)}`);
  if (f !== undefined && Number.isFinite(f)) {
    parts.push(`ETA ${f > 0 ? clockTime(o.elapsedSec * (1 - Math.min(1, f)) / f) : '-'}`);
  }
  return parts.join('  ');
}

/** Rate of a counter between two readings (per second; 0 before the second reading). */
export class RateMeter {
  private lastT = -1;
  private lastV = 0;
  rate = 0;
  /** Feed the counter's value at `now` (ms); returns the rate since the previous reading. */
  sample(now: number, value: number): number {
    if (this.lastT >= 0 && now > this.lastT) this.rate = (value - this.lastV) * 1000 / (now - this.lastT);
    this.lastT = now;
    this.lastV = value;
    return this.rate;
  }
}
