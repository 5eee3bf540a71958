/**
 * OpenSSH keys as the settings meet them: a public key line (`sshPublicKey`, which the stack adds
 * to the DigitalOcean account) and the public half inside an OpenSSH private key (`sshPrivateKey`),
 * so that a key pair whose halves do not match is one clear error rather than an SSH login that
 * fails twenty minutes into `pulumi up`. Pure: no Pulumi types.
 */
import * as crypto from "crypto";

/** The key types DigitalOcean accepts for an account's SSH keys. */
export const PUBLIC_KEY_TYPES = ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"] as const;

/** The first length-prefixed string of an SSH wire-format blob, and where the next begins. */
function readString(blob: Buffer, at: number): { value: Buffer; next: number } | undefined {
  if (at + 4 > blob.length) return undefined;
  const length = blob.readUInt32BE(at);
  if (at + 4 + length > blob.length) return undefined;
  return { value: blob.subarray(at + 4, at + 4 + length), next: at + 4 + length };
}

export interface PublicKey {
  type: string;
  /** The key blob, base64 (the second field of the line). */
  base64: string;
}

/** A public key line (`type base64 [comment]`), or why it is not one. */
export function parsePublicKey(line: string): PublicKey | string {
  if (line.includes("PRIVATE KEY")) return "a public key, not a private one (the .pub file)";
  if (line.trim().includes("\n")) return "one line";
  const [type, base64] = line.trim().split(/\s+/);
  if (!(PUBLIC_KEY_TYPES as readonly string[]).includes(type)) return `a key of type ${PUBLIC_KEY_TYPES.join(", ")}`;
  if (!base64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return "the key in base64 after its type";
  // The blob is the type again, then the key's fields (ed25519: 32 bytes; RSA: e, n; ECDSA: curve, point), and nothing after.
  const blob = Buffer.from(base64, "base64");
  const fields: Buffer[] = [];
  for (let at = 0, field = readString(blob, 0); field; field = readString(blob, at)) {
    fields.push(field.value);
    at = field.next;
    if (at === blob.length) break;
  }
  const whole = fields.reduce((sum, f) => sum + 4 + f.length, 0) === blob.length;
  const sized = type !== "ssh-ed25519" || (fields.length === 2 && fields[1].length === 32);
  if (fields[0]?.toString() !== type || fields.length < 2 || !whole || !sized) return `a whole ${type} key after its type (it is cut or mistyped)`;
  // Canonical base64 (padding restored), so that one key always compares and uploads the same.
  return { type, base64: blob.toString("base64") };
}

/**
 * The key as the stack hands it to DigitalOcean: type and key, no comment, so that a new comment
 * (another copy of the .pub file, `ssh-keygen -y`'s output) is not a new key, which DigitalOcean
 * would refuse while the old one is still in the account.
 */
export function publicKeyLine(key: PublicKey): string {
  return `${key.type} ${key.base64}`;
}

/** The MD5 fingerprint DigitalOcean lists an account's key under (aa:bb:…). */
export function md5Fingerprint(key: PublicKey): string {
  return crypto.createHash("md5").update(Buffer.from(key.base64, "base64")).digest("hex").match(/../g)!.join(":");
}

/** An OpenSSH private key's cipher: "none" when it has no passphrase; undefined for other formats. */
export function privateKeyCipher(pem: string): string | undefined {
  const blob = openSshBlob(pem);
  return blob && readString(blob, OPENSSH_MAGIC.length)?.value.toString();
}

const OPENSSH_MAGIC = "openssh-key-v1\0";

/** The binary body of an OpenSSH private key, or undefined for other formats. */
function openSshBlob(pem: string): Buffer | undefined {
  const body = pem.match(/-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/)?.[1];
  if (!body) return undefined;
  const blob = Buffer.from(body.replace(/\s+/g, ""), "base64");
  return blob.subarray(0, OPENSSH_MAGIC.length).toString("latin1") === OPENSSH_MAGIC ? blob : undefined;
}

/**
 * The public half stored in an OpenSSH private key ("-----BEGIN OPENSSH PRIVATE KEY-----",
 * ssh-keygen's format), readable without a passphrase; undefined for other formats.
 */
export function publicKeyOfPrivate(pem: string): PublicKey | undefined {
  const blob = openSshBlob(pem);
  if (!blob) return undefined;
  // cipher name, kdf name, kdf options, number of keys, then the first public key.
  let at = OPENSSH_MAGIC.length;
  for (let i = 0; i < 3; i += 1) {
    const field = readString(blob, at);
    if (!field) return undefined;
    at = field.next;
  }
  if (at + 4 > blob.length || blob.readUInt32BE(at) < 1) return undefined;
  const publicBlob = readString(blob, at + 4)?.value;
  const type = publicBlob && readString(publicBlob, 0)?.value.toString();
  if (!publicBlob || !type) return undefined;
  return { type, base64: publicBlob.toString("base64") };
}
