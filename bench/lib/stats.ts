/*
 * Small statistics over a handful of runs: medians and spreads, never means, because one
 * disturbed run should not move the figure.
 */

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: readonly number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x));
  return {
    median: median(v),
    min: v.length ? Math.min(...v) : NaN,
    max: v.length ? Math.max(...v) : NaN,
    n: v.length,
  };
}

/** Spread relative to the median, e.g. 0.08 for ±8% — how repeatable the runs were. */
export function relativeSpread(s: Spread): number {
  return s.median !== 0 ? (s.max - s.min) / 2 / Math.abs(s.median) : NaN;
}
