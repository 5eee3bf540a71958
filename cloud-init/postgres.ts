/**
 * PostgreSQL for Synapse: server settings sized to the droplet, and the idempotent SQL that
 * creates Synapse's role and database (UTF8, C collation, from template0, as Synapse requires).
 */
import { renderPostgresConf, sqlLiteral } from "./formats";
import { PATHS } from "./paths";
import { POSTGRES_PORT } from "./ports";
import { Secrets, Settings } from "./settings";
import { POSTGRESQL_MAJOR } from "./versions";

export const SYNAPSE_DB = { name: "synapse", user: "synapse", host: "127.0.0.1", port: POSTGRES_PORT } as const;

/** Debian's units: one for all clusters, and one a cluster (postgresql@<major>-<cluster>). */
export const POSTGRES_SERVICE = "postgresql";
/** Our one cluster, on the volume (bind-mounted at PATHS.postgresData and PATHS.postgresConfig). */
export const POSTGRES_CLUSTER = "main";
export const POSTGRES_CLUSTER_SERVICE = `${POSTGRES_SERVICE}@${POSTGRESQL_MAJOR}-${POSTGRES_CLUSTER}`;
export const POSTGRES_CLUSTER_DATA = `${PATHS.postgresData}/${POSTGRESQL_MAJOR}/${POSTGRES_CLUSTER}`;
export const POSTGRES_CLUSTER_CONFIG = `${PATHS.postgresConfig}/${POSTGRESQL_MAJOR}/${POSTGRES_CLUSTER}`;

export function renderPostgresTuning(settings: Settings): string {
  const t = settings.tuning.postgres;
  return (
    `# Written by matrix-do on every boot; edit the Pulumi config, not this file.\n` +
    renderPostgresConf({
      listen_addresses: "localhost",
      password_encryption: "scram-sha-256",
      // No JIT: Synapse's queries are short, and the service may not write code to memory and
      // run it (MemoryDenyWriteExecute, sandbox.ts).
      jit: "off",
      ...(t ? {
        max_connections: t.maxConnections,
        shared_buffers: `${t.sharedBuffersMb}MB`,
        effective_cache_size: `${t.effectiveCacheSizeMb}MB`,
        work_mem: `${t.workMemMb}MB`,
        maintenance_work_mem: `${t.maintenanceWorkMemMb}MB`,
        // Synapse writes in many small transactions; a little batching saves disk flushes.
        wal_buffers: "8MB",
        checkpoint_completion_target: 0.9,
        random_page_cost: 1.1,
      } : {}),
    })
  );
}

/** Run by psql as the postgres superuser. Safe to run on every boot. */
export function renderPostgresSetupSql(secrets: Secrets): string {
  const { name, user } = SYNAPSE_DB;
  return [
    `SET password_encryption = 'scram-sha-256';`,
    `SELECT format('CREATE ROLE %I LOGIN', ${sqlLiteral(user)})`,
    `WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${sqlLiteral(user)})\\gexec`,
    // Sets (or rotates) the password; stored as a SCRAM verifier.
    `ALTER ROLE ${user} WITH LOGIN PASSWORD ${sqlLiteral(secrets.postgresPassword)};`,
    `SELECT format('CREATE DATABASE %I OWNER %I ENCODING ''UTF8'' LC_COLLATE ''C'' LC_CTYPE ''C'' TEMPLATE template0', ${sqlLiteral(name)}, ${sqlLiteral(user)})`,
    `WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = ${sqlLiteral(name)})\\gexec`,
    "",
  ].join("\n");
}
