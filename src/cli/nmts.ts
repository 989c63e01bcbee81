// The `nmts` command: one binary, netmap's tools as subcommands.
import { readFileSync } from 'node:fs';
import { pktGenCommand } from './pkt-gen.js';
import { demoCommand } from './demo.js';
import { daemonCommand } from './daemon.js';
import { valeCtlCommand } from './vale-ctl.js';
import { bridgeCommand } from './bridge.js';
import { replayCommand } from './replay.js';
import { prepCommand } from './prep.js';
import { lbCommand } from './lb.js';
import { captureCommand } from './capture.js';
import { tlemCommand } from './tlem.js';
import { metricsCommand } from './metrics.js';
import { topCommand } from './top.js';
import { vnfCommand } from './vnf.js';

const USAGE = `usage: nmts <command> [options]

netmap's packet I/O and tools for Node.js.

commands:
  pkt-gen   generate, receive and echo packets (netmap's pkt-gen: -f tx|rx|ping|pong|txseq|rxseq)
  demo      an embedded VALE switch with a generator and a receiver in worker threads (about 10 s)
  bridge    forward between two ports both ways (zero-copy when they share a region)
  replay    send pcap/pcapng files to a port with tcpreplay's options and statistics
  prep      split a capture into client/server directions: tcpprep's cache files for replay -c
  capture   tcpdump on a port (print, or write pcap/pcapng) or on saved captures (-r), its options and filters
  tlem      link emulation between two ports: bandwidth, delay, loss, queue size, per direction
  lb        netmap's load balancer: symmetric RSS hash from one port to N zero-copy pipes
  vale-ctl  list switches and ports, attach interfaces (netmap's vale-ctl: -l -g -a -h -d -p -P -n -r)
  daemon    hold persistent switches and ports, reclaim dead ones, answer a JSON control socket
  top       live per-port rates and drops of every switch, sorted by rate (--once, --json)
  metrics   the switches' metrics: Prometheus text, JSON, or served over HTTP (--http 127.0.0.1:9180)
  vnf       network functions on a user-space host stack: udp-echo, udp-client (docs/vnf.md)
  help      this text; 'nmts <command> --help' for a command's options
  version   print the version

examples:
  nmts demo --seconds 5                          (sender and receiver threads on one switch)
  nmts pkt-gen -i vale0:2 -f rx                  (in one terminal)
  nmts pkt-gen -i vale0:1 -f tx                  (in another: both ports on switch vale0)
  nmts pkt-gen -i 'x{1' -f tx --duration 5 -p 2   (two threads into a zero-copy pipe; read it with -i 'x}1')
  nmts pkt-gen -i null -f tx -n 10000000         (the generator alone)

Switches and pipes live in shared files (/dev/shm/nmts-*): separate processes (two
terminals running pkt-gen on vale0:1 and vale0:2) and threads share them by name.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'pkt-gen': return pktGenCommand(rest);
    case 'demo': return demoCommand(rest);
    case 'daemon': return daemonCommand(rest);
    case 'vale-ctl': case 'valectl': return valeCtlCommand(rest);
    case 'bridge': return bridgeCommand(rest);
    case 'replay': return replayCommand(rest);
    case 'prep': return prepCommand(rest);
    case 'lb': return lbCommand(rest);
    case 'capture': return captureCommand(rest);
    case 'tlem': return tlemCommand(rest);
    case 'top': return topCommand(rest);
    case 'metrics': return metricsCommand(rest);
    case 'vnf': return vnfCommand(rest);
    case 'version': case '--version': case '-V':
      process.stdout.write(`nmts ${version()}\n`);
      return 0;
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`nmts: unknown command '${cmd}'\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`nmts: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
