// Where the HTTP server listens: the default port and the --http HOST:PORT parser, apart from
// the server so that a command line can be checked without loading the server (prom-client).

export const DEFAULT_HTTP_PORT = 9180;

/** Parse "host:port", "[v6]:port" or "port" (host 127.0.0.1). */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(s) ?? /^()()(\d+)$/.exec(s);
  if (!m) throw new Error(`'${s}': expected HOST:PORT (127.0.0.1:${DEFAULT_HTTP_PORT}) or PORT`);
  const port = Number(m[3]);
  if (!(port >= 0 && port <= 65535)) throw new Error(`'${s}': port ${m[3]} out of range`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}
