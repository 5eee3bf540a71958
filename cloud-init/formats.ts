/**
 * Small renderers for the plain-text formats the payload writes: systemd units, shell
 * environment files and PostgreSQL settings. Each quotes values in one place.
 */

/** A file the payload writes onto the droplet. */
export interface RenderedFile {
  path: string;
  content: string;
  /** Octal permissions; secrets are 0600, or 0640 with `group`. */
  permissions: string;
  /** Group that may read the file; bootstrap sets it once the group exists. */
  group?: string;
}

export type UnitSection = Record<string, string | string[]>;
export type Unit = Record<string, UnitSection>;

/** A systemd unit file; list values become repeated keys (e.g. several Environment=). */
export function renderUnit(unit: Unit): string {
  return Object.entries(unit)
    .map(([section, entries]) => {
      const lines = Object.entries(entries).flatMap(([key, value]) =>
        (Array.isArray(value) ? value : [value]).map((v) => {
          if (v.includes("\n")) throw new Error(`systemd value for ${key} must be one line`);
          return `${key}=${v}`;
        }),
      );
      return [`[${section}]`, ...lines].join("\n");
    })
    .join("\n\n") + "\n";
}

/** One line of a tmpfiles.d file: what systemd-tmpfiles makes at boot. */
export interface TmpfilesEntry {
  type: "d";
  path: string;
  mode: string;
  user: string;
  group: string;
}

/** A tmpfiles.d file (no age, no argument). */
export function renderTmpfiles(entries: TmpfilesEntry[]): string {
  return entries.map(({ type, path, mode, user, group }) => {
    for (const field of [path, user, group]) if (!/^[A-Za-z0-9_./-]+$/.test(field)) throw new Error(`tmpfiles.d field needs no quoting: ${field}`);
    if (!/^[0-7]{3,4}$/.test(mode)) throw new Error(`tmpfiles.d mode must be octal: ${mode}`);
    return [type, path, mode, user, group, "-", "-"].join(" ");
  }).join("\n") + "\n";
}

/** The header of every file the payload renders: where to change it. */
export const GENERATED = "Written by matrix-do; change the Pulumi config, not this file.";

/** Single-quote a value for POSIX shells. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A file of KEY='value' lines that shell scripts `source`. */
export function renderEnvFile(vars: Record<string, string | number | boolean>): string {
  return Object.entries(vars)
    .map(([key, value]) => {
      if (!/^[A-Z][A-Z0-9_]*$/.test(key)) throw new Error(`bad environment variable name: ${key}`);
      return `${key}=${shellQuote(String(value))}`;
    })
    .join("\n") + "\n";
}

/** postgresql.conf lines: numbers and booleans bare, strings single-quoted. */
export function renderPostgresConf(settings: Record<string, string | number | boolean>): string {
  return Object.entries(settings)
    .map(([key, value]) => {
      if (!/^[a-z_]+$/.test(key)) throw new Error(`bad PostgreSQL setting name: ${key}`);
      const rendered = typeof value === "string" ? `'${value.replace(/'/g, "''")}'` : String(value);
      return `${key} = ${rendered}`;
    })
    .join("\n") + "\n";
}

/** A PostgreSQL string literal. */
export function sqlLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** One line of a coturn-style config: a bare flag, or key=value. */
export type ConfLine = [key: string, value?: string | number];

/** coturn's turnserver.conf: `key=value` or a bare flag per line; keys may repeat. */
export function renderCoturnConf(lines: ConfLine[]): string {
  return lines
    .map(([key, value]) => {
      if (!/^[a-z][a-z0-9_-]*$/.test(key)) throw new Error(`bad coturn option name: ${key}`);
      if (value === undefined) return key;
      const text = String(value);
      if (/[\s#]/.test(text) || text === "") throw new Error(`coturn option ${key} needs a value without spaces or #`);
      return `${key}=${text}`;
    })
    .join("\n") + "\n";
}
