/**
 * MatrixServer: one DigitalOcean droplet running Synapse, Element Web, Caddy and PostgreSQL,
 * with its data volume, reserved IP, domain, DNS records and firewall.
 *
 *   const chat = new MatrixServer("chat", { domain: "example.org", adminEmail: "me@example.org", sshPublicKey: "ssh-ed25519 AAAA…" });
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import * as command from "@pulumi/command";
import { MatrixServerArgs } from "./args";
import { declareDns } from "./dns";
import { declareFirewall } from "./firewall";
import { declareDownloadPin } from "./downloadPin";
import { declareMonitoring } from "./monitoring";
import { readinessTrust } from "./readinessTrust";
import { generateSecrets } from "./secrets";
import {
  ACME_DIRECTORIES, ARG_KINDS, deployKeyPairProblem, PlainArgs, Resolved, resolveArgs, resolveKnown, resolveShape, SettingsError, typeProblem,
} from "./settings";
import { asset } from "../cloud-init/assets";
import { Settings } from "../cloud-init/settings";
import { APPLY_COMMAND, renderUserData, UserDataTooLarge } from "../cloud-init/userData";
import { PATHS } from "../cloud-init/paths";
import { HTTPS_PORT } from "../cloud-init/ports";

export type { MatrixServerArgs } from "./args";

const READINESS_DIR = asset("components", "readiness");
const readinessScript = (file: string) => fs.readFileSync(path.join(READINESS_DIR, file), "utf8");
const sha256 = (text: string) => crypto.createHash("sha256").update(text).digest("hex");

/**
 * What `pulumi up` runs over SSH to wait for the first boot (wait-cloud-init.sh). Its settings
 * travel in the script: sshd passes no custom environment (AcceptEnv).
 */
export function cloudInitWaitScript(timeoutSeconds: string): string {
  return `WAIT_SECONDS=${timeoutSeconds}\nBOOTSTRAP_DONE=${PATHS.bootstrapDone}\n${readinessScript("wait-cloud-init.sh")}`;
}

/** What `pulumi up` runs over SSH once the payload is applied: with acmeServer internal, print Caddy's own root. */
export function localCaScript(directoryUrl: string): string {
  return directoryUrl === ACME_DIRECTORIES.internal ? `LOCAL_CA_ROOT=${PATHS.caddyLocalCaRoot}\n${readinessScript("print-local-ca.sh")}` : "true";
}

export class MatrixServer extends pulumi.ComponentResource {
  /** https://matrix.<domain>: the homeserver's client API. */
  public readonly homeserverUrl: pulumi.Output<string>;
  /** https://element.<domain>: Element Web, ready to log in. */
  public readonly elementUrl: pulumi.Output<string>;
  /** The Matrix server name (user IDs end in :<serverName>). */
  public readonly serverName: pulumi.Output<string>;
  public readonly adminUserId: pulumi.Output<string>;
  /** Initial password of the admin account. Secret. */
  public readonly adminPassword: pulumi.Output<string>;
  /** The reserved IPv4 address every A record points at. */
  public readonly reservedIp: pulumi.Output<string>;
  public readonly sshCommand: pulumi.Output<string>;
  public readonly dropletId: pulumi.Output<string>;
  public readonly volumeId: pulumi.Output<string>;
  /** The droplet's SSH host key (`ssh-ed25519 …`), the same for every droplet of the stack: add it to known_hosts. */
  public readonly sshHostKey: pulumi.Output<string>;
  /** Password of the backups (restic). Secret. Needed to read them without this stack. */
  public readonly backupPassword: pulumi.Output<string>;

  constructor(name: string, args: MatrixServerArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validate first: bad input fails before any resource, this one included, is declared.
    const resolved = resolveAll(args);
    // Which resources exist is known now (plain values only); their values may still be Outputs.
    const shape = resolveShape(args);
    super("matrix-do:index:MatrixServer", name, {}, opts);

    const c = resolved.apply((r) => r.cloud);
    // The authorization service's SHA-256, when nothing gives it, is taken first: should that
    // fail, nothing else is created or changed (every resource waits for it).
    const pin = shape.rtcAuthPin
      ? declareDownloadPin(`${name}-rtc-auth-sha256`, {
        url: c.apply((cloud) => cloud.rtcAuthPin!.url), version: c.apply((cloud) => cloud.rtcAuthPin!.version),
        setting: "rtcAuthServiceSha256", without: "matrixRtc false",
      }, { parent: this })
      : undefined;
    const s = resolved.apply((r) => r.settings);
    // What the payload renders: the settings, with that SHA-256 once taken (unknown at a first preview).
    const payloadSettings = pin ? pulumi.all([s, pin.sha256]).apply(([settings, sha256]) => withAuthServiceSha256(settings, sha256)) : s;
    const child = { parent: this, ...(pin ? { dependsOn: [pin.resource] } : {}) };

    // The secrets the volume's data needs (its database's passwords, the backups' password, the
    // signing key, the host key) are protected with it: `pulumi destroy --exclude-protected` keeps
    // them too, and a later `pulumi up` brings the server back as it was.
    const secrets = generateSecrets(name, { ...child, protect: shape.protectVolume }, {
      offsiteSecretKey: args.spacesSecretKey === undefined ? undefined : secretArg("spacesSecretKey", args.spacesSecretKey),
      smtpPassword: args.smtpPassword === undefined ? undefined : secretArg("smtpPassword", args.smtpPassword),
    });
    const userData = pulumi.secret(
      pulumi.all([payloadSettings, secrets.values]).apply(([settings, values]) => {
        try {
          return renderUserData(settings, values);
        } catch (error) {
          // The settings that grow the payload without bound are the certificates a user adds.
          if (error instanceof UserDataTooLarge) {
            throw new SettingsError([`'extraCaCertificates': ${error.message} with these ${settings.extraCaCertificates.length} certificates; pass fewer (only the CAs the droplet must trust)`]);
          }
          throw error;
        }
      }),
    );
    // With SSH, a changed payload is applied to the running droplet (below); without it, a
    // changed payload means a new droplet (the volume, and so all data, stays).
    const inPlace = shape.applyInPlace;
    // What triggers the in-place apply and the readiness check again: a hash of the payload (the
    // payload itself holds secrets). Not a secret itself: its secrets are long random strings
    // that no hash reveals, and a secret in `triggers` that is unknown at preview (a first
    // `pulumi up`) is refused by the command provider ("malformed secret: missing value").
    const payloadHash = pulumi.unsecret(userData.apply(sha256));

    const volume = new digitalocean.Volume(`${name}-data`, {
      name: s.volume.name,
      region: s.droplet.region,
      size: s.volume.sizeGb,
      initialFilesystemType: "ext4",
      description: pulumi.interpolate`Matrix homeserver ${s.serverName}: database, media, certificates, backups`,
      tags: s.droplet.tags,
    }, { ...child, protect: shape.protectVolume });

    // sshPrivateKey checked (no passphrase; sshPublicKey's other half) before it is used, and,
    // when the stack adds the deploy key to the account, before the key and the droplet are made.
    const checkedPrivateKey = args.sshPrivateKey === undefined ? undefined
      : pulumi.secret(pulumi.all([secretArg("sshPrivateKey", args.sshPrivateKey), c]).apply(([privateKey, cloud]) => {
        const problem = deployKeyPairProblem(privateKey, cloud);
        if (problem) throw new SettingsError([problem]);
        return privateKey;
      }));
    const keyPairChecked = shape.deployKey && checkedPrivateKey ? pulumi.unsecret(checkedPrivateKey.apply(() => true)) : pulumi.output(true);
    const deployKey = shape.deployKey
      ? new digitalocean.SshKey(`${name}-deploy-key`, {
        name: pulumi.interpolate`${s.droplet.name} deploy key`,
        publicKey: pulumi.all([c, keyPairChecked]).apply(([cloud]) => cloud.sshPublicKey!),
      }, child)
      : undefined;
    const sshKeys = pulumi.all([c.sshKeys, deployKey?.fingerprint, keyPairChecked])
      .apply(([keys, deployed]) => deployed === undefined ? keys : [...keys, deployed]);

    // A changed user_data replaces the droplet. Delete the old one first (gracefully, so
    // PostgreSQL shuts down cleanly) so the volume is free to move to the new one.
    const droplet = new digitalocean.Droplet(`${name}-droplet`, {
      name: s.droplet.name,
      image: s.droplet.image,
      region: s.droplet.region,
      size: s.droplet.size,
      sshKeys,
      ipv6: s.droplet.ipv6,
      monitoring: true,
      gracefulShutdown: true,
      resizeDisk: false,
      tags: s.droplet.tags,
      backups: c.dropletBackups.apply((plan) => plan !== "off"),
      backupPolicy: c.dropletBackups.apply((plan) => plan === "off" ? undefined : { plan, hour: 0 }),
      userData,
    }, { ...child, deleteBeforeReplace: true, ...(inPlace ? { ignoreChanges: ["userData"] } : {}) });
    const dropletNumber = droplet.id.apply(Number);

    const attachment = new digitalocean.VolumeAttachment(`${name}-data-attachment`, {
      dropletId: dropletNumber,
      volumeId: volume.id,
    }, { ...child, deleteBeforeReplace: true });

    const reservedIp = new digitalocean.ReservedIp(`${name}-ip`, { region: s.droplet.region }, child);
    const ipAssignment = new digitalocean.ReservedIpAssignment(`${name}-ip-assignment`, {
      ipAddress: reservedIp.ipAddress,
      dropletId: dropletNumber,
    }, { ...child, deleteBeforeReplace: true });

    const dns = declareDns(name, {
      dns: c.dns,
      shape,
      ipv4Address: reservedIp.ipAddress,
      ipv6Address: droplet.ipv6Address,
      turnIpv4Address: droplet.ipv4Address,
      matrixHost: s.matrixHost,
      caaIssuer: c.caaIssuer,
    }, child);

    const firewall = declareFirewall(name, {
      name: s.droplet.name, sshAllowCidrs: c.sshAllowCidrs, dropletId: dropletNumber,
      // Resolved whenever the shape has TURN on (both come from the same setting).
      turnPorts: shape.turn ? c.apply((cloud) => cloud.turnPorts!) : undefined,
      rtcPorts: shape.matrixRtc ? c.apply((cloud) => cloud.rtcPorts!) : undefined,
    }, child);

    if (shape.project) {
      new digitalocean.Project(`${name}-project`, {
        // Resolved whenever the shape has a project (both come from the same setting).
        name: c.apply((cloud) => cloud.projectName!),
        description: pulumi.interpolate`Matrix homeserver ${s.serverName}`,
        purpose: "Service or API",
        resources: [droplet.dropletUrn, volume.volumeUrn, reservedIp.reservedIpUrn, ...(dns.domainUrn ? [dns.domainUrn] : [])],
      }, child);
    }

    if (shape.alerts) {
      declareMonitoring(name, { settings: s, dropletId: droplet.id, emails: c.alertEmails }, child);
    }

    const deployed = [attachment, ipAssignment, firewall, ...dns.records];
    const timeoutSeconds = c.readyTimeoutMinutes.apply((m) => String(m * 60));
    // The quick start's deploy key is not one ssh tries by itself: the command names it.
    const sshCommand = pulumi.all([c.sshKeyFile, reservedIp.ipAddress]).apply(([file, ip]) => file ? `ssh -i ${file} root@${ip}` : `ssh root@${ip}`);
    let cloudInitDone: pulumi.Resource | undefined;
    // What the droplet printed of its own CA (acmeServer internal), when there is SSH to ask it.
    let dropletCaOutput: pulumi.Output<string> | undefined;
    if (inPlace) {
      const connection = {
        host: reservedIp.ipAddress,
        user: "root",
        privateKey: checkedPrivateKey!,
        // Pinned: the key is generated here and installed by cloud-init.
        hostKey: secrets.sshHostPublicKey,
        dialErrorLimit: 60,
      };
      const booted = new command.remote.Command(`${name}-cloud-init`, {
        connection,
        create: timeoutSeconds.apply(cloudInitWaitScript),
        triggers: [droplet.id],
      }, { ...child, dependsOn: deployed });
      // The payload, applied to the running droplet whenever it changes: the files are
      // rewritten and only the services whose files changed restart (apply-config.py).
      cloudInitDone = new command.remote.Command(`${name}-apply-config`, {
        connection,
        create: APPLY_COMMAND,
        stdin: userData,
        triggers: [droplet.id, payloadHash],
      }, { ...child, dependsOn: [booted] });
      // With acmeServer internal, the root of the droplet's own CA, for the readiness check: read
      // after each apply (the config that makes Caddy create it comes with the payload).
      dropletCaOutput = new command.remote.Command(`${name}-local-ca`, {
        connection,
        create: s.apply((settings) => localCaScript(settings.acme.directoryUrl)),
        triggers: [droplet.id, payloadHash],
      }, { ...child, dependsOn: [cloudInitDone] }).stdout;
    }
    if (shape.waitForReady) {
      const trust = pulumi.all([s, dropletCaOutput]).apply(([settings, dropletCa]) =>
        readinessTrust(settings.acme.directoryUrl, settings.extraCaCertificates, dropletCa));
      trust.apply((t) => t.unverified && pulumi.log.warn(`the readiness check does not verify the homeserver's certificate: ${t.unverified}`, this));
      new command.local.Command(`${name}-ready`, {
        create: `node ${path.relative(process.cwd(), path.join(READINESS_DIR, "wait-for-homeserver.mjs"))}`,
        environment: pulumi.all([s, reservedIp.ipAddress, timeoutSeconds, sshCommand, trust]).apply(([settings, ip, seconds, ssh, t]) => ({
          MATRIX_HOST: settings.matrixHost,
          MATRIX_ADDRESS: ip,
          MATRIX_PORT: String(HTTPS_PORT),
          MATRIX_DOMAIN: settings.serverName,
          MATRIX_TIMEOUT_SECONDS: seconds,
          MATRIX_SSH_COMMAND: ssh,
          // Only when there is something to say.
          ...(t.caCertificates ? { MATRIX_CA_CERTIFICATES: t.caCertificates } : {}),
          ...(t.unverified ? { MATRIX_UNVERIFIED: t.unverified } : {}),
        })),
        // Checked again after every change applied in place, too.
        triggers: inPlace ? [droplet.id, payloadHash] : [droplet.id],
      }, { ...child, dependsOn: cloudInitDone ? [...deployed, cloudInitDone] : deployed });
    }

    this.homeserverUrl = pulumi.interpolate`https://${s.matrixHost}`;
    this.elementUrl = pulumi.interpolate`https://${s.elementHost}`;
    this.serverName = s.serverName;
    this.adminUserId = pulumi.interpolate`@${s.adminUser}:${s.serverName}`;
    this.adminPassword = secrets.adminPassword;
    this.reservedIp = reservedIp.ipAddress;
    this.sshCommand = sshCommand;
    this.dropletId = droplet.id;
    this.volumeId = volume.id;
    this.sshHostKey = secrets.sshHostPublicKey;
    this.backupPassword = secrets.backupPassword;

    this.registerOutputs({
      homeserverUrl: this.homeserverUrl,
      elementUrl: this.elementUrl,
      serverName: this.serverName,
      adminUserId: this.adminUserId,
      adminPassword: this.adminPassword,
      reservedIp: this.reservedIp,
      sshCommand: this.sshCommand,
      dropletId: this.dropletId,
      volumeId: this.volumeId,
      sshHostKey: this.sshHostKey,
      backupPassword: this.backupPassword,
    });
  }
}

/** The settings with the authorization service's SHA-256 the first deploy took (settings leave it empty then). */
function withAuthServiceSha256(settings: Settings, sha256: string): Settings {
  const rtc = settings.matrixRtc!;
  return { ...settings, matrixRtc: { ...rtc, authService: { ...rtc.authService, sha256 } } };
}

const SECRET_ARGS = (Object.keys(ARG_KINDS) as (keyof MatrixServerArgs)[]).filter((key) => ARG_KINDS[key] === "secret");

/**
 * Validate the args. Every argument whose value is known (not an Output) is checked here,
 * before any resource is declared, and so is every rule between known arguments; arguments
 * that are Outputs are checked, with the rest, once they resolve.
 */
function resolveAll(args: MatrixServerArgs): pulumi.Output<Resolved> {
  // A secret enters the checks only as "[secret]" (it is set), or as itself when plain and not a
  // string (for the type check, which never shows a secret's value): never in the settings.
  const settingsArgs: Record<string, unknown> = { ...args };
  for (const key of SECRET_ARGS) {
    const secret = args[key];
    if (secret !== undefined) settingsArgs[key] = typeof secret === "string" || knownValue(secret) === undefined ? "[secret]" : secret;
  }
  const known: Record<string, unknown> = {};
  const unknown: (keyof MatrixServerArgs)[] = [];
  for (const [key, value] of Object.entries(settingsArgs)) {
    const plain = knownValue(value);
    if (plain === undefined && value !== undefined) unknown.push(key as keyof MatrixServerArgs);
    else known[key] = plain;
  }
  const resolved = resolveKnown(known as PlainArgs, unknown);
  if (resolved) return pulumi.output(resolved);
  return pulumi.output(settingsArgs as pulumi.Inputs).apply((all) => resolveArgs(all as PlainArgs));
}

/** A secret argument, type-checked when it resolves (a plain one is checked up front, with the rest). */
function secretArg(key: keyof MatrixServerArgs, value: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.secret(pulumi.output(value).apply((secret) => {
    const problem = typeProblem(key, secret);
    if (problem) throw new SettingsError([problem]);
    return secret;
  }));
}

/** The value itself when it (and everything inside it) is already known; else undefined. */
function knownValue(value: unknown): unknown {
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return undefined;
  if (Array.isArray(value)) {
    const items = value.map(knownValue);
    return items.some((item, i) => item === undefined && value[i] !== undefined) ? undefined : items;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).map(([k, v]) => [k, knownValue(v), v] as const);
    if (entries.some(([, known, raw]) => known === undefined && raw !== undefined)) return undefined;
    return Object.fromEntries(entries.map(([k, known]) => [k, known]));
  }
  return value;
}
