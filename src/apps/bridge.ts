// netmap's bridge: forward everything between two ports, both ways, in one poll loop. When
// both ports share a memory region (ports of one switch, pipes of one parent) packets move
// by swapping buffer indices (zero-copy); otherwise they are copied. NS_MOREFRAG chains are
// kept whole. With `loop`, a single port's traffic is sent back out on it (-L).
import { NS_MOREFRAG, POLLIN, POLLOUT } from '../core/constants.js';
import { open } from '../core/open.js';
import { pollPorts } from '../core/poll.js';
import type { Port } from '../core/port.js';
import { NetmapError } from '../core/region.js';
import type { Ring } from '../core/ring.js';

export interface BridgeOptions {
  a: string;
  /** Second port; omitted with `loop` (netmap: the host stack of A, not available here). */
  b?: string;
  burst?: number; // 1..8192, default 1024
  copy?: boolean; // -c: never swap buffers
  loop?: boolean; // -L: send A's traffic back out on A
  verbose?: boolean;
  signal?: AbortSignal;
  /** Stop after this many packets in total (tests, demos). */
  maxPackets?: number;
}

export interface BridgeResult {
  aToB: number;
  bToA: number;
  zerocopy: boolean;
}

/** Copy len bytes between buffers of two regions, 8-byte words (buffers are 64-aligned). */
function copyAcross(src: Float64Array, s: number, dst: Float64Array, d: number, len: number): void {
  let i = s >> 3, j = d >> 3;
  const end = i + ((len + 7) >> 3);
  while (i < end) dst[j++] = src[i++];
}

/** Move up to `limit` slots from rx to tx; returns slots moved. */
function move(from: Port, rx: Ring, to: Port, tx: Ring, limit: number, zerocopy: boolean): number {
  let j = rx.head, k = tx.head, n = 0;
  const rt = rx.tail, tt = tx.tail;
  while (j !== rt && k !== tt && n < limit) {
    if (zerocopy) {
      tx.swapIn(k, rx, j);
    } else {
      const len = rx.len(j);
      if (from.region === to.region) from.u8.copyWithin(tx.buf(k), rx.buf(j), rx.buf(j) + len);
      else copyAcross(from.region.f64, rx.buf(j), to.region.f64, tx.buf(k), len);
      tx.setLen(k, len);
      tx.setSlotFlags(k, rx.slotFlags(j) & NS_MOREFRAG);
    }
    j = rx.next(j);
    k = tx.next(k);
    n++;
  }
  // A chain cut by the end of the batch is fine: txsync publishes only complete chains, so
  // its first part waits in tx until the rest follows in the next round.
  rx.advance(j);
  tx.advance(k);
  return n;
}

/** Forward between the ports until the signal aborts (or maxPackets); returns counts. */
export async function bridge(o: BridgeOptions, log: (line: string) => void): Promise<BridgeResult> {
  const burst = o.burst ?? 1024;
  if (!Number.isInteger(burst) || burst < 1 || burst > 8192) throw new NetmapError('EINVAL', `bridge: burst ${burst} must be 1..8192`);
  if (!o.loop && (o.b === undefined || o.b === o.a)) {
    throw new NetmapError('ENOTSUP', `bridge: with one port netmap bridges ${o.a} with its host stack (${o.a}^), which needs the Linux-interface ports; use -L to loop ${o.a} back on itself`);
  }
  const pa = open(o.a);
  const pb = o.loop ? pa : open(o.b!);
  const zerocopy = !o.copy && pa.region === pb.region;
  const result: BridgeResult = { aToB: 0, bToA: 0, zerocopy };
  log(`------- zerocopy ${zerocopy ? '' : 'NOT '}supported`);
  log(`Ready to go, ${o.a} (${pa.rxRings.length} rx / ${pa.txRings.length} tx rings) <-> ${o.loop ? o.a : o.b} (${pb.rxRings.length} rx / ${pb.txRings.length} tx rings).`);
  const ports = o.loop ? [pa] : [pa, pb];
  const evs = new Int32Array(ports.length), rev = new Int32Array(ports.length);
  const max = o.maxPackets ?? Infinity;
  let rounds = 0;
  try {
    while (!o.signal?.aborted && result.aToB + result.bToA < max) {
      // per direction: wait for input on the source, or for room on the destination
      const aPending = pending(pa);
      const bPending = !o.loop && pending(pb);
      if (o.loop) evs[0] = aPending ? POLLOUT : POLLIN;
      else {
        evs[0] = (aPending ? 0 : POLLIN) | (bPending ? POLLOUT : 0);
        evs[1] = (bPending ? 0 : POLLIN) | (aPending ? POLLOUT : 0);
      }
      const idle = pollPorts(ports, evs, rev, 100) === 0;
      const ab = forward(pa, pb, burst, zerocopy);
      const ba = o.loop ? 0 : forward(pb, pa, burst, zerocopy);
      result.aToB += ab;
      result.bToA += ba;
      if (o.verbose && (ab || ba)) log(`moved ${ab} ${o.a} -> ${o.loop ? o.a : o.b}, ${ba} back`);
      if (idle || ++rounds % 256 === 0) await new Promise((r) => setImmediate(r)); // let signals in
    }
  } finally {
    pa.txsync();
    pa.rxsync();
    if (!o.loop) { pb.txsync(); pb.rxsync(); pb.close(); }
    pa.close();
  }
  return result;
}

function pending(p: Port): boolean {
  for (let i = 0; i < p.rxRings.length; i++) if (!p.rxRings[i].empty()) return true;
  return false;
}

/** Move from every rx ring of `src` to the tx rings of `dst`, round-robin. */
function forward(src: Port, dst: Port, burst: number, zerocopy: boolean): number {
  let moved = 0, t = 0;
  for (const rx of src.rxRings) {
    for (let tries = 0; tries < dst.txRings.length && !rx.empty(); tries++) {
      const tx = dst.txRings[t];
      t = (t + 1) % dst.txRings.length;
      moved += move(src, rx, dst, tx, burst - moved, zerocopy);
      if (moved >= burst) return moved;
    }
  }
  return moved;
}
