/**
 * Accounts and rooms for the benchmark, made through Synapse's admin API on the droplet (it
 * is not reachable from outside), then used from outside through the client library.
 */
import * as crypto from "node:crypto";
import type { LocalDroplet } from "../local/localDroplet";
import { Session, loadSdk, tokenClient } from "../local/matrixClient";
import type { Talker } from "./load";
import { MATRIXCTL_TOKEN_FILE } from "../cloud-init/matrixctl";
import { PATHS } from "../cloud-init/paths";

export class AdminApi {
  private constructor(private readonly droplet: LocalDroplet, private readonly token: string) {}

  /**
   * As the account matrixctl acts as, with the token it keeps: no password login, which
   * Synapse rate-limits per account.
   */
  static async onDroplet(droplet: LocalDroplet): Promise<AdminApi> {
    const r = await droplet.execAsync(["sh", "-c", `matrixctl user list >/dev/null && cat ${MATRIXCTL_TOKEN_FILE}`], 60_000);
    if (r.code !== 0 || !r.stdout.trim()) throw new Error(`no matrixctl token: ${r.stderr}`);
    return new AdminApi(droplet, r.stdout.trim());
  }

  /** One admin API call on the droplet, on Synapse's admin socket (root's); throws on an HTTP error with Synapse's answer. */
  async call<T>(method: string, path: string, body: unknown = {}): Promise<T> {
    const r = await this.droplet.execAsync(["curl", "-sS", "--fail-with-body", "-X", method, "-H", `Authorization: Bearer ${this.token}`,
      "-H", "Content-Type: application/json", "-d", JSON.stringify(body), "--unix-socket", PATHS.synapseAdminSocket, `http://localhost${path}`], 60_000);
    if (r.code !== 0) throw new Error(`${method} ${path}: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** A new account, and an access token for it (the admin's login-as-user). */
  async user(localpart: string, serverName: string): Promise<{ userId: string; token: string }> {
    const userId = `@${localpart}:${serverName}`;
    await this.call("PUT", `/_synapse/admin/v2/users/${encodeURIComponent(userId)}`, { password: crypto.randomBytes(16).toString("hex") });
    const { access_token: token } = await this.call<{ access_token: string }>("POST", `/_synapse/admin/v1/users/${encodeURIComponent(userId)}/login`);
    return { userId, token };
  }

  /** Lift the message rate limit for one user (as an admin would for a bot). */
  async unlimit(userId: string): Promise<void> {
    await this.call("POST", `/_synapse/admin/v1/users/${encodeURIComponent(userId)}/override_ratelimit`, { messages_per_second: 0, burst_count: 0 });
  }
}

/** `users` accounts spread over `rooms` private rooms (user i in room i mod rooms), all joined. */
export async function populate(
  admin: AdminApi, serverName: string, client: { baseUrl: string; fetchFn: typeof fetch }, prefix: string, users: number, rooms: number,
): Promise<Talker[]> {
  const sessions: Session[] = [];
  for (let i = 0; i < users; i++) {
    const { userId, token } = await admin.user(`${prefix}${i}`, serverName);
    sessions.push(await tokenClient(client.baseUrl, client.fetchFn, userId, token));
  }
  const { Preset } = await loadSdk();
  const talkers: Talker[] = [];
  for (let r = 0; r < rooms; r++) {
    const members = sessions.filter((_, i) => i % rooms === r);
    const [creator, ...others] = members;
    const { room_id: roomId } = await creator.client.createRoom({ name: `${prefix} room ${r}`, preset: Preset.PrivateChat, invite: others.map((o) => o.userId) });
    for (const other of others) await other.client.joinRoom(roomId);
    talkers.push(...members.map((m) => ({ client: m.client, userId: m.userId, roomId })));
  }
  return talkers;
}
