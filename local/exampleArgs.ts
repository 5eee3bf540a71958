import { PlainArgs } from "../components/settings";

/** The fewest args a deployment needs, for example.test: the base of the test droplets' settings and of the tests'. */
export const VALID_ARGS: PlainArgs = {
  domain: "example.test",
  adminEmail: "admin@example.test",
  sshKeys: ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"],
};
