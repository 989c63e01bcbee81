// -C, the ring configuration of pkt-gen and vale-ctl (-n, -a, -h): netmap's
// "tx_slots[,rx_slots[,tx_rings[,rx_rings]]]". One slot count stands for both directions, and
// so does a ring count without a fourth number; 0 means the port's default. Each tool reads
// the numbers its own way (pkt-gen strictly, vale-ctl as netmap's vale-ctl does) and maps them
// here; the limits are netmap's (core/constants.ts), which the kernel applies by bounding
// (nm_bound_var: above the maximum the maximum, 0 the default).
import { DEFAULT_SLOTS, MAX_SLOTS, NM_BDG_MAXRINGS } from '../../core/constants.js';

/** Ring and slot counts from -C; 0 means "the port's default". */
export interface RingConfig {
  txSlots: number;
  rxSlots: number;
  txRings: number;
  rxRings: number;
}

/** The counts 1 to 4 numbers of -C give (numbers beyond the fourth are the caller's to refuse or note). */
export function ringConfigOf(n: readonly number[]): RingConfig {
  const txSlots = n[0] ?? 0;
  const txRings = n[2] ?? 0;
  return { txSlots, rxSlots: n[1] ?? txSlots, txRings, rxRings: n[3] ?? txRings };
}

/** What netmap's kernel would change in `c` for a VALE port: one note per bounded value. */
export function boundNotes(c: RingConfig, given: boolean): string[] {
  const notes: string[] = [];
  const bound = (what: string, n: number, dflt: number, max: number): void => {
    if (n > max) notes.push(`${what} ${n} is bounded to ${max}`);
    else if (n === 0 && given && what.endsWith('slots')) notes.push(`${what} 0 means the default (${dflt})`);
  };
  bound('tx_slots', c.txSlots, DEFAULT_SLOTS, MAX_SLOTS);
  bound('rx_slots', c.rxSlots, DEFAULT_SLOTS, MAX_SLOTS);
  bound('tx_rings', c.txRings, 1, NM_BDG_MAXRINGS);
  bound('rx_rings', c.rxRings, 1, NM_BDG_MAXRINGS);
  return notes;
}

/** `c` as open() options, bounded as the kernel would; counts left at 0 are left out. */
export function boundedConf(c: RingConfig): { txSlots?: number; rxSlots?: number; txRings?: number; rxRings?: number } {
  const conf: { txSlots?: number; rxSlots?: number; txRings?: number; rxRings?: number } = {};
  if (c.txSlots > 0) conf.txSlots = Math.min(c.txSlots, MAX_SLOTS);
  if (c.rxSlots > 0) conf.rxSlots = Math.min(c.rxSlots, MAX_SLOTS);
  if (c.txRings > 0) conf.txRings = Math.min(c.txRings, NM_BDG_MAXRINGS);
  if (c.rxRings > 0) conf.rxRings = Math.min(c.rxRings, NM_BDG_MAXRINGS);
  return conf;
}
