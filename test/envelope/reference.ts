/**
 * An independent reference encoder for AuthEnvelopedData, built from @peculiar/asn1-* classes, envelope/asn1.ts
 * and node:crypto (none of envelope's own encoding code), with knobs to produce one defect at a time. Its default
 * output is checked to open with `openssl cms`, so the defects are the only difference from a good envelope.
 */
import {
  createCipheriv,
  createECDH,
  createHash,
  createPublicKey,
  constants,
  publicEncrypt,
  randomBytes,
} from "node:crypto";
import { AsnConvert, AsnParser, AsnProp, AsnPropTypes, OctetString } from "@peculiar/asn1-schema";
import {
  EncryptedContent,
  EncryptedContentInfo,
  IssuerAndSerialNumber,
  KeyTransRecipientInfo,
  RecipientIdentifier,
  RecipientInfo,
} from "@peculiar/asn1-cms";
import {
  AlgorithmIdentifier,
  Certificate,
  SubjectKeyIdentifier,
  id_ce_subjectKeyIdentifier,
} from "@peculiar/asn1-x509";
import { RsaEsOaepParams } from "@peculiar/asn1-rsa";
import { EccCmsSharedInfo, GcmParameters } from "../../src/envelope/asn1.js";
import type { Identity } from "./fixtures.js";

export const OIDS = {
  authEnvelopedData: "1.2.840.113549.1.9.16.1.23",
  data: "1.2.840.113549.1.7.1",
  aes256Gcm: "2.16.840.1.101.3.4.1.46",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  aes256Wrap: "2.16.840.1.101.3.4.1.45",
  aes128Wrap: "2.16.840.1.101.3.4.1.5",
  sha256Kdf: "1.3.132.1.11.1",
  sha1Kdf: "1.3.133.16.840.63.0.2",
  ecPublicKey: "1.2.840.10045.2.1",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
  oaep: "1.2.840.113549.1.1.7",
  mgf1: "1.2.840.113549.1.1.8",
  sha256: "2.16.840.1.101.3.4.2.1",
  contentTypeAttr: "1.2.840.113549.1.9.3",
};

/** A local DER writer (short and long form lengths), independent of envelope/der.ts. */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  const n = body.length;
  const len =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 0xff]
          : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return new Uint8Array(Buffer.concat([Uint8Array.of(tag, ...len), body]));
}

class OidHolder {
  @AsnProp({ type: AsnPropTypes.ObjectIdentifier })
  value = "";
}

export function oid(dotted: string): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(Object.assign(new OidHolder(), { value: dotted }))).subarray(2);
}

const ser = (o: unknown): Uint8Array => new Uint8Array(AsnConvert.serialize(o));
const algId = (algorithm: string, parameters?: Uint8Array) =>
  new AlgorithmIdentifier(parameters ? { algorithm, parameters: parameters.slice().buffer } : { algorithm });

export interface RefOptions {
  contentAlgOid?: string;
  nonceBytes?: number;
  icvLen?: number;
  tagBytes?: number;
  innerContentType?: string;
  version?: number;
  kdfOid?: string;
  wrapOid?: string;
  ukm?: Uint8Array;
  /** Returns the whole originatorKey [1] TLV for the given ephemeral point. */
  originator?: (point: Uint8Array) => Uint8Array;
  /** RSAES-OAEP-params; default SHA-256 + MGF1-SHA-256. `oaepSha1` writes the all-default (SHA-1) params. */
  oaepSha1?: boolean;
  bySubjectKeyIdentifier?: boolean;
  authAttrs?: boolean;
  unauthAttrs?: boolean;
  originatorInfo?: boolean;
  /** Extra raw RecipientInfo TLVs to add. */
  extraRecipientInfos?: Uint8Array[];
}

function recipientInfo(who: Identity, cek: Uint8Array, o: RefOptions): Uint8Array {
  const cert = AsnParser.parse(who.certDer, Certificate);
  const ias = new IssuerAndSerialNumber({
    issuer: cert.tbsCertificate.issuer,
    serialNumber: cert.tbsCertificate.serialNumber,
  });
  const skiExt = cert.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  const ski = skiExt ? AsnParser.parse(skiExt.extnValue, SubjectKeyIdentifier) : undefined;
  if (who.key.asymmetricKeyType === "rsa") {
    const oaepHash = o.oaepSha1 ? "sha1" : "sha256";
    const params = o.oaepSha1
      ? new RsaEsOaepParams()
      : new RsaEsOaepParams({
          hashAlgorithm: algId(OIDS.sha256),
          maskGenAlgorithm: algId(OIDS.mgf1, ser(algId(OIDS.sha256))),
        });
    const ktri = new KeyTransRecipientInfo({
      version: o.bySubjectKeyIdentifier ? 2 : 0,
      rid: new RecipientIdentifier(
        o.bySubjectKeyIdentifier ? { subjectKeyIdentifier: ski } : { issuerAndSerialNumber: ias },
      ),
      keyEncryptionAlgorithm: algId(OIDS.oaep, ser(params)),
      encryptedKey: new OctetString(
        publicEncrypt({ key: who.certPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, cek),
      ),
    });
    return ser(new RecipientInfo({ ktri }));
  }
  const jwk = createPublicKey(who.certPem).export({ format: "jwk" });
  const curve = ({ "P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1" } as const)[
    jwk.crv as "P-256" | "P-384" | "P-521"
  ];
  const ecdh = createECDH(curve);
  const point = ecdh.generateKeys();
  const z = ecdh.computeSecret(
    Buffer.concat([Uint8Array.of(4), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]),
  );
  const wrapOid = o.wrapOid ?? OIDS.aes256Wrap;
  const info = new EccCmsSharedInfo({ keyInfo: algId(wrapOid), suppPubInfo: Uint8Array.of(0, 0, 1, 0).buffer });
  if (o.ukm) info.entityUInfo = o.ukm.slice().buffer;
  const kek = createHash("sha256")
    .update(z)
    .update(Uint8Array.of(0, 0, 0, 1))
    .update(ser(info))
    .digest();
  const w = createCipheriv("id-aes256-wrap", kek, Buffer.from("a6a6a6a6a6a6a6a6", "hex"));
  const wrapped = Buffer.concat([w.update(cek), w.final()]);
  const originatorKey =
    o.originator?.(point) ?? tlv(0xa1, ser(algId(OIDS.ecPublicKey)), tlv(0x03, Uint8Array.of(0), point));
  const rid = o.bySubjectKeyIdentifier ? tlv(0xa0, tlv(0x04, new Uint8Array(ski!.buffer))) : ser(ias);
  return tlv(
    0xa1,
    Uint8Array.of(2, 1, 3),
    tlv(0xa0, originatorKey),
    ...(o.ukm ? [tlv(0xa1, tlv(0x04, o.ukm))] : []),
    ser(algId(o.kdfOid ?? OIDS.sha256Kdf, ser(algId(wrapOid)))),
    tlv(0x30, tlv(0x30, rid, tlv(0x04, wrapped))),
  );
}

/** Seals `plaintext` to each of `recipients` like certvault should, with the defects `o` asks for. */
export function referenceSeal(plaintext: Uint8Array, recipients: Identity[], o: RefOptions = {}): Uint8Array {
  const cek = randomBytes(32);
  const nonce = randomBytes(o.nonceBytes ?? 12);
  const cipher = createCipheriv("aes-256-gcm", cek, nonce);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag().subarray(0, o.tagBytes ?? 16);
  const gcmParams = ser(
    new GcmParameters({
      nonce: nonce.buffer.slice(nonce.byteOffset, nonce.byteOffset + nonce.length),
      icvLen: o.icvLen ?? 16,
    }),
  );
  const eci = new EncryptedContentInfo({
    contentType: o.innerContentType ?? OIDS.data,
    contentEncryptionAlgorithm: algId(o.contentAlgOid ?? OIDS.aes256Gcm, gcmParams),
    encryptedContent: new EncryptedContent({ value: new OctetString(ct) }),
  });
  const attrs = tlv(0x30, oid(OIDS.contentTypeAttr), tlv(0x31, oid(OIDS.data)));
  const ris = [...recipients.map((r) => recipientInfo(r, cek, o)), ...(o.extraRecipientInfos ?? [])];
  const aed = tlv(
    0x30,
    Uint8Array.of(2, 1, o.version ?? 0),
    ...(o.originatorInfo ? [tlv(0xa0)] : []),
    tlv(0x31, ...ris),
    ser(eci),
    ...(o.authAttrs ? [tlv(0xa1, attrs)] : []),
    tlv(0x04, tag),
    ...(o.unauthAttrs ? [tlv(0xa2, attrs)] : []),
  );
  return tlv(0x30, oid(OIDS.authEnvelopedData), tlv(0xa0, aed));
}

/** The ephemeral-key originator with explicit or other parameters, for hostile-key tests. */
export function originatorWith(params: Uint8Array | undefined, point: Uint8Array): Uint8Array {
  return tlv(0xa1, tlv(0x30, oid(OIDS.ecPublicKey), ...(params ? [params] : [])), tlv(0x03, Uint8Array.of(0), point));
}
