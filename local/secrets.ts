/**
 * Secrets shaped like the ones Pulumi generates (components/secrets.ts), for servers that run
 * without Pulumi: `npm run local` and the tests. Also this machine's extra CA certificates.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { run } from "./process";
import { Secrets } from "../cloud-init/settings";
import { formatSigningKey } from "../cloud-init/synapse";

/** Letters and digits from a CSPRNG, like RandomPassword with special: false. */
function alphanumeric(length: number): string {
  let out = "";
  while (out.length < length) out += crypto.randomBytes(length).toString("base64").replace(/[^A-Za-z0-9]/g, "");
  return out.slice(0, length);
}

export function newSecrets(): Secrets {
  return {
    postgresPassword: alphanumeric(32),
    macaroonSecretKey: alphanumeric(48),
    formSecret: alphanumeric(48),
    adminPassword: alphanumeric(24),
    signingKey: formatSigningKey(alphanumeric(4), crypto.randomBytes(32).toString("base64")),
    backupPassword: alphanumeric(40),
    turnSharedSecret: alphanumeric(48),
    livekitSecret: alphanumeric(48),
    sshHostKey: newSshHostKey(),
  };
}

/** An ed25519 key in OpenSSH format, as @pulumi/tls's privateKeyOpenssh gives it. */
export function newSshHostKey(): { privateKey: string; publicKey: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "matrix-hostkey-"));
  try {
    const file = path.join(dir, "key");
    const r = run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", file]);
    if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
    return { privateKey: fs.readFileSync(file, "utf8"), publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim() };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const HOST_CA_DIR = "/usr/local/share/ca-certificates";

/** CA certificates this machine trusts beyond Debian's bundle (e.g. a registry proxy's). */
export function hostCaCertificates(): string[] {
  if (!fs.existsSync(HOST_CA_DIR)) return [];
  return fs.readdirSync(HOST_CA_DIR).filter((f) => f.endsWith(".crt")).map((f) => fs.readFileSync(path.join(HOST_CA_DIR, f), "utf8"));
}
