// What `nmts top` shows: one line per port of every switch, rates and drops, sorted by packet
// rate, from two metrics snapshots (vale/metrics.ts). Plain functions of the snapshots, so the
// screen, --once and --json print the same figures.
import { portRates, type MetricsSnapshot, type PortMetrics, type PortRates } from '../../vale/metrics.js';
import type { VmRow } from './vms.js';
import type { VxlanRow } from './vxlan.js';

/** A port's rates (PortRates) with its drops so far by cause. */
export interface TopRow extends PortRates {
  undelivered: number;
  ringFull: number;
  badSlot: number;
  monitorFull: number;
  rxPackets: number;
  txPackets: number;
  /** Fullest rx ring: slots in use / slots. */
  rxOccupancy: number;
  rxSlots: number;
  learnedMacs: number;
}

/** Rows sorted by packet rate (rx + tx), highest first. */
export function topRows(prev: MetricsSnapshot | null, cur: MetricsSnapshot): TopRow[] {
  const ports = new Map<string, PortMetrics>();
  for (const s of cur.switches) for (const p of s.ports) ports.set(`${s.name}\0${p.port}`, p);
  return portRates(prev, cur).map((r) => {
    const p = ports.get(`${r.switch}\0${r.port}`)!;
    let occ = 0, slots = 0;
    for (const g of p.rings) if (g.direction === 'rx' && (slots === 0 || g.occupancy / g.slots > occ / slots)) { occ = g.occupancy; slots = g.slots; }
    return {
      switch: r.switch, port: r.port, rxPps: r.rxPps, txPps: r.txPps, rxBps: r.rxBps, txBps: r.txBps,
      dropsPs: r.dropsPs, drops: r.drops, undelivered: p.drops.undelivered, ringFull: p.drops.ringFull,
      badSlot: p.drops.badSlot, monitorFull: p.drops.monitorFull,
      rxPackets: p.rxPackets, txPackets: p.txPackets, rxOccupancy: occ, rxSlots: slots, learnedMacs: p.learnedMacs,
    };
  });
}

/** 1234567 -> "1.23M" (SI, three significant digits). */
export function si(v: number): string {
  if (!(v > 0)) return '0';
  if (v < 1000) return v < 10 ? String(Math.round(v * 10) / 10) : String(Math.round(v));
  const units = ['k', 'M', 'G', 'T', 'P'];
  let u = -1;
  while (v >= 999.5 && u < units.length - 1) { v /= 1000; u++; }
  return `${v < 9.995 ? v.toFixed(2) : v < 99.95 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

const COLS: Array<[string, number]> = [['PORT', 0], ['RX pps', 9], ['TX pps', 9], ['RX bit/s', 10], ['TX bit/s', 10], ['DROP/s', 9], ['DROPS', 9], ['RX RING', 11], ['MACS', 5]];

const VM_COLS: Array<[string, number]> = [['VM PORT', 0], ['RX pps', 9], ['TX pps', 9], ['RX bit/s', 10], ['TX bit/s', 10], ['DROP/s', 9], ['DROPS', 9], ['KICK/s', 9], ['IRQ/s', 9], ['STATE', 0]];

/**
 * A section below the switch ports: a header of `cols` and one line per item, the first column
 * (the name, at least 8 wide and as wide as its heading) padded right, the last (a state) as it is, the
 * others right-aligned; a line ends in '!' while the item drops. Nothing when there is none.
 */
function section(cols: Array<[string, number]>, items: Array<{ cells: string[]; dropping: boolean }>): string[] {
  if (items.length === 0) return [];
  const nameW = Math.max(8, cols[0][0].length, ...items.map((x) => x.cells[0].length)), last = cols.length - 1;
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(nameW) : i === last ? c : c.padStart(cols[i][1]))).join(' ');
  return [line(cols.map(([h]) => h)), ...items.map((x) => line(x.cells) + (x.dropping ? '  !' : ''))];
}

/** The VM ports' lines (the daemon's vhost-user ports): a header and one line each, busiest first. */
export function renderVms(vms: VmRow[]): string[] {
  return section(VM_COLS, vms.map((v) => ({
    cells: [v.name, si(v.rxPps), si(v.txPps), si(v.rxBps * 8), si(v.txBps * 8), si(v.dropsPs), si(v.drops), si(v.kicksPs), si(v.interruptsPs),
      `${v.connected ? 'connected' : 'not connected'}, ${v.port ?? 'not attached'}`],
    dropping: v.dropsPs > 0,
  })));
}

const VX_COLS: Array<[string, number]> = [['VXLAN PORT', 0], ['RX pps', 9], ['TX pps', 9], ['RX bit/s', 10], ['TX bit/s', 10], ['DGRAM/s', 9], ['FLOOD/s', 9], ['DROP/s', 9], ['DROPS', 9], ['STATE', 0]];

/** The VXLAN ports' lines: a header and one line each, busiest first (drops: every cause vale-ctl -v lists). */
export function renderVxlan(vx: VxlanRow[]): string[] {
  return section(VX_COLS, vx.map((v) => ({
    cells: [v.name, si(v.rxPps), si(v.txPps), si(v.rxBps * 8), si(v.txBps * 8), si(v.datagramsPs), si(v.floodedPs), si(v.dropsPs), si(v.drops), v.open ? 'open' : 'closed'],
    dropping: v.dropsPs > 0,
  })));
}

/** The screen: a title, a header and one line per port (width of the port column from the names); then the VM ports and the VXLAN ports, if any. */
export function renderTop(rows: TopRow[], cur: MetricsSnapshot, opts: { width?: number; maxRows?: number; vms?: VmRow[]; vxlan?: VxlanRow[] } = {}): string[] {
  const nports = rows.length;
  const title = `nmts top - ${new Date(cur.time).toISOString().slice(11, 19)} - ${cur.switches.length} switch${cur.switches.length === 1 ? '' : 'es'}, ${nports} port${nports === 1 ? '' : 's'}, sorted by packet rate` +
    (cur.skipped.length || cur.problems.length ? ` - ${cur.skipped.length} file(s) not read, ${cur.problems.length} damaged record(s)` : '');
  const nameW = Math.max(8, ...rows.map((r) => r.port.length));
  const head = COLS.map(([h, w], i) => (i === 0 ? h.padEnd(nameW) : h.padStart(w))).join(' ');
  const lines = [title, head];
  const shown = opts.maxRows !== undefined ? rows.slice(0, Math.max(0, opts.maxRows)) : rows;
  for (const r of shown) {
    const cells = [r.port.padEnd(nameW), si(r.rxPps), si(r.txPps), si(r.rxBps * 8), si(r.txBps * 8), si(r.dropsPs), si(r.drops), `${r.rxOccupancy}/${r.rxSlots}`, String(r.learnedMacs)];
    lines.push(cells.map((c, i) => (i === 0 ? c : c.padStart(COLS[i][1]))).join(' ') + (r.dropsPs > 0 ? '  !' : ''));
  }
  if (shown.length < rows.length) lines.push(`(${rows.length - shown.length} more ports)`);
  if (rows.length === 0) lines.push('(no VALE ports: switches appear when a port is opened, e.g. nmts pkt-gen -i vale0:1 -f rx)');
  if (opts.vms?.length) lines.push('', ...renderVms(opts.vms));
  if (opts.vxlan?.length) lines.push('', ...renderVxlan(opts.vxlan));
  return opts.width ? lines.map((l) => l.slice(0, opts.width)) : lines;
}
