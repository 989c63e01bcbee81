// The virtio-net header (struct virtio_net_hdr, virtio 1.x §5.1.6): the 10 or 12 bytes that
// QEMU/vhost, TAP (IFF_VNET_HDR) and AF_PACKET (PACKET_VNET_HDR) put before each frame to
// say what the sender left undone: a checksum to complete (NEEDS_CSUM, csum_start/offset) and
// a super-frame to cut into gso_size pieces (gso_type, gso_size). netmap's VALE carries it on
// ports that ask for one (the port's header length: 0, 10 or 12).
//
//   byte 0  flags        NEEDS_CSUM 1, DATA_VALID 2
//   byte 1  gso_type     NONE 0, TCPV4 1, UDP 3 (UFO: IP fragments), TCPV6 4, UDP_L4 5 (USO),
//                        | ECN 0x80 (TCP only: the frame may carry CWR)
//   2..3    hdr_len      length of the headers (a hint: Linux puts its linear length there)
//   4..5    gso_size     payload bytes per segment (UFO: IP payload bytes per fragment)
//   6..7    csum_start   where the checksummed data starts, from the frame's first byte
//   8..9    csum_offset  where the checksum goes, from csum_start
//   10..11  num_buffers  (12-byte form only: mergeable receive buffers; 1 when written here)
//
// 16-bit fields are little-endian (virtio 1.x; what TAP and AF_PACKET use on little-endian
// hosts). The header comes from whoever wrote the frame, so it is input: vnetCheck() returns a
// reason code (VNET_OK or one of the VNET_* below) instead of throwing, and every user of a
// header checks it first. The codes are shared with the segmenter (gso.ts) and the checksum
// completion (csum-complete.ts) so that one counter table can report every drop by its cause.

export const VNET_HDR_LEN = 10;
/** The form with num_buffers (VIRTIO_NET_F_MRG_RXBUF). */
export const VNET_HDR_LEN_MRG = 12;

export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;

export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_UDP = 3;
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_UDP_L4 = 5;
export const VNET_GSO_ECN = 0x80;

// Field offsets from the header's first byte.
export const VNET_FLAGS = 0;
export const VNET_GSO_TYPE = 1;
export const VNET_HDRLEN = 2;
export const VNET_GSO_SIZE = 4;
export const VNET_CSUM_START = 6;
export const VNET_CSUM_OFFSET = 8;
export const VNET_NUM_BUFFERS = 10;

// ------------------------------------------------------------------ reason codes
// 0 is success; the rest name why a frame was not passed on. Small integers, so a caller keeps
// its drop counters in a typed array indexed by the code (VNET_REASONS entries).

export const VNET_OK = 0;
/** the header length is not 10 or 12, or the frame is shorter than its header */
export const VNET_BAD_SIZE = 1;
/** a flag bit other than NEEDS_CSUM / DATA_VALID */
export const VNET_BAD_FLAGS = 2;
/** an unknown gso_type, or ECN without a TCP type */
export const VNET_BAD_GSO_TYPE = 3;
/** NEEDS_CSUM with csum_start at or past the end of the frame */
export const VNET_BAD_CSUM_START = 4;
/** NEEDS_CSUM with the checksum field (csum_start + csum_offset, 2 bytes) past the frame, or odd */
export const VNET_BAD_CSUM_OFFSET = 5;
/** a GSO type with gso_size 0 (UFO: under 8) */
export const VNET_GSO_SIZE_ZERO = 6;
/** hdr_len past the end of the frame */
export const VNET_HDR_LEN_PAST_FRAME = 7;
/** segmentation: not Ethernet + IPv4/IPv6 + the protocol the GSO type names */
export const VNET_NOT_GSO_FRAME = 8;
/** segmentation: something we do not cut (IPv4 fragment, IPv6 fragment header, UFO over IPv6) */
export const VNET_GSO_UNSUPPORTED = 9;
/** segmentation: the headers do not fit in the frame's first buffer */
export const VNET_HDRS_SPLIT = 10;
/** segmentation: a segment is larger than the buffer it is to be written into */
export const VNET_DST_TOO_SMALL = 11;
/** segmentation: more segments than a super-frame may make (gso_size too small for the frame) */
export const VNET_TOO_MANY_SEGMENTS = 12;

/** Names of the reason codes, by code, for reports and counters. */
export const VNET_REASONS: readonly string[] = [
  'ok', 'bad-size', 'bad-flags', 'bad-gso-type', 'bad-csum-start', 'bad-csum-offset',
  'gso-size-zero', 'hdr-len-past-frame', 'not-gso-frame', 'gso-unsupported', 'headers-split',
  'dst-too-small', 'too-many-segments',
];

// ------------------------------------------------------------------ fields

function rd16le(u8: Uint8Array, off: number): number {
  return u8[off]! | (u8[off + 1]! << 8);
}

function wr16le(u8: Uint8Array, off: number, v: number): void {
  u8[off] = v;
  u8[off + 1] = v >>> 8;
}

export function vnetFlags(u8: Uint8Array, h: number): number { return u8[h + VNET_FLAGS]!; }
/** gso_type with the ECN bit */
export function vnetGsoType(u8: Uint8Array, h: number): number { return u8[h + VNET_GSO_TYPE]!; }
export function vnetHdrLen(u8: Uint8Array, h: number): number { return rd16le(u8, h + VNET_HDRLEN); }
export function vnetGsoSize(u8: Uint8Array, h: number): number { return rd16le(u8, h + VNET_GSO_SIZE); }
export function vnetCsumStart(u8: Uint8Array, h: number): number { return rd16le(u8, h + VNET_CSUM_START); }
export function vnetCsumOffset(u8: Uint8Array, h: number): number { return rd16le(u8, h + VNET_CSUM_OFFSET); }
/** num_buffers of a 12-byte header */
export function vnetNumBuffers(u8: Uint8Array, h: number): number { return rd16le(u8, h + VNET_NUM_BUFFERS); }

/**
 * Write a header of `size` bytes (10 or 12) at u8[h]. num_buffers, in the 12-byte form, is 1
 * (one buffer per frame).
 */
export function vnetWrite(u8: Uint8Array, h: number, size: number, flags: number, gsoType: number,
  hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number): void {
  u8[h + VNET_FLAGS] = flags;
  u8[h + VNET_GSO_TYPE] = gsoType;
  wr16le(u8, h + VNET_HDRLEN, hdrLen);
  wr16le(u8, h + VNET_GSO_SIZE, gsoSize);
  wr16le(u8, h + VNET_CSUM_START, csumStart);
  wr16le(u8, h + VNET_CSUM_OFFSET, csumOffset);
  if (size >= VNET_HDR_LEN_MRG) wr16le(u8, h + VNET_NUM_BUFFERS, 1);
}

/** A header that asks for nothing (what a port adds to a frame from a port without one). */
export function vnetClear(u8: Uint8Array, h: number, size: number): void {
  vnetWrite(u8, h, size, 0, VNET_GSO_NONE, 0, 0, 0, 0);
}

/** True when the header asks for work: a checksum to complete or a super-frame to cut. */
export function vnetNeedsWork(u8: Uint8Array, h: number): boolean {
  return (u8[h + VNET_FLAGS]! & VNET_F_NEEDS_CSUM) !== 0 || (u8[h + VNET_GSO_TYPE]! & ~VNET_GSO_ECN) !== VNET_GSO_NONE;
}

/**
 * Check the `size`-byte header at u8[h] for a frame of `frameLen` bytes that follows it
 * (frameLen excludes the header). Returns VNET_OK or the first reason the header is malformed.
 * Checks only what the header says about itself and the frame's length; the segmenter checks
 * that the frame's own headers agree.
 */
export function vnetCheck(u8: Uint8Array, h: number, size: number, frameLen: number): number {
  if ((size !== VNET_HDR_LEN && size !== VNET_HDR_LEN_MRG) || h < 0 || h + size > u8.length) return VNET_BAD_SIZE;
  if (!(frameLen >= 0)) return VNET_BAD_SIZE;
  const flags = u8[h + VNET_FLAGS]!;
  if ((flags & ~(VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) !== 0) return VNET_BAD_FLAGS;
  const gt = u8[h + VNET_GSO_TYPE]!;
  const type = gt & ~VNET_GSO_ECN;
  if (type !== VNET_GSO_NONE && type !== VNET_GSO_TCPV4 && type !== VNET_GSO_UDP &&
    type !== VNET_GSO_TCPV6 && type !== VNET_GSO_UDP_L4) return VNET_BAD_GSO_TYPE;
  if ((gt & VNET_GSO_ECN) !== 0 && type !== VNET_GSO_TCPV4 && type !== VNET_GSO_TCPV6) return VNET_BAD_GSO_TYPE;
  if ((flags & VNET_F_NEEDS_CSUM) !== 0) {
    const start = rd16le(u8, h + VNET_CSUM_START);
    const offset = rd16le(u8, h + VNET_CSUM_OFFSET);
    if (start >= frameLen) return VNET_BAD_CSUM_START;
    if ((offset & 1) !== 0 || start + offset + 2 > frameLen) return VNET_BAD_CSUM_OFFSET;
  }
  if (type !== VNET_GSO_NONE) {
    const gs = rd16le(u8, h + VNET_GSO_SIZE);
    if (gs === 0 || (type === VNET_GSO_UDP && gs < 8)) return VNET_GSO_SIZE_ZERO;
  }
  if (rd16le(u8, h + VNET_HDRLEN) > frameLen) return VNET_HDR_LEN_PAST_FRAME;
  return VNET_OK;
}
