/**
 * Where large byte buffers live: the one memory policy of the server (issue 17, bench/memory.ts). Bodies, envelopes
 * and records of OWN_PAGES_BYTES or more sit in resizable ArrayBuffers, whose pages V8 maps itself, outside glibc's
 * malloc, and gives back to the OS when collected or released. Memory freed through malloc stays in the process:
 * after 10 MiB uploads and a full GC, glibc kept 30-60 MB of freed buffers in its main heap (malloc_trim(0) through
 * gdb gave them back). Smaller buffers come from malloc, never from node's shared pool of small Buffers: callers may
 * use `.buffer`, which must hold only their bytes.
 */

/** From this size up, a buffer gets pages of its own from the OS instead of memory from malloc. */
export const OWN_PAGES_BYTES = 1024 * 1024;

export type ResizableBuffer = ArrayBuffer & { readonly resizable?: boolean; resize?(n: number): void };
const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ResizableBuffer;

/** `n` bytes (uninitialised below OWN_PAGES_BYTES, zeroed above) in a buffer of their own. */
export function ownBuffer(n: number): Uint8Array {
  if (n >= OWN_PAGES_BYTES) return new Uint8Array(new Resizable(n, { maxByteLength: n }), 0, n);
  return new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
}

/** An empty buffer of its own that may grow to `max` bytes as they arrive (pages committed as it grows). */
export function growableBuffer(max: number): ResizableBuffer {
  return new Resizable(0, { maxByteLength: max });
}

/**
 * Gives a large buffer's pages back to the OS now, rather than at the next full GC: for the one that consumes it (the
 * record service, once the record is stored). Afterwards every view of it is empty. A no-op for anything else.
 */
export function releaseOwnPages(bytes: Uint8Array): void {
  const b = bytes.buffer as ResizableBuffer;
  if (b.resizable === true && b.byteLength >= OWN_PAGES_BYTES) b.resize?.(0);
}
