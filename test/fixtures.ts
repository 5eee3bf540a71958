/** Shared test inputs: valid args, and fixed secrets for rendering without Pulumi. */
import * as crypto from "crypto";
import { PlainArgs, resolveArgs } from "../components/settings";
import { Secrets, Settings } from "../cloud-init/settings";
import { formatSigningKey } from "../cloud-init/synapse";

export const VALID_ARGS: PlainArgs = {
  domain: "example.test",
  adminEmail: "admin@example.test",
  sshKeys: ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"],
};

export function settingsFor(overrides: Partial<PlainArgs> = {}): Settings {
  return resolveArgs({ ...VALID_ARGS, ...overrides }).settings;
}

/** Fresh random secrets, shaped like the ones Pulumi generates. */
export function testSecrets(): Secrets {
  const random = (n: number) => crypto.randomBytes(n).toString("base64url").slice(0, n);
  return {
    postgresPassword: random(32),
    registrationSharedSecret: random(48),
    macaroonSecretKey: random(48),
    formSecret: random(48),
    adminPassword: random(24),
    signingKey: formatSigningKey("Ab12", crypto.randomBytes(32).toString("base64")),
  };
}
