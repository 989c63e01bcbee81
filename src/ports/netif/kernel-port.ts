// What the ports backed by kernel objects (AF_XDP and AF_PACKET sockets, TAP devices) share:
// a private region (core/private-region), poll() that sleeps in poll(2) on the port's file
// descriptors instead of a futex, and an orderly close (the kernel lets go of the memory
// before the region is dropped). A port may also have host rings (netmap:IF*): one ring pair
// whose syncs the subclass hands to a HostRings handler (a TAP device, tap-rings.ts).
import { NR_RX, NR_TX, POLLIN, POLLOUT } from '../../core/constants.js';
import { RecKind } from '../../core/layout.js';
import { clock, Port, SPIN_CHECKS_PER_US, type BackendInfo, type OpenOptions, type PortStats } from '../../core/port.js';
import { spinEnd, spinPastEnd } from '../../core/spin.js';
import type { PortSpec } from '../../core/portspec.js';
import type { PrivateRegion } from '../../core/private-region.js';
import { createPortRecord, createRing, portRing, setPortRing } from '../../core/records.js';
import type { Region } from '../../core/region.js';
import { PollSet } from '../../sys/net.js';

/** Record kind of ports backed by the kernel (their records live in a private region). */
export const KERNEL_PORT_KIND = RecKind.Kernel;

/**
 * The port record of a kernel port with `pairs` tx/rx ring pairs (ring ids from `firstRingId`),
 * every slot with a buffer of the region.
 */
export function createKernelPortRecord(region: Region, pairs: number, txSlots: number, rxSlots: number, firstRingId = 0): number {
  region.lockConfig();
  try {
    const rec = createPortRecord(region, { kind: KERNEL_PORT_KIND, ntx: pairs, nrx: pairs, txSlots, rxSlots });
    for (let q = 0; q < pairs; q++) {
      setPortRing(region, rec, q, createRing(region, { numSlots: txSlots, dir: NR_TX, ringId: firstRingId + q, portOfs: rec }));
      setPortRing(region, rec, pairs + q, createRing(region, { numSlots: rxSlots, dir: NR_RX, ringId: firstRingId + q, portOfs: rec }));
    }
    return rec;
  } finally {
    region.unlockConfig();
  }
}

/** open() options of ports on Linux interfaces (netmap:IF), beyond those of every port. */
export interface InterfaceOpenOptions extends OpenOptions {
  /**
   * Linux interfaces (netmap:IF): which kernel mechanism to use. 'auto' (default, or the
   * NMTS_BACKEND environment variable) tries AF_XDP and falls back to AF_PACKET.
   */
  backend?: 'auto' | 'af_xdp' | 'af_packet';
  /**
   * Let the interface's transmit offloads choose (the forwarders of vale-ctl -a and bridge set
   * it): when tx-checksumming, TSO or GSO is on, 'auto' takes AF_PACKET with a 10-byte
   * virtio-net header, which carries the stack's super-frames and partial checksums as they are;
   * with them all off, AF_XDP (no header). AF_PACKET, forced or fallen back to, and TAPs then
   * always carry the header. An explicit vnetHdrLen (@conf:vnet=N) wins: 10 or 12 take AF_PACKET
   * (or the TAP) with that header, 0 none.
   */
  offloadAware?: boolean;
  /** AF_XDP: attach the XDP program in driver ('native') or skb ('generic') mode; 'auto' tries native first. */
  xdpAttach?: 'auto' | 'native' | 'generic';
  /** AF_XDP: 'zerocopy' where the driver offers it, 'copy', or 'auto' (zero-copy if available). */
  xdpBind?: 'auto' | 'copy' | 'zerocopy';
  /**
   * Host rings (netmap:IF^, IF*): the TAP device that is IF's host stack (default IF + '^', IF cut
   * to fit 15 bytes; or the NMTS_HOST_TAP environment variable). Made at open unless it exists.
   */
  hostTap?: string;
}

/** Which kernel mechanism moves the frames of a port on an interface. */
export type Backend = 'af_xdp' | 'af_packet' | 'tap' | 'vxlan' | 'vhost-user';

export interface KernelPortInfo extends BackendInfo {
  backend: Backend;
  /** the TAP device behind the port (backend 'tap') or behind its host rings (netmap:IF*) */
  tap?: string;
}

/**
 * Frames the kernel side of a port dropped, by cause (what `nmts daemon --http` shows per
 * attached interface). Each is a count since the port was opened.
 */
export interface KernelDrops {
  /** Received frames dropped because the socket's ring was full (AF_XDP rx_ring_full, AF_PACKET tp_drops). */
  rxRingFull: number;
  /** Other receive drops (AF_XDP rx_dropped: no fill-ring buffer or frame too big; rx_invalid_descs). */
  rxOther: number;
  /** Descriptors to send that the kernel rejected (AF_XDP tx_invalid_descs). */
  txInvalid: number;
  /** Frames the host-stack TAP dropped (netmap:IF* host rings; its tx_dropped). */
  host: number;
}

/**
 * The kernel side of a ring pair that moves frames through another file descriptor than the
 * port's sockets: the host rings of netmap:IF* (and every ring of a TAP port), a TAP device.
 */
export interface HostRings {
  /** the device's name (e.g. 'eth0^') */
  readonly name: string;
  readonly fd: number;
  /** Called once by the port: the region holding the rings' buffers, and the port's name for errors. */
  bind(region: Region, portName: string): void;
  txsync(ring: number): void;
  rxsync(ring: number): void;
  /** frames lost by the kernel on the way (not counted in the rings) */
  counters(): { rxDrops: number; txDrops: number };
  /** Close the device (it goes away unless it is persistent). */
  close(): void;
}

export abstract class KernelPort extends Port {
  readonly info: KernelPortInfo;
  protected readonly mem: PrivateRegion;
  /** The host rings' handler, or null; its rings are the records hostTx / hostRx. */
  protected readonly host: HostRings | null;
  /** Ring records of the host ring pair (-1 without host rings): the subclass's syncs hand them to `host`. */
  protected readonly hostTx: number;
  protected readonly hostRx: number;
  private readonly pollSet: PollSet;
  private readonly asyncSet: PollSet;

  /** `host`: the host rings and their position among the port's rings (the last one for netmap:IF*). */
  constructor(mem: PrivateRegion, rec: number, spec: PortSpec, rings: { tx: number[]; rx: number[] }, opts: OpenOptions,
    fds: readonly number[], info: KernelPortInfo, host: { rings: HostRings; index: number } | null = null) {
    super(mem.region, rec, spec, rings, opts);
    this.mem = mem;
    this.info = info;
    this.host = host?.rings ?? null;
    this.hostTx = host ? portRing(mem.region, rec, false, host.index) : -1;
    this.hostRx = host ? portRing(mem.region, rec, true, host.index) : -1;
    if (host) {
      host.rings.bind(mem.region, spec.raw);
      info.tap ??= host.rings.name;
    }
    const all = host ? [...fds, host.rings.fd] : fds;
    this.pollSet = new PollSet(all);
    this.asyncSet = new PollSet(all);
  }

  /** Bind the rings this opener asked for (once constructed): the last step of an open. */
  bindOpener(): this {
    this.region.lockConfig();
    try {
      this.bindRings();
    } finally {
      this.region.unlockConfig();
    }
    return this;
  }

  override backend(): KernelPortInfo {
    return this.info;
  }

  /** File descriptors poll(2) waits on (for pollPorts over several kernel ports). */
  override pollFds(): readonly number[] {
    return this.pollSet.fds;
  }

  /** Counters the kernel keeps (drops by the socket, invalid descriptors), added to stats(). */
  protected abstract kernelCounters(): { rxDrops: number; txDrops: number };
  /** Close the sockets / devices: after this the kernel no longer touches the region. */
  protected abstract closeKernel(): void;

  /**
   * The kernel's drop counters by cause (a system call per socket: call it once in a while,
   * not per batch). The default puts the subclass's counters under rxOther / txInvalid.
   */
  kernelDrops(): KernelDrops {
    const k = this.kernelCounters();
    return { rxRingFull: 0, rxOther: k.rxDrops, txInvalid: k.txDrops, host: this.hostDrops() };
  }

  /** Drops of the host-stack TAP (0 without host rings). */
  protected hostDrops(): number {
    if (!this.host) return 0;
    const h = this.host.counters();
    return h.rxDrops + h.txDrops;
  }

  override stats(): PortStats {
    const s = super.stats();
    const k = this.kernelCounters();
    s.rxDrops += k.rxDrops;
    s.txDrops += k.txDrops;
    if (this.host) {
      const h = this.host.counters();
      s.rxDrops += h.rxDrops;
      s.txDrops += h.txDrops;
    }
    return s;
  }

  private setEvents(set: PollSet, events: number): void {
    const e = (events & POLLIN ? POLLIN : 0) | (events & POLLOUT ? POLLOUT : 0);
    for (let i = 0; i < set.fds.length; i++) set.setEvents(i, e);
  }

  /** As Port.poll(), sleeping in poll(2) on the port's descriptors. */
  override poll(events: number, timeoutMs = -1): number {
    let revents = this.check(events);
    if (revents || timeoutMs === 0) return revents;
    // a check here may cost a system call
    const spins = (this.spinUs * SPIN_CHECKS_PER_US) >> 2,
      end = spins > 0 ? spinEnd(timeoutMs) : 0;
    for (let i = 0; i < spins; i++) {
      revents = this.check(events);
      if (revents) return revents;
      if (spinPastEnd(i, end)) break;
    }
    const deadline = timeoutMs < 0 ? Infinity : clock.now() + timeoutMs;
    this.setEvents(this.pollSet, events);
    for (;;) {
      if (!this.busyWait) {
        const left = deadline - clock.now();
        this.pollSet.poll(left === Infinity ? 1000 : Math.max(0, Math.ceil(left)), this.spec.name);
      }
      revents = this.check(events);
      if (revents || clock.now() >= deadline) return revents;
    }
  }

  /** As Port.pollAsync(): poll(2) runs on a libuv thread, the event loop stays free. */
  override async pollAsync(events: number, timeoutMs = -1): Promise<number> {
    let revents = this.check(events);
    if (revents || timeoutMs === 0) return revents;
    const deadline = timeoutMs < 0 ? Infinity : clock.now() + timeoutMs;
    this.setEvents(this.asyncSet, events);
    for (;;) {
      const left = deadline - clock.now();
      await this.asyncSet.pollAsync(left === Infinity ? 200 : Math.max(0, Math.min(200, Math.ceil(left))), this.spec.name);
      if (this.isClosed) return 0;
      revents = this.check(events);
      if (revents || clock.now() >= deadline) return revents;
    }
  }

  override close(): void {
    if (this.isClosed) return;
    super.close();
    try {
      this.closeKernel();
    } finally {
      this.host?.close();
    }
    this.mem.release();
  }
}
