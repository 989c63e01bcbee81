// The daemon's side of the HTTP server (nmts daemon --http): what it adds to the shared files'
// metrics (apps/http/server.ts serves both). Read-only, like the server: nothing here changes
// the daemon's state; changes stay on the Unix control socket.
//
//   GET /api/interfaces  interfaces attached to switches: backend, forwarder counters per
//                        direction, the kernel's drops by cause (AF_XDP XDP_STATISTICS,
//                        AF_PACKET PACKET_STATISTICS, the host TAP's tx_dropped)
//   GET /api/daemon      pid, version, uptime, connections, requests, errors, reclaims, held ports
//   GET /api/vms         VM ports (vhost-user): connected, features, queues, per-queue packets,
//                        bytes, drops, kicks, interrupts (vm-metrics.ts, also its metrics)
//
// Metrics added to /metrics (names, types and labels in docs/observability.md):
//   nmts_daemon_uptime_seconds, nmts_daemon_connections,
//   nmts_daemon_held_ports, nmts_daemon_attached_interfaces                    gauge
//   nmts_daemon_connections_total{result}   accepted | refused (too many of one uid)  counter
//   nmts_daemon_requests_total{command}     control-socket requests                   counter
//   nmts_daemon_errors_total{code}          error replies (and failed reclaim passes)  counter
//   nmts_daemon_reclaim_passes_total, nmts_daemon_reclaimed_openers_total,
//   nmts_daemon_reclaimed_ports_total                                                  counter
//   nmts_interface_info{interface,switch,port,backend} 1                              gauge
//   nmts_interface_packets_total / _bytes_total / _forward_drops_total
//        {interface,switch,direction}      the forwarder's, per direction             counter
//   nmts_interface_kernel_drops_total{interface,switch,backend,direction,cause}       counter
//        rx/ring_full, rx/other, tx/invalid_desc, host/tap_dropped
import { Counter, Gauge, type Registry } from 'prom-client';
import { readMetrics } from '../../vale/metrics.js';
import type { MetricsProvider } from '../http/server.js';
import type { AttachmentInfo } from '../vale-attach/vale-attach.js';
import type { DaemonCounters } from './stats.js';
import { packageVersion, type DaemonState } from './state.js';
import { addVmMetrics, vmView } from './vm-metrics.js';

/** What the HTTP side reads of the socket server. */
export interface ConnectionCounts {
  readonly connections: number;
  readonly accepted: number;
  readonly refused: number;
}

/** Forwarder directions as label values. */
const DIRECTION_LABEL: Record<keyof AttachmentInfo['counters'], string> = {
  nicToSwitch: 'nic_to_switch', switchToNic: 'switch_to_nic', hostToSwitch: 'host_to_switch', switchToHost: 'switch_to_host',
};

/** The kernel's drop counters as (direction, cause) label pairs. */
const KERNEL_LABEL: Record<keyof AttachmentInfo['kernelDrops'], { direction: string; cause: string }> = {
  rxRingFull: { direction: 'rx', cause: 'ring_full' },
  rxOther: { direction: 'rx', cause: 'other' },
  txInvalid: { direction: 'tx', cause: 'invalid_desc' },
  host: { direction: 'host', cause: 'tap_dropped' },
};

/** One attached interface as /api/interfaces shows it. */
export interface InterfaceView {
  interface: string;
  switch: string;
  port: string;
  index: number;
  hostPort: string | null;
  hostIndex: number | null;
  backend: string;
  lines: string[];
  polling: AttachmentInfo['polling'];
  since: string;
  counters: AttachmentInfo['counters'];
  kernelDrops: AttachmentInfo['kernelDrops'];
  /** All of the kernel's drops together. */
  kernelDropsTotal: number;
  stuck?: string;
}

export function interfaceView(a: AttachmentInfo): InterfaceView {
  const k = a.kernelDrops;
  return {
    interface: a.interface, switch: a.switch, port: a.port, index: a.index, hostPort: a.hostPort, hostIndex: a.hostIndex,
    backend: a.backend, lines: a.lines, polling: a.polling, since: a.since, counters: a.counters, kernelDrops: k,
    kernelDropsTotal: k.rxRingFull + k.rxOther + k.txInvalid + k.host,
    ...(a.stuck ? { stuck: a.stuck } : {}),
  };
}

/** The daemon's figures as /api/daemon shows them. */
export function daemonView(state: DaemonState, counters: DaemonCounters, conns: ConnectionCounts): Record<string, unknown> {
  return {
    pid: process.pid, version: packageVersion(), uptimeSec: state.ping().uptimeSec,
    connections: { open: conns.connections, accepted: conns.accepted, refused: conns.refused },
    requests: Object.fromEntries(counters.requests), requestsTotal: counters.requestsTotal,
    errors: Object.fromEntries(counters.errors),
    reclaims: { ...state.reclaimTotals, failures: counters.reclaimFailures },
    held: state.heldPorts(),
    attached: state.attachedCount,
    vms: state.vhostList().length,
  };
}

/** Add the daemon's metrics and those of its attached interfaces to a scrape's registry. */
export function addDaemonMetrics(reg: Registry, state: DaemonState, counters: DaemonCounters, conns: ConnectionCounts): void {
  const registers = [reg];
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Gauge<L>({ name, help, labelNames, registers });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Counter<L>({ name, help, labelNames, registers });

  gauge('nmts_daemon_uptime_seconds', 'Seconds since the daemon started.').set(state.ping().uptimeSec);
  gauge('nmts_daemon_connections', 'Control-socket connections open now.').set(conns.connections);
  const connTotal = counter('nmts_daemon_connections_total', 'Control-socket connections since the start: accepted, or refused because their uid had too many open.', ['result'] as const);
  connTotal.inc({ result: 'accepted' }, conns.accepted);
  connTotal.inc({ result: 'refused' }, conns.refused);
  const req = counter('nmts_daemon_requests_total', 'Control-socket requests by command ("invalid": not JSON or an unknown command).', ['command'] as const);
  for (const [command, n] of counters.requests) req.inc({ command }, n);
  const err = counter('nmts_daemon_errors_total', 'Error replies of the control socket by code, and failed periodic reclaim passes (code "reclaim").', ['code'] as const);
  for (const [code, n] of counters.errors) err.inc({ code }, n);
  err.inc({ code: 'reclaim' }, counters.reclaimFailures);
  const t = state.reclaimTotals;
  counter('nmts_daemon_reclaim_passes_total', 'Passes over the shared files looking for ports of dead processes.').inc(t.passes);
  counter('nmts_daemon_reclaimed_openers_total', 'Openers (threads or processes that died with a port open) reclaimed.').inc(t.openers);
  counter('nmts_daemon_reclaimed_ports_total', 'Ports destroyed because their last opener was reclaimed.').inc(t.ports);
  gauge('nmts_daemon_held_ports', 'Ports the daemon holds open for clients.').set(state.heldCount);
  gauge('nmts_daemon_attached_interfaces', 'Linux interfaces the daemon keeps attached to switches.').set(state.attachedCount);
  addVmMetrics(reg, state.vhostList());

  const IF = ['interface', 'switch'] as const;
  const info = gauge('nmts_interface_info', 'An interface attached to a switch (value 1): its switch port and backend (af_xdp, af_packet).', [...IF, 'port', 'backend'] as const);
  const pkts = counter('nmts_interface_packets_total', 'Frames the forwarder of an attached interface moved, by direction (nic_to_switch, switch_to_nic, host_to_switch, switch_to_host).', [...IF, 'direction'] as const);
  const bytes = counter('nmts_interface_bytes_total', 'Bytes the forwarder of an attached interface moved, by direction.', [...IF, 'direction'] as const);
  const fwdDrops = counter('nmts_interface_forward_drops_total', 'Frames the forwarder of an attached interface could not pass on, by direction.', [...IF, 'direction'] as const);
  const kDrops = counter('nmts_interface_kernel_drops_total', 'Frames the kernel side of an attached interface dropped: rx/ring_full (the socket\'s ring was full: AF_XDP rx_ring_full, AF_PACKET tp_drops), rx/other (AF_XDP rx_dropped, rx_invalid_descs), tx/invalid_desc (AF_XDP tx_invalid_descs), host/tap_dropped (the host-stack TAP).', [...IF, 'backend', 'direction', 'cause'] as const);
  for (const a of state.attached()) {
    const l = { interface: a.interface, switch: a.switch };
    info.set({ ...l, port: a.port, backend: a.backend }, 1);
    for (const [d, c] of Object.entries(a.counters) as [keyof AttachmentInfo['counters'], AttachmentInfo['counters'][keyof AttachmentInfo['counters']]][]) {
      if (d.startsWith('host') || d.endsWith('Host')) { if (!a.hostPort) continue; }
      const dl = { ...l, direction: DIRECTION_LABEL[d] };
      pkts.inc(dl, c.packets);
      bytes.inc(dl, c.bytes);
      fwdDrops.inc(dl, c.drops);
    }
    for (const [k, v] of Object.entries(a.kernelDrops) as [keyof AttachmentInfo['kernelDrops'], number][]) {
      if (k === 'host' && !a.hostPort) continue;
      kDrops.inc({ ...l, backend: a.backend, ...KERNEL_LABEL[k] }, v);
    }
  }
}

/** The provider the daemon hands to startMetricsServer: the shared files plus the daemon's own. */
export function daemonMetricsProvider(state: DaemonState, counters: DaemonCounters, conns: ConnectionCounts): MetricsProvider {
  return {
    snapshot: readMetrics,
    extendRegistry: (reg) => addDaemonMetrics(reg, state, counters, conns),
    extras: {
      interfaces: () => ({ time: Date.now(), interfaces: state.attached().map(interfaceView) }),
      daemon: () => daemonView(state, counters, conns),
      vms: () => ({ time: Date.now(), vms: state.vhostList().map(vmView) }),
    },
  };
}
