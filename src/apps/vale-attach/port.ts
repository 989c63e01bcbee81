// The switch port an attached interface appears as: valeX:IF for its NIC rings and valeX:IF^
// for its host stack, as in netmap's listings. Neither name can be opened by name: the VALE
// factory refuses valeX:IF when IF is a network interface (programs attach interfaces, they do
// not open them), and '^' in a port name selects host rings. So the port is created under a
// unique temporary name and renamed in the switch's directory under the config lock, before
// anyone could look it up. It is bound exclusively (/x): another program cannot take its rings
// from the forwarder. Closing it destroys it like any VALE port (the directory entry it has then
// is the one removed).
import { threadId } from 'node:worker_threads';
import { DIR, DirType, PR } from '../../core/layout.js';
import { open } from '../../core/open.js';
import type { OpenOptions } from '../../core/port.js';
import { NetmapError } from '../../core/region.js';
import { ValePort } from '../../vale/vale-port.js';

let serial = 0;

/** Open switch `sw`'s port for `name` ('eth0' or 'eth0^'); EBUSY if the switch already has one. */
export function openAttachedPort(sw: string, name: string, opts: OpenOptions): ValePort {
  const finalName = `${sw}:${name}`;
  const temp = `${sw}:nmts_attach_${process.pid}_${threadId}_${serial++}/x`;
  const port = open(temp, opts);
  if (!(port instanceof ValePort)) {
    port.close();
    throw new NetmapError('EINVAL', `${finalName}: not a VALE port`);
  }
  const region = port.region, u32 = region.u32;
  region.lockConfig();
  let taken = false;
  try {
    if (region.dirFind(DirType.Port, finalName)) {
      taken = true;
    } else {
      const old = u32[(port.rec + PR.dirOfs) >> 2];
      const entry = region.dirAdd(DirType.Port, finalName, port.rec, u32[(old + DIR.gen) >> 2]);
      region.dirRemove(old);
      u32[(port.rec + PR.dirOfs) >> 2] = entry;
    }
  } finally {
    region.unlockConfig();
  }
  if (taken) {
    port.close();
    throw new NetmapError('EBUSY', `switch ${sw} already has a port ${finalName} (attached by another daemon, or opened by a program in another network namespace)`);
  }
  return port;
}
