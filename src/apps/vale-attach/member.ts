// One attachment as its forwarder thread serves it (worker.ts): the interface's ports
// (netmap:IF, AF_XDP else AF_PACKET, by its offloads; with the host stack, netmap:IF^), its
// switch ports (valeX:IF, valeX:IF^), the directions between them, its control words and
// counters shared with the daemon, and the checks that end it (the interface gone). A forwarder
// thread serves one member or several (every attachment of a switch: see worker.ts); each
// member opens, fails and closes on its own, so an error in one ends only that attachment.
import { readlinkSync } from 'node:fs';
import { open } from '../../core/open.js';
import { clock, type Port } from '../../core/port.js';
import { NetmapError } from '../../core/region.js';
import type { InterfaceOpenOptions } from '../../ports/netif/kernel-port.js';
import { KernelPort } from '../../ports/netif/kernel-port.js';
import { ifIndex } from '../../sys/net.js';
import type { ValePort } from '../../vale/vale-port.js';
import { Direction, rxPending } from '../common/port-forward.js';
import { portBackendLines } from '../common/port-backend.js';
import { A, COUNTERS_PER_DIR, KERNEL_DROPS, KERNEL_DROPS_OFS, type AttachWorkerInput, type WorkerMessage } from './shared.js';
import { openAttachedPort } from './port.js';

/** What an fd refers to ('socket:[4711]'), so the daemon can tell it is still ours later. */
export function fdLink(fd: number): string {
  try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return ''; }
}

export function errorMessage(e: unknown): { code: string; message: string } {
  const code = (e as { code?: unknown })?.code;
  return { code: typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : 'EIO', message: e instanceof Error ? e.message : String(e) };
}

function hdrLen(p: Port): 0 | 10 | 12 {
  const v = p.vnetHdrLen;
  return v === 10 || v === 12 ? v : 0;
}

export class Member {
  readonly id: number;
  readonly input: AttachWorkerInput;
  readonly ctrl: Int32Array;
  private readonly counters: Float64Array;
  private readonly opened: Port[] = [];
  nic!: Port;
  vnic!: ValePort;
  host: Port | null = null;
  vhost: ValePort | null = null;
  dirs: Direction[] = [];
  /** Every port of the member: interface ports first, then switch ports. */
  all: Port[] = [];
  private kernelPorts: Port[] = [];
  /** The interface's sockets (what the waker polls). */
  fds: number[] = [];
  private isVxlan = false;
  private ifindex = -1;
  private lastLook = clock.now();
  private kernelAt = -Infinity;
  /** The last polling request applied (A.pollGen), and whether it asked for polling. */
  pollGen = 0;
  polling = false;

  constructor(id: number, input: AttachWorkerInput) {
    this.id = id;
    this.input = input;
    this.ctrl = new Int32Array(input.ctrl);
    this.counters = new Float64Array(input.counters);
  }

  get stopRequested(): boolean {
    return Atomics.load(this.ctrl, A.stop) !== 0;
  }

  get stalled(): boolean {
    return Atomics.load(this.ctrl, A.stall) === 1;
  }

  private keep<T extends Port>(p: T): T {
    this.opened.push(p);
    return p;
  }

  private slotOptions(): { txSlots?: number; rxSlots?: number } {
    return { txSlots: this.input.conf.txSlots, rxSlots: this.input.conf.rxSlots };
  }

  /**
   * VALE rings default to the interface's queue count, as netmap's bwrap (at most 16). Their rx
   * rings default to 4096 slots, not 1024: netmap's kernel drains a NIC's switch port at once,
   * this thread only when it is scheduled, and the switch drops what a full ring cannot take
   * (measured: 18 % of a 0.45 Mpps stream with 1024 slots on a busy 2-core machine).
   */
  private valeOptions(p: Port): { txRings: number; rxRings: number; txSlots?: number; rxSlots?: number } {
    const c = this.input.conf;
    const nq = Math.min(16, Math.max(1, p.rxRings.length, p.txRings.length));
    return { txRings: c.txRings ?? nq, rxRings: c.rxRings ?? c.txRings ?? nq, txSlots: c.txSlots, rxSlots: c.rxSlots ?? 4096 };
  }

  /** The host rings of IF, with a clear error while they are not available. */
  private openHost(name: string, vnetHdrLen: 0 | 10 | 12): Port {
    try {
      // the host stack's TAP carries the NIC's header (or none): the two switch ports agree
      return open(name, { ...this.slotOptions(), vnetHdrLen } as InterfaceOpenOptions);
    } catch (e) {
      if (e instanceof NetmapError && e.code === 'ENOTSUP') {
        throw new NetmapError('ENOTSUP', `the host stack of ${this.input.ifname} (${name}) cannot be opened: ${e.message}; -a attaches the interface without its host stack`);
      }
      throw e;
    }
  }

  /**
   * An interface whose XDP hook another program holds (a bridge, another daemon) only fell back
   * to AF_PACKET, which would see none of the frames that program takes: netmap says EBUSY.
   */
  private refuseBusy(p: Port): void {
    const info = p.backend();
    if (info?.backend === 'af_packet' && /EBUSY/.test(info.fallbackReason)) {
      throw new NetmapError('EBUSY', `${this.input.ifname} is in use: another program holds its XDP hook (${info.fallbackReason}); AF_PACKET would see none of the frames that program takes`);
    }
  }

  /**
   * Open the ports (closing what was opened if one fails, and throwing) and return the ready
   * message for the daemon. `threadFds`: fds of the thread itself the daemon must close too if
   * it ever terminates the thread (its ioctl socket).
   */
  open(threadFds: () => number[]): Extract<WorkerMessage, { type: 'ready' }> {
    const input = this.input;
    try {
      // the interface's offloads choose: AF_PACKET with virtio-net headers when the stack may
      // hand over super-frames or partial checksums, AF_XDP otherwise; the switch port takes
      // the same header length, so super-frames cross the switch whole
      const nic = this.keep(open(`netmap:${input.ifname}`, { ...this.slotOptions(), offloadAware: true } as InterfaceOpenOptions));
      this.nic = nic;
      this.refuseBusy(nic);
      if (input.host) this.host = this.keep(this.openHost(`netmap:${input.ifname}^`, hdrLen(nic)));
      this.vnic = this.keep(openAttachedPort(input.sw, input.ifname, { ...this.valeOptions(nic), vnetHdrLen: hdrLen(nic) }));
      if (this.host) this.vhost = this.keep(openAttachedPort(input.sw, `${input.ifname}^`, { ...this.valeOptions(this.host), vnetHdrLen: hdrLen(this.host) }));
      this.isVxlan = nic.backend()?.backend === 'vxlan';
      this.ifindex = this.isVxlan ? -1 : ifIndex(input.ifname); // (a VXLAN port has no interface)
    } catch (e) {
      this.close();
      throw e;
    }
    const { nic, vnic, host, vhost } = this;
    this.dirs = [new Direction(nic, vnic, false), new Direction(vnic, nic, false)];
    if (host && vhost) this.dirs.push(new Direction(host, vhost, false), new Direction(vhost, host, false));
    this.kernelPorts = host ? [nic, host] : [nic];
    this.all = [...this.kernelPorts, vnic, ...(vhost ? [vhost] : [])];
    this.fds = this.kernelPorts.flatMap((p) => [...(p.pollFds() ?? [])]);
    return {
      type: 'ready', id: this.id,
      port: `${input.sw}:${input.ifname}`, index: vnic.portIndex,
      hostPort: vhost ? `${input.sw}:${input.ifname}^` : null, hostIndex: vhost ? vhost.portIndex : null,
      backend: nic.backend()?.backend ?? 'unknown',
      lines: [...portBackendLines(nic), ...(host ? portBackendLines(host) : [])],
      rings: { nic: [nic.txRings.length, nic.rxRings.length], vale: [vnic.txRings.length, vnic.rxRings.length] },
      fds: [...this.fds, ...threadFds()].map((fd) => ({ fd, link: fdLink(fd) })),
      xdpIfindex: nic.backend()?.backend === 'af_xdp' ? this.ifindex : -1,
    };
  }

  /**
   * An interface deleted, renamed or moved to another namespace while attached: netmap detaches
   * it. Traffic notices (a send fails); an idle forwarder looks once a second.
   */
  checkInterface(): void {
    const now = clock.now();
    if (this.isVxlan || now - this.lastLook < 1000) return;
    this.lastLook = now;
    let index = -1;
    try { index = ifIndex(this.input.ifname); } catch { /* gone */ }
    if (index !== this.ifindex) throw new NetmapError('ENXIO', `interface ${this.input.ifname} went away (deleted, renamed or moved to another network namespace)`);
  }

  sync(rx: boolean): void {
    const all = this.all;
    for (let i = 0; i < all.length; i++) {
      if (rx) all[i].rxsync();
      else all[i].txsync();
    }
  }

  run(burst: number): number {
    const dirs = this.dirs;
    let moved = 0;
    for (let d = 0; d < dirs.length; d++) moved += dirs[d].run(burst);
    return moved;
  }

  pending(): boolean {
    const all = this.all;
    for (let i = 0; i < all.length; i++) if (rxPending(all[i])) return true;
    return false;
  }

  /** The kernel's drop counters (system calls: at most once a second, and at the end). */
  publishKernel(now: number): void {
    this.kernelAt = now;
    if (!(this.nic instanceof KernelPort)) return;
    let k;
    try {
      k = this.nic.kernelDrops();
    } catch {
      return; // figures for the metrics only: forwarding goes on (the last values stay)
    }
    const counters = this.counters;
    for (let i = 0; i < KERNEL_DROPS.length; i++) {
      const v = k[KERNEL_DROPS[i]];
      counters[KERNEL_DROPS_OFS + i] = v >= 0 ? v : 0;
    }
  }

  publish(now: number): void {
    const dirs = this.dirs, counters = this.counters;
    for (let d = 0; d < dirs.length; d++) {
      const o = d * COUNTERS_PER_DIR;
      counters[o] = dirs[d].packets;
      counters[o + 1] = dirs[d].bytes;
      counters[o + 2] = dirs[d].drops;
    }
    if (now - this.kernelAt >= 1000) this.publishKernel(now);
  }

  /** Close every port opened (switch ports go from the switch). */
  close(): void {
    for (const p of this.opened.reverse()) {
      try { p.close(); } catch { /* closing the rest matters more */ }
    }
    this.opened.length = 0;
  }
}
