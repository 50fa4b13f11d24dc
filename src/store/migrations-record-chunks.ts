/**
 * Migration 012: large envelopes in chunks (store/record-chunks.ts). `records.chunks` is 0 for an envelope kept in
 * `records.envelope` (every record written before, and every one below CHUNKED_FROM_BYTES) and the number of its
 * `record_chunks` rows otherwise, whose `records.envelope` is then empty.
 */
import type { Knex } from "knex";

export const recordChunksMigration = {
  async up(db: Knex): Promise<void> {
    await db.schema.alterTable("records", (t) => {
      t.integer("chunks").notNullable().defaultTo(0);
    });
    await db.schema.createTable("record_chunks", (t) => {
      t.string("record_id", 64).notNullable();
      t.integer("seq").notNullable(); // 0, 1, 2, ... in the envelope's order
      t.integer("version").notNullable(); // the record's version these bytes belong to
      t.binary("bytes").notNullable();
      t.primary(["record_id", "seq"]);
    });
  },
  async down(db: Knex): Promise<void> {
    await db.schema.dropTable("record_chunks");
    await db.schema.alterTable("records", (t) => {
      t.dropColumn("chunks");
    });
  },
};
