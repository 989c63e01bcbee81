// One AF_XDP socket bound to one queue of an interface, with its four rings mapped: the UMEM's
// fill and completion rings and the socket's rx and tx rings. Ring words (producer, consumer,
// flags, descriptors) are exposed as Uint32Array views so the port's sync code can read and
// write them with plain indexed accesses; addresses in UMEM stay below 4 GiB, so the high word
// of every 64-bit address is 0 and only the low word is used.
import { NetError, close, getsockopt, mmap, munmap, recvKick, setsockopt, type Mapping } from './net.js';
import * as K from './kernel-abi.js';
import {
  xskBind, xskKick, xskMmapOffsets, xskRegisterUmem, xskRingSize, xskSocket, xskStatistics, type RingOffsets, type XskStatistics,
} from './xdp.js';

/** A mapped AF_XDP ring. Indices are into `w` (32-bit words). */
export class XskRing {
  readonly w: Uint32Array;
  readonly prod: number;
  readonly cons: number;
  readonly flags: number;
  /** word index of descriptor 0 */
  readonly desc: number;
  readonly mask: number;
  readonly entries: number;
  /** producer index kept locally (for rings we produce) / consumer index (rings we consume) */
  local = 0;
  constructor(readonly mapping: Mapping, off: RingOffsets, entries: number) {
    this.w = new Uint32Array(mapping.buffer);
    this.prod = off.producer >> 2;
    this.cons = off.consumer >> 2;
    this.flags = off.flags >> 2;
    this.desc = off.desc >> 2;
    this.entries = entries;
    this.mask = entries - 1;
  }
}

export interface XskOptions {
  ifname: string;
  ifindex: number;
  queue: number;
  /** UMEM: address and length (a multiple of chunkSize), chunk size 2048 or 4096 */
  umemAddr: bigint;
  umemLen: number;
  chunkSize: number;
  /** entries of each ring (powers of two) */
  rxEntries: number;
  txEntries: number;
  fillEntries: number;
  compEntries: number;
  /** 'copy', 'zerocopy' or 'auto' (zero-copy where the driver offers it) */
  bindMode: 'copy' | 'zerocopy' | 'auto';
}

const descMapSize = (off: RingOffsets, entries: number, descBytes: number): number => off.desc + entries * descBytes;

export class XskSocket {
  readonly fd: number;
  readonly rx: XskRing;
  readonly tx: XskRing;
  readonly fill: XskRing;
  readonly comp: XskRing;
  readonly zeroCopy: boolean;
  private closed = false;
  private readonly maps: Mapping[] = [];

  constructor(readonly o: XskOptions) {
    const name = o.ifname;
    this.fd = xskSocket(name);
    try {
      try {
        xskRegisterUmem(this.fd, o.umemAddr, o.umemLen, o.chunkSize, 0, 0, name);
      } catch (e) {
        // without CAP_IPC_LOCK the kernel charges the UMEM to RLIMIT_MEMLOCK (once per socket, so per queue)
        if (e instanceof NetError && e.errno === K.ENOBUFS) {
          throw new NetError('setsockopt', 'XDP_UMEM_REG', name, e.errno, `: the UMEM (${(o.umemLen / 1048576).toFixed(1)} MiB for queue ${o.queue}) does not fit the locked-memory limit (ulimit -l); raise it, or grant CAP_IPC_LOCK`);
        }
        throw e;
      }
      xskRingSize(this.fd, K.XDP_UMEM_FILL_RING, o.fillEntries, name);
      xskRingSize(this.fd, K.XDP_UMEM_COMPLETION_RING, o.compEntries, name);
      xskRingSize(this.fd, K.XDP_RX_RING, o.rxEntries, name);
      xskRingSize(this.fd, K.XDP_TX_RING, o.txEntries, name);
      const off = xskMmapOffsets(this.fd, name);
      const map = (pgoff: number, r: RingOffsets, entries: number, bytes: number, what: string): XskRing => {
        const m = mmap(this.fd, descMapSize(r, entries, bytes), pgoff, what, name);
        this.maps.push(m);
        return new XskRing(m, r, entries);
      };
      this.fill = map(K.XDP_UMEM_PGOFF_FILL_RING, off.fr, o.fillEntries, 8, 'fill ring');
      this.comp = map(K.XDP_UMEM_PGOFF_COMPLETION_RING, off.cr, o.compEntries, 8, 'completion ring');
      this.rx = map(K.XDP_PGOFF_RX_RING, off.rx, o.rxEntries, K.xdp_desc.size, 'rx ring');
      this.tx = map(K.XDP_PGOFF_TX_RING, off.tx, o.txEntries, K.xdp_desc.size, 'tx ring');
      this.bind(o);
      const opt = new Uint8Array(K.xdp_options.size);
      getsockopt(this.fd, K.SOL_XDP, K.XDP_OPTIONS, opt, name);
      this.zeroCopy = (opt[0] & K.XDP_OPTIONS_ZEROCOPY) !== 0;
      this.raiseTxBudget(o.txEntries);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private bind(o: XskOptions): void {
    const base = K.XDP_USE_NEED_WAKEUP;
    if (o.bindMode === 'copy') return xskBind(this.fd, o.ifindex, o.queue, base | K.XDP_COPY, 0, o.ifname);
    if (o.bindMode === 'zerocopy') return xskBind(this.fd, o.ifindex, o.queue, base | K.XDP_ZEROCOPY, 0, o.ifname);
    // no mode flag: the kernel tries zero-copy and falls back to copy by itself
    xskBind(this.fd, o.ifindex, o.queue, base, 0, o.ifname);
  }

  /**
   * In copy mode one sendto() transmits at most 32 frames unless the socket's budget is
   * raised (XDP_MAX_TX_SKB_BUDGET, Linux 6.17+; option 9 of SOL_XDP, absent from older
   * headers). Where the kernel does not know the option, the port simply kicks again.
   */
  private raiseTxBudget(entries: number): void {
    try {
      setsockopt(this.fd, K.SOL_XDP, XDP_MAX_TX_SKB_BUDGET, entries, this.o.ifname);
      this.txBudget = entries;
    } catch (e) {
      if (!(e instanceof NetError)) throw e;
    }
  }
  /** frames one kick can transmit in copy mode */
  txBudget = 32;

  /** sendto(MSG_DONTWAIT): make the kernel transmit; false if it was busy (retry later). */
  kickTx(): boolean {
    return xskKick(this.fd, this.o.ifname);
  }

  /** recvfrom(MSG_DONTWAIT): wake the driver to refill from the fill ring (need-wakeup). */
  kickRx(): void {
    recvKick(this.fd);
  }

  statistics(): XskStatistics {
    return xskStatistics(this.fd, this.o.ifname);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const m of this.maps) munmap(m.addr, m.size);
    close(this.fd);
  }
}

/** SOL_XDP option 9 (Linux 6.17+): frames one copy-mode sendto() may transmit. */
export const XDP_MAX_TX_SKB_BUDGET = 9;
