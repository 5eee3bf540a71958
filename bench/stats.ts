/** Figures from raw samples: percentiles, and the tuned/stock ratio of each figure. */

/** The p-th percentile (0 < p ≤ 100) by the nearest-rank method; undefined without samples. */
export function percentile(samples: readonly number[], p: number): number | undefined {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile: p must be in (0, 100], got ${p}`);
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.ceil((p / 100) * sorted.length) - 1];
}

/** tuned / stock, rounded to two decimals; undefined when either is missing or stock is 0. */
export function ratio(tuned: number | undefined, stock: number | undefined): number | undefined {
  if (tuned === undefined || stock === undefined || stock === 0) return undefined;
  return Math.round((tuned / stock) * 100) / 100;
}

/** Deterministic pseudo-random numbers (mulberry32), so every run sends the same text. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  "the and that what with this thou thee love night light death sweet fair gentle speak heart " +
  "hath shall would come away more tell good lady lord nurse friar house name rose swear moon " +
  "stars morning sorrow kiss hand sword young banish tomorrow church letter poison tomb wherefore"
).split(" ");

/**
 * `count` lines of play-like text. Line lengths follow a verse play's: mostly 25–50
 * characters, some short replies, a few long speeches (mean ≈ 38 characters).
 */
export function playLines(count: number, seed = 1597): string[] {
  const random = seededRandom(seed);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = random();
    const target = r < 0.15 ? 8 + Math.floor(random() * 15) : r < 0.95 ? 25 + Math.floor(random() * 26) : 60 + Math.floor(random() * 60);
    let line = "";
    while (line.length < target) line += (line ? " " : "") + WORDS[Math.floor(random() * WORDS.length)];
    lines.push(line.charAt(0).toUpperCase() + line.slice(1) + (random() < 0.5 ? "," : "."));
  }
  return lines;
}
