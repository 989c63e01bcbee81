// The firewall's rules file: one rule a line, `allow EXPR` or `deny EXPR`, EXPR in the tcpdump
// filter language (packet/filter.ts compiles each once to a predicate over the frame). `#`
// starts a comment (to the end of the line); blank lines are skipped; a rule may continue on
// lines that start with white space. `allow` alone (or `deny` alone) matches every frame.
// Synonyms: accept/pass for allow, drop/reject/block for deny.
//
// A bad rule throws RuleError naming its line and, for filter errors, the column.
import { compileFilter, FilterError, type PacketFilter } from '../../packet/filter.js';

export interface Rule {
  allow: boolean;
  /** The filter expression ('' matches everything). */
  expr: string;
  /** 1-based line of the rules file. */
  line: number;
  /** The rule as written, trimmed (for stats and messages). */
  text: string;
  match: PacketFilter;
}

export class RuleError extends Error {
  override name = 'RuleError';
}

const ALLOW = new Set(['allow', 'accept', 'pass']);
const DENY = new Set(['deny', 'drop', 'reject', 'block']);

const always: PacketFilter = () => true;

/** Parse and compile a rules file's text. `file` names it in errors. */
export function parseRules(text: string, file = 'rules'): Rule[] {
  const rules: Rule[] = [];
  const lines = text.split(/\r?\n/);
  let cur: { allow: boolean; expr: string; line: number } | null = null;
  const finish = (): void => {
    if (!cur) return;
    const expr = cur.expr.trim();
    let match = always;
    if (expr !== '') {
      try {
        match = compileFilter(expr);
      } catch (e) {
        if (e instanceof FilterError) throw new RuleError(`${file}:${cur.line}: ${e.message}`);
        throw e;
      }
    }
    rules.push({ allow: cur.allow, expr, line: cur.line, text: `${cur.allow ? 'allow' : 'deny'}${expr ? ` ${expr}` : ''}`, match });
    cur = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const hash = raw.indexOf('#');
    const body = hash >= 0 ? raw.slice(0, hash) : raw;
    if (body.trim() === '') continue;
    if (/^\s/.test(body) && cur) { cur.expr += ` ${body.trim()}`; continue; } // continuation
    finish();
    const m = /^\s*(\S+)(.*)$/.exec(body)!;
    const verb = m[1]!.toLowerCase();
    if (!ALLOW.has(verb) && !DENY.has(verb)) throw new RuleError(`${file}:${i + 1}: a rule starts with allow or deny, not '${m[1]}'`);
    cur = { allow: ALLOW.has(verb), expr: m[2]!, line: i + 1 };
  }
  finish();
  return rules;
}
