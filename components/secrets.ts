/**
 * Every secret the server needs, generated once by Pulumi and kept in its state (encrypted).
 * A rebuilt droplet gets the same ones, so the server keeps its identity (the signing key),
 * its database password and its admin login.
 */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Secrets } from "../cloud-init/settings";
import { formatSigningKey } from "../cloud-init/synapse";

export interface GeneratedSecrets {
  values: pulumi.Output<Secrets>;
  adminPassword: pulumi.Output<string>;
}

export function generateSecrets(name: string, opts: pulumi.CustomResourceOptions): GeneratedSecrets {
  // Letters and digits only: these end up in YAML, SQL and config files.
  const password = (id: string, length: number) =>
    new random.RandomPassword(`${name}-${id}`, { length, special: false }, opts).result;

  const postgresPassword = password("postgres-password", 32);
  const registrationSharedSecret = password("registration-shared-secret", 48);
  const macaroonSecretKey = password("macaroon-secret-key", 48);
  const formSecret = password("form-secret", 48);
  const adminPassword = password("admin-password", 24);
  // The signing key: 32 bytes from a CSPRNG (never a fixed seed) and a random key id.
  const signingSeed = new random.RandomBytes(`${name}-signing-key`, { length: 32 }, opts).base64;
  const signingKeyId = new random.RandomString(`${name}-signing-key-id`, { length: 4, special: false }, opts).result;

  const values = pulumi.secret(
    pulumi
      .all([postgresPassword, registrationSharedSecret, macaroonSecretKey, formSecret, adminPassword, signingSeed, signingKeyId])
      .apply(([postgres, registration, macaroon, form, admin, seed, keyId]): Secrets => ({
        postgresPassword: postgres,
        registrationSharedSecret: registration,
        macaroonSecretKey: macaroon,
        formSecret: form,
        adminPassword: admin,
        signingKey: formatSigningKey(keyId, seed),
      })),
  );
  return { values, adminPassword: pulumi.secret(adminPassword) };
}
