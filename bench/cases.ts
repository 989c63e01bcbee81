/**
 * Benchmark case registry.
 *
 * A case measures one way of moving frames and reports how many it moved in
 * the measured window. `bench/run.ts` runs the registered cases one after
 * another (never concurrently) and turns CaseResults into Mpps / Gbit/s.
 *
 *   import { registerCase } from './cases.js';
 *   registerCase({
 *     name: 'pipe-60',
 *     description: 'netmap pipe, 60-byte frames, tx worker -> rx worker',
 *     frameLen: 60,
 *     async run(durationMs, opts) { ...; return { packets, bytes, seconds }; },
 *   });
 *
 * Contract for run():
 *  - warm up for `opts.warmupMs` (default DEFAULT_WARMUP_MS) first, then
 *    measure for `durationMs`; `seconds` is the measured window only, and
 *    `packets`/`bytes` are what was *received/forwarded* inside it;
 *  - `bytes` counts frame bytes without CRC (packets * frameLen for fixed
 *    size frames);
 *  - resolve (or reject) within durationMs + warmupMs + 2 s (+ the measured
 *    start-up of `processStarts` processes), and leave nothing running
 *    (terminate workers, close sockets, end child processes). The runner gives
 *    up on a case after that budget and reports it as an error, naming it;
 *  - throw/reject on failure: the runner prints the message in `notes` and
 *    carries on with the next case.
 */

export const DEFAULT_WARMUP_MS = 1000;
/** Slack a case gets on top of warm-up + duration before the runner gives up. */
export const CASE_SLACK_MS = 2000;

export interface RunOptions {
  /** Warm-up before the measured window, in ms. */
  warmupMs: number;
  /** bench --pin: pin each worker thread of the netmap cases to a CPU of its own (worker i to CPU i mod n). */
  pin?: boolean;
}

export interface CaseResult {
  /** Frames received/forwarded during the measured window. */
  packets: number;
  /** Frame bytes (no CRC) for those packets. */
  bytes: number;
  /** Length of the measured window, in seconds. */
  seconds: number;
  /** GCs (all threads involved) that started inside the measured window. */
  gcCount?: number;
  /** Free text for the table's notes column (batch size, loss, ...). */
  notes?: string;
  /** Extra machine-readable fields, merged into the --json line. */
  extra?: Record<string, number | string | boolean | null>;
}

export interface BenchCase {
  /** Unique, short, kebab-case; conventionally ends with the frame length. */
  name: string;
  description: string;
  /** Frame length in bytes (no CRC); used to pick comparison baselines. */
  frameLen: number;
  run(durationMs: number, opts?: RunOptions): Promise<CaseResult>;
  /** Role of the row; 'baseline' cases are the comparison columns. */
  kind?: 'netmap' | 'baseline' | 'limit' | 'tool' | 'vnf' | 'other';
  /** Time allowed beyond warm-up + duration before the case is failed (default CASE_SLACK_MS). */
  slackMs?: number;
  /**
   * Processes the case starts one after the other before its measured window (xproc: 2).
   * The runner measures one process start-up just before the case (bench/startup.ts) and adds
   * it twice over per process to the budget.
   */
  processStarts?: number;
}

const registry = new Map<string, BenchCase>();

export function registerCase(c: BenchCase): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(c.name)) {
    throw new Error(`bench case name must be kebab-case: ${JSON.stringify(c.name)}`);
  }
  if (registry.has(c.name)) throw new Error(`bench case registered twice: ${c.name}`);
  if (!(c.frameLen > 0)) throw new Error(`bench case ${c.name}: frameLen must be > 0`);
  registry.set(c.name, c);
}

/** All cases in registration order. */
export function listCases(): BenchCase[] {
  return [...registry.values()];
}

export function getCase(name: string): BenchCase | undefined {
  return registry.get(name);
}

/** Name of the message-port baseline for a frame length. */
export function messagePortBaseline(frameLen: number): string {
  return `messageport-${frameLen}`;
}

/** Name of the UDP loopback baseline for a frame length. */
export function udpBaseline(frameLen: number): string {
  return `udp-loopback-${frameLen}`;
}
