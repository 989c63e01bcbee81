// The text of `nmts replay`'s status line (apps/common/progress.ts shows it): frames sent
// out of the total, the rate over the last interval, elapsed time and ETA.
//
// What bounds the run decides the total and the share done, whichever ends it first: -L
// (frames), --duration (time), a finite --loop (passes over the files, each file weighed by
// its size, the current one by how far the reader is into it). The frame total is exact
// with -K (frames per pass are known) or -L; otherwise it is estimated from the share done
// and shown with a '~'. With --loop 0 and no other bound there is no total and no ETA.
import { progressText } from '../common/progress.js';
import type { PacketSource } from './source.js';

export interface ReplayProgressState {
  sent: number;
  /** Frames per second over the last interval. */
  rate: number;
  elapsedSec: number;
  /** -L (Infinity: none). */
  limit: number;
  /** --duration in seconds (0: none). */
  durationSec: number;
  /** Passes to make (Infinity: --loop 0) and the one under way (0-based). */
  loops: number;
  loopNo: number;
  sources: PacketSource[];
  /** Index of the file being sent in this pass. */
  fileNo: number;
  /** Frames per pass when known (-K), else 0. */
  perPass: number;
}

export function replayProgressLine(s: ReplayProgressState): string {
  const byLimit = s.limit !== Infinity ? s.sent / s.limit : -1;
  const byTime = s.durationSec > 0 ? s.elapsedSec / s.durationSec : -1;
  let byPass = -1;
  if (s.loops !== Infinity) {
    let all = 0, done = 0;
    for (let i = 0; i < s.sources.length; i++) {
      const src = s.sources[i]!, w = src.fileBytes > 0 ? src.fileBytes : 1;
      all += w;
      if (i < s.fileNo) done += w;
      else if (i === s.fileNo) done += w * src.passed();
    }
    byPass = (s.loopNo + (all > 0 ? done / all : 1)) / s.loops;
  }
  // the bound nearest to its end is the one that will end the run
  const fraction = Math.max(byLimit, byTime, byPass);
  let total = '';
  if (fraction >= 0) {
    if (fraction === byLimit) total = String(s.limit);
    else if (fraction === byPass && s.perPass > 0) total = String(Math.min(s.perPass * s.loops, s.limit));
    else if (fraction > 0) total = `~${Math.round(s.sent / Math.min(1, fraction))}`;
  }
  const loop = s.loops === Infinity ? `loop ${s.loopNo + 1}` : s.loops > 1 ? `loop ${s.loopNo + 1}/${s.loops}` : '';
  return progressText({
    tool: 'replay', done: s.sent, total: total || undefined, unit: 'frames', rate: s.rate, elapsedSec: s.elapsedSec,
    fraction: fraction >= 0 ? fraction : undefined, extra: loop || undefined,
  });
}
