/**
 * Baseline: frames as UDP datagrams over the loopback interface (127.0.0.1
 * only), node:dgram in a sender worker and a receiver worker. This is what a
 * Node user moving packets between two programs would reach for.
 *
 * Reported rate = datagrams *received* in the window; the notes give the
 * sender's rate and the loss (loopback UDP drops when the receiver's socket
 * buffer overflows).
 */
import { registerCase, type CaseResult, type RunOptions } from './cases.js';
import { runPhased, warmupOf } from './harness.js';
import type { UdpParams } from './peer-udp-worker.js';

const WORKER = new URL('./peer-udp-worker.js', import.meta.url);
/** Sends in flight in the sender (callback not yet run). */
export const UDP_INFLIGHT = 64;
/** SO_RCVBUF request; Linux caps it at net.core.rmem_max (and doubles it). */
export const UDP_RCVBUF = 4 * 1024 * 1024;

export async function runUdp(
  frameLen: number,
  durationMs: number,
  opts?: RunOptions,
  inflight = UDP_INFLIGHT,
): Promise<CaseResult> {
  const rxParams: UdpParams = { frameLen, recvBufferSize: UDP_RCVBUF };
  const run = await runPhased({
    durationMs,
    warmupMs: warmupOf(opts),
    workers: [
      { role: 'rx', url: WORKER, params: rxParams },
      { role: 'tx', url: WORKER, paramsFrom: (infos): UdpParams => ({ frameLen, inflight, port: Number(infos.port) }) },
    ],
  });
  const { rx, tx, aux0: badLen, aux1: sendErrors } = run.counters;
  const lossPct = tx > 0 ? Math.max(0, (100 * (tx - rx)) / tx) : 0;
  const rcvbuf = run.reports.get('rx')?.extra?.rcvbuf;
  const notes = [
    `sent ${(tx / run.seconds / 1e6).toFixed(3)} Mpps, loss ${lossPct.toFixed(1)}%`,
    `${inflight} sends in flight`,
    `SO_RCVBUF ${rcvbuf ?? '?'}`,
  ];
  if (sendErrors) notes.push(`${sendErrors} send errors`);
  if (badLen) notes.push(`${badLen} datagrams of wrong length`);
  notes.push(`GC tx ${run.reports.get('tx')?.gcCount ?? '?'} / rx ${run.reports.get('rx')?.gcCount ?? '?'}`);
  return {
    packets: rx,
    bytes: rx * frameLen,
    seconds: run.seconds,
    gcCount: run.gcCount,
    notes: notes.join('; '),
    extra: {
      sent: tx,
      lossPct: Number(lossPct.toFixed(2)),
      inflight,
      sendErrors,
      rcvbuf: rcvbuf ?? null,
      gcMajor: run.gcMajor,
    },
  };
}

function register(frameLen: number): void {
  registerCase({
    name: `udp-loopback-${frameLen}`,
    description: `node:dgram on 127.0.0.1, ${frameLen}-byte datagrams, sender worker -> receiver worker`,
    frameLen,
    kind: 'baseline',
    run: (durationMs, opts) => runUdp(frameLen, durationMs, opts),
  });
}

register(60);
register(1514);
