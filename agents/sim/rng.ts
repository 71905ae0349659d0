// Seeded pseudo-random numbers for the simulated host. sfc32 (Chris Doty-Humphrey's small fast counter) is
// tiny, fast and good enough for jitter; every random draw in the model goes through one of these so a seed
// fixes the whole run.

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [-1, 1): symmetric jitter. */
  centered(): number;
}

export function createRng(seed: number): Rng {
  // Spread the seed over four words (splitmix32) so nearby seeds give unrelated streams.
  let s = seed >>> 0;
  const mix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = mix();
  let b = mix();
  let c = mix();
  let d = mix();
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 12; i++) next(); // discard the warm-up outputs
  return { next, centered: () => next() * 2 - 1 };
}
