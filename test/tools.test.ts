/**
 * The rendered payload checked by the real tools it will meet: cloud-init's schema (the
 * droplet's own cloud-init, run in the local droplet's Debian 13 root: never installed on this
 * machine, where it could act at the next boot), Caddy's config adapter, shellcheck and nft.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as YAML from "yaml";
import { PATHS } from "../cloud-init/paths";
import { USER_DATA_LIMIT_BYTES, renderUserData } from "../cloud-init/userData";
import { cargo } from "../local/elementX";
import { go, gofmt } from "../local/goBuild";
import { ensureRootfs } from "../local/rootfs";
import { fileIn, run, scratchDir, settingsFor, testSecrets } from "./fixtures";

const ROOT = path.resolve(__dirname, "..");
const CLOUD_INIT_SCHEMA = "usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json";

/** The droplet's Debian 13 root (the local droplet's cached one), unpacked into dir once. */
function dropletRoot(dir: string): string {
  const root = path.join(dir, "droplet-root");
  if (!fs.existsSync(path.join(root, "usr"))) {
    fs.mkdirSync(root, { recursive: true });
    const r = run("tar", ["-C", root, "-xf", ensureRootfs()]);
    assert.equal(r.code, 0, r.stderr);
  }
  return root;
}

/** A PEM certificate made by openssl, for the extra-CA setting. */
function testCertificate(dir: string, name: string): string {
  const key = path.join(dir, `${name}.key`);
  const crt = path.join(dir, `${name}.crt`);
  const r = run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", key, "-out", crt, "-days", "1", "-subj", `/CN=${name}`]);
  assert.equal(r.code, 0, r.stderr);
  return fs.readFileSync(crt, "utf8");
}

/** Keys cloud-init's schema knows at the top level (it ignores unknown ones without a word). */
function knownTopLevelKeys(root: string): Set<string> {
  const schema = JSON.parse(fs.readFileSync(path.join(root, CLOUD_INIT_SCHEMA), "utf8"));
  const keys = new Set<string>();
  const collect = (node: Record<string, unknown>) => {
    const ref = node.$ref as string | undefined;
    if (ref) collect(schema.$defs[ref.replace("#/$defs/", "")]);
    for (const k of Object.keys((node.properties as object) ?? {})) keys.add(k);
    for (const sub of (node.allOf as Record<string, unknown>[]) ?? []) collect(sub);
  };
  collect(schema);
  return keys;
}

describe("rendered payload, checked by the real tools", () => {
  const dir = scratchDir("matrix-tools-");
  const payloads = {
    default: renderUserData(settingsFor(), testSecrets()),
    // The largest configuration we expect: every optional file present.
    maximal: renderUserData(
      settingsFor({
        size: "s-8vcpu-16gb",
        extraCaCertificates: [testCertificate(dir, "ca-one"), testCertificate(dir, "ca-two")],
        acmeServer: "https://127.0.0.1:14000/dir",
        elementDownloadBase: "https://127.0.0.1:8443/element-releases",
        registration: "token",
        turn: true,
        smtpHost: "smtp.example.org", smtpUser: "matrix@example.org", smtpPassword: "[secret]",
        spacesBucket: "chat-backups", spacesAccessKeyId: "DO00EXAMPLEKEY", spacesSecretKey: "[secret]",
        localMediaRetentionDays: 365, remoteMediaRetentionDays: 90, forgottenRoomRetentionDays: 30,
      }),
      { ...testSecrets(), smtpPassword: "an-smtp-password", offsiteSecretKey: "a-spaces-secret-key" },
    ),
  };

  for (const [name, userData] of Object.entries(payloads)) {
    it(`${name} user_data passes \`cloud-init schema\``, () => {
      const root = dropletRoot(dir);
      fs.writeFileSync(path.join(root, "tmp", `${name}.yaml`), userData);
      const r = run("chroot", [root, "cloud-init", "schema", "-c", `/tmp/${name}.yaml`]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^Valid schema \/tmp\//m);
      // Nothing the droplet's cloud-init calls deprecated either.
      assert.doesNotMatch(r.stdout + r.stderr, /deprecat/i);
    });

    it(`${name} user_data uses only top-level keys cloud-init knows`, () => {
      const known = knownTopLevelKeys(dropletRoot(dir));
      assert.ok(known.has("write_files") && known.has("runcmd"), "the schema was read");
      const unknown = Object.keys(YAML.parse(userData)).filter((k) => !known.has(k));
      assert.deepEqual(unknown, []);
    });

    it(`${name} user_data stays under DigitalOcean's 64 KiB limit`, () => {
      const size = Buffer.byteLength(userData);
      console.log(`  ${name} user_data: ${size} bytes (limit ${USER_DATA_LIMIT_BYTES})`);
      assert.ok(size < USER_DATA_LIMIT_BYTES);
    });

    it(`${name} Caddyfile passes \`caddy validate\``, () => {
      const file = path.join(dir, `${name}.Caddyfile`);
      fs.writeFileSync(file, fileIn(userData, PATHS.caddyfile));
      const r = run("caddy", ["validate", "--adapter", "caddyfile", "--config", file]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr + r.stdout, /Valid configuration/);
    });
  }

  it("the oversized payload is refused, not sent", () => {
    const huge = Array.from({ length: 40 }, (_, i) => testCertificate(dir, `big-${i}`));
    assert.throws(() => renderUserData(settingsFor({ extraCaCertificates: huge }), testSecrets()), /user_data is \d+ bytes; DigitalOcean accepts at most 65536/);
  });

  it("every shell script passes shellcheck", () => {
    const scripts = [
      ...["cloud-init/scripts", "components/readiness", "scripts", "local/droplet-vm"].flatMap((d) =>
        fs.readdirSync(path.join(ROOT, d)).filter((f) => f.endsWith(".sh")).map((f) => path.join(ROOT, d, f)),
      ),
      path.join(ROOT, ".ci/run"),
    ];
    assert.ok(scripts.length >= 12, `found ${scripts.length} scripts`);
    const r = run("shellcheck", ["--external-sources", "--severity=style", ...scripts]);
    assert.equal(r.code, 0, r.stdout);
  });

  it("the Go test programs are gofmt-clean and pass go vet; the stand-in's tests pass", () => {
    const programs = fs.readdirSync(path.join(ROOT, "test")).filter((d) => fs.existsSync(path.join(ROOT, "test", d, "go.mod")));
    assert.deepEqual(programs.sort(), ["livekit-client", "rtc-auth-stand-in", "sdk-gen"]);
    for (const program of programs.map((p) => path.join(ROOT, "test", p))) {
      const formatted = run(gofmt(), ["-l", program]);
      assert.equal(formatted.code, 0, formatted.stderr);
      assert.equal(formatted.stdout.trim(), "", `${program}: not gofmt-formatted`);
      const vet = run(go(), ["-C", program, "vet", "."]);
      assert.equal(vet.code, 0, `${program}: ${vet.stderr}`);
    }
    // The stand-in's own tests: what this machine cannot show through Synapse (SRV, delegation, bad environments).
    const standIn = run(go(), ["-C", path.join(ROOT, "test/rtc-auth-stand-in"), "test", "."]);
    assert.equal(standIn.code, 0, standIn.stdout + standIn.stderr);
  });

  it("the Rust test program is rustfmt-clean", () => {
    const r = run(cargo(), ["fmt", "--check", "--manifest-path", path.join(ROOT, "test/element-x-client/Cargo.toml")]);
    assert.equal(r.code, 0, `not rustfmt-formatted:\n${r.stdout}${r.stderr}`);
  });

  it("the metadata guard: root and the accounts it names reach 169.254.169.254; no other account does, one it has never heard of included", () => {
    // The payload's own script and rules, loaded in a network namespace of their own where
    // 169.254.169.254 answers, with an /etc/passwd that has DigitalOcean's monitoring account.
    const guard = path.join(dir, "guard");
    fs.mkdirSync(guard);
    for (const file of ["lib.sh", "metadata-guard.sh", "metadata-guard.nft"]) {
      fs.writeFileSync(path.join(guard, file), fileIn(payloads.default, `${PATHS.scriptsDir}/${file}`), { mode: 0o755 });
    }
    const env = path.join(guard, "deploy.env");
    fs.writeFileSync(env, fileIn(payloads.default, PATHS.deployEnv));
    const passwd = path.join(guard, "passwd");
    fs.writeFileSync(passwd, fs.readFileSync("/etc/passwd", "utf8") + "do-agent:x:64998:64998::/nonexistent:/bin/false\n");
    // uid → HTTP status: root, do-agent, nobody, a systemd DynamicUser uid, an account made later.
    const uids = [0, 64998, 65534, 61184, 64001];
    const script = [
      'mount --bind "$PASSWD" /etc/passwd',
      "ip link set lo up && ip addr add 169.254.169.254/32 dev lo",
      'MATRIX_ENV_FILE="$ENV" bash "$GUARD/metadata-guard.sh"',
      "python3 -m http.server --bind 169.254.169.254 80 >/dev/null 2>&1 &",
      "for _ in $(seq 50); do curl -s -o /dev/null http://169.254.169.254/ && break; sleep 0.1; done",
      `for uid in ${uids.join(" ")}; do printf '%s=' "$uid"; setpriv --reuid="$uid" --regid="$uid" --clear-groups curl -s -m 3 -o /dev/null -w '%{http_code}\\n' http://169.254.169.254/; done`,
      "kill %1",
    ].join("\n");
    const r = run("unshare", ["--mount", "--net", "bash", "-c", script], { env: { ...process.env, PASSWD: passwd, ENV: env, GUARD: guard } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /only uids 0, 64998 may reach it/);
    const statuses = Object.fromEntries(r.stdout.trim().split("\n").map((line) => line.split("=")));
    assert.deepEqual(statuses, { 0: "200", 64998: "200", 65534: "000", 61184: "000", 64001: "000" });
  });

  it("the scripts that install Debian packages on this machine change nothing else on it (no cloud-init switch, nothing under /etc)", () => {
    // In a mount namespace of its own with an empty /etc, and apt-get a stand-in: what
    // apt-ensure.sh leaves under /etc is what it would leave on the user's machine.
    const stubs = path.join(dir, "apt-stubs");
    fs.mkdirSync(stubs, { recursive: true });
    fs.writeFileSync(path.join(stubs, "apt-get"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const r = run("unshare", ["--mount", "--propagation", "private", "sh", "-c",
      `mount -t tmpfs none /etc && PATH=${stubs}:$PATH bash ${path.join(ROOT, "scripts", "apt-ensure.sh")} matrix-do-no-such-package && find /etc -mindepth 1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /apt-ensure: apt-get install matrix-do-no-such-package/);
    assert.equal(r.stdout.trim(), "", "nothing written under /etc");
  });
});
