// What the daemon and an attachment's forwarder thread (worker.ts) share: the
// control words, the counter layout, the worker's input and its messages.

/** Int32 words of the control buffer, written by the daemon, read by the forwarder. */
export const A = {
  stop: 0,
  /** 1: busy polling (vale-ctl -p), 0: sleep when idle. */
  pollOn: 1,
  /** CPU to pin the forwarder to while polling, -1: none. */
  pollCpu: 2,
  /** Bumped by each polling request; the forwarder applies a request once. */
  pollGen: 3,
  /** Tests only: 1 makes the forwarder block before its next round, as a stuck one would. */
  stall: 4,
  size: 5,
} as const;

/** Float64 counters per direction: packets, bytes, drops. */
export const COUNTERS_PER_DIR = 3;
/** Directions: nic -> switch, switch -> nic, host -> switch, switch -> host. */
export const DIRECTIONS = ['nicToSwitch', 'switchToNic', 'hostToSwitch', 'switchToHost'] as const;

/**
 * After the directions' counters: the kernel's drop counters of the interface port (netmap:IF,
 * with its host rings), by cause (ports/netif KernelDrops), refreshed about once a second.
 */
export const KERNEL_DROPS = ['rxRingFull', 'rxOther', 'txInvalid', 'host'] as const;
export const KERNEL_DROPS_OFS = DIRECTIONS.length * COUNTERS_PER_DIR;
/** Float64 words of the counters buffer. */
export const COUNTERS_SIZE = KERNEL_DROPS_OFS + KERNEL_DROPS.length;

export interface RingConf {
  txSlots?: number;
  rxSlots?: number;
  txRings?: number;
  rxRings?: number;
}

export interface AttachWorkerInput {
  sw: string;
  ifname: string;
  host: boolean;
  conf: RingConf;
  burst: number;
  /** Longest adaptive spin before sleeping when a round moved nothing, µs (0: sleep at once; common/adaptive-spin.ts). */
  spinUs: number;
  ctrl: SharedArrayBuffer;
  counters: SharedArrayBuffer;
}

export type WorkerMessage =
  | {
    type: 'ready';
    port: string;
    index: number;
    hostPort: string | null;
    hostIndex: number | null;
    backend: string;
    /** backend, fallback reason and advice lines of the interface ports */
    lines: string[];
    rings: { nic: [number, number]; vale: [number, number] };
    /**
     * The kernel fds the forwarder holds (sockets, TAP), each with what /proc/self/fd/N named
     * then, and the ifindex whose XDP redirect it holds a reference of (-1: none): what the
     * daemon closes itself if it has to terminate a forwarder that does not stop.
     */
    fds: { fd: number; link: string }[];
    xdpIfindex: number;
  }
  | { type: 'polling'; gen: number; on: boolean; cpu: number; error: string }
  | { type: 'error'; phase: 'open' | 'run'; code: string; message: string }
  | { type: 'stopped' };
