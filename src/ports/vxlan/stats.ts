// A VXLAN port's counters, where every process can read them: `<dir>/<name>.stats`, one page
// of float64 counters that the port's opener maps shared and updates per batch (one writer:
// a VXLAN port has one opener), and that `vale-ctl -v` reads (readVxlanStats) whether the port
// is opened by a program (netmap:vx0) or by the daemon's forwarder (vale-ctl -a vale0:vx0).
// Every frame not sent or not delivered has its cause here.
import { closeSync, readFileSync, readSync, writeSync, constants } from 'node:fs';
import { openOwnedFile } from '../../core/shm.js';
import { close, ftruncate, mmapShared, munmap } from '../../sys/libc.js';
import { createOwnFile, vxlanStatsPath, type VxlanConfig } from './config.js';
import { parseVtep, vtepIsIpv4 } from '../../packet/vxlan.js';

/** Counter indices. */
export const C = {
  txFrames: 0, txBytes: 1, txDatagrams: 2, txUnicast: 3, txFlooded: 4,
  txTooBig: 5, txShort: 6, txNoRemote: 7, txErrors: 8,
  rxFrames: 9, rxBytes: 10, rxShort: 11, rxBadFlags: 12, rxWrongVni: 13, rxTooBig: 14, rxFromSelf: 15,
  fdbLearned: 16, fdbMoved: 17, fdbEvicted: 18,
  /** pid of the opener (0: closed) */
  pid: 19,
  /** bumped by whoever appends a static FDB entry (config.ts appendStaticEntry): the opener reloads them */
  fdbGen: 20,
  /** chunks of super-frames sent with UDP GSO (one send: many datagrams), and super-frames or frames whose virtio-net header was refused */
  txGsoSends: 21, txBadVnet: 22,
  /** super-frames made from received TCP segments (tcp-merge.ts) */
  rxMerged: 23,
  /** trains of datagrams received whole (gro-rx.ts: UDP_GRO), each counted once */
  rxTrains: 24,
  /** datagrams of a train that found the port's receive ring full (gro-rx.ts) */
  rxRingFull: 25,
  count: 26,
} as const;

/** Names as vale-ctl prints them, by index. */
export const COUNTER_NAMES = [
  'tx_frames', 'tx_bytes', 'tx_datagrams', 'tx_unicast', 'tx_flooded', 'tx_too_big', 'tx_short', 'tx_no_remote', 'tx_errors',
  'rx_frames', 'rx_bytes', 'rx_short', 'rx_bad_flags', 'rx_wrong_vni', 'rx_too_big', 'rx_from_self',
  'fdb_learned', 'fdb_moved', 'fdb_evicted', '', '', 'tx_gso_sends', 'tx_bad_vnet', 'rx_merged', 'rx_trains', 'rx_ring_full',
] as const;

/** The counters that are drops: [counter name, direction, cause as /metrics labels it]. */
export const DROP_COUNTERS: ReadonlyArray<readonly [string, 'tx' | 'rx', string]> = [
  ['tx_too_big', 'tx', 'too_big'], ['tx_short', 'tx', 'short'], ['tx_no_remote', 'tx', 'no_remote'],
  ['tx_errors', 'tx', 'send_error'], ['tx_bad_vnet', 'tx', 'bad_vnet_hdr'],
  ['rx_short', 'rx', 'short'], ['rx_bad_flags', 'rx', 'bad_flags'], ['rx_wrong_vni', 'rx', 'wrong_vni'],
  ['rx_too_big', 'rx', 'too_big'], ['rx_from_self', 'rx', 'from_self'], ['rx_ring_full', 'rx', 'ring_full'],
];

const SIZE = 4096;

export class VxlanStats {
  private constructor(readonly c: Float64Array, private readonly addr: bigint) {}

  /** Map (making it if needed) the counter page of port `name`, reset for a new opener. */
  static open(name: string): VxlanStats {
    const fd = createOwnFile(vxlanStatsPath(name));
    try {
      ftruncate(fd, SIZE);
      const m = mmapShared(fd, SIZE, `${name} VXLAN counters`);
      const c = new Float64Array(m.buffer, 0, C.count);
      c.fill(0);
      c[C.pid] = process.pid;
      return new VxlanStats(c, m.addr);
    } finally {
      close(fd);
    }
  }

  close(): void {
    this.c[C.pid] = 0;
    munmap(this.addr, SIZE);
  }
}

/**
 * The counter file of port `name` opened for reading (or also writing), or -1 when it is
 * missing or not a regular file of this user or root: a file planted in a directory others can
 * write (a FIFO would block the reader, a symlink lead elsewhere) is not read.
 */
function openCounterFile(name: string, write: boolean): number {
  const f = openOwnedFile(vxlanStatsPath(name), write ? constants.O_RDWR : constants.O_RDONLY);
  if (!f.ok) return -1;
  if (f.size !== SIZE) {
    closeSync(f.fd);
    return -1;
  }
  return f.fd;
}

/** The counters of port `name` by name, or null when it never had an opener (or its file is not a counter page). */
export function readVxlanStats(name: string): { open: boolean; counters: Record<string, number> } | null {
  const fd = openCounterFile(name, false);
  if (fd < 0) return null;
  const b = Buffer.alloc(C.count * 8);
  try {
    if (readSync(fd, b, 0, b.length, 0) !== b.length) return null;
  } finally {
    closeSync(fd);
  }
  const counters: Record<string, number> = {};
  COUNTER_NAMES.forEach((n, i) => {
    if (!n) return; // (the pid and the FDB generation)
    const v = b.readDoubleLE(i * 8);
    counters[n] = Number.isFinite(v) && v >= 0 ? v : 0;
  });
  return { open: b.readDoubleLE(C.pid * 8) > 0, counters };
}

/** Tell the opener of port `name` (if any) that its static FDB entries changed. */
export function bumpFdbGeneration(name: string): void {
  const fd = openCounterFile(name, true);
  if (fd < 0) return; // never opened: read at open
  try {
    const b = Buffer.alloc(8);
    if (readSync(fd, b, 0, 8, C.fdbGen * 8) === 8) {
      const g = b.readDoubleLE(0);
      b.writeDoubleLE(Number.isFinite(g) && g >= 0 && g < 2 ** 52 ? g + 1 : 1, 0);
      writeSync(fd, b, 0, 8, C.fdbGen * 8); // the page the opener maps: it sees the new value
    }
  } finally {
    closeSync(fd);
  }
}

/** What the kernel dropped on the sockets of a port configured as `c` (udpSocketDrops). */
export function portSocketDrops(c: VxlanConfig): number | null {
  return udpSocketDrops(c.group ? [c.local, c.group] : [c.local], c.port);
}

/**
 * Datagrams the kernel dropped on the UDP sockets bound to addr:port for each address given
 * (the local address, and the multicast group when there is one; canonical text, IPv4 or
 * IPv6: /proc/net/udp or /proc/net/udp6 of this network namespace) because their receive
 * buffers were full, summed; null when no such socket is open.
 */
export function udpSocketDrops(addrs: readonly string[], port: number): number | null {
  let total: number | null = null;
  for (const text of addrs) {
    const a = parseVtep(text);
    if (!a) continue;
    const v4 = vtepIsIpv4(a, 0);
    let table: string;
    try { table = readFileSync(v4 ? '/proc/net/udp' : '/proc/net/udp6', 'utf8'); } catch { continue; }
    // the address is printed as the kernel's 32-bit words in host order (little-endian: each reversed)
    let hex = '';
    for (let w = v4 ? 12 : 0; w < 16; w += 4) {
      for (let b = 3; b >= 0; b--) hex += a[w + b].toString(16).toUpperCase().padStart(2, '0');
    }
    const want = `${hex}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
    for (const line of table.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1] === want) {
        const d = Number(f[f.length - 1]);
        if (Number.isFinite(d)) total = (total ?? 0) + d;
        break;
      }
    }
  }
  return total;
}
