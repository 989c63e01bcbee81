// VALE's default lookup: a learning bridge. The table (NM_BDG_HASH entries, in the switch
// record so every thread sees it) maps a MAC to the port it was last seen on; entries are
// overwritten on collision and never aged, as in netmap. Frames are read in place through
// the region's u16/u32 views (buffers are 64-byte aligned, so the MAC words are aligned, or
// 2-byte aligned behind a 10-byte virtio-net header;
// byte offsets may exceed 2^31 in a 4 GiB region, so they become indices by unsigned shifts).
import { NM_BDG_BROADCAST, NM_BDG_HASH } from '../core/constants.js';

const HASH_SHIFT = 32 - Math.log2(NM_BDG_HASH);

/** Table index of a MAC given as its first four bytes (LE u32) and last two (LE u16). */
export function macHash(lo: number, hi: number): number {
  return Math.imul((lo ^ Math.imul(hi, 0x85ebca6b)) >>> 0, 0x9e3779b1) >>> HASH_SHIFT;
}

/**
 * Learn the source MAC of the frame at byte offset `buf` (unless it is multicast or
 * `noLearn`), then return the destination port for its destination MAC, or
 * NM_BDG_BROADCAST for multicast, broadcast and unknown destinations.
 * `tab` is the u32 index of the MAC table: entry h = [lo, hi16 | port << 16 | valid << 24].
 */
export function learnAndLookup(u16: Uint16Array, u32: Uint32Array, tab: number, buf: number, srcPort: number, noLearn: boolean): number {
  const w = buf >>> 1; // buf may exceed 2^31: unsigned shifts only
  // source MAC: bytes 6..11
  const sLo = (u16[w + 3] | (u16[w + 4] << 16)) >>> 0;
  const sHi = u16[w + 5];
  if (!noLearn && (sLo & 1) === 0) {
    const e = tab + (macHash(sLo, sHi) << 1);
    const v = (sHi | (srcPort << 16) | 0x1000000) >>> 0;
    if (u32[e] !== sLo || u32[e + 1] !== v) {
      u32[e] = sLo;
      u32[e + 1] = v;
    }
  }
  // destination MAC: bytes 0..5
  const dLo = (buf & 3) === 0 ? u32[buf >>> 2] : (u16[w] | (u16[w + 1] << 16)) >>> 0; // (behind a 10-byte virtio-net header: 2-byte aligned)
  if (dLo & 1) return NM_BDG_BROADCAST;
  const dHi = u16[w + 2];
  const e = tab + (macHash(dLo, dHi) << 1);
  const v = u32[e + 1];
  if (u32[e] === dLo && (v & 0x100ffff) === (dHi | 0x1000000)) return (v >>> 16) & 0xff;
  return NM_BDG_BROADCAST;
}
