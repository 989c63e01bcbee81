// The port kinds, in one table: for each kind `open` picks (core/open.ts factoryKind: monitor,
// pipe, vale, null, netmap), how a name is opened and how the records it makes are destroyed
// when their last opener goes (close, reclaim of dead openers). It sits above core, ports and
// vale, which it joins; the package entry (index.ts) installs it in every thread that loads
// the package, so no port module registers itself when imported.
import { RecKind } from './core/layout.js';
import { open as openByName, usePortKinds, type PortKindTable } from './core/open.js';
import type { Port } from './core/port.js';
import { destroyMonitor, openMonitor } from './ports/monitor.js';
import { openNull } from './ports/null.js';
import { destroyPipe, openPipe } from './ports/pipe.js';
import type { InterfaceOpenOptions } from './ports/netif/kernel-port.js';
import { openInterface } from './ports/netif/open-interface.js';
import { vmPortExists } from './ports/vhost-user/claim.js';
import { openVhostDirect } from './ports/vhost-user/direct-port.js';
import { vxlanExists } from './ports/vxlan/config.js';
import { openVxlanPort } from './ports/vxlan/vxlan-port.js';
import { destroyValePort, openValePort } from './vale/vale-port.js';

export const PORT_KINDS: PortKindTable = {
  monitor: { open: openMonitor, destroy: { [RecKind.Monitor]: destroyMonitor } },
  pipe: { open: openPipe, destroy: { [RecKind.PipeMaster]: destroyPipe, [RecKind.PipeSlave]: destroyPipe } },
  vale: { open: openValePort, destroy: { [RecKind.Vale]: destroyValePort } },
  null: { open: openNull },
  // an interface port's record lives in its private region: never in a shared file's reclaim;
  // netmap:NAME of a VXLAN port made by vale-ctl -n NAME --vxlan (ports/vxlan) opens that port,
  // of a VM port made by vale-ctl -n NAME --vhost-user the VM directly (ports/vhost-user/direct-port)
  netmap: {
    open: (_region, spec, opts) => (vxlanExists(spec.name) ? openVxlanPort(spec, opts)
      : vmPortExists(spec.name) ? openVhostDirect(spec, opts) : openInterface(spec, opts)),
  },
};

usePortKinds(PORT_KINDS);

/**
 * Open a port by netmap name (core/open.ts), with the options of every port kind: those of
 * Linux interfaces (backend, xdpAttach, xdpBind, hostTap) included.
 */
export const open: (name: string, opts?: InterfaceOpenOptions) => Port = openByName;
