// The frames a pkt-gen thread's port lost, for the summary ("nothing lost silently"): a
// sender's frames the switch could not deliver (a full destination ring, no destination,
// runts), a receiver's frames dropped because its rx ring was full (on a monitor: the copies
// the monitor had no room for). Only the rings this opener bound are counted, so that with
// -p N the threads' counts add up instead of each seeing the whole port; what a kernel port
// counts outside its rings (socket drops) is added.
import { Port } from '../../core/port.js';
import { RR } from '../../core/layout.js';

/** Drops so far on the rings `port` bound: tx side (txDrops) for senders, rx side for receivers. */
export function boundDrops(port: Port, rx: boolean): number {
  const f64 = port.region.f64;
  let n = 0;
  if (rx) for (const r of port.rxRings) n += f64[(r.ofs + RR.drops) >> 3];
  else for (const r of port.txRings) n += f64[(r.ofs + RR.txDrops) >> 3];
  // stats() of a kernel port adds the kernel's own counters to the rings' sums
  const all = port.stats(), rings = Port.prototype.stats.call(port);
  return n + (rx ? all.rxDrops - rings.rxDrops : all.txDrops - rings.txDrops);
}
