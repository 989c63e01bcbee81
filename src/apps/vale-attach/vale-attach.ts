// Linux interfaces attached to VALE switches (netmap's vale-ctl -a, -h, -d, -p, -P), as the
// daemon keeps them: a forwarder thread (worker.ts) moves frames between netmap:IF and the
// switch port valeX:IF (and with the host stack, netmap:IF^ and valeX:IF^) — one thread for
// all the attachments of a switch (NMTS_ATTACH_THREADS=interface: one per attachment), each
// attachment still started, stopped, polled and failing on its own. An attachment lives as long as the daemon, or until it is detached; nothing is
// written to disk. Errors are NetmapErrors with netmap's codes (ENXIO: no such interface or not
// attached, EBUSY: already attached or polling, EINVAL: a bad name or request), which the
// daemon returns and vale-ctl prints in netmap's format.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { parsePortSpec } from '../../core/portspec.js';
import { NetmapError } from '../../core/region.js';
import { ifIndex, NetError } from '../../sys/net.js';
import { close as closeFd } from '../../sys/libc.js';
import { readlinkSync } from 'node:fs';
import { abandonRedirect } from '../../ports/netif/redirect-registry.js';
import { vxlanExists } from '../../ports/vxlan/config.js';
import { attachSpinUs } from '../common/adaptive-spin.js';
import * as K from '../../sys/kernel-abi.js';
import { A, COUNTERS_PER_DIR, COUNTERS_SIZE, DIRECTIONS, G, KERNEL_DROPS, KERNEL_DROPS_OFS, type AttachWorkerInput, type DaemonMessage, type RingConf, type ThreadInput, type WorkerMessage } from './shared.js';

export type { RingConf } from './shared.js';

export interface Requester {
  pid: number | 'unknown';
  uid: number | 'unknown';
  gid: number | 'unknown';
}

export interface PollingRequest {
  /** 'single': one core polls every ring; 'multi': ring i on core firstCpu + i (vale-ctl -C 1,y,z). */
  mode?: 'single' | 'multi';
  firstCpu?: number;
  numCpus?: number;
}

export interface Counters { packets: number; bytes: number; drops: number }

export interface AttachmentInfo {
  /** valeX:IF */
  port: string;
  interface: string;
  switch: string;
  /** port_idx of valeX:IF on the switch */
  index: number;
  /** valeX:IF^ (vale-ctl -h), else null */
  hostPort: string | null;
  hostIndex: number | null;
  /** af_xdp, af_packet */
  backend: string;
  /** how the interface is opened: backend, why not AF_XDP, offload advice */
  lines: string[];
  /**
   * The forwarder thread serving it (a worker's threadId; -1: none, a VM port) and the other
   * attachments that thread serves (valeX:IF each): by default one thread per switch.
   */
  thread: number;
  sharedWith: string[];
  /** null: the forwarder sleeps when idle; else it busy-polls, pinned to `cpu` unless null */
  polling: null | { cpu: number | null; note: string };
  since: string;
  by: Requester;
  counters: Record<(typeof DIRECTIONS)[number], Counters>;
  /** Frames the kernel side of the interface dropped, by cause (refreshed about once a second). */
  kernelDrops: Record<(typeof KERNEL_DROPS)[number], number>;
  /**
   * Set when the forwarder would not stop and was terminated, but what it held could not all
   * be closed: why. The interface stays listed (and cannot be attached again) until the daemon
   * restarts.
   */
  stuck?: string;
}

/** A forwarder thread and the attachments it serves. */
interface Thread {
  key: string;
  worker: Worker;
  ctrl: Int32Array;
  members: Map<number, Attachment>;
  exited: Promise<void>;
}

interface Attachment {
  id: number;
  sw: string;
  ifname: string;
  thread: Thread;
  ctrl: Int32Array;
  counters: Float64Array;
  info: AttachmentInfo | null; // null while starting
  /** Resolved when the thread reports the attachment stopped, or the thread ends. */
  ended: Promise<void>;
  endNow: () => void;
  onMessage: ((m: WorkerMessage) => void) | null;
  stopping: boolean;
  /** From the ready message: the kernel fds the forwarder holds, its XDP redirect's ifindex (-1: none). */
  fds: { fd: number; link: string }[];
  xdpIfindex: number;
  onPolling: ((m: Extract<WorkerMessage, { type: 'polling' }>) => void) | null;
}

const VALE_IF = /^(vale[A-Za-z0-9_]*):(.+)$/;
const IFNAMSIZ = 16;
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/** How attachments share forwarder threads: 'switch' (default: one thread per switch) or 'interface' (one each), from NMTS_ATTACH_THREADS. */
export function attachThreads(env: NodeJS.ProcessEnv = process.env): 'switch' | 'interface' {
  const v = env.NMTS_ATTACH_THREADS;
  if (v === undefined || v === '' || v === 'switch') return 'switch';
  if (v === 'interface') return 'interface';
  throw new NetmapError('EINVAL', `NMTS_ATTACH_THREADS=${v}: expected 'switch' (one forwarder thread per switch, the default) or 'interface' (one per attached interface)`);
}

/**
 * valeX:IF as a switch and an interface. `hostSuffix`: whether IF^ may be given (detach and
 * polling name the attachment by either port). Throws EINVAL with the reason.
 */
export function parseAttachName(port: string, hostSuffix: boolean): { sw: string; ifname: string } {
  const m = VALE_IF.exec(port);
  if (!m) throw new NetmapError('EINVAL', 'expected valeX:IF, a switch and a network interface');
  let ifname = m[2];
  if (ifname.endsWith('^')) {
    if (!hostSuffix) throw new NetmapError('EINVAL', `name the interface, not its host port: -h attaches ${ifname.slice(0, -1)} and ${ifname} together`);
    ifname = ifname.slice(0, -1);
  }
  if (ifname === '' || Buffer.byteLength(ifname) >= IFNAMSIZ || /[/:\s]/.test(ifname)) {
    throw new NetmapError('EINVAL', `'${ifname}' is not a valid interface name (1-${IFNAMSIZ - 1} bytes, no '/', ':' or spaces)`);
  }
  let ok = false;
  try {
    const s = parsePortSpec(`netmap:${ifname}`);
    ok = s.name === ifname && s.mode === 'all-nic' && !s.pipe && s.flags === 0;
  } catch { /* not a port name */ }
  if (!ok) {
    throw new NetmapError('EINVAL', `interface ${ifname} cannot be named as a netmap port (netmap:${ifname}): '-' selects a ring and '*', '^', '/', '@', '{', '}' have meanings too; rename it: ip link set ${ifname} name NEWNAME`);
  }
  return { sw: m[1], ifname };
}

/** ENXIO naming the interface when it does not exist in this (the daemon's) network namespace. */
export function checkInterface(ifname: string): void {
  if (vxlanExists(ifname)) return; // a VXLAN port (vale-ctl -n NAME --vxlan): netmap:NAME opens it
  try {
    ifIndex(ifname);
  } catch (e) {
    if (e instanceof NetError && e.errno === K.ENODEV) throw new NetmapError('ENXIO', `no network interface ${ifname} in the daemon's network namespace; see \`ip link\``);
    throw e;
  }
}

/** The CPU a polling forwarder is pinned to, and what differs from netmap (kernel threads). */
export function pollingPlan(p: PollingRequest | null): { cpu: number | null; note: string } {
  if (!p || p.mode === undefined) return { cpu: null, note: 'busy polling, not pinned (vale-ctl -C 0,CPU pins it)' };
  const cpus = availableParallelism();
  const first = p.firstCpu ?? 0, n = p.numCpus ?? 1;
  if (!Number.isInteger(first) || first < 0) throw new NetmapError('EINVAL', `invalid first CPU ${first}`);
  if (!Number.isInteger(n) || n < 1) throw new NetmapError('EINVAL', 'the number of polling cores must be > 0');
  if (n >= cpus) throw new NetmapError('EINVAL', `cannot use all the CPUs in the system (${cpus})`);
  if (p.mode === 'single' && n !== 1) throw new NetmapError('EINVAL', 'one core polls all rings in mode 0');
  if (first + n > cpus) throw new NetmapError('EINVAL', `CPU ${first + n - 1} does not exist (CPUs 0-${cpus - 1})`);
  const note = p.mode === 'multi' && n > 1
    ? `one thread serves every ring of the interface: it polls on CPU ${first} (netmap polls ring i on CPU ${first}+i, ${n} rings)`
    : `busy polling on CPU ${first}`;
  return { cpu: first, note };
}

export class Attachments {
  private readonly byIf = new Map<string, Attachment>();
  /** Forwarder threads by key (the switch, or switch:interface), while they take new members. */
  private readonly threads = new Map<string, Thread>();
  private nextId = 1;
  /** Forwarders being stopped (detach, failed start): shutdown waits for them too. */
  private readonly stopping = new Set<Promise<void>>();
  /** Interfaces whose terminated forwarder left something open (AttachmentInfo.stuck). */
  private readonly stuck = new Map<string, AttachmentInfo>();
  private closing = false;

  /**
   * `log` receives one line per event the daemon should log (a forwarder that failed);
   * `ended` is called when an attachment ends by itself (its interface went away).
   */
  constructor(private readonly log: (event: string) => void, private readonly ended: () => void = () => {}, private readonly burst = 512,
    private readonly stopTimeoutMs = STOP_TIMEOUT_MS, private readonly spinUs = attachSpinUs(), private readonly threading = attachThreads()) {}

  /** The forwarder thread for a new attachment of sw (started if there is none). */
  private threadFor(sw: string, ifname: string): Thread {
    const key = this.threading === 'switch' ? sw : `${sw}:${ifname}`;
    const have = this.threads.get(key);
    if (have) return have;
    const ctrl = new SharedArrayBuffer(G.size * 4);
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { ctrl } satisfies ThreadInput });
    const t: Thread = { key, worker, ctrl: new Int32Array(ctrl), members: new Map(), exited: new Promise((r) => worker.once('exit', () => r())) };
    worker.on('message', (m: WorkerMessage) => {
      const a = t.members.get(m.id);
      if (!a) return;
      if (m.type === 'stopped') a.endNow();
      a.onMessage?.(m);
    });
    worker.on('error', (e) => this.log(`forwarder thread of ${[...t.members.values()].map((a) => `${a.sw}:${a.ifname}`).join(', ') || key}: ${e.message}`));
    void t.exited.then(() => {
      if (this.threads.get(key) === t) this.threads.delete(key);
      for (const a of t.members.values()) a.endNow();
    });
    this.threads.set(key, t);
    return t;
  }

  /** An attachment leaves its thread; the last one ends the thread. */
  private leave(a: Attachment): void {
    const t = a.thread;
    if (t.members.get(a.id) !== a) return;
    t.members.delete(a.id);
    if (t.members.size > 0) return;
    if (this.threads.get(t.key) === t) this.threads.delete(t.key);
    Atomics.store(t.ctrl, G.stop, 1);
    Atomics.notify(t.ctrl, G.mail);
  }

  /** Tests only: make the forwarder of valeX:IF block, as a stuck one would (it then ignores stop). */
  stallForTest(port: string): void {
    const a = this.find(port);
    Atomics.store(a.ctrl, A.stall, 1);
  }

  /** Tests only: let a forwarder stalled by stallForTest run again. */
  resumeForTest(port: string): void {
    const a = this.find(port);
    Atomics.store(a.ctrl, A.stall, 0);
    Atomics.notify(a.ctrl, A.stall);
  }

  get size(): number {
    return this.byIf.size;
  }

  private find(port: string): Attachment {
    const { sw, ifname } = parseAttachName(port, true);
    const a = this.byIf.get(ifname);
    if (!a) checkInterface(ifname);
    if (!a || !a.info) throw new NetmapError('ENXIO', `${ifname} is not attached to ${sw}${a?.info === null ? ' (its attachment is still starting)' : ''}`);
    if (a.sw !== sw) throw new NetmapError('ENXIO', `${ifname} is not attached to ${sw}: it is attached to ${a.sw}`);
    return a;
  }

  /** Attach `port` (valeX:IF): resolves once the forwarder has both ports open. */
  async attach(port: string, o: { host: boolean; conf: RingConf; by: Requester }): Promise<AttachmentInfo> {
    const { sw, ifname } = parseAttachName(port, false);
    if (this.closing) throw new NetmapError('ESHUTDOWN', 'the daemon is shutting down');
    const wedged = this.stuck.get(ifname);
    if (wedged) throw new NetmapError('EBUSY', `${ifname} is stuck: its forwarder was terminated but ${wedged.stuck}; restart the daemon to free it`);
    const have = this.byIf.get(ifname);
    if (have) {
      throw new NetmapError('EBUSY', have.sw === sw
        ? `${ifname} is already attached to ${sw}${have.info?.hostPort ? ' with its host stack' : ''}`
        : `${ifname} is attached to ${have.sw}; detach it first: vale-ctl -d ${have.sw}:${ifname}`);
    }
    checkInterface(ifname);
    const ctrlSab = new SharedArrayBuffer(A.size * 4), countersSab = new SharedArrayBuffer(COUNTERS_SIZE * 8);
    const input: AttachWorkerInput = { sw, ifname, host: o.host, conf: o.conf, burst: this.burst, spinUs: this.spinUs, ctrl: ctrlSab, counters: countersSab };
    const thread = this.threadFor(sw, ifname);
    let endNow = (): void => {};
    const ended = new Promise<void>((r) => { endNow = r; });
    const a: Attachment = {
      id: this.nextId++, sw, ifname, thread, ctrl: new Int32Array(ctrlSab), counters: new Float64Array(countersSab), info: null,
      ended, endNow, onMessage: null, stopping: false, onPolling: null, fds: [], xdpIfindex: -1,
    };
    Atomics.store(a.ctrl, A.pollCpu, -1);
    this.byIf.set(ifname, a);
    thread.members.set(a.id, a);
    const since = new Date().toISOString();
    try {
      const ready = await new Promise<Extract<WorkerMessage, { type: 'ready' }>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new NetmapError('ETIMEDOUT', `the forwarder of ${ifname} did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
        a.onMessage = (m) => {
          if (m.type === 'ready') { clearTimeout(timer); a.fds = m.fds; a.xdpIfindex = m.xdpIfindex; resolve(m); }
          else if (m.type === 'error' && m.phase === 'open') { clearTimeout(timer); reject(new NetmapError(m.code, m.message)); }
        };
        void a.ended.then(() => { clearTimeout(timer); reject(new NetmapError('EIO', `the forwarder of ${ifname} ended before it was ready`)); });
        thread.worker.postMessage({ type: 'add', id: a.id, input } satisfies DaemonMessage);
        Atomics.add(thread.ctrl, G.mail, 1);
        Atomics.notify(thread.ctrl, G.mail);
      });
      a.info = {
        port: ready.port, interface: ifname, switch: sw, index: ready.index, hostPort: ready.hostPort, hostIndex: ready.hostIndex,
        backend: ready.backend, lines: ready.lines, thread: thread.worker.threadId, sharedWith: [], polling: null, since, by: o.by,
        counters: this.counters(a), kernelDrops: this.kernelDrops(a),
      };
      if (this.closing) throw new NetmapError('ESHUTDOWN', 'the daemon is shutting down');
    } catch (e) {
      this.byIf.delete(ifname);
      await this.stop(a);
      throw e;
    }
    this.watch(a);
    return this.infoOf(a);
  }

  /** After start: messages and an unexpected end of the attachment (a failure, or its thread gone). */
  private watch(a: Attachment): void {
    a.onMessage = (m) => {
      if (m.type === 'polling') a.onPolling?.(m);
      else if (m.type === 'error' && m.phase === 'run') {
        if (this.byIf.get(a.ifname) === a) this.byIf.delete(a.ifname);
        this.log(`attachment ${a.sw}:${a.ifname} failed: ${m.code}: ${m.message}; detached`);
        this.leave(a);
        this.ended();
      }
    };
    void a.ended.then(() => {
      if (this.byIf.get(a.ifname) === a && !a.stopping) {
        this.byIf.delete(a.ifname);
        this.leave(a);
        this.log(`attachment ${a.sw}:${a.ifname}: forwarder thread ended; detached`);
        this.ended();
      }
    });
  }

  /** Stop a forwarder: it closes its ports (the XDP program goes with the socket). */
  private stop(a: Attachment): Promise<void> {
    const p = this.stopNow(a).finally(() => this.stopping.delete(p));
    this.stopping.add(p);
    return p;
  }

  private async stopNow(a: Attachment): Promise<void> {
    a.stopping = true;
    Atomics.store(a.ctrl, A.stop, 1);
    const timedOut = await Promise.race([a.ended.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), this.stopTimeoutMs).unref())]);
    if (!timedOut) {
      this.leave(a);
      return;
    }
    // the thread does not answer: terminate it, and with it every attachment it serves
    const t = a.thread;
    if (this.threads.get(t.key) === t) this.threads.delete(t.key);
    const others = [...t.members.values()].filter((m) => m !== a);
    await t.worker.terminate();
    const what = `attachment ${a.sw}:${a.ifname}: the forwarder did not stop within ${this.stopTimeoutMs / 1000} s; terminated${others.length ? ` (and with it ${others.map((m) => `${m.sw}:${m.ifname}`).join(', ')}, served by the same thread: detached)` : ''}`;
    const closedFds = new Set<number>();
    for (const m of others) {
      m.stopping = true;
      m.endNow(); // (one still starting fails its attach at once)
      if (this.byIf.get(m.ifname) === m) this.byIf.delete(m.ifname);
      const r = this.closeWhatItHeld(m, closedFds);
      if (r.left.length > 0 && m.info) this.stuck.set(m.ifname, { ...m.info, counters: this.counters(m), kernelDrops: this.kernelDrops(m), stuck: `${r.left.join(', ')} could not be closed` });
    }
    t.members.clear();
    if (others.length) this.ended();
    const r = this.closeWhatItHeld(a, closedFds);
    if (r.left.length === 0) {
      this.log(`${what}; closed what it held: ${r.closed} socket(s)${r.xdp ? `, ${r.xdp}` : ''}`);
      return;
    }
    const why = `${r.left.join(', ')} could not be closed`;
    this.log(`${what}; closed ${r.closed} socket(s)${r.xdp ? `, ${r.xdp}` : ''}, but ${why}: ${a.ifname} stays listed as stuck until the daemon restarts`);
    if (a.info) this.stuck.set(a.ifname, { ...a.info, counters: this.counters(a), kernelDrops: this.kernelDrops(a), stuck: why });
  }

  /**
   * After terminate(): close the kernel fds the forwarder held (the fd table is the process's),
   * each only if /proc/self/fd still names what the forwarder had (a number the forwarder closed
   * may have been reused by the daemon since), and drop its reference to the interface's XDP
   * redirect (the last one detaches the program). `done`: fds of the thread closed already
   * (its own ioctl socket is listed by every attachment it served).
   */
  private closeWhatItHeld(a: Attachment, done: Set<number>): { closed: number; left: string[]; xdp: string } {
    let closed = 0;
    const left: string[] = [];
    for (const { fd, link } of a.fds) {
      if (done.has(fd)) continue;
      done.add(fd);
      let now = '';
      try { now = readlinkSync(`/proc/self/fd/${fd}`); } catch { /* closed already */ }
      if (link === '' || now !== link) {
        left.push(`fd ${fd} (${link || 'unknown'}; now ${now || 'closed'})`);
        continue;
      }
      try { closeFd(fd); closed++; } catch (e) { left.push(`fd ${fd}: ${e instanceof Error ? e.message : String(e)}`); }
    }
    let xdp = '';
    if (a.xdpIfindex >= 0) {
      try {
        const r = abandonRedirect(a.ifname, a.xdpIfindex);
        xdp = r === 'closed' ? 'its XDP link (the program left the interface)' : r === 'released' ? 'its reference to the XDP link (others still use it)' : '';
        if (r === 'none') left.push('the XDP link (not found in the registry)');
      } catch (e) {
        left.push(`the XDP link: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return { closed, left, xdp };
  }

  /** Detach valeX:IF (or valeX:IF^): both switch ports go. Refused while polling, as netmap does. */
  async detach(port: string): Promise<string[]> {
    const a = this.find(port);
    if (a.info!.polling) throw new NetmapError('EBUSY', `${a.sw}:${a.ifname} is in polling mode: stop polling first (vale-ctl -P ${a.sw}:${a.ifname})`);
    return this.remove(a);
  }

  private async remove(a: Attachment): Promise<string[]> {
    if (this.byIf.get(a.ifname) === a) this.byIf.delete(a.ifname);
    await this.stop(a);
    return [a.info!.port, ...(a.info!.hostPort ? [a.info!.hostPort] : [])];
  }

  /** Start (request) or stop (null) busy polling; resolves once the forwarder applied it. */
  async polling(port: string, request: PollingRequest | null, enable: boolean): Promise<AttachmentInfo> {
    const a = this.find(port);
    const info = a.info!;
    if (enable && info.polling) throw new NetmapError('EBUSY', `${a.sw}:${a.ifname} is already in polling mode (${info.polling.note})`);
    if (!enable && !info.polling) throw new NetmapError('EINVAL', `${a.sw}:${a.ifname} is not in polling mode`);
    const plan = enable ? pollingPlan(request) : null;
    const applied = await this.applyPolling(a, enable, plan?.cpu ?? -1);
    if (applied.error) {
      if (enable) await this.applyPolling(a, false, -1);
      throw new NetmapError('EINVAL', `cannot poll on CPU ${plan?.cpu}: ${applied.error}`);
    }
    info.polling = plan ? { cpu: plan.cpu, note: plan.note } : null;
    return this.infoOf(a);
  }

  private applyPolling(a: Attachment, on: boolean, cpu: number): Promise<Extract<WorkerMessage, { type: 'polling' }>> {
    Atomics.store(a.ctrl, A.pollOn, on ? 1 : 0);
    Atomics.store(a.ctrl, A.pollCpu, cpu);
    const gen = Atomics.add(a.ctrl, A.pollGen, 1) + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { a.onPolling = null; reject(new NetmapError('ETIMEDOUT', `the forwarder of ${a.ifname} did not answer`)); }, 2000);
      a.onPolling = (m) => {
        if (m.gen !== gen) return;
        clearTimeout(timer);
        a.onPolling = null;
        resolve(m);
      };
    });
  }

  private counters(a: Attachment): AttachmentInfo['counters'] {
    const c = a.counters, out = {} as AttachmentInfo['counters'];
    DIRECTIONS.forEach((d, i) => {
      const o = i * COUNTERS_PER_DIR;
      out[d] = { packets: c[o], bytes: c[o + 1], drops: c[o + 2] };
    });
    return out;
  }

  private kernelDrops(a: Attachment): AttachmentInfo['kernelDrops'] {
    const out = {} as AttachmentInfo['kernelDrops'];
    KERNEL_DROPS.forEach((k, i) => { out[k] = a.counters[KERNEL_DROPS_OFS + i]; });
    return out;
  }

  /** Every attachment (started ones), with its counters. */
  list(): AttachmentInfo[] {
    return [...this.byIf.values()].filter((a) => a.info).map((a) => this.infoOf(a)).concat([...this.stuck.values()]);
  }

  /** An attachment's info with its counters now and the attachments its thread also serves. */
  private infoOf(a: Attachment): AttachmentInfo {
    const sharedWith = [...a.thread.members.values()].filter((m) => m !== a && m.info).map((m) => m.info!.port);
    return { ...a.info!, sharedWith, counters: this.counters(a), kernelDrops: this.kernelDrops(a) };
  }

  /** Shutdown: detach everything (polling or not); returns the ports that went. */
  async closeAll(): Promise<string[]> {
    this.closing = true;
    const out: string[] = [];
    for (const a of [...this.byIf.values()]) {
      if (!a.info) continue; // a starting attachment is stopped by its attach()
      out.push(...await this.remove(a));
    }
    await Promise.all([...this.stopping]); // detaches still under way
    return out;
  }
}
