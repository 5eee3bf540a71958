/**
 * Pulumi mocks for the component tests: every resource gets plausible provider outputs
 * (random secrets of the requested length, addresses, URNs), and a transformation records
 * what the component declares, with its resource options.
 */
import { md5Fingerprint, parsePublicKey } from "../components/sshKeys";
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { newSshHostKey } from "../local/secrets";

export const RESERVED_IP = "203.0.113.10";
/** The droplet's own public IPv4 (TURN's address), unlike the reserved IP. */
export const DROPLET_IPV4 = "203.0.113.20";
export const DROPLET_IPV6 = "2001:db8::10";
/** What the download pin takes under these mocks. */
/** The root of Caddy's own CA that a mock droplet prints (not a real certificate: only its shape counts). */
export const DROPLET_CA_PEM = "-----BEGIN CERTIFICATE-----\nTU9DSyBEUk9QTEVUIENB\n-----END CERTIFICATE-----\n";
export const PINNED_SHA256 = "e".repeat(64);

export interface Declared {
  type: string;
  name: string;
  props: Record<string, unknown>;
  opts: pulumi.CustomResourceOptions;
  resource: pulumi.Resource;
}

/** Resources the mock engine was asked to create, in order. */
export const created: { type: string; name: string }[] = [];

const alnum = (length: number) => {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(crypto.randomBytes(length), (b) => chars[b % chars.length]).join("");
};

export async function installMocks(): Promise<void> {
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        created.push({ type: args.type, name: args.name });
        const state: Record<string, unknown> = { ...args.inputs };
        switch (args.type) {
          case "random:index/randomPassword:RandomPassword":
          case "random:index/randomString:RandomString":
            state.result = alnum(args.inputs.length);
            break;
          case "random:index/randomBytes:RandomBytes": {
            const bytes = crypto.randomBytes(args.inputs.length);
            state.base64 = bytes.toString("base64");
            state.hex = bytes.toString("hex");
            break;
          }
          case "tls:index/privateKey:PrivateKey": {
            const key = newSshHostKey();
            state.privateKeyOpenssh = key.privateKey;
            state.publicKeyOpenssh = `${key.publicKey}\n`;
            break;
          }
          case "digitalocean:index/droplet:Droplet":
            state.ipv6Address = DROPLET_IPV6;
            state.ipv4Address = DROPLET_IPV4;
            state.dropletUrn = `do:droplet:${args.name}`;
            break;
          case "digitalocean:index/volume:Volume":
            state.volumeUrn = `do:volume:${args.name}`;
            break;
          case "digitalocean:index/sshKey:SshKey": {
            const key = parsePublicKey(args.inputs.publicKey);
            state.fingerprint = typeof key === "string" ? "unparsable" : md5Fingerprint(key);
            break;
          }
          case "digitalocean:index/reservedIp:ReservedIp":
            state.ipAddress = RESERVED_IP;
            state.reservedIpUrn = `do:reservedip:${RESERVED_IP}`;
            break;
          case "digitalocean:index/domain:Domain":
            state.domainUrn = `do:domain:${args.inputs.name}`;
            break;
          case "command:local:Command":
            // The download pin (components/downloadPin.ts) prints the file's SHA-256.
            if (args.inputs.environment?.MATRIX_DO_PIN_URL) state.stdout = PINNED_SHA256;
            break;
          case "command:remote:Command":
            // print-local-ca.sh prints Caddy's own root with acmeServer internal.
            if (String(args.inputs.create).includes("LOCAL_CA_ROOT=")) state.stdout = DROPLET_CA_PEM;
            break;
        }
        return { id: args.type.startsWith("digitalocean") ? String(1000 + created.length) : `${args.name}-id`, state };
      },
      call() {
        throw new Error("the component makes no provider calls");
      },
    },
    "matrix-do",
    "test",
    false,
  );
}

/** Options that make the component report every child it declares. */
export function recording(into: Declared[]): pulumi.ComponentResourceOptions {
  return {
    transformations: [
      (a) => {
        into.push({ type: a.type, name: a.name, props: a.props as Record<string, unknown>, opts: a.opts as pulumi.CustomResourceOptions, resource: a.resource });
        return undefined;
      },
    ],
  };
}

/** The resolved value of an Input (for assertions). */
export function valueOf<T>(input: pulumi.Input<T> | undefined): Promise<T> {
  return new Promise((resolve) => pulumi.output(input as pulumi.Input<T>).apply((v) => resolve(v as T)));
}

export function isSecret(input: unknown): Promise<boolean> {
  return pulumi.isSecret(pulumi.output(input as pulumi.Input<unknown>));
}

export const ofType = (declared: Declared[], type: string) => declared.filter((d) => d.type === type);
