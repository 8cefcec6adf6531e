/**
 * The first line of a training-curves SVG, an XML comment before the root element, by which a
 * program can tell a file it may replace.
 *
 * @example
 * ```ts
 * svgText.startsWith(TRAINING_CURVES_MARK);
 * ```
 */
export const TRAINING_CURVES_MARK = "<!-- shardnet training curves -->";
