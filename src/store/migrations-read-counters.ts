/** Migration 010: the read counters the anomaly rules share across nodes and restarts (store/read-counters.ts). */
import type { Knex } from "knex";

export const readCountersMigration = {
  async up(db: Knex): Promise<void> {
    await db.schema.createTable("read_marks", (t) => {
      t.string("identity", 256).notNullable();
      t.string("record_id", 64).notNullable();
      t.bigInteger("short_at").notNullable(); // ms since epoch: when the record last counted in the short window
      t.bigInteger("day_at").notNullable(); // ... and in the day window
      t.primary(["identity", "record_id"]);
      t.index(["day_at"]);
    });
    await db.schema.createTable("read_counts", (t) => {
      t.string("identity", 256).notNullable();
      t.string("scale", 8).notNullable(); // short | day
      t.bigInteger("bucket").notNullable(); // floor(ms / bucket length)
      t.integer("n").notNullable();
      t.primary(["identity", "scale", "bucket"]);
    });
  },
  async down(db: Knex): Promise<void> {
    await db.schema.dropTable("read_counts");
    await db.schema.dropTable("read_marks");
  },
};
