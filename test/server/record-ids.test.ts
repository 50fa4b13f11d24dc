/** Server-chosen record ids (services/records.ts newRecordId) come from a pool of CSPRNG bytes refilled every 256. */
import { expect } from "chai";
import { newRecordId } from "../../src/server/services/records.js";

describe("server: record ids", function () {
  it("are 32 lowercase hex digits and never repeat, across several refills of the pool", function () {
    const ids = Array.from({ length: 256 * 4 + 7 }, () => newRecordId());
    for (const id of ids) expect(id).to.match(/^[0-9a-f]{32}$/);
    expect(new Set(ids).size).to.equal(ids.length);
    // No id is all zeros (a pool handed out before it was filled, or after it was cleared).
    expect(ids.filter((id) => /^0+$/.test(id))).to.deep.equal([]);
  });
});
