// `nmts pkt-gen`: parse pkt-gen's flags, run, print; SIGINT stops and still prints the summary.
import { pktGen } from '../apps/pkt-gen/run.js';
import { parsePktGenArgs, PktGenUsageError } from '../apps/pkt-gen/options.js';
import { pktGenUsage } from '../apps/pkt-gen/usage.js';

export async function pktGenCommand(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = parsePktGenArgs(argv);
  } catch (e) {
    if (e instanceof PktGenUsageError) {
      process.stderr.write(`${e.message}\nTry 'nmts pkt-gen --help'.\n`);
      return 2;
    }
    throw e;
  }
  if (opts.help) {
    process.stdout.write(pktGenUsage());
    return 0;
  }
  const ac = new AbortController();
  const onSig = (): void => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  try {
    const r = await pktGen(opts, {
      out: (l) => process.stdout.write(l + '\n'),
      err: (l) => process.stderr.write(l + '\n'),
      signal: ac.signal,
    });
    return r.seqErrors > 0 ? 1 : 0;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return e instanceof PktGenUsageError ? 2 : 1;
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
}
