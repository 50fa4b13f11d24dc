/**
 * Mutation of valid samples, as fast-check arbitraries of *operations* (so that fast-check shrinks a failing case to
 * fewer, smaller operations) applied to a sample later, when the samples exist. Two families: blind byte operations
 * (flip, set, insert, delete, truncate, duplicate, splice) that mostly exercise framing checks, and DER-tree
 * operations that re-encode every enclosing length afterwards, so that the damage reaches the parsers behind the
 * outer length checks (a replaced OID, a dropped field, an integer of another size, a SET with a duplicate).
 */
import fc from "fast-check";

export type ByteOp =
  | { op: "flip"; at: number; mask: number }
  | { op: "set"; at: number; value: number }
  | { op: "insert"; at: number; bytes: Uint8Array }
  | { op: "delete"; at: number; len: number }
  | { op: "truncate"; at: number }
  | { op: "dup"; at: number; len: number }
  | { op: "splice"; at: number; from: number; other: number; len: number };

export type TreeOp =
  | { op: "content"; node: number; bytes: Uint8Array }
  | { op: "tag"; node: number; tag: number }
  | { op: "drop"; node: number }
  | { op: "repeat"; node: number }
  | { op: "swap"; node: number; other: number }
  | { op: "int"; node: number; value: Uint8Array };

export type Mutation = { sample: number; ops: (ByteOp | TreeOp)[] };

const bytesArb = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: 0, maxLength: max });
const interesting = fc.constantFrom(
  0x00,
  0x01,
  0x02,
  0x03,
  0x04,
  0x05,
  0x06,
  0x30,
  0x31,
  0x7f,
  0x80,
  0x81,
  0x82,
  0x83,
  0x84,
  0x88,
  0xa0,
  0xa1,
  0xff,
);

export const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({
    op: fc.constant("set" as const),
    at: fc.nat(),
    value: fc.oneof(interesting, fc.integer({ min: 0, max: 255 })),
  }),
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), bytes: bytesArb(16) }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("dup" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 256 }) }),
  fc.record({
    op: fc.constant("splice" as const),
    at: fc.nat(),
    from: fc.nat(),
    other: fc.nat(),
    len: fc.integer({ min: 1, max: 512 }),
  }),
);

const intValue = fc.oneof(
  fc.constantFrom(
    Uint8Array.of(),
    Uint8Array.of(0),
    Uint8Array.of(0xff),
    Uint8Array.of(0x80),
    Uint8Array.of(0, 0, 1),
    Uint8Array.of(0x7f, 0xff, 0xff, 0xff),
    new Uint8Array(9).fill(0xff),
  ),
  bytesArb(12),
);

export const treeOp: fc.Arbitrary<TreeOp> = fc.oneof(
  fc.record({ op: fc.constant("content" as const), node: fc.nat(), bytes: fc.oneof(bytesArb(8), bytesArb(80)) }),
  fc.record({
    op: fc.constant("tag" as const),
    node: fc.nat(),
    tag: fc.oneof(interesting, fc.integer({ min: 0, max: 255 })),
  }),
  fc.record({ op: fc.constant("drop" as const), node: fc.nat() }),
  fc.record({ op: fc.constant("repeat" as const), node: fc.nat() }),
  fc.record({ op: fc.constant("swap" as const), node: fc.nat(), other: fc.nat() }),
  fc.record({ op: fc.constant("int" as const), node: fc.nat(), value: intValue }),
);

/** 1-4 operations, mostly DER-aware ones (they reach further), on sample number `sample` (mod the sample count). */
export function mutation(): fc.Arbitrary<Mutation> {
  return fc.record({
    sample: fc.nat(),
    ops: fc.array(fc.oneof({ weight: 3, arbitrary: treeOp }, { weight: 2, arbitrary: byteOp }), {
      minLength: 1,
      maxLength: 4,
    }),
  });
}

// ---- a minimal DER tree (definite lengths, one-byte tags): enough to re-encode after a change ----

interface Node {
  tag: number;
  content: Uint8Array;
  children?: Node[];
}

function parseAll(bytes: Uint8Array, depth: number): Node[] | undefined {
  const out: Node[] = [];
  let i = 0;
  while (i < bytes.length) {
    const tag = bytes[i] as number;
    if ((tag & 0x1f) === 0x1f || i + 1 >= bytes.length) return undefined;
    let len = bytes[i + 1] as number;
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 3 || i + 2 + n > bytes.length) return undefined;
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + (bytes[i + 2 + k] as number);
      hdr += n;
    }
    if (i + hdr + len > bytes.length) return undefined;
    const content = bytes.subarray(i + hdr, i + hdr + len);
    const node: Node = { tag, content };
    // Constructed, or an OCTET/BIT STRING that happens to hold DER (keys, extensions, wrapped values).
    if (depth < 24 && ((tag & 0x20) !== 0 || tag === 0x04 || tag === 0x03)) {
      const inner =
        tag === 0x03
          ? content[0] === 0
            ? parseAll(content.subarray(1), depth + 1)
            : undefined
          : parseAll(content, depth + 1);
      if (inner && inner.length > 0) node.children = inner;
    }
    out.push(node);
    i += hdr + len;
  }
  return out;
}

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const b: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) b.unshift(v % 256);
  return [0x80 | b.length, ...b];
}

function encode(nodes: Node[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const n of nodes) {
    let content = n.children ? encode(n.children) : n.content;
    if (n.children && n.tag === 0x03) content = Uint8Array.from([0, ...content]);
    parts.push(Uint8Array.from([n.tag, ...lengthBytes(content.length)]), content);
  }
  return Buffer.concat(parts);
}

/** Every node with its parent list, depth-first: the index space of the tree operations. */
function flatten(nodes: Node[], out: { node: Node; siblings: Node[] }[] = []): { node: Node; siblings: Node[] }[] {
  for (const n of nodes) {
    out.push({ node: n, siblings: nodes });
    if (n.children) flatten(n.children, out);
  }
  return out;
}

function applyTree(bytes: Uint8Array, op: TreeOp): Uint8Array {
  const tree = parseAll(bytes, 0);
  if (!tree) return applyBytes(bytes, { op: "flip", at: op.node, mask: 1 }, [bytes]);
  const all = flatten(tree);
  const pick = all[op.node % all.length];
  if (!pick) return bytes;
  const { node, siblings } = pick;
  switch (op.op) {
    case "content":
      delete node.children;
      node.content = op.bytes;
      break;
    case "tag":
      node.tag = op.tag;
      break;
    case "drop":
      siblings.splice(siblings.indexOf(node), 1);
      break;
    case "repeat":
      siblings.splice(siblings.indexOf(node), 0, structuredClone(node));
      break;
    case "swap": {
      const j = op.other % siblings.length;
      const i = siblings.indexOf(node);
      [siblings[i], siblings[j]] = [siblings[j] as Node, node];
      break;
    }
    case "int":
      delete node.children;
      node.tag = 0x02;
      node.content = op.value;
      break;
  }
  return encode(tree);
}

function applyBytes(b: Uint8Array, op: ByteOp, samples: readonly Uint8Array[]): Uint8Array {
  const n = b.length;
  const at = n === 0 ? 0 : op.at % (n + 1);
  switch (op.op) {
    case "flip":
    case "set": {
      if (n === 0) return b;
      const out = b.slice();
      const i = op.at % n;
      out[i] = op.op === "flip" ? (out[i] as number) ^ op.mask : op.value;
      return out;
    }
    case "insert":
      return Buffer.concat([b.subarray(0, at), op.bytes, b.subarray(at)]);
    case "delete":
      return Buffer.concat([b.subarray(0, at), b.subarray(at + op.len)]);
    case "truncate":
      return b.slice(0, at);
    case "dup":
      return Buffer.concat([b.subarray(0, at), b.subarray(at, at + op.len), b.subarray(at)]);
    case "splice": {
      const other = samples[op.other % samples.length] ?? b;
      const from = other.length === 0 ? 0 : op.from % other.length;
      return Buffer.concat([b.subarray(0, at), other.subarray(from, from + op.len), b.subarray(at + op.len)]);
    }
  }
}

/** The bytes a mutation makes of `samples` (DER samples; blind byte operations work on anything). */
export function applyMutation(samples: readonly Uint8Array[], m: Mutation): Uint8Array {
  let b = samples[m.sample % samples.length] ?? new Uint8Array(0);
  for (const op of m.ops) {
    b =
      op.op === "content" ||
      op.op === "tag" ||
      op.op === "drop" ||
      op.op === "repeat" ||
      op.op === "swap" ||
      op.op === "int"
        ? applyTree(b, op)
        : applyBytes(b, op, samples);
  }
  return new Uint8Array(b);
}

/** PEM text of DER, with the label given (possibly a wrong one). */
export function pem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END ${label}-----\n`;
}

/** DER from the first PEM block of `text`. */
export function derOf(text: string): Uint8Array {
  const m = /-----BEGIN [^-]+-----([\s\S]+?)-----END/.exec(text);
  if (!m || m[1] === undefined) throw new Error("no PEM block");
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
}
