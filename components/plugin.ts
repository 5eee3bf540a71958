/**
 * The plugin other Pulumi languages use (`pulumi package add <this repository>`): package.json's
 * "main", which Pulumi's Node.js plugin runner loads. TypeScript stacks import "exports" instead
 * (components/index.ts, compiled), so this module changes nothing for them.
 *
 * It serves Pulumi's component provider (schema inferred from MatrixServer and its args by Pulumi's
 * analyzer), with one thing the analyzer cannot say: which properties are secret. Marked `secret`
 * in the schema, the SDKs generated from it wrap those inputs in secrets before they reach the
 * component resource's inputs in the state, and mark those outputs secret.
 *
 * The module's value is a function, and it exports no ComponentResource: the runner serves the
 * exported components itself (unmarked schema) when it finds any, and calls an exported function
 * otherwise.
 */
import * as fs from "fs";
import * as path from "path";
import { ComponentProvider } from "@pulumi/pulumi/provider/experimental";
import { main } from "@pulumi/pulumi/provider/server";
import { MatrixServer } from "./matrixServer";
import { ARG_KINDS, SettingKey } from "./settingsTable";
import { PACKAGE_ROOT } from "../cloud-init/assets";

/** The inputs that are secret: the settings of kind "secret" in the settings table. */
const SECRET_INPUTS = (Object.keys(ARG_KINDS) as SettingKey[]).filter((key) => ARG_KINDS[key] === "secret");

/** The outputs that are secret (components/secrets.ts makes them so; test/schema.test.ts checks they are). */
const SECRET_OUTPUTS = ["adminPassword", "backupPassword"] as const satisfies readonly (keyof MatrixServer)[];

interface Schema {
  resources: Record<string, { inputProperties?: Record<string, { secret?: boolean }>; properties?: Record<string, { secret?: boolean }> }>;
}

/** The provider's name, as Pulumi's runner derives it from package.json's (unscoped) name: "matrix-do". */
function providerName(): string {
  const { name } = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as { name: string };
  return name.replace(/[^-a-zA-Z0-9_]/g, "-");
}

function markSecret(properties: Record<string, { secret?: boolean }> | undefined, keys: readonly string[], where: string): void {
  for (const key of keys) {
    // A secret the analyzer no longer reports is a renamed property: fail rather than serve it unmarked.
    if (!properties?.[key]) throw new Error(`matrix-do plugin: secret ${where} '${key}' is not in the schema`);
    properties[key].secret = true;
  }
}

/** Pulumi's component provider for MatrixServer, with the secret properties marked in its schema. */
class MatrixDoProvider extends ComponentProvider {
  private marked?: Promise<string>;

  constructor() {
    super({ name: providerName(), dirname: PACKAGE_ROOT, components: [MatrixServer] });
  }

  override getSchema(): Promise<string> {
    this.marked ??= super.getSchema().then((json) => {
      const schema = JSON.parse(json) as Schema;
      const resource = schema.resources[`${this.options.name}:index:${MatrixServer.name}`];
      if (!resource) throw new Error(`matrix-do plugin: ${MatrixServer.name} is not in the schema`);
      markSecret(resource.inputProperties, SECRET_INPUTS, "input");
      markSecret(resource.properties, SECRET_OUTPUTS, "output");
      return JSON.stringify(schema);
    });
    return this.marked;
  }
}

/** Serve the provider over gRPC, as Pulumi's runner expects of a plugin (arguments: the engine's). */
function servePlugin(): Promise<void> {
  return main(new MatrixDoProvider(), process.argv.slice(2));
}

/** The provider servePlugin serves, unserved (test/schema.test.ts reads its schema). */
function createProvider(): ComponentProvider {
  return new MatrixDoProvider();
}

export = Object.assign(servePlugin, { createProvider });
