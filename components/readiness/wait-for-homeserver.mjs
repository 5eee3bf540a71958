#!/usr/bin/env node
// Run by `pulumi up` (through @pulumi/command) on the deploying machine: wait until the
// homeserver answers /_matrix/client/versions over HTTPS with a certificate valid for its
// host name. It connects to the droplet's address directly (with SNI), so a stale local DNS
// cache cannot fool it; and it says plainly when the domain is not delegated to DigitalOcean,
// the usual reason certificates never arrive.
//
// Environment: MATRIX_HOST, MATRIX_ADDRESS, MATRIX_PORT, MATRIX_DOMAIN, MATRIX_TIMEOUT_SECONDS;
// MATRIX_CA_CERTIFICATES (PEM): roots trusted besides Node's, those of the ACME server the
// droplet uses (Let's Encrypt's staging, the droplet's own CA, a private one); MATRIX_UNVERIFIED:
// why the certificate cannot be verified, when it cannot (then it is not, and that is said).
import dns from "node:dns/promises";
import https from "node:https";
import tls from "node:tls";
import { pathToFileURL } from "node:url";

export const DIGITALOCEAN_NAMESERVERS = ["ns1.digitalocean.com", "ns2.digitalocean.com", "ns3.digitalocean.com"];

/** Which nameservers the domain is delegated to, and whether they are DigitalOcean's. */
export async function checkDelegation(domain, resolveNs = (name) => dns.resolveNs(name)) {
  try {
    const nameservers = (await resolveNs(domain)).map((ns) => ns.toLowerCase().replace(/\.$/, "")).sort();
    const delegated = nameservers.length > 0 && nameservers.every((ns) => DIGITALOCEAN_NAMESERVERS.includes(ns));
    return { delegated, nameservers };
  } catch (error) {
    return { delegated: false, nameservers: [], error: String(error.code ?? error.message ?? error) };
  }
}

export function delegationMessage(domain, result) {
  if (result.delegated) return undefined;
  const found = result.nameservers.length > 0 ? result.nameservers.join(", ") : `none (${result.error ?? "no answer"})`;
  return (
    `${domain} is not delegated to DigitalOcean: its nameservers are ${found}. ` +
    `Set them to ${DIGITALOCEAN_NAMESERVERS.join(", ")} at your registrar; until then the DNS records ` +
    `this stack created are not visible and Let's Encrypt cannot issue certificates.`
  );
}

/**
 * What Node trusts by default (its roots, and NODE_EXTRA_CA_CERTS where Node can say: 22.15 and
 * newer) and the given PEM roots, as TLS's `ca` takes them; undefined for Node's default alone.
 */
export function trustedRoots(pem) {
  const extra = (pem ?? "").match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (extra.length === 0) return undefined;
  const defaults = typeof tls.getCACertificates === "function" ? tls.getCACertificates("default") : tls.rootCertificates;
  return [...defaults, ...extra];
}

/** The certificate errors that mean "signed by a CA this machine does not trust". */
const UNTRUSTED = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "UNABLE_TO_GET_ISSUER_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "CERT_UNTRUSTED",
]);

/** One attempt: resolves to {ok: true} or {ok: false, reason}. */
export function probe({ address, host, port, timeoutMs = 10000, ca, verify = true }) {
  return new Promise((resolve) => {
    const req = https.get(
      {
        host: address, port, servername: host, path: "/_matrix/client/versions", headers: { host }, timeout: timeoutMs, ca,
        rejectUnauthorized: verify,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => {
          if (res.statusCode !== 200) return resolve({ ok: false, reason: `HTTP ${res.statusCode}` });
          try {
            const versions = JSON.parse(body).versions;
            resolve(Array.isArray(versions) ? { ok: true, versions } : { ok: false, reason: "no versions in answer" });
          } catch {
            resolve({ ok: false, reason: "answer is not JSON" });
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (error) => resolve({ ok: false, reason: error.code ?? error.message }));
  });
}

/** Poll until the homeserver answers or the deadline passes; throws with what was seen. */
export async function waitForHomeserver({
  address, host, domain, port, timeoutSeconds, intervalMs = 5000, ca, unverified, resolveNs, log = console.error, sshHint,
}) {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const delegation = await checkDelegation(domain, resolveNs);
  const warning = delegationMessage(domain, delegation);
  if (warning) log(`warning: ${warning}`);
  if (unverified) log(`warning: the certificate of https://${host} is not verified: ${unverified}`);
  let last = "no attempt";
  let attempts = 0;
  for (;;) {
    attempts += 1;
    const result = await probe({ address, host, port, ca, verify: !unverified });
    if (result.ok) {
      log(`https://${host} answers (${attempts} attempt${attempts === 1 ? "" : "s"}); client API versions ${result.versions.at(-1)}`);
      return result;
    }
    if (result.reason !== last) log(`waiting for https://${host} at ${address}: ${result.reason}`);
    last = result.reason;
    if (Date.now() + intervalMs > deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const untrusted = UNTRUSTED.has(last)
    ? " Its certificate is signed by a CA this machine does not trust (with an acmeServer of your own, its root belongs in extraCaCertificates)."
    : "";
  throw new Error(
    `https://${host} did not answer with a valid certificate within ${timeoutSeconds}s (last: ${last}).${untrusted}` +
      (warning ? ` ${warning}` : "") +
      ` The first boot's log: ${sshHint ?? `ssh root@${address}`} cat /var/log/cloud-init-output.log`,
  );
}

async function main() {
  const env = process.env;
  for (const key of ["MATRIX_HOST", "MATRIX_ADDRESS", "MATRIX_PORT", "MATRIX_DOMAIN", "MATRIX_TIMEOUT_SECONDS"]) {
    if (!env[key]) throw new Error(`${key} is not set`);
  }
  await waitForHomeserver({
    address: env.MATRIX_ADDRESS,
    host: env.MATRIX_HOST,
    port: Number(env.MATRIX_PORT),
    domain: env.MATRIX_DOMAIN,
    timeoutSeconds: Number(env.MATRIX_TIMEOUT_SECONDS),
    ca: trustedRoots(env.MATRIX_CA_CERTIFICATES),
    unverified: env.MATRIX_UNVERIFIED || undefined,
    sshHint: env.MATRIX_SSH_COMMAND || undefined,
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error) => {
    console.error(error.message);
    process.exit(1);
  });
}
