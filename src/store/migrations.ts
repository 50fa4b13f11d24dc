/**
 * The schema, as knex migrations kept in code (so they run the same from sources and from dist/, on SQLite and on
 * PostgreSQL). Append new migrations; never edit one that has shipped.
 */
import type { Knex } from "knex";
import { readCountersMigration } from "./migrations-read-counters.js";
import { recordChunksMigration } from "./migrations-record-chunks.js";
import { ruleCountersMigration } from "./migrations-rule-counters.js";

interface Migration {
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

const MIGRATIONS: Record<string, Migration> = {
  "001_ca_registry": {
    async up(db) {
      await db.schema.createTable("certificates", (t) => {
        t.string("serial", 64).primary(); // lower-case hex, no leading zeros
        t.string("identity", 256).notNullable().index(); // subject CN
        t.text("subject").notNullable();
        t.string("profile", 16).notNullable();
        t.string("key_type", 32).notNullable();
        t.bigInteger("not_before").notNullable(); // ms since epoch
        t.bigInteger("not_after").notNullable();
        t.string("fingerprint_sha256", 64).notNullable().unique();
        t.text("pem").notNullable();
        t.string("status", 16).notNullable().defaultTo("active"); // active | revoked (expired is derived)
        t.bigInteger("revoked_at");
        t.string("revocation_reason", 32);
        t.bigInteger("created_at").notNullable();
      });
      await db.schema.createTable("ca_meta", (t) => {
        t.string("key", 64).primary();
        t.bigInteger("value").notNullable();
      });
    },
    async down(db) {
      await db.schema.dropTable("ca_meta");
      await db.schema.dropTable("certificates");
    },
  },
  "002_records": {
    async up(db) {
      await db.schema.createTable("records", (t) => {
        t.string("id", 64).primary();
        t.string("owner", 256).notNullable();
        t.binary("envelope").notNullable();
        t.integer("size").notNullable();
        t.bigInteger("created_at").notNullable();
        t.bigInteger("updated_at").notNullable();
        t.integer("version").notNullable().defaultTo(1);
        t.index(["owner", "created_at", "id"]);
      });
    },
    async down(db) {
      await db.schema.dropTable("records");
    },
  },
  "003_audit_quarantine": {
    async up(db) {
      await db.schema.createTable("audit_entries", (t) => {
        t.bigInteger("seq").primary(); // 1, 2, 3, ... assigned by the appender; a gap is tampering
        t.bigInteger("time").notNullable();
        t.string("actor", 256).notNullable();
        t.string("serial", 64);
        t.string("source", 64);
        t.string("action", 64).notNullable();
        t.string("record_id", 64);
        t.integer("status").notNullable();
        t.string("request_id", 64);
        t.text("detail");
        t.string("prev_hash", 64).notNullable();
        t.string("hash", 64).notNullable();
        t.index(["time"]);
      });
      await db.schema.createTable("audit_checkpoints", (t) => {
        t.bigInteger("seq").primary();
        t.string("hash", 64).notNullable();
        t.bigInteger("time").notNullable();
        t.text("signature").notNullable();
      });
      await db.schema.createTable("quarantine", (t) => {
        t.string("identity", 256).primary();
        t.string("rule", 64).notNullable();
        t.text("reason").notNullable();
        t.bigInteger("since").notNullable();
      });
    },
    async down(db) {
      await db.schema.dropTable("quarantine");
      await db.schema.dropTable("audit_checkpoints");
      await db.schema.dropTable("audit_entries");
    },
  },
  "004_rate_limits": {
    async up(db) {
      // The layout rate-limiter-flexible's PostgreSQL store uses (created here, so that migrations own the schema).
      await db.schema.createTable("rate_limits", (t) => {
        t.string("key", 255).primary();
        t.integer("points").notNullable().defaultTo(0);
        t.bigInteger("expire");
      });
    },
    async down(db) {
      await db.schema.dropTable("rate_limits");
    },
  },
  "005_certificate_requests": {
    async up(db) {
      await db.schema.createTable("certificate_requests", (t) => {
        t.string("id", 64).primary(); // random, 32 hex digits
        t.string("identity", 256).notNullable().index();
        t.text("csr").notNullable(); // PEM; public material only
        t.string("requested_by", 64).notNullable(); // serial of the certificate that asked
        t.string("status", 16).notNullable(); // pending | issuing (an auto-policy reservation) | issued | rejected
        t.string("serial", 64); // of the certificate issued
        t.bigInteger("created_at").notNullable();
        t.bigInteger("decided_at");
      });
    },
    async down(db) {
      await db.schema.dropTable("certificate_requests");
    },
  },
  "006_grants": {
    async up(db) {
      await db.schema.createTable("grants", (t) => {
        t.string("record_id", 64).notNullable();
        t.string("grantee", 256).notNullable().index();
        t.bigInteger("granted_at").notNullable();
        t.primary(["record_id", "grantee"]);
      });
    },
    async down(db) {
      await db.schema.dropTable("grants");
    },
  },
  "007_recovery_requests": {
    async up(db) {
      // A recovery may run only a waiting period after it was requested (see `certvault recovery request`).
      await db.schema.createTable("recovery_requests", (t) => {
        t.string("identity", 256).primary();
        t.string("requested_by", 256).notNullable();
        t.bigInteger("requested_at").notNullable();
      });
    },
    async down(db) {
      await db.schema.dropTable("recovery_requests");
    },
  },
  "008_grant_statements": {
    async up(db) {
      // The owner's signed grant (a CMS SignedData, client-sdk/grants.ts): the SDK seals to a grantee only on it, so
      // a grants row a database writer inserts names nobody. Rows from before have none and are not believed.
      await db.schema.alterTable("grants", (t) => {
        t.binary("statement").nullable();
      });
    },
    async down(db) {
      await db.schema.alterTable("grants", (t) => {
        t.dropColumn("statement");
      });
    },
  },
  "009_enrollment_tokens": {
    async up(db) {
      // One-time enrollment tokens (certvault ca token): only a SHA-256 of the token is kept, never the token.
      await db.schema.createTable("enrollment_tokens", (t) => {
        t.string("id", 32).primary(); // random, 32 hex digits; also inside the token, not secret
        t.string("identity", 256).notNullable(); // the only CN a certificate enrolled with it may have
        t.string("token_hash", 64).notNullable(); // SHA-256 of the whole token, hex
        t.string("created_by", 256).notNullable();
        t.bigInteger("created_at").notNullable();
        t.bigInteger("expires_at").notNullable().index();
        t.bigInteger("used_at"); // set once, atomically, by the enrollment that claims it
        t.string("serial", 64); // of the certificate issued with it
        t.bigInteger("revoked_at");
        t.bigInteger("expiry_audited_at"); // when its expiry (unused) was written to the audit trail
      });
    },
    async down(db) {
      await db.schema.dropTable("enrollment_tokens");
    },
  },
  "010_read_counters": readCountersMigration,
  "011_rule_counters": ruleCountersMigration,
  "012_record_chunks": recordChunksMigration,
};

export const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return Object.keys(MIGRATIONS).sort();
  },
  getMigrationName(name) {
    return name;
  },
  async getMigration(name) {
    const m = MIGRATIONS[name];
    if (!m) throw new Error(`unknown migration ${name}`);
    return m;
  },
};
