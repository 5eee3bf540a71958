/**
 * `npm run local`: a user's stack (program and config, made with the Pulumi CLI) deployed into
 * the local cloud with Caddy's local certificates; it prints the login, serves Element and the
 * homeserver, and stops on Ctrl-C leaving nothing behind. Two stacks run side by side, each on
 * its own local network: stopping one leaves the other serving.
 */
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { DEFAULT_ELEMENT_VERSION } from "../cloud-init/versions";
import { buildSharedCli, offlineCliEnv } from "../local/pulumiCli";
import { TEST_DEPLOY_KEY, run, scratchDir } from "./fixtures";
import { ROOT, waitUntil } from "./local-services";
import { request } from "../local/https";
import { startElementMirror } from "../local/elementMirror";
import { livekitReleaseTarball } from "../local/livekit";
import { ensureRtcAuthStandIn } from "../local/rtcAuthStandIn";
import { createTestCa } from "../local/testCa";
import { assertNothingLeft, assertPoweredOffFirst, leftoversBefore } from "./droplet/leftovers";

const STACKS = [{ name: "trial", domain: "trial.test" }, { name: "second", domain: "second.test" }];

/** This machine's own address (the source of its default route): every local network reaches it. */
function machineAddress(): string {
  const src = /\bsrc (\S+)/.exec(run("ip", ["-4", "route", "get", "192.0.2.1"]).stdout)?.[1];
  if (!src) throw new Error("this machine has no IPv4 route to find its address by");
  return src;
}

/** One `npm run local`, as a user starts it in their project. */
interface LocalRun {
  name: string;
  domain: string;
  child: childProcess.ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

describe("npm run local", { timeout: 25 * 60_000 }, () => {
  const dir = scratchDir("matrix-local-");
  const homes = STACKS.map(({ name }) => path.join(ROOT, ".cache", "local", name));
  after(() => homes.forEach((home) => fs.rmSync(home, { recursive: true, force: true })));

  it("two stacks side by side: each deploys (program and CLI config), prints its login and serves HTTPS; Ctrl-C stops one and leaves the other serving; then nothing is left", async () => {
    homes.forEach((home) => fs.rmSync(home, { recursive: true, force: true }));
    const before = leftoversBefore();
    // Before anything that needs stopping: if the CLI cannot be built, nothing is left running.
    const env = offlineCliEnv(buildSharedCli(ROOT), dir);
    const ca = createTestCa(path.join(dir, "ca"));
    // Element's GitHub releases are out of reach here: the stacks point at a test-signed mirror
    // at this machine's address, which every local network reaches.
    const mirror = await startElementMirror(path.join(dir, "element"), [DEFAULT_ELEMENT_VERSION], ca, "0.0.0.0", 8444, machineAddress());
    // Calls are on out of the box: their downloads from the mirror too (the authorization
    // service's SHA-256 taken on the first deploy, on this machine, which trusts the mirror's CA).
    const livekit = mirror.publish("livekit.tar.gz", livekitReleaseTarball(dir));
    const rtcAuth = mirror.publish("lk-jwt-service", ensureRtcAuthStandIn());
    const caFile = path.join(dir, "ca.pem");
    fs.writeFileSync(caFile, ca.certPem);
    const runs: LocalRun[] = [];
    try {
      for (const [index, { name, domain }] of STACKS.entries()) {
        // The user's project (this repository's program and component) with a stack made by the CLI.
        const project = path.join(dir, name);
        fs.mkdirSync(project);
        for (const file of ["Pulumi.yaml", "index.ts", "package.json", "tsconfig.json"]) fs.copyFileSync(path.join(ROOT, file), path.join(project, file));
        for (const link of ["node_modules", "components", "cloud-init"]) fs.symlinkSync(path.join(ROOT, link), path.join(project, link));
        const pulumiCli = (args: string[], input?: string) => {
          const r = run("pulumi", ["--cwd", project, ...args], { env, input });
          assert.equal(r.code, 0, `pulumi ${args.join(" ")}: ${r.stderr}`);
        };
        pulumiCli(["stack", "init", name]);
        for (const [key, value] of [
          ["domain", domain], ["adminEmail", `me@${domain}`], ["maxUploadMb", "20"],
          ["extraCaCertificates[0]", ca.certPem], ["elementDownloadBase", mirror.base], ["elementKeyUrl", mirror.keyUrl],
          ["elementKeyFingerprint", mirror.fingerprint],
          ["livekitUrl", livekit.url], ["livekitSha256", livekit.sha256], ["rtcAuthServiceUrl", rtcAuth.url],
        ]) pulumiCli(["config", "set", "--path", key, "--", value]);
        // The user's keys, which the local run replaces with local ones: the first stack as
        // README's quick start gives them (sshPublicKey, the stack adds it to the account) and a
        // key the account has besides; the second only a key ID already in the account, as
        // README's table says to set one (a bare number would be stored as an integer).
        if (index === 0) pulumiCli(["config", "set", "sshPublicKey", TEST_DEPLOY_KEY.publicKey]);
        pulumiCli(["config", "set", "--type", "string", "--path", "sshKeys[0]", "12345"]);
        pulumiCli(["config", "set", "--secret", "sshPrivateKey"], TEST_DEPLOY_KEY.privateKey);
        // Both at once, as two people (or two terminals) would.
        const child = childProcess.spawn("bash", [path.join(ROOT, "scripts", "local.sh"), "--stack", name], { cwd: project, env: { ...env, NODE_EXTRA_CA_CERTS: caFile } });
        let output = "";
        child.stdout.on("data", (c) => (output += c));
        child.stderr.on("data", (c) => (output += c));
        runs.push({ name, domain, child, output: () => output, exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))) });
      }
      const everything = () => runs.map((r) => `--- ${r.name}:\n${r.output()}`).join("\n");
      await waitUntil("both logins to be printed", 20 * 60, () => runs.every((r) => r.child.exitCode !== null || /Password: +\S+/.test(r.output())), 1000)
        .catch((error) => {
          throw new Error(`${error.message}\n${everything()}`);
        });
      for (const r of runs) assert.equal(r.child.exitCode, null, `npm run local --stack ${r.name} exited:\n${r.output()}`);

      const field = (r: LocalRun, name: string) => r.output().match(new RegExp(`${name}: +(\\S+)`))![1];
      /** What a user of this stack sees: Element's config, and the admin's login. */
      const serves = async (r: LocalRun) => {
        const trust = fs.readFileSync(field(r, "CA certificate"), "utf8");
        const address = field(r, "Address");
        const element = await request(`https://element.${r.domain}/config.json`, trust, { address });
        assert.equal(element.status, 200, `${r.name}: ${element.body}`);
        assert.equal(element.json<{ default_server_config: Record<string, { base_url: string }> }>().default_server_config["m.homeserver"].base_url,
          `https://matrix.${r.domain}`);
        const login = await request(`https://matrix.${r.domain}/_matrix/client/v3/login`, trust, {
          address, method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: "admin" }, password: field(r, "Password") }),
        });
        assert.equal(login.status, 200, `${r.name}: ${login.body}`);
      };
      // The admin's command on the droplet, over the SSH line it prints: its certificates are Caddy's
      // own CA's (acmeServer: internal), which matrixctl checks against that CA, not as problems.
      const sshLine = /SSH: +ssh (.+)/.exec(runs[0].output())![1];
      const ssh = run("bash", ["-c", `ssh -o BatchMode=yes ${sshLine} matrixctl status`]);
      assert.equal(ssh.code, 0, `matrixctl status: ${ssh.stdout}${ssh.stderr}`);
      assert.match(ssh.stdout, new RegExp(`certificate matrix\\.${runs[0].domain.replace(".", "\\.")}\\s+valid until`), ssh.stdout);
      // Calls out of the box, the authorization service checked against the SHA-256 taken on this machine.
      for (const unit of ["matrix-livekit", "matrix-rtc-auth"]) assert.match(ssh.stdout, new RegExp(`${unit}\\s+active`));
      assert.match(runs[0].output(), /matrix-rtc-auth-sha256: exit 0/);
      for (const r of runs) {
        assert.equal(field(r, "Element"), `https://element.${r.domain}`);
        assert.equal(field(r, "Admin"), `@admin:${r.domain}`);
        assert.match(r.output(), /matrix-cloud-init: exit 0/, `${r.name}: the stack's SSH commands ran against the local droplet`);
        assert.match(r.output(), /matrix-ready: exit 0/, `${r.name}: and its readiness check`);
        await serves(r);
      }
      assert.notEqual(field(runs[0], "Address"), field(runs[1], "Address"), "each stack has its own address");

      // Ctrl-C on the first; the second serves on.
      const stop = async (r: LocalRun, signal: NodeJS.Signals) => {
        r.child.kill(signal);
        const code = await Promise.race([r.exited, new Promise((resolve) => setTimeout(() => resolve("timeout"), 150_000).unref())]);
        assert.equal(code, 0, `${r.name}: exit on ${signal}:\n${r.output()}`);
        assert.match(r.output(), /stopped; the data stays in/);
        // Its droplet powered off cleanly before its network went.
        assertPoweredOffFirst(r.output().split("\n").filter((l) => l.startsWith("teardown: ")).map((l) => l.slice("teardown: ".length)));
      };
      await stop(runs[0], "SIGINT");
      await serves(runs[1]);
      await stop(runs[1], "SIGTERM");
      assertNothingLeft(before, "nothing left on this machine");
    } finally {
      // A stack still running after a failure is stopped as a user would stop it (it then
      // removes what it set up); killed only if it does not stop.
      for (const r of runs.filter((r) => r.child.exitCode === null)) {
        r.child.kill("SIGTERM");
        const timer = setTimeout(() => r.child.kill("SIGKILL"), 150_000);
        await r.exited;
        clearTimeout(timer);
      }
      await mirror.close();
    }
  });
});
