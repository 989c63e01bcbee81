// The user-space host stack: `import { host } from 'netmap-ts'` then host.createHost({...}).
export { Host, createHost, parseCidr, type HostOptions } from './host.js';
export { UdpEndpoint } from './udp.js';
export { ArpCache, ARP_FREE, ARP_INCOMPLETE, ARP_REACHABLE, ARP_STATIC, type ArpCacheOptions } from './arp-cache.js';
export { C as HOST_COUNTERS, D as HOST_DROPS, hostStats, dropSummary, type HostStats } from './stats.js';
