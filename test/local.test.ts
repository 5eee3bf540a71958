/**
 * `npm run local`: a user's stack (program and config, made with the Pulumi CLI) deployed into
 * the local cloud with Caddy's local certificates; it prints the login, serves Element and the
 * homeserver, and stops on Ctrl-C leaving nothing behind.
 */
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { DEFAULT_ELEMENT_VERSION } from "../cloud-init/versions";
import { buildSharedCli, offlineCliEnv } from "../local/pulumiCli";
import { run, scratchDir } from "./fixtures";
import { ROOT, request, waitUntil } from "./local-services";
import { startElementMirror } from "./droplet/elementMirror";
import { createTestCa } from "./droplet/testPki";

const STACK = "trial";

describe("npm run local", { timeout: 20 * 60_000 }, () => {
  const dir = scratchDir("matrix-local-");
  const home = path.join(ROOT, ".cache", "local", STACK);
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("deploys the stack (program and CLI config) into the local cloud, prints the login, serves HTTPS, and stops cleanly on Ctrl-C", async () => {
    fs.rmSync(home, { recursive: true, force: true });
    const ca = createTestCa(path.join(dir, "ca"));
    // Element's GitHub releases are out of reach here: the stack points at a test-signed mirror
    // on the host side of the droplet's network (10.213.1.1, created by the run itself).
    const mirror = await startElementMirror(path.join(dir, "element"), [DEFAULT_ELEMENT_VERSION], ca, "0.0.0.0", 8444, "10.213.1.1");
    try {
      // The user's project (this repository's program and component) with a stack made by the CLI.
      const project = path.join(dir, "project");
      fs.mkdirSync(project);
      for (const file of ["Pulumi.yaml", "index.ts", "package.json", "tsconfig.json"]) fs.copyFileSync(path.join(ROOT, file), path.join(project, file));
      for (const link of ["node_modules", "components", "cloud-init"]) fs.symlinkSync(path.join(ROOT, link), path.join(project, link));
      const env = offlineCliEnv(buildSharedCli(ROOT), dir);
      const pulumiCli = (args: string[], input?: string) => {
        const r = run("pulumi", ["--cwd", project, ...args], { env, input });
        assert.equal(r.code, 0, `pulumi ${args.join(" ")}: ${r.stderr}`);
      };
      pulumiCli(["stack", "init", STACK]);
      for (const [key, value] of [
        ["domain", "trial.test"], ["adminEmail", "me@trial.test"], ["maxUploadMb", "20"],
        ["extraCaCertificates[0]", ca.certPem], ["elementDownloadBase", mirror.base], ["elementKeyUrl", mirror.keyUrl],
        ["elementKeyFingerprint", mirror.fingerprint],
      ]) pulumiCli(["config", "set", "--path", key, "--", value]);
      // A key ID, as README says to set one (a bare number would be stored as an integer).
      pulumiCli(["config", "set", "--type", "string", "--path", "sshKeys[0]", "12345"]);
      // A key of the user's: the local run logs in with a local one instead.
      pulumiCli(["config", "set", "--secret", "sshPrivateKey"], "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-this-one\n-----END OPENSSH PRIVATE KEY-----\n");
      const child = childProcess.spawn("bash", [path.join(ROOT, "scripts", "local.sh"), "--stack", STACK], { cwd: project, env });
      let output = "";
      child.stdout.on("data", (c) => (output += c));
      child.stderr.on("data", (c) => (output += c));
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      await waitUntil("the login to be printed", 15 * 60, () => child.exitCode !== null || /Password: +\S+/.test(output), 1000).catch((error) => {
        child.kill("SIGKILL");
        throw new Error(`${error.message}\n${output}`);
      });
      assert.equal(child.exitCode, null, `npm run local exited:\n${output}`);
      const field = (name: string) => output.match(new RegExp(`${name}: +(\\S+)`))![1];
      assert.equal(field("Element"), "https://element.trial.test");
      assert.equal(field("Admin"), "@admin:trial.test");
      const trust = fs.readFileSync(field("CA certificate"), "utf8");
      const address = field("Address");

      const element = await request("https://element.trial.test/config.json", trust, { address });
      assert.equal(element.status, 200);
      assert.equal(element.json<{ default_server_config: Record<string, { base_url: string }> }>().default_server_config["m.homeserver"].base_url,
        "https://matrix.trial.test");
      const login = await request("https://matrix.trial.test/_matrix/client/v3/login", trust, {
        address, method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "admin" }, password: field("Password") }),
      });
      assert.equal(login.status, 200, login.body);

      child.kill("SIGINT");
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("timeout"), 150_000).unref())]);
      assert.equal(code, 0, `exit on Ctrl-C:\n${output}`);
      assert.match(output, /stopped; the data stays in/);
      assert.equal(run("ip", ["netns", "list"]).stdout.includes("matrix-do-"), false, "network namespace removed");
      assert.equal(run("nft", ["list", "tables"]).stdout.includes("matrix_do_local"), false, "NAT table removed");
      assert.equal(run("ip", ["route", "show"]).stdout.includes("10.213."), false, "routes removed");
      assert.equal(run("ip", ["addr", "show", "dev", "lo"]).stdout.includes("169.254.169.254"), false, "metadata address removed");
      assert.match(output, /matrix-cloud-init: exit 0/, "the stack's SSH commands ran against the local droplet");
      assert.match(output, /matrix-ready: exit 0/, "and its readiness check");
    } finally {
      await mirror.close();
    }
  });
});
