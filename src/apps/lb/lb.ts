// netmap's lb: read an input port, hash every packet with a symmetric RSS (Toeplitz) hash
// and move its buffer, without copying, to output pipe `hash % N` of each group. Workers
// (VNF threads, Zeek/Suricata-like consumers) read the slave ends `NAME}i`; both
// directions of a flow reach the same worker.
//
// The input and the pipes live in one memory region, so a packet moves by swapping buffer
// indices between the input rx ring and a pipe tx ring (as lb does; lb refuses pipes in
// another region). Several groups are chained as in lb: group 0 gets the packet first and,
// once its reader releases the slot, the same buffer goes on to group 1, and so on (so
// readers of all but the last group must not modify or swap the buffers).
//
// With extra buffers (-B) a pipe that is full keeps its packets in an overflow queue: the
// packet's buffer waits in the queue and the input ring gets a free extra buffer in
// exchange. When the free extra buffers run out, the oldest 150 packets of the longest
// queue are dropped to refill them (lb's BUF_REVOKE). Without extra buffers, or when
// nothing can be revoked, a packet that finds its pipe full is dropped. Fragment chains
// (NS_MOREFRAG) go to one pipe and are kept or dropped whole.
import { NS_BUF_CHANGED, NS_MOREFRAG, POLLIN } from '../../core/constants.js';
import { open } from '../../index.js';
import type { Port } from '../../core/port.js';
import { parsePortSpec, type PortSpec } from '../../core/portspec.js';
import { NetmapError } from '../../core/region.js';
import type { Ring } from '../../core/ring.js';
import { FRAME_OTHER, lastFrameKind, rssFrameHashBits, SYMMETRIC_KEY, type ToeplitzKey } from '../../packet/toeplitz.js';
import { hashBucket } from '../../packet/flow-hash.js';
import { lbExitLine, lbStatsLines, type LbCounters } from './stats.js';

export { lbExitLine, lbProgressLine, lbStatsLines, type LbCounters, type LbPipeCounters } from './stats.js';

/** lb's BUF_REVOKE: packets dropped from the longest overflow queue at a time. */
export const BUF_REVOKE = 150;
export const DEF_BATCH = 2048;
/** Slots whose hashes step() computes in one run before forwarding them. */
const HASH_RUN = 256;
export const DEF_OUT_PIPES = 2;
/** Steps run() retries when out of input before it sleeps (each syncs every port: ~0.5-1 us). */
const LB_SPIN_STEPS = 64;

export interface LbGroup {
  /**
   * Pipe name prefix (lb's `-p name:N`). Omitted: named after the input. A bare name with a
   * VALE input becomes `valeX:name` (the switch's region); with a pipe input `x}K` it
   * becomes pipes `x{name_i` of the same parent; a name with ':' is used as given.
   */
  name?: string;
  /** Pipes in the group (default 2). */
  count?: number;
}

export interface LoadBalancerOptions {
  /** Input port: a VALE port `valeX:Y` or a pipe end `x}K` / `x{K`. */
  input: string;
  /** Shorthand for one group of `outputs` pipes named after the input. */
  outputs?: number;
  /** Groups of output pipes (lb's -p); each group receives every packet. */
  groups?: LbGroup[];
  /** Extra buffers for the overflow queues (-B; 0 = none: drop when a pipe is full). */
  extraBufs?: number;
  /** Packets taken from the input per step (-b, default 2048). */
  batch?: number;
  /** Spin instead of sleeping when idle (-W). */
  busyWait?: boolean;
  /** Slots of the pipes lb creates (default: the pipe default, 1024). */
  pipeSlots?: number;
  /** Hash key (default: the symmetric 0x6d5a key). */
  key?: ToeplitzKey;
}

export interface LbPipe {
  /** lb's name for it: `valeX:Y{0/xT@memid`. */
  interface: string;
  /** What lb opens: `valeX:Y{0/xT`. */
  master: string;
  /** What a worker opens: `valeX:Y}0`. */
  consumer: string;
  group: number;
}

/** A FIFO of slots (buffer, length, flags, hash) with a fixed capacity. */
class SlotQueue {
  readonly buf: Uint32Array;
  readonly len: Uint16Array;
  readonly flags: Uint16Array;
  readonly hash: Uint32Array;
  head = 0;
  n = 0;
  constructor(readonly size: number) {
    this.buf = new Uint32Array(size);
    this.len = new Uint16Array(size);
    this.flags = new Uint16Array(size);
    this.hash = new Uint32Array(size);
  }
  full(): boolean { return this.n === this.size; }
  /** Index of the k-th entry from the head. */
  at(k: number): number { const i = this.head + k; return i >= this.size ? i - this.size : i; }
  push(buf: number, len: number, flags: number, hash: number): void {
    const i = this.at(this.n);
    this.buf[i] = buf; this.len[i] = len; this.flags[i] = flags; this.hash[i] = hash;
    this.n++;
  }
  /** Remove the head entry; returns its index (valid until the next push). */
  shift(): number {
    const i = this.head;
    this.head = i + 1 === this.size ? 0 : i + 1;
    this.n--;
    return i;
  }
  /** Remove the tail entry; returns its index. */
  pop(): number { this.n--; return this.at(this.n); }
}

interface OutPort {
  pipe: LbPipe;
  port: Port;
  ring: Ring;
  group: number;
  /** Where the next fragment goes; `head` moves there once a packet is complete. */
  shadow: number;
  /**
   * The ring's head as lb will publish it: the slot after the last complete packet. It goes
   * to the shared ring at the next sync (syncOutputs), not per packet: the reader's syncs
   * read the ring's header, and a store per packet into that line took it back from the
   * reader's core each time (a miss per packet).
   */
  head: number;
  /** The ring's tail as of the last sync (it changes only there). */
  tail: number;
  /** Chained groups: first released slot not yet pushed to the next group. */
  lastTail: number;
  oq: SlotQueue | null;
  pkts: number;
  bytes: number;
  drop: number;
  dropBytes: number;
}

export interface LbTotals {
  received: number;
  forwarded: number;
  dropped: number;
  nonIp: number;
}

/** Pipe parent and id prefix of a group, so the pipes live in the input's region. */
function groupBase(input: PortSpec, name: string | undefined): { parent: string; idPrefix: string } {
  const inputParent = input.kind === 'vale' ? `${input.switchName}:${input.name}` : input.name;
  if (name === undefined) return { parent: inputParent, idPrefix: input.pipe ? `${input.pipe.id}_` : '' };
  const n = name.startsWith('netmap:') ? name.slice(7) : name;
  if (n.includes(':')) return { parent: n, idPrefix: '' };
  if (input.pipe) return { parent: inputParent, idPrefix: `${n}_` };
  if (input.kind === 'vale') return { parent: `${input.switchName}:${n}`, idPrefix: '' };
  return { parent: n, idPrefix: '' };
}

/**
 * The pipes lb creates for `input` and `groups`, in order (lb numbers the pipes of
 * same-name groups consecutively). Pure: opens nothing.
 */
export function lbPipeNames(input: string, groups: LbGroup[] = [{}]): LbPipe[] {
  const spec = parsePortSpec(input, { defaultPrefix: true });
  const next = new Map<string, number>();
  const out: LbPipe[] = [];
  groups.forEach((g, gi) => {
    const count = g.count ?? DEF_OUT_PIPES;
    if (!Number.isInteger(count) || count < 1) throw new NetmapError('EINVAL', `lb: invalid number of pipes ${count} (must be at least 1)`);
    const { parent, idPrefix } = groupBase(spec, g.name);
    const key = `${parent}|${idPrefix}`;
    const first = next.get(key) ?? 0;
    next.set(key, first + count);
    for (let k = 0; k < count; k++) {
      const id = `${idPrefix}${first + k}`;
      const master = `${parent}{${id}/xT`;
      parsePortSpec(master, { defaultPrefix: true }); // reject bad names before opening anything
      out.push({ interface: master, master, consumer: `${parent}}${id}`, group: gi });
    }
  });
  return out;
}

export class LoadBalancer {
  readonly input: Port;
  readonly inputName: string;
  /** Packets taken from one input ring per round of run(). */
  private readonly halfRing: number;
  /** All output pipes, group by group. */
  readonly pipes: LbPipe[];
  readonly batch: number;
  readonly extraBufs: number;
  busyWait: boolean;
  /** Counters (lb's forwarded, dropped, received_pkts, non_ip). */
  readonly totals: LbTotals = { received: 0, forwarded: 0, dropped: 0, nonIp: 0 };
  private readonly outs: OutPort[] = [];
  private readonly groups: OutPort[][] = [];
  private readonly freeq: SlotQueue | null;
  private readonly key: ToeplitzKey;
  private readonly lastFlag: Uint16Array; // per input ring: NS_MOREFRAG of the last slot
  private readonly lastHash: Uint32Array; // per input ring: hash of the packet in progress
  /** The hashes of the slots step() takes, HASH_RUN at a time (see step()). */
  private readonly hashes = new Uint32Array(HASH_RUN);
  private receivedBytes = 0;
  private stopping = false;
  private closed = false;
  private running: Promise<LbTotals> | null = null;

  constructor(o: LoadBalancerOptions) {
    const batch = o.batch ?? DEF_BATCH;
    if (!Number.isInteger(batch) || batch < 1) throw new NetmapError('EINVAL', `lb: batch ${batch} must be a positive integer`);
    const extra = o.extraBufs ?? 0;
    if (!Number.isInteger(extra) || extra < 0) throw new NetmapError('EINVAL', `lb: extra buffers ${extra} must be a non-negative integer`);
    if (o.outputs !== undefined && o.groups !== undefined) throw new NetmapError('EINVAL', 'lb: give either outputs or groups');
    const groups = o.groups ?? [{ count: o.outputs ?? DEF_OUT_PIPES }];
    if (groups.length === 0) throw new NetmapError('EINVAL', 'lb: at least one group of pipes');
    const pipes = lbPipeNames(o.input, groups);
    this.batch = batch;
    this.extraBufs = extra;
    this.busyWait = o.busyWait ?? false;
    this.key = o.key ?? SYMMETRIC_KEY;
    this.inputName = o.input;
    this.input = open(o.input, { extraBufs: extra, busyWait: this.busyWait });
    this.halfRing = Math.max(1, (this.input.rxRings[0]?.numSlots ?? 2) >> 1);
    const memId = this.input.memId;
    try {
      if (this.input.rxRings.length === 0) throw new NetmapError('EINVAL', `lb: ${o.input} has no rx ring bound`);
      // take the extra buffers off the port's list: lb owns them now
      this.freeq = extra ? new SlotQueue(extra) : null;
      if (this.freeq) {
        const u32 = this.input.region.u32, region = this.input.region;
        for (let b = this.input.bufsHead; b !== 0 && this.freeq.n < extra;) {
          this.freeq.push(b, 0, 0, 0);
          b = u32[region.bufOffset(b) >>> 2];
        }
        this.input.bufsHead = 0;
        if (this.freeq.n !== extra) throw new NetmapError('EIO', `lb: ${extra} extra buffers requested, the list held ${this.freeq.n}`);
      }
      for (const p of pipes) {
        const port = open(p.master, { txSlots: o.pipeSlots, busyWait: this.busyWait });
        if (port.region !== this.input.region) {
          port.close();
          throw new NetmapError('EINVAL', `lb: pipe ${p.master} is not in the memory region of ${o.input} (@${memId}), zero-copy impossible: name the pipes after the input (valeX:NAME for a VALE input, pipes of the same parent for a pipe input)`);
        }
        p.interface = `${p.master}@${memId}`;
        const ring = port.txRings[0];
        const out: OutPort = {
          pipe: p, port, ring, group: p.group, shadow: ring.head, head: ring.head, tail: ring.tail, lastTail: ring.next(ring.tail),
          oq: extra ? new SlotQueue(extra) : null, pkts: 0, bytes: 0, drop: 0, dropBytes: 0,
        };
        this.outs.push(out);
        (this.groups[p.group] ??= []).push(out);
      }
    } catch (e) {
      this.releaseAll();
      throw e;
    }
    this.pipes = pipes;
    this.lastFlag = new Uint16Array(this.input.rxRings.length);
    this.lastHash = new Uint32Array(this.input.rxRings.length);
  }

  /** Names the workers of group `g` open (`valeX:Y}0`, ...), in pipe order. */
  consumers(g = 0): string[] {
    return this.pipes.filter((p) => p.group === g).map((p) => p.consumer);
  }

  /**
   * Push `packet` (a buffer and its slot fields) to its pipe of group `g`; returns the
   * buffer to put back where the packet came from (a free one, or the packet's own when
   * it was dropped). lb's forward_packet(). `hash` comes as an int32 (`| 0` at the call): a
   * uint32 above 2^31 crossing the call would be a heap number, an allocation per packet.
   * The pipe is hash % group size, as netmap's lb, in integer arithmetic (hashBucket).
   */
  private forward(g: number, buf: number, len: number, flags: number, hash: number): number {
    const grp = this.groups[g];
    const p = grp[hashBucket(hash, grp.length)];
    const ring = p.ring, oq = p.oq, t = this.totals;
    const more = flags & NS_MOREFRAG;
    if (p.shadow !== p.tail && (oq === null || oq.n === 0)) {
      const s = ring.slots + (p.shadow << 2), u32 = ring.u32, u16 = ring.u16;
      const old = u32[s];
      u32[s] = buf;
      u16[(s << 1) + 2] = len;
      u16[(s << 1) + 3] = more | NS_BUF_CHANGED;
      u32[s + 2] = hash; // slot ptr: the hash travels with the packet (chained groups)
      p.shadow = ring.next(p.shadow);
      if (!more) p.head = p.shadow;
      p.pkts++;
      p.bytes += len;
      t.forwarded++;
      return old;
    }
    if (oq !== null && !oq.full() && (this.freeq!.n > 0 || this.revoke())) {
      oq.push(buf, len, flags & NS_MOREFRAG, hash);
      return this.freeq!.buf[this.freeq!.shift()];
    }
    // drop, with the fragments of this packet already placed (the chain goes whole)
    for (let k = p.head; k !== p.shadow; k = ring.next(k)) {
      p.pkts--; p.bytes -= ring.len(k); t.forwarded--;
      p.drop++; p.dropBytes += ring.len(k); t.dropped++;
    }
    p.shadow = p.head;
    if (oq !== null) {
      while (oq.n > 0 && oq.flags[oq.at(oq.n - 1)] & NS_MOREFRAG) {
        const i = oq.pop();
        p.drop++; p.dropBytes += oq.len[i]; t.dropped++;
        this.freeq!.push(oq.buf[i], 0, 0, 0);
      }
    }
    p.drop++;
    p.dropBytes += len;
    t.dropped++;
    return buf;
  }

  /**
   * The free extra buffers ran out: drop the oldest BUF_REVOKE packets of the longest
   * overflow queue (whole fragment chains only) to refill them. False if none could go.
   */
  private revoke(): boolean {
    let lp: OutPort | null = null;
    for (const p of this.outs) if (p.oq!.n > 0 && (lp === null || p.oq!.n > lp.oq!.n)) lp = p;
    if (lp === null) return false;
    const q = lp.oq!, freeq = this.freeq!;
    let j = 0;
    while (q.n > 0 && j < BUF_REVOKE) {
      let c = 0; // length of the chain at the head; stop at an unfinished one
      while (c < q.n && q.flags[q.at(c)] & NS_MOREFRAG) c++;
      if (c === q.n) break;
      for (c++; c > 0; c--, j++) {
        const i = q.shift();
        lp.drop++; lp.dropBytes += q.len[i]; this.totals.dropped++;
        freeq.push(q.buf[i], 0, 0, 0);
      }
    }
    return freeq.n > 0;
  }

  /** Move what fits from a pipe's overflow queue into its ring. */
  private flush(p: OutPort): number {
    const q = p.oq!, ring = p.ring, freeq = this.freeq!;
    const u32 = ring.u32, u16 = ring.u16;
    let moved = 0;
    while (q.n > 0 && p.shadow !== p.tail) {
      const i = q.shift();
      const s = ring.slots + (p.shadow << 2);
      freeq.push(u32[s], 0, 0, 0);
      u32[s] = q.buf[i];
      u16[(s << 1) + 2] = q.len[i];
      u16[(s << 1) + 3] = q.flags[i] | NS_BUF_CHANGED;
      u32[s + 2] = q.hash[i];
      p.shadow = ring.next(p.shadow);
      if (!(q.flags[i] & NS_MOREFRAG)) p.head = p.shadow;
      p.pkts++;
      p.bytes += q.len[i];
      this.totals.forwarded++;
      moved++;
    }
    return moved;
  }

  /**
   * One pass, without waiting: sync, push released packets down the group chain, flush the
   * overflow queues, move up to `batch` new packets from the input (and at most `perRing`
   * from one input ring), sync. Returns the number of slots that moved (0: nothing to do).
   */
  step(perRing = Infinity): number {
    if (this.closed) throw new NetmapError('EBADF', 'lb: closed');
    const outs = this.outs, input = this.input;
    this.syncOutputs();
    input.rxsync();
    let moved = 0;
    // chained groups, last first, before released slots are reused
    for (let g = this.groups.length - 1; g > 0; g--) {
      const prev = this.groups[g - 1];
      for (let k = 0; k < prev.length; k++) {
        const p = prev[k], ring = p.ring, u32 = ring.u32, u16 = ring.u16;
        const stop = ring.next(ring.tail);
        let last = p.lastTail;
        for (; last !== stop; last = ring.next(last)) {
          const s = ring.slots + (last << 2);
          u32[s] = this.forward(g, u32[s], u16[(s << 1) + 2], u16[(s << 1) + 3], u32[s + 2] | 0);
          u16[(s << 1) + 3] = NS_BUF_CHANGED;
          u32[s + 2] = 0;
          moved++;
        }
        p.lastTail = last;
      }
    }
    if (this.freeq) for (let i = 0; i < outs.length; i++) if (outs[i].oq!.n > 0) moved += this.flush(outs[i]);
    // new packets to the first group
    const rings = input.rxRings, t = this.totals, u8 = input.u8, key = this.key;
    let batch = 0;
    const hashes = this.hashes;
    for (let r = 0; r < rings.length && batch < this.batch; r++) {
      const ring = rings[r], u32 = ring.u32, u16 = ring.u16;
      const bufsOfs = ring.bufsOfs, bufSize = ring.bufSize;
      let h = ring.head;
      const tail = ring.tail;
      const stop = batch + Math.min(this.batch - batch, perRing);
      while (h !== tail && batch < stop) {
        // a run of up to HASH_RUN slots in three loops. Each frame's header is the first read
        // of a line another core wrote: a miss. Ring.touchFrames reads one byte of each in a
        // loop of independent loads, so the CPU has many misses in flight (parsing one frame
        // at a time took them one after another: half of lb's time); then the hashes, from
        // the cache; then the forwarding
        let run = tail - h;
        if (run < 0) run += ring.numSlots;
        if (run > HASH_RUN) run = HASH_RUN;
        if (run > stop - batch) run = stop - batch;
        ring.touchFrames(h, run);
        let more = this.lastFlag[r], hash = this.lastHash[r];
        for (let j = 0, k = h; j < run; j++, k = ring.next(k)) {
          const s = ring.slots + (k << 2);
          if (!more) {
            hash = rssFrameHashBits(u8, bufsOfs + u32[s] * bufSize, u16[(s << 1) + 2], key);
            if (lastFrameKind() === FRAME_OTHER) t.nonIp++;
          }
          more = u16[(s << 1) + 3] & NS_MOREFRAG;
          hashes[j] = hash;
        }
        this.lastFlag[r] = more;
        this.lastHash[r] = hash;
        for (let j = 0; j < run; j++) {
          const s = ring.slots + (h << 2);
          const len = u16[(s << 1) + 2], flags = u16[(s << 1) + 3];
          t.received++;
          this.receivedBytes += len;
          u32[s] = this.forward(0, u32[s], len, flags, hashes[j] | 0);
          u16[(s << 1) + 3] = NS_BUF_CHANGED;
          h = ring.next(h);
        }
        batch += run;
      }
      ring.advance(h);
    }
    moved += batch;
    this.syncOutputs();
    input.rxsync();
    return moved;
  }

  /** Publish each output's head (complete packets only), txsync it, note its new tail. */
  private syncOutputs(): void {
    const outs = this.outs;
    for (let i = 0; i < outs.length; i++) {
      const p = outs[i], ring = p.ring;
      if (ring.head !== p.head) ring.advance(p.head);
      p.port.txsync();
      p.tail = ring.tail;
    }
  }

  /** True while packets wait in overflow queues or chained groups may have work. */
  private pending(): boolean {
    for (const p of this.outs) if ((p.oq && p.oq.n > 0) || p.ring.txPending()) return true;
    return false;
  }

  /** A snapshot of the counters for the statistics lines. */
  counters(): LbCounters {
    return {
      t: performance.timeOrigin + performance.now(), // sub-millisecond: two snapshots in one ms still give a rate
      interface: this.inputName,
      received: this.totals.received,
      nonIp: this.totals.nonIp,
      freeq: this.freeq ? this.freeq.n : 0,
      pipes: this.outs.map((p) => ({ interface: p.pipe.interface, pkts: p.pkts, bytes: p.bytes, drop: p.drop, dropBytes: p.dropBytes, oqN: p.oq ? p.oq.n : 0 })),
    };
  }

  /** Packets waiting in each pipe's overflow queue. */
  queued(): number[] {
    return this.outs.map((p) => (p.oq ? p.oq.n : 0));
  }

  /** lb's exit line: `N packets forwarded.  M packets dropped. Total T`. */
  exitLine(): string {
    return lbExitLine(this.totals.forwarded, this.totals.dropped);
  }

  /**
   * Forward until stop() (or the signal): steps while there is work, otherwise waits for
   * the input without blocking the event loop (workers in the same thread keep running).
   * Every `statsMs` calls onStats with lb's JSON lines. Closes the ports at the end.
   */
  run(o: { signal?: AbortSignal; statsMs?: number; onStats?: (lines: string[]) => void } = {}): Promise<LbTotals> {
    if (this.running) return this.running;
    this.running = (async () => {
      let prev: LbCounters | null = this.counters();
      const timer = o.statsMs && o.onStats ? setInterval(() => {
        const cur = this.counters();
        o.onStats!(lbStatsLines(cur, prev));
        prev = cur;
      }, o.statsMs) : null;
      let rounds = 0;
      try {
        while (!this.stopping && !o.signal?.aborted) {
          // at most half an input ring per round: the producer refills the other half meanwhile
          // instead of waiting for lb to hand the whole ring back (6-7 -> 10-12 Mpps, 1024 slots)
          let moved = this.step(this.halfRing);
          // out of input: keep stepping for a few tens of microseconds before sleeping, as
          // Port.poll spins. pollAsync's wake-up (a futex wait on the thread pool, then an
          // event-loop turn) takes far longer than the feeder needs to refill half a ring:
          // without the spin, lb and its feeder fell into taking turns (6.3 Mpps, the slow
          // runs of issue 14) and stayed there
          for (let i = 0; moved === 0 && i < LB_SPIN_STEPS && !this.busyWait; i++) moved = this.step(this.halfRing);
          if (moved === 0) {
            if (this.busyWait) await new Promise((r) => setImmediate(r));
            else await this.input.pollAsync(POLLIN, this.pending() ? 1 : 50);
          } else if (++rounds % 16 === 0) {
            await new Promise((r) => setImmediate(r)); // let timers, signals and peers in
          }
        }
      } finally {
        if (timer) clearInterval(timer);
        this.close();
      }
      return this.totals;
    })();
    return this.running;
  }

  /** Ask run() to finish; resolves when it has closed the ports. */
  async stop(): Promise<LbTotals> {
    this.stopping = true;
    if (this.running) return this.running;
    this.close();
    return this.totals;
  }

  /** Give the extra buffers back and close the pipes and the input. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.releaseAll();
  }

  private releaseAll(): void {
    const input = this.input;
    if (input && !input.isClosed) {
      // every buffer lb holds (free or queued) goes back on the port's list, freed at close
      const u32 = input.region.u32, region = input.region;
      const give = (b: number): void => { u32[region.bufOffset(b) >>> 2] = input.bufsHead; input.bufsHead = b; };
      if (this.freeq) while (this.freeq.n > 0) give(this.freeq.buf[this.freeq.shift()]);
      for (const p of this.outs) if (p.oq) while (p.oq.n > 0) give(p.oq.buf[p.oq.shift()]);
    }
    for (const p of this.outs) {
      if (p.port.isClosed) continue;
      try {
        if (p.ring.head !== p.head) p.ring.advance(p.head);
        p.port.txsync();
      } catch { /* closing anyway */ }
      p.port.close();
    }
    if (input && !input.isClosed) {
      try { input.rxsync(); } catch { /* closing anyway */ }
      input.close();
    }
  }
}

/**
 * The seed's VNF use case: distribute the traffic of `input` over `outputs` workers
 * (flow-consistent, both directions to one worker). Returns the balancer; its
 * `consumers()` are the pipe names the workers open; `run()` forwards until `stop()`.
 */
export function createLoadBalancer(o: LoadBalancerOptions): LoadBalancer {
  return new LoadBalancer(o);
}
