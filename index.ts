/**
 * The stack: reads this project's config (see Pulumi.yaml) and deploys one MatrixServer.
 * Everything else lives in components/ (cloud resources) and cloud-init/ (the droplet's payload).
 */
import * as pulumi from "@pulumi/pulumi";
import { MatrixServer } from "./components";
import { readStackConfig } from "./components/stackConfig";

const server = new MatrixServer("matrix", readStackConfig(new pulumi.Config()));

export const homeserverUrl = server.homeserverUrl;
export const elementUrl = server.elementUrl;
export const serverName = server.serverName;
export const adminUserId = server.adminUserId;
export const adminPassword = server.adminPassword;
export const reservedIp = server.reservedIp;
export const sshCommand = server.sshCommand;
export const sshHostKey = server.sshHostKey;
export const backupPassword = server.backupPassword;
