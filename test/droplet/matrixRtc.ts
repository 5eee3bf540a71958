/** MatrixRTC turned off on a droplet, as the droplet suite and the local cloud's test both check it: nothing of it left. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { LIVEKIT_SERVICE } from "../../cloud-init/livekit";
import { PATHS, unitFile } from "../../cloud-init/paths";
import { RTC_AUTH_SERVICE } from "../../cloud-init/rtcAuth";
import { LocalDroplet } from "../../local/localDroplet";

/** Where MatrixRTC lives on the droplet: its units, config, secrets and address file (and its downloads, in PATHS.rtcBinDir). */
export const MATRIX_RTC_PATHS = [
  unitFile(`${LIVEKIT_SERVICE}.service`), unitFile(`${RTC_AUTH_SERVICE}.service`), PATHS.livekitConfig,
  path.dirname(PATHS.livekitSecret), PATHS.rtcAddressEnv,
];

/** Turned off (or never on): neither service runs or is installed, and none of its files is left. */
export function assertNoMatrixRtc(droplet: LocalDroplet): void {
  for (const unit of [LIVEKIT_SERVICE, RTC_AUTH_SERVICE]) {
    assert.notEqual(droplet.exec(["systemctl", "is-active", unit]).stdout.trim(), "active", unit);
  }
  const left = droplet.exec(["sh", "-c", 'for f in "$@"; do [ ! -e "$f" ] || echo "$f"; done', "sh", ...MATRIX_RTC_PATHS]).stdout.trim();
  assert.equal(left, "", "MatrixRTC's files left behind");
  assert.equal(droplet.exec(["find", PATHS.rtcBinDir, "-mindepth", "1"]).stdout.trim(), "", "downloads left behind");
}
