// `nmts vale-ctl`: netmap's vale-ctl (list switch ports, -l, -g; -a/-h/-d/-p/-P attach Linux
// interfaces through the nmts daemon, started on demand; -n/-r persistent ports). Exit
// status: 0 done, 1 the request failed (`failed to <action> NAME: <reason>` on stderr), 2 bad
// usage (usage text on stderr).
import { NetmapError } from '../core/region.js';
import { parseValeCtlArgs, valeCtlUsage, ValeCtlError, ValeCtlUsageError, type ValeCtlArgs, type ValeCtlOutput } from '../apps/vale-ctl/vale-ctl.js';
import { runValeCtlAsync } from '../apps/vale-ctl/attach.js';

export async function valeCtlCommand(argv: string[], io?: Partial<ValeCtlOutput>): Promise<number> {
  const out = io?.out ?? ((l: string) => { process.stdout.write(`${l}\n`); });
  const err = io?.err ?? ((l: string) => { process.stderr.write(`${l}\n`); });
  const usage = (message: string): number => {
    err(`vale-ctl: ${message}`);
    err(valeCtlUsage().trimEnd());
    return 2;
  };
  let args: ValeCtlArgs;
  try {
    args = parseValeCtlArgs(argv);
  } catch (e) {
    if (e instanceof ValeCtlUsageError) return usage(e.message);
    throw e;
  }
  if (args.help) {
    out(valeCtlUsage().trimEnd());
    return 0;
  }
  try {
    await runValeCtlAsync(args, { out, err });
    return 0;
  } catch (e) {
    if (e instanceof ValeCtlUsageError) return usage(e.message);
    if (e instanceof ValeCtlError) {
      err(e.message);
      return 1;
    }
    if (e instanceof NetmapError) {
      err(`vale-ctl: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
