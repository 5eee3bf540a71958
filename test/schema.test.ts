/**
 * The component's schema for other languages, as `pulumi package add` gets it: the package loaded
 * as Pulumi's Node.js plugin runner loads it (cmd/run-plugin: package.json's "main"), and the schema
 * of the provider it serves. Other languages can use MatrixServer only while this holds, and their
 * SDKs keep its secrets secret only while the schema marks them.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as YAML from "yaml";
import { STACK_CONFIG } from "../components/stackConfig";
import { getPulumiComponents } from "@pulumi/pulumi/provider/experimental/provider";
import type { ComponentProvider } from "@pulumi/pulumi/provider/experimental";
import type { MatrixServer as MatrixServerClass } from "../components";
import { VALID_ARGS } from "./fixtures";
import { installMocks, isSecret } from "./mocks";

const ROOT = path.resolve(__dirname, "..");
const TOKEN = "matrix-do:index:MatrixServer";

type Property = { description?: string; type?: string; items?: { type: string }; plain?: boolean; secret?: boolean };

/**
 * What the plugin runner does with the package directory: `require` it (package.json's "main"),
 * then serve the ComponentResource classes it exports, if any, with Pulumi's own provider (whose
 * schema marks nothing secret), else call the exported function, which serves ours.
 */
function loadPlugin(dir: string): { hostsExportedComponents: string[]; serve?: () => unknown; createProvider?: () => ComponentProvider } {
  const exported = require(dir);
  const components = getPulumiComponents(exported);
  if (components.length > 0) return { hostsExportedComponents: components.map((c) => c.name) };
  return { hostsExportedComponents: [], serve: exported instanceof Function ? exported : undefined, createProvider: exported?.createProvider };
}

const SECRET_INPUTS = Object.entries(STACK_CONFIG).filter(([, kind]) => kind === "secret").map(([key]) => key).sort();
const secretKeys = (properties: Record<string, Property>) => Object.keys(properties).filter((key) => properties[key].secret).sort();

describe("MatrixServer schema for other languages", () => {
  let plugin: ReturnType<typeof loadPlugin>;
  let resource: {
    isComponent: boolean;
    inputProperties: Record<string, Property>;
    requiredInputs: string[];
    properties: Record<string, Property>;
    required: string[];
  };
  let MatrixServer: typeof MatrixServerClass;

  before(async () => {
    await installMocks();
    ({ MatrixServer } = await import("../components"));
    plugin = loadPlugin(ROOT);
    const instead = plugin.hostsExportedComponents.join(", ") || "nothing";
    assert.ok(plugin.createProvider, `the plugin exports the provider it serves (the runner would serve ${instead} instead)`);
    const schema = JSON.parse(await plugin.createProvider().getSchema());
    resource = schema.resources[TOKEN];
  });

  it("is a plugin that serves its own provider: a function, and no component for the runner to serve instead", () => {
    assert.deepEqual(plugin.hostsExportedComponents, []);
    assert.equal(typeof plugin.serve, "function", "the runner calls the module's value when it is a function");
  });

  it("describes MatrixServer as a component with two required inputs", () => {
    assert.ok(resource, `${TOKEN} is in the schema`);
    assert.equal(resource.isComponent, true);
    assert.deepEqual([...resource.requiredInputs].sort(), ["adminEmail", "domain"]);
  });

  it("documents every input, and they are exactly the stack's config keys", () => {
    assert.deepEqual(Object.keys(resource.inputProperties).sort(), Object.keys(STACK_CONFIG).sort());
    for (const [key, input] of Object.entries(resource.inputProperties)) {
      assert.ok(input.description && input.description.length > 10, `input ${key} has a description`);
    }
    assert.equal(resource.inputProperties.sshKeys.type, "array");
    assert.equal(resource.inputProperties.sshKeys.items?.type, "string");
    assert.equal(resource.inputProperties.volumeSizeGb.type, "number");
    assert.equal(resource.inputProperties.protectVolume.plain, true, "decides resource options, so must be known up front");
  });

  it("outputs exactly the public endpoints and identifiers", () => {
    assert.deepEqual(Object.keys(resource.properties).sort(), [
      "adminPassword", "adminUserId", "backupPassword", "dropletId", "elementUrl", "homeserverUrl", "reservedIp", "serverName", "sshCommand",
      "sshHostKey", "volumeId",
    ]);
    for (const [key, output] of Object.entries(resource.properties)) assert.equal(output.type, "string", key);
  });

  it("marks secret exactly the settings of kind secret, so other languages' SDKs pass them as secrets", () => {
    assert.deepEqual(SECRET_INPUTS, ["smtpPassword", "spacesSecretKey", "sshPrivateKey"]);
    assert.deepEqual(secretKeys(resource.inputProperties), SECRET_INPUTS);
  });

  it("marks secret exactly the outputs the component makes secret", async () => {
    const server = new MatrixServer("schema", { ...VALID_ARGS, waitForReady: false });
    for (const key of Object.keys(resource.properties)) {
      const value = (server as unknown as Record<string, unknown>)[key];
      assert.equal(resource.properties[key].secret === true, await isSecret(value), `output ${key}: secret in the schema as in the component`);
    }
    assert.deepEqual(secretKeys(resource.properties), ["adminPassword", "backupPassword"]);
  });

  it("docs/library.md lists exactly the schema's outputs, the secret ones as secret", () => {
    const doc = fs.readFileSync(path.join(ROOT, "docs", "library.md"), "utf8");
    const section = doc.split(/^## /m).find((s) => s.startsWith("Arguments and outputs"));
    assert.ok(section, "docs/library.md has a section on the arguments and outputs");
    // The sentence "Outputs: `a`, `b` (secret), …." (no ". " inside it).
    const list = section.match(/Outputs: ([\s\S]*?)\.(\s|$)/)?.[1];
    assert.ok(list, "that section lists the outputs");
    const named = [...list.matchAll(/`(\w+)`( \(secret\b)?/g)];
    assert.deepEqual(named.map(([, key]) => key).sort(), Object.keys(resource.properties).sort());
    assert.deepEqual(named.filter(([, , secret]) => secret).map(([, key]) => key).sort(), secretKeys(resource.properties));
  });

  it("types each stack config key in Pulumi.yaml like the component input", () => {
    const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    const expected: Record<string, string> = { string: "string", number: "integer", boolean: "boolean", array: "array" };
    for (const [key, input] of Object.entries(resource.inputProperties)) {
      if (STACK_CONFIG[key as keyof typeof STACK_CONFIG] === "secret") continue; // not declared: see stackConfig.ts
      // presence: `auto` besides true and false
      assert.equal(project.config[key].type, key === "presence" ? "string" : expected[input.type ?? ""], `Pulumi.yaml type of ${key}`);
    }
  });
});
