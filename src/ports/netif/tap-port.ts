// A port whose rings are a TAP device's file-descriptor side (tap-rings.ts): netmap:TAP when
// the interface is itself a TAP (its tx ring feeds the TAP's host stack, its rx ring receives
// what the stack sends through it), and the host rings alone, netmap:IF^ and netmap:IF^0
// (host-rings.ts). Backend 'tap'; one system call per frame (see tap-rings.ts).
import { DEFAULT_BUF_SIZE, DEFAULT_SLOTS, NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY } from '../../core/constants.js';
import type { OpenOptions } from '../../core/port.js';
import type { PortSpec } from '../../core/portspec.js';
import { createPrivateRegion, type PrivateRegion } from '../../core/private-region.js';
import { NetmapError } from '../../core/region.js';
import { NetError } from '../../sys/net.js';
import { openTap, tunFlags, type TapDevice } from '../../sys/tun.js';
import * as K from '../../sys/kernel-abi.js';
import { checkMtu, type InterfaceInfo } from './iface.js';
import { createKernelPortRecord, KernelPort, type KernelPortInfo } from './kernel-port.js';
import { TapRings } from './tap-rings.js';

/** A port all of whose rings are TAP rings (netmap:TAP, netmap:IF^): one tx and one rx ring. */
export class TapPort extends KernelPort {
  constructor(mem: PrivateRegion, rec: number, spec: PortSpec, rings: { tx: number[]; rx: number[] }, opts: OpenOptions,
    tap: TapRings, info: KernelPortInfo) {
    super(mem, rec, spec, rings, opts, [], info, { rings: tap, index: 0 });
  }

  protected txsyncRing(t: number): void {
    this.host!.txsync(t);
  }

  protected rxsyncRing(r: number): void {
    this.host!.rxsync(r);
  }

  protected kernelCounters(): { rxDrops: number; txDrops: number } {
    return { rxDrops: 0, txDrops: 0 }; // the TAP's own are added by KernelPort
  }

  override get vnetHdrLen(): number {
    return (this.host as TapRings).vnetHdrLen;
  }

  protected closeKernel(): void {
    // nothing but the TAP, which KernelPort closes
  }
}

/**
 * A TapPort on an open TAP: one ring pair whose ring id is `ringId` (0 for a TAP opened as
 * netmap:TAP; the number of NIC rings for host rings, as netmap numbers them). Takes over the
 * TAP: it is closed if the open fails.
 */
export function openTapPort(spec: PortSpec, opts: OpenOptions, tap: TapRings, ringId: number, info: KernelPortInfo): TapPort {
  const txSlots = opts.txSlots ?? DEFAULT_SLOTS, rxSlots = opts.rxSlots ?? DEFAULT_SLOTS;
  let mem: PrivateRegion | null = null;
  try {
    mem = createPrivateRegion(txSlots + rxSlots + (opts.extraBufs ?? 0), 0, `${tap.name} buffers`);
    const region = mem.region;
    const rec = createKernelPortRecord(region, 1, txSlots, rxSlots, ringId);
    const bound = { tx: spec.flags & NR_RX_RINGS_ONLY ? [] : [0], rx: spec.flags & NR_TX_RINGS_ONLY ? [] : [0] };
    const port = new TapPort(mem, rec, spec, bound, opts, tap, info);
    return port.bindOpener();
  } catch (e) {
    tap.close();
    mem?.release();
    throw e;
  }
}

/** An error attaching to or creating TAP `tap`, turned into one that says what to do. */
export function tapError(portName: string, tap: string, e: unknown): unknown {
  if (!(e instanceof NetError)) return e;
  if (e.errno === K.EBUSY) {
    return new NetmapError('EBUSY', `${portName}: TAP ${tap} is held by another process or port (a TAP has a single reader): close it there`);
  }
  if (e.errno === K.EPERM || e.errno === K.EACCES) {
    return new NetmapError('EPERM', `${portName}: ${e.message}: creating or attaching to TAP ${tap} needs CAP_NET_ADMIN (run as root), or a TAP made for this user (ip tuntap add ${tap} mode tap user NAME)`);
  }
  return e;
}

/**
 * netmap:TAP when the interface is itself a TAP device (/sys/class/net/TAP/tun_flags exists), such
 * as one made by `vale-ctl -n`. The port takes the TAP's file-descriptor side: its tx ring feeds
 * the TAP's host stack, its rx ring receives what the stack sends through the TAP. (AF_XDP or
 * AF_PACKET on a TAP would see the other side: the frames of whoever holds the fd.) The TAP must
 * be free (a TAP has a single reader), hence persistent; it stays when the port closes.
 */
export function openTapInterface(spec: PortSpec, opts: OpenOptions, info: InterfaceInfo, vnet: 0 | 10 | 12 = 0): TapPort {
  const flags = tunFlags(info.name) ?? 0;
  if (flags & K.IFF_TUN) {
    throw new NetmapError('ENOTSUP', `${spec.raw}: ${info.name} is a TUN device, which carries IP packets without an Ethernet header; netmap ports carry Ethernet frames (use a TAP: ip tuntap add NAME mode tap)`);
  }
  if (spec.mode === 'one-nic' && spec.ringId !== 0) {
    throw new NetmapError('EINVAL', `${spec.raw}: ring ${spec.ringId} does not exist (the TAP ${info.name} has one ring pair, ring 0)`);
  }
  checkMtu(spec.raw, info, DEFAULT_BUF_SIZE, `TAP: ${DEFAULT_BUF_SIZE}-byte buffers`);
  let tap: TapDevice;
  try {
    tap = openTap(info.name, 'attach', vnet);
  } catch (e) {
    throw tapError(spec.raw, info.name, e);
  }
  const how = tap.vnetHdrLen ? `${tap.vnetHdrLen}-byte virtio-net header, offloads taken (TSO, partial checksums), one readv()/writev() per frame` : 'one read()/write() per frame';
  const detail = `TAP ${info.name}${tap.created ? '' : ', persistent'}, ${how}`;
  return openTapPort(spec, opts, new TapRings(tap), 0, { backend: 'tap', detail, fallbackReason: '', warnings: [], tap: info.name });
}
