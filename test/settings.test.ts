/** Validation and defaults: every class of bad input gets one error naming the key. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import * as pulumi from "@pulumi/pulumi";
import { ARG_KINDS, ArgKind, DEFAULTS, PlainArgs, SettingsError, deployKeyPairProblem, resolveArgs, resolveKnown, resolveShape, rtcAuthShaSource } from "../components/settings";
import { LIVEKIT_RELEASE, RTC_AUTH_RELEASE, RTC_AUTH_VERSION, SYNAPSE_VERSIONS } from "../cloud-init/versions";
import { UNSET_KEYS } from "../components/stackConfig";
import { TEST_DEPLOY_KEY, VALID_ARGS } from "./fixtures";
import { md5Fingerprint, parsePublicKey, publicKeyOfPrivate } from "../components/sshKeys";

function problemsFor(overrides: Partial<PlainArgs>): string[] {
  try {
    resolveArgs({ ...VALID_ARGS, ...overrides } as PlainArgs);
  } catch (error) {
    assert.ok(error instanceof SettingsError, `expected SettingsError, got ${error}`);
    return error.problems;
  }
  assert.fail("expected the settings to be rejected");
}

/** Each case: the override, and the key the single error must name. */
const BAD_INPUT: [string, Partial<PlainArgs>, string][] = [
  ["a malformed domain", { domain: "not a domain" }, "domain"],
  ["a domain with a trailing dot", { domain: "example.org." }, "domain"],
  ["an uppercase domain", { domain: "Example.org" }, "domain"],
  ["a single-label domain", { domain: "localhost" }, "domain"],
  ["a bad email", { adminEmail: "admin-at-example.org" }, "adminEmail"],
  ["no SSH key", { sshKeys: [] }, "sshPublicKey"],
  ["a private key as sshPublicKey", { sshPublicKey: TEST_DEPLOY_KEY.privateKey }, "sshPublicKey"],
  ["a public key cut short", { sshPublicKey: TEST_DEPLOY_KEY.publicKey.slice(0, 60) }, "sshPublicKey"],
  ["a public key of a type DigitalOcean refuses", { sshPublicKey: "ssh-dss AAAAB3NzaC1kc3MAAACBAP" }, "sshPublicKey"],
  ["a malformed SSH key fingerprint", { sshKeys: ["3b:16:bf"] }, "sshKeys"],
  ["an unknown region", { region: "mars1" }, "region"],
  ["an unknown size", { size: "s-1vcpu-3gb" }, "size"],
  ["a size below 1 GB", { size: "s-1vcpu-512mb-10gb" }, "size"],
  ["a non-Debian-13 image", { image: "ubuntu-24-04-x64" }, "image"],
  ["a bad CIDR", { sshAllowCidrs: ["10.0.0.0/33"] }, "sshAllowCidrs"],
  ["an address without prefix", { sshAllowCidrs: ["203.0.113.7"] }, "sshAllowCidrs"],
  ["a malformed Synapse version", { synapseVersion: "latest" }, "synapseVersion"],
  ["a Synapse version without a lock", { synapseVersion: "1.0.0" }, "synapseVersion"],
  ["a malformed Element version", { elementVersion: "v1.12" }, "elementVersion"],
  ["a zero volume", { volumeSizeGb: 0 }, "volumeSizeGb"],
  ["a fractional upload limit", { maxUploadMb: 1.5 }, "maxUploadMb"],
  ["a bad admin localpart", { adminUser: "Admin User" }, "adminUser"],
  ["the same subdomain twice", { elementSubdomain: "matrix" }, "elementSubdomain"],
  ["a subdomain with a dot", { matrixSubdomain: "a.b" }, "matrixSubdomain"],
  ["an unknown ACME server", { acmeServer: "zerossl" }, "acmeServer"],
  ["a plain-http ACME directory", { acmeServer: "http://localhost:14000/dir" }, "acmeServer"],
  ["a bad CAA issuer", { caaIssuer: "lets encrypt" }, "caaIssuer"],
  ["a bad private federation CIDR", { privateFederationCidrs: ["10.0.0.0"] }, "privateFederationCidrs"],
  ["a value that is not a PEM certificate", { extraCaCertificates: ["hello"] }, "extraCaCertificates"],
  ["a short key fingerprint", { elementKeyFingerprint: "ABCD" }, "elementKeyFingerprint"],
  ["a plain-http Element mirror", { elementDownloadBase: "http://mirror.example.org" }, "elementDownloadBase"],
  ["a timeout out of range", { readyTimeoutMinutes: 0 }, "readyTimeoutMinutes"],
  ["a deploy key path with a space", { sshPrivateKey: "[secret]", sshKeyFile: "~/my keys/deploy" }, "sshKeyFile"],
  ["open registration", { registration: "open" }, "registration"],
  ["SMTP on port 25", { smtpHost: "smtp.example.org", smtpPort: 25 }, "smtpPort"],
  ["a bad SMTP host", { smtpHost: "smtp example" }, "smtpHost"],
  ["a bad sender", { smtpHost: "smtp.example.org", emailFrom: "Matrix" }, "emailFrom"],
  ["zero-day media retention", { localMediaRetentionDays: 0 }, "localMediaRetentionDays"],
  ["fractional room retention", { forgottenRoomRetentionDays: 1.5 }, "forgottenRoomRetentionDays"],
  ["a backup time without minutes", { backupTime: "3" }, "backupTime"],
  ["a backup time past midnight", { backupTime: "24:00" }, "backupTime"],
  ["no daily backups kept", { backupKeepDaily: 0 }, "backupKeepDaily"],
  ["a bucket name with capitals", { spacesBucket: "Chat", spacesAccessKeyId: "DO00EXAMPLEKEY", spacesSecretKey: "[secret]" }, "spacesBucket"],
  ["a bucket in a region without Spaces", { region: "nyc1", spacesBucket: "chat-backups", spacesAccessKeyId: "DO00EXAMPLEKEY", spacesSecretKey: "[secret]" }, "spacesRegion"],
  ["a plain-http S3 endpoint", { spacesBucket: "chat-backups", spacesAccessKeyId: "DO00EXAMPLEKEY", spacesSecretKey: "[secret]", spacesEndpoint: "http://s3.example.org" }, "spacesEndpoint"],
  ["an unknown droplet backup plan", { dropletBackups: "hourly" }, "dropletBackups"],
  ["a bad alert address", { alertEmails: ["ops"] }, "alertEmails"],
  ["no alert address", { alertEmails: [] }, "alertEmails"],
  ["TURN as a string", { turn: "yes" as unknown as boolean }, "turn"],
  ["TURN's name taken by Element", { turn: true, elementSubdomain: "turn" }, "elementSubdomain"],
  ["MatrixRTC's name taken by Synapse", { matrixRtc: true, rtcAuthServiceSha256: "a".repeat(64), matrixSubdomain: "rtc" }, "matrixSubdomain"],
  ["a SHA-256 that is not one", { matrixRtc: true, rtcAuthServiceSha256: "sha256:abc" }, "rtcAuthServiceSha256"],
  ["a LiveKit SHA-256 cut short", { matrixRtc: true, rtcAuthServiceSha256: "a".repeat(64), livekitSha256: "a".repeat(63) }, "livekitSha256"],
  ["LiveKit from plain http", { matrixRtc: true, rtcAuthServiceSha256: "a".repeat(64), livekitUrl: "http://mirror.example.org/livekit.tar.gz" }, "livekitUrl"],
  ["tags as one string", { tags: "prod" as never }, "tags"],
  ["a number as a string", { volumeSizeGb: "50" as never }, "volumeSizeGb"],
  ["a numeric SSH key ID as a number", { sshKeys: [12345] as never }, "sshKeys"],
  ["a key MatrixServer does not have", { tag: ["prod"] } as never, "tag"],
];

/** Each case: settings that mean nothing without another one; the single error names both. */
const DEPENDENT: [Partial<PlainArgs>, string, string][] = [
  [{ smtpPort: 2525 }, "smtpPort", "smtpHost"],
  [{ smtpUser: "me" }, "smtpUser", "smtpHost"],
  [{ smtpPassword: "[secret]" }, "smtpPassword", "smtpHost"],
  [{ emailFrom: "chat@example.test" }, "emailFrom", "smtpHost"],
  [{ smtpHost: "smtp.example.org", smtpPassword: "[secret]" }, "smtpPassword", "smtpUser"],
  [{ smtpHost: "smtp.example.org", smtpUser: "me" }, "smtpPassword", "smtpUser"],
  [{ spacesRegion: "fra1" }, "spacesRegion", "spacesBucket"],
  [{ spacesAccessKeyId: "DO00EXAMPLEKEY" }, "spacesAccessKeyId", "spacesBucket"],
  [{ spacesSecretKey: "[secret]" }, "spacesSecretKey", "spacesBucket"],
  [{ spacesEndpoint: "https://s3.example.org" }, "spacesEndpoint", "spacesBucket"],
  [{ spacesBucket: "chat-backups", spacesSecretKey: "[secret]" }, "spacesAccessKeyId", "spacesBucket"],
  [{ spacesBucket: "chat-backups", spacesAccessKeyId: "DO00EXAMPLEKEY" }, "spacesSecretKey", "spacesBucket"],
  [{ spacesBucket: "chat-backups", spacesAccessKeyId: "DO00EXAMPLEKEY", spacesSecretKey: "[secret]", spacesEndpoint: "https://s3.example.org", spacesRegion: "fra1" },
    "spacesRegion", "spacesEndpoint"],
  [{ alerts: false, alertEmails: ["ops@example.test"] }, "alertEmails", "alerts"],
  [{ waitForReady: false, readyTimeoutMinutes: 30 }, "readyTimeoutMinutes", "waitForReady"],
  [{ sshKeyFile: "~/.ssh/chat" }, "sshKeyFile", "sshPrivateKey"],
];

/** A value of the wrong type for each kind, and what the error says the kind expects. */
const WRONG_TYPE: Record<ArgKind, [unknown, string]> = {
  string: [42, "a string"],
  secret: [42, "a string"],
  integer: ["50", "a number"],
  boolean: ["true", "true or false"],
  presence: ["auto", "true or false"],
  list: ["x", "a list of strings"],
};

describe("settings validation", () => {
  for (const [what, overrides, key] of BAD_INPUT) {
    it(`rejects ${what} with one error naming '${key}'`, () => {
      const problems = problemsFor(overrides);
      assert.equal(problems.length, 1, problems.join("\n"));
      assert.match(problems[0], new RegExp(`^'${key}': expected `));
    });
  }

  for (const [key, kind] of Object.entries(ARG_KINDS)) {
    const [value, expected] = WRONG_TYPE[kind];
    it(`checks the type of '${key}': ${expected}`, () => {
      const problems = problemsFor({ [key]: value });
      assert.equal(problems.length, 1, problems.join("\n"));
      assert.match(problems[0], new RegExp(`^'${key}': expected ${expected}, got `));
    });
  }

  it("says what a mistyped value should look like: a list for a string, a number without quotes", () => {
    assert.deepEqual(problemsFor({ tags: "prod" as never }), [`'tags': expected a list of strings, got the string "prod"; write a list: ["prod"]`]);
    assert.deepEqual(problemsFor({ volumeSizeGb: "50" as never }), [`'volumeSizeGb': expected a number, got the string "50"; write the number without quotes: 50`]);
  });

  /** Each: the override, and the fix the one problem must end with. */
  const HINTS: [Partial<PlainArgs> | Record<string, unknown>, string][] = [
    [{ domain: "https://example.org/" }, "drop https://: write just the domain, example.org"],
    [{ domain: "Example.org." }, "write just the domain, example.org"],
    [{ region: "NYC3" }, "did you mean nyc3?"],
    [{ region: "fra2" }, "did you mean fra1?"],
    [{ size: "s-1vcpu-2g" }, "did you mean s-1vcpu-2gb?"],
    [{ sshAllowCidrs: ["203.0.113.7"] }, "a single address is 203.0.113.7/32"],
    [{ privateFederationCidrs: ["2001:db8::1"] }, "a single address is 2001:db8::1/128"],
    [{ adminUser: "@admin:example.org" }, "just the name, e.g. admin"],
    [{ registration: "tokens" }, "did you mean token?"],
    [{ acmeServer: "letsencrypt-stagging" }, "did you mean letsencrypt-staging?"],
    [{ adminEmial: "me@example.org" }, "did you mean adminEmail?"],
  ];
  for (const [overrides, fix] of HINTS) {
    it(`hints at what ${JSON.stringify(overrides)} meant: "${fix}"`, () => {
      const problems = problemsFor(overrides as Partial<PlainArgs>);
      assert.equal(problems.length, 1, problems.join("\n"));
      assert.ok(problems[0].endsWith(`; ${fix}`), problems[0]);
    });
  }

  it("gives no hint where nothing is plainly meant", () => {
    for (const overrides of [{ region: "mars1" }, { domain: "not a domain" }, { adminUser: "Ädmin!" }, { sshAllowCidrs: ["10.0.0.0/33"] }]) {
      const [problem] = problemsFor(overrides as Partial<PlainArgs>);
      assert.doesNotMatch(problem, /did you mean|drop |single address|just the name|just the domain/, problem);
    }
  });

  it("never shows a secret's value, even a mistyped one", () => {
    const [problem] = problemsFor({ smtpHost: "smtp.example.org", smtpUser: "me", smtpPassword: 73519 as never });
    assert.equal(problem, "'smtpPassword': expected a string, got a number");
  });

  for (const [overrides, key, other] of DEPENDENT) {
    it(`rejects ${Object.keys(overrides).join(" + ")} with one error on '${key}' that names ${other}`, () => {
      const problems = problemsFor(overrides);
      assert.equal(problems.length, 1, problems.join("\n"));
      assert.match(problems[0], new RegExp(`^'${key}': expected .*\\b${other}\\b`));
    });
  }

  it("accepts each dependent setting with the one it needs", () => {
    const { settings, cloud } = resolveArgs({ ...VALID_ARGS, smtpHost: "smtp.example.org", smtpPort: 465, smtpUser: "me", smtpPassword: "[secret]",
      emailFrom: "chat@example.test", alertEmails: ["ops@example.test"], readyTimeoutMinutes: 30 });
    assert.deepEqual(settings.synapse.email, { host: "smtp.example.org", port: 465, user: "me", from: "chat@example.test" });
    assert.deepEqual(cloud.alertEmails, ["ops@example.test"]);
    // Without the HTTPS check, the timeout still bounds the wait for cloud-init over SSH.
    assert.equal(resolveArgs({ ...VALID_ARGS, waitForReady: false, sshPrivateKey: "[secret]", readyTimeoutMinutes: 30 }).cloud.readyTimeoutMinutes, 30);
  });

  it("with some arguments unknown (Outputs), checks the others and every rule that reads none of the unknown", () => {
    const { domain: _, ...known } = VALID_ARGS;
    // Rules that read an unknown key wait: smtpPort needs smtpHost, the subdomains must differ.
    assert.equal(resolveKnown({ ...known, smtpPort: 2525, matrixSubdomain: "element" } as PlainArgs, ["domain", "smtpHost", "elementSubdomain"]), undefined);
    assert.throws(() => resolveKnown({ ...known, region: "mars1", tags: "prod" } as never, ["domain"]),
      (e: SettingsError) => e.problems.map((p) => p.split("'")[1]).sort().join() === "region,tags");
  });

  it("reports every bad key at once, in one error", () => {
    const problems = problemsFor({ domain: "x", region: "mars1", adminEmail: "nope" });
    assert.deepEqual(problems.map((p) => p.split("'")[1]).sort(), ["adminEmail", "domain", "region"]);
  });

  it("accepts the minimal config and fills every default", () => {
    const { settings, cloud, shape } = resolveArgs(VALID_ARGS);
    assert.equal(settings.serverName, "example.test");
    assert.equal(settings.matrixHost, "matrix.example.test");
    assert.equal(settings.elementHost, "element.example.test");
    assert.equal(settings.droplet.image, "debian-13-x64");
    assert.equal(settings.droplet.size, "s-1vcpu-1gb");
    assert.equal(settings.droplet.memoryMb, 1024);
    assert.equal(settings.droplet.swapMb, 1024);
    assert.equal(settings.synapse.version, SYNAPSE_VERSIONS[0]);
    assert.equal(settings.synapse.maxUploadMb, 50);
    assert.equal(settings.acme.directoryUrl, "https://acme-v02.api.letsencrypt.org/directory");
    assert.equal(settings.volume.device, "/dev/disk/by-id/scsi-0DO_Volume_matrix-example-test");
    assert.deepEqual(cloud.sshAllowCidrs, ["0.0.0.0/0", "::/0"]);
    assert.equal(shape.protectVolume, true);
    assert.deepEqual(cloud.dns, { zone: "example.test", hostRecords: { apex: "@", matrix: "matrix", element: "element" }, rtcRecord: "rtc" });
    assert.equal(cloud.caaIssuer, "letsencrypt.org");
    // Calls are on, and the authorization service's SHA-256 is taken on the first deploy.
    assert.equal(shape.matrixRtc, true);
    assert.equal(shape.rtcAuthPin, true);
    assert.deepEqual(cloud.rtcAuthPin, { url: RTC_AUTH_RELEASE.url, version: RTC_AUTH_VERSION });
    assert.deepEqual(settings.matrixRtc!.authService, { url: RTC_AUTH_RELEASE.url, sha256: "" }, "until the first deploy takes it");
  });

  it("the authorization service's SHA-256: a pin in versions.ts, else the user's, else the first deploy's", () => {
    const user = "a".repeat(64);
    const pinned = "b".repeat(64);
    assert.equal(rtcAuthShaSource(user, pinned), "versions");
    assert.equal(rtcAuthShaSource(undefined, pinned), "versions");
    assert.equal(rtcAuthShaSource(user, undefined), "setting");
    assert.equal(rtcAuthShaSource(undefined, undefined), "first-deploy");
    // The release in versions.ts today has none: the user's, else the first deploy's.
    const given = resolveArgs({ ...VALID_ARGS, rtcAuthServiceSha256: user });
    assert.equal(given.settings.matrixRtc!.authService.sha256, user);
    assert.equal(given.cloud.rtcAuthPin, undefined);
    assert.equal(given.shape.rtcAuthPin, false);
    assert.equal(resolveShape({ ...VALID_ARGS, rtcAuthServiceSha256: pulumi.output(user) }).rtcAuthPin, false, "an Output counts as given");
    // Another URL (a mirror, a newer version) is the one taken.
    assert.deepEqual(resolveArgs({ ...VALID_ARGS, rtcAuthServiceUrl: "https://mirror.example.org/v0.6.0/lk-jwt-service" }).cloud.rtcAuthPin,
      { url: "https://mirror.example.org/v0.6.0/lk-jwt-service", version: RTC_AUTH_VERSION });
    assert.equal(resolveShape({ ...VALID_ARGS, matrixRtc: false }).rtcAuthPin, false);
  });

  it("turns presence off below 4 GB and on from 4 GB, unless set", () => {
    assert.equal(resolveArgs({ ...VALID_ARGS, size: "s-1vcpu-2gb" }).settings.synapse.presence, false);
    assert.equal(resolveArgs({ ...VALID_ARGS, size: "s-2vcpu-4gb" }).settings.synapse.presence, true);
    assert.equal(resolveArgs({ ...VALID_ARGS, size: "s-1vcpu-1gb", presence: true }).settings.synapse.presence, true);
  });

  it("sizes PostgreSQL to the droplet's memory", () => {
    const small = resolveArgs({ ...VALID_ARGS, size: "s-1vcpu-1gb" }).settings.tuning.postgres!;
    const large = resolveArgs({ ...VALID_ARGS, size: "s-4vcpu-8gb" }).settings.tuning.postgres!;
    assert.equal(small.sharedBuffersMb, 64);
    assert.equal(resolveArgs({ ...VALID_ARGS, size: "s-1vcpu-2gb" }).settings.tuning.postgres!.sharedBuffersMb, 128);
    assert.equal(large.sharedBuffersMb, 1024);
    assert.ok(large.effectiveCacheSizeMb > small.effectiveCacheSizeMb);
  });

  it("maps letsencrypt-staging and accepts a custom https ACME directory", () => {
    assert.match(resolveArgs({ ...VALID_ARGS, acmeServer: "letsencrypt-staging" }).settings.acme.directoryUrl, /acme-staging-v02/);
    const custom = "https://127.0.0.1:14000/dir";
    assert.equal(resolveArgs({ ...VALID_ARGS, acmeServer: custom }).settings.acme.directoryUrl, custom);
  });

  it("builds the Element URLs from a mirror and the version", () => {
    const { element } = resolveArgs({ ...VALID_ARGS, elementDownloadBase: "https://mirror.example.org/element/", elementVersion: "1.12.29" }).settings;
    assert.equal(element.tarballUrl, "https://mirror.example.org/element/v1.12.29/element-v1.12.29.tar.gz");
    assert.equal(element.signatureUrl, `${element.tarballUrl}.asc`);
  });

  it("with MatrixRTC: rtc.<domain>, LiveKit's pinned release, the authorization service at the SHA-256 given; none of it when off", () => {
    const sha = "AB".repeat(32);
    const { settings, cloud, shape } = resolveArgs({ ...VALID_ARGS, matrixRtc: true, rtcAuthServiceSha256: ` ${sha} ` });
    assert.deepEqual(settings.matrixRtc, {
      host: "rtc.example.test",
      livekit: { url: LIVEKIT_RELEASE.url, sha256: LIVEKIT_RELEASE.sha256 },
      authService: { url: RTC_AUTH_RELEASE.url, sha256: sha.toLowerCase() },
    });
    assert.equal(shape.matrixRtc, true);
    assert.equal(cloud.dns.rtcRecord, "rtc");
    assert.deepEqual(cloud.rtcPorts, { tcp: 7881, udp: 7882 });
    const mirrored = resolveArgs({ ...VALID_ARGS, matrixRtc: true, rtcAuthServiceSha256: sha, rtcAuthServiceUrl: "https://mirror.example.org/lk-jwt-service",
      livekitUrl: "https://mirror.example.org/livekit.tar.gz", livekitSha256: "c".repeat(64) }).settings.matrixRtc!;
    assert.deepEqual([mirrored.livekit, mirrored.authService.url], [{ url: "https://mirror.example.org/livekit.tar.gz", sha256: "c".repeat(64) }, "https://mirror.example.org/lk-jwt-service"]);
    // Off, a pin given earlier stays in the config and does nothing.
    const off = resolveArgs({ ...VALID_ARGS, matrixRtc: false, rtcAuthServiceSha256: sha });
    assert.equal(off.settings.matrixRtc, undefined);
    assert.equal(off.shape.matrixRtc, false);
    assert.equal(off.cloud.dns.rtcRecord, undefined);
    assert.equal(off.cloud.rtcPorts, undefined);
  });

  it("takes sshPublicKey instead of sshKeys (the stack adds it to the account), or besides them", () => {
    const { sshKeys, ...rest } = VALID_ARGS;
    const alone = resolveArgs({ ...rest, sshPublicKey: `${TEST_DEPLOY_KEY.publicKey}\r\n` });
    // Handed on without its comment: a new comment is not a new key (DigitalOcean would refuse the "replacement").
    const withoutComment = TEST_DEPLOY_KEY.publicKey.split(" ").slice(0, 2).join(" ");
    assert.deepEqual([alone.cloud.sshKeys, alone.cloud.sshPublicKey, alone.shape.deployKey], [[], withoutComment, true]);
    assert.equal(resolveArgs({ ...rest, sshPublicKey: `${withoutComment} other-comment` }).cloud.sshPublicKey, withoutComment);
    const both = resolveArgs({ ...VALID_ARGS, sshPublicKey: TEST_DEPLOY_KEY.publicKey });
    assert.deepEqual(both.cloud.sshKeys, sshKeys);
    assert.equal(resolveArgs(VALID_ARGS).shape.deployKey, false);
    const none = problemsFor({ sshKeys: undefined });
    assert.match(none.join("\n"), /^'sshPublicKey': expected a key that may log in as root: .*; pulumi config set sshPublicKey "\$\(cat ~\/\.ssh\/matrix-deploy\.pub\)"$/);
  });

  it("reads an OpenSSH key pair's halves: the public half inside the private key, and the MD5 fingerprint DigitalOcean lists", () => {
    const publicKey = parsePublicKey(TEST_DEPLOY_KEY.publicKey);
    assert.ok(typeof publicKey !== "string", String(publicKey));
    assert.deepEqual(publicKeyOfPrivate(TEST_DEPLOY_KEY.privateKey), publicKey);
    assert.equal(md5Fingerprint(publicKey), TEST_DEPLOY_KEY.md5Fingerprint);
    assert.equal(publicKeyOfPrivate("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"), undefined, "other formats: not read");
  });

  it("an sshPrivateKey that is not sshPublicKey's other half is one error naming both (checked when the secret resolves)", () => {
    const cloud = { sshKeys: [], sshPublicKey: TEST_DEPLOY_KEY.publicKey };
    assert.equal(deployKeyPairProblem(TEST_DEPLOY_KEY.privateKey, cloud), undefined);
    assert.match(deployKeyPairProblem(TEST_DEPLOY_KEY.privateKey, { ...cloud, sshPublicKey: TEST_DEPLOY_KEY.otherPublicKey }) ?? "",
      /^'sshPrivateKey': expected the private half of sshPublicKey \(the deploy key\), got that of another key pair; set both from one pair/);
    // The same key with its base64's padding lost in a copy, or another comment: the same key.
    const ecdsa = { sshKeys: [], sshPublicKey: TEST_DEPLOY_KEY.ecdsaPublicKey.replace(/=( |$)/, "$1").replace(/ [^ ]+$/, " another-comment") };
    assert.notEqual(ecdsa.sshPublicKey.split(" ")[1], TEST_DEPLOY_KEY.ecdsaPublicKey.split(" ")[1], "the copy lost its padding");
    assert.equal(deployKeyPairProblem(TEST_DEPLOY_KEY.ecdsaPrivateKey, ecdsa), undefined);
    // A passphrase: refused whatever the keys (pulumi up has nobody to type it).
    for (const keys of [cloud, { sshKeys: ["12345"] }]) {
      assert.match(deployKeyPairProblem(TEST_DEPLOY_KEY.passphrasePrivateKey, keys) ?? "",
        /^'sshPrivateKey': expected a key without a passphrase \(pulumi up uses it unattended\), got one with a passphrase; .*ssh-keygen -p -N '' -f ~\/\.ssh\/matrix-deploy$/);
    }
    // With sshKeys, the private key may be one of theirs: nothing to compare it with here.
    assert.equal(deployKeyPairProblem(TEST_DEPLOY_KEY.privateKey, { sshKeys: ["12345"], sshPublicKey: TEST_DEPLOY_KEY.otherPublicKey }), undefined);
  });

  it("accepts IPv6 CIDRs and numeric SSH key IDs", () => {
    const { cloud } = resolveArgs({ ...VALID_ARGS, sshKeys: ["12345678"], sshAllowCidrs: ["2001:db8::/32", "198.51.100.0/24"] });
    assert.deepEqual(cloud.sshKeys, ["12345678"]);
    assert.deepEqual(cloud.sshAllowCidrs, ["2001:db8::/32", "198.51.100.0/24"]);
  });

  it("builds the off-site repository from the bucket, the region (or the droplet's) and the domain", () => {
    const spaces = { spacesBucket: "chat-backups", spacesAccessKeyId: "DO00EXAMPLEKEY", spacesSecretKey: "[secret]" };
    const { settings } = resolveArgs({ ...VALID_ARGS, region: "ams3", ...spaces });
    assert.deepEqual(settings.backups.offsite, { repository: "s3:https://ams3.digitaloceanspaces.com/chat-backups/example.test", accessKeyId: "DO00EXAMPLEKEY" });
    const elsewhere = resolveArgs({ ...VALID_ARGS, region: "nyc1", spacesRegion: "fra1", ...spaces }).settings;
    assert.equal(elsewhere.backups.offsite!.repository, "s3:https://fra1.digitaloceanspaces.com/chat-backups/example.test");
    const custom = resolveArgs({ ...VALID_ARGS, spacesEndpoint: "https://s3.example.org/", ...spaces }).settings;
    assert.equal(custom.backups.offsite!.repository, "s3:https://s3.example.org/chat-backups/example.test");
    assert.equal(resolveArgs(VALID_ARGS).settings.backups.offsite, undefined, "off unless a bucket is named");
  });
});

describe("defaults", () => {
  const project = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8")) as { config: Record<string, { default?: unknown }> };
  /** Pulumi.yaml's defaults, but for the "unset" ones of keys without a default. */
  const declared = Object.fromEntries(
    Object.entries(project.config).filter(([key, spec]) => spec.default !== undefined && !(UNSET_KEYS as string[]).includes(key)).map(([key, spec]) => [key, spec.default]),
  );
  /** What a default needs to take effect: the SMTP port is used only with a relay. */
  // Where a default takes effect only with another setting.
  const calls = { matrixRtc: true, rtcAuthServiceSha256: "a".repeat(64) };
  const CONTEXT: Partial<Record<string, Partial<PlainArgs>>> = {
    smtpPort: { smtpHost: "smtp.example.org" }, livekitUrl: calls, livekitSha256: calls, rtcAuthServiceUrl: calls,
    sshKeyFile: { sshPrivateKey: "[secret]" },
  };

  it("Pulumi.yaml declares a default for every setting the component defaults", () => {
    assert.deepEqual(Object.keys(declared).sort(), Object.keys(DEFAULTS).sort());
  });

  for (const [key, value] of Object.entries(declared)) {
    it(`an omitted ${key} gets what Pulumi.yaml declares: ${JSON.stringify(value)}`, () => {
      const args = { ...VALID_ARGS, ...CONTEXT[key] };
      assert.deepEqual(resolveArgs(args), resolveArgs({ ...args, [key]: value }));
    });
  }
});
