// `nmts vnf <name>`: network functions on the user-space host stack (src/host, src/apps/vnf).
// udp-echo (the manual's sample server), udp-client (its sample client), firewall and l4lb.
import { dropSummary } from '../host/stats.js';
import { parseFirewall, parseL4lb, parseUdpClient, parseUdpEcho, VnfUsageError } from '../apps/vnf/options.js';
import { firewall, type FirewallResult } from '../apps/vnf/firewall.js';
import { FW_DROP_REASONS } from '../apps/vnf/fw-engine.js';
import { RuleError } from '../apps/vnf/fw-rules.js';
import { l4lb, type L4lbResult } from '../apps/vnf/l4lb.js';
import { distLine, type DistResult, type DistWorkerStats } from '../apps/vnf/distribute.js';
import { udpEcho } from '../apps/vnf/udp-echo.js';
import { bucketLimit, udpClient, UdpClientError, type UdpClientResult } from '../apps/vnf/udp-client.js';
import { NetmapError } from '../core/region.js';
import type { Port } from '../core/port.js';
import { parseOr, withStopSignal } from './tool.js';

const USAGE = `usage: nmts vnf <function> [options]

Network functions on netmap-ts's user-space host stack (docs/vnf.md):
  udp-echo     answer ARP and ping on an address and echo UDP datagrams sent to a port
  udp-client   send UDP datagrams to an echo server at a rate; count echoes, latency histogram
  firewall     a stateful firewall between two ports: ordered allow/deny rules in the tcpdump
               filter language, a connection table, per-rule hit counters
  l4lb         a layer-4 load balancer: a virtual IP:port spread over backends (Maglev
               consistent hashing), NAT or direct server return, ARP health checks

'nmts vnf <function> --help' for its options.
`;

const HOST_HELP = `  -i, --port PORT      the port: netmap:IF (a Linux interface), valeX:Y, a pipe end x}N
  --ip A.B.C.D/LEN     the host's address and prefix length
  --mac MAC            its MAC (default: the interface's for netmap:IF, else 02:6e + the address)
  --gateway A.B.C.D    next hop for destinations outside the prefix
  --arp IP=MAC         a static ARP entry (repeatable)
  -b, --batch N        frames taken from the port per poll (1..4096)
  --duration SEC       stop after SEC seconds
  --busy-wait          spin instead of sleeping when idle (burns a core)
  --json               print one JSON object at the end instead of the summary lines`;

const DIST_HELP = `  --workers N          distribute over N worker threads (1..64; default: none, one thread
                       reads the port itself); frames are spread by a symmetric RSS hash, so
                       both directions of a flow reach the same worker
  --layout n-1|n-2     n-1: one I/O thread reads and writes the port(s); n-2: an rx and a tx
                       I/O thread (default n-1 with --workers; --layout alone: 1 worker)`;

/** Summary lines of a distributed run: each worker, then the I/O stage. */
function distLines(r: { layout?: string; workers?: DistWorkerStats[]; distribution?: DistResult['distribution'] }): string[] {
  if (!r.workers || !r.distribution) return [];
  const d = r.distribution;
  const lines = r.workers.map((w) => `  worker ${w.worker}: handed ${w.handed}, rx ${w.rx}, tx ${w.tx}, drops ${w.drops}, pipe full ${w.pipeFull}`);
  lines.push(`  ${r.layout} I/O: received ${d.received} (non-IP ${d.nonIp}, ARP copies ${d.arpCopies}), sent ${d.sent}; dropped ${d.dropped} (pipe full ${d.pipeFull}, bad chain ${d.badChain}, too long ${d.tooLong})`);
  return lines;
}
const distReady = (o: { workers?: number; layout?: string }, zerocopy: boolean): string => `, ${o.workers} worker${o.workers === 1 ? '' : 's'}, layout ${o.layout}, zerocopy ${zerocopy ? 'yes' : 'no'}`;

const ECHO_USAGE = `usage: nmts vnf udp-echo -i PORT --ip A.B.C.D/LEN [--udp-port 7] [options]

A host in user space on PORT: answers ARP (resolver cache, gratuitous ARP at start) and ICMP
echo for its address, validates IPv4, and echoes every UDP datagram sent to --udp-port back
to its sender. One thread reads the port itself, or with --workers an I/O thread spreads
the frames over worker threads, each echoing on a zero-copy pipe. On a terminal it prints a stats line per
second; Ctrl-C (or --duration) stops it and prints the totals (with --json: one JSON object).
${HOST_HELP}
${DIST_HELP}
  --udp-port N         the UDP port to echo on (7)
Frames the host does not use are counted by reason (truncated, badIpChecksum, fragment,
vlan, ipv6, noUdpPort, ...): the summary lists those that are not zero.
`;

const CLIENT_USAGE = `usage: nmts vnf udp-client -i PORT --ip A.B.C.D/LEN --server A.B.C.D[:PORT] [options]

The sample client: a user-space host on PORT resolves the server by ARP, then sends UDP
datagrams to it and measures the echoes: rate, loss and a latency histogram (log2 buckets of
microseconds). On a terminal a stats line per second; --json: one JSON object at the end.
${HOST_HELP}
  --server A[:P]       the echo server (port 7)
  --rate PPS           datagrams per second: 100000, 500k, 1M (0, the default: as fast as possible)
  --size BYTES         UDP payload, 16..1472 (64)
  --flows N            source ports 10000..10000+N-1, one flow each (1..256; 1)
  -n, --count N        datagrams to send (default: 5 seconds unless --duration)
`;

const rateStr = (pps: number): string => (pps >= 1e6 ? `${(pps / 1e6).toFixed(2)} Mpps` : `${(pps / 1e3).toFixed(1)} kpps`);

async function echoCommand(argv: string[]): Promise<number> {
  const o = parseOr('vnf udp-echo', argv, parseUdpEcho, VnfUsageError, 'vnf udp-echo: ');
  if (typeof o === 'number') return o;
  if (o.help) { process.stdout.write(ECHO_USAGE); return 0; }
  const tty = process.stdout.isTTY === true && !o.json;
  let prevIn = 0, prevOut = 0, prevT = 0;
  return withStopSignal(async (signal) => {
    try {
      const r = await udpEcho({
        port: o.port, ip: o.ip, udpPort: o.udpPort, mac: o.mac, gateway: o.gateway, staticArp: o.staticArp, batch: o.batch,
        busyWait: o.busyWait, durationSec: o.durationSec, signal, workers: o.workers, layout: o.layout,
        onReady: (h) => process.stderr.write(`udp-echo: ${h} (MAC ${[...h.mac].map((b) => b.toString(16).padStart(2, '0')).join(':')}), UDP port ${o.udpPort}${h.port.backend() ? `, backend ${h.port.backend()!.backend}` : ''}\n`),
        onDistReady: (x) => process.stderr.write(`udp-echo: ${o.ip} on ${o.port} (MAC ${x.mac}), UDP port ${o.udpPort}${distReady(o, x.zerocopy)}\n`),
        onStats: tty ? (s, t, dist) => {
          const dt = t - prevT || 1;
          process.stdout.write(`${t.toFixed(0)}s  in ${rateStr((s.udpIn! - prevIn) / dt)}  echoed ${rateStr((s.udpOut! - prevOut) / dt)}  arp ${s.arpRequestsIn}/${s.arpRepliesOut}  ping ${s.icmpEchoOut}  dropped ${s.dropped}${dist ? `  ${distLine(dist.layout, dist.perWorker, dist.distribution)}` : ''}\n`);
          prevIn = s.udpIn!; prevOut = s.udpOut!; prevT = t;
        } : undefined,
      });
      if (o.json) {
        process.stdout.write(JSON.stringify({ seconds: r.seconds, received: r.received, echoed: r.echoed, stats: r.stats, layout: r.layout, workers: r.workers, distribution: r.distribution }) + '\n');
      } else {
        const s = r.stats;
        process.stdout.write(`${r.received} datagrams received, ${r.echoed} echoed in ${r.seconds.toFixed(1)} s (${rateStr(r.echoed / (r.seconds || 1))})\n`);
        process.stdout.write(`arp: ${s.arpRequestsIn} requests in, ${s.arpRepliesOut} answered, ${s.arpEntries} cache entries; ping: ${s.icmpEchoOut} answered\n`);
        process.stdout.write(`dropped ${s.dropped}${s.dropped ? `: ${dropSummary(s)}` : ''}\n`);
        for (const line of distLines(r)) process.stdout.write(line + '\n');
      }
      return 0;
    } catch (e) {
      process.stderr.write(`vnf udp-echo: ${(e as Error).message}\n`);
      return e instanceof NetmapError || e instanceof RangeError ? 1 : 2;
    }
  });
}

function histLines(r: UdpClientResult): string[] {
  const lines: string[] = [];
  const max = Math.max(1, ...r.histogram);
  r.histogram.forEach((n, k) => {
    if (!n) return;
    const lo = k === 0 ? 0 : bucketLimit(k - 1), hi = bucketLimit(k);
    const label = k === r.histogram.length - 1 ? `>= ${lo} us` : `${lo}..${hi} us`;
    lines.push(`  ${label.padStart(20)}  ${String(n).padStart(10)}  ${'#'.repeat(Math.max(1, Math.round((n / max) * 40)))}`);
  });
  return lines;
}

async function clientCommand(argv: string[]): Promise<number> {
  const o = parseOr('vnf udp-client', argv, parseUdpClient, VnfUsageError, 'vnf udp-client: ');
  if (typeof o === 'number') return o;
  if (o.help) { process.stdout.write(CLIENT_USAGE); return 0; }
  const tty = process.stdout.isTTY === true && !o.json;
  let prevSent = 0, prevRecv = 0, prevT = 0;
  return withStopSignal(async (signal) => {
    try {
      const r = await udpClient({
        port: o.port, ip: o.ip, server: o.server, serverPort: o.serverPort, rate: o.rate, size: o.size, flows: o.flows, count: o.count,
        durationSec: o.durationSec, mac: o.mac, gateway: o.gateway, staticArp: o.staticArp, batch: o.batch, busyWait: o.busyWait, signal,
        onStats: tty ? (x) => {
          const dt = x.seconds - prevT || 1;
          process.stdout.write(`${x.seconds.toFixed(0)}s  sent ${rateStr((x.sent - prevSent) / dt)}  echoed ${rateStr((x.received - prevRecv) / dt)}  rtt p50 ${x.latencyUs.p50} us p99 ${x.latencyUs.p99} us\n`);
          prevSent = x.sent; prevRecv = x.received; prevT = x.seconds;
        } : undefined,
      });
      if (o.json) {
        process.stdout.write(JSON.stringify(r) + '\n');
      } else {
        process.stdout.write(`${r.sent} datagrams sent, ${r.received} echoed, ${r.lost} lost in ${r.seconds.toFixed(1)} s (${rateStr(r.sent / (r.seconds || 1))} sent, ${rateStr(r.received / (r.seconds || 1))} echoed)\n`);
        const l = r.latencyUs;
        process.stdout.write(`round trip: min ${l.min.toFixed(1)} us, mean ${l.mean.toFixed(1)} us, max ${l.max.toFixed(1)} us, p50 < ${l.p50} us, p99 < ${l.p99} us\n`);
        for (const line of histLines(r)) process.stdout.write(line + '\n');
        if (r.stats.dropped) process.stdout.write(`host dropped ${r.stats.dropped}: ${dropSummary(r.stats)}\n`);
      }
      return 0;
    } catch (e) {
      process.stderr.write(`vnf udp-client: ${(e as Error).message}\n`);
      return e instanceof NetmapError || e instanceof RangeError || e instanceof UdpClientError ? 1 : 2;
    }
  });
}

const FW_USAGE = `usage: nmts vnf firewall -i PORT_A -i PORT_B --rules FILE [--default deny|allow] [options]

A stateful firewall between two ports (no address of its own): frames move both ways, zero-copy
when the ports share a memory region. The rules file holds one rule a line, tried in order:
  allow tcp dst port 80        # '#' starts a comment
  deny udp
  allow icmp
EXPR after allow/deny is a tcpdump filter expression. A TCP/UDP frame of a flow already in the
connection table passes without the rules (replies of an allowed flow need no rule); a frame
no rule matches gets the default policy (deny), except ARP, which passes.
  -i, --port PORT      the two ports (netmap:IF, valeX:Y, pipe ends), -i twice
  --rules FILE         the rules file
  --default POLICY     deny (default) or allow
  --conntrack-max N    connection table limit (65536); when full, the entry expiring first is evicted
  -b, --batch N        frames moved per direction and round (512)
  --copy               copy frames even when the ports share a region
  --duration SEC       stop after SEC seconds
  --busy-wait          spin instead of sleeping when idle
  --json               one JSON object at the end
${DIST_HELP}
With --workers each worker owns its own connection table (a flow's two directions hash alike,
so they meet on one worker); the ports are then opened without virtio-net headers: the hosts'
offloads (TSO, GSO, tx checksumming) must be off on interfaces.
`;

const L4LB_USAGE = `usage: nmts vnf l4lb -i PORT --ip A.B.C.D/LEN --vip A.B.C.D:PORT --backend A.B.C.D... [--mode nat|dsr] [options]

A layer-4 load balancer on PORT: TCP and UDP to the VIP are spread over the backends by a Maglev
consistent-hash table (a backend's loss moves only its flows) and a connection table (a flow
stays on its backend). The balancer answers ARP and ping for its address and the VIP.
  nat   the destination is rewritten to the backend (checksums patched incrementally); the
        backends must route their answers through the balancer (its --ip as their gateway)
  dsr   only the MACs change; each backend holds the VIP on a loopback, answers the client directly
${HOST_HELP}
  --vip A.B.C.D:PORT   the virtual service
  --backend A.B.C.D    a backend on the balancer's link (repeatable)
  --mode nat|dsr       nat (default) or dsr
  --table-size P       Maglev table entries, a prime (65537)
  --check-interval MS  ARP health check interval (1000); down after 3 unanswered
  --conntrack-max N    connection table limit (65536)
${DIST_HELP}
With --workers each worker runs its own balancer (the same Maglev table, its own connection
table and health checks); a connection is steered by its client's address and port, so the
request and (NAT) the backend's answer meet on one worker.
`;

const backendNote = (p: Port): string => {
  const b = p.backend();
  return b ? ` (${b.backend}${p.vnetHdrLen ? `, ${p.vnetHdrLen}-byte virtio-net header` : ''})` : '';
};

async function firewallCommand(argv: string[]): Promise<number> {
  const o = parseOr('vnf firewall', argv, parseFirewall, VnfUsageError, 'vnf firewall: ');
  if (typeof o === 'number') return o;
  if (o.help) { process.stdout.write(FW_USAGE); return 0; }
  const tty = process.stdout.isTTY === true && !o.json;
  let prev: FirewallResult | null = null;
  return withStopSignal(async (signal) => {
    try {
      const r = await firewall({
        a: o.ports[0]!, b: o.ports[1]!, rulesFile: o.rules, defaultAllow: o.defaultAllow, conntrackLimit: o.conntrackMax,
        burst: o.batch, copy: o.copy, busyWait: o.busyWait, durationSec: o.durationSec, signal, workers: o.workers, layout: o.layout,
        onReady: ({ a, b, zerocopy, rules }) => process.stderr.write(`firewall: ${a.name}${backendNote(a)} <-> ${b.name}${backendNote(b)}, ${rules.length} rules, default ${o.defaultAllow ? 'allow' : 'deny'}, zerocopy ${zerocopy ? 'yes' : 'no'}\n`),
        onDistReady: ({ zerocopy, rules }) => process.stderr.write(`firewall: ${o.ports[0]} <-> ${o.ports[1]}, ${rules.length} rules, default ${o.defaultAllow ? 'allow' : 'deny'}${distReady(o, zerocopy)}\n`),
        onStats: tty ? (x) => {
          const dt = x.seconds - (prev?.seconds ?? 0) || 1;
          const dist = x.workers ? `  ${distLine(x.layout!, x.workers, x.distribution!)}` : '';
          process.stdout.write(`${x.seconds.toFixed(0)}s  a->b ${rateStr((x.aToB - (prev?.aToB ?? 0)) / dt)}  b->a ${rateStr((x.bToA - (prev?.bToA ?? 0)) / dt)}  conns ${x.firewall.conntrack.entries}  dropped ${x.firewall.dropped}${dist}\n`);
          prev = x;
        } : undefined,
      });
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      else {
        const f = r.firewall;
        process.stdout.write(`${r.aToB} frames a->b, ${r.bToA} b->a in ${r.seconds.toFixed(1)} s (zerocopy ${r.zerocopy ? 'yes' : 'no'})\n`);
        process.stdout.write(`passed: ${f.established} established, ${f.ruleAllowed} by rules, ${f.defaultAllowed} by default, ${f.arpPassed} ARP; connections ${f.conntrack.entries} (created ${f.conntrack.created}, evicted ${f.conntrack.evictions})\n`);
        for (const x of f.rules) process.stdout.write(`  ${String(x.hits).padStart(10)}  line ${x.line}: ${x.rule}\n`);
        const reasons = FW_DROP_REASONS.filter((k) => f[k]).map((k) => `${k}=${f[k]}`);
        if (r.tooLong) reasons.push(`tooLong=${r.tooLong}`);
        process.stdout.write(`dropped ${f.dropped + r.tooLong}${reasons.length ? `: ${reasons.join(' ')}` : ''}\n`);
        for (const line of distLines(r)) process.stdout.write(line + '\n');
      }
      return 0;
    } catch (e) {
      process.stderr.write(`vnf firewall: ${(e as Error).message}\n`);
      return e instanceof NetmapError || e instanceof RangeError || e instanceof RuleError || (e as NodeJS.ErrnoException).code === 'ENOENT' ? 1 : 2;
    }
  });
}

async function l4lbCommand(argv: string[]): Promise<number> {
  const o = parseOr('vnf l4lb', argv, parseL4lb, VnfUsageError, 'vnf l4lb: ');
  if (typeof o === 'number') return o;
  if (o.help) { process.stdout.write(L4LB_USAGE); return 0; }
  const tty = process.stdout.isTTY === true && !o.json;
  let prev: L4lbResult | null = null;
  return withStopSignal(async (signal) => {
    try {
      const r = await l4lb({
        port: o.port, ip: o.ip, vip: o.vip, vipPort: o.vipPort, backends: o.backends, mode: o.mode, mac: o.mac, gateway: o.gateway,
        staticArp: o.staticArp, batch: o.batch, tableSize: o.tableSize, checkMs: o.checkMs, conntrackLimit: o.conntrackMax,
        busyWait: o.busyWait, durationSec: o.durationSec, signal, workers: o.workers, layout: o.layout,
        onReady: (h, x) => process.stderr.write(`l4lb: ${h} VIP ${x.vip} mode ${x.mode}, backends ${x.backends.map((b) => `${b.ip} ${b.up ? 'up' : 'down'}`).join(', ')}\n`),
        onDistReady: (x) => process.stderr.write(`l4lb: ${o.ip} on ${o.port} (MAC ${x.mac}) VIP ${o.vip}:${o.vipPort} mode ${o.mode}, backends ${o.backends.join(', ')}${distReady(o, x.zerocopy)}\n`),
        onHealth: (b, up) => process.stderr.write(`l4lb: backend ${b} ${up ? 'up' : 'down'}\n`),
        onStats: tty ? (x) => {
          const dt = x.seconds - (prev?.seconds ?? 0) || 1;
          const dist = x.workers ? `  ${distLine(x.layout!, x.workers, x.distribution!)}` : '';
          process.stdout.write(`${x.seconds.toFixed(0)}s  to backends ${rateStr((x.counters.toBackend - (prev?.counters.toBackend ?? 0)) / dt)}  to clients ${rateStr((x.counters.toClient - (prev?.counters.toClient ?? 0)) / dt)}  ${x.backends.map((b) => `${b.ip}${b.up ? '' : '(down)'} ${b.flows}`).join('  ')}  dropped ${x.counters.dropped + x.host.dropped}${dist}\n`);
          prev = x;
        } : undefined,
      });
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      else {
        const c = r.counters;
        process.stdout.write(`${c.toBackend} frames to backends, ${c.toClient} to clients in ${r.seconds.toFixed(1)} s (mode ${r.mode}, VIP ${r.vip})\n`);
        for (const b of r.backends) process.stdout.write(`  ${b.ip.padEnd(15)} ${b.up ? 'up  ' : 'down'} flows ${b.flows} packets ${b.packets} bytes ${b.bytes} table entries ${b.tableEntries}\n`);
        process.stdout.write(`flows moved ${c.moved}, table rebuilds ${c.tableRebuilds}, connections ${r.conntrack.entries}; dropped ${c.dropped} (noBackend=${c.noBackend} noArp=${c.noArp} txFull=${c.txFull}); host dropped ${r.host.dropped}${r.host.dropped ? `: ${dropSummary(r.host)}` : ''}\n`);
        for (const line of distLines(r)) process.stdout.write(line + '\n');
      }
      return 0;
    } catch (e) {
      process.stderr.write(`vnf l4lb: ${(e as Error).message}\n`);
      return e instanceof NetmapError || e instanceof RangeError ? 1 : 2;
    }
  });
}

export async function vnfCommand(argv: string[]): Promise<number> {
  const [fn, ...rest] = argv;
  switch (fn) {
    case 'udp-echo': return echoCommand(rest);
    case 'udp-client': return clientCommand(rest);
    case 'firewall': return firewallCommand(rest);
    case 'l4lb': return l4lbCommand(rest);
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(USAGE);
      return fn === undefined ? 2 : 0;
    default:
      process.stderr.write(`nmts vnf: unknown function '${fn}'\n\n${USAGE}`);
      return 2;
  }
}
