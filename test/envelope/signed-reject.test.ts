/**
 * The must-reject rules of docs/envelope.md "Signed records" that test/envelope/signed.test.ts does not exercise:
 * a good signed record is split into a tree of DER TLVs (a generic reader of its own, not the envelope's code), one
 * node is changed, and the tree is encoded again; verifyRecordSignature must refuse it with the rule's typed error.
 * One test per rule, named after it. Each defect is structural and is caught before the signature is checked, so
 * nothing is re-signed. (@peculiar/asn1-schema cannot be used here: it re-encodes the binding's 2.25 OID wrongly.)
 */
import { expect } from "chai";
import * as E from "../../src/envelope/index.js";
import { signRecord, verifyRecordSignature } from "../../src/envelope/index.js";
import { Fixtures, type Identity, bytes, thrown } from "./fixtures.js";

const BINDING = { owner: "alice", id: "0123456789abcdef0123456789abcdef" };

/** A DER node: constructed ones (tag bit 0x20) have children, primitive ones a value. */
interface Node {
  tag: number;
  value?: Uint8Array;
  children?: Node[];
}

function parse(b: Uint8Array): Node[] {
  const out: Node[] = [];
  let i = 0;
  while (i < b.length) {
    const tag = b[i++] as number;
    let len = b[i++] as number;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + (b[i++] as number);
    }
    const body = b.subarray(i, i + len);
    i += len;
    out.push(tag & 0x20 ? { tag, children: parse(body) } : { tag, value: body });
  }
  return out;
}

function encode(n: Node): Uint8Array {
  const body = n.children ? Buffer.concat(n.children.map(encode)) : Buffer.from(n.value ?? new Uint8Array(0));
  const len = body.length;
  const head =
    len < 0x80
      ? [len]
      : len < 0x100
        ? [0x81, len]
        : len < 0x10000
          ? [0x82, len >> 8, len & 0xff]
          : [0x83, len >> 16, (len >> 8) & 0xff, len & 0xff];
  return new Uint8Array(Buffer.concat([Buffer.from([n.tag, ...head]), body]));
}

const node = (hex: string): Node => parse(new Uint8Array(Buffer.from(hex, "hex")))[0] as Node;
const kids = (n: Node | undefined): Node[] => n?.children as Node[];
/** The OID node's DER as hex, to find an attribute by type. */
const oidHex = (n: Node): string => Buffer.from(encode(n)).toString("hex");
const OID = {
  contentType: "06092a864886f70d010903",
  signingTime: "06092a864886f70d010905",
  binding: Buffer.from(encode({ tag: 0x06, value: bindingOid() })).toString("hex"),
};

function bindingOid(): Uint8Array {
  // 2.25.91514299663583452784426527990851682588: first arc pair 2*40+25 = 105, then the big arc in base 128.
  let v = 91514299663583452784426527990851682588n;
  const arc: number[] = [];
  do {
    arc.unshift(Number(v & 0x7fn) | (arc.length ? 0x80 : 0));
    v >>= 7n;
  } while (v > 0n);
  return new Uint8Array([105, ...arc]);
}

/** SEQUENCE { INTEGER version, UTF8String owner, UTF8String id }, the owner's octets as `encoding` gives them. */
function binding(version: number, owner: string, id: string, encoding: BufferEncoding = "utf8"): Node {
  return {
    tag: 0x30,
    children: [
      { tag: 0x02, value: Uint8Array.of(version) },
      { tag: 0x0c, value: Buffer.from(owner, encoding) },
      { tag: 0x0c, value: Buffer.from(id, "utf8") },
    ],
  };
}

describe("envelope: signed records, the other must-reject rules", function () {
  this.timeout(60_000);
  let fx: Fixtures;
  let p256: Identity, p256b: Identity;
  let good: Uint8Array;

  before(async function () {
    fx = await Fixtures.create();
    ({ p256, p256b } = await fx.standard());
    good = signRecord(bytes("the signed record"), { key: p256.key, certificate: p256.certPem }, BINDING);
  });
  after(async () => fx.cleanup());

  /**
   * The record with `change` applied to the tree: sd = SignedData's fields [version, digestAlgorithms,
   * encapContentInfo, certificates, signerInfos], si = its one SignerInfo's [version, sid, digestAlgorithm,
   * [0] signedAttrs, signatureAlgorithm, signature].
   */
  function mutated(change: (sd: Node[], si: Node[]) => void): Uint8Array {
    const ci = parse(good)[0] as Node;
    const sd = kids(kids(kids(ci)[1])[0]);
    const si = kids(kids(sd[4])[0]);
    change(sd, si);
    return encode(ci);
  }
  const attrs = (si: Node[]): Node[] => kids(si[3]);
  const attr = (si: Node[], oid: string): Node => attrs(si).find((a) => oidHex(kids(a)[0] as Node) === oid) as Node;
  const setValues = (a: Node, ...values: Node[]): void => {
    (kids(a)[1] as Node).children = values;
  };

  it("control: the tree re-encodes the good record byte for byte, and it verifies", function () {
    expect(Buffer.from(mutated(() => undefined))).to.deep.equal(Buffer.from(good));
    expect(verifyRecordSignature(good).binding).to.deep.equal(BINDING);
  });

  const refused = <T extends Error>(
    change: (sd: Node[], si: Node[]) => void,
    cls: new (...args: never[]) => T,
    message: RegExp,
  ): void => {
    expect(thrown(() => verifyRecordSignature(mutated(change)), cls).message).to.match(message);
  };
  /** Keeps the signed attributes in DER order after a value changed length, so that only the rule under test fails. */
  const resort = (si: Node[]): void => {
    attrs(si).sort((x, y) => Buffer.compare(Buffer.from(encode(x)), Buffer.from(encode(y))));
  };

  it("signed_data_version_3", () =>
    refused((sd) => (sd[0] = node("020103")), E.MalformedEnvelopeError, /SignedData version must be 1/));
  it("two_digest_algorithms", () =>
    refused((sd) => kids(sd[1]).push(kids(sd[1])[0] as Node), E.MalformedEnvelopeError, /digestAlgorithms/));
  it("encapsulated_content_not_id_data", () =>
    refused((sd) => (kids(sd[2])[0] = node("06092a864886f70d010703")), E.UnsupportedFeatureError, /must be id-data/));
  it("no_certificates", () =>
    refused((sd) => sd.splice(3, 1), E.MalformedEnvelopeError, /certificate must be included/));
  it("signer_certificate_not_included (another certificate in its place)", () =>
    refused(
      (sd) => ((sd[3] as Node).children = parse(p256b.certDer)),
      E.MalformedEnvelopeError,
      /not \(exactly once\) in the SignedData/,
    ));
  it("signer_certificate_twice", () =>
    refused(
      (sd) => kids(sd[3]).push(kids(sd[3])[0] as Node),
      E.MalformedEnvelopeError,
      /not \(exactly once\) in the SignedData/,
    ));
  it("more_than_4_certificates", () =>
    refused(
      (sd) =>
        kids(sd[3]).push(
          ...parse(p256b.certDer),
          ...parse(p256b.certDer),
          ...parse(p256b.certDer),
          ...parse(p256b.certDer),
        ),
      E.MalformedEnvelopeError,
      /more than 4 certificates/,
    ));
  it("crls_present", () =>
    refused((sd) => sd.splice(4, 0, { tag: 0xa1, children: [] }), E.UnsupportedFeatureError, /CRLs/));
  it("signer_identified_by_subject_key_identifier", () =>
    refused(
      (_sd, si) => {
        si[0] = node("020103");
        si[1] = { tag: 0x80, value: new Uint8Array(20).fill(7) };
      },
      E.MalformedEnvelopeError,
      /issuerAndSerialNumber/,
    ));
  it("no_signed_attributes", () => refused((_sd, si) => si.splice(3, 1), E.MalformedEnvelopeError, /signedAttrs/));
  it("unsigned_attributes", () =>
    refused(
      (_sd, si) => si.push({ tag: 0xa1, children: [attr(si, OID.signingTime)] }),
      E.UnsupportedFeatureError,
      /unsigned attributes/,
    ));
  it("signed_attributes_not_in_der_order", () =>
    refused((_sd, si) => attrs(si).reverse(), E.MalformedEnvelopeError, /not in DER order/));
  it("attribute_twice", () =>
    refused(
      (_sd, si) => attrs(si).push(attrs(si)[attrs(si).length - 1] as Node),
      E.MalformedEnvelopeError,
      /appears twice/,
    ));
  it("attribute_with_two_values", () =>
    refused(
      (_sd, si) => kids(kids(attr(si, OID.signingTime))[1]).push(kids(kids(attr(si, OID.signingTime))[1])[0] as Node),
      E.MalformedEnvelopeError,
      /exactly one value/,
    ));
  it("attribute_not_allowed (smimeCapabilities)", () =>
    refused(
      (_sd, si) => {
        attrs(si).push(node("301a06092a864886f70d01090f310d300b0609608648016503040102"));
        resort(si);
      },
      E.UnsupportedFeatureError,
      /signed attribute .* is not allowed/,
    ));
  it("binding_attribute_missing", () =>
    refused(
      (_sd, si) => attrs(si).splice(attrs(si).indexOf(attr(si, OID.binding)), 1),
      E.MalformedEnvelopeError,
      /are required/,
    ));
  it("message_digest_attribute_missing", () =>
    refused(
      (_sd, si) =>
        attrs(si).splice(
          attrs(si).findIndex((a) => oidHex(kids(a)[0] as Node) === "06092a864886f70d010904"),
          1,
        ),
      E.MalformedEnvelopeError,
      /are required/,
    ));
  it("content_type_attribute_not_id_data", () =>
    refused(
      (_sd, si) => {
        setValues(attr(si, OID.contentType), node("06092a864886f70d010702"));
        resort(si);
      },
      E.MalformedEnvelopeError,
      /contentType attribute must be id-data/,
    ));
  it("signing_time_as_generalized_time", () =>
    refused(
      (_sd, si) => {
        setValues(attr(si, OID.signingTime), node("180f32303236313230323034323733305a"));
        resort(si);
      },
      E.MalformedEnvelopeError,
      /signingTime/,
    ));
  it("binding_version_2", () =>
    refused(
      (_sd, si) => {
        setValues(attr(si, OID.binding), binding(2, BINDING.owner, BINDING.id));
        resort(si);
      },
      E.UnsupportedFeatureError,
      /binding version/,
    ));
  it("binding_owner_not_utf8", () =>
    refused(
      (_sd, si) => {
        setValues(attr(si, OID.binding), binding(1, "\u00ff", BINDING.id, "latin1"));
        resort(si);
      },
      E.MalformedEnvelopeError,
      /UTF-8/,
    ));
});
