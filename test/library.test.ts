/**
 * MatrixServer as a library, installed the two ways README gives: from the package npm packs
 * (`npm pack`, as a registry would serve it) and from this repository's git URL (`npm install
 * git+…`, where npm builds dist/ through `prepare` and then packs). Each time a separate
 * TypeScript stack with its own node_modules imports it by name, type-checks, and deploys it
 * under Pulumi's mocks.
 */
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { scratchDir } from "./fixtures";
import { ROOT } from "./local-services";

const TSC = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");

function sh(cmd: string, args: string[], cwd: string) {
  const r = childProcess.spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_yes: "true" } });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} in ${cwd}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A new project that installs `spec` (a tarball or a git URL), after `first` (its own packages, if any). */
function consumer(dir: string, spec: string, first: string[] = []): string {
  fs.mkdirSync(dir, { recursive: true });
  // As `pulumi new typescript` makes one: TypeScript 5 and Node's types among its own packages.
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "consumer-stack", version: "1.0.0", private: true, devDependencies: { typescript: "5.9.3", "@types/node": "24.19.4" } }));
  if (first.length > 0) sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...first], dir);
  sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", spec], dir);
  return dir;
}

/** Where the project has @pulumi/pulumi installed, and at which version. */
function pulumiCopies(dir: string): string[] {
  const parsable = childProcess.spawnSync("npm", ["ls", "@pulumi/pulumi", "--all", "--parseable", "--long"], { cwd: dir, encoding: "utf8" }).stdout;
  return [...new Set(parsable.split("\n").filter(Boolean).map((line) => path.relative(dir, line.split(":")[0]) + " " + line.split(":")[1]))];
}

/** The oldest @pulumi/pulumi the package supports (package.json's peerDependencies), which this test installs. */
const OLDEST_SDK = "3.250.0";

const PROGRAM = `
  import * as pulumi from "@pulumi/pulumi";
  pulumi.runtime.setMocks({
    newResource: (a) => ({ id: a.name + "-id", state: { ...a.inputs, result: "x".repeat(a.inputs.length || 4),
      base64: Buffer.alloc(32, 7).toString("base64"), ipAddress: "203.0.113.5",
      privateKeyOpenssh: "-----BEGIN OPENSSH PRIVATE KEY-----\\n", publicKeyOpenssh: "ssh-ed25519 AAAA\\n",
      // What a command prints: here, the SHA-256 the first deploy takes of the calls' download.
      stdout: "e".repeat(64) } }),
    call: () => ({}),
  }, "consumer", "dev", false);
  import { MatrixServer, MatrixServerArgs, SettingsError } from "matrix-do";

  let rejected = "";
  try { new MatrixServer("bad", { domain: "nope", adminEmail: "a@example.org", sshKeys: ["1"] }); }
  catch (e) { rejected = e instanceof SettingsError ? e.problems.join(";") : String(e); }
  const args: MatrixServerArgs = { domain: "chat.example.org", adminEmail: "a@example.org", sshKeys: ["12345"], waitForReady: false };
  const chat = new MatrixServer("chat", args);
  pulumi.all([chat.homeserverUrl, chat.elementUrl, chat.reservedIp]).apply(([hs, el, ip]) =>
    console.log(JSON.stringify({ resolved: require.resolve("matrix-do"), hs, el, ip, rejected })));
  // @ts-expect-error: adminEmail is required
  export const broken = () => new MatrixServer("broken", { domain: "example.org", sshKeys: ["12345"] });
`;

/** Type-check and run the consumer's program against the package it installed. */
function useIt(dir: string): string {
  fs.writeFileSync(path.join(dir, "index.ts"), PROGRAM);
  fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({
    compilerOptions: { strict: true, module: "commonjs", moduleResolution: "node", target: "es2022", skipLibCheck: true, outDir: "bin" },
    files: ["index.ts"],
  }));
  sh(process.execPath, [TSC, "-p", "tsconfig.json"], dir);
  const out = JSON.parse(sh(process.execPath, [path.join(dir, "bin", "index.js")], dir).trim().split("\n").at(-1)!);
  assert.equal(out.resolved, path.join(dir, "node_modules", "matrix-do", "dist", "components", "index.js"), "the compiled entry point");
  assert.equal(out.hs, "https://matrix.chat.example.org");
  assert.equal(out.el, "https://element.chat.example.org");
  assert.equal(out.ip, "203.0.113.5");
  assert.match(out.rejected, /^'domain': expected /);
  // The payload's scripts, Synapse locks and the readiness check come with it.
  for (const file of ["cloud-init/scripts/bootstrap.sh", "components/readiness/wait-for-homeserver.mjs", "LICENSE"]) {
    assert.ok(fs.existsSync(path.join(dir, "node_modules", "matrix-do", file)), file);
  }
  return dir;
}

describe("MatrixServer installed by another project", { timeout: 15 * 60_000 }, () => {
  const dir = scratchDir("matrix-consumer-");

  before(() => {
    // Only what git has (tracked and new, not ignored), as a clone or `npm pack` of a commit would.
    const repo = path.join(dir, "repo");
    const files = sh("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], ROOT).split("\0").filter((f) => f && fs.existsSync(path.join(ROOT, f)));
    for (const file of files) {
      fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, file), path.join(repo, file));
    }
    sh("git", ["init", "-q", "-b", "main"], repo);
    sh("git", ["add", "-A"], repo);
    sh("git", ["-c", "user.name=test", "-c", "user.email=test@example.test", "commit", "-q", "-m", "snapshot"], repo);
  });

  it("from `npm pack`: the tarball holds the compiled library, which a TypeScript stack type-checks and deploys", () => {
    const repo = path.join(dir, "repo");
    sh("npm", ["ci", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts"], repo);
    const tarball = sh("npm", ["pack", "--pack-destination", dir], repo).trim().split("\n").at(-1)!;
    const from = useIt(consumer(path.join(dir, "from-pack"), path.join(dir, tarball)));
    // README's TypeScript, as a stack that installed the package has it: it type-checks.
    const blocks = [...fs.readFileSync(path.join(ROOT, "README.md"), "utf8").matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
    assert.ok(blocks.length > 0, "README has TypeScript");
    blocks.forEach((code, i) => fs.writeFileSync(path.join(from, `readme-${i}.ts`), code));
    fs.writeFileSync(path.join(from, "tsconfig.readme.json"), JSON.stringify({
      compilerOptions: { strict: true, module: "commonjs", moduleResolution: "node", target: "es2022", skipLibCheck: true, noEmit: true },
      files: blocks.map((_, i) => `readme-${i}.ts`),
    }));
    sh(process.execPath, [TSC, "-p", "tsconfig.readme.json"], from);
    assert.deepEqual(pulumiCopies(from), ["node_modules/@pulumi/pulumi @pulumi/pulumi@3.276.0"], "npm installs the SDK it peers with, once");
  });

  it("into a stack on another @pulumi/pulumi minor: one copy of the SDK (the stack's), which the component registers with", () => {
    const peers = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).peerDependencies as Record<string, string>;
    assert.equal(peers["@pulumi/pulumi"], `^${OLDEST_SDK}`, "the range this test proves");
    const tarball = fs.readdirSync(dir).find((f) => f.endsWith(".tgz"))!;
    const from = useIt(consumer(path.join(dir, "older-sdk"), path.join(dir, tarball), [`@pulumi/pulumi@${OLDEST_SDK}`]));
    // One copy: the mocks the stack sets are the ones the component's resources meet (useIt resolved the reserved IP through them).
    assert.deepEqual(pulumiCopies(from), [`node_modules/@pulumi/pulumi @pulumi/pulumi@${OLDEST_SDK}`]);
  });

  it("from a git URL: npm builds it on install, and a TypeScript stack type-checks and deploys it", () => {
    useIt(consumer(path.join(dir, "from-git"), `git+file://${path.join(dir, "repo")}`));
  });
});
