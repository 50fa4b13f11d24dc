/**
 * Migration 011: the window counts of the other anomaly rules (volume, id_guessing, list_walk, stale_access,
 * many_sources), shared by every node and kept across restarts (store/rule-counters.ts).
 */
import type { Knex } from "knex";

export const ruleCountersMigration = {
  async up(db: Knex): Promise<void> {
    await db.schema.createTable("rule_counts", (t) => {
      t.string("identity", 256).notNullable();
      t.string("counter", 16).notNullable(); // volume | volume_w | not_found | pages | stale | sources
      t.bigInteger("bucket").notNullable(); // floor(ms / the counter's bucket length)
      t.integer("n").notNullable();
      t.primary(["identity", "counter", "bucket"]);
      t.index(["counter", "bucket"]); // the sweep
    });
    await db.schema.createTable("rule_marks", (t) => {
      t.string("identity", 256).notNullable();
      t.string("counter", 16).notNullable(); // stale | sources
      t.string("mark", 128).notNullable(); // a record id or a source address (longer ones: their SHA-256)
      t.bigInteger("at").notNullable(); // ms since epoch: when it last counted in its window
      t.primary(["identity", "counter", "mark"]);
      t.index(["counter", "at"]); // the sweep
    });
  },
  async down(db: Knex): Promise<void> {
    await db.schema.dropTable("rule_marks");
    await db.schema.dropTable("rule_counts");
  },
};
