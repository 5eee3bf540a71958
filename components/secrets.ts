/**
 * Every secret the server needs, generated once by Pulumi and kept in its state (encrypted).
 * A rebuilt droplet gets the same ones, so the server keeps its identity (the signing key),
 * its database password and its admin login.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { Secrets } from "../cloud-init/settings";
import { formatSigningKey } from "../cloud-init/synapse";

export interface GeneratedSecrets {
  values: pulumi.Output<Secrets>;
  adminPassword: pulumi.Output<string>;
  backupPassword: pulumi.Output<string>;
  /** The droplet's SSH host key, `ssh-ed25519 AAAA…`, for pinning. */
  sshHostPublicKey: pulumi.Output<string>;
}

/** Secrets the user gives (config), passed on with the generated ones. */
export interface GivenSecrets {
  /** The Spaces secret key, when off-site backups are on. */
  offsiteSecretKey?: pulumi.Input<string>;
  /** The SMTP password, when email is on. */
  smtpPassword?: pulumi.Input<string>;
}

export function generateSecrets(name: string, opts: pulumi.CustomResourceOptions, given: GivenSecrets = {}): GeneratedSecrets {
  // Letters and digits only: these end up in YAML, SQL and config files.
  const password = (id: string, length: number) =>
    new random.RandomPassword(`${name}-${id}`, { length, special: false }, opts).result;

  const postgresPassword = password("postgres-password", 32);
  const macaroonSecretKey = password("macaroon-secret-key", 48);
  const formSecret = password("form-secret", 48);
  const adminPassword = password("admin-password", 24);
  // Encrypts every backup; it lives in the stack's state, so a new droplet can read old backups.
  const backupPassword = password("backup-password", 40);
  // Shared by Synapse and coturn (TURN credentials); made even while TURN is off, so turning it
  // on later changes nothing else.
  const turnSharedSecret = password("turn-shared-secret", 48);
  // LiveKit's API secret (MatrixRTC calls), made whether calls are on or not, likewise.
  const livekitSecret = password("livekit-secret", 48);
  const hostKey = new tls.PrivateKey(`${name}-ssh-host-key`, { algorithm: "ED25519" }, opts);
  // The signing key: 32 bytes from a CSPRNG (never a fixed seed) and a random key id.
  const signingSeed = new random.RandomBytes(`${name}-signing-key`, { length: 32 }, opts).base64;
  const signingKeyId = new random.RandomString(`${name}-signing-key-id`, { length: 4, special: false }, opts).result;

  const generated = pulumi.all([backupPassword, turnSharedSecret, livekitSecret, hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh, pulumi.output(given.offsiteSecretKey), pulumi.output(given.smtpPassword)]);
  const values = pulumi.secret(
    pulumi
      .all([postgresPassword, macaroonSecretKey, formSecret, adminPassword, signingSeed, signingKeyId, generated])
      .apply(([postgres, macaroon, form, admin, seed, keyId, [backup, turn, livekit, hostPrivate, hostPublic, offsite, smtp]]): Secrets => ({
        postgresPassword: postgres,
        macaroonSecretKey: macaroon,
        formSecret: form,
        adminPassword: admin,
        signingKey: formatSigningKey(keyId, seed),
        backupPassword: backup,
        turnSharedSecret: turn,
        livekitSecret: livekit,
        sshHostKey: { privateKey: hostPrivate, publicKey: hostPublic.trim() },
        ...(offsite !== undefined ? { offsiteSecretKey: offsite } : {}),
        ...(smtp !== undefined ? { smtpPassword: smtp } : {}),
      })),
  );
  return {
    values,
    adminPassword: pulumi.secret(adminPassword),
    backupPassword: pulumi.secret(backupPassword),
    sshHostPublicKey: hostKey.publicKeyOpenssh.apply((key) => key.trim()),
  };
}
