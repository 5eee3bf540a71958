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
import { headingAnchor } from "../scripts/settings";

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


describe("README and docs/ link to what exists", () => {
  const files = ["README.md", ...fs.readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
  const anchors = (file: string) => new Set([...fs.readFileSync(path.join(ROOT, file), "utf8").matchAll(/^#{1,6} (.+)$/gm)].map((m) => headingAnchor(m[1])));

  it("every link to a file of the repository names one that exists, and every #anchor a heading it has", () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of files) {
      // Outside code blocks only.
      const text = fs.readFileSync(path.join(ROOT, file), "utf8").replace(/^```[\s\S]*?^```$/gm, "");
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        checked += 1;
        const [where, anchor] = target.split("#");
        const linked = where ? path.normalize(path.join(path.dirname(file), where)) : file;
        if (!fs.existsSync(path.join(ROOT, linked))) broken.push(`${file}: ${target} (no ${linked})`);
        else if (anchor && linked.endsWith(".md") && !anchors(linked).has(anchor)) broken.push(`${file}: ${target} (no heading #${anchor} in ${linked})`);
      }
    }
    assert.ok(checked > 10, `only ${checked} links read`);
    assert.deepEqual(broken, []);
  });
});

describe("what npm installs", () => {
  it("the SDK and the providers are peer dependencies, pinned by the lock, and installed without the dev ones (npm ci --omit=dev)", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8"));
    for (const name of ["@pulumi/pulumi", "@pulumi/command", "@pulumi/digitalocean", "@pulumi/random", "@pulumi/tls"]) {
      assert.ok(pkg.peerDependencies?.[name], `${name} is a peer dependency: a stack that imports the component keeps one copy`);
      assert.equal(pkg.dependencies?.[name] ?? pkg.devDependencies?.[name], undefined, `${name} only as a peer`);
      const locked = lock.packages[`node_modules/${name}`];
      assert.ok(locked?.version, `${name} pinned by the lock`);
      assert.notEqual(locked.dev, true, `${name} stays with --omit=dev`);
    }
    // The Pulumi host compiles index.ts with the project's TypeScript (its vendored 3.8 cannot read `satisfies`).
    assert.ok(pkg.dependencies.typescript);
  });
});
