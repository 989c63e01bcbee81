// netmap's tools wait after opening a NIC for its link to come up before they send: bridge 4 s,
// lb 2 s, tlem 2 s (pkt-gen's own rule is in pkt-gen/options.ts). Software ports (VALE ports,
// pipes, null) have no link, so the default here is 0 for them; -w overrides either way.
import { parsePortSpec } from '../../core/portspec.js';

/** True when `name` opens a Linux interface (netmap:IF, IF^, IF-N; not a pipe of one). */
export function isInterfacePort(name: string): boolean {
  try {
    const spec = parsePortSpec(name, { defaultPrefix: true });
    return spec.kind === 'netmap' && !spec.pipe;
  } catch {
    return false; // a bad name: opening it reports the error
  }
}

/** `given` if set; else the tool's `seconds` when any port is an interface, else 0. */
export function linkWait(given: number | undefined, ports: readonly string[], seconds: number): number {
  if (given !== undefined) return given;
  return ports.some(isInterfacePort) ? seconds : 0;
}
