// A UDP service on the user-space host stack: every datagram to port 4000 is answered with its
// bytes in upper case, written straight into a tx slot (begin/end), and the host answers ARP
// and ping by itself. Run: node dist/examples/udp-upper.js vale0:upper 10.0.0.1/24
// then from a VALE port (or a Linux peer on netmap:IF): nmts vnf udp-client ... --server 10.0.0.1:4000
import { host } from '../src/index.js';

export interface UpperCounters { answered: number; failed: number }

/** One round: take a batch, answer each datagram of `ep`, push the answers. Returns frames taken. */
export function serveOnce(h: host.Host, ep: host.UdpEndpoint, c: UpperCounters, timeoutMs = 0): number {
  const frames = h.poll(timeoutMs); // ARP and ICMP are answered in here
  const n = ep.recv();
  const u8 = ep.u8; // the port's memory: payloads are read where they were received
  for (let i = 0; i < n; i++) {
    const src = ep.off[i]!, len = ep.len[i]!;
    const dst = ep.begin(ep.srcIp[i]!, ep.srcPort[i]!, len); // headers written, ARP resolved
    if (dst < 0) { c.failed++; continue; } // counted in h.stats() too (noArp, txFull)
    for (let k = 0; k < len; k++) {
      const b = u8[src + k]!;
      u8[dst + k] = b >= 0x61 && b <= 0x7a ? b - 32 : b;
    }
    ep.end(); // UDP checksum, once, and the slot handed to the port
    c.answered++;
  }
  h.flush(); // one txsync for the batch
  return frames;
}

export async function serve(port: string, ip: string, signal: AbortSignal): Promise<UpperCounters> {
  const h = host.createHost({ port, ip });
  const ep = h.udp(4000);
  const c: UpperCounters = { answered: 0, failed: 0 };
  try {
    while (!signal.aborted) {
      if (serveOnce(h, ep, c) === 0) await h.wait(100); // idle: sleep without blocking the event loop
    }
    return c;
  } finally {
    console.error(`udp-upper: ${c.answered} answered; host ${JSON.stringify(h.stats())}`);
    h.close();
  }
}

if (process.argv[1]?.endsWith('udp-upper.js')) {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  await serve(process.argv[2] ?? 'vale0:upper', process.argv[3] ?? '10.0.0.1/24', ac.signal);
}
