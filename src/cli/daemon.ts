// `nmts daemon`: holds persistent VALE ports (and so their switches) for clients that come
// and go, and keeps Linux interfaces attached to switches (vale-ctl -a), on a Unix control
// socket. Runs in the foreground (as systemd expects) until SIGTERM or SIGINT, then detaches
// and releases everything and removes its socket.
import { defaultSocketPath, formatLogLine, resolveGroup, runDaemon } from '../apps/daemon/daemon.js';
import { parseListen } from '../apps/http/listen.js';

const HELP = `usage: nmts daemon [--socket PATH] [--mode MODE] [--group NAME] [--http [HOST:]PORT] [--foreground] [--exit-when-idle]

Holds persistent VALE ports and switches that outlive the processes that asked for them,
keeps Linux interfaces attached to switches (nmts vale-ctl -a, -h, -d, -p, -P: one forwarder
thread per switch serves all its attachments; NMTS_ATTACH_THREADS=interface: one thread
per interface), answers newline-delimited JSON requests on a Unix socket (commands: ping,
list, hold, release, held, reclaim, stats, attach, detach, polling, attached,
vhost-create, vhost-remove, vhost-list, vxlan-fdb-add, vxlan-fdb-del, vxlan-fdb-show; see
docs/daemon.md), reclaims the ports of processes that died, and logs one line per event on
stderr. SIGTERM or SIGINT: every interface is detached, every held port is released
(shared files left empty are removed), the socket is removed, exit 0.

  --socket PATH   control socket (default: $NMTS_SOCKET, else /run/nmts/nmts.sock for
                  root, else $XDG_RUNTIME_DIR/nmts.sock, else /tmp/nmts-<uid>/nmts.sock in
                  a 0700 directory); refused in a directory other users may write
  --mode MODE     octal mode of the socket file: who may connect (0660)
  --group NAME    group of the socket file (name or gid; default: the daemon's group)
  --http [HOST:]PORT  also serve a read-only HTTP server there (off unless given; HOST
                  defaults to 127.0.0.1, loopback: bind another address only behind a
                  firewall): / the live dashboard (switches, ports, rates, drops),
                  /metrics for Prometheus (the switches' counters, the daemon's own:
                  connections, requests, errors, reclaims; per attached interface its
                  backend and the kernel's drops), /api/switches, /api/ports,
                  /api/interfaces, /api/daemon, /api/macs (JSON), /api/stream (rates
                  every second, Server-Sent Events); see docs/observability.md. Nothing
                  there changes anything: changes stay on the control socket
  --foreground    run in the foreground: the default and only mode (under systemd use
                  Type=simple; contrib/nmts-daemon.service is an example unit)
  --exit-when-idle  exit once nothing is held or attached (after the request that left the
                  daemon empty, or 10 s after the start if nothing came): the daemon that
                  nmts vale-ctl starts when none answers runs this way
  -h, --help      this text

Access: whoever may write the socket file (--mode, --group) may use every command; nothing
else is checked. Each connection is served one request at a time (its input waits meanwhile),
closed after 60 s without a request, and one uid may have at most 32 connections open
(more get EUSERS). Clients check that the socket and its directory belong to them or to
root (NMTS_DAEMON_UID adds a daemon user) before they send anything.

examples:
  nmts daemon --socket /tmp/nmts.sock &
  nmts daemon --http 127.0.0.1:9180 &      # then open http://127.0.0.1:9180/
  echo '{"id":1,"cmd":"hold","port":"vale0:p1"}' | socat - UNIX-CONNECT:/tmp/nmts.sock
`;

function usageError(msg: string): number {
  process.stderr.write(`nmts daemon: ${msg}\nsee 'nmts daemon --help'\n`);
  return 2;
}

export async function daemonCommand(argv: string[]): Promise<number> {
  let socketPath: string | undefined, mode: number | undefined, group: string | undefined, exitWhenIdle = false;
  let http: { host: string; port: number } | undefined;
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v: string | undefined;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    if (eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); }
    const value = (): string | null => {
      if (v !== undefined) return v;
      const next = argv[i + 1];
      if (next === undefined) return null;
      i++;
      return next;
    };
    switch (a) {
      case '-h': case '--help':
        process.stdout.write(HELP);
        return 0;
      case '--foreground': case '-f':
        if (v !== undefined) return usageError(`${a} takes no value`);
        break;
      case '--exit-when-idle':
        if (v !== undefined) return usageError(`${a} takes no value`);
        exitWhenIdle = true;
        break;
      case '--socket': {
        const p = value();
        if (!p) return usageError(`option ${a} requires a path`);
        socketPath = p;
        break;
      }
      case '--mode': {
        const m = value();
        if (m === null) return usageError(`option ${a} requires an octal mode such as 0660`);
        if (!/^0?[0-7]{3}$/.test(m)) return usageError(`invalid --mode '${m}': an octal mode such as 0660`);
        mode = parseInt(m, 8);
        break;
      }
      case '--http': {
        const h = value();
        if (!h) return usageError(`option ${a} requires an address such as 127.0.0.1:9180 or 9180`);
        try { http = parseListen(h); } catch (e) { return usageError(`invalid --http: ${e instanceof Error ? e.message : String(e)}`); }
        break;
      }
      case '--group': {
        const g = value();
        if (!g) return usageError(`option ${a} requires a group name or id`);
        try { resolveGroup(g); } catch (e) { return usageError(`invalid --group '${g}': ${e instanceof Error ? e.message : String(e)}`); }
        group = g;
        break;
      }
      default:
        return usageError(a.startsWith('-') ? `unknown option ${a}` : `unexpected argument '${a}'`);
    }
  }

  const log = (line: string): void => { process.stderr.write(line + '\n'); };
  let daemon;
  try {
    daemon = await runDaemon({ socketPath: socketPath ?? defaultSocketPath(), mode, group, log, exitWhenIdle, http });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`nmts daemon: ${msg}\n`);
    return 1;
  }
  const onSignal = (sig: NodeJS.Signals): void => {
    log(formatLogLine(`${sig} received`));
    void daemon.close();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await daemon.closed;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  return 0;
}
