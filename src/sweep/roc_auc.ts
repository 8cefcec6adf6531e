/**
 * The area under the ROC curve of `scores` for binary `labels` (1 positive, anything else
 * negative), computed exactly: the probability that a random positive scores above a random
 * negative, a tie counting one half. Rows are ranked by score, tied scores sharing their mean
 * rank, so AUC = (sum of the positives' ranks − P(P+1)/2) / (P·N). NaN when a class is absent.
 *
 * @example
 * ```ts
 * rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]); // 0.75
 * ```
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const m = scores.length;
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let positiveRanks = 0;
  for (let start = 0; start < m;) {
    let end = start + 1;
    while (end < m && scores[order[end]] === scores[order[start]]) end++;
    // Ranks start + 1 … end, shared by the tied rows.
    const rank = (start + 1 + end) / 2;
    for (let i = start; i < end; i++) {
      if (labels[order[i]] === 1) {
        positives++;
        positiveRanks += rank;
      }
    }
    start = end;
  }
  const negatives = m - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (positiveRanks - (positives * (positives + 1)) / 2) / (positives * negatives);
}
