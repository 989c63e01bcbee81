// `nmts capture -D`: tcpdump's list of interfaces, each with the backend a capture from it
// (-i netmap:IF) would get and why, predicted the way the netmap port kind decides
// (src/ports/netif/open-interface.ts) without opening anything: a TAP device reads its own
// file descriptor; NMTS_BACKEND=packet forces AF_PACKET; an MTU too large for AF_XDP's
// buffers takes AF_PACKET; otherwise AF_XDP, with AF_PACKET if the XDP program cannot be
// attached when the port opens. Software ports (VALE, pipes, monitors) are not listed:
// they exist when opened.
import { readdirSync, readFileSync } from 'node:fs';
import { tunFlags } from '../../sys/tun.js';
import { XDP_MAX_FRAME } from '../../ports/netif/xdp-port.js';

export interface InterfaceEntry {
  index: number;
  name: string;
  up: boolean;
  running: boolean;
  loopback: boolean;
  backend: 'AF_XDP' | 'AF_PACKET' | 'TAP' | 'none';
  why: string;
}

const IFF_UP = 0x1, IFF_LOOPBACK = 0x8;

function sysfs(name: string, file: string): string {
  try { return readFileSync(`/sys/class/net/${name}/${file}`, 'utf8').trim(); } catch { return ''; }
}

/** The interfaces of this network namespace in index order, with their predicted backend. */
export function listInterfaces(env: NodeJS.ProcessEnv = process.env): InterfaceEntry[] {
  let names: string[];
  try { names = readdirSync('/sys/class/net'); } catch { names = []; }
  const forced = env.NMTS_BACKEND ?? 'auto';
  const list = names.map((name): InterfaceEntry => {
    const flags = parseInt(sysfs(name, 'flags') || '0', 16);
    const mtu = Number(sysfs(name, 'mtu') || '1500');
    const up = (flags & IFF_UP) !== 0;
    const e: InterfaceEntry = {
      index: Number(sysfs(name, 'ifindex') || '0'), name, up, running: up && sysfs(name, 'carrier') === '1',
      loopback: (flags & IFF_LOOPBACK) !== 0, backend: 'AF_XDP', why: '',
    };
    if (!up) { e.backend = 'none'; e.why = `down: opening it fails until \`ip link set ${name} up\``; }
    else if (tunFlags(name) !== null) { e.backend = 'TAP'; e.why = 'a TAP device: the port reads and writes the TAP itself'; }
    else if (forced === 'packet' || forced === 'af_packet') { e.backend = 'AF_PACKET'; e.why = `NMTS_BACKEND=${forced}`; }
    else if (mtu + 18 > XDP_MAX_FRAME) { e.backend = 'AF_PACKET'; e.why = `MTU ${mtu}: frames above AF_XDP's ${XDP_MAX_FRAME}-byte buffers`; }
    else e.why = forced === 'xdp' || forced === 'af_xdp' ? `NMTS_BACKEND=${forced}` : 'AF_PACKET instead if the XDP program cannot be attached';
    return e;
  });
  return list.sort((a, b) => a.index - b.index);
}

/** tcpdump -D's lines: "1.eth0 [Up, Running] AF_XDP (why)". */
export function formatInterfaces(list: readonly InterfaceEntry[]): string[] {
  return list.map((e, i) => {
    const st = [e.up ? 'Up' : '', e.running ? 'Running' : '', e.loopback ? 'Loopback' : ''].filter((x) => x).join(', ');
    return `${i + 1}.${e.name}${st ? ` [${st}]` : ''} netmap:${e.name}: ${e.backend === 'none' ? 'cannot open' : e.backend} (${e.why})`;
  });
}
