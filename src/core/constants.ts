// netmap's ABI values, with the same names and numbers as sys/net/netmap.h, so that
// code and habits carry over. Our own additions are marked.

/** Slot flags (netmap_slot.flags). */
export const NS_BUF_CHANGED = 0x0001;
export const NS_REPORT = 0x0002;
export const NS_FORWARD = 0x0004;
export const NS_NO_LEARN = 0x0008;
export const NS_INDIRECT = 0x0010;
export const NS_MOREFRAG = 0x0020;
export const NS_TXMON = 0x0040;
/** High byte of slot.flags: VALE destination port override / remaining fragments on rx. */
export const NS_PORT_MASK = 0xff00;
export const NS_PORT_SHIFT = 8;

/** Ring flags (netmap_ring.flags). */
export const NR_TIMESTAMP = 0x0002;
export const NR_FORWARD = 0x0004;

/** Registration flags (nmreq_register.nr_flags). */
export const NR_MONITOR_TX = 0x100;
export const NR_MONITOR_RX = 0x200;
export const NR_ZCOPY_MON = 0x400;
export const NR_EXCLUSIVE = 0x800;
export const NR_RX_RINGS_ONLY = 0x2000;
export const NR_TX_RINGS_ONLY = 0x4000;
export const NR_ACCEPT_VNET_HDR = 0x8000;
export const NR_DO_RX_POLL = 0x10000;
export const NR_NO_TX_POLL = 0x20000;

/** Registration modes (nmreq_register.nr_mode). */
export const NR_REG_DEFAULT = 0;
export const NR_REG_ALL_NIC = 1;
export const NR_REG_SW = 2;
export const NR_REG_NIC_SW = 3;
export const NR_REG_ONE_NIC = 4;
export const NR_REG_NULL = 7;
export const NR_REG_ONE_SW = 8;

/** VALE limits and lookup results (netmap_bdg.h). */
export const NM_BDG_MAXPORTS = 254;
export const NM_BDG_BROADCAST = 254;
export const NM_BDG_NOPORT = 255;
export const NM_BDG_MAXRINGS = 16;
export const NM_BDG_BATCH = 1024;
export const NM_BDG_HASH = 1024;
export const NM_MAXPIPES = 64;
export const NETMAP_MAX_FRAGS = 64;
export const NM_MAX_RINGID = 0xfff;

/** Defaults. */
export const DEFAULT_BUF_SIZE = 2048;
export const DEFAULT_SLOTS = 1024;
export const MAX_SLOTS = 4096;
export const MIN_SLOTS = 4; // ours: below this a ring cannot hold a batch worth syncing
/** Ours: most rings per direction of any port (pipes; a VALE port has at most NM_BDG_MAXRINGS, as in netmap). */
export const MAX_RINGS = 256;

/** Poll events, same bits as <poll.h>. */
export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;

/** Ring direction (netmap_ring.dir). */
export const NR_TX = 0;
export const NR_RX = 1;

/** Frames shorter than an Ethernet header are dropped by VALE (defined with the headers, packet/headers.ts). */
export { ETH_HLEN } from '../packet/headers.js';
