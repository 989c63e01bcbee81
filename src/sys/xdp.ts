// XDP and AF_XDP plumbing: the 6-instruction "redirect to XSKMAP" program emitted from TypeScript,
// attached with a BPF link (native mode first, generic/skb mode as the fallback; the link, and so
// the program, goes away when its fd closes, including when the process dies), and the AF_XDP
// socket calls (UMEM registration, ring sizes, mmap offsets, bind, statistics, kicks).
import { close } from './libc.js';
import { NetError, socket, setsockopt, getsockopt, bind, sendto, ifIndex } from './net.js';
import {
  Asm, createMap, linkCreate, linkFdById, linkInfo, loadProgram, mapDeleteU32, mapFdById, mapUpdateU32, nextLinkId, progFdById, progInfo, progMapIds,
} from './bpf.js';
import * as K from './kernel-abi.js';

/**
 * `return bpf_redirect_map(&xskmap, ctx->rx_queue_index, fallback)`: 6 instructions, 48 bytes.
 * For kernels > 5.3 the low bits of the flags are the action taken when the queue has no socket.
 */
export function redirectProgram(mapFd: number, fallback: number = K.XDP_PASS): Uint8Array {
  return new Asm()
    .ldxw(K.BPF_REG_2, K.BPF_REG_1, K.xdp_md.rx_queue_index)
    .ldMapFd(K.BPF_REG_1, mapFd)
    .movImm(K.BPF_REG_3, fallback)
    .call(K.BPF_FUNC_redirect_map)
    .exit()
    .build();
}

/** An XSKMAP with one slot per queue. */
export function createXskMap(queues: number, name = 'nmts_xsks'): number {
  return createMap({ type: K.BPF_MAP_TYPE_XSKMAP, keySize: 4, valueSize: 4, maxEntries: queues, name });
}

/** Load the redirect program for `mapFd` (verifier log in the error if the kernel refuses it). */
/** The name our redirect program is loaded with (how another process recognises it). */
export const REDIRECT_PROGRAM_NAME = 'nmts_xsk_redir';

export function loadRedirectProgram(mapFd: number, fallback: number = K.XDP_PASS, name = REDIRECT_PROGRAM_NAME): number {
  return loadProgram({ type: K.BPF_PROG_TYPE_XDP, insns: redirectProgram(mapFd, fallback), name, license: 'GPL', expectedAttachType: K.BPF_XDP });
}

export type XdpMode = 'native' | 'generic';
const MODE_FLAGS: Record<XdpMode, number> = { native: K.XDP_FLAGS_DRV_MODE, generic: K.XDP_FLAGS_SKB_MODE };
/** Errors after which native mode is not retried in generic mode: the interface or the caller is the problem. */
const NO_FALLBACK = new Set([K.EBUSY, K.EEXIST, K.EPERM, K.ENODEV, K.EBADF]);

/** An XDP program attached to an interface through a BPF link. */
export class XdpLink {
  constructor(readonly fd: number, readonly ifname: string, readonly ifindex: number, readonly mode: XdpMode, readonly progId: number) {}
  private closed = false;
  /** Close the link fd: the kernel detaches the program. */
  detach(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd);
  }
}

/**
 * Attach an XDP program to `ifname` with BPF_LINK_CREATE. mode 'auto' tries native (driver) mode
 * first and falls back to generic (skb) mode; the XdpLink says which one took.
 */
export function attachXdp(progFd: number, ifname: string, mode: XdpMode | 'auto' = 'auto'): XdpLink {
  const ifindex = ifIndex(ifname);
  const tries: XdpMode[] = mode === 'auto' ? ['native', 'generic'] : [mode];
  let first: NetError | null = null;
  for (const m of tries) {
    try {
      const fd = linkCreate(progFd, ifindex, K.BPF_XDP, MODE_FLAGS[m], `${ifname} ${m}`);
      return new XdpLink(fd, ifname, ifindex, m, progInfo(progFd).id);
    } catch (e) {
      if (!(e instanceof NetError)) throw e;
      if (first === null) first = e;
      if (NO_FALLBACK.has(e.errno)) break;
      if (m !== tries[tries.length - 1]) continue;
      if (first !== e) throw new NetError('bpf', 'BPF_LINK_CREATE', `${ifname} generic`, e.errno, `; native mode: ${first.code} (${first.message})`);
    }
  }
  throw first!;
}

/** The whole receive side in the kernel: an XSKMAP, the redirect program, attached to ifname. */
export class XskRedirect {
  readonly mapFd: number;
  readonly progFd: number;
  readonly link: XdpLink;
  constructor(readonly ifname: string, queues: number, mode: XdpMode | 'auto' = 'auto') {
    this.mapFd = createXskMap(queues);
    try {
      this.progFd = loadRedirectProgram(this.mapFd);
      try {
        this.link = attachXdp(this.progFd, ifname, mode);
      } catch (e) {
        close(this.progFd);
        throw e;
      }
    } catch (e) {
      close(this.mapFd);
      throw e;
    }
  }
  get mode(): XdpMode {
    return this.link.mode;
  }
  /**
   * The same program seen from another thread of the process: its descriptors (which belong to
   * the process) recorded by the thread that attached it.
   */
  static adopt(ifname: string, ifindex: number, mapFd: number, progFd: number, linkFd: number, mode: XdpMode, progId: number, joined = false): XskRedirect {
    const r = Object.create(XskRedirect.prototype) as { -readonly [K in keyof XskRedirect]: XskRedirect[K] };
    r.ifname = ifname;
    r.mapFd = mapFd;
    r.progFd = progFd;
    r.link = new XdpLink(linkFd, ifname, ifindex, mode, progId);
    r.joined = joined;
    return r as XskRedirect;
  }

  /**
   * Join the redirect program another process attached to the interface: find its XDP link,
   * and take descriptors of the link, the program and its XSKMAP. Holding the link keeps the
   * program attached after that process is gone. Null when the interface's program is not
   * ours, or when finding it is not allowed (getting a link by id needs CAP_SYS_ADMIN).
   */
  static join(ifname: string, ifindex: number): XskRedirect | null {
    try {
      for (let id = nextLinkId(0); id !== 0; id = nextLinkId(id)) {
        let linkFd: number;
        try { linkFd = linkFdById(id); } catch { continue; } // gone meanwhile
        let kept = false;
        try {
          const li = linkInfo(linkFd);
          if (li.type !== K.BPF_LINK_TYPE_XDP || li.ifindex !== ifindex) continue;
          const progFd = progFdById(li.progId);
          try {
            const maps = progMapIds(progFd);
            if (progInfo(progFd).name !== REDIRECT_PROGRAM_NAME || maps.length !== 1) return null;
            const r = XskRedirect.adopt(ifname, ifindex, mapFdById(maps[0]), progFd, linkFd, 'native', li.progId, true);
            kept = true;
            return r;
          } finally {
            if (!kept) close(progFd);
          }
        } finally {
          if (!kept) close(linkFd);
        }
      }
    } catch (e) {
      if (!(e instanceof NetError)) throw e;
    }
    return null;
  }

  /** True when the program is another process's (joined), not attached by this one. */
  joined = false;
  /** Steer packets of `queue` to the (bound) AF_XDP socket `xskFd`. */
  setSocket(queue: number, xskFd: number): void {
    mapUpdateU32(this.mapFd, queue, xskFd, K.BPF_ANY, `${this.ifname} queue ${queue}`);
  }
  clearSocket(queue: number): void {
    mapDeleteU32(this.mapFd, queue, `${this.ifname} queue ${queue}`);
  }
  close(): void {
    this.link.detach();
    close(this.progFd);
    close(this.mapFd);
  }
}

// ---- AF_XDP sockets ----

export function xskSocket(ifname = ''): number {
  return socket(K.AF_XDP, K.SOCK_RAW, 0, ifname);
}

/** XDP_UMEM_REG: register `len` bytes at `addr` as the socket's UMEM, in chunks (frames) of chunkSize. */
export function xskRegisterUmem(fd: number, addr: bigint, len: number, chunkSize: number, headroom = 0, flags = 0, ifname = ''): void {
  const b = Buffer.alloc(K.xdp_umem_reg.size);
  b.writeBigUInt64LE(addr, K.xdp_umem_reg.addr);
  b.writeBigUInt64LE(BigInt(len), K.xdp_umem_reg.len);
  b.writeUInt32LE(chunkSize, K.xdp_umem_reg.chunk_size);
  b.writeUInt32LE(headroom, K.xdp_umem_reg.headroom);
  b.writeUInt32LE(flags, K.xdp_umem_reg.flags);
  setsockopt(fd, K.SOL_XDP, K.XDP_UMEM_REG, b, ifname);
}

/** Size one ring: opt is XDP_RX_RING, XDP_TX_RING, XDP_UMEM_FILL_RING or XDP_UMEM_COMPLETION_RING (entries: a power of 2). */
export function xskRingSize(fd: number, opt: number, entries: number, ifname = ''): void {
  setsockopt(fd, K.SOL_XDP, opt, entries, ifname);
}

export interface RingOffsets { producer: number; consumer: number; desc: number; flags: number }
export interface XskOffsets { rx: RingOffsets; tx: RingOffsets; fr: RingOffsets; cr: RingOffsets }

/** XDP_MMAP_OFFSETS: where producer, consumer, flags and descriptors lie in each ring's mapping. */
export function xskMmapOffsets(fd: number, ifname = ''): XskOffsets {
  const b = Buffer.alloc(K.xdp_mmap_offsets.size);
  const n = getsockopt(fd, K.SOL_XDP, K.XDP_MMAP_OFFSETS, b, ifname);
  if (n !== b.length) throw new NetError('getsockopt', 'XDP_MMAP_OFFSETS', ifname, K.EINVAL, ` (${n} bytes: a kernel older than 5.4)`);
  const ring = (base: number): RingOffsets => {
    const R = K.xdp_ring_offset;
    const f = (o: number): number => Number(b.readBigUInt64LE(base + o));
    return { producer: f(R.producer), consumer: f(R.consumer), desc: f(R.desc), flags: f(R.flags) };
  };
  const M = K.xdp_mmap_offsets;
  return { rx: ring(M.rx), tx: ring(M.tx), fr: ring(M.fr), cr: ring(M.cr) };
}

/** bind(2) an AF_XDP socket to (ifindex, queue); flags: XDP_COPY, XDP_ZEROCOPY, XDP_USE_NEED_WAKEUP, XDP_SHARED_UMEM. */
export function xskBind(fd: number, ifindex: number, queue: number, flags = 0, sharedUmemFd = 0, ifname = ''): void {
  const b = Buffer.alloc(K.sockaddr_xdp.size);
  b.writeUInt16LE(K.AF_XDP, K.sockaddr_xdp.sxdp_family);
  b.writeUInt16LE(flags, K.sockaddr_xdp.sxdp_flags);
  b.writeUInt32LE(ifindex, K.sockaddr_xdp.sxdp_ifindex);
  b.writeUInt32LE(queue, K.sockaddr_xdp.sxdp_queue_id);
  b.writeUInt32LE(sharedUmemFd, K.sockaddr_xdp.sxdp_shared_umem_fd);
  bind(fd, b, ifname);
}

export interface XskStatistics {
  rxDropped: number; rxInvalidDescs: number; txInvalidDescs: number; rxRingFull: number; rxFillRingEmptyDescs: number; txRingEmptyDescs: number;
}

/** XDP_STATISTICS (the last three counters are 0 on kernels before 5.9, which return a shorter struct). */
export function xskStatistics(fd: number, ifname = ''): XskStatistics {
  const b = Buffer.alloc(K.xdp_statistics.size);
  getsockopt(fd, K.SOL_XDP, K.XDP_STATISTICS, b, ifname);
  const S = K.xdp_statistics;
  const f = (o: number): number => Number(b.readBigUInt64LE(o));
  return {
    rxDropped: f(S.rx_dropped), rxInvalidDescs: f(S.rx_invalid_descs), txInvalidDescs: f(S.tx_invalid_descs),
    rxRingFull: f(S.rx_ring_full), rxFillRingEmptyDescs: f(S.rx_fill_ring_empty_descs), txRingEmptyDescs: f(S.tx_ring_empty_descs),
  };
}

const KICK_TOLERATED = [K.EAGAIN, K.EBUSY, K.ENOBUFS, K.ENETDOWN];

/** Wake the kernel to transmit (sendto(fd, NULL, 0, MSG_DONTWAIT)); false if it was busy (retry later). */
export function xskKick(fd: number, ifname = ''): boolean {
  return sendto(fd, null, 0, K.MSG_DONTWAIT, null, ifname, KICK_TOLERATED) >= 0;
}
