// The host stack of an interface: netmap:IF^ (the host rings only), netmap:IF^0 (its one host
// ring) and netmap:IF* (the NIC rings plus the host ring pair, last, as netmap numbers them).
//
// netmap intercepts the interface itself, between its driver and the stack. netmap-ts cannot, so
// the host stack is a TAP device paired with IF and named IF^ (IF cut to fit 15 bytes; the
// `hostTap` open option or NMTS_HOST_TAP name it otherwise). A frame written to the host tx ring
// is received by the stack on IF^; a frame the stack sends through IF^ arrives on the host rx
// ring; the addresses the stack should answer for go on IF^, not on IF. The TAP is made at open
// with IF's MAC address and MTU, up, and goes when the port closes or its process dies (the
// kernel removes a TAP that is not persistent with its last fd); a TAP that exists already
// (persistent: `vale-ctl -n IF^`) is used as it is and stays.
import { existsSync } from 'node:fs';
import type { PortSpec } from '../../core/portspec.js';
import { NetmapError } from '../../core/region.js';
import { ifFlags, ifHwAddr, ifMtu, setIfHwAddr, setIfMtu, setIfUp } from '../../sys/net.js';
import { closeTap, openTap, tunFlags, type TapDevice } from '../../sys/tun.js';
import * as K from '../../sys/kernel-abi.js';
import type { InterfaceInfo } from './iface.js';
import type { HostRings, InterfaceOpenOptions, KernelPort } from './kernel-port.js';
import { openTapPort, tapError } from './tap-port.js';
import { TapRings } from './tap-rings.js';

/** Opens the NIC rings of IF, with `host` as an extra last ring pair (open-interface.ts's openNic). */
export type NicOpener = (spec: PortSpec, opts: InterfaceOpenOptions, info: InterfaceInfo, host: HostRings | null) => KernelPort;

/** The TAP that is IF's host stack: `hostTap`, NMTS_HOST_TAP, or IF + '^' with IF cut to fit IFNAMSIZ. */
export function hostTapName(ifname: string, opts: InterfaceOpenOptions): string {
  const given = opts.hostTap ?? process.env.NMTS_HOST_TAP;
  if (given) return given;
  let base = [...ifname];
  while (Buffer.byteLength(base.join('')) > K.IFNAMSIZ - 2) base = base.slice(0, -1);
  return `${base.join('')}^`;
}

/** Attach to the host TAP, or make it with IF's MAC address and MTU, up. */
function openHostTap(portName: string, info: InterfaceInfo, name: string, vnet: 0 | 10 | 12): { tap: TapDevice; warnings: string[] } {
  const flags = tunFlags(name);
  if ((flags === null && existsSync(`/sys/class/net/${name}`)) || (flags !== null && (flags & K.IFF_TUN) !== 0)) {
    throw new NetmapError('EEXIST', `${portName}: the host stack of ${info.name} is the TAP ${name}, but an interface ${name} exists that is not a TAP; name another one with the hostTap option or NMTS_HOST_TAP`);
  }
  let tap: TapDevice;
  try {
    tap = openTap(name, 'either', vnet);
  } catch (e) {
    throw tapError(portName, name, e);
  }
  const warnings: string[] = [];
  try {
    if (tap.created) {
      setIfHwAddr(name, info.mac);
      setIfMtu(name, info.mtu);
      setIfUp(name, true);
    } else {
      const mac = ifHwAddr(name), mtu = ifMtu(name);
      if (mac !== info.mac) warnings.push(`${name}: MAC address ${mac}, not ${info.name}'s ${info.mac}: the stack on ${name} ignores frames sent to ${info.mac} (ip link set ${name} address ${info.mac})`);
      if (mtu !== info.mtu) warnings.push(`${name}: MTU ${mtu}, ${info.name}'s is ${info.mtu}`);
      if (!ifFlags(name).up) setIfUp(name, true);
    }
  } catch (e) {
    closeTap(tap.fd); // a TAP made here goes with it
    throw e;
  }
  return { tap, warnings };
}

/** netmap:IF^, netmap:IF^0, netmap:IF* (open-interface.ts hands them here). */
export function openHostRings(spec: PortSpec, opts: InterfaceOpenOptions, info: InterfaceInfo, openNic: NicOpener): KernelPort {
  if (tunFlags(info.name) !== null) {
    throw new NetmapError('EINVAL', `${spec.raw}: ${info.name} is a TAP device: netmap:${info.name} already reaches its host stack, it has no host rings`);
  }
  if (spec.mode === 'one-sw' && spec.ringId !== 0) {
    throw new NetmapError('EINVAL', `${spec.raw}: host ring ${spec.ringId} does not exist (${info.name} has one host ring, ^0)`);
  }
  const name = hostTapName(info.name, opts);
  // netmap:IF* has one header length for all its rings: the NIC's backend is chosen after the
  // TAP is open, so only an explicit vnet=N gives it one (offloadAware serves IF and IF^ opened apart)
  const vnet = spec.mode === 'nic-sw' ? opts.vnetHdrLen ?? 0 : opts.vnetHdrLen ?? (opts.offloadAware ? 10 : 0);
  const { tap, warnings } = openHostTap(spec.raw, info, name, vnet);
  const host = new TapRings(tap);
  const how = `${tap.created ? 'made for this port' : 'persistent'}, ${vnet ? `${vnet}-byte virtio-net header, offloads taken (TSO, partial checksums), one readv()/writev()` : 'one read()/write()'} per frame`;
  if (spec.mode === 'nic-sw') {
    let port: KernelPort;
    try {
      port = openNic(spec, { ...opts, offloadAware: false }, info, host);
    } catch (e) {
      host.close();
      throw e;
    }
    port.info.detail += `; host rings (last): TAP ${name}, ${how}`;
    port.info.warnings.push(...warnings);
    return port;
  }
  // netmap numbers the host ring after the NIC rings
  const nicRings = Math.max(1, Math.min(info.rxQueues, info.txQueues));
  return openTapPort(spec, opts, host, nicRings, {
    backend: 'tap', detail: `host stack of ${info.name}: TAP ${name}, ${how}`, fallbackReason: '', warnings, tap: name,
  });
}
