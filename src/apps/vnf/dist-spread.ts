// The rx half of the distribution to worker threads (the VNF manual's "software RSS into
// per-core pipes"): take the frames of a port's rx rings and hand each to worker i's pipe
// (`PORT{i`, master end; the worker reads `PORT}i`), i = hash % N, where the hash is the
// symmetric Toeplitz RSS hash of the frame (packet/toeplitz.ts: a flow and its reply hash
// alike, so both directions of a flow meet on one worker and each worker may own its own
// connection table). When the port and the pipe share a memory region (a VALE port and its
// pipes `valeX:Y{i`, a pipe and pipes of the same parent) a frame moves by swapping buffer
// indices between the rx slot and the pipe's tx slot: no byte is copied; otherwise it is
// copied once.
//
// ARP: a request goes to worker 0 (the one that answers); every other ARP frame (answers,
// gratuitous ARP) is copied to every worker, so that each worker's host keeps its own
// resolver cache current. Other non-IP frames go to worker 0. A frame whose pipe is full is
// dropped and counted (`pipeFull`, per worker): one slow worker never stalls the others. With
// one worker (`hold`) the frame stays in the port's ring instead (back-pressure): dropping it
// would lose it all the same, after spending the I/O thread's time on it, time the worker needs
// when they share a core; the port's ring then fills and its own drops count (the switch's).
// NS_MOREFRAG chains go whole to the pipe of their first slot, or are dropped whole.
//
// `steer: { vip, vipPort }` (the l4lb in NAT mode) hashes the client's (address, port)
// instead: a frame to VIP:PORT by its source, a backend's answer (from port vipPort) by its
// destination, so that a connection's two directions (client -> VIP, backend -> client)
// meet on one worker although their addresses differ. Nothing here allocates per frame.
import { NS_MOREFRAG } from '../../core/constants.js';
import { copyWords } from '../../core/frame-copy.js';
import type { Port } from '../../core/port.js';
import { movableSlots, swapSlotWords, type Ring } from '../../core/ring.js';
import { rssFrameHashBits } from '../../packet/toeplitz.js';
import { hashBucket, mix } from '../../packet/flow-hash.js';

/** Counter indices of a Spreader (one Float64Array; `perWorker` arrays beside it). */
export const SP = {
  /** frames taken from the port (a chain counts once) */
  received: 0,
  /** non-IP frames (ARP, others) */
  nonIp: 1,
  /** ARP frames copied to the other workers (extra deliveries: not in received) */
  arpCopies: 2,
  /** frames dropped: their pipe was full (sum of pipeFull[i]) */
  pipeFull: 3,
  /** chains dropped: longer than a ring */
  badChain: 4,
} as const;
export const SP_N = 5;
/** Frames whose first lines ring() touches at a time before parsing them (Ring.touchFrames). */
const TOUCH_RUN = 256;

export interface Steer { vip: number; vipPort: number }

export class Spreader {
  readonly counters = new Float64Array(SP_N);
  /** frames handed to worker i (copies included) */
  readonly toWorker: Float64Array;
  /** frames dropped because worker i's pipe was full */
  readonly pipeFull: Float64Array;
  private readonly cur: Uint32Array; // next tx slot to fill, per pipe
  private readonly swap: Uint8Array; // per pipe: same region as the port
  private readonly vip: number;
  private readonly vipPort: number;
  /** hold frames in the port's ring when the pipe is full (one worker) instead of dropping them */
  private readonly hold: boolean;
  /** the last run() stopped at a frame its pipe had no room for (hold): wait for the pipe */
  blocked = false;
  /** one worker in the port's region: moveAll() takes the frames before the frame-by-frame loop */
  private readonly bulk: boolean;
  /** several workers, every pipe in the port's region: spreadAll() takes the frames first */
  private readonly spread: boolean;
  // spreadAll()'s view of the pipes' tx rings: slot array (u32 index), slots, free slots this run
  private readonly tslots: Uint32Array;
  private readonly tnum: Uint32Array;
  private readonly free: Int32Array;

  constructor(readonly port: Port, readonly pipes: Port[], steer: Steer | null, copy: boolean) {
    this.hold = pipes.length === 1;
    const n = pipes.length;
    this.toWorker = new Float64Array(n);
    this.pipeFull = new Float64Array(n);
    this.cur = new Uint32Array(n);
    this.swap = Uint8Array.from(pipes, (p) => (!copy && p.region === port.region ? 1 : 0));
    this.bulk = n === 1 && this.swap[0] === 1;
    this.spread = n > 1 && this.swap.every((x) => x === 1);
    this.tslots = Uint32Array.from(pipes, (p) => p.txRings[0]?.slots ?? 0);
    this.tnum = Uint32Array.from(pipes, (p) => p.txRings[0]?.numSlots ?? 1);
    this.free = new Int32Array(n);
    this.vip = steer?.vip ?? 0;
    this.vipPort = steer ? steer.vipPort : -1;
    for (const p of pipes) if (p.txRings.length === 0) throw new RangeError(`${p.name}: no tx ring bound`);
  }

  /** Frames of this spreader's pipes go to a zero-copy swap (true) or a copy. */
  zerocopy(): boolean { return this.swap.every((s) => s === 1); }

  /** Which worker a frame goes to: -1 for an ARP frame that every worker gets. */
  private pick(u8: Uint8Array, o: number, len: number): number {
    const n = this.pipes.length;
    if (len < 14) { this.counters[SP.nonIp]++; return 0; }
    const type = (u8[o + 12]! << 8) | u8[o + 13]!;
    if (type !== 0x0800) {
      this.counters[SP.nonIp]++;
      if (type !== 0x0806 || n === 1) return 0;
      return len >= 42 && u8[o + 20] === 0 && u8[o + 21] === 1 ? 0 : -1; // a request: worker 0 answers
    }
    if (n === 1) return 0; // one worker: no hash to take
    if (this.vipPort >= 0 && len >= 38) {
      const ip = o + 14, l4 = ip + ((u8[ip]! & 15) << 2), proto = u8[ip + 9]!;
      if ((proto === 6 || proto === 17) && l4 + 4 <= o + len) {
        const sport = (u8[l4]! << 8) | u8[l4 + 1]!, dport = (u8[l4 + 2]! << 8) | u8[l4 + 3]!;
        if (dport === this.vipPort && rd32(u8, ip + 16) === this.vip) return hashBucket(mix(rd32(u8, ip + 12) + Math.imul(sport, 0x9e3779b1)), n);
        if (sport === this.vipPort) return hashBucket(mix(rd32(u8, ip + 16) + Math.imul(dport, 0x9e3779b1)), n);
      }
    }
    return hashBucket(rssFrameHashBits(u8, o, len), n);
  }

  /** Move up to `burst` frames from the port's rx rings (synced by the caller) into the pipes, and txsync the pipes. */
  run(burst: number): number {
    const pipes = this.pipes, cur = this.cur;
    for (let i = 0; i < pipes.length; i++) cur[i] = pipes[i]!.txRings[0]!.head;
    const rxs = this.port.rxRings;
    let moved = 0;
    this.blocked = false;
    for (let r = 0; r < rxs.length && moved < burst; r++) moved += this.ring(rxs[r]!, burst - moved);
    for (let i = 0; i < pipes.length; i++) {
      const tx = pipes[i]!.txRings[0]!;
      if (cur[i] !== tx.head) { tx.advance(cur[i]!); pipes[i]!.txsync(); }
    }
    return moved;
  }

  private ring(rx: Ring, limit: number): number {
    const u8 = this.port.u8, c = this.counters, pipes = this.pipes;
    // zero-copy: the common frames in one loop (one worker: no choice; several: one hash each)
    let n = this.bulk ? this.moveAll(rx, limit) : this.spread ? this.spreadAll(rx, limit) : 0;
    let j = rx.head, ahead = 0; // ahead: slots from j whose frames are touched
    const rt = rx.tail;
    while (j !== rt && n < limit) {
      if (ahead === 0) { // the next frames' first lines into the cache, many misses at once (Ring.touchFrames)
        let avail = rt - j;
        if (avail < 0) avail += rx.numSlots;
        ahead = avail < TOUCH_RUN ? avail : TOUCH_RUN;
        rx.touchFrames(j, ahead);
      }
      // the frame: slots j .. e (exclusive), a chain when NS_MOREFRAG is set
      let e = j, slots = 0, whole = false;
      while (e !== rt) {
        const more = rx.slotFlags(e) & NS_MOREFRAG;
        e = rx.next(e);
        slots++;
        if (!more) { whole = true; break; }
      }
      if (!whole) {
        if (slots < rx.numSlots - 1) break; // the rest of the chain is still to come
        c[SP.badChain]++; c[SP.received]++; j = e; n++; ahead = ahead > slots ? ahead - slots : 0; continue;
      }
      if (this.hold && !this.room(0, slots)) { this.blocked = true; break; } // (one worker: no ARP copies)
      c[SP.received]++;
      const len = Math.min(rx.len(j), rx.bufSize); // shared memory: never trusted past the buffer
      let w = this.pick(u8, rx.buf(j), len);
      if (w < 0) { // an ARP frame every worker gets: copies to workers 1.., the frame itself to 0
        for (let i = 1; i < pipes.length; i++) if (this.put(rx, j, slots, i, false)) { c[SP.arpCopies]++; }
        w = 0;
      }
      this.put(rx, j, slots, w, this.swap[w] === 1);
      j = e;
      n++;
      ahead = ahead > slots ? ahead - slots : 0;
    }
    rx.advance(j);
    return n;
  }

  /**
   * One worker and a shared region (`bulk`): pick() has no choice to make (every frame, ARP
   * included, goes to worker 0), so the frames are moved in one tight loop instead of frame by
   * frame: each rx slot's buffer swapped with the pipe's tx slot's (as Ring.swapIn), the
   * non-IP frames counted from their EtherType. The loop reads one word of each frame and
   * calls nothing, so the misses on frames another core wrote overlap (as Ring.touchFrames).
   * It stops at the first slot of a chain (NS_MOREFRAG: the frame-by-frame loop takes it), at
   * the pipe's last free slot (the loop then holds the rest) or after `limit` frames; it
   * advances the rx ring and returns the frames moved.
   */
  private moveAll(rx: Ring, limit: number): number {
    const tx = this.pipes[0]!.txRings[0]!;
    const u32 = rx.u32, u8 = rx.u8, rs = rx.slots, ts = tx.slots, rn = rx.numSlots, tn = tx.numSlots;
    const bufsOfs = rx.bufsOfs | 0, bufSize = rx.bufSize | 0;
    let j = rx.head, k = this.cur[0]!;
    const m = movableSlots(rx, j, tx, k, limit);
    let n = 0, nonIp = 0;
    for (; n < m; n++) {
      const a = rs + (j << 2), b = ts + (k << 2);
      const w = u32[a + 1]!; // len | flags << 16
      if (w & (NS_MOREFRAG << 16)) break;
      const idx = u32[a]!, len = w & 0xffff;
      // (a buffer index out of range reads undefined: counted as non-IP; the worker's checks refuse it)
      const o = bufsOfs + idx * bufSize;
      if (len < 14 || u8[o + 12] !== 0x08 || u8[o + 13] !== 0x00) nonIp++;
      swapSlotWords(u32, a, b, idx, len, 0);
      j = j + 1 === rn ? 0 : j + 1;
      k = k + 1 === tn ? 0 : k + 1;
    }
    if (n > 0) {
      this.cur[0] = k;
      this.toWorker[0] += n;
      this.counters[SP.received] += n;
      this.counters[SP.nonIp] += nonIp;
      rx.advance(j);
    }
    return n;
  }

  /**
   * Several workers, every pipe in the port's region (`spread`): the frames of one slot each in
   * one loop, after their first lines are touched (Ring.touchFrames): pick() chooses the worker,
   * the buffer is swapped into that pipe's next tx slot (as put() does), and a frame whose pipe
   * is full is dropped and counted there. Stops at the first chain or ARP frame for every
   * worker (the frame-by-frame loop takes them) or after `limit` frames; advances the rx ring
   * and returns the frames taken.
   */
  private spreadAll(rx: Ring, limit: number): number {
    const np = this.pipes.length, cur = this.cur, free = this.free, tslots = this.tslots, tnum = this.tnum;
    for (let w = 0; w < np; w++) free[w] = this.freeSlots(w);
    const u32 = rx.u32, u8 = rx.u8, rs = rx.slots, rn = rx.numSlots;
    const bufsOfs = rx.bufsOfs | 0, bufSize = rx.bufSize | 0;
    let j = rx.head;
    let m = rx.tail - j;
    if (m < 0) m += rn;
    if (m > limit) m = limit;
    if (m > TOUCH_RUN) m = TOUCH_RUN; // the frames touched below (the caller's loop goes on)
    rx.touchFrames(j, m);
    let n = 0, full = 0;
    for (; n < m; n++) {
      const a = rs + (j << 2);
      const word = u32[a + 1]!; // len | flags << 16
      if (word & (NS_MOREFRAG << 16)) break;
      const idx = u32[a]!, len = word & 0xffff;
      const w = this.pick(u8, bufsOfs + idx * bufSize, len < bufSize ? len : bufSize);
      if (w < 0) break;
      if (free[w] === 0) {
        this.pipeFull[w]++;
        full++;
      } else {
        const k = cur[w]!;
        swapSlotWords(u32, a, tslots[w]! + (k << 2), idx, len, 0);
        cur[w] = k + 1 === tnum[w] ? 0 : k + 1;
        free[w]--;
        this.toWorker[w]++;
      }
      j = j + 1 === rn ? 0 : j + 1;
    }
    if (n > 0) {
      this.counters[SP.received] += n;
      this.counters[SP.pipeFull] += full;
      rx.advance(j);
    }
    return n;
  }

  /** Free tx slots of pipe w this round: from the next one to fill to its tail. */
  private freeSlots(w: number): number {
    const tx = this.pipes[w]!.txRings[0]!;
    const free = tx.tail - this.cur[w]!;
    return free < 0 ? free + tx.numSlots : free;
  }

  /** Whether pipe w has room for `slots` more slots this round. */
  private room(w: number, slots: number): boolean {
    return this.freeSlots(w) >= slots;
  }

  /** Put the frame at rx slots j.. (`slots` of them) into pipe w: swapped or copied; false (counted) when full. */
  private put(rx: Ring, j: number, slots: number, w: number, swap: boolean): boolean {
    const tx = this.pipes[w]!.txRings[0]!;
    let k = this.cur[w]!;
    if (!this.room(w, slots)) {
      this.pipeFull[w]++;
      this.counters[SP.pipeFull]++;
      return false;
    }
    const sf = this.port.region.f64, df = tx.region.f64;
    for (let s = 0; s < slots; s++) {
      if (swap) tx.swapIn(k, rx, j);
      else {
        const len = Math.min(rx.len(j), rx.bufSize, tx.bufSize);
        copyWords(sf, rx.buf(j), df, tx.buf(k), len);
        tx.setLen(k, len);
        tx.setSlotFlags(k, rx.slotFlags(j) & NS_MOREFRAG);
      }
      j = rx.next(j);
      k = tx.next(k);
    }
    this.cur[w] = k;
    this.toWorker[w]++;
    return true;
  }
}

function rd32(u8: Uint8Array, o: number): number {
  return ((u8[o]! << 24) | (u8[o + 1]! << 16) | (u8[o + 2]! << 8) | u8[o + 3]!) >>> 0;
}
