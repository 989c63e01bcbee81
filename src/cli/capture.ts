// `nmts capture`: parse tcpdump-style flags, capture until -c, -W (with -G) or
// SIGINT/SIGTERM, then print tcpdump's counters to standard error.
// Exit codes: 0 done, 1 runtime error (the port cannot be opened, a file cannot be
// written), 2 usage error or a filter with a syntax error.
import { capture, formatCounters } from '../apps/capture/capture.js';
import { captureUsage, CaptureUsageError, parseCaptureArgs } from '../apps/capture/options.js';
import { FilterError } from '../packet/filter.js';
import { ProgressLine } from '../apps/common/progress.js';
import { parseOr, withStopSignal } from './tool.js';

export async function captureCommand(argv: string[]): Promise<number> {
  const args = parseOr('capture', argv, parseCaptureArgs, CaptureUsageError, 'nmts capture: ');
  if (typeof args === 'number') return args;
  if (args.help) {
    process.stdout.write(captureUsage());
    return 0;
  }
  // the status line: on a terminal, unless the packet lines go to that terminal too
  const mode = args.progress === 'auto' && args.file === undefined && process.stdout.isTTY ? 'off' : args.progress;
  const progress = ProgressLine.stderr(mode);
  const out = (l: string): void => { if (process.stdout.isTTY) progress.lineOn(process.stdout, l); else process.stdout.write(l + '\n'); };
  return withStopSignal(async (signal) => {
    try {
      const r = await capture({
        port: args.port, file: args.file, pcapng: args.pcapng, nano: args.nano, count: args.count,
        snaplen: args.snaplen, rotateSeconds: args.rotateSeconds, rotateBytes: args.rotateBytes,
        fileLimit: args.fileLimit, quick: args.quick, linkHeader: args.linkHeader,
        packetBuffered: args.packetBuffered, filter: args.filter,
      }, {
        // -w - owns the standard output: text never goes there then
        out,
        err: (l) => progress.line(`nmts capture: ${l}`),
        signal,
        progress,
      });
      process.stderr.write(formatCounters(r).join('\n') + '\n');
      return 0;
    } catch (e) {
      progress.clear();
      process.stderr.write(`nmts capture: ${(e as Error).message}\n`);
      return e instanceof FilterError ? 2 : 1;
    }
  });
}
