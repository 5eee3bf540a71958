/**
 * The settings table (components/settingsTable.ts) is the one source: components/args.ts,
 * Pulumi.yaml's config block and README's configuration table are what `npm run settings`
 * writes from it, and each module it names as a user exists.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as YAML from "yaml";
import { FILES, renderArgs, renderConfigurationDoc, withProjectConfig, withReadmeTable } from "../scripts/settings";
import { SETTINGS, SETTING_GROUPS, SettingSpec } from "../components/settingsTable";

const FIX = "run `npm run settings` (and change components/settingsTable.ts, not the file)";

describe("the settings table is the one source", () => {
  it("components/args.ts is written from it", () => {
    assert.equal(fs.readFileSync(FILES.args, "utf8"), renderArgs(), `components/args.ts differs from the table: ${FIX}`);
  });

  it("Pulumi.yaml's config block is written from it", () => {
    const text = fs.readFileSync(FILES.project, "utf8");
    assert.equal(text, withProjectConfig(text), `Pulumi.yaml's config block differs from the table: ${FIX}`);
  });

  it("README's configuration tables and docs/configuration.md are written from it", () => {
    const text = fs.readFileSync(FILES.readme, "utf8");
    assert.equal(text, withReadmeTable(text), `README's configuration tables differ from the table: ${FIX}`);
    assert.equal(fs.readFileSync(FILES.configurationDoc, "utf8"), renderConfigurationDoc(), `docs/configuration.md differs from the table: ${FIX}`);
  });

  it("groups every setting exactly once", () => {
    const grouped = SETTING_GROUPS.flatMap((g) => g.keys as readonly string[]);
    assert.deepEqual([...grouped].sort(), Object.keys(SETTINGS).sort());
    assert.equal(new Set(grouped).size, grouped.length);
  });

  it("Pulumi.prod.yaml, the example stack, says the defaults for what it sets beyond the required keys", () => {
    const example = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.prod.yaml"), "utf8")).config as Record<string, unknown>;
    const specs = SETTINGS as Record<string, SettingSpec>;
    for (const [name, value] of Object.entries(example)) {
      const key = name.replace(/^matrix-do:/, "");
      assert.ok(key in specs, `${name} is not a setting`);
      if (specs[key].required) continue;
      assert.equal(JSON.stringify(value), JSON.stringify(String(specs[key].default)), `${name}: the example says ${JSON.stringify(value)}, the default is ${specs[key].default}`);
    }
  });

  it("names, for each setting, modules that exist", () => {
    for (const [key, spec] of Object.entries(SETTINGS as Record<string, SettingSpec>)) {
      assert.ok(spec.usedBy.length > 0, `${key}: usedBy is empty`);
      for (const file of spec.usedBy) assert.ok(fs.existsSync(path.join(__dirname, "..", file)), `${key}: ${file} does not exist`);
      assert.ok(!(spec.required && spec.default !== undefined), `${key}: required with a default`);
    }
  });
});
