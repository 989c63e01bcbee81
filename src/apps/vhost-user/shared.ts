// What the daemon and a vhost-user port's thread (worker.ts) share: control words (stop, and
// one request at a time: attach to a switch, detach, busy polling on or off), the counters the listing shows (a Float64
// array the worker rewrites after every round), the worker's input and its messages.

/** Int32 words of the control buffer. */
export const C = {
  stop: 0,
  /** Bumped by the daemon for each request; the worker answers each once (message 'done'). */
  reqSeq: 1,
  /** An OP: attach (switch name in the name bytes), detach, polling on (CPU in pollCpu) or off. */
  reqOp: 2,
  /** Length of the switch name, in bytes, at byte NAME_OFS. */
  nameLen: 3,
  /** The CPU to pin the busy-polling thread to, -1: not pinned. */
  pollCpu: 4,
  size: 5,
} as const;
/** Requests in C.reqOp. */
export const OP = { attach: 1, detach: 2, pollOn: 3, pollOff: 4 } as const;
export const NAME_OFS = C.size * 4;
export const CTRL_BYTES = NAME_OFS + 64;

/** Float64 counters: the device, then QUEUE_FIELDS per queue. */
export const S = { connected: 0, connections: 1, featLo: 2, featHi: 3, memBytes: 4, portIndex: 5, noPortDrops: 6, size: 7 } as const;
export const Q = { running: 0, broken: 1, size: 2, packets: 3, bytes: 4, drops: 5, kicks: 6, interrupts: 7, n: 8 } as const;

export interface VhostWorkerInput {
  name: string;
  path: string;
  /** Queue pairs of the device, and ring pairs of its switch port. */
  queuePairs: number;
  /** Slots of the switch port's rings (vale-ctl -n ... -C tx,rx,queues); undefined: the defaults. */
  txSlots?: number;
  rxSlots?: number;
  /** The offload features offered; the switch port carries a 12-byte virtio-net header. */
  offloads?: boolean;
  burst: number;
  ctrl: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  /** The port's claim file is this daemon's: netmap:NAME may be opened directly (handoff.ts). */
  claimed?: boolean;
}

export type VhostWorkerMessage =
  | { type: 'ready' }
  | { type: 'log'; line: string }
  | { type: 'done'; seq: number; ok: boolean; code: string; message: string; index: number; sw: string }
  | { type: 'error'; phase: 'open' | 'run'; code: string; message: string }
  | { type: 'stopped' };
