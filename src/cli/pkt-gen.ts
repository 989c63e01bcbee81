// `nmts pkt-gen`: parse pkt-gen's flags, run, print; SIGINT stops and still prints the summary.
import { pktGen } from '../apps/pkt-gen/run.js';
import { parsePktGenArgs, PktGenUsageError } from '../apps/pkt-gen/options.js';
import { pktGenUsage } from '../apps/pkt-gen/usage.js';
import { idleHelpersFromEnv } from '../apps/common/idle-helpers.js';
import { parseOr, stderrLine, stdoutLine, withStopSignal } from './tool.js';

export async function pktGenCommand(argv: string[]): Promise<number> {
  const opts = parseOr('pkt-gen', argv, parsePktGenArgs, PktGenUsageError);
  if (typeof opts === 'number') return opts;
  if (opts.help) {
    process.stdout.write(pktGenUsage());
    return 0;
  }
  return withStopSignal(async (signal) => {
    try {
      // this process ends with the run: its helper threads may give way to the data threads
      opts.idleHelpers = idleHelpersFromEnv();
      const r = await pktGen(opts, { out: stdoutLine, err: stderrLine, signal });
      return r.seqErrors > 0 ? 1 : 0;
    } catch (e) {
      process.stderr.write(`${(e as Error).message}\n`);
      return e instanceof PktGenUsageError ? 2 : 1;
    }
  });
}
