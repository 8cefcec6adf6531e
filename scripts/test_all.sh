#!/usr/bin/env bash
# The whole suite on both runtimes, plus deno check, lint and fmt --check.
# Prints each runtime's own report, then one line "N passed, N failed" for everything together,
# and exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
status=0

echo "== deno test"
"$bin/deno" test --allow-all --no-check --reporter=dot --junit-path="$reports/deno.xml" test/ || status=1
echo "== bun test"
"$bin/bun" test --timeout 120000 --reporter=junit --reporter-outfile="$reports/bun.xml" || status=1

checks_failed=0
for check in "check src/ scripts/ test/" "lint" "fmt --check"; do
  echo "== deno $check"
  # shellcheck disable=SC2086
  if ! "$bin/deno" $check; then checks_failed=$((checks_failed + 1)); status=1; fi
done

node - "$reports/deno.xml" "$reports/bun.xml" "$checks_failed" <<'JS'
const { readFileSync, existsSync } = require("node:fs");
const [denoXml, bunXml, checksFailed] = process.argv.slice(2);
let passed = 0, failed = Number(checksFailed);
passed += 3 - failed;
for (const [name, file] of [["deno", denoXml], ["bun", bunXml]]) {
  if (!existsSync(file)) { console.log(`${name}: no report (the runner crashed)`); failed++; continue; }
  const xml = readFileSync(file, "utf8");
  const all = xml.match(/<testcase\b[^>]*?(\/>|>[\s\S]*?<\/testcase>)/g) ?? [];
  // Count leaf tests only. Bun reports each it() as a testcase; Deno reports each describe()
  // as a testcase too and its it()s as steps named "describe > it".
  const caseName = (c) => /name="([^"]*)"/.exec(c)[1];
  const parents = new Set();
  for (const parts of all.map((c) => caseName(c).split(" &gt; "))) {
    for (let i = 1; i < parts.length; i++) parents.add(parts.slice(0, i).join(" &gt; "));
  }
  const cases = all.filter((c) => !parents.has(caseName(c)));
  const bad = cases.filter((c) => /<(failure|error)\b/.test(c)).length;
  const skipped = cases.filter((c) => /<skipped\b/.test(c)).length;
  console.log(`${name}: ${cases.length - bad - skipped} passed, ${bad} failed, ${skipped} skipped`);
  passed += cases.length - bad - skipped;
  failed += bad;
}
console.log(`${passed} passed, ${failed} failed`);
JS
exit $status
