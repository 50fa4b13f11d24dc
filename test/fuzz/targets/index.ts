/** Every fuzz target, in the order the runs take them. */
import type { FuzzTarget } from "../harness.js";
import { envelopeTarget, grantTarget, signedTarget } from "./envelope.js";
import { httpFramingTarget, httpTarget } from "./http.js";
import { anomalyConfigTarget, certificateTarget, crlTarget, csrTarget, keyFileTarget } from "./pki.js";

export const TARGETS: readonly FuzzTarget[] = [
  envelopeTarget,
  signedTarget,
  grantTarget,
  csrTarget,
  certificateTarget,
  crlTarget,
  keyFileTarget,
  anomalyConfigTarget,
  httpTarget,
  httpFramingTarget,
] as FuzzTarget[];
