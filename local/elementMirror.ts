/**
 * A stand-in for Element's release downloads: a release tarball laid out like the real one
 * (element-vX/…), signed with a throwaway OpenPGP key, served over HTTPS from loopback.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import { pipeline } from "stream";
import { run } from "./process";
import { TestCa } from "./testCa";
import { Download } from "../cloud-init/settings";

export interface ElementMirror {
  /** Set to false for an outage of the download host: every request then gets 503. */
  available: boolean;
  base: string;
  keyUrl: string;
  fingerprint: string;
  /** Serve a copy of `file` at <base>/<name> too (other releases the droplet downloads); its URL and SHA-256. */
  publish(name: string, file: string): Download;
  close(): Promise<void>;
}

export async function startElementMirror(
  dir: string,
  versions: string[],
  ca: TestCa,
  listenIp: string,
  port: number,
  /** The address droplets use, when it differs from the one listened on (e.g. 0.0.0.0). */
  advertisedIp = listenIp,
): Promise<ElementMirror> {
  const gnupg = path.join(dir, "gnupg");
  fs.mkdirSync(gnupg, { recursive: true, mode: 0o700 });
  const gpg = (...args: string[]) => {
    const r = run("gpg", ["--batch", "--homedir", gnupg, ...args]);
    if (r.code !== 0) throw new Error(`gpg ${args[0]}: ${r.stderr}`);
    return r.stdout;
  };
  const uid = "Element Releases (local test) <releases@example.test>";
  gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "2d");
  const fingerprint = gpg("--with-colons", "--list-keys", uid).split("\n").find((l) => l.startsWith("fpr:"))!.split(":")[9];
  const files = path.join(dir, "files");
  for (const version of versions) {
    const src = path.join(dir, "src", `element-v${version}`);
    fs.mkdirSync(path.join(src, "i18n"), { recursive: true });
    fs.writeFileSync(path.join(src, "index.html"), `<!doctype html><title>Element ${version} (test build)</title>`);
    fs.writeFileSync(path.join(src, "version"), version);
    fs.writeFileSync(path.join(src, "i18n", "en_EN.json"), "{}");
    const out = path.join(files, `v${version}`);
    fs.mkdirSync(out, { recursive: true });
    const tarball = path.join(out, `element-v${version}.tar.gz`);
    const t = run("tar", ["-czf", tarball, "-C", path.dirname(src), path.basename(src)]);
    if (t.code !== 0) throw new Error(t.stderr);
    gpg("--local-user", fingerprint, "--armor", "--detach-sign", "--output", `${tarball}.asc`, tarball);
  }
  fs.writeFileSync(path.join(files, "release-key.asc"), gpg("--armor", "--export", fingerprint));

  const tls = ca.issue("element-mirror", [advertisedIp]);
  let mirror: ElementMirror;
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    if (!mirror.available) return void res.writeHead(503).end();
    const file = path.join(files, path.normalize(decodeURIComponent(new URL(req.url!, "https://x").pathname)));
    if (!file.startsWith(files) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { "content-length": fs.statSync(file).size });
    // pipeline, not pipe: a client gone mid-download (a droplet powered off) closes the file too.
    pipeline(fs.createReadStream(file), res, () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(port, listenIp, resolve));
  const base = `https://${advertisedIp}:${port}`;
  const publish = (name: string, file: string): Download => {
    fs.copyFileSync(file, path.join(files, name));
    return { url: `${base}/${name}`, sha256: crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex") };
  };
  return mirror = { available: true, base, keyUrl: `${base}/release-key.asc`, fingerprint, publish, close: () => new Promise((r) => {
    server.close(() => r());
    // A droplet that went away without closing its connection would hold close() forever.
    server.closeAllConnections();
  }) };
}
