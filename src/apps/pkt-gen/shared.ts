// Counters shared between pkt-gen's data threads and the reporting thread: one row of
// float64s per thread (plain stores by the owner, read by the reporter), plus control words.

export const ROW = 16;
export const S = {
  pkts: 0,
  bytes: 1,
  events: 2, // syncs that moved packets
  minSpace: 3, // rx: least free space seen since last report
  rttCount: 4,
  rttMin: 5,
  rttSum: 6,
  seqErrors: 7,
  done: 8,
  start: 9, // performance.timeOrigin-relative ms of the first packet
  end: 10,
  drops: 11, // ping: requests without a reply
  portDrops: 12, // frames the port lost while the loop ran (drops.ts)
} as const;
export const HIST = 64; // ping histogram buckets, after the rows

export const C = {
  stop: 0, // set by the reporter: finish now
  ready: 1, // threads with the port open
  go: 2, // start sending
} as const;

export function makeShared(threads: number): { stats: SharedArrayBuffer; ctrl: SharedArrayBuffer } {
  return {
    stats: new SharedArrayBuffer(8 * (ROW * threads + HIST)),
    ctrl: new SharedArrayBuffer(4 * 8),
  };
}
