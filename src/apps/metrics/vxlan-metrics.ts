// The VXLAN ports (vale-ctl -n NAME --vxlan ...) in /metrics and /api/vxlan, from the files every process can
// read: each port's configuration, its counter page (ports/vxlan/stats.ts, what vale-ctl -v
// prints) and its forwarding table (fdb-table.ts), plus the kernel's drops on its UDP sockets.
// Every frame a VXLAN port did not send or deliver is here by cause, as in vale-ctl -v.
//
//   nmts_vxlan_info{port,vni,local,remotes,group,open} 1          gauge
//   nmts_vxlan_frames_total, nmts_vxlan_bytes_total{port,direction}  counter  inner frames (tx: taken
//                                                       from the port's ring; rx: delivered into it)
//   nmts_vxlan_tx_frames_total{port,kind}                counter  unicast (to the FDB's VTEP) or flooded
//   nmts_vxlan_datagrams_total{port}                     counter  datagrams sent (replicas included)
//   nmts_vxlan_gso_sends_total, nmts_vxlan_rx_trains_total, nmts_vxlan_rx_merged_total{port}  counter
//   nmts_vxlan_drops_total{port,direction,cause}         counter  tx: too_big, short, no_remote,
//                                                       send_error, bad_vnet_hdr; rx: short,
//                                                       bad_flags, wrong_vni, too_big, from_self,
//                                                       ring_full, socket_full (the kernel's)
//   nmts_vxlan_fdb_entries{port,kind}                    gauge    live entries, learned or static
//   nmts_vxlan_fdb_events_total{port,event}              counter  learned, moved, evicted
import { Counter, Gauge, type Registry } from 'prom-client';
import { loadVxlanConfig, vxlanNames, vxlanSpecText, type VxlanConfig } from '../../ports/vxlan/config.js';
import { readFdbTable, type FdbEntry } from '../../ports/vxlan/fdb-table.js';
import { DROP_COUNTERS, portSocketDrops, readVxlanStats } from '../../ports/vxlan/stats.js';

/** One VXLAN port as /api/vxlan shows it (and /metrics counts it). */
export interface VxlanPortView {
  name: string;
  /** The configuration as vale-ctl -v prints it (with the run-time static entries), or why it is unreadable. */
  spec: string | null;
  error?: string;
  config: VxlanConfig | null;
  open: boolean;
  /** Its counter page by name (null: never opened), and the kernel's drops on its sockets (null: not open). */
  counters: Record<string, number> | null;
  rxSocketDrops: number | null;
  /** The forwarding table in force while open (null otherwise), or why it could not be read. */
  fdb: FdbEntry[] | null;
  fdbError?: string;
}

/** /api/vxlan: every VXLAN port of this shm directory, its configuration, counters and table. */
export function vxlanView(): { time: number; ports: VxlanPortView[] } {
  const ports: VxlanPortView[] = [];
  for (const name of vxlanNames()) {
    let c: VxlanConfig;
    try { c = loadVxlanConfig(name).config; } catch (e) {
      ports.push({ name, spec: null, error: (e as Error).message, config: null, open: false, counters: null, rxSocketDrops: null, fdb: null });
      continue;
    }
    const s = readVxlanStats(name), open = s?.open ?? false;
    const v: VxlanPortView = {
      name, spec: vxlanSpecText(name, c), config: c, open, counters: s?.counters ?? null, rxSocketDrops: open ? portSocketDrops(c) : null, fdb: null,
    };
    if (open) {
      const t = readFdbTable(name);
      if ('error' in t) v.fdbError = t.error; else v.fdb = t.entries;
    }
    ports.push(v);
  }
  return { time: Date.now(), ports };
}

/** Add every VXLAN port of this shm directory (vxlanView) to a scrape's registry (nothing when there is none). */
export function addVxlanMetrics(reg: Registry): void {
  const view = vxlanView();
  if (view.ports.length === 0) return;
  const registers = [reg];
  const P = ['port'] as const;
  const info = new Gauge({ name: 'nmts_vxlan_info', help: 'A VXLAN port (value 1): its VNI, local address, remotes, multicast group, and whether it is open (a program or an attachment).', labelNames: ['port', 'vni', 'local', 'remotes', 'group', 'open'] as const, registers });
  const frames = new Counter({ name: 'nmts_vxlan_frames_total', help: 'Inner frames a VXLAN port put on the underlay (direction="tx") or delivered from it (direction="rx").', labelNames: ['port', 'direction'] as const, registers });
  const bytes = new Counter({ name: 'nmts_vxlan_bytes_total', help: 'Bytes of those inner frames.', labelNames: ['port', 'direction'] as const, registers });
  const kind = new Counter({ name: 'nmts_vxlan_tx_frames_total', help: 'Inner frames sent, by kind: unicast (to the VTEP the forwarding table gave) or flooded (to every remote and the group).', labelNames: ['port', 'kind'] as const, registers });
  const dgrams = new Counter({ name: 'nmts_vxlan_datagrams_total', help: 'Datagrams a VXLAN port sent (each flooded frame once per remote).', labelNames: P, registers });
  const gso = new Counter({ name: 'nmts_vxlan_gso_sends_total', help: 'UDP GSO sends (each many datagrams) of a VXLAN port.', labelNames: P, registers });
  const trains = new Counter({ name: 'nmts_vxlan_rx_trains_total', help: 'Trains of datagrams a VXLAN port received whole (UDP_GRO).', labelNames: P, registers });
  const merged = new Counter({ name: 'nmts_vxlan_rx_merged_total', help: 'Super-frames a VXLAN port made of received TCP segments.', labelNames: P, registers });
  const drops = new Counter({ name: 'nmts_vxlan_drops_total', help: 'Frames a VXLAN port did not send (tx: too_big for the underlay MTU, short, no_remote, send_error, bad_vnet_hdr) or deliver (rx: short, bad_flags, wrong_vni, too_big, from_self, ring_full, and socket_full: dropped by the kernel with the sockets\' buffers full).', labelNames: ['port', 'direction', 'cause'] as const, registers });
  const entries = new Gauge({ name: 'nmts_vxlan_fdb_entries', help: 'Live entries of a VXLAN port\'s forwarding table, learned or static (while it is open).', labelNames: ['port', 'kind'] as const, registers });
  const events = new Counter({ name: 'nmts_vxlan_fdb_events_total', help: 'Forwarding-table events since the port was opened: learned (new entries), moved (a MAC seen behind another VTEP), evicted (a full bucket).', labelNames: ['port', 'event'] as const, registers });
  for (const p of view.ports) {
    const c = p.config, port = p.name;
    if (c === null) continue; // (vale-ctl -v and /api/vxlan name why)
    info.set({ port, vni: String(c.vni), local: c.local, remotes: c.remotes.join(','), group: c.group ?? '', open: p.open ? '1' : '0' }, 1);
    const v = p.counters;
    if (v === null) continue;
    frames.inc({ port, direction: 'tx' }, v.tx_frames);
    frames.inc({ port, direction: 'rx' }, v.rx_frames);
    bytes.inc({ port, direction: 'tx' }, v.tx_bytes);
    bytes.inc({ port, direction: 'rx' }, v.rx_bytes);
    kind.inc({ port, kind: 'unicast' }, v.tx_unicast);
    kind.inc({ port, kind: 'flooded' }, v.tx_flooded);
    dgrams.inc({ port }, v.tx_datagrams);
    gso.inc({ port }, v.tx_gso_sends);
    trains.inc({ port }, v.rx_trains);
    merged.inc({ port }, v.rx_merged);
    for (const [name, direction, cause] of DROP_COUNTERS) drops.inc({ port, direction, cause }, v[name] ?? 0);
    drops.inc({ port, direction: 'rx', cause: 'socket_full' }, p.rxSocketDrops ?? 0);
    events.inc({ port, event: 'learned' }, v.fdb_learned);
    events.inc({ port, event: 'moved' }, v.fdb_moved);
    events.inc({ port, event: 'evicted' }, v.fdb_evicted);
    if (p.fdb !== null) {
      const stat = p.fdb.filter((e) => e.static).length;
      entries.set({ port, kind: 'static' }, stat);
      entries.set({ port, kind: 'learned' }, p.fdb.length - stat);
    }
  }
}
