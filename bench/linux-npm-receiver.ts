// A receiver built on an npm capture package, as a Node program would use one today:
//
//   node linux-npm-receiver.js cap|pcap IF PREFIX
//
// opens IF with the package installed under PREFIX (bench/linux-peers.ts installs it there, never
// into the project), counts the 'packet' events, prints "ready" once the capture is open, and on
// SIGINT/SIGTERM one JSON line: {"received", "drops", "ifdrops"} (libpcap's ps_drop/ps_ifdrop
// when the package exposes pcap_stats, null otherwise).
import { createRequire } from 'node:module';
import { join } from 'node:path';

interface Result { received: number; drops: number | null; ifdrops: number | null }

/** Opens the capture; returns a function that reads the counters. */
type Opener = (load: NodeJS.Require, ifname: string) => () => Result;

const BUFFER_BYTES = 10 << 20;
let frameBuffer: Buffer | null = null;

const openers: Record<string, Opener> = {
  // cap: new Cap().open(device, filter, bufSize, buffer); one 'packet' event per frame, the frame
  // copied into `buffer`. It has no statistics call.
  cap(load, ifname) {
    const { Cap } = load('cap') as { Cap: new () => { open(d: string, f: string, n: number, b: Buffer): string; setMinBytes?(n: number): void; on(e: 'packet', f: () => void): void } };
    const c = new Cap();
    // cap keeps a raw pointer to this buffer: it must stay referenced (held by `frameBuffer`)
    frameBuffer = Buffer.alloc(65535);
    c.open(ifname, '', BUFFER_BYTES, frameBuffer);
    c.setMinBytes?.(0);
    let n = 0;
    c.on('packet', () => { n++; });
    return () => ({ received: n, drops: null, ifdrops: null });
  },
  // pcap (node_pcap): createSession(device, options); 'packet' events; session.stats() is pcap_stats().
  pcap(load, ifname) {
    type Stats = { ps_recv: number; ps_drop: number; ps_ifdrop: number };
    const pcap = load('pcap') as { createSession(d: string, o: object): { on(e: 'packet', f: () => void): void; stats(): Stats } };
    const s = pcap.createSession(ifname, { filter: '', buffer_size: BUFFER_BYTES, promiscuous: true });
    let n = 0;
    s.on('packet', () => { n++; });
    return () => {
      const st = s.stats();
      return { received: n, drops: st.ps_drop, ifdrops: st.ps_ifdrop };
    };
  },
};

const [lib, ifname, prefix] = process.argv.slice(2);
const open = lib ? openers[lib] : undefined;
if (!open || !ifname || !prefix) {
  process.stderr.write('usage: linux-npm-receiver.js cap|pcap IF PREFIX\n');
  process.exit(2);
}
const load = createRequire(join(prefix, 'node_modules', '.bench-require.js'));
const read = open(load, ifname);
process.stdout.write('ready\n');
const finish = (): void => {
  process.stdout.write(`${JSON.stringify(read())}\n`);
  process.exit(0);
};
process.once('SIGINT', finish);
process.once('SIGTERM', finish);
