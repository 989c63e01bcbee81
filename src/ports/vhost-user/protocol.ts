// The vhost-user protocol's numbers (QEMU's docs/interop/vhost-user.rst) and the virtio 1.x
// feature bits this back end knows: message codes and their names for the log, the header
// layout, and the features offered. A message is a 12-byte header (request u32, flags u32,
// payload size u32, little-endian) then the payload; file descriptors ride along as SCM_RIGHTS.

/** Front-end requests (the ones this back end answers, and a few it names in the log). */
export const REQ = {
  GET_FEATURES: 1, SET_FEATURES: 2, SET_OWNER: 3, RESET_OWNER: 4, SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6, SET_LOG_FD: 7, SET_VRING_NUM: 8, SET_VRING_ADDR: 9, SET_VRING_BASE: 10,
  GET_VRING_BASE: 11, SET_VRING_KICK: 12, SET_VRING_CALL: 13, SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15, SET_PROTOCOL_FEATURES: 16, GET_QUEUE_NUM: 17, SET_VRING_ENABLE: 18,
  SEND_RARP: 19, NET_SET_MTU: 20, SET_BACKEND_REQ_FD: 21, IOTLB_MSG: 22, SET_VRING_ENDIAN: 23,
  GET_CONFIG: 24, SET_CONFIG: 25, RESET_DEVICE: 34, GET_MAX_MEM_SLOTS: 36, SET_STATUS: 39, GET_STATUS: 40,
} as const;

const NAMES = new Map<number, string>(Object.entries(REQ).map(([k, v]) => [v, k]));
export function requestName(code: number): string {
  return NAMES.get(code) ?? `request ${code}`;
}

export const HDR_SIZE = 12;
/** Version 1 in the flags' low bits; bit 2: a reply; bit 3: the front end wants an ack (REPLY_ACK). */
export const FLAG_VERSION = 0x1;
export const FLAG_REPLY = 0x4;
export const FLAG_NEED_REPLY = 0x8;
/** Largest payload accepted (SET_MEM_TABLE with 8 regions is 264 bytes). */
export const MAX_PAYLOAD = 4096;
/** Memory regions one SET_MEM_TABLE may carry. */
export const MAX_REGIONS = 8;
/** SET_VRING_KICK/CALL/ERR payload: bits 0-7 the queue, bit 8 set: no descriptor (polling). */
export const VRING_IDX_MASK = 0xff;
export const VRING_NOFD = 0x100;

/** Virtio device feature bits (virtio 1.x, 5.1.3) and the vhost-user one. */
export const F = {
  CSUM: 0, GUEST_CSUM: 1, MAC: 5, GUEST_TSO4: 7, GUEST_TSO6: 8, GUEST_ECN: 9, HOST_TSO4: 11, HOST_TSO6: 12, HOST_ECN: 13, MRG_RXBUF: 15, STATUS: 16, CTRL_VQ: 17, MQ: 22,
  NOTIFY_ON_EMPTY: 24, ANY_LAYOUT: 27, INDIRECT_DESC: 28, EVENT_IDX: 29,
  PROTOCOL_FEATURES: 30, VERSION_1: 32,
} as const;

/** Protocol feature bits. */
export const PF = { MQ: 0, LOG_SHMFD: 1, RARP: 2, REPLY_ACK: 3, MTU: 4, BACKEND_REQ: 5, CONFIG: 9, STATUS: 16 } as const;

export const bit = (b: number): bigint => 1n << BigInt(b);

/**
 * The offloads offered by a port made with them (vale-ctl -n NAME --vhost-user PATH --offloads):
 * checksums left to the other side both ways, TCP segmentation both ways (IPv4, IPv6, with ECN).
 * The frames keep their virtio-net header through the switch (the port's header is 12 bytes);
 * VALE's offload converter finishes the work for a port without a header. MRG_RXBUF (always
 * offered) lets a 64 KiB super-frame into a guest's small receive buffers.
 */
export const OFFLOAD_FEATURES = bit(F.CSUM) | bit(F.GUEST_CSUM) | bit(F.GUEST_TSO4) | bit(F.GUEST_TSO6) | bit(F.GUEST_ECN)
  | bit(F.HOST_TSO4) | bit(F.HOST_TSO6) | bit(F.HOST_ECN);

/** What this back end offers: split rings, merged rx buffers, event-index suppression, no offloads (yet). */
export const OFFERED_FEATURES = bit(F.VERSION_1) | bit(F.MRG_RXBUF) | bit(F.EVENT_IDX) | bit(F.ANY_LAYOUT) | bit(F.PROTOCOL_FEATURES);
/**
 * Protocol features offered: acks on request, and MQ (GET_QUEUE_NUM answers the port's queue
 * pairs; QEMU refuses `queues=N` on its netdev beyond it, and starts every pair's rings with
 * SET_VRING_ENABLE as the guest turns them on).
 */
export const OFFERED_PROTOCOL_FEATURES = bit(PF.REPLY_ACK) | bit(PF.MQ);
/** Queue pairs a port may have (vale-ctl -n NAME --vhost-user PATH -C tx,rx,QUEUES). */
export const MAX_QUEUE_PAIRS = 8;

/** Names of the feature bits set in `f`, for listings. */
export function featureNames(f: bigint): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(F)) if (f & bit(v)) out.push(k);
  return out;
}

/** The virtio-net header's length for negotiated features: 12 with VERSION_1 or MRG_RXBUF, else 10. */
export function netHeaderLength(features: bigint): number {
  return features & (bit(F.VERSION_1) | bit(F.MRG_RXBUF)) ? 12 : 10;
}

/** Queue index 0, 2, ... are the guest's receive queues; 1, 3, ... its transmit queues. */
export const isTxQueue = (q: number): boolean => (q & 1) === 1;
