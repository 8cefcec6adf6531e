import { type OptionName, renderOptions } from "../errors.ts";

/** The flag that sets each option the library's messages name. */
const FLAGS: Record<OptionName, string> = {
  batchSize: "--batch-size",
  checkpoint: "--checkpoint",
  dtype: "--dtype",
  epochs: "--epochs",
  features: "--features",
  hidden: "--hidden",
  init: "--init",
  kernelVariant: "--kernel-variant",
  label: "--label",
  learningRate: "--lr",
  optimizer: "--optimizer",
  positiveLabel: "--positive-label",
  resume: "--resume",
  samples: "--samples",
  seed: "--seed",
  source: "--data",
  standardize: "--standardize",
  valSplit: "--val-split",
  workers: "--workers",
};

/**
 * The flag that sets library option `name`.
 *
 * @example
 * ```ts
 * optionFlag("learningRate"); // "--lr"
 * ```
 */
export function optionFlag(name: OptionName): string {
  return FLAGS[name];
}

/**
 * A library message (an error's template or a note) with its options shown as flags.
 *
 * @example
 * ```ts
 * inFlagTerms("{valSplit} must be less than 1"); // "--val-split must be less than 1"
 * ```
 */
export function inFlagTerms(message: string): string {
  return renderOptions(message, optionFlag);
}
