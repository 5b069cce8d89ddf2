// SHA-256 (FIPS 180-4) of a UTF-8 string, in plain JavaScript, for the one hash the daemon needs at
// start-up: the companion lock's name (adapters/lock.ts). Loading node:crypto costs more than the
// rest of the daemon's start-up code: +2.0 MiB of peak RSS on Node 20 (+1.3 MiB of the binary
// paged in, +0.7 MiB anonymous; docs/BENCHMARKS.md, "Footprint within target"). Same digest as
// node:crypto's (test/lib/sha256.test.ts compares them); not for secrets or large inputs.

/** The first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = Uint32Array.from(firstPrimes(64), (p) => fractionBits(Math.cbrt(p)));

function firstPrimes(count: number): number[] {
  const primes: number[] = [];
  for (let n = 2; primes.length < count; n++) if (primes.every((p) => n % p !== 0)) primes.push(n);
  return primes;
}

/** The first 32 bits of the fractional part, as an unsigned integer. */
function fractionBits(x: number): number {
  return ((x - Math.floor(x)) * 2 ** 32) >>> 0;
}

/** The initial hash: square roots of the first 8 primes. */
function initialHash(): Uint32Array {
  return Uint32Array.from(firstPrimes(8), (p) => fractionBits(Math.sqrt(p)));
}

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));

/** The message padded to a multiple of 64 bytes, its bit length in the last 8 (big-endian). */
function padded(bytes: Uint8Array): DataView {
  const length = Math.ceil((bytes.length + 9) / 64) * 64;
  const block = new Uint8Array(length);
  block.set(bytes);
  block[bytes.length] = 0x80;
  const view = new DataView(block.buffer);
  view.setUint32(length - 8, Math.floor(bytes.length / 2 ** 29));
  view.setUint32(length - 4, (bytes.length * 8) >>> 0);
  return view;
}

/** One 64-byte block at `offset` folded into `hash`. */
function compress(hash: Uint32Array, view: DataView, offset: number, w: Uint32Array): void {
  for (let t = 0; t < 16; t++) w[t] = view.getUint32(offset + t * 4);
  for (let t = 16; t < 64; t++) {
    const a = w[t - 15] as number;
    const b = w[t - 2] as number;
    const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
    const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
    w[t] = ((w[t - 16] as number) + s0 + (w[t - 7] as number) + s1) >>> 0;
  }
  const v = Array.from(hash);
  for (let t = 0; t < 64; t++) {
    const [a, b, c, d, e, f, g, h] = v as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const t1 =
      h +
      (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) +
      ((e & f) ^ (~e & g)) +
      (K[t] as number) +
      (w[t] as number);
    const t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    v.splice(0, 8, (t1 + t2) >>> 0, a, b, c, (d + t1) >>> 0, e, f, g);
  }
  for (let i = 0; i < 8; i++) hash[i] = ((hash[i] as number) + (v[i] as number)) >>> 0;
}

/** The SHA-256 digest of `text` (UTF-8), as 64 lowercase hex digits. */
export function sha256Hex(text: string): string {
  const view = padded(new TextEncoder().encode(text));
  const hash = initialHash();
  const w = new Uint32Array(64);
  for (let offset = 0; offset < view.byteLength; offset += 64) compress(hash, view, offset, w);
  return Array.from(hash, (word) => word.toString(16).padStart(8, '0')).join('');
}
