// netmap's tlem: a bidirectional link emulator between two ports. Per direction, packets
// read from the source get a departure time from the emulated link (serialization at the
// bandwidth, then the delay; no reordering), wait in a fixed-size queue (a preallocated
// copy area: no per-packet allocation) and are written to the destination when due. Loss
// drops packets at arrival; a full queue drops them too, as does tlem's byte limit (-Q:
// bytes still waiting for the emulated wire). Reordering (-R) holds a packet aside for a
// while (a second preallocated FIFO), after which it goes through loss, queue and link like
// a new arrival, behind the packets that passed it. One async loop serves both directions,
// sleeping on the region's wake word until the next departure or release.
import { NS_MOREFRAG } from '../../core/constants.js';
import { copyWords } from '../../core/frame-copy.js';
import { ANY_WORD, sleepOnAsync } from '../../core/wait.js';
import { open } from '../../core/open.js';
import { clock, type Port } from '../../core/port.js';
import { NetmapError } from '../../core/region.js';
import { defaultDirection, DEFAULT_BATCH, ETHER_FRAMING_BITS, type DirectionConfig } from './options.js';

export interface TlemOptions {
  a: string;
  b: string;
  /** [A->B, B->A]; missing fields take the defaults (no limit, no delay, no loss, 1024). */
  dirs?: [Partial<DirectionConfig>, Partial<DirectionConfig>];
  batch?: number;
  seed?: number;
  durationSec?: number;
  signal?: AbortSignal;
  /** Stop once this many packets were read in total and every queue is drained (tests). */
  maxPackets?: number;
  /** Milliseconds between stats lines (1000; 0 = none). */
  statsMs?: number;
  verbose?: boolean;
  /** Seconds to wait after opening the ports before forwarding (tlem's -w: links coming up). */
  waitSec?: number;
}

export interface TlemCounters {
  /** Packets (slots) read from the source. */
  in: number;
  /** Packets written to the destination. */
  out: number;
  /** Dropped by the loss model. */
  lost: number;
  /** Dropped because the queue was full. */
  queueDrops: number;
  /** Most packets queued at once. */
  maxQueue: number;
  /** Held for reordering (-R); they count again in lost/queueDrops/out once released. */
  reordered: number;
}

export interface TlemResult { aToB: TlemCounters; bToA: TlemCounters }

export interface TlemIo { log: (line: string) => void }

/** mulberry32: small, fast, deterministic; returns floats in [0, 1). */
class Prng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

class Direction {
  readonly c: TlemCounters = { in: 0, out: 0, lost: 0, queueDrops: 0, maxQueue: 0, reordered: 0 };
  // per stats interval
  iMaxq = 0; iLost = 0; iDrops = 0;
  private readonly data64: Float64Array;
  private readonly lens: Uint32Array;
  private readonly flags: Uint16Array;
  private readonly dep: Float64Array;
  private qHead = 0;
  count = 0;
  // tlem's byte queue (-Q bytes): the newest stored packets whose serialization is not over
  private readonly qout: Float64Array;
  private bqHead = 0;
  private bqCount = 0;
  private bqBytes = 0;
  // reordering (-R): packets held aside until their release time, in a FIFO of their own
  private readonly hData64: Float64Array;
  private readonly hLens: Uint32Array;
  private readonly hFlags: Uint16Array;
  private readonly hRel: Float64Array;
  private readonly hCap: number;
  private hHead = 0;
  hCount = 0;
  private hTailRel = -Infinity;
  private linkFree = -Infinity; // ms: when the emulated wire is free again
  private lastDep = -Infinity;
  private readonly msPerBit: number;
  private readonly framing: number;
  private readonly rng: Prng;
  /** True while the head packet is due but the destination has no room. */
  blocked = false;

  constructor(readonly src: Port, readonly dst: Port, readonly cfg: DirectionConfig, seed: number) {
    const bufSize = Math.max(src.region.bufSize, dst.region.bufSize);
    this.data64 = new Float64Array(cfg.qsize * bufSize / 8);
    this.slot = bufSize;
    this.lens = new Uint32Array(cfg.qsize);
    this.flags = new Uint16Array(cfg.qsize);
    this.dep = new Float64Array(cfg.qsize);
    this.qout = new Float64Array(cfg.qsize);
    this.hCap = cfg.reorder.p > 0 ? cfg.qsize : 0;
    this.hData64 = new Float64Array(this.hCap * bufSize / 8);
    this.hLens = new Uint32Array(this.hCap);
    this.hFlags = new Uint16Array(this.hCap);
    this.hRel = new Float64Array(this.hCap);
    this.msPerBit = cfg.bw.bps > 0 ? 1000 / cfg.bw.bps : 0;
    this.framing = cfg.bw.ether ? ETHER_FRAMING_BITS : 0;
    this.rng = new Prng(seed);
  }
  private readonly slot: number;

  private delay(): number {
    const d = this.cfg.delay;
    if (d.kind === 'constant') return d.a;
    const r = this.rng.next();
    if (d.kind === 'uniform') return d.a + r * (d.b - d.a);
    return d.a - Math.log(1 - r) * (d.b - d.a); // exp: minimum a, mean b
  }

  private lose(len: number): boolean {
    const l = this.cfg.loss;
    if (l.x <= 0) return false;
    const p = l.kind === 'plr' ? l.x : 1 - Math.pow(1 - l.x, len * 8);
    return this.rng.next() < p;
  }

  /** Forget the bytes whose serialization ended by `now` (tlem's q_reclaim). */
  private reclaim(now: number): void {
    const q = this.cfg.qsize;
    while (this.bqCount > 0 && this.qout[this.bqHead]! <= now) {
      this.bqBytes -= this.lens[this.bqHead]!;
      this.bqHead = this.bqHead + 1 === q ? 0 : this.bqHead + 1;
      this.bqCount--;
    }
  }

  /** One arrival (read, or released from the hold queue): loss, queue limits, then the link. */
  private admit(src: Float64Array, off: number, len: number, flags: number, now: number): void {
    const q = this.cfg.qsize, qbytes = this.cfg.qbytes;
    if (this.lose(len)) { this.c.lost++; this.iLost++; return; }
    // tlem checks the bytes queued before adding: the queue may overflow by one packet
    if (this.count === q || (qbytes > 0 && this.bqBytes > qbytes)) { this.c.queueDrops++; this.iDrops++; return; }
    let k = this.qHead + this.count;
    if (k >= q) k -= q;
    copyWords(src, off, this.data64, k * this.slot, len);
    this.lens[k] = len;
    this.flags[k] = flags;
    // the wire: serialization after the previous frame, then the delay; never reorder
    const wireDone = Math.max(now, this.linkFree) + (len * 8 + this.framing) * this.msPerBit;
    this.linkFree = wireDone;
    this.qout[k] = wireDone;
    if (wireDone > now) {
      if (this.bqCount === 0) this.bqHead = k;
      this.bqCount++;
      this.bqBytes += len;
    }
    const d = Math.max(wireDone + this.delay(), this.lastDep);
    this.lastDep = d;
    this.dep[k] = d;
    if (++this.count > this.c.maxQueue) this.c.maxQueue = this.count;
    if (this.count > this.iMaxq) this.iMaxq = this.count;
  }

  /** Put a packet aside until now + hold (never before the one held last: the hold queue is FIFO). */
  private hold(src: Float64Array, off: number, len: number, flags: number, now: number): void {
    if (this.hCount === this.hCap) { this.c.queueDrops++; this.iDrops++; return; }
    let k = this.hHead + this.hCount;
    if (k >= this.hCap) k -= this.hCap;
    copyWords(src, off, this.hData64, k * this.slot, len);
    this.hLens[k] = len;
    this.hFlags[k] = flags;
    const rel = Math.max(now + this.cfg.reorder.holdMs, this.hTailRel);
    this.hTailRel = rel;
    this.hRel[k] = rel;
    this.hCount++;
    this.c.reordered++;
  }

  /** Read up to `batch` packets that arrived at `now`; returns how many were read (or released). */
  read(now: number, batch: number): number {
    const src = this.src, p = this.cfg.reorder.p;
    let n = 0;
    this.reclaim(now);
    // held packets whose time came re-enter first, as in tlem
    while (this.hCount > 0 && this.hRel[this.hHead]! <= now) {
      const h = this.hHead;
      this.admit(this.hData64, h * this.slot, this.hLens[h]!, this.hFlags[h]!, now);
      this.hHead = h + 1 === this.hCap ? 0 : h + 1;
      this.hCount--;
      n++;
    }
    let got = 0;
    for (const rx of src.rxRings) {
      let j = rx.head;
      const t = rx.tail;
      while (j !== t && got < batch) {
        const len = rx.len(j);
        got++;
        this.c.in++;
        const flags = rx.slotFlags(j) & NS_MOREFRAG;
        if (p > 0 && this.rng.next() < p) this.hold(src.region.f64, rx.buf(j), len, flags, now);
        else this.admit(src.region.f64, rx.buf(j), len, flags, now);
        j = rx.next(j);
      }
      rx.advance(j);
      if (got >= batch) break;
    }
    return n + got;
  }

  /** Write the packets due at `now`; returns how many. */
  write(now: number): number {
    const dst = this.dst, q = this.cfg.qsize;
    let n = 0;
    this.blocked = false;
    for (const tx of dst.txRings) {
      let k = tx.head;
      const t = tx.tail;
      while (this.count > 0 && this.dep[this.qHead] <= now && k !== t) {
        const h = this.qHead, len = this.lens[h]!;
        copyWords(this.data64, h * this.slot, dst.region.f64, tx.buf(k), len);
        tx.setLen(k, len);
        tx.setSlotFlags(k, this.flags[h]!);
        k = tx.next(k);
        this.qHead = h + 1 === q ? 0 : h + 1;
        this.count--;
        n++;
      }
      tx.advance(k);
      if (this.count === 0 || this.dep[this.qHead]! > now) break;
    }
    if (this.count > 0 && this.dep[this.qHead]! <= now) this.blocked = true;
    this.c.out += n;
    return n;
  }

  /** Departure time of the head packet or release time of the first held one (Infinity: none). */
  nextDue(): number {
    const d = this.count > 0 ? this.dep[this.qHead]! : Infinity;
    return this.hCount > 0 ? Math.min(d, this.hRel[this.hHead]!) : d;
  }

  /** Packets queued or held. */
  pending(): number { return this.count + this.hCount; }
}

function fill(p: Partial<DirectionConfig> | undefined): DirectionConfig {
  const d = defaultDirection();
  const c = { ...d, ...(p ?? {}) };
  if (!Number.isInteger(c.qsize) || c.qsize < 1) throw new NetmapError('EINVAL', `tlem: queue size ${c.qsize} must be a positive integer`);
  if (!(c.bw.bps >= 0)) throw new NetmapError('EINVAL', `tlem: bandwidth ${c.bw.bps} must be >= 0`);
  if (!(c.loss.x >= 0 && c.loss.x <= 1)) throw new NetmapError('EINVAL', `tlem: loss ${c.loss.x} must be in [0, 1]`);
  if (!(c.delay.a >= 0) || (c.delay.kind !== 'constant' && !(c.delay.b >= c.delay.a))) throw new NetmapError('EINVAL', 'tlem: bad delay');
  if (!(c.qbytes >= 0)) throw new NetmapError('EINVAL', `tlem: queue bytes ${c.qbytes} must be >= 0`);
  if (!(c.reorder.p >= 0 && c.reorder.p <= 1) || !(c.reorder.holdMs >= 0)) throw new NetmapError('EINVAL', 'tlem: reordering needs p in [0, 1] and a hold time >= 0');
  return c;
}

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

function rxReady(p: Port): boolean {
  for (const r of p.rxRings) if (r.head !== r.tail) return true;
  return false;
}

/** Run the emulator until the signal aborts, the duration ends or maxPackets; returns the counters. */
export async function tlem(o: TlemOptions, io: TlemIo): Promise<TlemResult> {
  const batch = o.batch ?? DEFAULT_BATCH;
  if (!Number.isInteger(batch) || batch < 1 || batch > 8192) throw new NetmapError('EINVAL', `tlem: batch ${batch} must be 1..8192`);
  if (o.a === o.b) throw new NetmapError('EINVAL', 'tlem: the two ports must differ');
  const cfgAB = fill(o.dirs?.[0]), cfgBA = fill(o.dirs?.[1]);
  const seed = (o.seed ?? 1) >>> 0;
  const pa = open(o.a);
  let pb: Port;
  try { pb = open(o.b); } catch (e) { pa.close(); throw e; }
  const ab = new Direction(pa, pb, cfgAB, seed);
  const ba = new Direction(pb, pa, cfgBA, (seed ^ 0x9e3779b9) >>> 0);
  const sameRegion = pa.region === pb.region;
  const region = pa.region;
  // going to sleep: frames that came meanwhile cancel the sleep
  const idle = {
    wait: 0,
    ready: false,
    beforeSleep(): number {
      this.ready = rxReady(pa) || rxReady(pb);
      if (!this.ready) {
        pa.rxsync();
        pb.rxsync();
        this.ready = rxReady(pa) || rxReady(pb);
      }
      return this.ready ? 0 : this.wait;
    },
  };
  if (o.waitSec && o.waitSec > 0) {
    // tlem's -w: the ports are open (an interface's link is coming up); wait, abortable
    await new Promise<void>((r) => {
      const t = setTimeout(r, o.waitSec! * 1000);
      o.signal?.addEventListener('abort', () => { clearTimeout(t); r(); }, { once: true });
    });
  }
  const start = clock.now();
  const end = o.durationSec ? start + o.durationSec * 1000 : Infinity;
  const statsMs = o.statsMs ?? 1000;
  let nextStats = statsMs > 0 ? start + statsMs : Infinity;
  const max = o.maxPackets ?? Infinity;
  let rounds = 0, iRounds = 0, busy = 0;
  if (o.verbose) io.log(`tlem: ${o.a} <-> ${o.b}, ${sameRegion ? 'one region' : 'two regions'}, seed ${seed}`);
  const statsLine = (): string =>
    `${o.a} -> ${o.b} maxq ${ab.iMaxq} round ${iRounds} drop ${ab.iLost}/${ab.iDrops}, ` +
    `${o.a} <- ${o.b} maxq ${ba.iMaxq} round ${iRounds} drop ${ba.iLost}/${ba.iDrops}`;
  try {
    for (;;) {
      let now = clock.now();
      if (o.signal?.aborted || now >= end) break;
      if (ab.c.in + ba.c.in >= max && ab.pending() === 0 && ba.pending() === 0) break;
      pa.rxsync();
      pb.rxsync();
      now = clock.now();
      let moved = ab.read(now, batch) + ba.read(now, batch);
      moved += ab.write(now) + ba.write(now);
      pa.txsync();
      pb.txsync();
      rounds++;
      iRounds++;
      if (now >= nextStats) {
        io.log(statsLine());
        ab.iMaxq = ab.count; ba.iMaxq = ba.count;
        ab.iLost = ab.iDrops = ba.iLost = ba.iDrops = 0;
        iRounds = 0;
        nextStats += statsMs * Math.max(1, Math.ceil((now - nextStats) / statsMs));
      }
      if (moved > 0) {
        if (++busy % 64 === 0) await immediate(); // let signals and other tasks in
        continue;
      }
      // idle: sleep until the next departure, an arrival (region wake word), or the stats tick
      const due = Math.min(ab.nextDue(), ba.nextDue(), nextStats, end);
      let wait = due - clock.now();
      if (ab.blocked || ba.blocked) wait = Math.min(wait, 1); // destination full: re-check soon
      if (!sameRegion) wait = Math.min(wait, 1);
      wait = Math.min(wait, 100);
      if (wait <= 0.05) { await immediate(); continue; }
      idle.wait = wait;
      await sleepOnAsync(region, ANY_WORD, idle); // re-checks the rx rings once announced (core/wait.ts)
      if (idle.ready) await immediate();
    }
  } finally {
    try { pa.txsync(); pb.txsync(); } catch { /* closing anyway */ }
    pb.close();
    pa.close();
  }
  if (o.verbose) io.log(`tlem: ${rounds} rounds in ${((clock.now() - start) / 1000).toFixed(3)} s`);
  return { aToB: ab.c, bToA: ba.c };
}

/** Totals line printed at exit. */
export function tlemSummary(a: string, b: string, r: TlemResult): string {
  const d = (x: TlemCounters): string => `in ${x.in} out ${x.out} lost ${x.lost} queue-drops ${x.queueDrops} maxq ${x.maxQueue} reordered ${x.reordered}`;
  return `${a} -> ${b}: ${d(r.aToB)}\n${a} <- ${b}: ${d(r.bToA)}`;
}
