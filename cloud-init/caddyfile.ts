/**
 * A small typed builder for Caddyfiles: directives are data, quoting is done in one place.
 */
export interface Directive {
  name: string;
  args?: string[];
  block?: Directive[];
}

export interface SiteBlock {
  addresses: string[];
  directives: Directive[];
}

export interface Caddyfile {
  global: Directive[];
  sites: SiteBlock[];
}

export const d = (name: string, args: string[] = [], block?: Directive[]): Directive => ({ name, args, block });

/** A token as the Caddyfile lexer reads it back: bare when safe, else a quoted string. */
export function token(value: string): string {
  if (value === "") return '""';
  if (/^[A-Za-z0-9_./:*@{}=+,%'-]+$/.test(value) && !value.startsWith("{") && !value.includes("//")) {
    return value;
  }
  if (value.includes("\n")) throw new Error(`Caddyfile token must not contain a newline: ${value}`);
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function renderDirective(directive: Directive, depth: number): string[] {
  const pad = "\t".repeat(depth);
  const head = [directive.name, ...(directive.args ?? []).map(token)].join(" ");
  if (!directive.block) return [pad + head];
  return [`${pad}${head} {`, ...directive.block.flatMap((child) => renderDirective(child, depth + 1)), `${pad}}`];
}

export function renderCaddyfileText(file: Caddyfile): string {
  const blocks: string[][] = [];
  if (file.global.length > 0) {
    blocks.push(["{", ...file.global.flatMap((g) => renderDirective(g, 1)), "}"]);
  }
  for (const site of file.sites) {
    blocks.push([`${site.addresses.join(", ")} {`, ...site.directives.flatMap((x) => renderDirective(x, 1)), "}"]);
  }
  return blocks.map((lines) => lines.join("\n")).join("\n\n") + "\n";
}
