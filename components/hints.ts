/**
 * Hints for a bad setting: what the user evidently meant, when that is plain. Each returns the
 * fix as a short phrase for the end of the problem ("did you mean nyc3?"), or undefined.
 */
import * as net from "net";

/** Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The choice `value` is a typo or another spelling of: the same but for case, or up to two edits away. */
export function closest(value: string, choices: readonly string[]): string | undefined {
  const wanted = value.trim().toLowerCase();
  if (wanted.length === 0) return undefined;
  let best: string | undefined;
  let bestDistance = Math.min(2, wanted.length - 1);
  for (const choice of choices) {
    const distance = editDistance(wanted, choice.toLowerCase());
    if (distance === 0) return choice;
    if (distance <= bestDistance) {
      best = distance < bestDistance || best === undefined ? choice : best;
      bestDistance = distance;
    }
  }
  return best;
}

/** "did you mean nyc3?" */
export function didYouMean(value: string, choices: readonly string[]): string | undefined {
  const choice = closest(value, choices);
  return choice === undefined || choice === value ? undefined : `did you mean ${choice}?`;
}

/** A URL or an address given where a bare domain belongs: "drop https://", "write it in lowercase". */
export function domainHint(value: string, isDomain: (candidate: string) => boolean): string | undefined {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(value)?.[0];
  const bare = value.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").replace(/[/?#].*$/, "").replace(/\.$/, "").toLowerCase();
  if (!isDomain(bare)) return undefined;
  if (scheme) return `drop ${scheme}: write just the domain, ${bare}`;
  return `write just the domain, ${bare}`;
}

/** A bare address where a network belongs: "a single address is 203.0.113.7/32". */
export function cidrHint(value: string): string | undefined {
  const family = net.isIP(value.trim());
  return family === 0 ? undefined : `a single address is ${value.trim()}/${family === 4 ? 32 : 128}`;
}

/** A full Matrix ID where the account's name belongs: "just the name, e.g. admin". */
export function localpartHint(value: string, isLocalpart: (candidate: string) => boolean): string | undefined {
  const name = value.trim().replace(/^@/, "").replace(/:.*$/, "").toLowerCase();
  return isLocalpart(name) ? `just the name, e.g. ${name}` : undefined;
}
