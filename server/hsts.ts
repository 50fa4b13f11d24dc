/**
 * HTTP Strict Transport Security on every answer of the TLS listeners: a browser that once reached the console over
 * HTTPS never tries plain HTTP for a year. No includeSubDomains: the server's name is the operator's, not ours.
 */
export const HSTS_HEADER = "max-age=31536000";
