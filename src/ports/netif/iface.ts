// What a port on a Linux interface needs to know about it before opening, and the errors users
// trip over, each saying what to do: no such interface, interface down, missing privileges,
// an MTU larger than a buffer, offloads that merge or split frames.
import { readdirSync } from 'node:fs';
import { NetmapError } from '../../core/region.js';
import { NetError, ethtoolGet, ifFlags, ifHwAddr, ifIndex, ifMtu } from '../../sys/net.js';
import * as K from '../../sys/kernel-abi.js';

export interface InterfaceInfo {
  name: string;
  index: number;
  mtu: number;
  mac: string;
  up: boolean;
  running: boolean;
  /** hardware queues (rx-N / tx-N in sysfs); 1 when sysfs does not say */
  rxQueues: number;
  txQueues: number;
}

function queueCount(name: string, prefix: 'rx-' | 'tx-'): number {
  try {
    return Math.max(1, readdirSync(`/sys/class/net/${name}/queues`).filter((q) => q.startsWith(prefix)).length);
  } catch {
    return 1;
  }
}

/** Look the interface up; ENXIO naming it when it does not exist, ENETDOWN when it is down. */
export function interfaceInfo(portName: string, name: string): InterfaceInfo {
  let index: number;
  try {
    index = ifIndex(name);
  } catch (e) {
    if (e instanceof NetError && e.errno === K.ENODEV) {
      throw new NetmapError('ENXIO', `${portName}: no such interface '${name}' in this network namespace (see \`ip link\`)`);
    }
    throw e;
  }
  const flags = ifFlags(name);
  if (!flags.up) throw new NetmapError('ENETDOWN', `${portName}: interface ${name} is down (bring it up: ip link set ${name} up)`);
  return {
    name, index, mtu: ifMtu(name), mac: ifHwAddr(name), up: flags.up, running: flags.running,
    rxQueues: queueCount(name, 'rx-'), txQueues: queueCount(name, 'tx-'),
  };
}

/** Reject an interface whose largest frame (MTU + Ethernet and VLAN headers) does not fit `maxFrame`. */
export function checkMtu(portName: string, info: InterfaceInfo, maxFrame: number, why: string): void {
  const frame = info.mtu + 14 + 4;
  if (frame > maxFrame) {
    const mtu = maxFrame - 18;
    throw new NetmapError('EMSGSIZE', `${portName}: the MTU of ${info.name} (${info.mtu}) is larger than a buffer holds: frames of up to ${frame} bytes, buffers take ${maxFrame} (${why}); lower it: ip link set ${info.name} mtu ${mtu}`);
  }
}

/** A privilege error (EPERM/EACCES from socket, bpf or bind) turned into one that says what is missing. */
export function privilegeError(portName: string, e: unknown): unknown {
  if (e instanceof NetError && (e.errno === K.EPERM || e.errno === K.EACCES)) {
    return new NetmapError('EPERM', `${portName}: ${e.message}: opening an interface needs CAP_NET_RAW and CAP_NET_ADMIN (and CAP_BPF and CAP_IPC_LOCK for AF_XDP, whose UMEM is locked memory): run as root, or grant them to node: setcap cap_net_raw,cap_net_admin,cap_bpf,cap_ipc_lock+ep "$(command -v node)"`);
  }
  return e;
}

/**
 * Offloads that change frame boundaries: receive coalescing (GRO, LRO) merges small frames into
 * large ones that a 2048-byte buffer cannot hold, and segmentation offloads (TSO, GSO) hand
 * oversized frames to a host port. Returns advice lines; never changes the interface.
 */
export function offloadAdvice(name: string, host = false): string[] {
  const on = (cmd: number): boolean => (ethtoolGet(name, cmd) ?? 0) !== 0;
  const rx: string[] = [];
  if (on(K.ETHTOOL_GGRO)) rx.push('gro');
  if (((ethtoolGet(name, K.ETHTOOL_GFLAGS) ?? 0) & K.ETH_FLAG_LRO) !== 0) rx.push('lro');
  const out: string[] = [];
  if (rx.length) out.push(`${name}: ${rx.join(' and ').toUpperCase()} on: received frames may be merged beyond the buffer size; for small-packet tests run: ethtool -K ${name} ${rx.map((f) => `${f} off`).join(' ')}`);
  if (host) {
    const tx: string[] = [];
    if (on(K.ETHTOOL_GTSO)) tx.push('tso');
    if (on(K.ETHTOOL_GGSO)) tx.push('gso');
    if (on(K.ETHTOOL_GTXCSUM)) tx.push('tx');
    if (tx.length) out.push(`${name}: ${tx.join(', ').toUpperCase()} offload on: the host stack hands over oversized frames or frames without checksums; run: ethtool -K ${name} ${tx.map((f) => `${f} off`).join(' ')}`);
  }
  return out;
}
