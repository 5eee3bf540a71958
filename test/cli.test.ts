/**
 * The README's quick start, run command for command with the real Pulumi CLI (built by
 * ../shared/pulumi-cli). The CLI validates Pulumi.yaml and the stack's config before it starts
 * the program; here no registry serves the Node.js language host, so `pulumi up` then stops at
 * loading it — which is what this test expects, after config validation has passed.
 */
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as YAML from "yaml";
import * as pulumi from "@pulumi/pulumi";
import { deployKeyPairProblem, resolveArgs } from "../components/settings";
import { readStackConfig } from "../components/stackConfig";
import { RTC_AUTH_RELEASE } from "../cloud-init/versions";
import { buildSharedCli, cliStackConfig, offlineCliEnv } from "../local/pulumiCli";
import { scratchDir } from "./fixtures";
import { ROOT } from "./local-services";

const NO_LANGUAGE_HOST = /failed to load language plugin nodejs/;

/** The shell lines of a section of README (or a doc), its ```sh blocks up to the next heading, continuation lines joined. */
function sectionCommands(readme: string, heading: string): string[] {
  const start = readme.indexOf(`${heading}\n`);
  assert.ok(start >= 0, `no section ${heading}`);
  // Up to the next heading of level 2 or 3 (a single # is a comment in a block).
  const end = readme.slice(start + heading.length).search(/\n#{2,3} /);
  const section = readme.slice(start, end < 0 ? undefined : start + heading.length + end);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks.join("").replace(/\\\n\s*/g, "").split("\n").filter((line) => line.trim() !== "");
}

/** The shell lines of README's quick start. */
export function quickStartCommands(readme: string): string[] {
  return sectionCommands(readme, "## Quick start");
}

describe("README quick start with the real Pulumi CLI", { timeout: 20 * 60_000 }, () => {
  const dir = scratchDir("matrix-cli-");
  const project = path.join(dir, "matrix");
  const home = path.join(dir, "home");
  let env: NodeJS.ProcessEnv;

  const bash = (script: string) => childProcess.spawnSync("bash", ["-c", script], { cwd: project, env, encoding: "utf8" });

  before(() => {
    const bin = buildSharedCli(ROOT);
    const tools = path.join(dir, "tools");
    fs.mkdirSync(tools);
    // curl as README's Calls section uses it: GitHub is out of reach, so the download is a stand-in file.
    fs.writeFileSync(path.join(tools, "curl"), [
      "#!/bin/sh",
      `[ "$1 $2" = "-fsSLO ${RTC_AUTH_RELEASE.url}" ] && [ "$#" = 2 ] || exit 2`,
      'echo "a stand-in for lk-jwt-service" > "${2##*/}"',
    ].join("\n") + "\n", { mode: 0o755 });
    // The user's home, where the deploy key is made.
    fs.mkdirSync(home);
    env = { ...offlineCliEnv(bin, dir, [tools]), HOME: home };
    // The clone the first line makes: the project's files (its node_modules are not needed to
    // validate config).
    fs.mkdirSync(project);
    for (const file of ["Pulumi.yaml", "Pulumi.prod.yaml", "package.json", "tsconfig.json", "index.ts"]) fs.copyFileSync(path.join(ROOT, file), path.join(project, file));
  });

  it("the example stack the clone brings gives no required key a value: one the user forgets is refused, by name", () => {
    const forgetful = path.join(dir, "forgetful");
    fs.mkdirSync(forgetful);
    for (const file of ["Pulumi.yaml", "Pulumi.prod.yaml", "package.json", "tsconfig.json", "index.ts"]) fs.copyFileSync(path.join(ROOT, file), path.join(forgetful, file));
    // A backend of its own: the quick start below makes its own stack prod.
    fs.mkdirSync(path.join(forgetful, ".backend"));
    const ownEnv = { ...env, PULUMI_BACKEND_URL: `file://${path.join(forgetful, ".backend")}` };
    const inForgetful = (script: string) => childProcess.spawnSync("bash", ["-c", script], { cwd: forgetful, env: ownEnv, encoding: "utf8" });
    assert.equal(inForgetful("pulumi stack init prod && pulumi config set domain example.net").status, 0);
    const r = inForgetful("pulumi preview");
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /missing configuration value 'adminEmail'/, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, NO_LANGUAGE_HOST, "refused before the program");
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
    // The deploy key: made without a passphrase, its public half for the stack to add to the
    // account (one line, as the program checks it), its private half a secret of the stack.
    const key = path.join(home, ".ssh", "matrix-deploy");
    assert.equal(childProcess.spawnSync("ssh-keygen", ["-y", "-P", "", "-f", key]).status, 0, "the deploy key opens without a passphrase");
    const stack = YAML.parse(fs.readFileSync(path.join(project, "Pulumi.prod.yaml"), "utf8"));
    const { "matrix-do:sshPrivateKey": privateKey, "matrix-do:domain": domain, "matrix-do:adminEmail": adminEmail, "matrix-do:sshPublicKey": sshPublicKey } = stack.config;
    assert.deepEqual({ domain, adminEmail, sshPublicKey }, { domain: "example.org", adminEmail: "you@example.org", sshPublicKey: fs.readFileSync(`${key}.pub`, "utf8").trim() });
    assert.equal(stack.config["matrix-do:sshKeys"], undefined, "no key of the account is needed");
    assert.equal(deployKeyPairProblem(fs.readFileSync(key, "utf8"), { sshKeys: [], sshPublicKey }), undefined, "the two halves of one pair");
    assert.ok(privateKey?.secure, `sshPrivateKey is stored encrypted: ${JSON.stringify(privateKey)}`);
    assert.equal(cliStackConfig(project, "prod", env)["matrix-do:sshPrivateKey"].value.trim(), fs.readFileSync(key, "utf8").trim());
  });

  it("the Calls doc's commands put the downloaded binary's checksum in the config and turn calls on", () => {
    const commands = sectionCommands(fs.readFileSync(path.join(ROOT, "docs", "calls.md"), "utf8"), "## Calls for your users");
    assert.equal(commands.at(-1), "pulumi up");
    const r = bash(["set -euo pipefail", ...commands].join("\n"));
    assert.match(r.stdout + r.stderr, NO_LANGUAGE_HOST, r.stdout + r.stderr);
    const sha256 = crypto.createHash("sha256").update(fs.readFileSync(path.join(project, "lk-jwt-service_linux_amd64"))).digest("hex");
    const config = cliStackConfig(project, "prod", env);
    assert.equal(config["matrix-do:rtcAuthServiceSha256"].value, sha256);
    assert.equal(config["matrix-do:matrixRtc"].value, "true", "calls are on by default");
    // The program takes it as the checksum of the pinned release.
    // (Its plain keys: a secret is read as an Output, which only the component resolves.)
    pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(config).filter(([, v]) => !v.secret).map(([k, v]) => [k, v.value])));
    const args = readStackConfig(new pulumi.Config("matrix-do"));
    assert.deepEqual(resolveArgs(args as never).settings.matrixRtc?.authService, { url: RTC_AUTH_RELEASE.url, sha256 });
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

  it("README's upgrade keeps a stack's settings across a pull that changes the example Pulumi.prod.yaml", () => {
    const line = /`(git pull[^`]*)`/.exec(fs.readFileSync(path.join(ROOT, "README.md"), "utf8").split("**Upgrade**")[1])?.[1];
    assert.ok(line, "README's Operations says how to upgrade");
    const pull = line.split(" && ")[0];
    // A clone from before the last change to the example, configured by its user, then pulled.
    const changed = childProcess.execFileSync("git", ["-C", ROOT, "log", "-1", "--format=%H", "--", "Pulumi.prod.yaml"], { encoding: "utf8" }).trim();
    const upgraded = path.join(dir, "upgraded");
    const git = (...args: string[]) => childProcess.execFileSync("git", ["-C", upgraded, "-c", "user.name=u", "-c", "user.email=u@example.org", ...args], { encoding: "utf8" });
    childProcess.execFileSync("git", ["clone", "-q", ROOT, upgraded]);
    git("checkout", "-q", "-B", "main", `${changed}~1`);
    git("branch", "-q", "--set-upstream-to=origin/main");
    fs.mkdirSync(path.join(upgraded, ".backend"));
    // A user's git has a name (a stash is a commit); so has this one's.
    const own = {
      ...env, PULUMI_BACKEND_URL: `file://${path.join(upgraded, ".backend")}`,
      GIT_AUTHOR_NAME: "u", GIT_AUTHOR_EMAIL: "u@example.org", GIT_COMMITTER_NAME: "u", GIT_COMMITTER_EMAIL: "u@example.org",
    };
    const inClone = (script: string) => childProcess.spawnSync("bash", ["-c", script], { cwd: upgraded, env: own, encoding: "utf8" });
    const setup = inClone("pulumi stack init prod && pulumi config set domain example.org && pulumi config set adminEmail you@example.org && pulumi config set --secret sshPrivateKey hunter2");
    assert.equal(setup.status, 0, setup.stderr);
    const before = cliStackConfig(upgraded, "prod", own);
    // Without --autostash, git refuses the pull: the user's Pulumi.prod.yaml would be overwritten.
    assert.notEqual(inClone("git pull -q").status, 0);
    const r = inClone(pull);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(git("rev-parse", "HEAD").trim(), git("rev-parse", "origin/main").trim(), "pulled");
    const after = cliStackConfig(upgraded, "prod", own);
    for (const key of ["matrix-do:domain", "matrix-do:adminEmail", "matrix-do:sshPrivateKey"]) assert.deepEqual(after[key], before[key], key);
  });

  it("npm run local under plain sudo: the CLI's refusal comes with how to keep the user's login and passphrase (sudo -E)", () => {
    // sudo resets HOME to root's and drops PULUMI_CONFIG_PASSPHRASE; the stack's secrets need it.
    const { PULUMI_CONFIG_PASSPHRASE: _passphrase, ...rest } = env;
    assert.throws(() => cliStackConfig(project, "prod", { ...rest, SUDO_USER: "alice", HOME: "/root" }),
      /pulumi config --stack prod: [\s\S]*passphrase[\s\S]*\n\(run under sudo as alice without HOME \(your Pulumi login is in ~\/\.pulumi\) and PULUMI_CONFIG_PASSPHRASE \(if your stack has one\): use `sudo -E npm run local …`/);
    assert.doesNotThrow(() => cliStackConfig(project, "prod", { ...env, SUDO_USER: "alice" }), "sudo -E: the same environment");
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
