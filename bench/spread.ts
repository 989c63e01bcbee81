// Min, median and max of a series of rounds, as the benchmark reports noisy figures (this
// machine moves ±30 % from minute to minute): the median of an even count is the mean of the
// two middle values. Used by the rounds of --ref (ref.ts) and --vms (vms.ts).

export interface Spread { min: number; median: number; max: number }

/** The series' min / median / max; null when it is empty. */
export function spread(v: readonly number[]): Spread | null {
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b), m = s.length >> 1;
  return { min: s[0]!, median: s.length & 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2, max: s[s.length - 1]! };
}
