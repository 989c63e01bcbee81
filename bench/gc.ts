/**
 * GC accounting for benchmark threads.
 *
 * `countGc()` starts a perf_hooks PerformanceObserver on entryTypes ['gc'] in
 * the calling thread (main thread or worker: each isolate has its own heap and
 * its own GC entries) and remembers every GC's start time as epoch
 * milliseconds, so it can answer "how many GCs started inside [from, to)"
 * where the window was decided by another thread.
 */
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';

export interface GcCounter {
  /** GCs whose start lies in [fromEpochMs, toEpochMs) (default: all seen). */
  count(fromEpochMs?: number, toEpochMs?: number): number;
  /** Of those, how many were major (mark-compact) collections. */
  countMajor(fromEpochMs?: number, toEpochMs?: number): number;
  /** Wait until GC entries already produced by V8 have been delivered. */
  flush(): Promise<void>;
  stop(): void;
}

interface GcEvent {
  start: number; // epoch ms
  major: boolean;
}

function isMajor(e: PerformanceEntry): boolean {
  const detail = (e as PerformanceEntry & { detail?: { kind?: number } }).detail;
  const kind = detail?.kind ?? 0;
  return (kind & constants.NODE_PERFORMANCE_GC_MAJOR) !== 0;
}

export function countGc(): GcCounter {
  const events: GcEvent[] = [];
  const take = (entries: PerformanceEntry[]): void => {
    for (const e of entries) {
      events.push({ start: performance.timeOrigin + e.startTime, major: isMajor(e) });
    }
  };
  const obs = new PerformanceObserver((list) => take(list.getEntries()));
  obs.observe({ entryTypes: ['gc'] });
  let stopped = false;

  const pull = (): void => {
    if (!stopped) take(obs.takeRecords());
  };
  const within = (from: number, to: number, majorOnly: boolean): number => {
    pull();
    let n = 0;
    for (const ev of events) {
      if (ev.start >= from && ev.start < to && (!majorOnly || ev.major)) n++;
    }
    return n;
  };

  return {
    count: (from = -Infinity, to = Infinity) => within(from, to, false),
    countMajor: (from = -Infinity, to = Infinity) => within(from, to, true),
    flush: async () => {
      // GC entries are queued from a V8 GC epilogue and delivered through the
      // event loop; give that a couple of turns.
      for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
      await new Promise<void>((r) => setTimeout(r, 5));
      pull();
    },
    stop: () => {
      if (stopped) return;
      pull();
      stopped = true;
      obs.disconnect();
    },
  };
}
