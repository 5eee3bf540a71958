/**
 * Pulumi.yaml, the stack program's config reading (components/stackConfig.ts), the component's
 * arguments and README's table describe the same keys; the program the Node.js host runs is
 * index.ts; the defaults the CLI merges into a stack's config give exactly what the component
 * applies when nothing is set.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { resolveArgs } from "../components/settings";
import { REQUIRED_CONFIG, STACK_CONFIG, UNSET, UNSET_KEYS, readStackConfig } from "../components/stackConfig";
import { VALID_ARGS } from "./fixtures";
import { RTC_AUTH_RELEASE } from "../cloud-init/versions";

const ROOT = path.resolve(__dirname, "..");
type ConfigSpec = { type: string; default?: unknown; secret?: boolean; items?: { type: string } };
const project = () => YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { main?: string; config: Record<string, ConfigSpec> };
const SECRET_KEYS = Object.entries(STACK_CONFIG).filter(([, kind]) => kind === "secret").map(([key]) => key);

/**
 * The file the Node.js language host runs for a project directory, as @pulumi/pulumi's
 * cmd/run does it: Pulumi.yaml's `main` when set, else package.json's `exports["."]`, else `main`.
 */
function nodeHostEntry(projectDir: string, projectFile: { main?: string }): string {
  if (projectFile.main) return path.resolve(projectDir, projectFile.main);
  const pkg = JSON.parse(fs.readFileSync(path.join(projectDir, "package.json"), "utf8"));
  const dot = typeof pkg.exports === "string" ? pkg.exports : pkg.exports?.["."];
  const entry = typeof dot === "string" ? dot : dot ? dot.default ?? dot.require ?? dot.import : pkg.main;
  return path.resolve(projectDir, entry ?? "index.js");
}

/** The stack config the CLI hands the program: Pulumi.yaml's defaults, overlaid with the stack's values. */
function mergedConfig(stack: Record<string, unknown>): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const [key, spec] of Object.entries(project().config)) {
    if (spec.default !== undefined) merged[`matrix-do:${key}`] = typeof spec.default === "string" ? spec.default : JSON.stringify(spec.default);
  }
  for (const [key, value] of Object.entries(stack)) merged[`matrix-do:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
  return merged;
}

function readWith(config: Record<string, string>) {
  pulumi.runtime.setAllConfig(config);
  return readStackConfig(new pulumi.Config("matrix-do"));
}

describe("the stack's config", () => {
  it("the Node.js host runs index.ts, not the library's entry", () => {
    assert.equal(nodeHostEntry(ROOT, project()), path.join(ROOT, "index.ts"));
    // Without `main:` it would run the library (package.json's exports), which declares nothing.
    assert.equal(nodeHostEntry(ROOT, { ...project(), main: undefined }), path.join(ROOT, "dist", "components", "index.js"));
    assert.match(fs.readFileSync(path.join(ROOT, "index.ts"), "utf8"), /new MatrixServer\(/);
  });

  it("declares every argument but the secret ones, each with its kind's type", () => {
    const declared = project().config;
    assert.deepEqual(Object.keys(declared).sort(), Object.keys(STACK_CONFIG).filter((k) => !SECRET_KEYS.includes(k)).sort());
    const types: Record<string, string> = { string: "string", integer: "integer", boolean: "boolean", list: "array", presence: "string" };
    for (const [key, spec] of Object.entries(declared)) {
      assert.equal(spec.type, types[STACK_CONFIG[key as keyof typeof STACK_CONFIG]], `type of ${key}`);
      assert.notEqual(spec.secret, true, `${key}: a declared secret is required by the CLI`);
    }
    assert.deepEqual(SECRET_KEYS.sort(), ["smtpPassword", "spacesSecretKey", "sshPrivateKey"]);
  });

  it("requires only domain and adminEmail (the CLI requires every key without a default; the program, sshPublicKey or sshKeys)", () => {
    const required = Object.entries(project().config).filter(([, spec]) => spec.default === undefined).map(([key]) => key);
    assert.deepEqual(required.sort(), [...REQUIRED_CONFIG].sort());
  });

  it("gives optional keys without a default of their own the unset value of their kind", () => {
    for (const key of UNSET_KEYS) {
      const kind = STACK_CONFIG[key] as keyof typeof UNSET;
      assert.deepEqual(project().config[key].default, UNSET[kind], key);
    }
  });

  it("with only the example's keys set (the required ones and sshKeys), the program applies exactly the component's defaults", () => {
    const args = readWith(mergedConfig(VALID_ARGS as unknown as Record<string, unknown>));
    assert.deepEqual(resolveArgs(args as never), resolveArgs(VALID_ARGS));
    // Nothing the CLI merged in from Pulumi.yaml counts as set: neither an "unset" value for the
    // component to take literally, nor a default (smtpPort's 587 would ask for smtpHost).
    assert.deepEqual(Object.keys(args).sort(), Object.keys(VALID_ARGS).sort());
    assert.deepEqual([...REQUIRED_CONFIG].sort(), ["adminEmail", "domain"]);
  });

  it("a stack that turns a part off keeps Pulumi.yaml's defaults of the settings that part alone uses", () => {
    const args = readWith(mergedConfig({ ...VALID_ARGS, waitForReady: false }));
    assert.deepEqual(resolveArgs(args as never).cloud, resolveArgs({ ...VALID_ARGS, waitForReady: false }).cloud);
    assert.throws(() => resolveArgs(readWith(mergedConfig({ ...VALID_ARGS, waitForReady: false, readyTimeoutMinutes: 30 })) as never),
      /'readyTimeoutMinutes': expected only while waitForReady is on/);
  });

  it("calls are on with nothing set; the authorization service's SHA-256 is then the first deploy's to take", () => {
    const { settings, cloud } = resolveArgs(readWith(mergedConfig({ ...VALID_ARGS })) as never);
    assert.equal(settings.matrixRtc?.authService.url, RTC_AUTH_RELEASE.url);
    assert.equal(cloud.rtcAuthPin?.url, RTC_AUTH_RELEASE.url);
    const off = resolveArgs(readWith(mergedConfig({ ...VALID_ARGS, matrixRtc: "false" })) as never);
    assert.equal(off.settings.matrixRtc, undefined);
  });

  it("reads every kind of value as the CLI stores it, secrets as secrets", async () => {
    const args = readWith({
      ...mergedConfig(VALID_ARGS as unknown as Record<string, unknown>),
      "matrix-do:volumeSizeGb": "40", "matrix-do:protectVolume": "false", "matrix-do:presence": "true",
      "matrix-do:tags": '["prod"]', "matrix-do:smtpHost": "smtp.example.net", "matrix-do:localMediaRetentionDays": "90",
      "matrix-do:smtpPassword": "hunter2",
    });
    assert.equal(args.volumeSizeGb, 40);
    assert.equal(args.protectVolume, false);
    assert.equal(args.presence, true);
    assert.deepEqual(args.tags, ["prod"]);
    assert.equal(args.smtpHost, "smtp.example.net");
    assert.equal(args.localMediaRetentionDays, 90);
    assert.equal(await pulumi.isSecret(pulumi.output(args.smtpPassword!)), true);
    assert.equal("spacesSecretKey" in args, false);
  });

  it("passes a mistyped value on for the settings to reject by name", () => {
    const args = readWith({ ...mergedConfig(VALID_ARGS as unknown as Record<string, unknown>), "matrix-do:volumeSizeGb": "big", "matrix-do:size": "" });
    assert.throws(() => resolveArgs(args as never), (e: Error & { problems?: string[] }) =>
      e.problems!.some((p) => p.startsWith("'volumeSizeGb'")) && e.problems!.some((p) => p.startsWith("'size'")));
  });

  it("README's configuration tables and docs/configuration.md list every key, once", () => {
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const tables = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## What the droplet runs")) +
      fs.readFileSync(path.join(ROOT, "docs", "configuration.md"), "utf8");
    const documented = [...tables.matchAll(/^\| `([A-Za-z0-9]+)` \|/gm)].map((m) => m[1]).sort();
    assert.deepEqual(documented, Object.keys(STACK_CONFIG).sort());
  });

  it("index.ts reads the config through readStackConfig, not key by key", () => {
    const program = fs.readFileSync(path.join(ROOT, "index.ts"), "utf8");
    assert.match(program, /readStackConfig\(new pulumi\.Config\(\)\)/);
    assert.doesNotMatch(program, /config\.(get|require)/);
  });
});
