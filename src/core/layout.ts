// Byte offsets of every record kept inside a memory region. Everything another thread
// (and, later, another process) must see lives in the region at these offsets; JS objects
// only cache what never changes after creation.
//
// Words written by different parties sit on different 64-byte cache lines, so a sender
// publishing into a ring does not slow down the ring's owner and vice versa.

export const REGION_MAGIC = 0x53544d4e; // "NMTS"
export const REGION_VERSION = 1;

/** Region header (first 4 KiB). */
export const RH = {
  magic: 0,
  version: 4,
  size: 8, // bytes, < 2^32
  bufSize: 12,
  nbufs: 16,
  bufsOfs: 20, // byte offset of buffer 0 (buffers 0 and 1 are reserved)
  objOfs: 24, // object area (rings, ports, switches)
  objSize: 28,
  bitmapOfs: 32, // one bit per OBJ_UNIT of the object area
  dirOfs: 36, // directory of named records
  dirEntries: 40,
  freeStackOfs: 44, // u32 stack of free buffer indices
  memId: 48,
  // cache line 1: allocator state, written under the config lock
  configLock: 64, // a lock: owner's thread id, then a waiters word (see core/lock.ts)
  configLockWaiters: 68,
  freeTop: 72, // entries on the free stack
  bufWatermark: 76, // buffers never handed out start here
  freeBufs: 80, // buffers available (stack + above watermark)
  generation: 84, // bumped for every record created (ABA guard)
  objUsedUnits: 88,
  dead: 92, // 1 once the region was retired (its file unlinked): openers must start over
  persistent: 96, // records that keep the region alive without openers (persistent switches)
  // cache line 2: wake-ups for pollers waiting on several ports at once (pollPorts)
  anyWakeSeq: 128,
  anyWaiters: 132,
} as const;
export const REGION_HEADER_SIZE = 4096;
export const OBJ_UNIT = 256;

/** Directory entry: a name and the record it designates. */
export const DIR = {
  type: 0, // DirType
  recOfs: 4,
  gen: 8,
  nameLen: 12,
  name: 16, // up to 64 bytes, UTF-8
  size: 80,
} as const;
export const DIR_NAME_MAX = 64;
export const enum DirType {
  Free = 0,
  Switch = 1,
  Port = 2,
  Monitor = 3,
}
/** Openers a port record tracks (so that a dead opener's binding can be undone). */
export const MAX_OPENERS = 16;
export const OPENER_RING_MASK = 0xfff; // the ring of a one-ring binding
export const OPENER_ONE = 0x1000; // bound one ring pair only
export const OPENER_NO_TX = 0x2000; // /R
export const OPENER_NO_RX = 0x4000; // /T
export const OPENER_EXCL = 0x8000; // /x

/** Port record (our netmap_if plus the state that netmap keeps in the kernel). */
export const PR = {
  kind: 0, // RecKind
  state: 4, // 1 active, 0 free
  refs: 8, // openers
  ntx: 12,
  nrx: 16,
  txSlots: 20,
  rxSlots: 24,
  gen: 28,
  link: 32, // switch record (VALE), peer port record (pipe), monitored port (monitor)
  index: 36, // port index inside its switch
  bufsHead: 40, // extra buffers list head (netmap's ni_bufs_head)
  memId: 44,
  dirOfs: 48, // our directory entry
  pipes: 52, // pipes hanging off this name (parent records only)
  extraBufs: 56,
  vnetHdrLen: 60, // VALE: the port's virtio-net header length (0, 10, 12; anything else is invalid)
  // cache line 1: the head of each opener's extra-buffer list (netmap's ni_bufs_head), by
  // opener entry, so that the buffers of an opener that died go back to the region
  openerBufs: 64, // u32[MAX_OPENERS]
  // (counters live in the ring records: each has a single writer; see portStats)
  // cache line 3: wake-ups
  wakeSeq: 128,
  waiters: 132,
  openers: 192, // MAX_OPENERS pairs (opener's thread id, OPENER_* bits of what it bound)
  ringsOfs: 320, // u32[ntx + nrx]: ring record offsets, tx first
} as const;
export const enum RecKind {
  Vale = 1,
  PipeMaster = 2,
  PipeSlave = 3,
  Monitor = 4,
  Null = 5,
  /** A port on a Linux interface (ports/netif): its record lives in a private region. */
  Kernel = 6,
}

/** Ring record: netmap_ring's header at its usual offsets, then our kernel-side state. */
export const RR = {
  bufOfs: 0, // i64 in netmap; we keep the low 32 bits (buffers always follow rings)
  bufOfsHi: 4,
  numSlots: 8,
  bufSize: 12,
  ringId: 16, // u16
  dir: 18, // u16: 0 tx, 1 rx
  head: 20,
  cur: 24,
  tail: 28,
  flags: 32,
  tsSec: 40, // timeval as two 64-bit fields; we use the low words
  tsUsec: 48,
  offsetMask: 56,
  bufAlign: 64,
  slotsOfs: 72, // ours: byte offset of slot[0] (pipes share one slot array)
  portOfs: 76, // owning port record
  peerOfs: 80, // pipe: the other end's ring
  gen: 84, // record generation, checked by producers after locking
  users: 88, // openers bound to this ring
  excl: 92, // 1 when bound exclusively
  monCount: 96, // monitors attached (copy + zero-copy)
  fwd: 100, // VALE tx rings: sender's thread id | epoch parity << 31 while forwarding, else 0
  // tx counters, float64, written by the ring's owner at txsync
  txPkts: 104,
  txBytes: 112,
  txDrops: 120, // frames a destination could not take (VALE)
  // cache line 2 (128): written by the owner at sync
  hwcur: 128,
  hwtail: 132,
  monList: 136, // MAX_MONITORS pairs (monitor ring ofs | MON_* bits, generation)
  // cache line 3 (192): written by producers (VALE senders, monitored ports)
  prod: 192, // next slot producers will fill (published tail for rx rings)
  lock: 196, // producers' lock: owner's thread id, then a waiters word
  lockWaiters: 200,
  drops: 208, // float64: frames dropped because this rx ring was full
  delivered: 216, // float64: frames delivered into this rx ring
  rxBytes: 224, // float64
  badSlots: 232, // float64: of `drops`, those caused by a bad slot (buf_idx) or ring geometry, not a full ring
  txBadVnet: 240, // float64, VALE tx rings (written by the owner at txsync): of `txDrops`, frames refused for a malformed virtio-net header
  slots: 256,
} as const;
export const MAX_MONITORS = 7;
/** Bits in the low byte of a monitor list entry (ring records are 256-byte aligned). */
export const MON_ZCOPY = 1;
export const MON_TX = 2;
export const MON_RX = 4;
export const RING_HEADER_SIZE = 256;
export const SLOT_SIZE = 16;

/** VALE switch record. */
export const SW = {
  state: 0,
  nports: 4, // active ports
  flags: 8, // SW_FLAG_*
  gen: 12,
  lookupId: 16, // 0 = learning; else index into the process lookup table (by name)
  lookupNameLen: 20,
  dirOfs: 24,
  epoch: 28, // a sender marks its tx ring with (epoch & 1) while forwarding; detach flips it
  lookupName: 64, // 64 bytes
  ports: 128, // u32[256] port records by port index (0 = free)
  active: 1152, // u32[256] compact list of active port indices
  macTable: 2176, // NM_BDG_HASH entries of 8 bytes: u32 mac_lo, u16 mac_hi, u8 port, u8 valid
  size: 2176 + 1024 * 8,
} as const;
export const SW_FLAG_RSS = 1;
/** Kept when its last port closes (created by vale-ctl / the API, not by an open). */
export const SW_FLAG_PERSISTENT = 2;
