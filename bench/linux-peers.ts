// Which peer tools of the --linux cases are on this machine, and what to install when one is not.
// Nothing is installed from here except the npm packages `cap` and `pcap`, and only into a
// temporary prefix (never the project's dependencies): they are what a Node program would use to
// capture today, so their receive rates belong beside ours.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A peer that is not available: its row says why and is not counted as a failure. */
export class PeerMissing extends Error {
  override name = 'PeerMissing';
}

function notInstalled(what: string, install: string): string {
  return `${what} not installed (${install})`;
}

export type PeerName = 'tcpreplay' | 'trafgen' | 'tcpdump' | 'dpdk' | 'cap' | 'pcap';

export interface PeerStatus { ok: boolean; path?: string; why?: string }

const APT: Record<Exclude<PeerName, 'cap' | 'pcap'>, { bin: string; install: string }> = {
  tcpreplay: { bin: 'tcpreplay', install: 'apt-get install tcpreplay' },
  trafgen: { bin: 'trafgen', install: 'apt-get install netsniff-ng' },
  tcpdump: { bin: 'tcpdump', install: 'apt-get install tcpdump' },
  // Debian 12 ships dpdk-testpmd in dpdk-dev, and the AF_XDP driver as a separate plug-in
  dpdk: { bin: 'dpdk-testpmd', install: 'apt-get install dpdk-dev librte-net-af-xdp23' },
};

/** Where npm installs cap and pcap for the benchmark (outside the project). */
export const NPM_PREFIX = '/tmp/nmts-bench-npm';

function which(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = join(dir || '.', bin);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** DPDK loads its drivers as plug-ins: testpmd alone cannot open net_af_xdp. */
function dpdkAfXdpPlugin(): boolean {
  for (const lib of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib', '/usr/local/lib']) {
    if (!existsSync(lib)) continue;
    if (readdirSync(lib).some((f) => f.startsWith('librte_net_af_xdp.so'))) return true;
  }
  return false;
}

const status = new Map<PeerName, PeerStatus>();

export function checkAptPeers(): void {
  for (const [name, { bin, install }] of Object.entries(APT) as [keyof typeof APT, (typeof APT)[keyof typeof APT]][]) {
    const path = which(bin);
    if (!path) status.set(name, { ok: false, why: notInstalled(bin, install) });
    else if (name === 'dpdk' && !dpdkAfXdpPlugin()) status.set(name, { ok: false, path, why: notInstalled("DPDK's AF_XDP driver (librte_net_af_xdp)", 'apt-get install librte-net-af-xdp23') });
    else status.set(name, { ok: true, path });
  }
}

/** The peer's binary, or a PeerMissing error naming the package to install. */
export function requirePeer(name: PeerName): string {
  const s = status.get(name);
  if (!s) throw new Error(`peer ${name} was not checked (prepareLinux() not called)`);
  if (!s.ok) throw new PeerMissing(s.why ?? `${name} not available`);
  return s.path ?? name;
}

export function peerStatus(): Map<PeerName, PeerStatus> {
  return status;
}

function loads(pkg: string): boolean {
  try {
    execFileSync(process.execPath, ['-e', `require(${JSON.stringify(join(NPM_PREFIX, 'node_modules', pkg))})`], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

function npmInstall(pkgs: string[], timeoutMs: number): Promise<string | null> {
  // node-gyp builds the addons against this Node's headers (/usr/include/node on Debian);
  // pointing it there avoids a download of the headers
  const env = { ...process.env };
  if (!env.npm_config_nodedir && existsSync('/usr/include/node/node_version.h')) env.npm_config_nodedir = '/usr';
  return new Promise((resolve) => {
    execFile('npm', ['install', '--prefix', NPM_PREFIX, '--no-audit', '--no-fund', ...pkgs],
      { encoding: 'utf8', timeout: timeoutMs, env, maxBuffer: 16 << 20 }, (err, _out, errText) => {
        if (!err) return resolve(null);
        const lines = `${errText}`.trim().split('\n').filter((l) => /error|ERR/i.test(l));
        resolve((lines.slice(-2).join(' / ') || err.message).slice(0, 300));
      });
  });
}

/**
 * Make `cap` and `pcap` loadable from NPM_PREFIX: kept from an earlier run if they load, else
 * installed (built with node-gyp against libpcap-dev). The prefix has a package.json of its own
 * that records them: without one, installing a package removes the other as extraneous. A
 * package that cannot be installed is recorded with the reason; its row then says so.
 */
export async function prepareNpmPeers(log: (s: string) => void, timeoutMs = 300_000): Promise<void> {
  const pkgs = ['cap', 'pcap'] as const;
  mkdirSync(NPM_PREFIX, { recursive: true });
  const manifest = join(NPM_PREFIX, 'package.json');
  if (!existsSync(manifest)) writeFileSync(manifest, '{ "name": "nmts-bench-npm-peers", "private": true, "description": "capture packages npm run bench -- --linux compares with" }\n');
  const missing = pkgs.filter((p) => !loads(p));
  if (missing.length && !existsSync('/usr/include/pcap.h')) {
    for (const p of missing) status.set(p, { ok: false, why: notInstalled(`libpcap headers for npm ${p}`, 'apt-get install libpcap-dev build-essential') });
  } else if (missing.length) {
    log(`bench: npm install --prefix ${NPM_PREFIX} ${missing.join(' ')} (native addons: compiling) ...`);
    const t0 = performance.now();
    let err = await npmInstall(missing, timeoutMs);
    // one package failing fails the whole install: try them one by one
    if (err !== null && missing.length > 1) for (const p of missing) if (!loads(p)) err = (await npmInstall([p], timeoutMs)) ?? err;
    log(` ${missing.every(loads) ? 'done' : 'failed'} in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
    for (const p of missing) {
      if (!loads(p)) status.set(p, { ok: false, why: `npm ${p} could not be installed into ${NPM_PREFIX}: ${err ?? 'installed but does not load'}` });
    }
  }
  for (const p of pkgs) if (!status.has(p) || loads(p)) status.set(p, { ok: true, path: join(NPM_PREFIX, 'node_modules', p) });
}
