// The embedded demo: a receiver and a sender, both pkt-gen, on one VALE switch, in worker
// threads of this process. The sender's txsync forwards through the switch into the
// receiver's ring; the receiver sleeps in poll() when there is nothing to do.
import { pktGen, type PktGenResult } from '../pkt-gen/run.js';
import { parsePktGenArgs } from '../pkt-gen/options.js';

export interface DemoOptions {
  seconds: number;
  size: number;
  switchName: string;
  out: (line: string) => void;
}

export async function runDemo(o: DemoOptions): Promise<{ ok: boolean; tx: PktGenResult; rx: PktGenResult }> {
  const rxPort = `${o.switchName}:rx`, txPort = `${o.switchName}:tx`;
  o.out(`netmap-ts demo: VALE switch ${o.switchName}, sender ${txPort} -> receiver ${rxPort}, ${o.size}-byte frames, ${o.seconds} s`);
  o.out(`(the same as two terminals running 'nmts pkt-gen -i ${rxPort} -f rx' and 'nmts pkt-gen -i ${txPort} -f tx')`);
  const prefix = (tag: string) => (l: string): void => o.out(`[${tag}] ${l}`);
  const ac = new AbortController();
  const rxOpts = parsePktGenArgs(['-i', rxPort, '-f', 'rx', '-D', '02:00:00:00:00:02']);
  const rxRun = pktGen(rxOpts, { out: prefix('rx'), err: prefix('rx'), signal: ac.signal });
  await new Promise((r) => setTimeout(r, 300)); // let the receiver open its port first
  // unicast to the receiver's MAC: it is learned from nothing, so the first frames flood,
  // which on a two-port switch reaches the same place
  const txOpts = parsePktGenArgs(['-i', txPort, '-f', 'tx', '-l', String(o.size), '-S', '02:00:00:00:00:01', '-D', '02:00:00:00:00:02', '--duration', String(o.seconds)]);
  const tx = await pktGen(txOpts, { out: prefix('tx'), err: prefix('tx') });
  await new Promise((r) => setTimeout(r, 200));
  ac.abort();
  const rx = await rxRun;
  // every frame sent is received, or dropped and counted on both sides (the receiver's ring
  // was full): the demo shows both ports' counters, and anything unaccounted for
  const unaccounted = tx.packets - rx.packets - tx.dropped;
  o.out(`summary: sent ${tx.packets} frames, received ${rx.packets}, dropped by the switch (receiver ring full) ${tx.dropped}` +
    `${unaccounted ? `, unaccounted for ${unaccounted}` : ''}; ` +
    `${(rx.packets / Math.max(tx.seconds, 1e-9) / 1e6).toFixed(2)} Mpps delivered`);
  o.out(`  ${txPort}: tx ${tx.packets} packets ${tx.bytes} bytes, ${tx.dropped} not delivered`);
  o.out(`  ${rxPort}: rx ${rx.packets} packets ${rx.bytes} bytes, ${rx.dropped} dropped (receive ring full)`);
  return { ok: tx.packets > 0 && rx.packets > 0, tx, rx };
}
