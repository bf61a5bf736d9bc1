/** Number and time formatting shared by the views. */

/** A number with at most `digits` significant decimals, '–' for missing/non-finite values. */
export function fmt(n: number | undefined, digits = 2): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return n.toExponential(2);
  return n.toFixed(abs >= 100 ? 0 : digits);
}

/** Milliseconds as "12 ms" / "1.3 s". */
export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Seconds as "45 s", "12 min 3 s", "2 h 5 min". */
export function fmtDuration(sec: number | undefined): string {
  if (sec === undefined || !Number.isFinite(sec) || sec < 0) return '–';
  const s = Math.round(sec);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** A wall-clock time "14:03:07" for an epoch-ms timestamp. */
export function fmtClock(ts: number): string {
  const d = new Date(ts);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A BLEU score in [0, 1] shown x100 like the papers. */
export function fmtBleu(b: number | undefined): string {
  return b === undefined || !Number.isFinite(b) ? '–' : (b * 100).toFixed(2);
}

/** "−1.234 (log-prob)", or with re-ranking "−2.345 (log-prob −1.234, re-ranked by the word detector)". */
export function scoreText(msg: { score: number; logProb?: number }): string {
  if (msg.logProb === undefined || Math.abs(msg.logProb - msg.score) < 1e-9) return `${fmt(msg.score, 3)} (log-prob)`;
  return `${fmt(msg.score, 3)} (log-prob ${fmt(msg.logProb, 3)}, re-ranked by the word detector)`;
}
