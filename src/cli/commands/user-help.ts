/** Help text of the user commands, apart so that `certvault --help` loads nothing else. */
export const USER_HELP = `User commands (a profile DIR holds key.pem, cert.pem, ca.pem, config.json):
  keygen --name NAME --out DIR [--key-type ec-p256|ec-p384|rsa-3072] [--passphrase-file F]
  enroll --server ENROLL_URL --token-file F --fingerprint SHA256 --out DIR [--key-type ...] [--passphrase-file F]
                                                    a complete profile from a one-time token ("enroll --help")
  put --profile DIR [--server URL] FILE|-          prints the new record's id
  get --profile DIR [--server URL] ID [-o FILE]     decrypts on this machine; content only once its signature verifies
      [--owner IDENTITY]                            a record IDENTITY shared with you (default: your own)
      [--refuse-server-sealed]                      refuse records the server sealed from a plaintext upload
      [--accept-unsigned]                           also accept unsigned records (stored before signed records)
  ls  --profile DIR [--server URL] [--json]
  rm  --profile DIR [--server URL] ID
  share   --profile DIR ID --with IDENTITY          wraps the record's key for IDENTITY's certificates and grants access
  unshare --profile DIR ID --with IDENTITY          removes them again (what they downloaded stays theirs)
  renew  --profile DIR --csr FILE [--request ID] [--out FILE]     asks for (or polls) a certificate for a new key
  rotate --profile DIR --new-cert FILE [--drop-old] [--revoke-old]  re-wraps every record to the new certificate (resumable)
  export-p12 --profile DIR --out FILE [--p12-passphrase-file F2] [--chain FILE]... [--force]
      key, certificate and chain as PKCS#12 (AES-256-CBC, PBKDF2-SHA256, HMAC-SHA256 MAC), mode 0600: for browsers, keychains, curl
`;
