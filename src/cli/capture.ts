// `nmts capture`: parse tcpdump-style flags, capture until -c, -W (with -G) or
// SIGINT/SIGTERM, then print tcpdump's counters to standard error.
// Exit codes: 0 done, 1 runtime error (the port cannot be opened, a file cannot be
// written), 2 usage error or a filter with a syntax error.
import { capture, formatCounters } from '../apps/capture.js';
import { captureUsage, CaptureUsageError, parseCaptureArgs } from '../apps/capture-options.js';
import { FilterSyntaxError } from '../packet/filter.js';

export async function captureCommand(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseCaptureArgs(argv);
  } catch (e) {
    if (e instanceof CaptureUsageError) {
      process.stderr.write(`nmts capture: ${e.message}\nTry 'nmts capture --help'.\n`);
      return 2;
    }
    throw e;
  }
  if (args.help) {
    process.stdout.write(captureUsage());
    return 0;
  }
  const ac = new AbortController();
  const onSig = (): void => ac.abort();
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  try {
    const r = await capture({
      port: args.port, file: args.file, pcapng: args.pcapng, nano: args.nano, count: args.count,
      snaplen: args.snaplen, rotateSeconds: args.rotateSeconds, rotateBytes: args.rotateBytes,
      fileLimit: args.fileLimit, quick: args.quick, linkHeader: args.linkHeader,
      packetBuffered: args.packetBuffered, filter: args.filter,
    }, {
      // -w - owns the standard output: text never goes there then
      out: (l) => process.stdout.write(l + '\n'),
      err: (l) => process.stderr.write(`nmts capture: ${l}\n`),
      signal: ac.signal,
    });
    process.stderr.write(formatCounters(r).join('\n') + '\n');
    return 0;
  } catch (e) {
    if (e instanceof FilterSyntaxError) {
      process.stderr.write(`nmts capture: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`nmts capture: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
}
