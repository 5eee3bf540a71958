/**
 * How a stack's config (Pulumi.yaml's `config:` block plus Pulumi.<stack>.yaml) becomes
 * MatrixServerArgs. Every component argument has its kind in the settings table
 * (components/settingsTable.ts), so index.ts reads them all.
 *
 * The Pulumi CLI treats every key declared without a `default` as required, so the optional
 * keys in Pulumi.yaml carry an "unset" default ("" for text, [] for lists, 0 for counts,
 * `auto` for presence) which this reader turns back into "not set". Secret keys cannot be
 * declared there at all (a secret key with no value in the stack fails the CLI's validation),
 * so they are read here only, with `getSecret`.
 */
import * as pulumi from "@pulumi/pulumi";
import { MatrixServerArgs } from "./args";
import { ARG_KINDS, ArgKind, DEFAULTS, SETTINGS, SettingSpec } from "./settingsTable";

/** Each argument's kind in the stack's config: the kinds the settings check (components/settings.ts). */
export const STACK_CONFIG = ARG_KINDS;
export type ConfigKind = ArgKind;

/** The keys a user must set: declared in Pulumi.yaml without a default. */
export const REQUIRED_CONFIG = (Object.entries(SETTINGS) as [keyof MatrixServerArgs, SettingSpec][]).filter(([, spec]) => spec.required).map(([key]) => key);

/** What Pulumi.yaml declares as the default of an optional key that has no default of its own. */
export const UNSET: Record<Exclude<ConfigKind, "secret" | "boolean">, unknown> = {
  string: "",
  integer: 0,
  list: [],
  presence: "auto",
};

/** Optional keys with no default of their own: Pulumi.yaml gives them the "unset" value of their kind. */
export const UNSET_KEYS = (Object.keys(STACK_CONFIG) as (keyof MatrixServerArgs)[]).filter(
  (key) => !REQUIRED_CONFIG.includes(key) && STACK_CONFIG[key] !== "secret" && !(key in DEFAULTS),
);

/**
 * The component's args from the stack's config. Values are passed on as typed (a wrong type is
 * reported by the settings' validation, naming the key). A key at the value Pulumi.yaml gives it
 * (its default, or the "unset" one) is left out: the CLI merges those into every stack, so they
 * are not something the stack set (smtpPort's 587 does not ask for email), and the component
 * applies the same default.
 */
export function readStackConfig(config: pulumi.Config): MatrixServerArgs {
  const args: Record<string, unknown> = {};
  for (const [key, kind] of Object.entries(STACK_CONFIG) as [keyof MatrixServerArgs, ConfigKind][]) {
    const value = readOne(config, key, kind);
    if (value === undefined) continue;
    const declared = key in DEFAULTS ? DEFAULTS[key as keyof typeof DEFAULTS] : UNSET_KEYS.includes(key) ? UNSET[kind as keyof typeof UNSET] : undefined;
    if (declared !== undefined && JSON.stringify(value) === JSON.stringify(declared)) continue;
    args[key] = value;
  }
  return args as unknown as MatrixServerArgs;
}

function readOne(config: pulumi.Config, key: string, kind: ConfigKind): unknown {
  if (kind === "secret") return config.getSecret(key);
  if (kind === "list") return config.getObject<unknown>(key);
  const text = config.get(key);
  if (text === undefined) return undefined;
  switch (kind) {
    case "string":
      return text;
    case "presence":
      return text === "true" ? true : text === "false" ? false : text;
    case "integer":
      // A non-number is passed on as it is, for the settings to reject by name.
      return /^-?\d+$/.test(text) ? Number(text) : text;
    case "boolean":
      return text === "true" ? true : text === "false" ? false : text;
  }
}
