// netmap-ts public API.
// the port kinds: installed here, in every thread that loads the package (port-kinds.ts)
export { open, PORT_KINDS } from './port-kinds.js';

export * from './core/constants.js';
export { type FactoryKind, type PortKind, type PortKindTable } from './core/open.js';
export { Port, type OpenOptions, type PortStats } from './core/port.js';
export { pollPorts } from './core/poll.js';
export { Ring } from './core/ring.js';
export { Region, NetmapError } from './core/region.js';
export { processRegion, regionHandle, adoptRegion } from './core/memory.js';
export { parsePortSpec, formatPortSpec, PortSpecError, type PortSpec } from './core/portspec.js';
export { ValePort } from './vale/vale-port.js';
export { PipePort } from './ports/pipe.js';
export { MonitorPort } from './ports/monitor.js';
export { NullPort } from './ports/null.js';
export { KernelPort, type KernelDrops, type KernelPortInfo, type Backend, type InterfaceOpenOptions } from './ports/netif/kernel-port.js';
export { XdpPort } from './ports/netif/xdp-port.js';
export { PacketPort } from './ports/netif/packet-port.js';
export { registerLookup, type LookupFn } from './vale/switch.js';
export { valeSwitch, listSwitches, listSwitchesReport, type SwitchInfo, type SwitchReport } from './vale/api.js';
export { reclaimAll, regionPath, openSharedRegion } from './core/shm.js';
export { taskAlive } from './core/lock.js';
export * as packet from './packet/index.js';
export * as host from './host/index.js';
export * as vnf from './apps/vnf/lib.js';
