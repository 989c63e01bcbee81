// `nmts replay --listnics`: tcpreplay's list of interfaces, with the port name to give -i and
// the backend it would use here, then the software ports (which need no interface).
import { readdirSync, readFileSync } from 'node:fs';

function sysfs(name: string, file: string): string {
  try { return readFileSync(`/sys/class/net/${name}/${file}`, 'utf8').trim(); } catch { return '?'; }
}

export function listNics(): string[] {
  const lines = ['Available network interfaces:'];
  let names: string[] = [];
  try { names = readdirSync('/sys/class/net').sort(); } catch { /* no sysfs */ }
  for (const n of names) {
    lines.push(`netmap:${n}\t(${sysfs(n, 'operstate')}, mtu ${sysfs(n, 'mtu')}; AF_XDP when the driver and privileges allow, else AF_PACKET: the port prints which when opened)`);
  }
  if (names.length === 0) lines.push('(none readable in /sys/class/net)');
  lines.push('Software ports (no interface needed):');
  lines.push('vale0:1\t(a port of VALE switch vale0, created on first use)');
  lines.push('x{1 / x}1\t(the two ends of netmap pipe x, 1)');
  lines.push('null\t(discards every frame)');
  return lines;
}
