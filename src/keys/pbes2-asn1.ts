/**
 * ASN.1 shapes of PBES2 (RFC 8018) that @peculiar/asn1-pkcs8 does not define: PBES2-params and PBKDF2-params.
 */
import { AsnProp, AsnPropTypes } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";

export const OID_PBES2 = "1.2.840.113549.1.5.13";
export const OID_PBKDF2 = "1.2.840.113549.1.5.12";
export const OID_HMAC_SHA256 = "1.2.840.113549.2.9";
export const OID_AES256_CBC = "2.16.840.1.101.3.4.1.42";

export class Pbkdf2Params {
  @AsnProp({ type: AsnPropTypes.OctetString })
  salt = new ArrayBuffer(0);

  @AsnProp({ type: AsnPropTypes.Integer })
  iterationCount = 0;

  @AsnProp({ type: AsnPropTypes.Integer, optional: true })
  keyLength?: number;

  @AsnProp({ type: AlgorithmIdentifier, optional: true })
  prf?: AlgorithmIdentifier;
}

export class Pbes2Params {
  @AsnProp({ type: AlgorithmIdentifier })
  keyDerivationFunc = new AlgorithmIdentifier();

  @AsnProp({ type: AlgorithmIdentifier })
  encryptionScheme = new AlgorithmIdentifier();
}
