/**
 * MatrixServer as a library: another project installs this package and imports it by name,
 * getting the compiled JavaScript and its type declarations (dist/, built by `npm run build`,
 * which `npm install` runs through `prepare`).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { run, scratchDir } from "./fixtures";
import { ROOT } from "./local-services";

describe("MatrixServer imported by another project", () => {
  const consumer = scratchDir("matrix-consumer-");

  before(() => {
    const build = run(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(ROOT, "tsconfig.build.json")]);
    assert.equal(build.code, 0, build.stdout + build.stderr);
    fs.mkdirSync(path.join(consumer, "node_modules"));
    fs.symlinkSync(ROOT, path.join(consumer, "node_modules", "matrix-do"));
  });

  it("loads the compiled package by name in plain Node and deploys under mocks", () => {
    fs.writeFileSync(path.join(consumer, "program.js"), `
      const pulumi = require(${JSON.stringify(path.join(ROOT, "node_modules", "@pulumi", "pulumi"))});
      pulumi.runtime.setMocks({
        newResource: (a) => ({ id: a.name + "-id", state: { ...a.inputs, result: "x".repeat(a.inputs.length || 4),
          base64: Buffer.alloc(32, 7).toString("base64"), ipAddress: "203.0.113.5",
          privateKeyOpenssh: "-----BEGIN OPENSSH PRIVATE KEY-----\\n", publicKeyOpenssh: "ssh-ed25519 AAAA\\n" } }),
        call: () => ({}),
      }, "consumer", "dev", false);
      const lib = require("matrix-do");
      let rejected = "";
      try { new lib.MatrixServer("bad", { domain: "nope", adminEmail: "a@example.org", sshKeys: ["1"] }); }
      catch (e) { rejected = e instanceof lib.SettingsError ? e.problems.join(";") : String(e); }
      const chat = new lib.MatrixServer("chat", { domain: "chat.example.org", adminEmail: "a@example.org", sshKeys: ["12345"], waitForReady: false });
      pulumi.all([chat.homeserverUrl, chat.elementUrl, chat.reservedIp]).apply(([hs, el, ip]) =>
        console.log(JSON.stringify({ resolved: require.resolve("matrix-do"), hs, el, ip, rejected })));
    `);
    const r = run(process.execPath, [path.join(consumer, "program.js")]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(out.resolved, path.join(ROOT, "dist", "components", "index.js"), "the compiled entry point");
    assert.equal(out.hs, "https://matrix.chat.example.org");
    assert.equal(out.el, "https://element.chat.example.org");
    assert.equal(out.ip, "203.0.113.5");
    assert.match(out.rejected, /^'domain': expected /);
  });

  it("type-checks a TypeScript stack that imports it", () => {
    fs.writeFileSync(path.join(consumer, "index.ts"), `
      import { MatrixServer, MatrixServerArgs } from "matrix-do";
      const args: MatrixServerArgs = { domain: "example.org", adminEmail: "a@example.org", sshKeys: ["12345"], size: "s-2vcpu-4gb" };
      export const url: import("@pulumi/pulumi").Output<string> = new MatrixServer("chat", args).homeserverUrl;
      // @ts-expect-error: sshKeys is required
      new MatrixServer("broken", { domain: "example.org", adminEmail: "a@example.org" });
    `);
    fs.writeFileSync(path.join(consumer, "tsconfig.json"), JSON.stringify({
      compilerOptions: { strict: true, module: "commonjs", moduleResolution: "node", target: "es2022", noEmit: true, skipLibCheck: true,
        baseUrl: ".", paths: { "@pulumi/pulumi": [path.join(ROOT, "node_modules", "@pulumi", "pulumi")] } },
      files: ["index.ts"],
    }));
    const r = run(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(consumer, "tsconfig.json")]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});
