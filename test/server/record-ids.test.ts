/**
 * Record ids (policy/record-id.ts), one policy for the server's POSTs and the SDK's puts: 32 lower-case hex digits
 * from a pool of CSPRNG bytes refilled every 256.
 */
import { expect } from "chai";
import { isRecordId, newRecordId } from "../../src/policy/record-id.js";
import { newRecordId as sdkRecordId } from "../../src/client-sdk/index.js";

describe("server: record ids", function () {
  it("are 32 lowercase hex digits and never repeat, across several refills of the pool", function () {
    const ids = Array.from({ length: 256 * 4 + 7 }, () => newRecordId());
    for (const id of ids) expect(id).to.match(/^[0-9a-f]{32}$/);
    expect(new Set(ids).size).to.equal(ids.length);
    // No id is all zeros (a pool handed out before it was filled, or after it was cleared).
    expect(ids.filter((id) => /^0+$/.test(id))).to.deep.equal([]);
  });

  it("the SDK names its puts by the same policy", function () {
    expect(sdkRecordId).to.equal(newRecordId);
  });

  it("only that form is a record id: no upper case, other lengths, separators or a leading dash", function () {
    expect(isRecordId(newRecordId())).to.equal(true);
    const id = "0123456789abcdef0123456789abcdef";
    expect(isRecordId(id)).to.equal(true);
    for (const bad of [id.toUpperCase(), id.slice(1), `${id}0`, `-${id.slice(1)}`, `${id.slice(0, 31)}\n`, ""]) {
      expect(isRecordId(bad), JSON.stringify(bad)).to.equal(false);
    }
  });
});
