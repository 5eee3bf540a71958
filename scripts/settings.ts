/**
 * `npm run settings`: writes what the settings table (components/settingsTable.ts) gives to the
 * files that describe the settings: components/args.ts, Pulumi.yaml's `config:` and `template:`
 * blocks, README's table of the basic settings and docs/configuration.md (the others, by topic).
 * test/settingsTable.test.ts checks that they are up to date.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { ArgKind, SETTINGS, SETTING_GROUPS, SettingSpec } from "../components/settingsTable";
import { UNSET } from "../components/stackConfig";

const ROOT = path.resolve(__dirname, "..");
export const FILES = {
  args: path.join(ROOT, "components", "args.ts"),
  project: path.join(ROOT, "Pulumi.yaml"),
  readme: path.join(ROOT, "README.md"),
  configurationDoc: path.join(ROOT, "docs", "configuration.md"),
};

const specs = () => Object.entries(SETTINGS as Record<string, SettingSpec>);

/** The TypeScript type of an argument of this kind. */
const TS_TYPES: Record<ArgKind, string> = {
  string: "pulumi.Input<string>",
  secret: "pulumi.Input<string>",
  integer: "pulumi.Input<number>",
  list: "pulumi.Input<pulumi.Input<string>[]>",
  // Decides which resources exist: a plain value, known before anything resolves.
  boolean: "boolean",
  presence: "pulumi.Input<boolean>",
};

/** A default as README and the doc comments show it. */
function shownDefault(spec: SettingSpec): string | undefined {
  if (spec.readmeDefault) return spec.readmeDefault;
  if (spec.default === undefined) return undefined;
  return `\`${Array.isArray(spec.default) ? spec.default.join(", ") : String(spec.default)}\``;
}

/** components/args.ts: the component's arguments, each documented. */
export function renderArgs(): string {
  const fields = specs().map(([key, spec]) => {
    const shown = shownDefault(spec);
    const doc = [spec.description, spec.required ? "Required." : shown ? `Default: ${shown}.` : "", spec.kind === "secret" ? "Secret." : ""]
      .filter(Boolean).join(" ");
    return `  /** ${doc} */\n  ${key}${spec.required ? "" : "?"}: ${TS_TYPES[spec.kind]};`;
  });
  return [
    "// Written by `npm run settings` from components/settingsTable.ts: change the table, not this file.",
    'import * as pulumi from "@pulumi/pulumi";',
    "",
    "/**",
    " * Inputs of the MatrixServer component; every default is applied in components/settings.ts.",
    " *",
    " * Kept to what Pulumi's component schema can describe (Input types, no unions or functions),",
    " * so the component can be used from any Pulumi language.",
    " */",
    "export interface MatrixServerArgs {",
    fields.join("\n"),
    "}",
    "",
  ].join("\n");
}

const CONFIG_TYPES: Record<Exclude<ArgKind, "secret">, string> = {
  string: "string", integer: "integer", boolean: "boolean", list: "array", presence: "string",
};

/**
 * Pulumi.yaml's `config:` block. Secrets are not declared (the CLI requires a declared secret);
 * an optional key without a default of its own declares the "unset" value of its kind, which
 * the stack's config reading turns back into "not set" (components/stackConfig.ts).
 */
export function renderProjectConfig(): string {
  const config: Record<string, Record<string, unknown>> = {};
  for (const [key, spec] of specs()) {
    if (spec.kind === "secret") continue;
    const declared: Record<string, unknown> = { type: CONFIG_TYPES[spec.kind] };
    if (!spec.required) declared.default = spec.default ?? UNSET[spec.kind as keyof typeof UNSET];
    if (spec.kind === "list") declared.items = { type: "string" };
    declared.description = spec.description;
    config[key] = declared;
  }
  // Quoted where a YAML 1.1 reader would take a string for something else ("off", "03:30").
  return YAML.stringify({ config }, { lineWidth: 0, aliasDuplicateObjects: false, version: "1.1" });
}

/** A table of settings: key, default, meaning. `link` turns README's own anchors into links from docs/. */
function renderTable(keys: readonly string[], link = (text: string) => text): string {
  const all = SETTINGS as Record<string, SettingSpec>;
  const rows = keys.map((key) => {
    const spec = all[key];
    const shown = spec.required ? "(required)" : shownDefault(spec) ?? "none";
    const meaning = `${spec.kind === "secret" ? "(secret) " : ""}${link(spec.readme ?? spec.description)}`;
    return `| \`${key}\` | ${shown} | ${meaning} |`;
  });
  return ["| Key | Default | Meaning |", "| --- | --- | --- |", ...rows].join("\n");
}

const README_TABLES_BEGIN = "<!-- The tables below are written by `npm run settings` from components/settingsTable.ts. -->";
const README_TABLES_END = "<!-- End of the settings tables. -->";

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens ("Domain, DNS and certificates" → domain-dns-and-certificates). */
export function headingAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

/** README's configuration: the first group's table; the other groups are in docs/configuration.md, linked by topic. */
export function renderReadmeTable(): string {
  const [basics, ...rest] = SETTING_GROUPS;
  const links = rest.map((g) => `[${g.title}](docs/configuration.md#${headingAnchor(g.title)})`).join(" · ");
  return [
    README_TABLES_BEGIN, "", `#### ${basics.title}`, "", renderTable(basics.keys), "",
    `The other settings, by topic, in docs/configuration.md: ${links}.`,
    "", README_TABLES_END,
  ].join("\n");
}

/** docs/configuration.md: every group but README's first, one section each. */
export function renderConfigurationDoc(): string {
  // README-relative links, from docs/: README's anchors, and the docs beside this one.
  const link = (text: string) => text.replace(/\]\(#/g, "](../README.md#").replace(/\]\(docs\//g, "](");
  return [
    "# Settings",
    "",
    "<!-- Written by `npm run settings` from components/settingsTable.ts: change that, not this file. -->",
    "",
    "The settings beyond README's [Basics](../README.md#configuration), set the same way:",
    "`pulumi config set <key> <value>` (lists with `--path 'key[0]'`, secrets with `--secret`). Every",
    "value is checked before anything is created; a bad one stops `pulumi up` with one error that names",
    "the key, what it expects and, where that is plain, how to write it. A key that means something only",
    "with another is refused without it: the `smtp…` keys and `emailFrom` without `smtpHost` (and",
    "`smtpPassword` without `smtpUser`), the `spaces…` keys without `spacesBucket` (and `spacesRegion`",
    "with `spacesEndpoint`), `alertEmails` with `alerts` off, `readyTimeoutMinutes` when nothing waits.",
    "",
    ...SETTING_GROUPS.slice(1).flatMap((g) => [`## ${g.title}`, "", renderTable(g.keys, link), ""]),
  ].join("\n");
}

/** What `pulumi new` asks for (the required settings and those marked `prompt`), and says when it is done. */
export function renderTemplate(): string {
  const config: Record<string, { description: string }> = {};
  for (const [key, spec] of specs().filter(([, spec]) => spec.required || spec.prompt)) {
    // The CLI saves an answer as text: a list must come as --config-path -c 'key[0]=…' instead.
    const list = spec.kind === "list" ? ` A list: give it to pulumi new as --config-path -c '${key}[0]=…' (an answer typed here is saved as text, which the CLI refuses; then: pulumi config set --path '${key}[0]' …).` : "";
    config[key] = { description: `${spec.description}${list}` };
  }
  const template = {
    displayName: "Matrix homeserver on DigitalOcean",
    description: "A self-hosted Matrix homeserver (Synapse, Element Web, Caddy, PostgreSQL) on one DigitalOcean droplet",
    config,
    quickstart: "Next: export DIGITALOCEAN_TOKEN=dop_v1_…, `pulumi config set --secret sshPrivateKey < ~/.ssh/matrix-deploy`, then `pulumi up`. README.md and docs/configuration.md list every setting.",
  };
  return YAML.stringify({ template }, { lineWidth: 0, version: "1.1" });
}

/** `text` with the top-level block `key:` (from that line to the next top-level line) replaced by `block`. */
function replaceBlock(text: string, key: string, block: string): string {
  const start = text.search(new RegExp(`^${key}:$`, "m"));
  if (start < 0) throw new Error(`Pulumi.yaml has no top-level ${key}: block`);
  const rest = text.slice(start + key.length + 1);
  const next = rest.search(/^\S/m);
  const end = next < 0 ? text.length : start + key.length + 1 + next;
  return text.slice(0, start) + block + text.slice(end);
}

/** Pulumi.yaml with its `template:` and `config:` blocks written from the table. */
export function withProjectConfig(text: string): string {
  return replaceBlock(replaceBlock(text, "template", renderTemplate()), "config", renderProjectConfig());
}

/** README with its configuration tables (between the two markers under "## Configuration") replaced. */
export function withReadmeTable(text: string): string {
  const section = text.indexOf("\n## Configuration\n");
  const start = text.indexOf(README_TABLES_BEGIN, section);
  const end = text.indexOf(README_TABLES_END, start);
  if (section < 0 || start < 0 || end < 0) throw new Error(`README has no settings tables under ## Configuration (between "${README_TABLES_BEGIN}" and "${README_TABLES_END}")`);
  return text.slice(0, start) + renderReadmeTable() + text.slice(end + README_TABLES_END.length);
}

if (require.main === module) {
  fs.writeFileSync(FILES.args, renderArgs());
  fs.writeFileSync(FILES.project, withProjectConfig(fs.readFileSync(FILES.project, "utf8")));
  fs.writeFileSync(FILES.readme, withReadmeTable(fs.readFileSync(FILES.readme, "utf8")));
  fs.writeFileSync(FILES.configurationDoc, renderConfigurationDoc());
  console.log("settings: wrote components/args.ts, Pulumi.yaml's config and template blocks, README's configuration tables and docs/configuration.md");
}
