// Command lines of the --linux peers and of our own tools, and the parsers of what they print.
// Every command is run by linux-proc.ts inside the benchmark's namespace.
import { fileURLToPath } from 'node:url';
import { NPM_PREFIX } from './linux-peers.js';

/** Our CLI, as a user runs it (`nmts` is bin/nmts.js). */
export const NMTS = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const HELPER = fileURLToPath(new URL('./linux-xdp-helper.js', import.meta.url));
const NPM_RECEIVER = fileURLToPath(new URL('./linux-npm-receiver.js', import.meta.url));

export function nmts(args: string[]): string[] {
  return [process.execPath, NMTS, ...args];
}

/** tcpreplay as fast as it can (--topspeed) from memory (-K), looping until stopped (-l 0). */
export function tcpreplay(dev: string, pcap: string): string[] {
  return ['tcpreplay', '--topspeed', '-K', '-l', '0', '-i', dev, pcap];
}

/** tcpreplay's own account of a run: "Actual: N packets (B bytes) sent in S seconds". */
export function tcpreplaySeconds(out: string): number | undefined {
  const m = /Actual: (\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds/.exec(out);
  return m ? Number(m[3]) : undefined;
}

/** trafgen on one CPU; the TX_RING with the qdisc bypass is its default. */
export function trafgen(dev: string, conf: string): string[] {
  return ['trafgen', '--dev', dev, '--conf', conf, '--cpus', '1'];
}

/** tcpdump writing to /dev/null: what `tcpdump -w file` costs, without the disk. */
/**
 * The filter both capture rows (tcpdump and `nmts capture`) compile: every benchmark frame
 * matches it, so the rows compare capture with a filter, as the traffic-tools issue asks.
 */
export const CAPTURE_FILTER = ['udp', 'and', 'dst', 'port', '4321'];

export function tcpdump(dev: string): string[] {
  return ['tcpdump', '-i', dev, '-n', '-w', '/dev/null', ...CAPTURE_FILTER];
}

/** tcpdump's (and `nmts capture`'s) closing counters: captured, received by filter, dropped by kernel. */
export function tcpdumpCounters(err: string): { captured: number; received: number; dropped: number } | undefined {
  const n = (what: string): number | undefined => {
    const m = new RegExp(`(\\d+) packets? ${what}`).exec(err);
    return m ? Number(m[1]) : undefined;
  };
  const captured = n('captured'), received = n('received by filter'), dropped = n('dropped by kernel');
  if (captured === undefined || received === undefined || dropped === undefined) return undefined;
  return { captured, received, dropped };
}

/**
 * dpdk-testpmd on AF_XDP ports without hugepages. One forwarding core (-l 0-1: lcore 0 is the
 * main one), one queue per port, the mbuf pool kept small enough for -m 1024, busy polling off
 * (a veth has no NAPI id to busy-poll). --no-huge implies legacy memory, which --in-memory refuses,
 * so the EAL keeps its runtime files under /var/run/dpdk/<file-prefix> (removed after the run).
 * txonly sends the same addresses as every other sender (linux-frames.ts).
 */
/** The EAL's runtime directory is /var/run/dpdk/<this>. */
export const TESTPMD_PREFIX = `nmtsb${process.pid}`;

export function testpmd(mode: 'txonly' | 'rxonly' | 'io', ifaces: string[]): string[] {
  const vdevs = ifaces.flatMap((dev, i) => ['--vdev', `net_af_xdp${i},iface=${dev},start_queue=0,queue_count=1,busy_budget=0`]);
  return [
    'dpdk-testpmd', '-l', '0-1', '--no-huge', '-m', '1024', '--no-pci', `--file-prefix=${TESTPMD_PREFIX}`, ...vdevs,
    '--', `--forward-mode=${mode}`,
    ...(mode === 'txonly' ? ['--txpkts=60', '--eth-peer=0,02:00:00:00:00:02', '--tx-ip=198.18.0.1,198.18.0.2', '--tx-udp=1234,4321'] : []),
    '--stats-period=1', '--nb-cores=1', '--rxq=1', '--txq=1', '--total-num-mbufs=16384',
  ];
}

/** testpmd's accumulated statistics at exit: RX-packets and RX-dropped over all ports. */
export function testpmdRx(out: string): { received: number; drops: number } | undefined {
  const acc = out.lastIndexOf('Accumulated forward statistics');
  const m = /RX-packets:\s*(\d+)\s+RX-dropped:\s*(\d+)/.exec(acc >= 0 ? out.slice(acc) : out);
  return m ? { received: Number(m[1]), drops: Number(m[2]) } : undefined;
}

export function xdpSink(dev: string, action: 'drop' | 'pass'): string[] {
  return [process.execPath, HELPER, 'sink', dev, action];
}

export function xdpGen(dev: string, seconds: number): string[] {
  return [process.execPath, HELPER, 'gen', dev, String(seconds)];
}

export function npmReceiver(lib: 'cap' | 'pcap', dev: string): string[] {
  return [process.execPath, NPM_RECEIVER, lib, dev, NPM_PREFIX];
}

/** The last JSON object line of a tool's stdout (pkt-gen --json, our helpers). */
export function lastJson<T>(out: string): T | undefined {
  const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) return undefined;
  try {
    return JSON.parse(line) as T;
  } catch {
    return undefined;
  }
}
