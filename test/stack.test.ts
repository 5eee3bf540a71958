/**
 * The stack program (index.ts) under mocks, configured like the example stack
 * Pulumi.prod.yaml: it reads every key, deploys one MatrixServer and exports its outputs.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { waitUntil } from "./local-services";
import { RESERVED_IP, created, installMocks, isSecret, valueOf } from "./mocks";

const ROOT = path.resolve(__dirname, "..");

/**
 * The example stack with the required keys a user sets (it leaves them out, so that a stack
 * nobody configured is refused). Pulumi passes config to the program as strings (JSON for lists).
 */
function exampleStackConfig(): Record<string, string> {
  const stack = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8"));
  const required = { "matrix-do:domain": "example.org", "matrix-do:adminEmail": "admin@example.org", "matrix-do:sshKeys": ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"] };
  for (const key of Object.keys(required)) assert.equal(key in stack.config, false, `Pulumi.prod.yaml gives ${key} a value a deploy would use`);
  return Object.fromEntries(
    Object.entries({ ...stack.config, ...required } as Record<string, unknown>).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  );
}

describe("stack program with the example stack's config", () => {
  it("deploys one MatrixServer and exports its outputs", async () => {
    const config = exampleStackConfig();
    assert.ok(Object.keys(config).every((k) => k.startsWith("matrix-do:")), "keys use the project namespace");
    pulumi.runtime.setAllConfig(config);
    await installMocks();
    const stack = await import("../index");

    assert.equal(await valueOf(stack.serverName), "example.org");
    assert.equal(await valueOf(stack.homeserverUrl), "https://matrix.example.org");
    assert.equal(await valueOf(stack.elementUrl), "https://element.example.org");
    assert.equal(await valueOf(stack.adminUserId), "@admin:example.org");
    assert.equal(await valueOf(stack.reservedIp), RESERVED_IP);
    assert.equal(await isSecret(stack.adminPassword), true, "the admin password is exported as a secret");
    // Resources register asynchronously, once their inputs resolve.
    await waitUntil("the droplet to be registered", 10, () => created.some((c) => c.type === "digitalocean:index/droplet:Droplet"));
    assert.equal(created.filter((c) => c.type === "digitalocean:index/droplet:Droplet").length, 1);
    const volume = created.find((c) => c.type === "digitalocean:index/volume:Volume");
    assert.equal(volume?.name, "matrix-data");
  });
});
