// The daemon's VM ports (vhost-user, vale-ctl -n NAME --vhost-user PATH) as the HTTP side shows
// them: /api/vms (JSON) and their metrics in /metrics. The figures are the counters each
// port's thread publishes (apps/vhost-user/manager.ts list(): connected, negotiated features,
// per-queue packets, bytes, drops, kicks, interrupts), read without stopping the thread.
//
// Queues are named from the guest's side, as virtio does: queue 0 (direction "rx") carries
// frames from the switch to the guest, queue 1 ("tx") frames the guest sent. Kicks: the guest
// told the port there was work (eventfd); interrupts: the port signalled the guest (call fd).
//
//   nmts_vm_info{port,switch,socket,features} 1       gauge    a VM port, where it is attached
//   nmts_vm_connected{port}                            gauge    1 while a front end (QEMU) is connected
//   nmts_vm_connections_total{port}                    counter  front ends that connected
//   nmts_vm_queues{port}                               gauge    virtqueues
//   nmts_vm_queue_size{port,queue,direction}           gauge    descriptors (0: not set up)
//   nmts_vm_queue_broken{port,queue,direction}         gauge    1: stopped for a bad ring
//   nmts_vm_queue_packets_total / _bytes_total / _drops_total /
//   nmts_vm_queue_kicks_total / _interrupts_total {port,queue,direction}          counter
//   nmts_vm_unattached_drops_total{port}               counter  frames the guest sent while not attached
import { Counter, Gauge, type Registry } from 'prom-client';
import type { VhostPortInfo, VhostQueueInfo } from '../vhost-user/manager.js';

/** One VM port as /api/vms shows it: the thread's figures plus its switch port and totals. */
export interface VmView extends VhostPortInfo {
  /** valeX:NAME when attached, else null. */
  port: string | null;
  totals: { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number; drops: number; kicks: number; interrupts: number };
}

export function vmView(v: VhostPortInfo): VmView {
  const t = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, drops: v.noPortDrops, kicks: 0, interrupts: 0 };
  for (const q of v.queues) {
    if (q.dir === 'rx') { t.rxPackets += q.packets; t.rxBytes += q.bytes; } else { t.txPackets += q.packets; t.txBytes += q.bytes; }
    t.drops += q.drops;
    t.kicks += q.kicks;
    t.interrupts += q.interrupts;
  }
  return { ...v, port: v.switch ? `${v.switch}:${v.name}` : null, totals: t };
}

type QueueCounter = 'packets' | 'bytes' | 'drops' | 'kicks' | 'interrupts';
const QUEUE_COUNTERS: [QueueCounter, string][] = [
  ['packets', 'Frames through a VM port\'s virtqueue (direction from the guest\'s side: rx to the guest, tx from it).'],
  ['bytes', 'Bytes through a VM port\'s virtqueue.'],
  ['drops', 'Frames dropped at a VM port\'s virtqueue (rx: no guest to take it or a chain; tx: too long or malformed).'],
  ['kicks', 'Kicks of a virtqueue: the guest told the port there was work.'],
  ['interrupts', 'Interrupts of a virtqueue: the port signalled the guest.'],
];

/** Add the VM ports' metrics to a scrape's registry. */
export function addVmMetrics(reg: Registry, vms: readonly VhostPortInfo[]): void {
  const registers = [reg];
  const P = ['port'] as const, Q = ['port', 'queue', 'direction'] as const;
  const info = new Gauge({ name: 'nmts_vm_info', help: 'A VM port (vhost-user) of the daemon (value 1): the switch it is attached to ("" if none), its socket and the negotiated virtio features.', labelNames: ['port', 'switch', 'socket', 'features'] as const, registers });
  const connected = new Gauge({ name: 'nmts_vm_connected', help: 'Whether a front end (QEMU) is connected to the VM port.', labelNames: P, registers });
  const connections = new Counter({ name: 'nmts_vm_connections_total', help: 'Front ends that connected to the VM port since it was created.', labelNames: P, registers });
  const queues = new Gauge({ name: 'nmts_vm_queues', help: 'Virtqueues of the VM port.', labelNames: P, registers });
  const size = new Gauge({ name: 'nmts_vm_queue_size', help: 'Descriptors of a virtqueue (0: not set up by the guest).', labelNames: Q, registers });
  const broken = new Gauge({ name: 'nmts_vm_queue_broken', help: 'Whether a virtqueue was stopped because the guest broke its ring (1).', labelNames: Q, registers });
  const per = QUEUE_COUNTERS.map(([k, help]) => [k, new Counter({ name: `nmts_vm_queue_${k}_total`, help, labelNames: Q, registers })] as const);
  const unattached = new Counter({ name: 'nmts_vm_unattached_drops_total', help: 'Frames the guest sent while the VM port was attached to no switch.', labelNames: P, registers });
  for (const v of vms) {
    const l = { port: v.name };
    info.set({ ...l, switch: v.switch ?? '', socket: v.path, features: v.features.join(',') }, 1);
    connected.set(l, v.connected ? 1 : 0);
    connections.inc(l, v.connections);
    queues.set(l, v.queues.length);
    unattached.inc(l, v.noPortDrops);
    for (const q of v.queues) {
      const ql = { ...l, queue: String(q.index), direction: q.dir };
      size.set(ql, q.size);
      broken.set(ql, q.broken ? 1 : 0);
      for (const [k, c] of per) c.inc(ql, (q as VhostQueueInfo)[k]);
    }
  }
}
