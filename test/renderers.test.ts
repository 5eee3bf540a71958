/** The pure renderers: what the payload says, file by file, and how values are quoted. */
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as YAML from "yaml";
import { token } from "../cloud-init/caddyfile";
import { renderEnvFile, renderPostgresConf, renderUnit } from "../cloud-init/formats";
import { PATHS } from "../cloud-init/paths";
import { MATRIXCTL_TOKEN_PATH, formatSigningKey } from "../cloud-init/synapse";
import { wellKnownClient } from "../cloud-init/caddy";
import { Secrets, Settings } from "../cloud-init/settings";
import { STOCK_TUNING } from "../components/tuning";
import { renderFiles, renderUserData } from "../cloud-init/userData";
import { DEBIAN_PACKAGES, POSTGRESQL_MAJOR, readSynapseLock } from "../cloud-init/versions";
import { VALID_ARGS, fileIn, matrixRtcFor, run, scratchDir, settingsFor, testSecrets } from "./fixtures";
import { resolveArgs } from "../components/settings";

/** The secret strings in Secrets (the signing key's seed; the host key's private half). */
function secretValues(secrets: Secrets): string[] {
  const { signingKey, sshHostKey, ...plain } = secrets;
  return [...Object.values(plain) as string[], signingKey.split(" ")[2], sshHostKey.privateKey];
}

const secrets = testSecrets();
const userData = renderUserData(settingsFor(), secrets);
const homeserver = YAML.parse(fileIn(userData, `${PATHS.synapseConfD}/00-homeserver.yaml`));

describe("Synapse config", () => {
  it("listens on Unix sockets only: Caddy's (X-Forwarded-For trusted), root's admin socket (matrixctl's token on it alone), root's metrics", () => {
    const [client, admin, metrics] = homeserver.listeners;
    for (const listener of homeserver.listeners) {
      assert.equal(listener.port, undefined, "no port any local account could reach");
      assert.equal(listener.bind_addresses, undefined);
    }
    assert.deepEqual(client, { path: PATHS.synapseClientSocket, mode: 0o660, type: "http", x_forwarded: true, resources: [{ names: ["client", "federation"], compress: false }] });
    assert.equal(admin.path, PATHS.synapseAdminSocket);
    assert.equal(admin.mode, 0o600);
    assert.equal(admin.x_forwarded, false);
    assert.deepEqual(Object.keys(admin.additional_resources), [MATRIXCTL_TOKEN_PATH]);
    assert.deepEqual(admin.additional_resources[MATRIXCTL_TOKEN_PATH], { module: "matrixctl_token.MatrixctlToken", config: { user: "@matrixctl:example.test" } });
    assert.deepEqual(metrics, { path: PATHS.synapseMetricsSocket, mode: 0o600, type: "http", x_forwarded: false, resources: [{ names: ["metrics"], compress: false }] });
    assert.equal(homeserver.enable_metrics, true);
    // The sockets' directory: setgid, Caddy's group, nobody else's.
    assert.match(fileIn(userData, PATHS.synapseTmpfiles), /^d \/run\/synapse 2750 synapse caddy - -$/m);
    assert.match(fileIn(userData, "/etc/systemd/system/matrix-synapse.service"), /^ReadWritePaths=\/var\/lib\/synapse \/run\/synapse$/m);
  });

  it("has no registration shared secret: no secret in the user data makes an account", () => {
    const secretsFragment = YAML.parse(fileIn(userData, `${PATHS.synapseConfD}/10-secrets.yaml`));
    assert.equal("registration_shared_secret" in secretsFragment, false);
    assert.equal("registration_shared_secret" in homeserver, false);
    assert.equal("modules" in homeserver, false);
  });

  it("uses real booleans: registration closed, guests off, URL previews off, presence off below 4 GB", () => {
    assert.equal(homeserver.enable_registration, false);
    assert.equal(homeserver.allow_guest_access, false, "a boolean, not the string 'False' (truthy) of the 1-Click");
    assert.equal(homeserver.url_preview_enabled, false);
    assert.deepEqual(homeserver.presence, { enabled: false });
    assert.equal(homeserver.report_stats, false);
  });

  it("opens sign-up to registration-token holders only, with Element showing it, when registration is token", () => {
    assert.equal("registration_requires_token" in homeserver, false);
    const withTokens = settingsFor({ registration: "token" });
    const payload = renderUserData(withTokens, secrets);
    const config = YAML.parse(fileIn(payload, `${PATHS.synapseConfD}/00-homeserver.yaml`));
    assert.equal(config.enable_registration, true);
    assert.equal(config.registration_requires_token, true);
    assert.equal(JSON.parse(fileIn(payload, PATHS.elementConfig)).setting_defaults["UIFeature.registration"], true);
    assert.equal(JSON.parse(fileIn(payload, PATHS.matrixctlConfig)).registrationByToken, true);
  });

  it("sends mail only when a relay is set, TLS required, the password only in the secrets fragment", () => {
    assert.equal("email" in homeserver, false);
    const withMail = settingsFor({ smtpHost: "smtp.example.org", smtpUser: "me", smtpPassword: "[secret]" });
    const payload = renderUserData(withMail, { ...secrets, smtpPassword: "relay-secret" });
    const main = YAML.parse(fileIn(payload, `${PATHS.synapseConfD}/00-homeserver.yaml`));
    assert.deepEqual(main.email, {
      smtp_host: "smtp.example.org", smtp_port: 587, smtp_user: "me", force_tls: false, require_transport_security: true,
      notif_from: "Matrix <noreply@example.test>", app_name: "Matrix", enable_notifs: true, client_base_url: "https://element.example.test",
    });
    assert.ok(!JSON.stringify(main).includes("relay-secret"));
    const secret = YAML.parse(fileIn(payload, `${PATHS.synapseConfD}/10-secrets.yaml`));
    assert.deepEqual(secret.email, { ...main.email, smtp_pass: "relay-secret" }, "the whole block: Synapse merges files per top-level key");
    const implicitTls = YAML.parse(fileIn(renderUserData(settingsFor({ smtpHost: "smtp.example.org", smtpPort: 465 }), secrets), `${PATHS.synapseConfD}/00-homeserver.yaml`));
    assert.equal(implicitTls.email.force_tls, true);
  });

  it("purges old media and forgotten rooms only when asked to", () => {
    assert.equal("media_retention" in homeserver, false);
    assert.equal("forgotten_room_retention_period" in homeserver, false);
    const config = YAML.parse(fileIn(renderUserData(settingsFor({ localMediaRetentionDays: 365, remoteMediaRetentionDays: 30, forgottenRoomRetentionDays: 7 }), secrets),
      `${PATHS.synapseConfD}/00-homeserver.yaml`));
    assert.deepEqual(config.media_retention, { local_media_lifetime: "365d", remote_media_lifetime: "30d" });
    assert.equal(config.forgotten_room_retention_period, "7d");
  });

  it("lets federation reach private networks only when asked to", () => {
    assert.equal("ip_range_whitelist" in homeserver, false);
    const allowing = YAML.parse(fileIn(renderUserData(settingsFor({ privateFederationCidrs: ["10.10.0.0/16"] }), secrets), `${PATHS.synapseConfD}/00-homeserver.yaml`));
    assert.deepEqual(allowing.ip_range_whitelist, ["10.10.0.0/16"]);
  });

  it("names the server and its public URL, and drops the 1-Click's dead keys", () => {
    assert.equal(homeserver.server_name, "example.test");
    assert.equal(homeserver.public_baseurl, "https://matrix.example.test/");
    assert.equal(homeserver.max_upload_size, "50M");
    for (const dead of ["trusted_third_party_id_servers", "enable_group_creation", "expire_access_token"]) {
      assert.equal(dead in homeserver, false, dead);
    }
  });

  it("keeps secrets out of the main fragment", () => {
    const main = fileIn(userData, `${PATHS.synapseConfD}/00-homeserver.yaml`);
    for (const key of ["registration_shared_secret", "macaroon_secret_key", "form_secret", "database"]) {
      assert.equal(key in homeserver, false, key);
    }
    assert.ok(!main.includes(secrets.postgresPassword));
    const secretFragment = YAML.parse(fileIn(userData, `${PATHS.synapseConfD}/10-secrets.yaml`));
    assert.equal(secretFragment.database.args.password, secrets.postgresPassword);
    assert.equal(secretFragment.database.args.host, "127.0.0.1");
  });

  it("runs under systemd as its own user, restarted always, with jemalloc", () => {
    const unit = fileIn(userData, "/etc/systemd/system/matrix-synapse.service");
    assert.match(unit, /^User=synapse$/m);
    assert.match(unit, /^Restart=always$/m);
    assert.match(unit, /^Environment=LD_PRELOAD=\/usr\/lib\/x86_64-linux-gnu\/libjemalloc\.so\.2$/m);
    assert.match(unit, /^ExecStart=\/opt\/synapse\/current\/bin\/python -m synapse\.app\.homeserver --config-path=\/etc\/synapse\/conf\.d$/m);
  });

  it("ships the hash-pinned lock of the chosen release", () => {
    const lock = fileIn(userData, PATHS.synapseRequirements);
    assert.equal(lock, readSynapseLock(settingsFor().synapse.version));
    assert.match(lock, new RegExp(`^matrix-synapse==${settingsFor().synapse.version.replace(/\./g, "\\.")} \\\\$`, "m"));
    // Synapse's redis extra, which its workers need.
    for (const extra of ["txredisapi", "hiredis"]) assert.match(lock, new RegExp(`^${extra}==`, "m"), extra);
    const pins = lock.split("\n").filter((l) => /^[a-z0-9]/.test(l));
    assert.ok(pins.length > 30);
    for (const pin of pins) assert.match(pin, /^[a-z0-9-]+==[0-9][^ ]* \\$/, "exact pins only");
    assert.equal((lock.match(/--hash=sha256:[0-9a-f]{64}/g) ?? []).length >= pins.length, true);
  });
});

describe("the payload as a whole", () => {
  it("is the same for the same inputs, so a second `pulumi up` replaces nothing", () => {
    assert.equal(renderUserData(settingsFor(), secrets), userData);
  });

  it("puts no secret into a world-readable file", () => {
    const files = renderFiles(settingsFor(), secrets);
    const values = secretValues(secrets);
    for (const file of files) {
      const worldReadable = (parseInt(file.permissions, 8) & 0o004) !== 0;
      const leaked = values.filter((v) => file.content.includes(v));
      if (worldReadable) assert.deepEqual(leaked, [], `${file.path} (${file.permissions}) holds a secret`);
    }
    const secretFiles = files.filter((f) => values.some((v) => f.content.includes(v))).map((f) => `${f.path} ${f.permissions}`);
    assert.deepEqual(secretFiles.sort(), [
      "/etc/matrix/backup-password 0600",
      "/etc/matrix/postgres-setup.sql 0600",
      "/etc/matrix/rtc/livekit-keys.yaml 0600",
      "/etc/matrix/rtc/livekit-secret 0600",
      "/etc/synapse/admin-password 0600",
      "/etc/synapse/conf.d/10-secrets.yaml 0640",
      "/etc/synapse/signing.key 0640",
    ]);
  });

  it("installs Debian's packages, turns password SSH off and runs the bootstrap", () => {
    const doc = YAML.parse(userData);
    assert.deepEqual(doc.packages, DEBIAN_PACKAGES);
    assert.ok(doc.packages.includes(`postgresql-${POSTGRESQL_MAJOR}`));
    assert.equal(doc.package_upgrade, true);
    assert.equal(doc.ssh_pwauth, false);
    assert.deepEqual(doc.runcmd.at(-1), ["/usr/local/lib/matrix/bootstrap.sh"]);
    assert.match(fileIn(userData, "/etc/ssh/sshd_config.d/50-matrix-do.conf"), /^PasswordAuthentication no$/m);
    assert.match(fileIn(userData, "/etc/apt/apt.conf.d/52matrix-do-auto-upgrades"), /Unattended-Upgrade "1"/);
    assert.match(fileIn(userData, "/etc/postgresql-common/createcluster.d/50-matrix-do.conf"), /^create_main_cluster = false$/m);
  });

  it("ships every script the bootstrap calls, itself or as an optional part", () => {
    const bootstrap = fileIn(userData, `${PATHS.scriptsDir}/bootstrap.sh`);
    const called = [...bootstrap.matchAll(/(?:"\$here\/|^optional )([a-z-]+\.sh)/gm)].map((m) => m[1]);
    assert.ok(called.length >= 9 && called.includes("install-rtc.sh"), called.join(" "));
    for (const script of called) fileIn(userData, `${PATHS.scriptsDir}/${script}`);
  });

  it("backs up nightly at the configured UTC time, catching up after downtime, with the repository keys root-only", () => {
    const payload = renderUserData(settingsFor({ backupTime: "04:15", backupKeepDaily: 10, backupKeepWeekly: 2 }), secrets);
    const timer = fileIn(payload, "/etc/systemd/system/matrix-backup.timer");
    assert.match(timer, /^OnCalendar=\*-\*-\* 04:15:00 UTC$/m);
    assert.match(timer, /^Persistent=true$/m);
    assert.match(fileIn(payload, "/etc/systemd/system/matrix-backup.service"), /^ExecStart=\/usr\/local\/lib\/matrix\/backup\.sh$/m);
    const env = fileIn(payload, PATHS.deployEnv);
    assert.match(env, /^BACKUP_KEEP_DAILY='10'$/m);
    assert.match(env, /^BACKUP_KEEP_WEEKLY='2'$/m);
    assert.match(env, /^OFFSITE_REPOSITORY=''$/m, "no off-site copy unless a bucket is configured");
    assert.equal(fileIn(payload, PATHS.backupPassword), secrets.backupPassword);
    const doc = YAML.parse(payload) as { write_files: { path: string; permissions: string }[] };
    for (const file of [PATHS.backupPassword, PATHS.backupEnv]) {
      assert.equal(doc.write_files.find((f) => f.path === file)!.permissions, "0600", file);
    }
    assert.ok(YAML.parse(payload).packages.includes("restic"));
  });

  it("gzips large files (cloud-init's gz+b64), bundles the ones nothing reads before the bootstrap, and leaves small ones readable", () => {
    const doc = YAML.parse(userData) as { write_files: { path: string; encoding?: string; content: string }[]; runcmd: string[][] };
    const entry = (file: string) => doc.write_files.find((f) => f.path === file);
    assert.equal(entry(PATHS.caddyfile)!.encoding, "gz+b64");
    assert.equal(entry(PATHS.synapseSigningKey)!.encoding, undefined);
    // Scripts, the lock and our own units in one gzipped bundle, unpacked before the bootstrap.
    assert.equal(entry(PATHS.filesBundle)!.encoding, "gz+b64");
    for (const bundled of [PATHS.synapseRequirements, PATHS.matrixctl, `${PATHS.scriptsDir}/bootstrap.sh`, "/etc/systemd/system/matrix-synapse.service"]) {
      assert.equal(entry(bundled), undefined, bundled);
    }
    assert.equal(fileIn(userData, PATHS.synapseRequirements), readSynapseLock(settingsFor().synapse.version));
    assert.deepEqual(doc.runcmd, [["python3", `${PATHS.scriptsDir}/apply-config.py`, "--unpack", PATHS.filesBundle], [`${PATHS.scriptsDir}/bootstrap.sh`]]);
    // What a package's service reads when the package starts it is written by cloud-init itself, before packages.
    for (const early of ["/etc/systemd/system/caddy.service.d/50-matrix-do.conf", PATHS.caddyfile, `${PATHS.scriptsDir}/apply-config.py`]) {
      assert.ok(entry(early), early);
    }
  });

  it("fits DigitalOcean's limit to the byte: 64 KiB of user_data as sent (UTF-8) pass, one byte more is refused", () => {
    // DigitalOcean's API: user_data "may not exceed 64 KiB"; the provider sends the document as
    // it is. The host key's public half is written as it is (not gzipped), so padding it grows
    // the document byte for byte.
    const LIMIT = 64 * 1024;
    const padded = (pad: string) =>
      renderUserData(settingsFor(), { ...secrets, sshHostKey: { ...secrets.sshHostKey, publicKey: `${secrets.sshHostKey.publicKey}${pad}` } });
    const room = LIMIT - Buffer.byteLength(padded(""));
    const full = padded("x".repeat(room));
    assert.equal(Buffer.byteLength(full), LIMIT);
    assert.equal(YAML.parse(full).ssh_keys.ed25519_public, `${secrets.sshHostKey.publicKey}${"x".repeat(room)}`);
    assert.throws(() => padded("x".repeat(room + 1)), /user_data is 65537 bytes; DigitalOcean accepts at most 65536$/);
    // As many characters as fit, but one byte more: é is two bytes in UTF-8.
    assert.throws(() => padded(`${"x".repeat(room - 1)}é`), /user_data is 65537 bytes/);
  });

  it("points Caddy at its own Caddyfile without touching the package's", () => {
    const dropIn = fileIn(userData, "/etc/systemd/system/caddy.service.d/50-matrix-do.conf");
    assert.match(dropIn, /^ExecStart=$/m, "the packaged ExecStart is reset first");
    assert.match(dropIn, /^ExecStart=\/usr\/bin\/caddy run --environ --adapter caddyfile --config \/etc\/matrix\/Caddyfile$/m);
    assert.ok(!(YAML.parse(userData).write_files as { path: string }[]).some((f) => f.path === "/etc/caddy/Caddyfile"));
  });

  it("starts Caddy the first time on the matrix host alone, through a drop-in for /run, so it registers one ACME account", () => {
    const first = fileIn(userData, PATHS.caddyfileFirstStart);
    assert.match(first, /^matrix\.example\.test \{$/m);
    for (const other of ["element.example.test", "example.test", "example.test:8448"]) assert.doesNotMatch(first, new RegExp(`^${other.replace(/\./g, "\\.")} \\{$`, "m"), other);
    assert.match(first, /^\s*acme_ca "https:\/\/acme-v02\.api\.letsencrypt\.org\/directory"$/m, "the same global options");
    const dropIn = fileIn(userData, PATHS.caddyFirstStartDropIn);
    assert.match(dropIn, /^ExecStart=$/m);
    assert.match(dropIn, /^ExecStart=\/usr\/bin\/caddy run --environ --adapter caddyfile --config \/etc\/matrix\/Caddyfile\.first-start$/m);
    const env = fileIn(userData, PATHS.deployEnv);
    assert.match(env, /^ACME_ORIGIN='https:\/\/acme-v02\.api\.letsencrypt\.org'$/m);
    assert.match(env, /^CADDY_FIRST_START_RUNTIME_DROP_IN='\/run\/systemd\/system\/caddy\.service\.d\/60-matrix-do-first-start\.conf'$/m);
    // Caddy's own CA (no account) skips the first start.
    assert.match(fileIn(renderUserData(settingsFor({ acmeServer: "internal" }), secrets), PATHS.deployEnv), /^ACME_ORIGIN=''$/m);
    // Installing the package starts Caddy: not before its storage is on the volume.
    assert.match(fileIn(userData, "/etc/systemd/system/caddy.service.d/50-matrix-do.conf"), /^ConditionPathIsMountPoint=\/var\/lib\/caddy$/m);
  });

  it("writes the Element config for this homeserver, with guests and sign-up hidden", () => {
    const config = JSON.parse(fileIn(userData, PATHS.elementConfig));
    assert.deepEqual(config.default_server_config["m.homeserver"], { base_url: "https://matrix.example.test", server_name: "example.test" });
    assert.equal(config.disable_guests, true);
    assert.equal(config.setting_defaults["UIFeature.registration"], false);
  });
});

describe("sizing: tuned and stock", () => {
  const render = (settings: Settings) => {
    const data = renderUserData(settings, secrets);
    return {
      unit: fileIn(data, "/etc/systemd/system/matrix-synapse.service"),
      homeserver: YAML.parse(fileIn(data, `${PATHS.synapseConfD}/00-homeserver.yaml`)),
      database: YAML.parse(fileIn(data, `${PATHS.synapseConfD}/10-secrets.yaml`)).database.args,
      postgres: fileIn(data, PATHS.postgresTuning),
      env: fileIn(data, PATHS.deployEnv),
    };
  };

  it("stock is Synapse and PostgreSQL as they ship: no jemalloc, no cache, pool or room limits, PostgreSQL's own memory settings", () => {
    const stock = render({ ...settingsFor(), tuning: STOCK_TUNING });
    assert.doesNotMatch(stock.unit, /LD_PRELOAD/);
    for (const key of ["caches", "limit_remote_rooms"]) assert.equal(key in stock.homeserver, false, key);
    assert.deepEqual([stock.database.cp_min, stock.database.cp_max], [undefined, undefined]);
    // Not memory settings: loopback, SCRAM, and no JIT (the sandbox forbids writable code).
    assert.deepEqual(stock.postgres.split("\n").filter((l) => /^[a-z]/.test(l)), ["listen_addresses = 'localhost'", "password_encryption = 'scram-sha-256'", "jit = 'off'"]);
  });

  for (const size of ["s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-4gb"]) {
    it(`${size}: every tuning value reaches the file Synapse or PostgreSQL reads it from`, () => {
      const settings = settingsFor({ size });
      const t = settings.tuning;
      const tuned = render(settings);
      assert.equal(/^Environment=LD_PRELOAD=\S+libjemalloc\.so\.2$/m.test(tuned.unit), t.jemalloc);
      if (t.synapseCaches) {
        assert.equal(tuned.homeserver.caches.global_factor, t.synapseCaches.globalFactor);
        if (t.synapseCaches.autotuning) {
          assert.deepEqual(tuned.homeserver.caches.cache_autotuning, {
            max_cache_memory_usage: `${t.synapseCaches.autotuning.maxMemoryMb}M`,
            target_cache_memory_usage: `${t.synapseCaches.autotuning.targetMemoryMb}M`,
            min_cache_ttl: t.synapseCaches.autotuning.minTtl,
          });
        }
      }
      if (t.remoteRoomComplexity !== undefined) assert.deepEqual(tuned.homeserver.limit_remote_rooms, { enabled: true, complexity: t.remoteRoomComplexity });
      if (t.databasePool) assert.deepEqual([tuned.database.cp_min, tuned.database.cp_max], [t.databasePool.min, t.databasePool.max]);
      if (t.postgres) {
        assert.match(tuned.postgres, new RegExp(`^shared_buffers = '${t.postgres.sharedBuffersMb}MB'$`, "m"));
        assert.match(tuned.postgres, new RegExp(`^max_connections = ${t.postgres.maxConnections}$`, "m"));
        assert.match(tuned.postgres, new RegExp(`^work_mem = '${t.postgres.workMemMb}MB'$`, "m"));
        // Synapse's pool must fit in PostgreSQL's connections (with room for backups and psql).
        assert.ok(!t.databasePool || t.databasePool.max + 5 <= t.postgres.maxConnections);
      }
      assert.match(tuned.env, new RegExp(`^SWAP_MB='${settings.droplet.swapMb}'$`, "m"));
    });
  }

  it("a swap file below 2 GB of RAM, none from 2 GB; a service turns it on at every boot, before the databases", () => {
    assert.equal(settingsFor({ size: "s-1vcpu-1gb" }).droplet.swapMb, 1024);
    assert.equal(settingsFor({ size: "s-1vcpu-2gb" }).droplet.swapMb, 0);
    const unit = fileIn(userData, "/etc/systemd/system/matrix-swap.service");
    assert.match(unit, new RegExp(`^ExecStart=${PATHS.scriptsDir}/setup-swap\\.sh$`, "m"));
    assert.match(unit, /^Before=postgresql\.service\nBefore=matrix-synapse\.service$/m);
    assert.match(fileIn(userData, PATHS.deployEnv), /^SWAP_FILE='\/swapfile'$/m);
  });
});

describe("TURN (coturn)", () => {
  const turnOn = renderUserData(settingsFor({ turn: true }), secrets);
  const conf = fileIn(turnOn, PATHS.turnConfig);
  const options = conf.split("\n").filter((l) => l && !l.startsWith("#"));

  it("is off by default: no package, no files, nothing in Synapse's config", () => {
    assert.equal(YAML.parse(userData).packages.includes("coturn"), false);
    assert.equal(renderFiles(settingsFor(), secrets).some((f) => f.path === PATHS.turnConfig || f.path.includes("coturn")), false);
    assert.equal("turn_uris" in homeserver, false);
    assert.match(fileIn(userData, PATHS.deployEnv), /^TURN_ENABLED='0'$/m);
  });

  it("installs coturn and hands Synapse the URIs (UDP, TCP, TLS) and, in the secrets fragment only, the shared secret", () => {
    assert.ok(YAML.parse(turnOn).packages.includes("coturn"));
    const main = YAML.parse(fileIn(turnOn, `${PATHS.synapseConfD}/00-homeserver.yaml`));
    assert.deepEqual(main.turn_uris, [
      "turn:turn.example.test:3478?transport=udp", "turn:turn.example.test:3478?transport=tcp", "turns:turn.example.test:5349?transport=tcp",
    ]);
    assert.equal(main.turn_allow_guests, false);
    assert.equal("turn_shared_secret" in main, false);
    assert.equal(YAML.parse(fileIn(turnOn, `${PATHS.synapseConfD}/10-secrets.yaml`)).turn_shared_secret, secrets.turnSharedSecret);
    assert.match(fileIn(turnOn, PATHS.deployEnv), /^TURN_HOST='turn\.example\.test'$/m);
  });

  it("coturn: the same secret (REST API auth), Caddy's certificate, no DTLS/CLI/old TLS, quotas, and private peers refused", () => {
    for (const option of ["use-auth-secret", `static-auth-secret=${secrets.turnSharedSecret}`, `cert=${PATHS.turnCertificate}`,
      `pkey=${PATHS.turnKey}`, "no-dtls", "no-cli", "no-tlsv1", "no-tlsv1_1", "no-multicast-peers", "min-port=49152", "max-port=50175",
      "realm=example.test", "user-quota=12", "total-quota=1200"]) {
      assert.ok(options.includes(option), option);
    }
    // TLS 1.2 with ECDHE and AEAD only (no CBC), then TLS 1.3's suites.
    const ciphers = options.find((o) => o.startsWith("cipher-list="))!.slice("cipher-list=".length).split(":");
    for (const cipher of ciphers) assert.match(cipher, /^(ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)|TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256))$/, cipher);
    assert.ok(ciphers.includes("ECDHE-RSA-AES128-GCM-SHA256") && ciphers.includes("TLS_AES_128_GCM_SHA256"), "RSA certificates and TLS 1.3 too");
    const denied = options.filter((o) => o.startsWith("denied-peer-ip=")).map((o) => o.slice("denied-peer-ip=".length));
    for (const range of ["10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255", "192.168.0.0-192.168.255.255",
      "127.0.0.0-127.255.255.255", "169.254.0.0-169.254.255.255", "100.64.0.0-100.127.255.255", "::1",
      "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:0:0-::ffff:ffff:ffff"]) {
      assert.ok(denied.includes(range), range);
    }
    const file = renderFiles(settingsFor({ turn: true }), secrets).find((f) => f.path === PATHS.turnConfig)!;
    assert.deepEqual([file.permissions, file.group], ["0640", "turnserver"]);
  });

  it("runs coturn with our config on the droplet's own address, which may be a peer (client to client through TURN)", () => {
    const dropIn = fileIn(turnOn, "/etc/systemd/system/coturn.service.d/50-matrix-do.conf");
    assert.match(dropIn, /^ExecStart=$/m);
    assert.match(dropIn, new RegExp(`^ExecStart=/usr/bin/turnserver -c ${PATHS.turnConfig} --pidfile= --listening-ip=\\$\\{TURN_IP\\} --relay-ip=\\$\\{TURN_IP\\} --allowed-peer-ip=\\$\\{TURN_IP\\}$`, "m"));
    assert.match(dropIn, new RegExp(`^EnvironmentFile=${PATHS.turnAddressEnv}$`, "m"));
    // The package's own start, before the address is known, is skipped rather than failed.
    assert.match(dropIn, new RegExp(`^ConditionPathExists=${PATHS.turnAddressEnv}$`, "m"));
    assert.match(fileIn(turnOn, "/etc/systemd/system/matrix-turn-certificate.timer"), /^OnUnitActiveSec=30min$/m);
    assert.match(fileIn(turnOn, PATHS.caddyfile), /^turn\.example\.test \{$/m, "Caddy obtains the TURN name's certificate");
  });
});

describe("quoting", () => {
  it("environment files survive quotes, spaces and shell syntax when sourced by bash", () => {
    const dir = scratchDir("matrix-env-");
    const tricky = { A: "it's $HOME `id` \"quoted\" \\ back", B: "", C: 42 };
    const file = path.join(dir, "env");
    fs.writeFileSync(file, renderEnvFile(tricky));
    const r = run("bash", ["-c", '. "$0"; printf "%s|%s|%s" "$A" "$B" "$C"', file]);
    assert.equal(r.stdout, `${tricky.A}||42`);
    assert.throws(() => renderEnvFile({ "bad-name": "x" }), /bad environment variable name/);
  });

  it("Caddyfile tokens are bare when safe and quoted otherwise", () => {
    assert.equal(token("matrix.example.org"), "matrix.example.org");
    assert.equal(token("frame-ancestors 'self'"), "\"frame-ancestors 'self'\"");
    assert.equal(token('{"m.server":"a:443"}'), '"{\\"m.server\\":\\"a:443\\"}"');
    assert.equal(token(""), '""');
    assert.throws(() => token("a\nb"), /newline/);
  });

  it("systemd units reject multi-line values; PostgreSQL strings are escaped", () => {
    assert.throws(() => renderUnit({ Service: { ExecStart: "a\nb" } }), /one line/);
    assert.equal(renderPostgresConf({ listen_addresses: "it's", max_connections: 5 }), "listen_addresses = 'it''s'\nmax_connections = 5\n");
  });

  it("the signing key line is `ed25519 a_<id> <unpadded base64 of 32 bytes>`", () => {
    const seed = crypto.randomBytes(32);
    const line = formatSigningKey("Xy12", seed.toString("base64"));
    const [alg, id, key] = line.split(" ");
    assert.equal(alg, "ed25519");
    assert.equal(id, "a_Xy12");
    assert.doesNotMatch(key, /=/);
    assert.deepEqual(Buffer.from(key, "base64"), seed);
    assert.throws(() => formatSigningKey("Xy12", crypto.randomBytes(31).toString("base64")), /32 bytes/);
    assert.throws(() => formatSigningKey("X-1", seed.toString("base64")), /4 letters or digits/);
  });
});

describe("MatrixRTC (calls through Element Call and Element X)", () => {
  const rtcOn: Settings = { ...settingsFor(), matrixRtc: matrixRtcFor() };
  const on = renderUserData(rtcOn, secrets);
  const off = renderUserData(settingsFor({ matrixRtc: false }), secrets);
  const focus = { type: "livekit", livekit_service_url: "https://rtc.example.test" };

  it("on by default; off: nothing in Synapse's, Element's or .well-known's config", () => {
    assert.deepEqual(YAML.parse(fileIn(userData, `${PATHS.synapseConfD}/00-homeserver.yaml`)).matrix_rtc, { transports: [focus] });
    const offConfig = YAML.parse(fileIn(off, `${PATHS.synapseConfD}/00-homeserver.yaml`));
    for (const key of ["matrix_rtc", "experimental_features", "max_event_delay_duration", "rc_delayed_event_mgmt"]) assert.equal(key in offConfig, false, key);
    const element = JSON.parse(fileIn(off, PATHS.elementConfig));
    assert.equal("element_call" in element, false);
    assert.doesNotMatch(fileIn(off, PATHS.caddyfile), /rtc_foci/);
  });

  it("refuses to render a payload with no SHA-256 for a download (the first deploy takes the authorization service's before)", () => {
    const untaken = resolveArgs({ ...VALID_ARGS }).settings;
    assert.equal(untaken.matrixRtc!.authService.sha256, "");
    assert.throws(() => renderUserData(untaken, secrets), /no SHA-256 to check https:\/\/github\.com\/element-hq\/lk-jwt-service\/\S+ against/);
  });

  it("on: Synapse lists the call service as its transport, with MSC4143, MSC4222 and delayed events (24 h, rate-limited)", () => {
    const main = YAML.parse(fileIn(on, `${PATHS.synapseConfD}/00-homeserver.yaml`));
    assert.deepEqual(main.matrix_rtc, { transports: [focus] });
    assert.deepEqual(main.experimental_features, { msc4143_enabled: true, msc4222_enabled: true });
    assert.equal(main.max_event_delay_duration, "24h");
    assert.deepEqual(main.rc_delayed_event_mgmt, { per_second: 1, burst_count: 20 });
  });

  it("on: LiveKit's config, key file and unit; the authorization service's environment and unit; both sandboxed, own accounts, secrets as credentials", () => {
    const config = YAML.parse(fileIn(on, PATHS.livekitConfig));
    assert.deepEqual(config.bind_addresses, ["127.0.0.1"]);
    assert.deepEqual([config.rtc.tcp_port, config.rtc.udp_port, config.rtc.use_external_ip], [7881, 7882, false]);
    assert.equal(config.key_file, "/run/credentials/matrix-livekit.service/keys");
    assert.equal(config.room.auto_create, false);
    assert.deepEqual(YAML.parse(fileIn(on, PATHS.livekitKeys)), { "matrix-rtc": secrets.livekitSecret });
    assert.equal(fileIn(on, PATHS.livekitSecret), `${secrets.livekitSecret}\n`);
    const entries = YAML.parse(on).write_files as { path: string; permissions: string }[];
    for (const secretFile of [PATHS.livekitKeys, PATHS.livekitSecret]) {
      assert.equal(entries.find((f) => f.path === secretFile)?.permissions, "0600", secretFile);
    }
    const livekit = fileIn(on, "/etc/systemd/system/matrix-livekit.service");
    assert.match(livekit, /^ExecStart=\/usr\/local\/lib\/matrix-rtc\/livekit-server --config \/etc\/matrix\/livekit\.yaml$/m);
    assert.match(livekit, /^LoadCredential=keys:\/etc\/matrix\/rtc\/livekit-keys\.yaml$/m);
    assert.match(livekit, /^EnvironmentFile=\/etc\/matrix\/rtc-address\.env$/m);
    const auth = fileIn(on, "/etc/systemd/system/matrix-rtc-auth.service");
    for (const line of ["ExecStart=/usr/local/lib/matrix-rtc/lk-jwt-service", "Environment=LIVEKIT_URL=wss://rtc.example.test", "Environment=LIVEKIT_KEY=matrix-rtc",
      "Environment=LIVEKIT_SECRET_FROM_FILE=/run/credentials/matrix-rtc-auth.service/secret", "Environment=LIVEKIT_JWT_BIND=127.0.0.1:8080",
      "Environment=LIVEKIT_FULL_ACCESS_HOMESERVERS=example.test", "LoadCredential=secret:/etc/matrix/rtc/livekit-secret",
      "BindReadOnlyPaths=/etc/matrix/rtc/hosts:/etc/hosts"]) {
      assert.ok(auth.split("\n").includes(line), line);
    }
    // It finds this server's users' homeserver, and LiveKit, on loopback, not at the reserved IP.
    assert.match(fileIn(on, PATHS.rtcAuthHosts), /^127\.0\.0\.1 localhost example\.test matrix\.example\.test rtc\.example\.test$/m);
    for (const unit of [livekit, auth]) {
      assert.match(unit, /^DynamicUser=yes$/m);
      assert.match(unit, /^ProtectSystem=strict$/m);
      assert.doesNotMatch(unit, new RegExp(secrets.livekitSecret), "no secret in a unit");
    }
    const env = fileIn(on, PATHS.deployEnv);
    assert.match(env, /^RTC_ENABLED='1'$/m);
    assert.match(env, /^LIVEKIT_DOWNLOAD_URL='https:\/\/downloads\.example\.test\/livekit\.tar\.gz'$/m);
    assert.match(env, new RegExp(`^LIVEKIT_SHA256='${"1".repeat(64)}'$`, "m"));
    assert.match(env, new RegExp(`^RTC_AUTH_SHA256='${"2".repeat(64)}'$`, "m"));
    // Off: none of it.
    assert.match(fileIn(off, PATHS.deployEnv), /^RTC_ENABLED='0'$/m);
    assert.deepEqual(renderFiles(settingsFor({ matrixRtc: false }), secrets).map((f) => f.path).filter((p) => /livekit|rtc/.test(p)), [`${PATHS.scriptsDir}/install-rtc.sh`]);
  });

  it("on with TURN: LiveKit names coturn to clients (UDP, TCP, TLS) with 1-hour credentials from the shared secret, handed to it as a credential", () => {
    const withTurn = renderUserData({ ...settingsFor({ turn: true }), matrixRtc: matrixRtcFor() }, secrets);
    const servers = YAML.parse(fileIn(withTurn, PATHS.livekitConfig)).rtc.turn_servers;
    const secretFile = "/run/credentials/matrix-livekit.service/turn-secret";
    assert.deepEqual(servers, [
      { host: "turn.example.test", port: 3478, protocol: "udp", secret_file: secretFile, ttl: 3600 },
      { host: "turn.example.test", port: 3478, protocol: "tcp", secret_file: secretFile, ttl: 3600 },
      { host: "turn.example.test", port: 5349, protocol: "tls", secret_file: secretFile, ttl: 3600 },
    ]);
    assert.equal(fileIn(withTurn, PATHS.livekitTurnSecret), `${secrets.turnSharedSecret}\n`);
    assert.match(fileIn(withTurn, "/etc/systemd/system/matrix-livekit.service"), /^LoadCredential=turn-secret:\/etc\/matrix\/rtc\/turn-secret$/m);
    assert.equal("turn_servers" in YAML.parse(fileIn(on, PATHS.livekitConfig)).rtc, false, "none without TURN");
  });

  it("on: Caddy serves the MatrixRTC host: the authorization service's routes, and LiveKit for the rest", () => {
    const caddyfile = fileIn(on, PATHS.caddyfile);
    const site = caddyfile.slice(caddyfile.indexOf("rtc.example.test {"));
    assert.match(site, /@auth path \/sfu\/get \/get_token \/healthz$/m);
    assert.match(site, /handle @auth \{\n\t\treverse_proxy 127\.0\.0\.1:8080\n\t\}/);
    assert.match(site, /handle \{\n\t\treverse_proxy 127\.0\.0\.1:7880\n\t\}/);
  });

  it("on: .well-known/matrix/client names the focus; Element Web calls through Element Call only", () => {
    assert.deepEqual(wellKnownClient(rtcOn), { "m.homeserver": { base_url: "https://matrix.example.test" }, "org.matrix.msc4143.rtc_foci": [focus] });
    assert.ok(fileIn(on, PATHS.caddyfile).includes(JSON.stringify(JSON.stringify(wellKnownClient(rtcOn)))), "the Caddyfile serves it");
    const element = JSON.parse(fileIn(on, PATHS.elementConfig));
    assert.deepEqual(element.element_call, { use_exclusively: true });
    assert.equal(element.features.feature_element_call_video_rooms, true);
  });
});
