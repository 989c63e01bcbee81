// The forwarder of one interface attached to a VALE switch (vale-ctl -a / -h), in a worker
// thread of the daemon: it opens netmap:IF (AF_XDP, else AF_PACKET) and the switch port
// valeX:IF, and moves frames both ways between them, copying (each interface port has a region
// of its own); with the host stack (-h), also netmap:IF^ <-> valeX:IF^. Batched, no allocation
// per frame. When idle it sleeps on the switch port's futex word, and an fd-waker thread turns
// input on the interface's sockets into a wake-up of that word. In polling mode (vale-ctl -p) it
// never sleeps, optionally pinned to a CPU. The wake-ups of the switch's receivers it delivers
// to are kept over several busy rounds and done once (common/kept-wakes.ts), always before it
// spins, sleeps or stops.
//
// Control (a SharedArrayBuffer of Int32 words, A.*) and counters (Float64, per direction) are
// shared with the daemon; messages to the daemon: ready, polling, error, stopped.
import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import '../../index.js';
import { ANY_WORD, portWord, sleepOn } from '../../core/wait.js';
import { open } from '../../core/open.js';
import { clock, type Port } from '../../core/port.js';
import { NetmapError } from '../../core/region.js';
import type { InterfaceOpenOptions } from '../../ports/netif/kernel-port.js';
import { ctlSocketFd, ifIndex } from '../../sys/net.js';
import { pinThisThread, allowedCpus, schedYield } from '../../sys/sched.js';
import type { ValePort } from '../../vale/vale-port.js';
import { AdaptiveSpin } from '../common/adaptive-spin.js';
import { KeptWakes } from '../common/kept-wakes.js';
import { FdWaker } from '../common/fd-waker.js';
import { Direction, rxPending } from '../common/port-forward.js';
import { portBackendLines } from '../common/port-backend.js';
import { setThreadCpus } from '../common/thread-affinity.js';
import { KernelPort } from '../../ports/netif/kernel-port.js';
import { A, COUNTERS_PER_DIR, KERNEL_DROPS, KERNEL_DROPS_OFS, type AttachWorkerInput, type WorkerMessage } from './shared.js';
import { openAttachedPort } from './port.js';

const input = workerData as AttachWorkerInput;
/** What an fd refers to ('socket:[4711]'), so the daemon can tell it is still ours later. */
function fdLink(fd: number): string {
  try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return ''; }
}
const ctrl = new Int32Array(input.ctrl);
const counters = new Float64Array(input.counters);
const post = (m: WorkerMessage): void => parentPort!.postMessage(m);

function errorMessage(e: unknown): { code: string; message: string } {
  const code = (e as { code?: unknown })?.code;
  return { code: typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : 'EIO', message: e instanceof Error ? e.message : String(e) };
}

const opened: Port[] = [];
function keep<T extends Port>(p: T): T {
  opened.push(p);
  return p;
}
function closeAll(): void {
  for (const p of opened.reverse()) {
    try { p.close(); } catch { /* closing the rest matters more */ }
  }
  opened.length = 0;
}

/** The host rings of IF, with a clear error while they are not available. */
function openHost(name: string, vnetHdrLen: 0 | 10 | 12): Port {
  try {
    // the host stack's TAP carries the NIC's header (or none): the two switch ports agree
    return open(name, { ...slotOptions(), vnetHdrLen } as InterfaceOpenOptions);
  } catch (e) {
    if (e instanceof NetmapError && e.code === 'ENOTSUP') {
      throw new NetmapError('ENOTSUP', `the host stack of ${input.ifname} (${name}) cannot be opened: ${e.message}; -a attaches the interface without its host stack`);
    }
    throw e;
  }
}

/**
 * An interface whose XDP hook another program holds (a bridge, another daemon) only fell back
 * to AF_PACKET, which would see none of the frames that program takes: netmap says EBUSY.
 */
function refuseBusy(p: Port): void {
  const info = p.backend();
  if (info?.backend === 'af_packet' && /EBUSY/.test(info.fallbackReason)) {
    throw new NetmapError('EBUSY', `${input.ifname} is in use: another program holds its XDP hook (${info.fallbackReason}); AF_PACKET would see none of the frames that program takes`);
  }
}

function hdrLen(p: Port): 0 | 10 | 12 {
  const v = p.vnetHdrLen;
  return v === 10 || v === 12 ? v : 0;
}

/** The interface's ports (IF, IF^): their backend and header chosen by the interface's offloads. */
function nicOptions(): InterfaceOpenOptions {
  return { ...slotOptions(), offloadAware: true };
}

function slotOptions(): { txSlots?: number; rxSlots?: number } {
  return { txSlots: input.conf.txSlots, rxSlots: input.conf.rxSlots };
}

/**
 * VALE rings default to the interface's queue count, as netmap's bwrap (at most 16). Their rx
 * rings default to 4096 slots, not 1024: netmap's kernel drains a NIC's switch port at once,
 * this worker only when it is scheduled, and the switch drops what a full ring cannot take
 * (measured: 18 % of a 0.45 Mpps stream with 1024 slots on a busy 2-core machine).
 */
function valeOptions(p: Port): { txRings: number; rxRings: number; txSlots?: number; rxSlots?: number } {
  const nq = Math.min(16, Math.max(1, p.rxRings.length, p.txRings.length));
  return { txRings: input.conf.txRings ?? nq, rxRings: input.conf.rxRings ?? input.conf.txRings ?? nq, txSlots: input.conf.txSlots, rxSlots: input.conf.rxSlots ?? 4096 };
}

let nic: Port, vnic: ValePort, host: Port | null = null, vhost: ValePort | null = null;
try {
  // the interface's offloads choose: AF_PACKET with virtio-net headers when the stack may hand
  // over super-frames or partial checksums, AF_XDP otherwise; the switch port takes the same
  // header length, so super-frames cross the switch whole
  nic = keep(open(`netmap:${input.ifname}`, nicOptions()));
  refuseBusy(nic);
  if (input.host) host = keep(openHost(`netmap:${input.ifname}^`, hdrLen(nic)));
  vnic = keep(openAttachedPort(input.sw, input.ifname, { ...valeOptions(nic), vnetHdrLen: hdrLen(nic) }));
  if (host) vhost = keep(openAttachedPort(input.sw, `${input.ifname}^`, { ...valeOptions(host), vnetHdrLen: hdrLen(host) }));
} catch (e) {
  closeAll();
  post({ type: 'error', phase: 'open', ...errorMessage(e) });
  process.exit(0);
}

const dirs: Direction[] = [new Direction(nic, vnic, false), new Direction(vnic, nic, false)];
if (host && vhost) dirs.push(new Direction(host, vhost, false), new Direction(vhost, host, false));
const kernelPorts = host ? [nic, host] : [nic];
const valePorts: ValePort[] = vhost ? [vnic, vhost] : [vnic];
const all = [...kernelPorts, ...valePorts];

// sleep on the switch port's own word; with two switch ports, on the switch region's word
const region = vnic.region;
const word = vhost ? ANY_WORD : portWord(vnic.rec); // i32 index; the waker wakes its byte offset
const wordOfs = word << 2;
const fds = kernelPorts.flatMap((p) => [...(p.pollFds() ?? [])]);
let waker: FdWaker | null = null;
try {
  waker = new FdWaker({ fds, path: region.path, wordOfs });
} catch {
  waker = null; // without it the interface is served every millisecond instead
}

// (opens this thread's ioctl socket before the fds are listed); a VXLAN port has no interface
const isVxlan = nic.backend()?.backend === 'vxlan';
const ifindex = isVxlan ? -1 : ifIndex(input.ifname);
post({
  type: 'ready',
  port: `${input.sw}:${input.ifname}`, index: vnic.portIndex,
  hostPort: vhost ? `${input.sw}:${input.ifname}^` : null, hostIndex: vhost ? vhost.portIndex : null,
  backend: nic.backend()?.backend ?? 'unknown',
  lines: [...portBackendLines(nic), ...(host ? portBackendLines(host) : [])],
  rings: { nic: [nic.txRings.length, nic.rxRings.length], vale: [vnic.txRings.length, vnic.rxRings.length] },
  fds: [...fds, ...(ctlSocketFd() >= 0 ? [ctlSocketFd()] : [])].map((fd) => ({ fd, link: fdLink(fd) })),
  xdpIfindex: nic.backend()?.backend === 'af_xdp' ? ifindex : -1,
});

const burst = input.burst;
const spin = new AdaptiveSpin(input.spinUs);
const cpusAtStart = allowedCpus();
let lastLook = clock.now();

/**
 * An interface deleted, renamed or moved to another namespace while attached: netmap detaches
 * it. Traffic notices (a send fails); an idle forwarder looks once a second.
 */
function checkInterface(): void {
  const now = clock.now();
  if (isVxlan || now - lastLook < 1000) return;
  lastLook = now;
  let index = -1;
  try { index = ifIndex(input.ifname); } catch { /* gone */ }
  if (index !== ifindex) throw new NetmapError('ENXIO', `interface ${input.ifname} went away (deleted, renamed or moved to another network namespace)`);
}
let pollGen = 0, polling = false;

/** Apply a polling request from the daemon (vale-ctl -p / -P). */
function applyPolling(): void {
  const gen = Atomics.load(ctrl, A.pollGen);
  if (gen === pollGen) return;
  pollGen = gen;
  const on = Atomics.load(ctrl, A.pollOn) === 1, cpu = Atomics.load(ctrl, A.pollCpu);
  let error = '';
  try {
    if (on && cpu >= 0) pinThisThread(cpu);
    if (!on) setThreadCpus(cpusAtStart);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  polling = on;
  post({ type: 'polling', gen, on, cpu: on ? cpu : -1, error });
}

let kernelAt = -Infinity;
/** The kernel's drop counters (system calls: at most once a second, and at the end). */
function publishKernel(now: number): void {
  kernelAt = now;
  if (!(nic instanceof KernelPort)) return;
  let k;
  try {
    k = nic.kernelDrops();
  } catch {
    return; // figures for the metrics only: forwarding goes on (the last values stay)
  }
  for (let i = 0; i < KERNEL_DROPS.length; i++) {
    const v = k[KERNEL_DROPS[i]];
    counters[KERNEL_DROPS_OFS + i] = v >= 0 ? v : 0;
  }
}

function publish(): void {
  for (let d = 0; d < dirs.length; d++) {
    const o = d * COUNTERS_PER_DIR;
    counters[o] = dirs[d].packets;
    counters[o + 1] = dirs[d].bytes;
    counters[o + 2] = dirs[d].drops;
  }
  const now = clock.now();
  if (now - kernelAt >= 1000) publishKernel(now);
}

function syncAll(rx: boolean): void {
  for (let i = 0; i < all.length; i++) {
    if (rx) all[i].rxsync();
    else all[i].txsync();
  }
}

function pendingAny(): boolean {
  for (let i = 0; i < all.length; i++) if (rxPending(all[i])) return true;
  return false;
}

/**
 * Nothing moved: sleep until a switch port receives (futex) or the interface's sockets have
 * input (the waker), at most 100 ms (stop and polling requests are seen then). Frames waiting
 * for room in an interface's tx ring are retried after 1 ms.
 */
function sleep(): void {
  checkInterface();
  sleepOn(region, word, beforeSleep); // core/wait.ts: announce, check again, sleep
}

/** Once announced as a waiter: sync; work that came meanwhile cancels the sleep. */
const beforeSleep = {
  beforeSleep(): number {
    syncAll(true);
    const blocked = pendingAny(); // frames came meanwhile, or wait for room
    if (blocked) {
      syncAll(false); // reap tx completions: room for what waits
      let moved = 0;
      for (let d = 0; d < dirs.length; d++) moved += dirs[d].run(burst);
      if (moved > 0) return 0;
    } else {
      waker?.arm();
    }
    return blocked || !waker ? 1 : 100;
  },
};

/**
 * The forwarding loop, until the daemon says stop. A function, not the module's top level:
 * V8 optimises a top-level loop only by on-stack replacement, and that code kept calling the
 * generic property-load builtin (measured: 2.8 % of all CPU under TCP load).
 */
function serve(): void {
  kept.start();
  try {
    while (Atomics.load(ctrl, A.stop) === 0) {
      if (Atomics.load(ctrl, A.stall) === 1) { // tests: a stuck forwarder
        kept.pause();
        Atomics.wait(ctrl, A.stall, 1);
        kept.resume();
      }
      applyPolling();
      syncAll(true);
      let moved = 0;
      for (let d = 0; d < dirs.length; d++) moved += dirs[d].run(burst);
      syncAll(false);
      publish();
      kept.afterRound(moved); // a round that moved nothing wakes what was kept
      if (moved > 0) spin.moved();
      else if (!polling) {
        // while frames flow, look again (yielding the CPU) before paying a sleep and a wake-up
        if (spin.idle(clock.now())) schedYield();
        else {
          kept.pause();
          sleep();
          kept.resume();
        }
      }
    }
  } finally {
    kept.stop();
  }
}

/** The switch's wake-ups, done once per several busy rounds (apps/common/kept-wakes.ts). */
const kept = new KeptWakes();

let failure: { code: string; message: string } | null = null;
try {
  serve();
} catch (e) {
  failure = errorMessage(e);
} finally {
  publish();
  publishKernel(clock.now());
  if (waker && !waker.stop()) failure ??= { code: 'EIO', message: 'the waker thread did not stop' };
  closeAll();
}
if (failure) post({ type: 'error', phase: 'run', ...failure });
post({ type: 'stopped' });
