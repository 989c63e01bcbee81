// `nmts capture`: parse tcpdump-style flags, then either list the interfaces (-D), read a
// saved capture (-r) or capture until -c, -W (with -G) or SIGINT/SIGTERM, and print
// tcpdump's counters to standard error.
// Exit codes: 0 done, 1 runtime error (the port or a file cannot be opened, a file cannot be
// written or read, -Z fails), 2 usage error or a filter with a syntax error.
import { capture, CaptureDirectionError, formatCounters, formatInterfaces, formatReadCounters, listInterfaces, readCapture } from '../apps/capture/capture.js';
import { captureUsage, CaptureUsageError, parseCaptureArgs } from '../apps/capture/options.js';
import { FilterError } from '../packet/filter.js';
import { ProgressLine } from '../apps/common/progress.js';
import { dropPrivileges } from '../sys/libc.js';
import { parseOr, withStopSignal } from './tool.js';

/** Text lines to standard output: gathered up to 64 KiB unless `eachLine` (-l) or a terminal. */
function lineWriter(eachLine: boolean, direct: (l: string) => void): { out: (l: string) => void; flush: () => void } {
  if (eachLine || process.stdout.isTTY) return { out: direct, flush: () => {} };
  let buf = '';
  const flush = (): void => { if (buf !== '') { process.stdout.write(buf); buf = ''; } };
  return { out: (l) => { buf += l + '\n'; if (buf.length >= 65536) flush(); }, flush };
}

export async function captureCommand(argv: string[]): Promise<number> {
  const args = parseOr('capture', argv, parseCaptureArgs, CaptureUsageError, 'nmts capture: ');
  if (typeof args === 'number') return args;
  if (args.help) {
    process.stdout.write(captureUsage());
    return 0;
  }
  if (args.listInterfaces) {
    for (const l of formatInterfaces(listInterfaces())) process.stdout.write(l + '\n');
    return 0;
  }
  const text = {
    verbose: args.verbose, hex: args.hex, hexAscii: args.hexAscii, ascii: args.ascii, tsMode: args.tsMode,
    absoluteSeq: args.absoluteSeq, quick: args.quick, linkHeader: args.linkHeader, nano: args.nano,
  };
  const dropTo = args.user;
  const drop = (say: (l: string) => void): void => {
    if (dropTo === undefined) return;
    const ids = dropPrivileges(dropTo);
    say(`running as ${dropTo} (uid ${ids.uid}, gid ${ids.gid})`);
  };
  if (args.readFile !== undefined) {
    const w = lineWriter(args.lineBuffered, (l) => { process.stdout.write(l + '\n'); });
    return withStopSignal(async (signal) => {
      const say = (l: string): void => { process.stderr.write(`nmts capture: ${l}\n`); };
      try {
        const r = await readCapture({
          ...text, readFile: args.readFile!, file: args.file, pcapng: args.pcapng, count: args.count,
          snaplen: args.snaplen === 262144 ? 0 : args.snaplen, rotateSeconds: args.rotateSeconds,
          rotateBytes: args.rotateBytes, fileLimit: args.fileLimit, filter: args.filter,
        }, { out: w.out, err: (l) => process.stderr.write(l + '\n'), signal, afterOpen: () => drop(say) });
        w.flush();
        process.stderr.write(formatReadCounters(r) + '\n');
        return 0;
      } catch (e) {
        w.flush();
        say((e as Error).message);
        return e instanceof FilterError ? 2 : 1;
      }
    });
  }
  // the status line: on a terminal, unless the packet lines go to that terminal too
  const mode = args.progress === 'auto' && args.file === undefined && process.stdout.isTTY ? 'off' : args.progress;
  const progress = ProgressLine.stderr(mode);
  const out = (l: string): void => { if (process.stdout.isTTY) progress.lineOn(process.stdout, l); else process.stdout.write(l + '\n'); };
  return withStopSignal(async (signal) => {
    try {
      const r = await capture({
        ...text, port: args.port, file: args.file, pcapng: args.pcapng, nano: args.nano, count: args.count,
        snaplen: args.snaplen, rotateSeconds: args.rotateSeconds, rotateBytes: args.rotateBytes,
        fileLimit: args.fileLimit, packetBuffered: args.packetBuffered, filter: args.filter, direction: args.direction,
      }, {
        // -w - owns the standard output: text never goes there then
        out,
        err: (l) => progress.line(`nmts capture: ${l}`),
        signal,
        progress,
        afterOpen: () => drop((l) => progress.line(`nmts capture: ${l}`)),
      });
      process.stderr.write(formatCounters(r).join('\n') + '\n');
      return 0;
    } catch (e) {
      progress.clear();
      process.stderr.write(`nmts capture: ${(e as Error).message}\n`);
      return e instanceof FilterError || e instanceof CaptureDirectionError ? 2 : 1;
    }
  });
}
