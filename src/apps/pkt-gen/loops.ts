// pkt-gen's data loops. Each runs on one open port in one thread, moves packets in batches
// with one sync per batch, allocates nothing per packet, and publishes counters in its row
// of the shared stats array. They are plain functions so tests can call them in-thread.
import { NS_MOREFRAG, POLLIN, POLLOUT } from '../../core/constants.js';
import type { Port } from '../../core/port.js';
import type { Ring } from '../../core/ring.js';
import { FullDestinationWatch, parseFullPolicy } from '../common/full-destination.js';
import { hexdump } from '../../packet/hexdump.js';
import { readPingNsec, readPingSec, readSeq, seqOffset, swapForPong, UdpFrameTemplate, writePingStamp } from '../../packet/frame-builder.js';
import { log2Bucket } from './report.js';
import { C, HIST, S } from './shared.js';
import { fillFixed, fillFragments, fillFrames, TxState, writeFrame } from './tx-fill.js';

export interface LoopConfig {
  fn: 'tx' | 'rx' | 'ping' | 'pong' | 'txseq' | 'rxseq';
  count: number; // 0 = forever
  burst: number;
  rate: number; // pps for this thread, 0 = unlimited
  /** --on-full policy text (none, yield, sleep:US): what tx does after a sync that found a destination full. */
  onFull: string;
  frame: Uint8Array; // template frame (tx, ping)
  frameLen: number;
  frameLenMin: number; // < frameLen: random sizes in [frameLenMin, frameLen)
  template: UdpFrameTemplate | null; // null when the frame came from a pcap file
  randomSrc: boolean;
  randomDst: boolean;
  frags: number;
  fragSize: number;
  vhdr: number; // virtio-net header bytes before the frame
  /** VLAN tag bytes after the MACs (--vlan): the template's edits start vhdr + tagLen in. */
  tagLen?: number;
  /** Size mix (-l imix): wire lengths (without vhdr) sent in turn, cycling; absent = none. */
  sizes?: Uint32Array | null;
  rubbish: boolean;
  /** -o 4 / -o 8: copy the frame into every buffer sent (a byte loop / TypedArray.set); 0 or absent = no. */
  copyMode?: 0 | 4 | 8;
  dump: boolean;
  exitOnIdle: boolean;
  family: 4 | 6;
  reportMs: number;
}

/**
 * Where a loop counts and what stops it. A class, not an object literal, and that matters:
 * V8 builds every literal of one shape on the shape's final map and then stores its values,
 * so a second literal `{ stats, row, ctrl, log }` with other values than the first counts as
 * overwriting "constant" fields and throws away all code compiled against the first — the
 * warm-up's (warm-up.ts). The loops then ran their first milliseconds unoptimized, while V8
 * recompiled them on the CPU the peer process needs (measured: rxLoop, txLoop recompiled at
 * the go). A constructor adds the fields one by one, and a second instance changes nothing.
 */
export class LoopIo {
  constructor(
    readonly stats: Float64Array,
    /** Index of this thread's row in stats. */
    readonly row: number,
    readonly ctrl: Int32Array,
    readonly log: (line: string) => void,
  ) {}
}

const clock = performance; // a lazy global getter in Node: look it up once
const now = (): number => clock.now();
const stopped = (io: LoopIo): boolean => Atomics.load(io.ctrl, C.stop) !== 0;

/**
 * A paced sender sleeps through a wait longer than SLEEP_OVER_MS, waking WAKE_EARLY_MS before
 * its time and spinning the rest (a futex timeout lands within tens of µs on an idle CPU).
 * Spinning through every wait, as netmap's pkt-gen does, kept a whole core busy at any rate,
 * and on a 2-core machine that core is one the receiver needs: netmap's first experiment at
 * -R 2000000 (issue #9) lost 8.7-44.6 k of 2 M frames with the spin (median 32.5 k) and
 * 2.1-22.0 k sleeping (median 11.8 k), six interleaved pairs, at the same sender rate
 * (1.92-1.95 Mpps both).
 */
const SLEEP_OVER_MS = 0.12, WAKE_EARLY_MS = 0.1;

/** Sleep, then spin, until time t (ms). */
function waitUntil(t: number, ctrl: Int32Array): void {
  for (;;) {
    const left = t - now();
    if (left <= 0 || Atomics.load(ctrl, C.stop)) return;
    if (left > SLEEP_OVER_MS) Atomics.wait(ctrl, 7, 0, left - WAKE_EARLY_MS);
  }
}

/** Fill every tx buffer with the template (pkt-gen does this once, then re-copies only on NS_BUF_CHANGED). */
function prefill(port: Port, cfg: LoopConfig): void {
  if (cfg.rubbish) return;
  for (const r of port.txRings) {
    for (let i = 0; i < r.numSlots; i++) writeFrame(port.u8, r.buf(i), cfg);
  }
}

/** Bit of NS_MOREFRAG in a slot word (len | flags << 16). */
const MOREFRAG_SHIFT = 21;
if (NS_MOREFRAG << 16 !== 1 << MOREFRAG_SHIFT) throw new Error('loops: NS_MOREFRAG bit');

const FILL_FIXED = 0, FILL_FRAMES = 1, FILL_FRAGMENTS = 2;

export function txLoop(port: Port, cfg: LoopConfig, io: LoopIo): void {
  const { stats, ctrl } = io;
  const row = io.row;
  const u8 = port.u8, rings = port.txRings, nr = rings.length;
  const seq = cfg.fn === 'txseq';
  const dynamic = cfg.template !== null && (cfg.template.hasRange || cfg.randomSrc || cfg.randomDst);
  const randLen = cfg.frameLenMin < cfg.frameLen || (cfg.sizes != null && cfg.sizes.length > 0);
  const wireLen = cfg.frameLen + cfg.vhdr;
  // the path (tx-fill.ts) is chosen once: the batch loop below stays monomorphic
  const path = cfg.frags > 1 ? FILL_FRAGMENTS
    : !dynamic && !randLen && !seq && !cfg.dump && !cfg.rubbish && !cfg.copyMode ? FILL_FIXED : FILL_FRAMES;
  const st = new TxState();
  const full = new FullDestinationWatch(parseFullPolicy(cfg.onFull, '--on-full'));
  const giveWay = full.policy.kind !== 0;
  prefill(port, cfg);
  let burst = cfg.burst;
  let period = 0, next = 0;
  if (cfg.rate > 0) {
    burst = Math.max(1, Math.min(burst, Math.floor(cfg.rate / 300) || 1));
    period = (burst * 1000) / cfg.rate;
  }
  const limited = cfg.count > 0;
  let remaining = limited ? cfg.count : 1; // only decremented when limited
  let events = 0;
  stats[row + S.start] = now();
  next = now();
  while (remaining > 0 && !stopped(io)) {
    if (period) {
      next += period;
      // a sender that fell behind (a stall: CPU taken, code not yet optimized) resumes at the
      // rate from now on instead of catching up at full speed: a catch-up burst of thousands
      // of frames overflows a receiver that stalled too. -R is a ceiling, never exceeded over
      // more than two bursts
      const late = now() - next;
      if (late > 2 * period) next += late - 2 * period;
      waitUntil(next, ctrl);
    }
    if (port.busyWait) port.txsync();
    else if (port.poll(POLLOUT, 200) === 0) continue;
    // a destination was full: give way before the next batch (apps/common/full-destination.ts)
    if (giveWay && full.noteSync()) full.giveWay();
    let sent = 0, bytes = 0; // this batch
    for (let ri = 0; ri < nr && remaining > 0; ri++) {
      const r = rings[ri];
      let todo = burst - sent;
      if (limited && remaining < todo) todo = remaining;
      const k = path === FILL_FIXED ? fillFixed(r, u8, cfg, todo, wireLen, st)
        : path === FILL_FRAMES ? fillFrames(r, u8, cfg, todo, wireLen, st, io.log)
        : fillFragments(r, u8, cfg, todo, wireLen, st);
      sent += k;
      bytes += st.bytes;
      if (limited) remaining -= k;
    }
    if (sent) {
      events++;
      stats[row + S.pkts] += sent;
      stats[row + S.bytes] += bytes;
      stats[row + S.events] = events;
    }
  }
  // push what is queued and wait (bounded) for the rings to drain, as pkt-gen does
  port.txsync();
  const deadline = now() + 1000;
  while (now() < deadline && !stopped(io)) {
    let pending = false;
    for (let ri = 0; ri < nr; ri++) if (rings[ri].txPending()) pending = true;
    if (!pending) break;
    port.poll(POLLOUT, 10);
  }
  stats[row + S.end] = now();
}

/** What countFrames() adds up besides the frames. */
export class RxTally {
  /** bytes of the slots counted */
  bytes = 0;
}

/**
 * Take `take` slots from rx ring r's head (take <= the slots the user owns) and count them:
 * returns the frames they end (a slot with NS_MOREFRAG continues a frame), their bytes go to
 * `t.bytes`; head and cur move past them. One load per slot over the one or two contiguous
 * pieces of [head, head + take), so that the loop has no wrap-around test.
 */
export function countFrames(r: Ring, take: number, t: RxTally): number {
  const u32 = r.u32, slots = r.slots, n = r.numSlots;
  const h = r.head;
  let e = h + take;
  if (e >= n) e -= n;
  let bytes = 0, more = 0;
  for (let a = h, b = e >= h ? e : n; ; a = 0, b = e) {
    let i = slots + (a << 2) + 1;
    const end = slots + (b << 2);
    for (; i + 16 <= end; i += 16) { // four slots a step
      const w0 = u32[i], w1 = u32[i + 4], w2 = u32[i + 8], w3 = u32[i + 12];
      bytes += (w0 & 0xffff) + (w1 & 0xffff) + (w2 & 0xffff) + (w3 & 0xffff);
      more += ((w0 >>> MOREFRAG_SHIFT) & 1) + ((w1 >>> MOREFRAG_SHIFT) & 1) + ((w2 >>> MOREFRAG_SHIFT) & 1) + ((w3 >>> MOREFRAG_SHIFT) & 1);
    }
    for (; i < end; i += 4) {
      const word = u32[i];
      bytes += word & 0xffff;
      more += (word >>> MOREFRAG_SHIFT) & 1;
    }
    if (b === e) break;
  }
  t.bytes = bytes;
  r.advance(e);
  return take - more;
}

export function rxLoop(port: Port, cfg: LoopConfig, io: LoopIo): void {
  const { stats } = io;
  const row = io.row;
  const u8 = port.u8, rings = port.rxRings, nr = rings.length;
  const rxseq = cfg.fn === 'rxseq';
  const fo = cfg.vhdr + (cfg.tagLen ?? 0); // where the template's layout starts
  const seqAt = seqOffset(cfg.family) + fo;
  const plain = !rxseq && !cfg.dump; // frames are only counted: countFrames()
  const tally = new RxTally();
  // per-packet variables stay small integers (a double mixed with ints gets boxed: one
  // allocation per packet); the -n budget is applied per batch
  const limited = cfg.count > 0;
  let remaining = limited ? cfg.count : 1;
  let events = 0, expect = -1, errors = 0, logged = 0, lastLog = 0;
  let lastRx = now();
  let minSpace = -1;
  for (let last = false; remaining > 0 && !last;) {
    // once stopped, one more pass without waiting: frames already in the ring were delivered
    // to this port and are counted as received, not left unaccounted for
    last = stopped(io);
    if (port.busyWait || last) port.rxsync();
    else if (port.poll(POLLIN, 200) === 0) {
      if (cfg.exitOnIdle && now() - lastRx > 1000) break;
      continue;
    }
    let got = 0, bb = 0; // this batch, small integers
    for (let ri = 0; ri < nr && (!limited || remaining > got); ri++) {
      const r = rings[ri];
      const u32 = r.u32, slots = r.slots, n = r.numSlots;
      let h = r.head;
      const t = r.tail;
      let avail = t - h;
      if (avail < 0) avail += n;
      if (avail === 0) continue;
      const free = n - 1 - avail;
      if (minSpace < 0 || free < minSpace) minSpace = free;
      let take = avail;
      if (limited && remaining - got < take) take = remaining - got;
      if (plain) {
        got += countFrames(r, take, tally);
        bb += tally.bytes;
        continue;
      }
      while (take > 0) {
        const s = slots + (h << 2);
        const word = u32[s + 1];
        const len = word & 0xffff;
        bb += len;
        if (!((word >>> 16) & NS_MOREFRAG)) {
          got++;
          if (rxseq) {
            const buf = r.bufsOfs + u32[s] * r.bufSize;
            const v = len >= seqAt + 4 ? readSeq(u8, buf + fo, cfg.family) : -1;
            if (expect >= 0 && v !== expect) {
              errors++;
              if (logged < 10 || now() - lastLog > 1000) {
                io.log(v > expect ? `Sequence GAP: exp ${expect} found ${v}` : `Sequence OUT OF ORDER: exp ${expect} found ${v}`);
                logged++;
                lastLog = now();
              }
            }
            expect = (v + 1) >>> 0;
          }
          if (cfg.dump) io.log(hexdump(u8, r.bufsOfs + u32[s] * r.bufSize, len, len, word >>> 16));
        }
        h = h + 1 === n ? 0 : h + 1;
        take--;
      }
      r.advance(h);
    }
    if (got) {
      if (stats[row + S.pkts] === 0) stats[row + S.start] = now();
      if (limited) remaining -= got;
      events++;
      if (cfg.exitOnIdle) lastRx = now();
      // totals live in the Float64Array: they pass 2^31 quickly and would be boxed as locals
      stats[row + S.pkts] += got;
      stats[row + S.bytes] += bb;
      stats[row + S.events] = events;
      stats[row + S.seqErrors] = errors;
      if (minSpace < stats[row + S.minSpace] || stats[row + S.minSpace] < 0) stats[row + S.minSpace] = minSpace;
      minSpace = -1;
    }
  }
  port.rxsync(); // hand the last slots back
  stats[row + S.end] = now();
}

/** ping: send `burst` stamped frames, wait for their echo, histogram the RTTs. */
export function pingLoop(port: Port, cfg: LoopConfig, io: LoopIo): void {
  const { stats, row } = io;
  const u8 = port.u8, tx = port.txRings[0], rx = port.rxRings[0];
  const hist = stats.length - HIST;
  const total = cfg.count > 0 ? cfg.count : Infinity;
  const fo = cfg.vhdr + (cfg.tagLen ?? 0);
  let sent = 0, pkts = 0, bytes = 0, events = 0, seq = 0;
  let rttCount = 0, rttMin = Infinity, rttSum = 0;
  stats[row + S.start] = now();
  while (sent < total && !stopped(io)) {
    // send a burst
    let h = tx.head, n = 0;
    while (n < cfg.burst && sent < total && tx.space() > n) {
      const buf = tx.buf(h);
      writeFrame(u8, buf, cfg);
      const t = performance.timeOrigin + now();
      writePingStamp(u8, buf + fo, seq++, Math.floor(t / 1000), Math.round((t % 1000) * 1e6), cfg.family);
      tx.setLen(h, cfg.frameLen + cfg.vhdr);
      tx.setSlotFlags(h, 0);
      h = tx.next(h);
      n++;
      sent++;
    }
    tx.advance(h);
    port.txsync();
    // collect replies for up to one second
    let replies = 0;
    const deadline = now() + 1000;
    while (replies < n && !stopped(io) && now() < deadline) {
      if (port.poll(POLLIN, Math.max(1, deadline - now())) === 0) break;
      let k = rx.head;
      const t = rx.tail;
      while (k !== t) {
        const buf = rx.buf(k);
        const len = rx.len(k);
        const nowNs = (performance.timeOrigin + now()) * 1e6;
        const sentNs = readPingSec(u8, buf + fo, cfg.family) * 1e9 + readPingNsec(u8, buf + fo, cfg.family);
        const rtt = Math.max(0, nowNs - sentNs);
        rttCount++;
        rttSum += rtt;
        if (rtt < rttMin) rttMin = rtt;
        stats[hist + log2Bucket(rtt)]++;
        pkts++;
        bytes += len;
        replies++;
        k = rx.next(k);
      }
      rx.advance(k);
      events++;
    }
    stats[row + S.pkts] = pkts;
    stats[row + S.bytes] = bytes;
    stats[row + S.events] = events;
    stats[row + S.rttCount] = rttCount;
    stats[row + S.rttMin] = rttMin;
    stats[row + S.rttSum] = rttSum;
    stats[row + S.drops] = sent - pkts;
  }
  stats[row + S.end] = now();
}

/** pong: echo every frame back with MACs, IPs and ports swapped (zero-copy buffer swap). */
export function pongLoop(port: Port, cfg: LoopConfig, io: LoopIo): void {
  const { stats, row } = io;
  const u8 = port.u8, tx: Ring = port.txRings[0], rx: Ring = port.rxRings[0];
  const total = cfg.count > 0 ? cfg.count : Infinity;
  let pkts = 0, bytes = 0, events = 0;
  while (pkts < total && !stopped(io)) {
    if (port.poll(POLLIN, 200) === 0) continue;
    let k = rx.head, h = tx.head, moved = 0;
    const t = rx.tail;
    let space = tx.space();
    while (k !== t && space > 0 && pkts < total) {
      const len = rx.len(k);
      tx.swapIn(h, rx, k); // the echo leaves without a copy
      swapForPong(u8, tx.buf(h) + cfg.vhdr, len - cfg.vhdr);
      bytes += len;
      pkts++;
      moved++;
      space--;
      k = rx.next(k);
      h = tx.next(h);
    }
    rx.advance(k);
    tx.advance(h);
    if (moved) {
      port.txsync();
      events++;
      if (stats[row + S.start] === 0) stats[row + S.start] = now();
      stats[row + S.pkts] = pkts;
      stats[row + S.bytes] = bytes;
      stats[row + S.events] = events;
    }
  }
  port.txsync();
  stats[row + S.end] = now();
}

export function runLoop(port: Port, cfg: LoopConfig, io: LoopIo): void {
  switch (cfg.fn) {
    case 'tx': case 'txseq': return txLoop(port, cfg, io);
    case 'rx': case 'rxseq': return rxLoop(port, cfg, io);
    case 'ping': return pingLoop(port, cfg, io);
    case 'pong': return pongLoop(port, cfg, io);
  }
}
