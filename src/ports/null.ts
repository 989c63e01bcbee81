// The `null` port of pkt-gen: transmit consumes every frame at once (useful to measure the
// generator alone), receive never has anything.
import { DEFAULT_SLOTS, NR_RX, NR_TX } from '../core/constants.js';
import { RecKind, RR } from '../core/layout.js';
import { Port, selectRings, type OpenOptions } from '../core/port.js';
import type { PortSpec } from '../core/portspec.js';
import type { Region } from '../core/region.js';
import { createPortRecord, createRing, setPortRing } from '../core/records.js';
import { rxPrologue, txDone, txEpilogue, txPrologue } from '../core/sync.js';

export class NullPort extends Port {
  protected txsyncRing(t: number): void {
    const region = this.region;
    const end = txPrologue(region, t, this.name, region.bufSize); // complete packets are consumed
    txEpilogue(region, t, end, txDone[0], txDone[1], 0); // txDone: the complete packets, [0, 0] if none
  }

  protected rxsyncRing(r: number): void {
    const u32 = this.region.u32;
    const head = rxPrologue(this.region, r, this.name);
    u32[(r + RR.hwcur) >> 2] = head;
    u32[(r + RR.hwtail) >> 2] = head; // never anything to receive
    u32[(r + RR.tail) >> 2] = head;
  }
}

/** Open a `null` port: the `null` entry of the port-kind table. */
export function openNull(region: Region, spec: PortSpec, opts: OpenOptions): NullPort {
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
}
