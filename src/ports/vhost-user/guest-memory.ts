// A front end's memory as the back end sees it (SET_MEM_TABLE): up to 8 regions, each a file
// descriptor mapped MAP_SHARED here, with the guest-physical address (gpa) and the front end's
// own virtual address (uva) of its first byte. Descriptor addresses are gpas; the ring
// addresses of SET_VRING_ADDR are uvas. Every address the guest gives is translated here and
// bounds-checked: a range that is not wholly inside one region is refused (-1), so nothing the
// guest writes can make the back end read or write outside what it mapped.
//
// Hot path: find() is a loop over at most 8 regions with numbers in typed arrays; it returns the
// region index and leaves the offset in `ofs` (no object per call).
import { close, munmap } from '../../sys/libc.js';
import { mmapFd } from '../../sys/unix.js';
import { MAX_REGIONS } from './protocol.js';

export interface RegionDesc {
  gpa: number;
  size: number;
  uva: number;
  mmapOffset: number;
}

export class GuestMemory {
  /** Regions mapped. */
  count = 0;
  readonly gpa = new Float64Array(MAX_REGIONS);
  readonly uva = new Float64Array(MAX_REGIONS);
  readonly size = new Float64Array(MAX_REGIONS);
  readonly u8: Uint8Array[] = [];
  readonly u16: Uint16Array[] = [];
  readonly u32: Uint32Array[] = [];
  readonly f64: Float64Array[] = [];
  /** Offset in the region of the last address find() translated. */
  ofs = 0;
  /** The region find() last found an address in. */
  private hit = 0;
  private readonly maps: { addr: bigint; len: number; fd: number }[] = [];

  /**
   * Map the regions (takes over the fds: closed on error and by unmap()). The region's bytes
   * start at mmapOffset in its fd; the mapping starts at the page below, so its views start at
   * the region's first byte. Throws on a bad table (overflowing numbers, too large).
   */
  static map(regions: readonly RegionDesc[], fds: readonly number[]): GuestMemory {
    const m = new GuestMemory();
    try {
      if (regions.length > MAX_REGIONS || regions.length !== fds.length) throw new Error(`${regions.length} regions with ${fds.length} descriptors`);
      for (let i = 0; i < regions.length; i++) {
        const r = regions[i];
        for (const v of [r.gpa, r.size, r.uva, r.mmapOffset]) if (!Number.isSafeInteger(v) || v < 0) throw new Error(`region ${i}: address or size beyond 2^53`);
        if (r.size === 0 || r.size > 2 ** 40) throw new Error(`region ${i}: size ${r.size}`);
        const pageOfs = r.mmapOffset % 4096;
        const len = r.size + pageOfs;
        const map = mmapFd(fds[i], len, r.mmapOffset - pageOfs, `guest memory region ${i}`);
        m.maps.push({ addr: map.addr, len, fd: fds[i] });
        // typed views need an aligned start: the region's first byte is page offset pageOfs
        if (pageOfs % 8 !== 0) throw new Error(`region ${i}: mmap_offset ${r.mmapOffset} not 8-byte aligned`);
        m.u8.push(new Uint8Array(map.buffer, pageOfs, r.size));
        m.u16.push(new Uint16Array(map.buffer, pageOfs, Math.floor(r.size / 2)));
        m.u32.push(new Uint32Array(map.buffer, pageOfs, Math.floor(r.size / 4)));
        m.f64.push(new Float64Array(map.buffer, pageOfs, Math.floor(r.size / 8)));
        m.gpa[i] = r.gpa; m.uva[i] = r.uva; m.size[i] = r.size;
        m.count++;
      }
    } catch (e) {
      for (let i = m.maps.length; i < fds.length; i++) { try { close(fds[i]); } catch { /* already gone */ } }
      m.unmap();
      throw e;
    }
    return m;
  }

  /** The region holding guest-physical range [gpa, gpa+len), offset in `ofs`; -1 if none holds all of it. */
  find(gpa: number, len: number): number {
    const h = this.hit; // a guest's buffers are mostly in one region: that one first
    if (h < this.count) {
      const o = gpa - this.gpa[h];
      if (o >= 0 && o + len <= this.size[h]) { this.ofs = o; return h; }
    }
    for (let i = 0; i < this.count; i++) {
      const o = gpa - this.gpa[i];
      if (o >= 0 && o + len <= this.size[i]) { this.ofs = o; this.hit = i; return i; }
    }
    return -1;
  }

  /** As find(), for a front-end virtual address (ring addresses). */
  findUva(uva: number, len: number): number {
    for (let i = 0; i < this.count; i++) {
      const o = uva - this.uva[i];
      if (o >= 0 && o + len <= this.size[i]) { this.ofs = o; return i; }
    }
    return -1;
  }

  /** Total bytes mapped. */
  get bytes(): number {
    let s = 0;
    for (let i = 0; i < this.count; i++) s += this.size[i];
    return s;
  }

  /** Unmap every region and close its fd (views left behind must no longer be used). */
  unmap(): void {
    for (const m of this.maps) {
      try { munmap(m.addr, m.len); } catch { /* nothing more to do */ }
      try { close(m.fd); } catch { /* already closed */ }
    }
    this.maps.length = 0;
    this.u8.length = 0; this.u16.length = 0; this.u32.length = 0; this.f64.length = 0;
    this.count = 0;
  }
}
