// `npm test` (scripts/test.sh): the statistics the bench's verdicts rest on (bench/stats.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { judge, median, medianInterval } from "./stats.mjs";

test("the median of odd and even counts", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test("the interval is the widest pair of order statistics needed for 85 % coverage", () => {
  const rounds = (n) => Array.from({ length: n }, (_, i) => n - i); // unsorted on purpose
  const cases = [
    [4, 1, 4, 0.875],
    [6, 1, 6, 0.96875],
    [8, 2, 7, 0.9296875],
    [12, 4, 9, 1 - 598 / 4096],
  ];
  for (const [n, lo, hi, coverage] of cases) {
    const iv = medianInterval(rounds(n));
    assert.deepEqual([iv.lo, iv.hi], [lo, hi], `${n} rounds`);
    assert.ok(Math.abs(iv.coverage - coverage) < 1e-12, `${n} rounds: coverage ${iv.coverage}`);
  }
  assert.ok(Number.isNaN(medianInterval([]).lo));
});

test("a verdict is undecided while its interval straddles the line", () => {
  // The 15:32 run of session 8: memory hit, Cache API hit, miss.
  assert.equal(judge(medianInterval([1.19, 1.14, 1.21, 1.2]), 1.0), "met");
  assert.equal(judge(medianInterval([1.05, 1.05, 1.06, 0.98]), 1.1), "missed");
  assert.equal(judge(medianInterval([0.86, 1.05, 0.95, 0.96]), 1.0), "undecided");
  assert.equal(judge({ lo: 1.0, hi: 1.2 }, 1.0), "met", "the line itself counts as met");
});
