// The `null` port of pkt-gen: transmit consumes every frame at once (useful to measure the
// generator alone), receive never has anything.
import { DEFAULT_SLOTS, NR_RX, NR_TX } from '../core/constants.js';
import { RecKind, RR } from '../core/layout.js';
import { registerPortType } from '../core/open.js';
import { Port, selectRings } from '../core/port.js';
import { createPortRecord, createRing, setPortRing } from '../core/records.js';
import { badSlot, checkHeadCur } from '../core/sync.js';

export class NullPort extends Port {
  protected txsyncRing(t: number): void {
    const region = this.region, u32 = region.u32;
    checkHeadCur(region, t, this.name);
    const n = u32[(t + RR.numSlots) >> 2];
    const hwcur = u32[(t + RR.hwcur) >> 2], head = u32[(t + RR.head) >> 2];
    if (head !== hwcur) {
      const s = u32[(t + RR.slotsOfs) >> 2] >> 2;
      let pkts = 0, bytes = 0;
      for (let k = hwcur; k !== head; k = k + 1 === n ? 0 : k + 1) {
        const idx = u32[s + (k << 2)], len = u32[s + (k << 2) + 1] & 0xffff;
        if (idx < 2 || idx >= region.nbufs || len > region.bufSize) badSlot(region, t, k, this.name);
        pkts++;
        bytes += len;
      }
      region.f64[(t + RR.txPkts) >> 3] += pkts;
      region.f64[(t + RR.txBytes) >> 3] += bytes;
      u32[(t + RR.hwcur) >> 2] = head;
    }
    const tail = head === 0 ? n - 1 : head - 1;
    u32[(t + RR.hwtail) >> 2] = tail;
    u32[(t + RR.tail) >> 2] = tail;
  }

  protected rxsyncRing(r: number): void {
    const u32 = this.region.u32;
    checkHeadCur(this.region, r, this.name);
    u32[(r + RR.hwcur) >> 2] = u32[(r + RR.head) >> 2];
    u32[(r + RR.hwtail) >> 2] = u32[(r + RR.head) >> 2]; // never anything to receive
    u32[(r + RR.tail) >> 2] = u32[(r + RR.head) >> 2];
  }


}

registerPortType('null', (region, spec, opts) => {
  region.lockLive();
  try {
    const slots = opts.txSlots ?? DEFAULT_SLOTS;
    const rec = createPortRecord(region, { kind: RecKind.Null, ntx: 1, nrx: 1, txSlots: slots, rxSlots: slots });
    setPortRing(region, rec, 0, createRing(region, { numSlots: slots, dir: NR_TX, ringId: 0, portOfs: rec }));
    setPortRing(region, rec, 1, createRing(region, { numSlots: slots, dir: NR_RX, ringId: 0, portOfs: rec }));
    const port = new NullPort(region, rec, spec, selectRings(spec, 1, 1), opts);
    (port as unknown as { bindRings(): void }).bindRings();
    return port;
  } finally {
    region.unlockConfig();
  }
});
