/**
 * asn1-schema definitions of the structures @peculiar/asn1-cms lacks: AuthEnvelopedData (RFC 5083), GCMParameters
 * (RFC 5084) and ECC-CMS-SharedInfo (RFC 5753). The envelope's hot path frames these by hand (der.ts, for speed);
 * these classes are the reference shape, used by the tests to check that the hand-made encodings agree with an
 * independent ASN.1 library and to build malformed inputs.
 */
import { AsnArray, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from "@peculiar/asn1-schema";
import { Attribute, EncryptedContentInfo, OriginatorInfo, RecipientInfos } from "@peculiar/asn1-cms";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";

/** AuthAttributes ::= SET SIZE (1..MAX) OF Attribute; also UnauthAttributes. */
@AsnType({ type: AsnTypeTypes.Set, itemType: Attribute })
export class AuthAttributes extends AsnArray<Attribute> {
  constructor(items?: Attribute[]) {
    super(items);
    Object.setPrototypeOf(this, AuthAttributes.prototype);
  }
}

/**
 * AuthEnvelopedData ::= SEQUENCE {
 *   version CMSVersion,                                    -- 0
 *   originatorInfo [0] IMPLICIT OriginatorInfo OPTIONAL,
 *   recipientInfos RecipientInfos,
 *   authEncryptedContentInfo EncryptedContentInfo,
 *   authAttrs [1] IMPLICIT AuthAttributes OPTIONAL,
 *   mac MessageAuthenticationCode,                         -- OCTET STRING
 *   unauthAttrs [2] IMPLICIT UnauthAttributes OPTIONAL }
 */
export class AuthEnvelopedData {
  @AsnProp({ type: AsnPropTypes.Integer })
  version = 0;

  @AsnProp({ type: OriginatorInfo, context: 0, implicit: true, optional: true })
  originatorInfo?: OriginatorInfo;

  @AsnProp({ type: RecipientInfos })
  recipientInfos = new RecipientInfos();

  @AsnProp({ type: EncryptedContentInfo })
  authEncryptedContentInfo = new EncryptedContentInfo();

  @AsnProp({ type: AuthAttributes, context: 1, implicit: true, optional: true })
  authAttrs?: AuthAttributes;

  @AsnProp({ type: OctetString })
  mac = new OctetString();

  @AsnProp({ type: AuthAttributes, context: 2, implicit: true, optional: true })
  unauthAttrs?: AuthAttributes;

  constructor(params: Partial<AuthEnvelopedData> = {}) {
    Object.assign(this, params);
  }
}

/** GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen AES-GCM-ICVlen DEFAULT 12 } */
export class GcmParameters {
  @AsnProp({ type: AsnPropTypes.OctetString })
  nonce = new ArrayBuffer(0);

  @AsnProp({ type: AsnPropTypes.Integer, defaultValue: 12 })
  icvLen = 12;

  constructor(params: Partial<GcmParameters> = {}) {
    Object.assign(this, params);
  }
}

/**
 * ECC-CMS-SharedInfo ::= SEQUENCE {
 *   keyInfo AlgorithmIdentifier,
 *   entityUInfo [0] EXPLICIT OCTET STRING OPTIONAL,
 *   suppPubInfo [2] EXPLICIT OCTET STRING }
 */
export class EccCmsSharedInfo {
  @AsnProp({ type: AlgorithmIdentifier })
  keyInfo = new AlgorithmIdentifier();

  @AsnProp({ type: AsnPropTypes.OctetString, context: 0, optional: true })
  entityUInfo?: ArrayBuffer;

  @AsnProp({ type: AsnPropTypes.OctetString, context: 2 })
  suppPubInfo = new ArrayBuffer(0);

  constructor(params: Partial<EccCmsSharedInfo> = {}) {
    Object.assign(this, params);
  }
}
