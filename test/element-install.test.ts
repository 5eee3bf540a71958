/**
 * The payload's install-element.sh with real gpg: it installs a release only when the
 * signature is good and made by the pinned key.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { renderElementConfig } from "../cloud-init/element";
import { renderEnvFile } from "../cloud-init/formats";
import { deployEnv } from "../cloud-init/userData";
import { run, scratchDir, settingsFor } from "./fixtures";
import { ROOT } from "./local-services";

const VERSION = "1.99.0";
const SCRIPT = path.join(ROOT, "cloud-init", "scripts", "install-element.sh");

describe("install-element.sh", () => {
  const dir = scratchDir("matrix-element-");
  const gnupg = path.join(dir, "gnupg");
  const releases = path.join(dir, "releases");
  let fingerprint = "";
  let otherFingerprint = "";

  const gpg = (...args: string[]) => {
    const r = run("gpg", ["--batch", "--homedir", gnupg, ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const makeKey = (uid: string) => {
    gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "1d");
    return gpg("--with-colons", "--list-keys", uid).split("\n").find((l) => l.startsWith("fpr:"))!.split(":")[9];
  };

  /** A release tarball (element-vX/…), its detached signature, and the signing key. */
  function publish(signer: string, tamper = false) {
    const src = path.join(dir, "src", `element-v${VERSION}`);
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, "index.html"), "<!doctype html><title>Element</title>");
    fs.writeFileSync(path.join(src, "version"), VERSION);
    const base = path.join(dir, "mirror", `v${VERSION}`);
    fs.mkdirSync(base, { recursive: true });
    const tarball = path.join(base, `element-v${VERSION}.tar.gz`);
    assert.equal(run("tar", ["-czf", tarball, "-C", path.dirname(src), path.basename(src)]).code, 0);
    fs.rmSync(`${tarball}.asc`, { force: true });
    gpg("--local-user", signer, "--armor", "--detach-sign", "--output", `${tarball}.asc`, tarball);
    if (tamper) fs.appendFileSync(tarball, "tampered");
    fs.writeFileSync(path.join(dir, "mirror", "key.asc"), gpg("--armor", "--export", signer));
  }

  /** Run the script with the payload's environment, pointed at the local mirror and scratch paths. */
  function install(pinnedFingerprint: string) {
    const settings = settingsFor({ elementVersion: VERSION });
    const env = path.join(dir, "deploy.env");
    const config = path.join(dir, "element-config.json");
    fs.writeFileSync(config, renderElementConfig(settings));
    fs.writeFileSync(env, renderEnvFile({
      ...deployEnv(settings),
      ELEMENT_TARBALL_URL: `file://${dir}/mirror/v${VERSION}/element-v${VERSION}.tar.gz`,
      ELEMENT_SIGNATURE_URL: `file://${dir}/mirror/v${VERSION}/element-v${VERSION}.tar.gz.asc`,
      ELEMENT_KEY_URL: `file://${dir}/mirror/key.asc`,
      ELEMENT_KEY_FINGERPRINT: pinnedFingerprint,
      ELEMENT_RELEASES: releases,
      ELEMENT_ROOT: path.join(dir, "element"),
      ELEMENT_CONFIG: config,
    }));
    return run("bash", [SCRIPT], { env: { ...process.env, MATRIX_ENV_FILE: env } });
  }

  before(() => {
    fs.mkdirSync(gnupg, { mode: 0o700 });
    fingerprint = makeKey("Element Releases (test) <releases@example.test>");
    otherFingerprint = makeKey("Someone Else <mallory@example.test>");
  });

  it("refuses a release signed by another key", () => {
    publish(otherFingerprint);
    const r = install(fingerprint);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`signed by '${otherFingerprint}', expected ${fingerprint}`));
    assert.equal(fs.existsSync(path.join(dir, "element")), false, "nothing installed");
  });

  it("refuses a tampered tarball", () => {
    publish(fingerprint, true);
    const r = install(fingerprint);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bad or missing signature/);
    assert.equal(fs.existsSync(path.join(releases, `element-v${VERSION}`)), false);
  });

  it("installs a release signed by the pinned key, with this server's config.json", () => {
    publish(fingerprint);
    const r = install(fingerprint);
    assert.equal(r.code, 0, r.stderr);
    const root = path.join(dir, "element");
    assert.equal(fs.readlinkSync(root), path.join(releases, `element-v${VERSION}`));
    assert.match(fs.readFileSync(path.join(root, "index.html"), "utf8"), /Element/);
    const config = JSON.parse(fs.readFileSync(path.join(root, "config.json"), "utf8"));
    assert.equal(config.default_server_config["m.homeserver"].base_url, "https://matrix.example.test");
  });

  it("does not download again when the release is already installed", () => {
    fs.rmSync(path.join(dir, "mirror"), { recursive: true });
    const r = install(fingerprint);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /downloading/);
  });
});
