// `nmts capture`: parse tcpdump-style flags, capture until -c, -W (with -G) or
// SIGINT/SIGTERM, then print tcpdump's counters to standard error.
// Exit codes: 0 done, 1 runtime error (the port cannot be opened, a file cannot be
// written), 2 usage error or a filter with a syntax error.
import { capture, formatCounters } from '../apps/capture/capture.js';
import { captureUsage, CaptureUsageError, parseCaptureArgs } from '../apps/capture/options.js';
import { FilterError } from '../packet/filter.js';
import { parseOr, stdoutLine, withStopSignal } from './tool.js';

export async function captureCommand(argv: string[]): Promise<number> {
  const args = parseOr('capture', argv, parseCaptureArgs, CaptureUsageError, 'nmts capture: ');
  if (typeof args === 'number') return args;
  if (args.help) {
    process.stdout.write(captureUsage());
    return 0;
  }
  return withStopSignal(async (signal) => {
    try {
      const r = await capture({
        port: args.port, file: args.file, pcapng: args.pcapng, nano: args.nano, count: args.count,
        snaplen: args.snaplen, rotateSeconds: args.rotateSeconds, rotateBytes: args.rotateBytes,
        fileLimit: args.fileLimit, quick: args.quick, linkHeader: args.linkHeader,
        packetBuffered: args.packetBuffered, filter: args.filter,
      }, {
        // -w - owns the standard output: text never goes there then
        out: stdoutLine,
        err: (l) => process.stderr.write(`nmts capture: ${l}\n`),
        signal,
      });
      process.stderr.write(formatCounters(r).join('\n') + '\n');
      return 0;
    } catch (e) {
      process.stderr.write(`nmts capture: ${(e as Error).message}\n`);
      return e instanceof FilterError ? 2 : 1;
    }
  });
}
