/**
 * The readiness check `pulumi up` runs: against a real HTTPS server on loopback, with a
 * certificate that is (or is not) valid for the homeserver's name.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { run, scratchDir } from "./fixtures";
import { ROOT, freePort } from "./local-services";

// The script is plain JavaScript (it runs under whatever Node the user has); load it as is.
type Readiness = {
  checkDelegation(domain: string, resolveNs: (name: string) => Promise<string[]>): Promise<{ delegated: boolean; nameservers: string[] }>;
  delegationMessage(domain: string, result: { delegated: boolean; nameservers: string[] }): string | undefined;
  waitForHomeserver(options: Record<string, unknown>): Promise<{ ok: boolean }>;
};
const SCRIPT = path.join(ROOT, "components", "readiness", "wait-for-homeserver.mjs");
const DO_NS = async () => ["ns1.digitalocean.com", "ns2.digitalocean.com", "ns3.digitalocean.com"];

/** A CA and a server certificate for `names`, signed by it (openssl). */
function certificates(dir: string, names: string[]) {
  const file = (n: string) => path.join(dir, n);
  const ok = (r: { code: number; stderr: string }) => assert.equal(r.code, 0, r.stderr);
  ok(run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", file("ca.key"), "-out", file("ca.crt"), "-days", "1", "-subj", "/CN=test CA"]));
  ok(run("openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", file("server.key"), "-out", file("server.csr"), "-subj", `/CN=${names[0]}`]));
  fs.writeFileSync(file("ext.cnf"), `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}\n`);
  ok(run("openssl", ["x509", "-req", "-in", file("server.csr"), "-CA", file("ca.crt"), "-CAkey", file("ca.key"), "-CAcreateserial", "-out", file("server.crt"), "-days", "1", "-extfile", file("ext.cnf")]));
  return { ca: fs.readFileSync(file("ca.crt"), "utf8"), key: fs.readFileSync(file("server.key")), cert: fs.readFileSync(file("server.crt")) };
}

describe("readiness check (wait-for-homeserver.mjs)", () => {
  const dir = scratchDir("matrix-ready-");
  const pki = certificates(dir, ["matrix.example.test"]);
  let readiness: Readiness;
  let server: https.Server;
  let port: number;
  let answering = false;

  before(async () => {
    readiness = (await import(SCRIPT)) as Readiness;
    port = await freePort();
    server = https.createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
      if (!answering) return void res.writeHead(502).end();
      if (req.url !== "/_matrix/client/versions" || req.headers.host !== "matrix.example.test") return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ versions: ["v1.11", "v1.12"] }));
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  });
  after(() => server.close());

  it("waits through failures until the homeserver answers over valid TLS", async () => {
    answering = false;
    setTimeout(() => (answering = true), 600);
    const lines: string[] = [];
    const result = await readiness.waitForHomeserver({
      address: "127.0.0.1", host: "matrix.example.test", domain: "example.test", port, ca: pki.ca,
      timeoutSeconds: 10, intervalMs: 200, resolveNs: DO_NS, log: (l: string) => lines.push(l),
    });
    assert.equal(result.ok, true);
    assert.ok(lines.some((l) => l.includes("HTTP 502")), lines.join("\n"));
    assert.ok(lines.at(-1)!.includes("answers"), lines.join("\n"));
  });

  it("does not accept a certificate that is not valid for the homeserver's name", async () => {
    answering = true;
    await assert.rejects(
      readiness.waitForHomeserver({
        address: "127.0.0.1", host: "element.example.test", domain: "example.test", port, ca: pki.ca,
        timeoutSeconds: 1, intervalMs: 200, resolveNs: DO_NS, log: () => {},
      }),
      /did not answer with a valid certificate within 1s \(last: ERR_TLS_CERT_ALTNAME_INVALID\)/,
    );
  });

  it("does not accept a certificate from an untrusted CA", async () => {
    await assert.rejects(
      readiness.waitForHomeserver({
        address: "127.0.0.1", host: "matrix.example.test", domain: "example.test", port,
        timeoutSeconds: 1, intervalMs: 200, resolveNs: DO_NS, log: () => {},
      }),
      /last: UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    );
  });

  it("says plainly when the domain is not delegated to DigitalOcean", async () => {
    const elsewhere = async () => ["ns1.registrar.example", "ns2.registrar.example"];
    const result = await readiness.checkDelegation("example.test", elsewhere);
    assert.equal(result.delegated, false);
    const message = readiness.delegationMessage("example.test", result)!;
    assert.match(message, /example\.test is not delegated to DigitalOcean: its nameservers are ns1\.registrar\.example, ns2\.registrar\.example/);
    assert.match(message, /ns1\.digitalocean\.com, ns2\.digitalocean\.com, ns3\.digitalocean\.com/);
    assert.equal(readiness.delegationMessage("example.test", await readiness.checkDelegation("example.test", DO_NS)), undefined);

    await assert.rejects(
      readiness.waitForHomeserver({
        address: "127.0.0.1", host: "matrix.example.test", domain: "example.test", port: await freePort(),
        timeoutSeconds: 1, intervalMs: 200, resolveNs: elsewhere, log: () => {},
      }),
      /ECONNREFUSED.*not delegated to DigitalOcean/,
    );
    const failing = async () => {
      throw Object.assign(new Error("queryNs ENOTFOUND"), { code: "ENOTFOUND" });
    };
    assert.match(readiness.delegationMessage("example.test", await readiness.checkDelegation("example.test", failing))!, /nameservers are none \(ENOTFOUND\)/);
  });

  it("runs as a command, exiting non-zero with the reason when it times out", () => {
    const r = run(process.execPath, [SCRIPT], {
      env: { ...process.env, MATRIX_HOST: "matrix.example.test", MATRIX_ADDRESS: "127.0.0.1", MATRIX_PORT: String(port), MATRIX_DOMAIN: "example.invalid", MATRIX_TIMEOUT_SECONDS: "1" },
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /https:\/\/matrix\.example\.test did not answer with a valid certificate within 1s/);
    const missing = run(process.execPath, [SCRIPT], { env: { PATH: process.env.PATH } });
    assert.match(missing.stderr, /MATRIX_HOST is not set/);
  });
});
