// The frame paths of a vhost-user port made with offloads (vale-ctl -n NAME --vhost-user PATH
// --offloads): the switch port then has a 12-byte virtio-net header (PR.vnetHdrLen 12) and
// frames keep the guest's header through the switch, so a TSO super-frame or a frame with its
// checksum left undone crosses VALE whole; VALE's offload converter (vale/offload.ts) finishes
// the work when such a frame goes to a port without a header, and a port with one (a Linux
// interface with offloads on, another VM) takes it as it is.
//
//   guest -> switch  guestToRingWithHdr(): the guest's header and frame (up to 64 KiB) go into
//                    a chain of the tx ring's slots (NS_MOREFRAG on all but the last), written
//                    straight into the slots' buffers (Virtqueue.txPop with pieces); a batch
//                    stops when the ring has no room for the longest chain.
//   switch -> guest  ringToGuestWithHdr(): a packet of the rx ring (one slot, or a chain
//                    gathered into a scratch buffer first) goes to the guest's receive
//                    buffers with the switch's header (num_buffers set by the queue). A packet
//                    whose header asks for something the front end did not negotiate
//                    (NEEDS_CSUM without GUEST_CSUM, TCP segmentation without GUEST_TSO4/6, ECN
//                    without GUEST_ECN, any UDP segmentation) is finished here, as VALE does for
//                    a port without a header: its header checked (vnetCheck), the checksum
//                    completed in a copy, or the super-frame cut by the Segmenter (packet/gso.ts)
//                    into segments given to the guest one by one with a header asking nothing
//                    (segments the guest has no buffers for once the first went are dropped and
//                    counted: TCP sends them again). A malformed header, a packet shorter than
//                    its header or longer than 64 KiB, or a slot length past its buffer is
//                    dropped and counted in the queue's drops.
//
// Slots and lengths come from shared memory and are checked; nothing is allocated per frame.
import { NETMAP_MAX_FRAGS, NS_MOREFRAG } from '../../core/constants.js';
import type { Ring } from '../../core/ring.js';
import { bit, F } from '../../ports/vhost-user/protocol.js';
import { BROKEN, EMPTY, TOO_LONG, type Virtqueue } from '../../ports/vhost-user/virtqueue.js';
import { completeChecksum } from '../../packet/csum-complete.js';
import { Segmenter } from '../../packet/gso.js';
import { VNET_CSUM_OFFSET, VNET_CSUM_START, VNET_GSO_SIZE, VNET_OK, vnetCheck } from '../../packet/vnet-hdr.js';
import { VNET_MAX_FRAME } from '../../vale/offload.js';

/** The port's header length: the 12-byte form (num_buffers), which VERSION_1 front ends use. */
export const PORT_HDR = 12;
/** The longest packet with its header. */
const MAX_PACKET = PORT_HDR + VNET_MAX_FRAME;

/** Node's native byte copy between two arrays at any offsets (no subarray per copy). */
const bufferCopy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;

/** Buffer offsets of the tx ring's free slots from head (grown to the ring's size once). */
let win = new Float64Array(1024);
const gather = new Uint8Array((MAX_PACKET + 64) & ~63);
const gather32 = new Uint32Array(gather.buffer), gather64 = new Float64Array(gather.buffer);

const seg = new Segmenter();
const segBuf = new Uint8Array((VNET_MAX_FRAME + 64 + 63) & ~63);
const segBuf32 = new Uint32Array(segBuf.buffer), segBuf64 = new Float64Array(segBuf.buffer);
/** A header asking for nothing (flags 0, no GSO), for what is finished here. */
const plainHdr = new Uint8Array(12);

const NEEDS_CSUM = 1, GSO_TCPV4 = 1, GSO_TCPV6 = 4, GSO_ECN = 0x80;
const GUEST_CSUM = Number(bit(F.GUEST_CSUM)), GUEST_TSO4 = Number(bit(F.GUEST_TSO4)), GUEST_TSO6 = Number(bit(F.GUEST_TSO6)), GUEST_ECN = Number(bit(F.GUEST_ECN));

/** Whether the header at u8[h] asks only for what the front end negotiated (features' low 32 bits). */
function guestTakes(u8: Uint8Array, h: number, feat: number): boolean {
  if ((u8[h] & NEEDS_CSUM) && !(feat & GUEST_CSUM)) return false;
  const g = u8[h + 1], type = g & ~GSO_ECN;
  if (type === 0) return true;
  if ((g & GSO_ECN) && !(feat & GUEST_ECN)) return false;
  if (type === GSO_TCPV4) return (feat & GUEST_TSO4) !== 0;
  if (type === GSO_TCPV6) return (feat & GUEST_TSO6) !== 0;
  return false;
}

/**
 * Give the guest a packet (header at src[off], total bytes with it) whose header asks for what
 * the front end did not negotiate: finished here. Returns EMPTY (nothing given: the packet
 * waits), BROKEN, or a length (given, or dropped and counted).
 */
function finishForGuest(q: Virtqueue, src: Uint8Array, off: number, total: number): number {
  const len = total - PORT_HDR, f = off + PORT_HDR;
  if (vnetCheck(src, off, PORT_HDR, len) !== VNET_OK) { q.drops++; return len; }
  const type = src[off + 1] & ~GSO_ECN;
  if (type === 0) { // a checksum to complete: in a copy (the packet may wait for buffers and be tried again)
    bufferCopy.call(src, segBuf, 0, f, f + len);
    if (completeChecksum(segBuf, 0, len, src[off + VNET_CSUM_START] | (src[off + VNET_CSUM_START + 1] << 8), src[off + VNET_CSUM_OFFSET] | (src[off + VNET_CSUM_OFFSET + 1] << 8)) !== VNET_OK) { q.drops++; return len; }
    return q.rxPush(segBuf, segBuf32, segBuf64, 0, len, plainHdr, 0);
  }
  seg.fragOff[0] = f;
  seg.fragLen[0] = len;
  if (seg.begin(src, 1, src[off + 1], src[off + VNET_GSO_SIZE] | (src[off + VNET_GSO_SIZE + 1] << 8)) !== VNET_OK) { q.drops++; return len; }
  for (let i = 0; i < seg.count; i++) {
    const n = seg.write(i, segBuf, 0, segBuf.length - 64);
    if (n < 0) { q.drops += seg.count - i; return len; }
    const r = q.rxPush(segBuf, segBuf32, segBuf64, 0, n, plainHdr, 0);
    if (r === BROKEN) return r;
    if (r === EMPTY) {
      if (i === 0) return EMPTY; // nothing given yet: the packet waits
      q.drops += seg.count - i; // the rest of the super-frame is lost (counted); TCP sends it again
      return len;
    }
  }
  return len;
}

/** Guest TX queue q into tx ring `tx` (header kept, chains for long frames); returns frames moved. */
export function guestToRingWithHdr(q: Virtqueue, tx: Ring, u8: Uint8Array, u32: Uint32Array, f64: Float64Array, burst: number): number {
  const bufSize = tx.bufSize, size = tx.numSlots;
  let maxPieces = Math.ceil(MAX_PACKET / bufSize);
  if (maxPieces > NETMAP_MAX_FRAGS) maxPieces = NETMAP_MAX_FRAGS;
  if (maxPieces > size - 1) maxPieces = size - 1; // a tiny ring: longer frames are dropped (TOO_LONG, counted)
  const maxLen = maxPieces * bufSize < MAX_PACKET ? maxPieces * bufSize : MAX_PACKET;
  const tt = tx.tail;
  let k = tx.head, n = 0;
  let free = tt - k;
  if (free < 0) free += size;
  if (win.length < free) win = new Float64Array(size);
  // win[p]: the buffer of the p-th free slot from head, filled as frames need them (a frame may
  // take up to maxPieces slots; a short one takes one, so each slot's offset is read about once)
  let filled = 0, used = 0, jf = k;
  while (n < burst) {
    const want = used + maxPieces;
    if (want > free) break; // room for the longest chain, or wait for the switch
    for (; filled < want; filled++, jf = tx.next(jf)) win[filled] = tx.buf(jf);
    const len = q.txPop(u8, u32, f64, 0, maxLen, win, bufSize, used);
    if (len === EMPTY || len === BROKEN) break;
    if (len === TOO_LONG) continue;
    let left = len;
    for (;;) {
      const l = left > bufSize ? bufSize : left;
      left -= l;
      tx.setLen(k, l);
      tx.setSlotFlags(k, left > 0 ? NS_MOREFRAG : 0);
      k = tx.next(k);
      used++;
      if (left === 0) break;
    }
    n++;
  }
  tx.advance(k);
  return n;
}

/**
 * Packets of rx ring `rx` into guest RX queue q (null: no queue running, every packet dropped
 * and counted in `counter`'s drops); feat: the negotiated features' low 32 bits. Stops at a
 * packet the guest has no buffers for (it waits in the ring). Returns packets taken.
 */
export function ringToGuestWithHdr(rx: Ring, u8: Uint8Array, u32: Uint32Array, f64: Float64Array, q: Virtqueue | null, counter: Virtqueue, feat: number, burst: number): number {
  const rt = rx.tail, bufSize = rx.bufSize;
  let j = rx.head, n = 0;
  while (j !== rt && n < burst) {
    // the packet: slots j..e, NS_MOREFRAG on all but the last (at most NETMAP_MAX_FRAGS)
    let e = j, count = 1, total = rx.len(j), bad = total > bufSize, whole = true;
    while ((rx.slotFlags(e) & NS_MOREFRAG) && count < NETMAP_MAX_FRAGS) {
      const nx = rx.next(e);
      if (nx === rt) { whole = false; break; }
      e = nx;
      count++;
      const l = rx.len(e);
      if (l > bufSize) bad = true;
      total += l;
    }
    if (!whole) break; // the rest of the chain is not there yet
    if (q === null || bad || total < PORT_HDR || total > MAX_PACKET) {
      counter.drops++;
    } else {
      let src = u8, src32 = u32, src64 = f64, off = rx.buf(j);
      if (count > 1) { // gathered into one buffer first
        let at = 0;
        for (let s = j, c = 0; c < count; c++, s = rx.next(s)) {
          const l = rx.len(s), b = rx.buf(s);
          bufferCopy.call(u8, gather, at, b, b + l);
          at += l;
        }
        src = gather; src32 = gather32; src64 = gather64; off = 0;
      }
      const r = guestTakes(src, off, feat)
        ? q.rxPush(src, src32, src64, off + PORT_HDR, total - PORT_HDR, src, off)
        : finishForGuest(q, src, off, total);
      if (r === EMPTY || r === BROKEN) break; // no buffers: the packet waits
    }
    j = rx.next(e);
    n++;
  }
  rx.advance(j);
  if (q !== null) q.finish();
  return n;
}
