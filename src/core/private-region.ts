// A region of its own for a port backed by the kernel (an AF_XDP or AF_PACKET socket on an
// interface, a TAP device): anonymous memory mapped by this thread, sized for the port's
// rings. Its address is known, so the kernel can be handed pointers into it (an AF_XDP UMEM,
// sendmmsg iovecs), which a SharedArrayBuffer cannot offer.
import { mmapAnonymous, type Mapping } from '../sys/net.js';
import { replaceWithAnonymous } from '../sys/libc.js';
import { DEFAULT_BUF_SIZE } from './constants.js';
import { Region } from './region.js';

let nextMemId = 1000;

export interface PrivateRegion {
  region: Region;
  mapping: Mapping;
  /** Drop the memory (zero pages keep stale views readable); call once the kernel let go. */
  release(): void;
}

/** A region holding at least `buffers` packet buffers, with the buffer area at `bufsPhase` past a page. */
export function createPrivateRegion(buffers: number, bufsPhase = 0, what = 'port memory'): PrivateRegion {
  const bufBytes = (buffers + 64) * DEFAULT_BUF_SIZE;
  // objects take max(4 MiB, size/8); headers, directory and the free stack fit in 1 MiB more
  const size = Math.ceil((bufBytes + Math.max(4 << 20, bufBytes / 7) + (1 << 20)) / 4096) * 4096;
  const mapping = mmapAnonymous(size, what);
  const region = Region.format(mapping.buffer, { size, memId: nextMemId++, dirEntries: 64, bufsPhase }, mapping.addr);
  let released = false;
  return {
    region,
    mapping,
    release: () => {
      if (released) return;
      released = true;
      region.unmapped = true;
      replaceWithAnonymous(mapping.addr, size);
    },
  };
}
