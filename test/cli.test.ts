/**
 * The README's quick start, run command for command with the real Pulumi CLI (built by
 * ../shared/pulumi-cli). The CLI validates Pulumi.yaml and the stack's config before it starts
 * the program; here no registry serves the Node.js language host, so `pulumi up` then stops at
 * loading it — which is what this test expects, after config validation has passed.
 */
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as YAML from "yaml";
import { buildSharedCli, cliStackConfig, offlineCliEnv } from "../local/pulumiCli";
import { scratchDir } from "./fixtures";
import { ROOT } from "./local-services";

const FINGERPRINT = "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa";
const NO_LANGUAGE_HOST = /failed to load language plugin nodejs/;

/** The shell lines of README's quick start (its ```sh blocks), continuation lines joined. */
export function quickStartCommands(readme: string): string[] {
  const section = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("\n### ", readme.indexOf("## Quick start")));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks.join("").replace(/\\\n\s*/g, "").split("\n").filter((line) => line.trim() !== "");
}

describe("README quick start with the real Pulumi CLI", { timeout: 20 * 60_000 }, () => {
  const dir = scratchDir("matrix-cli-");
  const project = path.join(dir, "matrix");
  let env: NodeJS.ProcessEnv;

  const bash = (script: string) => childProcess.spawnSync("bash", ["-c", script], { cwd: project, env, encoding: "utf8" });

  before(() => {
    const bin = buildSharedCli(ROOT);
    // doctl as the README uses it, answering with one key's fingerprint.
    const tools = path.join(dir, "tools");
    fs.mkdirSync(tools);
    fs.writeFileSync(path.join(tools, "doctl"), `#!/bin/sh\n[ "$*" = "compute ssh-key list --format FingerPrint --no-header" ] || exit 2\necho ${FINGERPRINT}\n`, { mode: 0o755 });
    env = offlineCliEnv(bin, dir, [tools]);
    // The clone the first line makes: the project's files (its node_modules are not needed to
    // validate config).
    fs.mkdirSync(project);
    for (const file of ["Pulumi.yaml", "package.json", "tsconfig.json", "index.ts"]) fs.copyFileSync(path.join(ROOT, file), path.join(project, file));
  });

  it("gets through config validation, with only the README's commands", () => {
    const commands = quickStartCommands(fs.readFileSync(path.join(ROOT, "README.md"), "utf8"));
    assert.match(commands[0], /^git clone /);
    assert.equal(commands.at(-1), "pulumi up");
    assert.ok(commands.some((c) => c.startsWith("pulumi login")), "the quick start logs in");
    const r = bash(["set -euo pipefail", ...commands.slice(1)].join("\n"));
    const output = r.stdout + r.stderr;
    assert.doesNotMatch(output, /validating stack config|missing configuration/, output);
    assert.match(output, NO_LANGUAGE_HOST, output);
    const stack = YAML.parse(fs.readFileSync(path.join(project, "Pulumi.prod.yaml"), "utf8"));
    assert.deepEqual(stack.config, { "matrix-do:domain": "example.org", "matrix-do:adminEmail": "you@example.org", "matrix-do:sshKeys": [FINGERPRINT] });
  });

  it("hands the program Pulumi.yaml's defaults and secrets set with --secret", () => {
    assert.equal(bash("pulumi config set --secret smtpPassword hunter2 && pulumi config set volumeSizeGb 40").status, 0);
    const config = cliStackConfig(project, "prod", env);
    assert.deepEqual(config["matrix-do:smtpPassword"], { value: "hunter2", secret: true });
    assert.equal(config["matrix-do:volumeSizeGb"].value, "40");
    assert.equal(config["matrix-do:region"].value, "nyc3");
    assert.equal(config["matrix-do:smtpHost"].value, "");
    assert.ok(!fs.readFileSync(path.join(project, "Pulumi.prod.yaml"), "utf8").includes("hunter2"), "stored encrypted");
  });

  it("checks the type of a typed key before the program runs", () => {
    assert.equal(bash("pulumi config set volumeSizeGb big").status, 0);
    const r = bash("pulumi preview");
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /configuration key 'volumeSizeGb' must be of type 'integer'/);
    assert.equal(bash("pulumi config set volumeSizeGb 40").status, 0);
    assert.match(bash("pulumi preview").stderr + bash("pulumi preview").stdout, NO_LANGUAGE_HOST);
  });
});
