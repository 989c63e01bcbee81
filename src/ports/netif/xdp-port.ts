// netmap:IF over AF_XDP. The port's private region is the socket's UMEM: buffer k of the region
// is UMEM chunk k, and the UMEM starts 256 bytes (XDP_PACKET_HEADROOM) before buffer 0, so the
// kernel writes a received frame exactly at the start of buffer k and a transmitted buffer k is
// the descriptor (2048 k + 256). Frames therefore never move: a netmap slot just carries the
// chunk's index between the user and the kernel.
//
//   rx ring: released slots [hwcur, head) give their buffers to the fill ring; descriptors from
//            the socket's rx ring become slots at hwtail. The rx ring's buffers are either in a
//            user-owned slot or with the kernel, so none is ever lost or shared.
//   tx ring: slots [hwcur, head) become tx descriptors (one kick per sync in copy mode); each
//            completion hands a buffer back to the oldest in-flight slot and advances tail.
// With host rings (netmap:IF*), ring nq is the host ring pair: its syncs go to the TAP handler.
import { DEFAULT_SLOTS } from '../../core/constants.js';
import { RR } from '../../core/layout.js';
import type { PortSpec } from '../../core/portspec.js';
import { createPrivateRegion, type PrivateRegion } from '../../core/private-region.js';
import { portRing } from '../../core/records.js';
import { NetmapError } from '../../core/region.js';
import { badSlot, checkHeadCur, countRx, countTx, reinitRing } from '../../core/sync.js';
import { xskStatistics, XskRedirect, type XdpMode } from '../../sys/xdp.js';
import { XskSocket } from '../../sys/xsk.js';
import * as K from '../../sys/kernel-abi.js';
import { checkMtu, type InterfaceInfo } from './iface.js';
import { acquireRedirect, releaseRedirect } from './redirect-registry.js';
import { createKernelPortRecord, KernelPort, type HostRings, type InterfaceOpenOptions, type KernelDrops, type KernelPortInfo } from './kernel-port.js';

/** Where the kernel puts a received frame inside its chunk (XDP_PACKET_HEADROOM). */
export const XDP_HEADROOM = 256;
const CHUNK = 2048;
/** Largest frame an AF_XDP port moves: a chunk less the headroom. */
export const XDP_MAX_FRAME = CHUNK - XDP_HEADROOM;

const pow2 = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(n, 2)));

export class XdpPort extends KernelPort {
  /** socket of each queue, indexed by queue (= ring id); null for queues not bound */
  private readonly socks: (XskSocket | null)[];
  private readonly redirect: XskRedirect;
  private readonly ifindex: number;

  constructor(mem: PrivateRegion, rec: number, spec: PortSpec, rings: { tx: number[]; rx: number[] }, opts: InterfaceOpenOptions,
    socks: (XskSocket | null)[], redirect: XskRedirect, ifindex: number, info: KernelPortInfo, host: HostRings | null = null) {
    super(mem, rec, spec, rings, opts, socks.filter((s): s is XskSocket => s !== null).map((s) => s.fd), info,
      host ? { rings: host, index: socks.length } : null);
    this.socks = socks;
    this.redirect = redirect;
    this.ifindex = ifindex;
  }

  override get maxFrame(): number {
    return XDP_MAX_FRAME;
  }

  protected txsyncRing(t: number): void {
    if (t === this.hostTx) return this.host!.txsync(t);
    const region = this.region, u32 = region.u32;
    checkHeadCur(region, t, this.name);
    const sock = this.socks[region.u16[(t + RR.ringId) >> 1]]!;
    const n = u32[(t + RR.numSlots) >> 2], s = u32[(t + RR.slotsOfs) >> 2] >> 2;
    const head = u32[(t + RR.head) >> 2];
    let hwcur = u32[(t + RR.hwcur) >> 2];
    const tx = sock.tx, w = tx.w;
    if (hwcur !== head) {
      const nbufs = region.nbufs, max = this.maxFrame, mask = tx.mask, desc = tx.desc;
      let prod = tx.local, pkts = 0, bytes = 0;
      while (hwcur !== head) {
        const idx = u32[s + (hwcur << 2)], len = u32[s + (hwcur << 2) + 1] & 0xffff;
        if (idx < 2 || idx >= nbufs || len > max) this.badTxSlot(t, hwcur, idx, len);
        const d = desc + ((prod & mask) << 2);
        w[d] = idx * CHUNK + XDP_HEADROOM;
        w[d + 1] = 0;
        w[d + 2] = len;
        w[d + 3] = 0;
        prod = (prod + 1) >>> 0;
        pkts++;
        bytes += len;
        hwcur = hwcur + 1 === n ? 0 : hwcur + 1;
      }
      Atomics.store(w, tx.prod, prod);
      tx.local = prod;
      u32[(t + RR.hwcur) >> 2] = hwcur;
      countTx(region, t, pkts, bytes, 0);
    }
    // copy mode transmits only inside sendto(): kick while descriptors wait in the tx ring
    if (tx.local !== Atomics.load(w, tx.cons) && (w[tx.flags] & K.XDP_RING_NEED_WAKEUP) !== 0) sock.kickTx();
    const cq = sock.comp, cw = cq.w;
    let cons = cq.local;
    const cprod = Atomics.load(cw, cq.prod);
    if (cons !== cprod) {
      let hwtail = u32[(t + RR.hwtail) >> 2];
      while (cons !== cprod) {
        hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
        u32[s + (hwtail << 2)] = cw[cq.desc + ((cons & cq.mask) << 1)] >>> 11;
        cons = (cons + 1) >>> 0;
      }
      Atomics.store(cw, cq.cons, cons);
      cq.local = cons;
      u32[(t + RR.hwtail) >> 2] = hwtail;
    }
    u32[(t + RR.tail) >> 2] = u32[(t + RR.hwtail) >> 2];
  }

  protected rxsyncRing(r: number): void {
    if (r === this.hostRx) return this.host!.rxsync(r);
    const region = this.region, u32 = region.u32;
    checkHeadCur(region, r, this.name);
    const sock = this.socks[region.u16[(r + RR.ringId) >> 1]]!;
    const n = u32[(r + RR.numSlots) >> 2], s = u32[(r + RR.slotsOfs) >> 2] >> 2;
    const head = u32[(r + RR.head) >> 2];
    let hwcur = u32[(r + RR.hwcur) >> 2];
    if (hwcur !== head) {
      const fill = sock.fill, fw = fill.w, nbufs = region.nbufs;
      let prod = fill.local;
      while (hwcur !== head) {
        const idx = u32[s + (hwcur << 2)];
        if (idx < 2 || idx >= nbufs) badSlot(region, r, hwcur, this.name);
        const d = fill.desc + ((prod & fill.mask) << 1);
        fw[d] = idx * CHUNK;
        fw[d + 1] = 0;
        prod = (prod + 1) >>> 0;
        hwcur = hwcur + 1 === n ? 0 : hwcur + 1;
      }
      Atomics.store(fw, fill.prod, prod);
      fill.local = prod;
      u32[(r + RR.hwcur) >> 2] = hwcur;
      if ((fw[fill.flags] & K.XDP_RING_NEED_WAKEUP) !== 0) sock.kickRx();
    }
    const rx = sock.rx, w = rx.w;
    let cons = rx.local;
    const prod = Atomics.load(w, rx.prod);
    if (cons !== prod) {
      let hwtail = u32[(r + RR.hwtail) >> 2];
      const stop = hwcur === 0 ? n - 1 : hwcur - 1; // one slot always stays empty
      const u8 = region.u8, base = region.bufsOfs - XDP_HEADROOM;
      let pkts = 0, bytes = 0;
      while (cons !== prod && hwtail !== stop) {
        const d = rx.desc + ((cons & rx.mask) << 2);
        const addr = w[d], len = w[d + 2];
        const idx = addr >>> 11;
        // a frame elsewhere in its chunk (not produced by our program) is moved to the buffer start
        if ((addr & (CHUNK - 1)) !== XDP_HEADROOM) u8.copyWithin(base + idx * CHUNK + XDP_HEADROOM, base + addr, base + addr + len);
        u32[s + (hwtail << 2)] = idx;
        u32[s + (hwtail << 2) + 1] = len;
        pkts++;
        bytes += len;
        hwtail = hwtail + 1 === n ? 0 : hwtail + 1;
        cons = (cons + 1) >>> 0;
      }
      Atomics.store(w, rx.cons, cons);
      rx.local = cons;
      u32[(r + RR.hwtail) >> 2] = hwtail;
      countRx(region, r, pkts, bytes, 0);
    }
    u32[(r + RR.tail) >> 2] = u32[(r + RR.hwtail) >> 2];
  }

  private badTxSlot(t: number, k: number, idx: number, len: number): never {
    if (idx < 2 || idx >= this.region.nbufs) badSlot(this.region, t, k, this.name);
    reinitRing(this.region, t, `${this.name}: slot ${k}: len ${len} over ${this.maxFrame}, the largest frame AF_XDP moves in a 2048-byte buffer (256 bytes are the kernel's headroom)`);
  }

  /** XDP_STATISTICS of every bound queue, summed. */
  xdpStatistics(): ReturnType<typeof xskStatistics> {
    const sum = { rxDropped: 0, rxInvalidDescs: 0, txInvalidDescs: 0, rxRingFull: 0, rxFillRingEmptyDescs: 0, txRingEmptyDescs: 0 };
    for (const s of this.socks) {
      if (!s) continue;
      const st = s.statistics();
      for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += st[k];
    }
    return sum;
  }

  override kernelDrops(): KernelDrops {
    const s = this.xdpStatistics();
    return { rxRingFull: s.rxRingFull, rxOther: s.rxDropped + s.rxInvalidDescs, txInvalid: s.txInvalidDescs, host: this.hostDrops() };
  }

  protected kernelCounters(): { rxDrops: number; txDrops: number } {
    const s = this.xdpStatistics();
    return { rxDrops: s.rxDropped + s.rxRingFull, txDrops: s.txInvalidDescs };
  }

  protected closeKernel(): void {
    this.socks.forEach((s, q) => {
      if (!s) return;
      try { this.redirect.clearSocket(q); } catch { /* the program may already be gone */ }
      s.close();
    });
    releaseRedirect(this.ifindex, this.redirect);
  }
}

/**
 * Open netmap:IF (all queues) or netmap:IF-N (queue N) over AF_XDP; with `host`, netmap:IF*: ring
 * pair nq is the host rings (their buffers are region buffers like any other, never the kernel's).
 */
/**
 * Buffers each queue's fill ring holds: beyond the rx ring, a burst waits in the socket's rx ring
 * while the receiver is late instead of being dropped. rxSlots - 1 frames last only 2 ms at
 * 0.5 Mpps, less than a scheduling delay on a busy machine; 16384 per queue last 35 ms. About
 * 32768 buffers (64 MiB of UMEM) per port, spread over its queues, and at least 4x the ring.
 */
export function fillEntriesFor(rxSlots: number, queues: number): number {
  return Math.max(pow2(rxSlots * 4), Math.min(16384, pow2(Math.ceil(32768 / Math.max(1, queues)))));
}

function queueCount(rings: { tx: number[]; rx: number[] }, nq: number): number {
  return new Set([...rings.tx, ...rings.rx].filter((q) => q < nq)).size;
}

export function openXdpPort(spec: PortSpec, opts: InterfaceOpenOptions, info: InterfaceInfo, rings: { tx: number[]; rx: number[] }, nq: number,
  host: HostRings | null = null): XdpPort {
  checkMtu(spec.raw, info, XDP_MAX_FRAME, 'AF_XDP: 2048-byte chunks less 256 bytes of kernel headroom');
  const txSlots = opts.txSlots ?? DEFAULT_SLOTS, rxSlots = opts.rxSlots ?? DEFAULT_SLOTS;
  const queues = [...new Set([...rings.tx, ...rings.rx])].filter((q) => q < nq).sort((a, b) => a - b);
  const nr = host ? nq + 1 : nq;
  const fillEntries = fillEntriesFor(rxSlots, queueCount(rings, nq));
  const kernelExtra = fillEntries - rxSlots;
  const mem = createPrivateRegion(nr * (txSlots + rxSlots) + queueCount(rings, nq) * kernelExtra + (opts.extraBufs ?? 0), XDP_HEADROOM, `${spec.name} UMEM`);
  const region = mem.region;
  if (region.bufSize !== CHUNK) throw new NetmapError('EINVAL', `${spec.raw}: AF_XDP needs 2048-byte buffers`);
  const socks: (XskSocket | null)[] = new Array(nq).fill(null);
  let redirect: XskRedirect | null = null;
  try {
    const rec = createKernelPortRecord(region, nr, txSlots, rxSlots);
    redirect = acquireRedirect(info.name, info.index, Math.max(info.rxQueues, info.txQueues), opts.xdpAttach ?? (process.env.NMTS_XDP_MODE as XdpMode | undefined) ?? 'auto');
    const umemAddr = region.addr + BigInt(region.bufsOfs - XDP_HEADROOM);
    const umemLen = region.nbufs * CHUNK;
    const bindMode = opts.xdpBind ?? (process.env.NMTS_XDP_BIND as 'copy' | 'zerocopy' | undefined) ?? 'auto';
    for (const q of queues) {
      const sock = new XskSocket({
        ifname: info.name, ifindex: info.index, queue: q, umemAddr, umemLen, chunkSize: CHUNK,
        rxEntries: fillEntries, txEntries: pow2(txSlots), fillEntries, compEntries: pow2(txSlots), bindMode,
      });
      socks[q] = sock;
      // every buffer of the rx ring starts with the kernel
      const ringOfs = portRing(region, rec, true, q);
      const s = region.u32[(ringOfs + RR.slotsOfs) >> 2] >> 2;
      const fill = sock.fill;
      region.lockConfig();
      try {
        for (let k = 0; k < fillEntries; k++) {
          const idx = k < rxSlots ? region.u32[s + (k << 2)] : region.allocBuf();
          if (idx === 0) throw new NetmapError('ENOMEM', `${spec.raw}: out of buffers for the fill ring`);
          const d = fill.desc + (k << 1);
          fill.w[d] = idx * CHUNK;
          fill.w[d + 1] = 0;
        }
      } finally {
        region.unlockConfig();
      }
      fill.local = fillEntries;
      Atomics.store(fill.w, fill.prod, fillEntries);
      redirect.setSocket(q, sock.fd);
    }
    const first = socks.find((x) => x !== null)!;
    const program = redirect.joined ? 'the XDP program of another netmap-ts process' : `${redirect.mode} XDP`;
    const detail = `${program}, ${first.zeroCopy ? 'zero-copy' : 'copy'} mode, queue${queues.length > 1 ? 's' : ''} ${queues.join(',')}`;
    const port = new XdpPort(mem, rec, spec, rings, opts, socks, redirect, info.index, { backend: 'af_xdp', detail, fallbackReason: '', warnings: [] }, host);
    return port.bindOpener();
  } catch (e) {
    for (const s of socks) s?.close();
    if (redirect) releaseRedirect(info.index, redirect);
    mem.release();
    throw e;
  }
}
