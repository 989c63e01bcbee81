// Prometheus exposition of a metrics snapshot (vale/metrics.ts), through prom-client: a fresh
// registry per snapshot, so counters carry exactly the values read from the shared files
// (the switch's counters are the truth; nothing accumulates here between scrapes).
//
// Names (all `nmts_`), types and labels are listed in docs/observability.md:
//   nmts_port_packets_total, nmts_port_bytes_total   counter  switch, port, direction (tx|rx)
//   nmts_port_drops_total                            counter  switch, port, direction, cause
//   nmts_port_learned_macs, nmts_port_openers, nmts_port_monitors  gauge  switch, port
//   nmts_ring_packets_total, nmts_ring_bytes_total   counter  switch, port, ring, direction
//   nmts_ring_drops_total                            counter  switch, port, ring, direction, cause
//   nmts_ring_occupancy_slots, nmts_ring_slots       gauge    switch, port, ring, direction
//   nmts_switch_ports, nmts_switch_learned_macs      gauge    switch
//   nmts_metrics_skipped_files, nmts_metrics_problems gauge   (what the reader left out)
import { Counter, Gauge, Registry } from 'prom-client';
import type { MetricsSnapshot } from '../../vale/metrics.js';

const PORT = ['switch', 'port'] as const;
const PORT_DIR = ['switch', 'port', 'direction'] as const;
const RING = ['switch', 'port', 'ring', 'direction'] as const;

/** A registry holding the snapshot's figures; `extend` adds more (the daemon's own, later). */
export function snapshotRegistry(snap: MetricsSnapshot, extend?: (registry: Registry) => void): Registry {
  const registers = [new Registry()];
  const reg = registers[0];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name, help, labelNames, registers });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge<L>({ name, help, labelNames, registers });

  const pkts = counter('nmts_port_packets_total', 'Frames a port sent (direction="tx") or received (direction="rx"), summed over its rings.', PORT_DIR);
  const bytes = counter('nmts_port_bytes_total', 'Bytes a port sent or received, summed over its rings.', PORT_DIR);
  const drops = counter('nmts_port_drops_total', 'Frames lost at a port, by cause: tx/undelivered (sent, reached no destination), tx/bad_vnet_hdr (sent with a malformed virtio-net header, refused by the switch), rx/ring_full (its rx ring was full), rx/bad_slot (a damaged slot or ring), monitor/monitor_full (a monitor of the port had no room).', [...PORT_DIR, 'cause']);
  const macs = gauge('nmts_port_learned_macs', 'Entries of the switch MAC table that point to this port.', PORT);
  const openers = gauge('nmts_port_openers', 'Opens of the port now.', PORT);
  const monitors = gauge('nmts_port_monitors', 'Monitors attached to the port now.', PORT);
  const rPkts = counter('nmts_ring_packets_total', 'Frames through one ring (tx: sent, rx: delivered into it).', RING);
  const rBytes = counter('nmts_ring_bytes_total', 'Bytes through one ring.', RING);
  const rDrops = counter('nmts_ring_drops_total', 'Frames lost at one ring, by cause (undelivered, bad_vnet_hdr, ring_full, bad_slot).', [...RING, 'cause']);
  const occ = gauge('nmts_ring_occupancy_slots', 'Slots of a ring holding frames not given back yet (rx: received, not released by the reader).', RING);
  const size = gauge('nmts_ring_slots', 'Slots of a ring (it holds at most this minus one frames).', RING);
  const swPorts = gauge('nmts_switch_ports', 'Ports attached to a VALE switch.', ['switch'] as const);
  const swMacs = gauge('nmts_switch_learned_macs', 'Valid entries of a switch MAC table.', ['switch'] as const);
  const skipped = gauge('nmts_metrics_skipped_files', 'Shared files the reader could not read (untrusted, unreadable, damaged).', [] as const);
  const problems = gauge('nmts_metrics_problems', 'Damaged records the reader left out.', [] as const);

  for (const s of snap.switches) {
    swPorts.set({ switch: s.name }, s.ports.length);
    swMacs.set({ switch: s.name }, s.learnedMacs);
    for (const p of s.ports) {
      const l = { switch: s.name, port: p.port };
      pkts.inc({ ...l, direction: 'tx' }, p.txPackets);
      pkts.inc({ ...l, direction: 'rx' }, p.rxPackets);
      bytes.inc({ ...l, direction: 'tx' }, p.txBytes);
      bytes.inc({ ...l, direction: 'rx' }, p.rxBytes);
      drops.inc({ ...l, direction: 'tx', cause: 'undelivered' }, p.drops.undelivered);
      drops.inc({ ...l, direction: 'tx', cause: 'bad_vnet_hdr' }, p.drops.badVnetHdr);
      drops.inc({ ...l, direction: 'rx', cause: 'ring_full' }, p.drops.ringFull);
      drops.inc({ ...l, direction: 'rx', cause: 'bad_slot' }, p.drops.badSlot);
      drops.inc({ ...l, direction: 'monitor', cause: 'monitor_full' }, p.drops.monitorFull);
      macs.set(l, p.learnedMacs);
      openers.set(l, p.openers);
      monitors.set(l, p.monitors);
      for (const r of p.rings) {
        const rl = { ...l, ring: String(r.ring), direction: r.direction };
        rPkts.inc(rl, r.packets);
        rBytes.inc(rl, r.bytes);
        if (r.direction === 'tx') {
          rDrops.inc({ ...rl, cause: 'undelivered' }, r.drops - r.badVnetHdr);
          rDrops.inc({ ...rl, cause: 'bad_vnet_hdr' }, r.badVnetHdr);
        } else {
          rDrops.inc({ ...rl, cause: 'ring_full' }, r.ringFull);
          rDrops.inc({ ...rl, cause: 'bad_slot' }, r.badSlot);
        }
        occ.set(rl, r.occupancy);
        size.set(rl, r.slots);
      }
    }
  }
  skipped.set(snap.skipped.length);
  problems.set(snap.problems.length);
  extend?.(reg);
  return reg;
}

/** The Prometheus text of a snapshot, with its content type. */
export async function exposition(snap: MetricsSnapshot, extend?: (registry: Registry) => void): Promise<{ text: string; contentType: string }> {
  const reg = snapshotRegistry(snap, extend);
  return { text: await reg.metrics(), contentType: reg.contentType };
}
