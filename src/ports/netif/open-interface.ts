// The `netmap:IF` port kind: picks the backend (AF_XDP, else AF_PACKET; NMTS_BACKEND or the
// `backend` option override; a TAP device always gets its own, tap-port.ts), checks the
// interface first, and turns kernel errors into ones that say what to do. Host rings (IF^, IF*)
// are host-rings.ts's.
//
// The virtio-net header (vnetHdrLen 10 or 12): AF_PACKET and TAP ports can carry it, AF_XDP
// cannot. Asked for explicitly (@conf:vnet=N), it takes AF_PACKET. With `offloadAware` (the
// forwarders), the interface's transmit offloads decide: any of tx-checksumming, TSO, GSO on
// (read with ETHTOOL_GTXCSUM/GTSO/GGSO, never changed) means the frames may be super-frames
// or carry checksums left to the device, which only a port with the header passes on intact:
// AF_PACKET with the header. With them all off, AF_XDP, the faster for small frames.
import { NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY } from '../../core/constants.js';
import type { Port } from '../../core/port.js';
import type { PortSpec } from '../../core/portspec.js';
import { NetmapError } from '../../core/region.js';
import { NetError, txOffloads } from '../../sys/net.js';
import { tunFlags } from '../../sys/tun.js';
import * as K from '../../sys/kernel-abi.js';
import { interfaceInfo, offloadAdvice, privilegeError, type InterfaceInfo } from './iface.js';
import { openHostRings } from './host-rings.js';
import type { HostRings, InterfaceOpenOptions, KernelPort } from './kernel-port.js';
import { openPacketPort } from './packet-port.js';
import { openTapInterface } from './tap-port.js';
import { openXdpPort } from './xdp-port.js';

type Backend = NonNullable<InterfaceOpenOptions['backend']>;

function chosenBackend(spec: PortSpec, opts: InterfaceOpenOptions): Backend {
  const b = opts.backend ?? process.env.NMTS_BACKEND ?? 'auto';
  if (b === 'xdp') return 'af_xdp';
  if (b === 'packet') return 'af_packet';
  if (b !== 'auto' && b !== 'af_xdp' && b !== 'af_packet') {
    throw new NetmapError('EINVAL', `${spec.raw}: unknown backend '${b}' (NMTS_BACKEND / backend: auto, af_xdp, af_packet)`);
  }
  return b;
}

/** Ring (queue) ids bound: all queues (and the host ring nq, with `host`), or queue N for IF-N; tx-only / rx-only by /T /R. */
function nicRings(spec: PortSpec, nq: number, host = false, backendNote = false): { tx: number[]; rx: number[] } {
  let qs: number[];
  if (spec.mode === 'one-nic') {
    if (spec.ringId >= nq) {
      const what = nq === 1 && backendNote ? `the AF_PACKET backend has one ring pair` : `${spec.name} has ${nq} queue${nq > 1 ? 's' : ''}`;
      throw new NetmapError('EINVAL', `${spec.raw}: ring ${spec.ringId} does not exist (${what})`);
    }
    qs = [spec.ringId];
  } else {
    qs = Array.from({ length: host ? nq + 1 : nq }, (_, i) => i);
  }
  return { tx: spec.flags & NR_RX_RINGS_ONLY ? [] : qs, rx: spec.flags & NR_TX_RINGS_ONLY ? [] : qs };
}

/** Errors where falling back to AF_PACKET would not help: the caller or the interface is the problem. */
function final(e: unknown): boolean {
  // an MTU AF_XDP cannot carry (1792-byte frames) may still fit AF_PACKET's 2048-byte buffers
  if (e instanceof NetmapError) return e.code !== 'ENOTSUP' && e.code !== 'EMSGSIZE';
  return e instanceof NetError && (e.errno === K.EPERM || e.errno === K.EACCES || e.errno === K.ENODEV);
}

/** Names of the interface's transmit offloads that are on ('tx-checksumming', 'TSO', 'GSO'). */
function offloadsOn(ifname: string): string[] {
  try {
    const o = txOffloads(ifname);
    return [o.txCsum ? 'tx-checksumming' : '', o.tso ? 'TSO' : '', o.gso ? 'GSO' : ''].filter((x) => x !== '');
  } catch {
    return [];
  }
}

/** The virtio-net header length an AF_PACKET or TAP port of this open carries. */
export function vnetFor(opts: InterfaceOpenOptions): 0 | 10 | 12 {
  return opts.vnetHdrLen ?? (opts.offloadAware ? 10 : 0);
}

/** Open a port on a Linux interface (netmap:IF, IF^, IF*): the `netmap` entry of the port-kind table. */
export function openInterface(spec: PortSpec, opts: InterfaceOpenOptions): Port {
  if (spec.share) throw new NetmapError('ENOTSUP', `${spec.raw}: @share is not supported for interfaces`);
  const info = interfaceInfo(spec.raw, spec.name);
  if (spec.mode === 'sw' || spec.mode === 'one-sw' || spec.mode === 'nic-sw') {
    return openHostRings(spec, opts, info, openNic);
  }
  return openNic(spec, opts, info);
}

/**
 * The NIC rings of an interface: AF_XDP, or AF_PACKET; with `host`, the host rings too, as the last
 * ring pair (netmap:IF*). A TAP device gets the TAP backend: its "wire" is its file descriptor, so
 * AF_XDP or AF_PACKET on it would not reach its host stack.
 */
export function openNic(spec: PortSpec, opts: InterfaceOpenOptions, info: InterfaceInfo, host: HostRings | null = null): KernelPort {
  const backend = chosenBackend(spec, opts);
  const vnet = vnetFor(opts);
  if (tunFlags(info.name) !== null) {
    const port = openTapInterface(spec, opts, info, vnet);
    if (backend !== 'auto') port.info.fallbackReason = `${info.name} is a TAP device: the port reads and writes the TAP itself (${backend} would not reach its host stack)`;
    return port;
  }
  const warnings = opts.offloadAware || opts.vnetHdrLen ? [] : offloadAdvice(info.name);
  let port: KernelPort;
  let fallbackReason = '';
  let tryXdp = backend !== 'af_packet';
  if (opts.vnetHdrLen) {
    if (backend === 'af_xdp') throw new NetmapError('EINVAL', `${spec.raw}: AF_XDP carries no virtio-net header (vnet=${opts.vnetHdrLen}): use backend af_packet, or vnet=0`);
    tryXdp = false;
    fallbackReason = `a ${opts.vnetHdrLen}-byte virtio-net header was asked for (vnet=${opts.vnetHdrLen}), which AF_XDP cannot carry`;
  } else if (opts.offloadAware && opts.vnetHdrLen === undefined && backend === 'auto') {
    const on = offloadsOn(info.name);
    if (on.length) {
      tryXdp = false;
      fallbackReason = `${info.name} has ${on.join(', ')} on: AF_PACKET with a virtio-net header carries the stack's super-frames and partial checksums as they are (AF_XDP would lose them; force it with backend af_xdp)`;
    }
  }
  if (tryXdp) {
    try {
      const nq = Math.max(1, Math.min(info.rxQueues, info.txQueues));
      port = openXdpPort(spec, opts, info, nicRings(spec, nq, host !== null), nq, host);
      port.info.warnings.push(...warnings);
      return port;
    } catch (e) {
      if (backend === 'af_xdp' || final(e)) throw privilegeError(spec.raw, e);
      fallbackReason = `AF_XDP: ${e instanceof Error ? e.message : String(e)}`;
      if (e instanceof NetError && e.errno === K.EBUSY) {
        warnings.push(`${info.name} already has an XDP program (another program's, or another netmap-ts process's): the frames it redirects to its own sockets never reach this AF_PACKET port; see ip -d link show ${info.name}`);
      }
    }
  }
  try {
    port = openPacketPort(spec, opts, info, nicRings(spec, 1, host !== null, true), host, vnet);
  } catch (e) {
    throw privilegeError(spec.raw, e);
  }
  port.info.fallbackReason = fallbackReason;
  port.info.warnings.push(...warnings);
  return port;
}
