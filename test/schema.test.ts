/**
 * The component's schema, as `pulumi package add` would see it (Pulumi's component analyzer,
 * run in-process): other languages can use MatrixServer only while this holds.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as YAML from "yaml";
import { STACK_CONFIG } from "../components/stackConfig";
import { ComponentProvider } from "@pulumi/pulumi/provider/experimental";

const ROOT = path.resolve(__dirname, "..");
const TOKEN = "matrix-do:index:MatrixServer";

describe("MatrixServer schema for other languages", () => {
  let resource: {
    isComponent: boolean;
    inputProperties: Record<string, { description?: string; type?: string; items?: { type: string }; plain?: boolean }>;
    requiredInputs: string[];
    properties: Record<string, { type: string }>;
    required: string[];
  };

  before(async () => {
    const provider = new ComponentProvider({ name: "matrix-do", dirname: ROOT, components: [{ name: "MatrixServer" }] } as never);
    const schema = JSON.parse(await provider.getSchema());
    resource = schema.resources[TOKEN];
  });

  it("describes MatrixServer as a component with three required inputs", () => {
    assert.ok(resource, `${TOKEN} is in the schema`);
    assert.equal(resource.isComponent, true);
    assert.deepEqual([...resource.requiredInputs].sort(), ["adminEmail", "domain", "sshKeys"]);
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
