// What the ports backed by kernel objects (AF_XDP and AF_PACKET sockets, TAP devices) share:
// a private region (core/private-region), poll() that sleeps in poll(2) on the port's file
// descriptors instead of a futex, and an orderly close (the kernel lets go of the memory
// before the region is dropped).
import { POLLIN, POLLOUT } from '../../core/constants.js';
import { RecKind } from '../../core/layout.js';
import { clock, Port, SPIN_CHECKS_PER_US, type OpenOptions, type PortStats } from '../../core/port.js';
import type { PortSpec } from '../../core/portspec.js';
import type { PrivateRegion } from '../../core/private-region.js';
import { PollSet } from '../../sys/net.js';

/** Record kind of ports backed by the kernel (their records live in a private region). */
export const KERNEL_PORT_KIND = 6 as RecKind;

/** Which kernel mechanism moves the frames of a port on an interface. */
export type Backend = 'af_xdp' | 'af_packet' | 'tap';

export interface KernelPortInfo {
  backend: Backend;
  /** e.g. "native XDP, copy mode, queue 0" or "TPACKET_V3 rx ring, sendmmsg tx, qdisc bypass" */
  detail: string;
  /** why another backend was not used (auto choice), '' if not applicable */
  fallbackReason: string;
  /** advice printed by tools at open (offloads, MTU) */
  warnings: string[];
}

export abstract class KernelPort extends Port {
  readonly info: KernelPortInfo;
  protected readonly mem: PrivateRegion;
  private readonly pollSet: PollSet;
  private readonly asyncSet: PollSet;

  constructor(mem: PrivateRegion, rec: number, spec: PortSpec, rings: { tx: number[]; rx: number[] }, opts: OpenOptions,
    fds: readonly number[], info: KernelPortInfo) {
    super(mem.region, rec, spec, rings, opts);
    this.mem = mem;
    this.info = info;
    this.pollSet = new PollSet(fds);
    this.asyncSet = new PollSet(fds);
  }

  /** File descriptors poll(2) waits on (for pollPorts over several kernel ports). */
  get fds(): readonly number[] {
    return this.pollSet.fds;
  }

  /** Counters the kernel keeps (drops by the socket, invalid descriptors), added to stats(). */
  protected abstract kernelCounters(): { rxDrops: number; txDrops: number };
  /** Close the sockets / devices: after this the kernel no longer touches the region. */
  protected abstract closeKernel(): void;

  override stats(): PortStats {
    const s = super.stats();
    const k = this.kernelCounters();
    s.rxDrops += k.rxDrops;
    s.txDrops += k.txDrops;
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
    const spins = (this.spinUs * SPIN_CHECKS_PER_US) >> 2; // a check here may cost a system call
    for (let i = 0; i < spins; i++) {
      revents = this.check(events);
      if (revents) return revents;
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
    this.closeKernel();
    this.mem.release();
  }
}
