// `nmts prep`: tcpprep's cache files (apps/prep). Exit codes: 0 done, 1 error, 2 usage error.
import { parsePrepArgs, prepUsage, printCache, PrepError, runPrep } from '../apps/prep/prep.js';

export function prepCommand(argv: string[]): number {
  let o;
  try {
    o = parsePrepArgs(argv);
  } catch (e) {
    process.stderr.write(`nmts prep: ${(e as Error).message}\n${prepUsage()}`);
    return 2;
  }
  if (o.help) { process.stdout.write(prepUsage()); return 0; }
  try {
    const what = o.printInfo ? 'info' : o.printStats ? 'stats' : o.printComment ? 'comment' : null;
    if (what) {
      const lines = printCache(o.printInfo || o.printStats || o.printComment, what);
      process.stdout.write(lines.join('\n') + '\n');
      return 0;
    }
    runPrep(o);
    return 0;
  } catch (e) {
    process.stderr.write(`nmts prep: ${e instanceof PrepError ? e.message : (e as Error).message}\n`);
    return 1;
  }
}
