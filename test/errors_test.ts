import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DataError,
  MemoryLimitError,
  option,
  OPTION_NAMES,
  renderOptions,
  UsageError,
} from "../src/errors.ts";
import { inFlagTerms, optionFlag } from "../src/cli/option_flags.ts";

describe("errors that name options", () => {
  it("say the option's name to the library and its flag to the command line", () => {
    const e = new UsageError(
      `${option("valSplit")} must be less than 1, try ${option("learningRate")}`,
    );
    assert.equal(e.message, "valSplit must be less than 1, try learningRate");
    assert.equal(e.render(optionFlag), "--val-split must be less than 1, try --lr");
    const d = new DataError(`${option("resume")} run.ckpt: damaged`);
    assert.equal(d.message, "resume run.ckpt: damaged");
    assert.equal(d.render(optionFlag), "--resume run.ckpt: damaged");
  });

  it("keep the template whole, to be rebuilt on another thread", () => {
    const e = new DataError(`use ${option("dtype")} f64`);
    assert.equal(e.template, "use {dtype} f64");
    assert.equal(new DataError(e.template).render(optionFlag), "use --dtype f64");
  });

  it("leave braces around anything but an option as they are", () => {
    assert.equal(
      renderOptions("no column {nope} or {}; {hidden}"),
      "no column {nope} or {}; hidden",
    );
    assert.equal(inFlagTerms('"{x}" {batchSize}'), '"{x}" --batch-size');
  });

  it("MemoryLimitError is a UsageError naming options the same way", () => {
    const e = new MemoryLimitError("use a smaller {hidden} or fewer {workers}");
    assert.ok(e instanceof UsageError);
    assert.equal(e.message, "use a smaller hidden or fewer workers");
    assert.equal(e.render(optionFlag), "use a smaller --hidden or fewer --workers");
  });

  it("every option has a flag, a distinct one", () => {
    const flags = OPTION_NAMES.map(optionFlag);
    for (const flag of flags) assert.match(flag, /^--[a-z][a-z-]*$/);
    assert.equal(new Set(flags).size, flags.length);
    assert.equal(optionFlag("source"), "--data");
  });
});
