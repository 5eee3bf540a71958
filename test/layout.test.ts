/**
 * Imports go one way. The product (components/, cloud-init/, index.ts) imports nothing of the
 * harness, the tests or the benchmark; the harness both share (local/) imports neither; the
 * benchmark imports nothing from the tests. Tests may import the benchmark: it is code under
 * test (its statistics, and its workloads run against a droplet).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";

const ROOT = path.resolve(__dirname, "..");

/** Every relative import of the source files under `dir` (or of the file `dir`), as repository paths. */
function importsOf(dir: string): { file: string; target: string }[] {
  const full = path.join(ROOT, dir);
  const files = fs.statSync(full).isDirectory()
    ? (fs.readdirSync(full, { recursive: true }) as string[]).filter((f) => /\.(ts|mts|cts|js|mjs|cjs)$/.test(f)).map((f) => path.join(full, f))
    : [full];
  // TypeScript's own reading of a file's imports: import and export … from, import(), require().
  return files.flatMap((file) => ts.preProcessFile(fs.readFileSync(file, "utf8"), true, true).importedFiles
    .filter(({ fileName }) => fileName.startsWith("."))
    .map(({ fileName }) => ({ file: path.relative(ROOT, file), target: path.relative(ROOT, path.resolve(path.dirname(file), fileName)) })));
}

const RULES: { from: string[]; notInto: string[] }[] = [
  { from: ["components", "cloud-init", "index.ts"], notInto: ["local", "test", "bench", "scripts"] },
  { from: ["local"], notInto: ["test", "bench"] },
  { from: ["bench"], notInto: ["test"] },
];

describe("imports go one way", () => {
  for (const rule of RULES) {
    it(`${rule.from.join(", ")} import nothing from ${rule.notInto.join(", ")}`, () => {
      const found = rule.from.flatMap(importsOf);
      assert.ok(found.length > 0, `no imports found under ${rule.from.join(", ")}: the check reads nothing`);
      const wrong = found.filter(({ target }) => rule.notInto.some((dir) => target === dir || target.startsWith(`${dir}/`)));
      assert.deepEqual(wrong.map(({ file, target }) => `${file} → ${target}`), []);
    });
  }
});
