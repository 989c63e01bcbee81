// netmap's bridge: forward everything between two ports, both ways, in one poll loop. When
// both ports share a memory region (ports of one switch, pipes of one parent) packets move
// by swapping buffer indices (zero-copy); otherwise they are copied (two switches, two Linux
// interfaces: each interface port has a region of its own). NS_MOREFRAG chains are kept whole.
// With `loop`, a single port's traffic is sent back out on it (-L); with a single interface
// port and no `loop`, the interface is bridged with its host stack (netmap:IF <-> netmap:IF^).
//
// Offloads: interfaces are opened as `vale-ctl -a` opens them (`offloadAware`): one whose
// transmit offloads are on gets AF_PACKET with a 10-byte virtio-net header, so the stack's TCP
// super-frames and partial checksums cross the bridge whole and the far side's kernel finishes
// them; one with them all off gets AF_XDP. The first lines say which backend and why. Between
// ports whose header lengths differ (one interface with offloads, one without; a vnet=12 VALE
// port), apps/common/port-forward.ts converts with the switch's own code (vale/offload.ts).
// `offloads: false` (-O) opens interfaces as other programs do (AF_XDP first, no header).
import { POLLIN, POLLOUT } from '../../core/constants.js';
import { open } from '../../core/open.js';
import type { OpenOptions } from '../../core/port.js';
import { pollPorts } from '../../core/poll.js';
import type { Port } from '../../core/port.js';
import { parsePortSpec } from '../../core/portspec.js';
import { NetmapError } from '../../core/region.js';
import { Direction, rxPending } from '../common/port-forward.js';
import { portBackendLines } from '../common/port-backend.js';

export interface BridgeOptions {
  a: string;
  /** Second port; omitted: with `loop`, A alone; otherwise A's host stack (A^, interfaces only). */
  b?: string;
  burst?: number; // 1..8192, default 1024
  copy?: boolean; // -c: never swap buffers
  loop?: boolean; // -L: send A's traffic back out on A
  verbose?: boolean;
  signal?: AbortSignal;
  /** Stop after this many packets in total (tests, demos). */
  maxPackets?: number;
  /** Seconds to wait after opening the ports before forwarding (netmap's -w: links coming up). */
  waitSec?: number;
  /**
   * Open interfaces by their offloads (default true): AF_PACKET with a virtio-net header where
   * tx checksumming/TSO/GSO are on, AF_XDP where they are off. false: as any program (-O).
   */
  offloads?: boolean;
}

export interface BridgeResult {
  aToB: number;
  bToA: number;
  zerocopy: boolean;
  /** Frames a destination could not take (too long for it, or chains sent to an interface). */
  drops: number;
  /** Of the drops: packets whose virtio-net header was malformed (converting between header lengths). */
  badVnet: number;
  /** Frames written by the conversion between header lengths (segments of super-frames count each). */
  converted: number;
}

/** The second port: B, or for a lone interface port its host stack (netmap's default). */
function secondPort(o: BridgeOptions): string | null {
  if (o.loop) return null;
  if (o.b !== undefined && o.b !== o.a) return o.b;
  let spec;
  try {
    spec = parsePortSpec(o.a, { defaultPrefix: true });
  } catch {
    spec = null; // open() reports the bad name
  }
  if (spec && spec.kind === 'netmap' && !spec.pipe && spec.mode === 'all-nic') return `netmap:${spec.name}^`;
  throw new NetmapError('ENOTSUP', `with one port netmap bridges ${o.a} with its host stack (${o.a}^), which only Linux interfaces (netmap:IF) have; use -L to loop ${o.a} back on itself`);
}

/** Whether port name b is the host stack (IF^, IF^0) of interface port a (netmap:IF). */
function hostOf(a: string, b: string): boolean {
  try {
    const sa = parsePortSpec(a, { defaultPrefix: true }), sb = parsePortSpec(b, { defaultPrefix: true });
    return sa.kind === 'netmap' && sb.kind === 'netmap' && sa.name === sb.name && (sb.mode === 'sw' || sb.mode === 'one-sw');
  } catch {
    return false; // open() reports the bad name
  }
}

function openHost(name: string, a: string, opts: OpenOptions): Port {
  try {
    return open(name, opts);
  } catch (e) {
    if (e instanceof NetmapError && e.code === 'ENOTSUP') {
      throw new NetmapError('ENOTSUP', `${a} alone is bridged with its host stack ${name}, which is not available: ${e.message}; give a second port, or -L to loop ${a} back on itself`);
    }
    throw e;
  }
}

/** Forward between the ports until the signal aborts (or maxPackets); returns counts. */
export async function bridge(o: BridgeOptions, log: (line: string) => void): Promise<BridgeResult> {
  const burst = o.burst ?? 1024;
  if (!Number.isInteger(burst) || burst < 1 || burst > 8192) throw new NetmapError('EINVAL', `bridge: burst ${burst} must be 1..8192`);
  const nameB = secondPort(o);
  // (options other port kinds ignore; an explicit @conf:vnet=N in a name wins)
  const aware = o.offloads === false ? {} : ({ offloadAware: true } as OpenOptions);
  const pa = open(o.a, aware);
  let pb: Port;
  try {
    // the host stack takes the interface's header length, so that the two sides agree
    const host = o.offloads === false ? {} : ({ vnetHdrLen: pa.vnetHdrLen } as OpenOptions);
    pb = nameB === null ? pa : nameB === o.b ? open(nameB, hostOf(o.a, nameB) ? host : aware) : openHost(nameB, o.a, host);
  } catch (e) {
    pa.close();
    throw e;
  }
  const zerocopy = !o.copy && pa.region === pb.region && pa.vnetHdrLen === pb.vnetHdrLen;
  const ab = new Direction(pa, pb, zerocopy);
  const ba = pb === pa ? null : new Direction(pb, pa, zerocopy);
  const result: BridgeResult = { aToB: 0, bToA: 0, zerocopy, drops: 0, badVnet: 0, converted: 0 };
  for (const l of portBackendLines(pa)) log(l);
  if (pb !== pa) for (const l of portBackendLines(pb)) log(l);
  if (pb !== pa && pa.vnetHdrLen !== pb.vnetHdrLen) {
    log(`virtio-net headers: ${pa.name} ${pa.vnetHdrLen} bytes, ${pb.name} ${pb.vnetHdrLen}: converted (${pa.vnetHdrLen && !pb.vnetHdrLen ? `${pa.name}'s super-frames cut into segments and partial checksums completed for ${pb.name}` : !pa.vnetHdrLen && pb.vnetHdrLen ? `${pb.name}'s super-frames cut into segments and partial checksums completed for ${pa.name}` : 'headers re-laid'})`);
  } else if (pb !== pa && pa.vnetHdrLen > 0) {
    log(`virtio-net headers: ${pa.vnetHdrLen} bytes on both sides: super-frames and partial checksums pass whole`);
  }
  log(`------- zerocopy ${zerocopy ? '' : 'NOT '}supported`);
  if (o.waitSec && o.waitSec > 0) {
    log(`Wait ${o.waitSec} secs for link to come up...`);
    await new Promise<void>((r) => {
      const t = setTimeout(r, o.waitSec! * 1000);
      o.signal?.addEventListener('abort', () => { clearTimeout(t); r(); }, { once: true });
    });
  }
  // as netmap's bridge: "Ready to go" once the wait is over, when frames start to move
  log(`Ready to go, ${pa.name} (${pa.rxRings.length} rx / ${pa.txRings.length} tx rings) <-> ${pb.name} (${pb.rxRings.length} rx / ${pb.txRings.length} tx rings).`);
  const ports = pb === pa ? [pa] : [pa, pb];
  const evs = new Int32Array(ports.length), rev = new Int32Array(ports.length);
  const max = o.maxPackets ?? Infinity;
  let rounds = 0;
  try {
    while (!o.signal?.aborted && result.aToB + result.bToA < max) {
      // per direction: wait for input on the source, or for room on the destination
      const aPending = rxPending(pa);
      const bPending = ba !== null && rxPending(pb);
      if (ba === null) evs[0] = aPending ? POLLOUT : POLLIN;
      else {
        evs[0] = (aPending ? 0 : POLLIN) | (bPending ? POLLOUT : 0);
        evs[1] = (bPending ? 0 : POLLIN) | (aPending ? POLLOUT : 0);
      }
      const idle = pollPorts(ports, evs, rev, 100) === 0;
      const nab = ab.run(burst);
      const nba = ba ? ba.run(burst) : 0;
      result.aToB += nab;
      result.bToA += nba;
      if (o.verbose && (nab || nba)) log(`moved ${nab} ${pa.name} -> ${pb.name}, ${nba} back`);
      if (idle || ++rounds % 256 === 0) await new Promise((r) => setImmediate(r)); // let signals in
    }
  } finally {
    result.drops = ab.drops + (ba ? ba.drops : 0);
    result.badVnet = ab.badVnet + (ba ? ba.badVnet : 0);
    result.converted = ab.converted + (ba ? ba.converted : 0);
    try {
      pa.txsync();
      pa.rxsync();
      if (pb !== pa) { pb.txsync(); pb.rxsync(); }
    } finally {
      if (pb !== pa) pb.close();
      pa.close();
    }
  }
  return result;
}
