// What the daemon and the forwarder threads of attachments (worker.ts) share: a thread's
// control words and an attachment's, the counter layout, the attachment's input and the
// messages both ways. A thread serves one attachment or several (member.ts); every message
// names the attachment (id).

/** Int32 words of a forwarder thread's control buffer. */
export const G = {
  /** 1: the thread has no attachment left and ends. */
  stop: 0,
  /** Bumped by the daemon after each message it posts (add): the thread reads them then. */
  mail: 1,
  size: 2,
} as const;

/** Int32 words of an attachment's control buffer, written by the daemon, read by the forwarder. */
export const A = {
  stop: 0,
  /** 1: busy polling (vale-ctl -p), 0: sleep when idle. */
  pollOn: 1,
  /** CPU to pin the forwarder to while polling, -1: none. */
  pollCpu: 2,
  /** Bumped by each polling request; the forwarder applies a request once. */
  pollGen: 3,
  /** Tests only: 1 makes the forwarder (the whole thread) block before its next round, as a stuck one would. */
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

/** What the daemon posts to a forwarder thread (then bumps G.mail). */
export type DaemonMessage = { type: 'add'; id: number; input: AttachWorkerInput };

export type WorkerMessage =
  | {
    type: 'ready';
    id: number;
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
  | { type: 'polling'; id: number; gen: number; on: boolean; cpu: number; error: string }
  | { type: 'error'; id: number; phase: 'open' | 'run'; code: string; message: string }
  /** The attachment's ports are closed (after a stop, a failed open or a failure). */
  | { type: 'stopped'; id: number };

/** Input of a forwarder thread. */
export interface ThreadInput {
  ctrl: SharedArrayBuffer;
}
