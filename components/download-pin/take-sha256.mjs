// Run by `pulumi up` (through @pulumi/command, interpreter `node`) on the deploying machine, once
// per URL: download a release file whose SHA-256 nobody publishes and print that SHA-256, which
// the stack keeps in its state and every droplet it creates checks its own download against
// (components/downloadPin.ts). Failing, it says in one line what went wrong, how to give a
// SHA-256 verified otherwise, and how to do without the part.
//
// Environment: MATRIX_DO_PIN_URL, MATRIX_DO_PIN_SETTING (the setting to pin by hand),
// MATRIX_DO_PIN_WITHOUT (the setting that turns the part off).
import crypto from "node:crypto";

const { MATRIX_DO_PIN_URL: url, MATRIX_DO_PIN_SETTING: setting, MATRIX_DO_PIN_WITHOUT: without } = process.env;
// A 33 MB binary on a slow line, with room to spare.
const TIMEOUT_MS = 10 * 60 * 1000;

const REASONS = {
  ENOTFOUND: "no such host (offline?)",
  EAI_AGAIN: "the host's name does not resolve now (offline?)",
  ECONNREFUSED: "connection refused",
  ECONNRESET: "the connection was reset",
  UND_ERR_SOCKET: "the connection closed before the whole file came",
};

function fail(reason) {
  process.stderr.write(
    `matrix-do: cannot take the SHA-256 of ${url}: ${reason}. Nothing else was created or changed. Give one you verified yourself: ` +
    `pulumi config set ${setting} <sha256> (README, Calls); or turn calls off: pulumi config set ${without}\n`,
  );
  process.exit(1);
}

try {
  const reply = await fetch(url, { redirect: "follow", signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (reply.status !== 200) fail(`HTTP ${reply.status} ${reply.statusText}`);
  const body = Buffer.from(await reply.arrayBuffer());
  const announced = reply.headers.get("content-length");
  if (announced !== null && Number(announced) !== body.length) fail(`got ${body.length} bytes of the ${announced} announced`);
  if (body.length === 0) fail("the file is empty");
  process.stdout.write(crypto.createHash("sha256").update(body).digest("hex"));
} catch (error) {
  if (error?.name === "TimeoutError") fail(`no answer within ${TIMEOUT_MS / 60000} minutes`);
  // fetch's own message ("fetch failed") hides the reason in its cause.
  const code = error?.cause?.code;
  fail(REASONS[code] ?? String(code ?? error?.cause?.message ?? error?.message ?? error));
}
