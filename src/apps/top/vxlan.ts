// VXLAN ports in `nmts top`: each port of the shm directory (vale-ctl -n NAME --vxlan ...) with
// the rates of its counter page (ports/vxlan/stats.ts, what vale-ctl -v prints) between two
// refreshes: inner frames and bytes each way, datagrams sent, frames flooded, and every drop
// by any cause (vale-ctl -v names the causes). An attached VXLAN port is also a switch port
// (valeX:NAME): its line above shows the switch's side. Read from the files: no daemon needed.
import { vxlanNames } from '../../ports/vxlan/config.js';
import { DROP_COUNTERS, readVxlanStats } from '../../ports/vxlan/stats.js';

/** A sample of the VXLAN ports: when it was taken (monotonic ms) and each port's counters. */
export interface VxlanSample { mono: number; ports: Array<{ name: string; open: boolean; counters: Record<string, number> }> }

/** A VXLAN port's line: rates per second over the last interval. */
export interface VxlanRow {
  name: string;
  open: boolean;
  rxPps: number;
  txPps: number;
  rxBps: number;
  txBps: number;
  /** Datagrams sent per second (a flooded frame once per remote), and frames flooded per second. */
  datagramsPs: number;
  floodedPs: number;
  dropsPs: number;
  drops: number;
}


/** The VXLAN ports now. */
export function sampleVxlan(): VxlanSample {
  const ports: VxlanSample['ports'] = [];
  for (const name of vxlanNames()) {
    const s = readVxlanStats(name);
    ports.push({ name, open: s?.open ?? false, counters: s?.counters ?? {} });
  }
  return { mono: performance.now(), ports };
}

/** Every drop of a counter page (each cause vale-ctl -v lists). */
const dropsOf = (c: Record<string, number>): number => DROP_COUNTERS.reduce((t, [n]) => t + (c[n] ?? 0), 0);

/** Rows of `cur`'s ports with rates since `prev` (a port new since then, or reopened, counts from 0). Busiest first. */
export function vxlanRows(prev: VxlanSample | null, cur: VxlanSample): VxlanRow[] {
  const before = new Map<string, Record<string, number>>();
  if (prev) for (const p of prev.ports) before.set(p.name, p.counters);
  const dt = prev ? (cur.mono - prev.mono) / 1000 : 0;
  const rows = cur.ports.map((p) => {
    const b = before.get(p.name);
    const rate = (now: number, then: number): number => {
      if (!(dt > 0)) return 0;
      const d = now - then;
      return d > 0 ? d / dt : 0; // (a reopened port's page starts again from 0)
    };
    const c = p.counters, at = (k: string): number => c[k] ?? 0, was = (k: string): number => b?.[k] ?? 0;
    const drops = dropsOf(c);
    return {
      name: p.name, open: p.open,
      rxPps: rate(at('rx_frames'), was('rx_frames')), txPps: rate(at('tx_frames'), was('tx_frames')),
      rxBps: rate(at('rx_bytes'), was('rx_bytes')), txBps: rate(at('tx_bytes'), was('tx_bytes')),
      datagramsPs: rate(at('tx_datagrams'), was('tx_datagrams')), floodedPs: rate(at('tx_flooded'), was('tx_flooded')),
      dropsPs: rate(drops, b ? dropsOf(b) : 0), drops,
    };
  });
  return rows.sort((x, y) => y.rxPps + y.txPps - (x.rxPps + x.txPps) || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}
