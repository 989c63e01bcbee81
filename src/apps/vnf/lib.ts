// The VNFs as a library (`import { vnf } from 'netmap-ts'`): each function's run call, and the
// distribution to worker threads that any of them can use (distribute.ts).
export { distribute, sumStats, MAX_WORKERS, type DistributeOptions, type DistResult, type DistWorkerStats, type Layout } from './distribute.js';
export type { VnfSpec } from './dist-stages.js';
export { udpEcho, type UdpEchoOptions, type UdpEchoResult } from './udp-echo.js';
export { firewall, type FirewallOptions, type FirewallResult } from './firewall.js';
export { l4lb, type L4lbOptions, type L4lbResult } from './l4lb.js';
