/** PEM armour (RFC 7468), one place for the labels certvault writes. */
export function toPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString("base64");
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`;
}

/** OpenSSL reads CRLs only under the "X509 CRL" label (@peculiar/x509 writes "CRL"). */
export function crlPem(der: ArrayBuffer): string {
  return toPem(der, "X509 CRL");
}
