// What every `nmts` tool front end does the same way: parse the flags (a usage error prints
// the message and a hint, exit code 2), answer --help, and turn SIGINT/SIGTERM into an
// AbortSignal so that the tool stops cleanly and still prints its summary.

/** Parse argv; returns the options, or an exit code after reporting a usage error. */
export function parseOr<T>(tool: string, argv: string[], parse: (argv: string[]) => T, usageError: new (...a: never[]) => Error, prefix = ''): T | number {
  try {
    return parse(argv);
  } catch (e) {
    if (e instanceof usageError) {
      process.stderr.write(`${prefix}${e.message}\nTry 'nmts ${tool} --help'.\n`);
      return 2;
    }
    throw e;
  }
}

/** Run `fn` with a signal aborted by SIGINT or SIGTERM (handlers removed afterwards). */
export async function withStopSignal<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSig = (): void => ac.abort();
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  try {
    return await fn(ac.signal);
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
}

export const stdoutLine = (l: string): void => { process.stdout.write(l + '\n'); };
export const stderrLine = (l: string): void => { process.stderr.write(l + '\n'); };
