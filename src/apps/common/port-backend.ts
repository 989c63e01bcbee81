// The lines tools print after opening a port on a Linux interface: which kernel mechanism moves
// its frames, why another was not used, and offload advice.
import type { BackendInfo, Port } from '../../core/port.js';

const NAMES: Record<string, string> = { af_xdp: 'AF_XDP', af_packet: 'AF_PACKET', tap: 'TAP', vxlan: 'VXLAN' };

/** Lines describing the backend of `info` (a KernelPort's `info`), for the port named `name`. */
export function backendLines(name: string, info: BackendInfo | null | undefined): string[] {
  if (!info) return [];
  const lines = [`${name}: backend ${NAMES[info.backend] ?? info.backend} (${info.detail})`];
  if (info.fallbackReason) lines.push(`${name}: not AF_XDP because ${info.fallbackReason}`);
  for (const w of info.warnings) lines.push(`warning: ${w}`);
  return lines;
}

/** backendLines() of an open port (none for software ports). */
export function portBackendLines(port: Port): string[] {
  return backendLines(port.name, port.backend());
}
