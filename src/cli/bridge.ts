// `nmts bridge`: netmap's bridge command line. `-i A -i B` or positional `A B [burst]`.
import { bridge } from '../apps/bridge/bridge.js';
import { linkWait } from '../apps/common/link-wait.js';
import { NetmapError } from '../core/region.js';
import { stderrLine, withStopSignal } from './tool.js';

const USAGE = `usage: nmts bridge [-v] [-c] [-L] [-O] [-b burst] [-w wait] -i PORT_A [-i PORT_B]
       nmts bridge PORT_A [PORT_B [burst]]

Forwards every packet between two ports, both ways, in one poll loop. When both ports share
a memory region (ports of one VALE switch, pipes of one parent) packets move by swapping
buffers (zero-copy); otherwise they are copied: two switches, or two Linux interfaces
(netmap:IF, each with a region of its own; AF_XDP, else AF_PACKET; NMTS_BACKEND=af_packet
forces the fallback). The first lines say which backend each interface uses and whether
zero-copy is used. NS_MOREFRAG chains are kept whole.
  -i PORT   a port (twice: A and B)
  -b N      packets per batch, 1..8192 (1024)
  -c        always copy, never swap buffers
  -L        loop: send A's traffic back out on A
  -w SEC    seconds to wait after opening the ports, for links to come up (default:
            netmap's 4 when a port is an interface netmap:IF, 0 for VALE ports and pipes)
  -v        log every batch
  -h        print this help (also --help)
  -O        open interfaces as other programs do (AF_XDP first, no virtio-net header),
            not by their offloads
With one interface port and no -L, the interface is bridged with its host stack
(netmap:IF <-> netmap:IF^), as netmap does. Stop with Ctrl-C: the counts are printed.
Offloads: an interface with tx checksumming, TSO or GSO on (what Linux sets up) is opened
with AF_PACKET and a virtio-net header, as vale-ctl -a does, so TCP super-frames and partial
checksums cross whole; one with them all off with AF_XDP. Between a side with a header and
one without, super-frames are cut into segments and checksums completed (as VALE does).
`;

/** netmap's bridge.c waits 4 s (its man page says 2). */
export const BRIDGE_LINK_WAIT = 4;

export async function bridgeCommand(argv: string[]): Promise<number> {
  const ports: string[] = [];
  let burst = 1024, copy = false, loop = false, verbose = false;
  let wait: number | undefined;
  let offloads = true;
  const fail = (m: string): number => { process.stderr.write(`bridge: ${m}\n${USAGE}`); return 2; };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string | undefined => (a.length > 2 ? a.slice(2) : argv[++i]);
    if (a === '--help' || a === '-h') { process.stdout.write(USAGE); return 0; }
    if (a.startsWith('-i')) { const v = val(); if (!v) return fail('option -i requires a port'); ports.push(v); }
    else if (a.startsWith('-b')) { const v = Number(val()); if (!Number.isInteger(v) || v < 1 || v > 8192) return fail(`invalid -b '${argv[i]}': burst must be 1..8192`); burst = v; }
    else if (a.startsWith('-w')) { const v = Number(val()); if (!Number.isFinite(v) || v < 0) return fail(`invalid -w '${argv[i]}'`); wait = v; }
    else if (a === '-c') copy = true;
    else if (a === '-L') loop = true;
    else if (a === '-v') verbose = true;
    else if (a === '-O') offloads = false;
    else if (a.startsWith('-') && a.length > 1) return fail(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional.length) {
    if (ports.length) return fail('give the ports either with -i or as arguments, not both');
    ports.push(...positional.slice(0, 2));
    if (positional[2] !== undefined) {
      const v = Number(positional[2]);
      if (!Number.isInteger(v) || v < 1 || v > 8192) return fail(`invalid burst '${positional[2]}': 1..8192`);
      burst = v;
    }
    if (positional.length > 3) return fail(`unexpected argument '${positional[3]}'`);
  }
  if (ports.length === 0) return fail('missing -i PORT');
  if (ports.length > 2) return fail('at most two ports');
  return withStopSignal(async (signal) => {
    try {
      // netmap's bridge waits 4 s for links; the host stack of a lone interface counts as one
      const waitSec = linkWait(wait, ports, BRIDGE_LINK_WAIT);
      const r = await bridge({ a: ports[0], b: ports[1], burst, copy, loop, verbose, signal, waitSec, offloads }, stderrLine);
      process.stdout.write(`${r.aToB} packets ${ports[0]} -> ${loop ? ports[0] : ports[1] ?? `${ports[0]}^`}, ${r.bToA} packets back (${r.zerocopy ? 'zero-copy' : 'copied'})${r.drops ? `, ${r.drops} dropped (too long for the destination, or chains sent to an interface${r.badVnet ? `; ${r.badVnet} with a malformed virtio-net header` : ''})` : ''}${r.converted ? `, ${r.converted} frames converted between header lengths` : ''}\n`);
      return 0;
    } catch (e) {
      process.stderr.write(`bridge: ${(e as Error).message}\n`);
      return e instanceof NetmapError ? 1 : 2;
    }
  });
}
