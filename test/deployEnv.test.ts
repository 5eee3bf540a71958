/**
 * The contract between the TypeScript that renders the payload and the droplet's scripts
 * (cloud-init/scripts): facts cross that line once, through /etc/matrix/deploy.env
 * (deployEnv) and, for matrixctl, its settings file (matrixctlConfig).
 *
 *  - every variable a script reads is one deployEnv defines (or the script sets itself);
 *  - no script names, as a literal, a unit, path, port or the database that TypeScript has a
 *    constant for: it reads the variable instead;
 *  - deployEnv holds nothing that no script reads.
 *
 * Pure: reads the scripts as text; no root, no network.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { PACKAGE_ROOT } from "../cloud-init/assets";
import * as backups from "../cloud-init/backups";
import * as caddy from "../cloud-init/caddy";
import * as matrixctl from "../cloud-init/matrixctl";
import * as optional from "../cloud-init/optional";
import * as paths from "../cloud-init/paths";
import * as ports from "../cloud-init/ports";
import * as postgres from "../cloud-init/postgres";
import * as swap from "../cloud-init/swap";
import * as synapse from "../cloud-init/synapse";
import * as turn from "../cloud-init/turn";
import * as userData from "../cloud-init/userData";
import { Settings } from "../cloud-init/settings";
import { settingsFor, testSecrets } from "./fixtures";

const { PATHS } = paths;
const { SCRIPTS_SOURCE_DIR, deployEnv } = userData;

// --- the configurations ---------------------------------------------------------------------

/** deployEnv's values depend on the settings; its variables must not. Everything optional on last. */
const CONFIGURATIONS: Record<string, Settings> = {
  default: settingsFor(),
  "small droplet (swap)": settingsFor({ size: "s-1vcpu-1gb" }),
  "TURN, calls and off-site backups": settingsFor({
    turn: true, matrixRtc: true, rtcAuthServiceSha256: "a".repeat(64), spacesBucket: "chat-backups", spacesAccessKeyId: "DO00EXAMPLEKEY", spacesSecretKey: "[secret]",
  }),
};
const ALL_ON = CONFIGURATIONS["TURN, calls and off-site backups"];
const ENV = deployEnv(ALL_ON);

/** backup.env, which backup-lib.sh sources: the secrets deploy.env must not hold (with off-site keys: all of them). */
const BACKUP_SECRETS_ENV: Record<string, string> = (() => {
  const file = backups.backupFiles(ALL_ON, { ...testSecrets(), offsiteSecretKey: "a-spaces-secret-key" }).find((f) => f.path === PATHS.backupEnv);
  assert.ok(file, "backupFiles renders backup.env");
  return Object.fromEntries(file.content.split("\n").filter((l) => /^[A-Z_]/.test(l)).map((l) => {
    const [, name, value] = /^([A-Z_][A-Z0-9_]*)='(.*)'$/.exec(l)!;
    return [name, value];
  }));
})();

// --- the scripts, as text -------------------------------------------------------------------

type Kind = "shell" | "python" | "other";
interface Script {
  name: string;
  kind: Kind;
  text: string;
  /** Without comments: what runs (shell: the here-documents too). */
  code: string;
  /** Shell only: without comments, single-quoted strings and quoted here-documents, i.e. what the shell expands. */
  expanded: string;
}

function kindOf(name: string, text: string): Kind {
  if (name.endsWith(".sh") || /^#!.*\bbash\b/.test(text)) return "shell";
  if (name.endsWith(".py") || /^#!.*\bpython3?\b/.test(text)) return "python";
  return "other";
}

/** Blank out a stretch, keeping newlines (so line numbers and positions stay). */
const blank = (s: string) => s.replace(/[^\n]/g, " ");

/**
 * A small shell lexer: enough for our scripts (comments, '…', "…" with $(…) inside them,
 * here-documents). Returns the code without comments, and the part the shell expands.
 */
function lexShell(text: string): { code: string; expanded: string } {
  let code = "";
  let expanded = "";
  const emit = (s: string, expands = true) => {
    code += s;
    expanded += expands ? s : blank(s);
  };
  // "sh": commands (depth counts open parentheses); "dq": inside double quotes.
  const stack: { mode: "sh" | "dq"; depth: number }[] = [{ mode: "sh", depth: 0 }];
  const heredocs: { tag: string; quoted: boolean; dash: boolean }[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (c === "\\") {
      emit(text.slice(i, i + 2));
      i += 2;
      continue;
    }
    if (c === "$" && text[i + 1] === "(") {
      stack.push({ mode: "sh", depth: 0 });
      emit("$(");
      i += 2;
      continue;
    }
    if (top.mode === "dq") {
      if (c === '"') stack.pop();
      emit(c);
      i += 1;
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      assert.ok(end > 0, "unterminated single quote");
      emit(text.slice(i, end + 1), false);
      i = end + 1;
      continue;
    }
    if (c === '"') {
      stack.push({ mode: "dq", depth: 0 });
      emit(c);
      i += 1;
      continue;
    }
    if (c === "#" && (i === 0 || /[\s;&|(]/.test(text[i - 1]))) {
      const end = text.indexOf("\n", i);
      const stop = end < 0 ? text.length : end;
      code += blank(text.slice(i, stop));
      expanded += blank(text.slice(i, stop));
      i = stop;
      continue;
    }
    if (c === "(") top.depth += 1;
    if (c === ")") {
      if (top.depth > 0) top.depth -= 1;
      else if (stack.length > 1) stack.pop();
    }
    if (c === "<" && text.startsWith("<<", i) && text[i + 2] !== "<") {
      const m = /^<<(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2/.exec(text.slice(i));
      if (m) {
        heredocs.push({ dash: m[1] === "-", quoted: m[2] !== "", tag: m[3] });
        emit(m[0]);
        i += m[0].length;
        continue;
      }
    }
    if (c === "\n" && heredocs.length > 0) {
      emit(c);
      i += 1;
      for (const doc of heredocs.splice(0)) {
        // The body, up to the line that is the tag alone.
        for (;;) {
          const end = text.indexOf("\n", i);
          const stop = end < 0 ? text.length : end + 1;
          const line = text.slice(i, stop);
          const done = (doc.dash ? line.replace(/^\t+/, "") : line).replace(/\n$/, "") === doc.tag;
          emit(line, done || !doc.quoted);
          i = stop;
          if (done || stop >= text.length) break;
        }
      }
      continue;
    }
    emit(c);
    i += 1;
  }
  return { code, expanded };
}

/** Python (and nft): without # comments. Strings are followed within a line; docstrings stay. */
function stripHashComments(text: string): string {
  return text.split("\n").map((line) => {
    let quote = "";
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quote) {
        if (c === "\\") i += 1;
        else if (c === quote) quote = "";
      } else if (c === '"' || c === "'") quote = c;
      else if (c === "#") return line.slice(0, i) + blank(line.slice(i));
    }
    return line;
  }).join("\n");
}

const SCRIPTS: Script[] = fs.readdirSync(SCRIPTS_SOURCE_DIR).sort().map((name) => {
  const text = fs.readFileSync(path.join(SCRIPTS_SOURCE_DIR, name), "utf8");
  const kind = kindOf(name, text);
  if (kind === "shell") return { name, kind, text, ...lexShell(text) };
  const code = stripHashComments(text);
  return { name, kind, text, code, expanded: "" };
});
const SHELL = SCRIPTS.filter((s) => s.kind === "shell");
const PYTHON = SCRIPTS.filter((s) => s.kind === "python");

// --- what a shell script reads and sets ------------------------------------------------------

/** Set by bash itself or the environment every process has. */
const STANDARD_VARIABLES = new Set([
  "PATH", "HOME", "PWD", "IFS", "SECONDS", "RANDOM", "LINENO", "BASH_SOURCE", "BASHPID", "FUNCNAME", "UID", "EUID", "HOSTNAME", "TMPDIR",
]);
const NAME = "[A-Z_][A-Z0-9_]*";

/** Variables a script reads: $NAME, ${NAME…}, bare names in $((…)), and `export NAME` of a variable set elsewhere. */
function reads(script: Script): Set<string> {
  const found = new Set<string>();
  const text = script.expanded;
  for (const m of text.matchAll(new RegExp(`\\$\\{?#?(${NAME})\\b`, "g"))) found.add(m[1]);
  for (const m of text.matchAll(/\$\(\(([^)]*)\)\)/g)) {
    for (const n of m[1].matchAll(new RegExp(`(?<![\\w$])(${NAME})\\b`, "g"))) found.add(n[1]);
  }
  for (const m of text.matchAll(/(?:^|[\s;&|])(?:export|readonly)((?:\s+[A-Za-z_][\w]*(?:=\S*)?)+)/gm)) {
    for (const word of m[1].trim().split(/\s+/)) if (!word.includes("=") && new RegExp(`^${NAME}$`).test(word)) found.add(word);
  }
  return found;
}

/** Variables a script sets itself: NAME=…, export/readonly/local/declare NAME=…, for NAME in, read NAME. */
function assigns(script: Script): Set<string> {
  const found = new Set<string>();
  const text = script.expanded;
  for (const m of text.matchAll(new RegExp(`(?:^|[\\s;&|(])(?:(?:export|readonly|local|declare(?:\\s+-\\w+)?)\\s+)?(${NAME})\\+?=`, "gm"))) found.add(m[1]);
  for (const m of text.matchAll(new RegExp(`(?:^|[\\s;&|(])(?:export|readonly|local|declare)((?:\\s+(?:-\\w+|${NAME}=\\S*))+)`, "gm"))) {
    for (const word of m[1].trim().split(/\s+/)) if (word.includes("=")) found.add(word.split("=")[0]);
  }
  for (const m of text.matchAll(new RegExp(`\\b(?:for|read(?:\\s+-\\w+)*)\\s+(${NAME})\\b`, "g"))) found.add(m[1]);
  return found;
}

/** The libraries a script sources from its own directory (lib.sh, backup-lib.sh), and theirs. */
function sourced(script: Script): Script[] {
  const names = [...script.expanded.matchAll(/(?:^|\s)(?:\.|source)\s+"\$\(dirname "\$0"\)\/([\w.-]+)"/gm)].map((m) => m[1]);
  return names.map((n) => {
    const lib = SHELL.find((s) => s.name === n);
    assert.ok(lib, `${script.name} sources ${n}, which is not in ${SCRIPTS_SOURCE_DIR}`);
    return lib;
  }).flatMap((lib) => [lib, ...sourced(lib)]);
}

/** What a script may read: deploy.env, what it and its libraries set, backup.env behind backup-lib.sh. */
function available(script: Script): Set<string> {
  const libs = sourced(script);
  const names = new Set([...Object.keys(ENV), ...STANDARD_VARIABLES, ...assigns(script), ...libs.flatMap((l) => [...assigns(l)])]);
  if (script.name === "backup-lib.sh" || libs.some((l) => l.name === "backup-lib.sh")) for (const n of Object.keys(BACKUP_SECRETS_ENV)) names.add(n);
  return names;
}

// --- the facts TypeScript has ---------------------------------------------------------------

type FactKind = "path" | "unit" | "port" | "database";
interface Fact { kind: FactKind; value: string; source: string }

/**
 * Where the facts come from: PATHS, every exported absolute path, every exported *_SERVICE
 * (a unit) and *_PORT, and SYNAPSE_DB. Not checked: the loopback address (a property of the
 * listeners, not a deploy choice), the service accounts (synapse, postgres, caddy, turnserver: as a
 * word, the account `synapse` cannot be told from the database, package or module), and
 * OPS_USER (scripts read it from deploy.env already; "matrixctl" is also the command's name).
 */
const MODULES: Record<string, Record<string, unknown>> = { backups, caddy, matrixctl, optional, paths, ports, postgres, swap, synapse, turn, userData };

function collectFacts(): Fact[] {
  const facts: Fact[] = [];
  const add = (kind: FactKind, value: string | number, source: string) => {
    if (!facts.some((f) => f.kind === kind && f.value === String(value))) facts.push({ kind, value: String(value), source });
  };
  const walk = (value: unknown, source: string) => {
    if (typeof value === "string") add("path", value, source);
    else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, `${source}.${k}`);
  };
  walk(PATHS, "PATHS");
  // The volume's own directories, which the bind mounts show elsewhere.
  for (const name of Object.keys(PATHS.stateBinds)) add("path", `${PATHS.volume}/${name}`, `PATHS.volume + stateBinds key ${name}`);
  for (const [module, exports] of Object.entries(MODULES)) {
    for (const [name, value] of Object.entries(exports)) {
      const source = `${module}.ts ${name}`;
      // Absolute paths on the droplet (not this checkout's, such as SCRIPTS_SOURCE_DIR).
      if (typeof value === "string" && value.startsWith("/") && !value.startsWith(PACKAGE_ROOT)) add("path", value, source);
      if (/_SERVICE$/.test(name) && typeof value === "string") add("unit", value, source);
      if (/_PORT$/.test(name) && typeof value === "number") add("port", value, source);
    }
  }
  add("port", postgres.SYNAPSE_DB.port, "postgres.ts SYNAPSE_DB.port");
  add("database", postgres.SYNAPSE_DB.name, "postgres.ts SYNAPSE_DB.name");
  return facts;
}
const FACTS = collectFacts();

/**
 * Literals that must stay, each with its reason. Keyed by script and the literal as it appears.
 * Nothing else is allowed: a new literal of a fact TypeScript has fails the test.
 */
const ALLOWED_LITERALS: { script: string; literal: string; reason: string }[] = [
  { script: "lib.sh", literal: PATHS.deployEnv, reason: "where every script finds deploy.env: it cannot come from deploy.env (MATRIX_ENV_FILE overrides it in tests)" },
  { script: "matrixctl", literal: PATHS.matrixctlConfig, reason: "where matrixctl finds its settings: it cannot come from them (MATRIXCTL_CONFIG overrides it in tests)" },
];

/** Environment variables the Python scripts read: none from deploy.env. */
const PYTHON_ENVIRONMENT: Record<string, string> = {
  MATRIXCTL_CONFIG: "tests point matrixctl at a settings file of their own",
};

interface Segment { start: number; end: number; name: string }

/**
 * The script's whole text, comments included (a comment that names a fact goes stale as the
 * code does), with deploy.env's (and backup.env's) variables replaced by their values, and
 * where each value went.
 */
function expand(script: Script): { text: string; segments: Segment[] } {
  const values: Record<string, string> = { ...BACKUP_SECRETS_ENV, ...Object.fromEntries(Object.entries(ENV).map(([k, v]) => [k, String(v)])) };
  const segments: Segment[] = [];
  let text = "";
  let last = 0;
  for (const m of script.text.matchAll(new RegExp(`\\$(?:\\{(${NAME})(?::?[-=+?]([^}]*))?\\}|(${NAME}))`, "g"))) {
    const name = m[1] ?? m[3];
    if (!(name in values)) continue;
    text += script.text.slice(last, m.index);
    segments.push({ start: text.length, end: text.length + values[name].length, name });
    text += values[name];
    // A default (${NAME:-/etc/…}) is a literal all the same.
    if (m[2]) text += ` ${m[2]}`;
    last = m.index! + m[0].length;
  }
  text += script.text.slice(last);
  return { text, segments };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

function pattern(fact: Fact): RegExp {
  const v = escape(fact.value);
  switch (fact.kind) {
    // A path, or a file or directory under it.
    case "path": return new RegExp(`(?<![\\w.@/])${v}(?![\\w-])`, "g");
    // As systemd names it: NAME.service, NAME.timer, or an instance of the template NAME@.
    case "unit": return new RegExp(`(?<![\\w.@/-])${v}(?=\\.service|\\.timer|\\.socket|@)`, "g");
    case "port": return new RegExp(`(?<![\\w.])${v}(?![\\w.])`, "g");
    case "database": return new RegExp(`(?<![\\w.$/-])${v}(?![\\w.-])`, "g");
  }
}

/** A command about the database: the only place the name `synapse` means the database (not the account, package or module). */
const DATABASE_CONTEXT = /\b(psql|pg_dump|pg_restore|createdb|dropdb|database)\b/i;

interface Hit { script: string; line: number; literal: string; fact: Fact }

/** The facts a script names as literals: matches that are not wholly a variable's value. */
function literalFacts(script: Script): Hit[] {
  const { text, segments } = script.kind === "shell" ? expand(script) : { text: script.text, segments: [] as Segment[] };
  const inVariable = (start: number, end: number) => segments.some((s) => s.start <= start && end <= s.end);
  const lineOf = (index: number) => text.slice(0, index).split("\n").length;
  // The command around a place: its continuation lines joined, cut at ; && || and |.
  const commandAt = (index: number) => {
    const lineStart = (i: number) => text.lastIndexOf("\n", i - 1) + 1;
    let from = lineStart(index);
    while (from > 0 && text.slice(0, from - 1).endsWith("\\")) from = lineStart(from - 1);
    let to = text.indexOf("\n", index);
    while (to >= 0 && text.slice(0, to).endsWith("\\")) to = text.indexOf("\n", to + 1);
    const statement = text.slice(from, to < 0 ? text.length : to);
    const at = index - from;
    const cuts = [...statement.matchAll(/;|&&|\|\|?/g)].map((m) => m.index!);
    const start = Math.max(0, ...cuts.filter((c) => c < at));
    const end = Math.min(statement.length, ...cuts.filter((c) => c > at));
    return statement.slice(start, end);
  };
  const found: (Hit & { start: number; end: number })[] = [];
  for (const fact of FACTS) {
    for (const m of text.matchAll(pattern(fact))) {
      const start = m.index!;
      const end = start + m[0].length;
      if (fact.kind === "database" && !DATABASE_CONTEXT.test(commandAt(start))) continue;
      found.push({ script: script.name, line: lineOf(start), literal: m[0], fact, start, end });
    }
  }
  // The longest at a place: /var/lib/synapse/media is one path, not also /var/lib/synapse;
  // postgresql@17-main one unit, not also postgresql.
  const longest = found.filter((h) => !found.some((o) => o.fact.kind === h.fact.kind && o.start === h.start && o.end > h.end));
  return longest.filter((h) => !inVariable(h.start, h.end)).map(({ script: s, line, literal, fact }) => ({ script: s, line, literal, fact }));
}

// --- the tests ------------------------------------------------------------------------------

describe("deploy.env: the facts TypeScript hands the scripts", () => {
  it("finds the scripts and reads them as their shells do", () => {
    assert.ok(SHELL.length >= 15, `${SHELL.length} shell scripts`);
    assert.deepEqual(PYTHON.map((s) => s.name), ["apply-config.py", "matrixctl"]);
    // The lexer: a comment, a single-quoted string and a quoted here-document are not expansions; a "$(…)" inside "…" is.
    const lexed = lexShell([
      `# \${IN_COMMENT}`, `echo '\${SINGLE}' "\${DOUBLE} $(echo "\${NESTED}")" \${#COUNT[@]} $((ARITH * 2)) # \${TRAILING}`,
      `cat <<'EOF'`, `\${QUOTED_HEREDOC}`, `EOF`, `cat <<EOF`, `\${HEREDOC}`, `EOF`, `x=\${bind#*:} \${AFTER_HASH}`,
    ].join("\n"));
    const script: Script = { name: "t.sh", kind: "shell", text: "", ...lexed };
    assert.deepEqual([...reads(script)].sort(), ["AFTER_HASH", "ARITH", "COUNT", "DOUBLE", "HEREDOC", "NESTED"]);
    assert.match(lexed.code, /'\$\{SINGLE\}'/, "single-quoted text stays code (a literal there still counts)");
    assert.doesNotMatch(lexed.code, /IN_COMMENT|TRAILING/);
  });

  it("every configuration defines the same variables, as shell names with one-line values", () => {
    const names = Object.keys(ENV).sort();
    for (const [label, settings] of Object.entries(CONFIGURATIONS)) {
      const env = deployEnv(settings);
      assert.deepEqual(Object.keys(env).sort(), names, `${label}: a variable that exists only sometimes is one a script may read unset`);
      for (const [name, value] of Object.entries(env)) {
        assert.match(name, new RegExp(`^${NAME}$`));
        assert.doesNotMatch(String(value), /\n/, `${label}: ${name}`);
      }
    }
    // The secrets stay out of deploy.env (0644): backup.env (0600) holds them.
    for (const name of Object.keys(BACKUP_SECRETS_ENV)) assert.equal(name in ENV, false, `${name} is in deploy.env`);
  });

  it("a: every variable a shell script reads is defined by deployEnv, the script, or the libraries it sources", () => {
    const missing = SHELL.flatMap((script) => {
      const ok = available(script);
      return [...reads(script)].filter((name) => !ok.has(name)).map((name) => `${script.name}: $${name}`);
    });
    assert.deepEqual(missing, [], "read but never defined (add it to deployEnv in cloud-init/userData.ts)");
  });

  it("a: the Python scripts read nothing from deploy.env; matrixctl reads only keys matrixctlConfig writes, and every one of them", () => {
    for (const script of PYTHON) {
      assert.ok(!script.code.includes(PATHS.deployEnv) && !/deploy\.env/.test(script.code), `${script.name} reads deploy.env`);
      const environment = [...script.code.matchAll(/os\.(?:environ(?:\.get)?\s*[[(]|getenv\s*\()\s*["'](\w+)["']/g)].map((m) => m[1]);
      for (const name of environment) assert.ok(name in PYTHON_ENVIRONMENT, `${script.name} reads $${name} from its environment`);
    }
    const script = PYTHON.find((s) => s.name === "matrixctl")!;
    const read = new Set([...script.code.matchAll(/CONF\[["'](\w+)["']\]/g)].map((m) => m[1]));
    assert.ok(read.size >= 10, `matrixctl reads ${read.size} settings`);
    for (const [label, settings] of Object.entries(CONFIGURATIONS)) {
      const written = Object.keys(matrixctl.matrixctlConfig(settings));
      assert.deepEqual([...read].filter((k) => !written.includes(k)), [], `${label}: matrixctl reads settings matrixctl.json lacks`);
      assert.deepEqual(written.filter((k) => !read.has(k)), [], `${label}: matrixctl.json has settings matrixctl never reads`);
    }
  });

  it("b: TypeScript's facts were collected: units, paths, ports and the database", () => {
    const values = (kind: FactKind) => FACTS.filter((f) => f.kind === kind).map((f) => f.value);
    for (const unit of ["matrix-synapse", "matrix-backup", "matrix-optional", "matrix-swap", "matrix-metadata-guard", "coturn", "caddy", "postgresql", "postgresql@17-main"]) {
      assert.ok(values("unit").includes(unit), unit);
    }
    for (const p of [PATHS.volume, PATHS.stateBinds.postgresql, PATHS.synapseMedia, `${PATHS.volume}/backups`, postgres.POSTGRES_CLUSTER_CONFIG]) assert.ok(values("path").includes(p), p);
    for (const port of [443, 8448, 3478, 5349, 5432, 7880]) assert.ok(values("port").includes(String(port)), String(port));
    assert.deepEqual(values("database"), ["synapse"]);
  });

  it("b: no script names a unit, path, port or the database TypeScript has a constant for: it reads deploy.env", () => {
    const hits = SCRIPTS.flatMap(literalFacts);
    const unexplained = hits.filter((h) => !ALLOWED_LITERALS.some((a) => a.script === h.script && a.literal === h.literal));
    assert.deepEqual(unexplained.map((h) => `${h.script}:${h.line}: ${h.fact.kind} ${JSON.stringify(h.literal)} (${h.fact.source})`), []);
    // And every allowance is still needed.
    const unused = ALLOWED_LITERALS.filter((a) => !hits.some((h) => h.script === a.script && h.literal === a.literal));
    assert.deepEqual(unused, [], "allowed literals no script has any more: drop them");
  });

  it("b: the check sees a literal where a variable belongs, and not the variable", () => {
    const probe = (code: string): string[] => {
      const script: Script = { name: "probe.sh", kind: "shell", text: code, ...lexShell(code) };
      return literalFacts(script).map((h) => `${h.fact.kind}:${h.literal}`);
    };
    assert.deepEqual(probe(`systemctl restart "$SYNAPSE_SERVICE.service"; install -d "$SYNAPSE_MEDIA" "$VOLUME_MOUNT/$name"`), []);
    assert.deepEqual(probe(`psql -d "$SYNAPSE_DATABASE"; chgrp synapse "$SYNAPSE_SIGNING_KEY"; curl "https://127.0.0.1:$TURN_TLS_PORT"`), []);
    assert.deepEqual(probe(`systemctl restart matrix-synapse.service`), ["unit:matrix-synapse"]);
    assert.deepEqual(probe(`systemctl start "postgresql@$PG_MAJOR-main.service"`), ["unit:postgresql@17-main"]);
    assert.deepEqual(probe(`systemctl stop caddy.service "$POSTGRES_SERVICE.service"`), ["unit:caddy"]);
    assert.deepEqual(probe(`install -d "$SYNAPSE_DATA/media"`), [`path:${PATHS.synapseMedia}`]);
    assert.deepEqual(probe(`chmod 0700 "$VOLUME_MOUNT/backups"`), [`path:${PATHS.volume}/backups`]);
    assert.deepEqual(probe(`own_tree /var/lib/caddy caddy`), ["path:/var/lib/caddy"]);
    assert.deepEqual(probe(`curl http://127.0.0.1:5349/health`), ["port:5349"]);
    assert.deepEqual(probe(`pg_dump --format=custom synapse >"$stage/synapse.pgdump"`), ["database:synapse"]);
    assert.deepEqual(probe(`psql -c 'DROP DATABASE synapse'`), ["database:synapse"]);
    assert.deepEqual(probe(`. "\${BACKUP_ENV_FILE:-${PATHS.backupEnv}}"`), [`path:${PATHS.backupEnv}`], "a default is a literal too");
  });

  it("c: deployEnv defines nothing that no script reads", () => {
    const read = new Set(SHELL.flatMap((s) => [...reads(s)]));
    assert.deepEqual(Object.keys(ENV).filter((name) => !read.has(name)), [], "a dead contract: drop it from deployEnv, or read it");
  });
});
