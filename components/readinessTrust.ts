/**
 * What the readiness check trusts: the roots of the ACME server the droplet gets its
 * certificates from. Let's Encrypt's are Node's own; its staging roots are pinned here; Caddy's
 * own CA (`internal`) is the droplet's, read over SSH once the payload is applied; a private ACME
 * server's root is one of extraCaCertificates (which are always trusted too).
 */
import * as fs from "fs";
import * as path from "path";
import { asset } from "../cloud-init/assets";
import { ACME_DIRECTORIES } from "./settings";

export const STAGING_ROOTS_FILE = path.join(asset("components", "readiness"), "letsencrypt-staging-roots.pem");

export interface ReadinessTrust {
  /** PEM roots trusted besides Node's ("" for none). */
  caCertificates: string;
  /** Why the certificate cannot be verified, when it cannot. */
  unverified?: string;
}

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in a text (a command's output, a file with comments). */
export function pemCertificates(text: string): string[] {
  return text.match(PEM) ?? [];
}

/**
 * dropletCa: what the droplet printed over SSH (print-local-ca.sh: Caddy's root with `internal`),
 * or undefined when the stack has no SSH to the droplet.
 */
export function readinessTrust(directoryUrl: string, extraCaCertificates: string[], dropletCa: string | undefined): ReadinessTrust {
  const roots = [...extraCaCertificates];
  let unverified: string | undefined;
  if (directoryUrl === ACME_DIRECTORIES["letsencrypt-staging"]) {
    roots.unshift(...pemCertificates(fs.readFileSync(STAGING_ROOTS_FILE, "utf8")));
  } else if (directoryUrl === ACME_DIRECTORIES.internal) {
    const own = pemCertificates(dropletCa ?? "");
    if (dropletCa !== undefined && own.length === 0) throw new Error("the droplet printed no root of Caddy's own CA (acmeServer internal)");
    if (own.length > 0) roots.unshift(...own);
    else unverified = "acmeServer is internal and the stack has no sshPrivateKey to read the droplet's own CA with; set sshPrivateKey to have it verified";
  }
  return { caCertificates: roots.map((pem) => `${pem.trim()}\n`).join(""), ...(unverified ? { unverified } : {}) };
}
