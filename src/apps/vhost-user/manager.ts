// The daemon's VM ports: vhost-user (vale-ctl -n NAME --vhost-user PATH, thread worker.ts) and
// QEMU -netdev stream (vale-ctl -n NAME --stream PATH, thread stream-worker.ts), one thread each
// serving the front end on PATH, attached to a switch on request (-a valeX:NAME),
// detached (-d), removed (-r), put in busy-polling mode (-p valeX:NAME) and back (-P). They
// live as long as the daemon. list() reads the counters the
// threads publish: connected, features, per-queue packets, bytes, drops, kicks, interrupts.
import { existsSync, lstatSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { NetmapError } from '../../core/region.js';
import { CLAIM, Claim, removeClaim, writeClaim } from '../../ports/vhost-user/claim.js';
import { featureNames, MAX_QUEUE_PAIRS } from '../../ports/vhost-user/protocol.js';
import { processAlive } from '../../sys/libc.js';
import { C, CTRL_BYTES, NAME_OFS, OP, Q, S, type VhostWorkerInput, type VhostWorkerMessage } from './shared.js';

export interface VhostQueueInfo { index: number; dir: 'rx' | 'tx'; size: number; running: boolean; broken: boolean; packets: number; bytes: number; drops: number; kicks: number; interrupts: number }
/** A VM port's queue pairs (vhost-user) and its switch port's ring slots, from vale-ctl -n's -C. */
export interface VmRingConf { queues?: number; txSlots?: number; rxSlots?: number; offloads?: boolean }
/** How the front end reaches the port: vhost-user (shared memory, virtqueues) or QEMU's -netdev stream. */
export type VmPortKind = 'vhost-user' | 'stream';

export interface VhostPortInfo {
  name: string;
  kind: VmPortKind;
  path: string;
  connected: boolean;
  connections: number;
  features: string[];
  /** queue pairs */
  queuePairs: number;
  /** offloads offered (the switch port has a 12-byte virtio-net header) */
  offloads: boolean;
  /** the switch it is attached to, or null */
  switch: string | null;
  /** null: the port's thread sleeps when idle; else it busy-polls (vale-ctl -p), pinned to `cpu` unless null */
  polling: null | { cpu: number | null; note: string };
  index: number | null;
  /** frames the guest sent while the port was not attached to a switch */
  noPortDrops: number;
  queues: VhostQueueInfo[];
}

interface Entry {
  name: string;
  kind: VmPortKind;
  path: string;
  pairs: number;
  offloads: boolean;
  worker: Worker;
  ctrl: Int32Array;
  stats: Float64Array;
  sw: string | null;
  polling: VhostPortInfo['polling'];
  exited: Promise<void>;
  pending: Map<number, (m: Extract<VhostWorkerMessage, { type: 'done' }>) => void>;
  /** Why the thread stopped, once it has. */
  failure: string;
}

const NAME = /^[A-Za-z0-9_.]{1,15}$/;

/** The QEMU arguments for a port's socket (docs/vms.md). */
export function qemuArgs(path: string, mac = '52:54:00:12:34:56', kind: VmPortKind = 'vhost-user', queues = 1): string[] {
  if (kind === 'stream') {
    return [
      '-netdev', `stream,id=net0,server=off,addr.type=unix,addr.path=${path}`,
      '-device', `virtio-net-pci,netdev=net0,mac=${mac}`,
    ];
  }
  return [
    '-object', 'memory-backend-memfd,id=mem0,size=256M,share=on', '-numa', 'node,memdev=mem0',
    '-chardev', `socket,id=chr0,path=${path},reconnect=1`,
    // several queue pairs: queues=N on the netdev, mq=on on the device; vectors=0 (INTx) under
    // TCG as for one pair (with KVM: vectors=2N+2, one per queue plus config and control)
    '-netdev', `vhost-user,id=net0,chardev=chr0${queues > 1 ? `,queues=${queues}` : ''}`,
    '-device', `virtio-net-pci,netdev=net0,mac=${mac}${queues > 1 ? ',mq=on' : ''},vectors=0`,
  ];
}

export class VhostPorts {
  private readonly ports = new Map<string, Entry>();
  constructor(private readonly emit: (line: string) => void) {}

  get size(): number { return this.ports.size; }
  has(name: string): boolean { return this.ports.has(name); }

  /** `ring`: the queue pairs (vhost-user only) and the switch port's slots. */
  async create(name: string, path: string, burst = 256, kind: VmPortKind = 'vhost-user', ring: VmRingConf = {}): Promise<VhostPortInfo> {
    if (!NAME.test(name) || name.startsWith('vale')) throw new NetmapError('EINVAL', `'${name}' is not a valid port name (1-15 letters, digits, '_' or '.', not starting with vale)`);
    if (this.ports.has(name)) throw new NetmapError('EEXIST', `VM port ${name} already exists`);
    if (!path.startsWith('/')) throw new NetmapError('EINVAL', `the socket path must be absolute: ${path}`);
    for (const e of this.ports.values()) if (e.path === path) throw new NetmapError('EEXIST', `${path} is the socket of port ${e.name}`);
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) throw new NetmapError('EEXIST', `${path} exists and is not a socket`);
      throw new NetmapError('EEXIST', `${path} exists (a stale socket? remove it first)`);
    }
    const pairs = ring.queues ?? 1;
    if (!Number.isInteger(pairs) || pairs < 1 || pairs > MAX_QUEUE_PAIRS) throw new NetmapError('EINVAL', `${name}: ${pairs} queue pairs (1 to ${MAX_QUEUE_PAIRS})`);
    if (ring.offloads && kind === 'stream') throw new NetmapError('EINVAL', `${name}: offloads need vhost-user (a -netdev stream carries no virtio-net header)`);
    if (pairs > 1 && kind === 'stream') throw new NetmapError('EINVAL', `${name}: a -netdev stream port has one queue pair (several need vhost-user)`);
    // netmap:NAME finds the port through its claim file (ports/vhost-user/claim.ts)
    const claimed = writeClaim(name, kind, path);
    if (!claimed) this.emit(`${kind} port ${name}: another nmts daemon has a VM port ${name}: netmap:${name} opens that one, this one can only be attached`);
    const ctrlSab = new SharedArrayBuffer(CTRL_BYTES);
    const statsSab = new SharedArrayBuffer((S.size + 2 * pairs * Q.n) * 8);
    const input: VhostWorkerInput = { name, path, queuePairs: pairs, txSlots: ring.txSlots, rxSlots: ring.rxSlots, offloads: ring.offloads === true, burst, ctrl: ctrlSab, stats: statsSab, claimed };
    const worker = new Worker(new URL(kind === 'stream' ? './stream-worker.js' : './worker.js', import.meta.url), { workerData: input });
    const e: Entry = {
      name, kind, path, pairs, offloads: ring.offloads === true, worker, ctrl: new Int32Array(ctrlSab), stats: new Float64Array(statsSab), sw: null, polling: null,
      exited: new Promise((r) => worker.once('exit', () => r())), pending: new Map(), failure: '',
    };
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (m: VhostWorkerMessage) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'log') this.emit(m.line);
        else if (m.type === 'done') { e.pending.get(m.seq)?.(m); e.pending.delete(m.seq); }
        else if (m.type === 'error') {
          if (m.phase === 'open') reject(new NetmapError(m.code, `${name}: ${m.message}`));
          else { e.failure = m.message; this.emit(`${name}: forwarder failed: ${m.message}`); }
        }
      });
      worker.once('error', (err) => reject(err));
      worker.once('exit', () => reject(new NetmapError('EIO', `${name}: the port's thread exited`)));
    }).catch((err: unknown) => {
      if (claimed) removeClaim(name);
      throw err;
    });
    worker.on('exit', () => {
      if (this.ports.get(name) === e) this.ports.delete(name);
      // requests in flight get the reason instead of a timeout
      for (const [seq, done] of e.pending) done({ type: 'done', seq, ok: false, code: 'EIO', message: `${name}: the port's thread stopped${e.failure ? `: ${e.failure}` : ''}`, index: -1, sw: '' });
      e.pending.clear();
    });
    this.ports.set(name, e);
    this.emit(`${kind} port ${name}: listening on ${path}`);
    return this.info(e);
  }

  private entry(name: string): Entry {
    const e = this.ports.get(name);
    if (!e) throw new NetmapError('ENXIO', `no vhost-user port ${name}`);
    return e;
  }

  private request(e: Entry, op: (typeof OP)[keyof typeof OP], sw = '', cpu = -1): Promise<Extract<VhostWorkerMessage, { type: 'done' }>> {
    const bytes = Buffer.from(sw);
    if (bytes.length > 64) throw new NetmapError('EINVAL', 'switch name too long');
    new Uint8Array(e.ctrl.buffer).set(bytes, NAME_OFS);
    Atomics.store(e.ctrl, C.nameLen, bytes.length);
    Atomics.store(e.ctrl, C.pollCpu, cpu);
    Atomics.store(e.ctrl, C.reqOp, op);
    const seq = Atomics.add(e.ctrl, C.reqSeq, 1) + 1;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { e.pending.delete(seq); reject(new NetmapError('ETIMEDOUT', `${e.name}: its thread did not answer within 15 s`)); }, 15_000);
      e.pending.set(seq, (m) => { clearTimeout(t); resolve(m); });
    });
  }

  async attach(name: string, sw: string): Promise<VhostPortInfo> {
    const e = this.entry(name);
    const m = await this.request(e, OP.attach, sw);
    if (!m.ok) throw new NetmapError(m.code, m.message);
    e.sw = sw;
    return this.info(e);
  }

  async detach(name: string): Promise<string> {
    const e = this.entry(name);
    if (e.polling) throw new NetmapError('EBUSY', `${e.sw ?? 'valeX'}:${name} is in polling mode: stop polling first (vale-ctl -P ${e.sw ?? 'valeX'}:${name})`);
    const m = await this.request(e, OP.detach);
    if (!m.ok) throw new NetmapError(m.code, m.message);
    e.sw = null;
    return `${m.sw}:${name}`;
  }

  /**
   * Busy polling (vale-ctl -p valeX:NAME) on, with `plan` (the CPU to pin the thread to, what
   * it means), or off (null): the port's thread never sleeps and tells the guest not to kick.
   * The port must be attached to `sw`, as an interface must be for -p.
   */
  async polling(name: string, sw: string, plan: { cpu: number | null; note: string } | null): Promise<VhostPortInfo> {
    const e = this.entry(name);
    if (e.kind !== 'vhost-user') throw new NetmapError('ENOTSUP', `${name} is a -netdev stream port: busy polling is for vhost-user ports (its thread waits on its socket)`);
    if (e.sw !== sw) throw new NetmapError('ENXIO', `${name} is not attached to ${sw}${e.sw ? ` (it is to ${e.sw})` : ''}`);
    if (plan && e.polling) throw new NetmapError('EBUSY', `${sw}:${name} is already in polling mode (${e.polling.note})`);
    if (!plan && !e.polling) throw new NetmapError('EINVAL', `${sw}:${name} is not in polling mode`);
    const m = await this.request(e, plan ? OP.pollOn : OP.pollOff, '', plan?.cpu ?? -1);
    if (!m.ok) throw new NetmapError(m.code, m.message);
    e.polling = plan;
    return this.info(e);
  }

  async remove(name: string, force = false): Promise<void> {
    const e = this.entry(name);
    if (!force) {
      // a program serving the socket itself (netmap:NAME) keeps the port until it closes it
      let pid = 0;
      try {
        const c = Claim.open(name);
        if (c.daemonPid === process.pid && (c.state === CLAIM.LENT || c.state === CLAIM.WANT) && processAlive(c.openerPid)) pid = c.openerPid;
        c.close();
      } catch { /* no claim: nothing open directly */ }
      if (pid > 0) throw new NetmapError('EBUSY', `${name} is open directly (netmap:${name}, pid ${pid}): close it first`);
    }
    Atomics.store(e.ctrl, C.stop, 1);
    const t = setTimeout(() => { void e.worker.terminate(); }, 5000);
    await e.exited;
    clearTimeout(t);
    this.ports.delete(name);
    removeClaim(name);
    this.emit(`${e.kind} port ${name}: removed (socket ${e.path})`);
  }

  info(e: Entry): VhostPortInfo {
    // the thread's counters, checked like anything shared: a count is a finite, non-negative integer-valued number
    const s = e.stats.map((v) => (v >= 0 && v <= Number.MAX_SAFE_INTEGER ? Math.floor(v) : v === -1 ? -1 : 0));
    const feat = BigInt(s[S.featLo]) | (BigInt(s[S.featHi]) << 32n);
    const queues: VhostQueueInfo[] = [];
    for (let i = 0; i < 2 * e.pairs; i++) {
      const o = S.size + i * Q.n;
      queues.push({
        index: i, dir: i & 1 ? 'tx' : 'rx', size: s[o + Q.size], running: s[o + Q.running] === 1, broken: s[o + Q.broken] === 1,
        packets: s[o + Q.packets], bytes: s[o + Q.bytes], drops: s[o + Q.drops], kicks: s[o + Q.kicks], interrupts: s[o + Q.interrupts],
      });
    }
    return {
      name: e.name, kind: e.kind, path: e.path, connected: s[S.connected] === 1, connections: s[S.connections], features: featureNames(feat), queuePairs: e.pairs, offloads: e.offloads,
      switch: e.sw, polling: e.polling, index: s[S.portIndex] >= 0 && e.sw ? s[S.portIndex] : null, noPortDrops: s[S.noPortDrops], queues,
    };
  }

  list(): VhostPortInfo[] {
    return [...this.ports.values()].map((e) => this.info(e));
  }

  async closeAll(): Promise<string[]> {
    const names = [...this.ports.keys()];
    for (const n of names) await this.remove(n, true);
    return names;
  }
}
