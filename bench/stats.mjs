// The bench's statistics (bench/run.mjs), apart so that `npm test` checks them
// (bench/stats.test.mjs).

/** The median of `xs`. */
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** A distribution-free interval for the median of `xs` (independent rounds, no assumption on
 * their spread): the k-th smallest and k-th largest values, k the largest for which the pair
 * covers the median with probability ≥ 85 % (binomial, p = ½). With 4 rounds that is
 * [min, max] (87.5 %); with 6, [min, max] (96.9 %); with 8, the 2nd of each end (93.0 %); with
 * 12, the 4th (85.4 %). `coverage` is that probability. */
export function medianInterval(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { lo: NaN, hi: NaN, coverage: 0 };
  const choose = (n, k) => {
    let c = 1;
    for (let i = 0; i < k; i++) c = (c * (n - i)) / (i + 1);
    return c;
  };
  // P(x(k) ≤ median ≤ x(n+1-k)) = 1 - 2 · P(Binomial(n, ½) ≤ k - 1).
  const coverage = (k) => {
    let tail = 0;
    for (let i = 0; i < k; i++) tail += choose(n, i) / 2 ** n;
    return 1 - 2 * tail;
  };
  let k = 1;
  while (k + 1 <= n / 2 && coverage(k + 1) >= 0.85) k++;
  return { lo: s[k - 1], hi: s[n - k], coverage: coverage(k) };
}

/** A target's verdict from the interval for its median: "met" when the whole interval is at or
 * above `wanted`, "missed" when it is wholly below, "undecided" when it straddles the line. */
export function judge(interval, wanted) {
  if (interval.lo >= wanted) return "met";
  if (interval.hi < wanted) return "missed";
  return "undecided";
}
