/**
 * `pulumi new https://github.com/<owner>/<repo>` with this repository as the template, run by the
 * real Pulumi CLI (../shared/pulumi-cli) offline: the template is a copy of the repository's
 * tracked files, as a clone would give. The CLI asks for Pulumi.yaml's `template.config` keys and
 * saves each answer as a plain string (pkg/cmd/pulumi/project/newcmd/config.go): the deploy key's
 * public half, one line, is one (sshKeys, a typed list, is not asked: it would be saved as text,
 * which the CLI's validation of typed config refuses). The generated project then gets through that
 * validation: `pulumi preview` stops only at loading the Node.js language host, as in cli.test.ts.
 *
 * `pulumi new` itself talks to the language host (runtime options, templating, `npm install`),
 * which no registry here serves: a stand-in answers those calls over gRPC, attached through the
 * CLI's PULUMI_DEBUG_LANGUAGES, for `pulumi new` only. It installs nothing.
 */
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as YAML from "yaml";
import * as languageGrpc from "@pulumi/pulumi/proto/language_grpc_pb";
import * as languagePb from "@pulumi/pulumi/proto/language_pb";
import * as pluginPb from "@pulumi/pulumi/proto/plugin_pb";
import { buildSharedCli, cliStackConfig, offlineCliEnv } from "../local/pulumiCli";
import { TEST_DEPLOY_KEY, run, scratchDir } from "./fixtures";
import { ROOT } from "./local-services";
import { SETTINGS } from "../components/settingsTable";

// The gRPC library the SDK's generated services are built on (its dependency, not ours).
const grpc = createRequire(require.resolve("@pulumi/pulumi/package.json"))("@grpc/grpc-js") as typeof import("@grpc/grpc-js");

const PUBLIC_KEY = TEST_DEPLOY_KEY.publicKey;
const NO_LANGUAGE_HOST = /failed to load language plugin nodejs/;
const CONFIG_ERROR = /validating stack config|missing configuration|must be of type/;

/** A stand-in for pulumi-language-nodejs: answers what `pulumi new` asks of it, doing nothing. */
async function startLanguageHost(): Promise<{ port: number; calls: string[]; stop: () => Promise<void> }> {
  const calls: string[] = [];
  const unary = (name: string, reply: () => unknown) => (_call: unknown, done: (err: null, value: unknown) => void) => {
    calls.push(name);
    done(null, reply());
  };
  const server = new grpc.Server();
  server.addService(languageGrpc.LanguageRuntimeService, {
    handshake: unary("Handshake", () => new languagePb.LanguageHandshakeResponse()),
    getPluginInfo: unary("GetPluginInfo", () => new pluginPb.PluginInfo().setVersion("3.276.0")),
    runtimeOptionsPrompts: unary("RuntimeOptionsPrompts", () => new languagePb.RuntimeOptionsResponse()),
    template: unary("Template", () => new languagePb.TemplateResponse()),
    // Where the real host runs `npm install`.
    installDependencies: (call: { end: () => void }) => {
      calls.push("InstallDependencies");
      call.end();
    },
    getRequiredPackages: unary("GetRequiredPackages", () => new languagePb.GetRequiredPackagesResponse()),
    getRequiredPlugins: unary("GetRequiredPlugins", () => new languagePb.GetRequiredPluginsResponse()),
  } as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, calls, stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
}

/** What `git clone` of the repository holds: its tracked files, as they are in the working tree. */
function copyTrackedFiles(from: string, to: string): void {
  const files = run("git", ["-C", from, "ls-files", "-z"]).stdout.split("\0").filter(Boolean);
  assert.ok(files.includes("Pulumi.yaml"), "git ls-files lists the repository's files");
  for (const file of files) {
    const source = path.join(from, file);
    if (!fs.existsSync(source)) continue; // deleted in the working tree
    fs.mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
    fs.copyFileSync(source, path.join(to, file));
    fs.chmodSync(path.join(to, file), fs.statSync(source).mode & 0o777);
  }
}

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;

interface Outcome {
  code: number;
  output: string;
  /** The prompts the CLI showed, as shown (on a terminal only). */
  prompts: string[];
}

/**
 * Runs a command to its end without blocking the event loop (the stand-in host answers on it).
 * With `answers`, on a terminal (util-linux `script`): each prompt is answered by the first
 * answer whose label it shows; a prompt no label matches fails the run.
 */
function runAsync(args: string[], cwd: string, env: NodeJS.ProcessEnv, answers?: Record<string, string>): Promise<Outcome> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const child = answers
    ? childProcess.spawn("script", ["-qefc", args.map(quote).join(" "), "/dev/null"], { cwd, env, stdio: ["pipe", "pipe", "pipe"] })
    : childProcess.spawn(args[0], args.slice(1), { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let pending = "";
  const prompts: string[] = [];
  let quiet: NodeJS.Timeout | undefined;
  const answer = () => {
    // The CLI marks each prompt with a terminal-status escape (OSC 7501 "state=blocked").
    const marker = pending.lastIndexOf("state=blocked");
    if (marker < 0) return;
    const rest = pending.slice(marker);
    const end = rest.search(/\x07|\x1b\\/);
    const shown = rest.slice(end < 0 ? rest.length : end + (rest[end] === "\x07" ? 1 : 2)).replace(ANSI, "").trim();
    const label = Object.keys(answers!).find((l) => shown.includes(l));
    if (label === undefined) {
      prompts.push(`UNEXPECTED: ${shown}`);
      child.kill();
      return;
    }
    prompts.push(shown);
    pending = "";
    child.stdin!.write(`${answers![label]}\r`);
  };
  const take = (chunk: Buffer) => {
    const text = chunk.toString();
    output += text;
    pending += text;
    if (!answers) return;
    if (pending.includes("\x1b[6n")) {
      // The prompt asks the terminal where its cursor is.
      pending = pending.replaceAll("\x1b[6n", "");
      child.stdin!.write("\x1b[1;1R");
    }
    clearTimeout(quiet);
    quiet = setTimeout(answer, 300);
  };
  child.stdout!.on("data", take);
  child.stderr!.on("data", take);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(quiet);
      const shown = prompts.length ? `\nprompts shown:\n  ${prompts.join("\n  ")}` : "";
      resolve({ code: code ?? -1, output: output.replace(ANSI, "") + shown, prompts });
    });
  });
}

describe("pulumi new with this repository as the template, with the real Pulumi CLI", { timeout: 10 * 60_000 }, () => {
  const dir = scratchDir("matrix-template-");
  const template = path.join(dir, "template");
  let bin: string;
  let host: Awaited<ReturnType<typeof startLanguageHost>>;

  /** A user's fresh machine: its own backend and PULUMI_HOME, an empty project directory. */
  function freshUser(name: string) {
    const home = path.join(dir, name);
    const project = path.join(home, "project");
    fs.mkdirSync(project, { recursive: true });
    const env = offlineCliEnv(bin, home);
    const pulumiNew = (args: string[], answers?: Record<string, string>) => {
      const newEnv: NodeJS.ProcessEnv = { ...env, PULUMI_DEBUG_LANGUAGES: `nodejs:${host.port}` };
      if (answers) {
        // A person at a terminal: no auto-accepted confirmations, interactive even under CI=true.
        delete newEnv.PULUMI_SKIP_CONFIRMATIONS;
        Object.assign(newEnv, { PULUMI_TEST_INTERACTIVE: "true", TERM: "xterm-256color" });
      }
      return runAsync(["pulumi", "new", template, ...args], project, newEnv, answers);
    };
    const pulumi = (...args: string[]) => {
      const r = run("pulumi", [...args, "--cwd", project], { env });
      return { code: r.code, output: r.stdout + r.stderr };
    };
    const stackFile = (stack: string) => YAML.parse(fs.readFileSync(path.join(project, `Pulumi.${stack}.yaml`), "utf8")).config;
    /** Asserts the CLI's config validation passes: the preview stops only at the language host. */
    const assertConfigValid = (stack: string) => {
      const r = pulumi("preview", "--non-interactive", "--stack", stack);
      assert.notEqual(r.code, 0);
      assert.doesNotMatch(r.output, CONFIG_ERROR, r.output);
      assert.match(r.output, NO_LANGUAGE_HOST, r.output);
    };
    return { env, project, pulumiNew, pulumi, stackFile, assertConfigValid };
  }

  before(async () => {
    bin = buildSharedCli(ROOT);
    copyTrackedFiles(ROOT, template);
    host = await startLanguageHost();
  });
  after(async () => host?.stop());

  it("declares prompts for domain, adminEmail and sshPublicKey: what a stack needs", () => {
    const project = YAML.parse(fs.readFileSync(path.join(template, "Pulumi.yaml"), "utf8"));
    const prompted = project.template.config as Record<string, { description?: string; default?: string; secret?: boolean }>;
    assert.deepEqual(Object.keys(prompted).sort(), ["adminEmail", "domain", "sshPublicKey"]);
    for (const [key, entry] of Object.entries(prompted)) {
      assert.ok((entry.description ?? "").length > 20, `${key} has a helpful description`);
      assert.equal(entry.default, undefined, `${key}: no value can be a default`);
    }
    assert.equal(project.config.domain.default, undefined, "domain is required in Pulumi.yaml's config");
    assert.equal(project.config.adminEmail.default, undefined, "adminEmail is required in Pulumi.yaml's config");
    // Either it or sshKeys: the program checks that, the CLI cannot.
    assert.equal(project.config.sshPublicKey.default, "");
  });

  it("with --yes and every value as a flag: a stack that passes validation", async () => {
    const user = freshUser("flags");
    const calls = host.calls.length;
    const r = await user.pulumiNew([
      "--stack", "prod", "--yes",
      "-c", "domain=chat.example.net", "-c", "adminEmail=ops@example.net", "-c", `sshPublicKey=${PUBLIC_KEY}`,
    ]);
    assert.equal(r.code, 0, r.output);
    // Where `npm install` would run, the stand-in answered; nothing was installed.
    assert.ok(host.calls.slice(calls).includes("InstallDependencies"), host.calls.join(" "));
    assert.ok(!fs.existsSync(path.join(user.project, "node_modules")));
    const project = YAML.parse(fs.readFileSync(path.join(user.project, "Pulumi.yaml"), "utf8"));
    assert.equal(project.name, "matrix-do");
    assert.equal(project.main, "index.ts");
    assert.equal(project.template, undefined, "the CLI drops the template block from the new project");
    // The example Pulumi.prod.yaml came along with the template; the flags' values replace its own.
    const config = user.stackFile("prod");
    assert.equal(config["matrix-do:domain"], "chat.example.net");
    assert.equal(config["matrix-do:adminEmail"], "ops@example.net");
    assert.equal(config["matrix-do:sshPublicKey"], PUBLIC_KEY);
    const merged = cliStackConfig(user.project, "prod", user.env);
    assert.equal(merged["matrix-do:sshPublicKey"].value, PUBLIC_KEY);
    assert.equal(merged["matrix-do:region"].value, "nyc3");
    user.assertConfigValid("prod");
  });

  it("on a terminal: asks for domain and adminEmail (with their descriptions), not for sshPublicKey given with -c", async () => {
    const user = freshUser("terminal");
    const r = await user.pulumiNew(["--stack", "prod", "-c", `sshPublicKey=${PUBLIC_KEY}`], {
      "Project name": "",
      "Project description": "",
      "(adminEmail)": "ops@example.net",
      "(domain)": "chat.example.net",
      "(sshPublicKey)": "NOT-ASKED",
    });
    assert.equal(r.code, 0, r.output);
    assert.equal(r.prompts.length, 4, r.prompts.join("\n"));
    // Each prompt shows its setting's description (from the settings table).
    assert.ok(r.prompts[2].includes(`${SETTINGS.adminEmail.description} (adminEmail)`), r.prompts[2]);
    assert.ok(r.prompts[3].includes(`${SETTINGS.domain.description} (domain)`), r.prompts[3]);
    const config = user.stackFile("prod");
    assert.equal(config["matrix-do:domain"], "chat.example.net");
    assert.equal(config["matrix-do:adminEmail"], "ops@example.net");
    assert.equal(config["matrix-do:sshPublicKey"], PUBLIC_KEY);
    user.assertConfigValid("prod");
  });

  it("on a terminal: the public key pasted at its prompt is saved as given", async () => {
    const user = freshUser("typed");
    const r = await user.pulumiNew(["--stack", "dev"], {
      "Project name": "",
      "Project description": "",
      "(adminEmail)": "ops@example.net",
      "(domain)": "chat.example.net",
      "(sshPublicKey)": PUBLIC_KEY,
    });
    assert.equal(r.code, 0, r.output);
    assert.ok(r.prompts.at(-1)!.includes(`${SETTINGS.sshPublicKey.description} (sshPublicKey)`), r.prompts.at(-1));
    assert.equal(user.stackFile("dev")["matrix-do:sshPublicKey"], PUBLIC_KEY);
    user.assertConfigValid("dev");
  });

  it("with --yes and no values: the stack is made without them, and preview names the missing keys", async () => {
    const user = freshUser("empty");
    const r = await user.pulumiNew(["--stack", "dev", "--yes"]);
    assert.equal(r.code, 0, r.output);
    assert.equal(user.stackFile("dev"), undefined, "nothing saved");
    const preview = user.pulumi("preview", "--non-interactive", "--stack", "dev");
    assert.match(preview.output, /Stack 'dev' is missing configuration values 'adminEmail' and 'domain'/, preview.output);
  });

  it("a project renamed at `pulumi new`: the prompted keys follow its name, like Pulumi.yaml's config and the program", async () => {
    const user = freshUser("renamed");
    const r = await user.pulumiNew([
      "--name", "home-matrix", "--stack", "dev", "--yes",
      "-c", "domain=chat.example.net", "-c", "adminEmail=ops@example.net", "-c", `sshPublicKey=${PUBLIC_KEY}`,
    ]);
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(Object.keys(user.stackFile("dev")).sort(), ["home-matrix:adminEmail", "home-matrix:domain", "home-matrix:sshPublicKey"]);
    user.assertConfigValid("dev");
  });
});
