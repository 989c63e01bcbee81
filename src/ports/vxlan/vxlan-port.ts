// netmap:vx0 for a VXLAN port (config.ts): one ring pair whose "wire" is a VXLAN overlay. The
// tx ring's frames leave encapsulated (vxlan-tx.ts: the FDB's VTEP or head-end replication,
// raw datagrams or UDP GSO); datagrams arriving for the VNI land in the rx ring (vxlan-rx.ts:
// checked, learned, received whole as trains where the kernel offers them). This file opens
// the sockets, owns the forwarding table and its run-time static entries, and closes it all.
//
// An offload-aware opener (vale-ctl -a's forwarder; config offloads=1) or one asking for a
// virtio-net header gets one before each frame of both rings: TCP super-frames then reach the
// tx ring whole (NS_MOREFRAG chains) and leave with UDP GSO (gso-tx.ts; raw datagrams when a
// flow has no UDP socket), frames with a partial checksum have it completed, and on receive
// consecutive TCP segments of a connection are merged in place into super-frames
// (tcp-merge.ts); every other received frame gets a header asking for nothing.
//
// The underlay's family is local's (config.ts checks every address is of it). VTEPs are 16
// bytes everywhere (IPv4 as ::ffff:a.b.c.d): the FDB, the flood list, the receive names' copy.
//
// Every frame not sent or not delivered is counted by cause (stats.ts, shown by vale-ctl -v):
// too big for the underlay MTU, no remote to send to, send errors; short, bad flags, wrong
// VNI, truncated (larger than a buffer), looped back from ourselves. No allocation per frame.
import { closeSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { DEFAULT_SLOTS, NR_RX_RINGS_ONLY, NR_TX_RINGS_ONLY } from '../../core/constants.js';
import type { OpenOptions, Port } from '../../core/port.js';
import type { PortSpec } from '../../core/portspec.js';
import { createPrivateRegion, type PrivateRegion } from '../../core/private-region.js';
import { NetmapError } from '../../core/region.js';
import { flock, LOCK_NB, LOCK_SH } from '../../sys/libc.js';
import { close, ifIndex, ifMtu, NetError } from '../../sys/net.js';
import { joinGroup, rawIpSocket, udpSocket } from '../../sys/udp.js';
import * as K from '../../sys/kernel-abi.js';
import { parseVtep, VXLAN_IP_HLEN, VXLAN_IP6_HLEN } from '../../packet/vxlan.js';
import { createKernelPortRecord, KernelPort, type InterfaceOpenOptions } from '../netif/kernel-port.js';
import { isIpv6, loadStaticEntries, loadVxlanConfig, type VxlanConfig } from './config.js';
import { Fdb, fdbCapacity } from './fdb.js';
import { FdbTable } from './fdb-table.js';
import { C, portSocketDrops, VxlanStats } from './stats.js';
import { VxlanReceiver } from './vxlan-rx.js';
import { VxlanSender } from './vxlan-tx.js';

function sameAddress(a: string, b: string): boolean {
  const x = parseVtep(a), y = parseVtep(b);
  return x !== null && y !== null && x.every((v, i) => v === y[i]);
}

/** The underlay interface: `dev`, else the one holding the local address; its MTU. */
function underlay(c: VxlanConfig, what: string): { dev: string; mtu: number; ifindex: number } {
  let dev = c.dev;
  if (!dev) {
    for (const [name, addrs] of Object.entries(networkInterfaces())) {
      if (addrs?.some((a) => a.family === (isIpv6(c.local) ? 'IPv6' : 'IPv4') && sameAddress(a.address, c.local))) { dev = name; break; }
    }
  }
  if (!dev) throw new NetmapError('EADDRNOTAVAIL', `${what}: no interface in this network namespace has the local address ${c.local} (see ip addr)`);
  try {
    return { dev, mtu: ifMtu(dev), ifindex: ifIndex(dev) };
  } catch (e) {
    if (e instanceof NetError && e.errno === K.ENODEV) throw new NetmapError('ENXIO', `${what}: no underlay interface ${dev} in this network namespace`);
    throw e;
  }
}

/** Buckets of the forwarding table (4 entries each): 4096 MACs behind the overlay. */
const FDB_BUCKETS = 1024;

export class VxlanPort extends KernelPort {
  readonly config: VxlanConfig;
  readonly fdb: Fdb;
  readonly stats2: VxlanStats;
  /** Largest inner frame (its Ethernet header included) the underlay carries: MTU - 36 (IPv6: - 56). */
  readonly maxInner: number;
  readonly underlayMtu: number;
  /** An IPv6 underlay. */
  readonly v6: boolean;
  /** The sockets datagrams arrive on: the one bound to local, then the group's (if any). */
  private readonly rxFds: readonly number[];
  private readonly rawFd: number;
  private readonly cfgFd: number;
  /** The virtio-net header before each frame of the rings (0, 10, 12): an offload-aware opener (vale-ctl -a) takes 10. */
  private readonly hdr: number;
  private readonly table: FdbTable;
  private readonly tx: VxlanSender;
  private readonly rx: VxlanReceiver;

  override get vnetHdrLen(): number {
    return this.hdr;
  }

  constructor(mem: PrivateRegion, rec: number, spec: PortSpec, rings: { tx: number[]; rx: number[] }, opts: OpenOptions,
    c: VxlanConfig, fds: { udp: number; mc: number; raw: number; cfg: number }, u: { dev: string; mtu: number; ifindex: number }, stats: VxlanStats, table: FdbTable, vnet: 0 | 10 | 12) {
    const v6 = isIpv6(c.local), hlen = v6 ? VXLAN_IP6_HLEN : VXLAN_IP_HLEN;
    const maxInner = Math.min(mem.region.bufSize - vnet, u.mtu - hlen);
    const detail = `VNI ${c.vni}, ${v6 ? `[${c.local}]` : c.local}:${c.port} -> ${c.remotes.length ? c.remotes.join(' ') : 'no remotes'}${c.group ? `, group ${c.group}` : ''}; ` +
      `underlay ${u.dev} MTU ${u.mtu}: inner frames up to ${maxInner} bytes (MTU ${maxInner - 14} on the overlay's hosts)`;
    const rxFds = fds.mc >= 0 ? [fds.udp, fds.mc] : [fds.udp];
    const how = vnet ? `; a ${vnet}-byte virtio-net header: TCP super-frames cut here and sent with UDP GSO (one send per 64 KiB)` : '';
    super(mem, rec, spec, rings, opts, [...rxFds, fds.raw], { backend: 'vxlan', detail: detail + how, fallbackReason: '', warnings: [] });
    this.config = c;
    this.hdr = vnet;
    this.v6 = v6;
    this.rxFds = rxFds;
    this.rawFd = fds.raw;
    this.cfgFd = fds.cfg;
    this.underlayMtu = u.mtu;
    this.maxInner = maxInner;
    if (u.mtu - hlen - 14 < 1500) {
      this.info.warnings.push(`${spec.name}: the underlay ${u.dev} has MTU ${u.mtu}: inner frames over ${maxInner} bytes are dropped (counted: tx_too_big); set MTU ${maxInner - 14} on the overlay's hosts, or MTU ${1500 + hlen + 14} on the underlay`);
    }
    this.table = table;
    this.fdb = new Fdb(FDB_BUCKETS, c.ageing, table.arrays);
    for (const f of c.fdb) this.fdb.addStatic(macBytes(f.mac), parseVtep(f.dst)!);
    this.stats2 = stats;
    this.loadRuntimeStatic();
    const local16 = parseVtep(c.local)!;
    const common = { region: mem.region, name: this.name, portName: spec.name, fdb: this.fdb, stats, hdr: vnet, local16, v6 };
    this.tx = new VxlanSender({ ...common, config: c, rawFd: fds.raw, maxInner, hlen, mcIfindex: c.group ? u.ifindex : 0 });
    try {
      this.rx = new VxlanReceiver({ ...common, vni: c.vni, rxFds });
    } catch (e) {
      this.tx.close();
      throw e;
    }
  }

  private fdbGen = -1;

  /** The run-time static entries in force ('mac@vtep'), to tell which ones a reload removed. */
  private runtimeStatic = new Set<string>();

  /**
   * Static entries added and removed at run time (vale-ctl --vxlan-fdb, --vxlan-fdb-del): read
   * at open and whenever their generation moves (rare: allocation is fine here). An entry gone
   * from the list is forgotten (a configured entry of the same MAC comes back), then the list's
   * entries are (re)added.
   */
  private loadRuntimeStatic(): void {
    this.fdbGen = this.stats2.c[C.fdbGen];
    const now = new Set<string>();
    for (const f of loadStaticEntries(this.spec.name)) {
      if (parseVtep(f.dst) && isIpv6(f.dst) === isIpv6(this.config.local)) now.add(`${f.mac}@${f.dst}`); // (another family: unreachable, left out)
    }
    for (const e of this.runtimeStatic) {
      if (now.has(e)) continue;
      const mac = e.slice(0, e.indexOf('@'));
      this.fdb.remove(macBytes(mac), 0);
      const fixed = this.config.fdb.find((f) => f.mac === mac);
      if (fixed) this.fdb.addStatic(macBytes(fixed.mac), parseVtep(fixed.dst)!);
    }
    for (const e of now) {
      const at = e.indexOf('@');
      this.fdb.addStatic(macBytes(e.slice(0, at)), parseVtep(e.slice(at + 1))!);
    }
    this.runtimeStatic = now;
  }

  protected txsyncRing(t: number): void {
    if (this.stats2.c[C.fdbGen] !== this.fdbGen) this.loadRuntimeStatic();
    this.tx.sync(t);
  }

  protected rxsyncRing(r: number): void {
    this.rx.sync(r);
  }

  /** stats(): datagrams the kernel dropped on the UDP socket (buffer full), and those it refused to send. */
  protected kernelCounters(): { rxDrops: number; txDrops: number } {
    return { rxDrops: portSocketDrops(this.config) ?? 0, txDrops: this.stats2.c[C.txErrors] };
  }

  protected closeKernel(): void {
    for (const fd of this.rxFds) close(fd);
    close(this.rawFd);
    this.tx.close();
    this.rx.close();
    this.stats2.close();
    this.table.close();
    try { closeSync(this.cfgFd); } catch { /* closed */ }
  }
}

function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)));
}

/** Open netmap:NAME for the VXLAN port NAME (its config exists: the port-kind table checked). */
export function openVxlanPort(spec: PortSpec, opts: OpenOptions): Port {
  if (spec.share) throw new NetmapError('ENOTSUP', `${spec.raw}: @share is not supported for VXLAN ports`);
  if (spec.mode !== 'all-nic' && !(spec.mode === 'one-nic' && spec.ringId === 0)) {
    throw new NetmapError('EINVAL', `${spec.raw}: a VXLAN port has one ring pair and no host rings (open netmap:${spec.name})`);
  }
  const { config: c, fd: cfg } = loadVxlanConfig(spec.name, true);
  let udp = -1, mc = -1, raw = -1, mem: PrivateRegion | null = null, stats: VxlanStats | null = null, table: FdbTable | null = null;
  try {
    if (!flock(cfg, LOCK_SH | LOCK_NB)) throw new NetmapError('EBUSY', `${spec.raw}: VXLAN port ${spec.name} is being removed`);
    const u = underlay(c, spec.raw);
    const local = parseVtep(c.local)!, v6 = isIpv6(c.local);
    const at = v6 ? `[${c.local}]:${c.port}` : `${c.local}:${c.port}`;
    try {
      udp = udpSocket(local, c.port, 4 << 20, spec.name);
      // multicast: a socket bound to the group (one bound to local gets none of its datagrams)
      if (c.group) {
        const g = parseVtep(c.group)!;
        mc = udpSocket(g, c.port, 4 << 20, spec.name, v6 ? u.ifindex : 0);
        joinGroup(mc, g, u.ifindex, spec.name);
      }
    } catch (e) {
      if (e instanceof NetError && e.errno === K.EADDRINUSE) {
        throw new NetmapError('EBUSY', `${spec.raw}: ${at}${c.group ? ` or ${c.group}` : ''} is in use (another opener of ${spec.name}, a Linux vxlan device on this port, or another program): one opener at a time`);
      }
      if (e instanceof NetError && e.code === 'EADDRNOTAVAIL') throw new NetmapError('EADDRNOTAVAIL', `${spec.raw}: ${c.local} is not an address of this network namespace${v6 ? ' (or still tentative: duplicate address detection takes a moment; ip addr add ... nodad skips it)' : ''}`);
      throw e;
    }
    raw = rawIpSocket(v6, c.dev, c.group ? u.ifindex : 0, 4 << 20, spec.name);
    // an offload-aware opener (vale-ctl -a's forwarder) takes super-frames whole with a header
    // (unless the config says offloads=0); a program asks with vnetHdrLen
    const vnet = opts.vnetHdrLen ?? (c.offloads && (opts as InterfaceOpenOptions).offloadAware ? 10 : 0);
    const txSlots = opts.txSlots ?? DEFAULT_SLOTS, rxSlots = opts.rxSlots ?? DEFAULT_SLOTS;
    mem = createPrivateRegion(txSlots + rxSlots + (opts.extraBufs ?? 0), 0, `${spec.name} buffers`);
    const rec = createKernelPortRecord(mem.region, 1, txSlots, rxSlots);
    stats = VxlanStats.open(spec.name);
    table = FdbTable.open(spec.name, fdbCapacity(FDB_BUCKETS), c.ageing * 1000);
    const rings = { tx: spec.flags & NR_RX_RINGS_ONLY ? [] : [0], rx: spec.flags & NR_TX_RINGS_ONLY ? [] : [0] };
    const port = new VxlanPort(mem, rec, spec, rings, opts, c, { udp, mc, raw, cfg }, u, stats, table, vnet);
    return port.bindOpener();
  } catch (e) {
    if (udp >= 0) close(udp);
    if (mc >= 0) close(mc);
    if (raw >= 0) close(raw);
    mem?.release();
    stats?.close();
    table?.close();
    try { closeSync(cfg); } catch { /* closed */ }
    if (e instanceof NetError && (e.errno === K.EPERM || e.errno === K.EACCES)) {
      throw new NetmapError('EPERM', `${spec.raw}: a VXLAN port sends through a raw IP socket: needs CAP_NET_RAW (run as root)`);
    }
    throw e;
  }
}
