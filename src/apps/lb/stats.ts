// lb's statistics lines: one JSON object per output pipe and one aggregate (output_ring
// null), with the keys and number formats of netmap's lb (printf "%.6f" / "%.4f").

export interface LbPipeCounters {
  /** The pipe as lb names it: `valeX:Y{0/xT@memid`. */
  interface: string;
  pkts: number;
  bytes: number;
  drop: number;
  dropBytes: number;
  /** Packets waiting in the pipe's overflow queue. */
  oqN: number;
}

export interface LbCounters {
  /** Epoch milliseconds of the snapshot. */
  t: number;
  interface: string;
  received: number;
  nonIp: number;
  /** Free extra buffers. */
  freeq: number;
  pipes: LbPipeCounters[];
}

import { clockTime, siCount } from '../common/progress.js';

interface Totals { pkts: number; bytes: number; drop: number; dropBytes: number }

/** Rates as lb computes them over `usec` microseconds (integers per second, rounded). */
function rates(x: Totals, usec: number): { bps: number; dbps: number; pps: number; dps: number } {
  if (usec <= 0) return { bps: 0, dbps: 0, pps: 0, dps: 0 };
  const r = (v: number): number => Math.floor((v * 1e6 + usec / 2) / usec);
  return { pps: r(x.pkts), dps: r(x.drop), bps: r(x.bytes) * 8, dbps: r(x.dropBytes) * 8 };
}

const f4 = (v: number): string => v.toFixed(4);

/**
 * The JSON lines for snapshot `cur`, rates since `prev` (null: no rates yet, as lb's first
 * report). Per-pipe lines first, in pipe order, then the aggregate.
 */
export function lbStatsLines(cur: LbCounters, prev: LbCounters | null): string[] {
  const usec = prev ? Math.round((cur.t - prev.t) * 1000) : 0;
  const ts = (cur.t / 1000).toFixed(6);
  const lines: string[] = [];
  const sum: Totals = { pkts: 0, bytes: 0, drop: 0, dropBytes: 0 };
  const psum: Totals = { pkts: 0, bytes: 0, drop: 0, dropBytes: 0 };
  cur.pipes.forEach((c, j) => {
    const p = prev?.pipes[j];
    sum.pkts += c.pkts; sum.bytes += c.bytes; sum.drop += c.drop; sum.dropBytes += c.dropBytes;
    if (p) { psum.pkts += p.pkts; psum.bytes += p.bytes; psum.drop += p.drop; psum.dropBytes += p.dropBytes; }
    const r = rates({
      pkts: c.pkts - (p?.pkts ?? 0), bytes: c.bytes - (p?.bytes ?? 0),
      drop: c.drop - (p?.drop ?? 0), dropBytes: c.dropBytes - (p?.dropBytes ?? 0),
    }, usec);
    lines.push(`{"ts":${ts},"interface":${JSON.stringify(c.interface)},"output_ring":${j},` +
      `"packets_forwarded":${c.pkts},"packets_dropped":${c.drop},` +
      `"data_forward_rate_Mbps":${f4(r.bps / 1024 / 1024)},"data_drop_rate_Mbps":${f4(r.dbps / 1024 / 1024)},` +
      `"packet_forward_rate_kpps":${f4(r.pps / 1000)},"packet_drop_rate_kpps":${f4(r.dps / 1000)},` +
      `"overflow_queue_size":${c.oqN}}`);
  });
  const r = rates({ pkts: sum.pkts - psum.pkts, bytes: sum.bytes - psum.bytes, drop: sum.drop - psum.drop, dropBytes: sum.dropBytes - psum.dropBytes }, usec);
  lines.push(`{"ts":${ts},"interface":${JSON.stringify(cur.interface)},"output_ring":null,` +
    `"packets_received":${cur.received},"packets_forwarded":${sum.pkts},"packets_dropped":${sum.drop},` +
    `"non_ip_packets":${cur.nonIp},` +
    `"data_forward_rate_Mbps":${f4(r.bps / 1024 / 1024)},"data_drop_rate_Mbps":${f4(r.dbps / 1024 / 1024)},` +
    `"packet_forward_rate_kpps":${f4(r.pps / 1000)},"packet_drop_rate_kpps":${f4(r.dps / 1000)},` +
    `"free_buffer_slots":${cur.freeq}}`);
  return lines;
}

/** lb's exit line. */
export function lbExitLine(forwarded: number, dropped: number): string {
  return `${forwarded} packets forwarded.  ${dropped} packets dropped. Total ${forwarded + dropped}`;
}

/**
 * The status line of `nmts lb` on a terminal (apps/common/progress.ts): rates since `prev`
 * (received, forwarded, dropped per second), the totals, overflow-queued and free buffers.
 */
export function lbProgressLine(cur: LbCounters, prev: LbCounters, elapsedSec: number): string {
  const dt = (cur.t - prev.t) / 1000;
  let fwd = 0, drop = 0, pfwd = 0, pdrop = 0, oq = 0;
  for (let j = 0; j < cur.pipes.length; j++) {
    const c = cur.pipes[j]!, p = prev.pipes[j];
    fwd += c.pkts; drop += c.drop; oq += c.oqN;
    if (p) { pfwd += p.pkts; pdrop += p.drop; }
  }
  const per = (v: number): string => siCount(dt > 0 ? v / dt : 0);
  return `lb: in ${per(cur.received - prev.received)} pps  out ${per(fwd - pfwd)} pps  drop ${per(drop - pdrop)} pps` +
    `  total ${siCount(fwd)} forwarded, ${siCount(drop)} dropped  queued ${oq}, free ${cur.freeq}  elapsed ${clockTime(elapsedSec)}`;
}
