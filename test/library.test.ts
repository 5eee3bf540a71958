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

/** A new project that installs `spec` (a tarball or a git URL) as its only dependency. */
function consumer(dir: string, spec: string): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "consumer-stack", version: "1.0.0", private: true }));
  sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", spec], dir);
  return dir;
}

const PROGRAM = `
  import * as pulumi from "@pulumi/pulumi";
  pulumi.runtime.setMocks({
    newResource: (a) => ({ id: a.name + "-id", state: { ...a.inputs, result: "x".repeat(a.inputs.length || 4),
      base64: Buffer.alloc(32, 7).toString("base64"), ipAddress: "203.0.113.5",
      privateKeyOpenssh: "-----BEGIN OPENSSH PRIVATE KEY-----\\n", publicKeyOpenssh: "ssh-ed25519 AAAA\\n" } }),
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
  // @ts-expect-error: sshKeys is required
  export const broken = () => new MatrixServer("broken", { domain: "example.org", adminEmail: "a@example.org" });
`;

/** Type-check and run the consumer's program against the package it installed. */
function useIt(dir: string) {
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
    useIt(consumer(path.join(dir, "from-pack"), path.join(dir, tarball)));
  });

  it("from a git URL: npm builds it on install, and a TypeScript stack type-checks and deploys it", () => {
    useIt(consumer(path.join(dir, "from-git"), `git+file://${path.join(dir, "repo")}`));
  });
});
