/**
 * The unit tier, as a contributor without root runs it: `npm run test:unit` as an unprivileged
 * account, in a network namespace with no network, passes in under 30 s.
 */
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { scratchDir } from "./fixtures";
import { ROOT } from "./local-services";

const UNIT_SECONDS = 30;

describe("the unit tier", { timeout: 5 * 60_000 }, () => {
  const dir = scratchDir("matrix-unit-");

  it(`npm run test:unit passes as an unprivileged account with no network, in under ${UNIT_SECONDS} s`, () => {
    const home = path.join(dir, "home");
    fs.mkdirSync(home);
    fs.chownSync(home, 65534, 65534); // nobody
    // Node >= 22 on PATH, as the tier requires (npm test has fetched one on this machine).
    const node = childProcess.execFileSync("bash", [path.join(ROOT, "scripts", "ensure-node.sh")], { encoding: "utf8" }).trim();
    // A contributor's shell: not inside this test runner (whose variable makes a nested one skip its files).
    const { NODE_TEST_CONTEXT: _inRunner, ...shell } = process.env;
    const started = Date.now();
    const r = childProcess.spawnSync("unshare", ["--net", "--", "runuser", "-u", "nobody", "--",
      "env", `HOME=${home}`, `PATH=${path.dirname(node)}:${process.env.PATH}`, "npm", "run", "--silent", "test:unit"],
    { cwd: ROOT, env: shell, encoding: "utf8", timeout: 4 * 60_000 });
    const seconds = (Date.now() - started) / 1000;
    const output = `${r.stdout}${r.stderr}`;
    console.log(`  [unit] npm run test:unit: ${seconds.toFixed(1)} s, ${/ℹ pass (\d+)/.exec(output)?.[1]} tests, exit ${r.status}`);
    assert.equal(r.status, 0, output.slice(-6000));
    assert.match(output, /ℹ fail 0/);
    assert.ok(Number(/ℹ pass (\d+)/.exec(output)?.[1]) > 200, output.slice(-2000));
    for (const suite of ["settings validation", "the stack.s config", "MatrixServer component", "stack program", "MatrixServer schema", "Synapse config"]) assert.match(output, new RegExp(suite), `no ${suite} tests ran`);
    assert.ok(seconds < UNIT_SECONDS, `npm run test:unit took ${seconds.toFixed(1)} s`);
  });
});
