// A two-port filtering forwarder, after the example in Vincenzo Maffione's netmap talk: one
// thread, one poll loop over an external and an internal port, zero-copy forwarding in both
// directions, and a filter rule applied from outside to inside only.
//
// Ports are netmap-ts zero-copy pipes 1 and 2 of one parent, `fw`: pipes of one parent share
// a memory region, which is what makes swapping buffers between them legal (as netmap's
// bridge checks that both ports have the same memory). The forwarder owns one end of each
// pipe; the traffic sources and sinks own the other ends:
//
//     outside world                this forwarder                      inside host
//     fw{1  ==pipe==>  fw}1 --[dropFromOutside]--> fw}2  ==pipe==>  fw{2
//     fw{1  <==pipe==  fw}1 <--------------------- fw}2  <==pipe==  fw{2
//
// forward(extName, intName, opts) opens the two ends given (default 'fw}1' and 'fw}2').
// Run as a script, `node dist/examples/filter-forwarder.js [EXT INT]`, it also starts
// pkt-gen senders and receivers on the other ends (in this process: regions are not yet
// shared between processes) and prints what went where.
import { pathToFileURL } from 'node:url';
import { open, pollPorts, POLLIN, POLLOUT, type Ring } from '../src/index.js';
import { pktGen } from '../src/apps/pkt-gen/run.js';
import { parsePktGenArgs } from '../src/apps/pkt-gen/options.js';

export interface ForwardOptions {
  /** Return after handling this many packets (forwarded + dropped), both directions. */
  maxPackets?: number;
  stopSignal?: AbortSignal;
}
export interface ForwardCounters { extToInt: number; intToExt: number; dropped: number }
type Rule = (u8: Uint8Array, off: number, len: number) => boolean;

/** The filter: drop UDP datagrams for port 9 ("discard") arriving from outside. */
export function dropFromOutside(u8: Uint8Array, off: number, len: number): boolean {
  if (len < 42 || u8[off + 12] !== 0x08 || u8[off + 13] !== 0x00) return false; // IPv4 only
  const ip = off + 14;
  if (u8[ip + 9] !== 17) return false; // not UDP
  const udp = ip + (u8[ip] & 0x0f) * 4; // skip IP options, if any
  return udp + 4 <= off + len && ((u8[udp + 2] << 8) | u8[udp + 3]) === 9;
}

/**
 * Move up to `limit` packets from `rx` to `tx`, scanning both rings in parallel. Zero-copy:
 * a packet changes ring by exchanging buffer indices between the rx slot and the tx slot,
 * and NS_BUF_CHANGED on both tells the port (and the peers) that the buffers moved. A
 * dropped packet is simply released: its buffer goes back to the sender with its slot.
 */
function move(u8: Uint8Array, rx: Ring, tx: Ring, limit: number, rule: Rule | null, c: ForwardCounters, dir: 'extToInt' | 'intToExt'): void {
  let j = rx.head, k = tx.head;
  for (let done = 0; j !== rx.tail && done < limit; done++) {
    const len = rx.len(j);
    if (rule !== null && rule(u8, rx.buf(j), len)) {
      c.dropped++;
    } else {
      if (k === tx.tail) break; // no room on the other side: the rest waits for POLLOUT
      // exchange buffer indices (and copy the length); NS_BUF_CHANGED on both slots
      tx.swapIn(k, rx, j);
      k = tx.next(k);
      c[dir]++;
    }
    j = rx.next(j);
  }
  // Give back the rx slots we consumed and queue the tx slots we filled: head = cur = new
  // position. Nothing moves until the next sync, which poll() below performs.
  rx.advance(j);
  tx.advance(k);
}

export async function forward(extName = 'fw}1', intName = 'fw}2', opts: ForwardOptions = {}): Promise<ForwardCounters> {
  const ext = open(extName), int = open(intName);
  const c: ForwardCounters = { extToInt: 0, intToExt: 0, dropped: 0 };
  const max = opts.maxPackets ?? Infinity;
  const left = (): number => max - c.extToInt - c.intToExt - c.dropped;
  const [extRx, extTx, intRx, intTx] = [ext.rxRings[0]!, ext.txRings[0]!, int.rxRings[0]!, int.txRings[0]!];
  const ports = [ext, int], evs = new Int32Array(2), rev = new Int32Array(2);
  let rounds = 0;
  try {
    while (left() > 0 && !opts.stopSignal?.aborted) {
      // The talk's poll logic, per direction: nothing to read on the source port? Wait for
      // input there (POLLIN). Packets pending? Wait for room on the destination (POLLOUT).
      let extEv = 0, intEv = 0;
      if (extRx.empty()) extEv |= POLLIN; else intEv |= POLLOUT;
      if (intRx.empty()) intEv |= POLLIN; else extEv |= POLLOUT;
      // pollPorts() is netmap's poll() over both ports: it syncs (txsync pushes what we
      // queued; rxsync returns the slots we released and picks up new packets) and sleeps
      // until either port has what we asked for, here for at most 50 ms.
      evs[0] = extEv;
      evs[1] = intEv;
      const idle = pollPorts(ports, evs, rev, 50) === 0;
      // Forward in both directions, whatever woke us: move() stops when a side runs out.
      move(ext.u8, extRx, intTx, left(), dropFromOutside, c, 'extToInt');
      move(int.u8, intRx, extTx, left(), null, c, 'intToExt');
      // let timers and the stop signal run now and then (this loop otherwise never yields)
      if (idle || ++rounds % 64 === 0) await new Promise((r) => setImmediate(r));
    }
  } finally {
    ext.txsync(); int.txsync(); // push the last packets to the peers
    ext.rxsync(); int.rxsync(); // and return the last consumed slots to the senders
    ext.close(); int.close();
  }
  return c;
}

// ---- script mode: traffic on the other ends of the pipes, then the forwarder ----
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [extName = 'fw}1', intName = 'fw}2'] = process.argv.slice(2);
  const other = (name: string): string => name.replace(/[{}]/, (m) => (m === '{' ? '}' : '{'));
  const N = 200_000; // per direction
  const pkt = (tag: string, args: string[]) => pktGen(parsePktGenArgs(['-w', '0', ...args]), {
    out: (l) => console.log(`[${tag}] ${l}`), err: () => {},
  });
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  // /T and /R bind only the tx or only the rx rings, so a sender and a receiver can share
  // one pipe end without syncing each other's rings. Outside traffic alternates UDP
  // destination ports 9 and 8: half of it is dropped.
  const runs = [
    pkt('inside rx ', ['-i', `${other(intName)}/R`, '-f', 'rx', '-n', String(N / 2)]),
    pkt('outside rx', ['-i', `${other(extName)}/R`, '-f', 'rx', '-n', String(N)]),
    pkt('outside tx', ['-i', `${other(extName)}/T`, '-f', 'tx', '-n', String(N), '-d', '10.1.0.1:8-10.1.0.1:9']),
    pkt('inside tx ', ['-i', `${other(intName)}/T`, '-f', 'tx', '-n', String(N), '-s', '10.1.0.1', '-d', '10.0.0.1']),
  ];
  const c = await forward(extName, intName, { maxPackets: 2 * N, stopSignal: ac.signal });
  console.log(`forwarder: ext->int ${c.extToInt}, dropped ${c.dropped} (UDP port 9), int->ext ${c.intToExt}`);
  await Promise.all(runs);
}
