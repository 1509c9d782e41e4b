// A small SVG chart writer for the HTML report: axes with round ticks, line / step / dot series
// and a legend. Self-contained markup (no script, no fonts, no network), so a report opens
// anywhere and can be mailed around.

export interface PlotSeries {
  name: string;
  color: string;
  kind: "line" | "step" | "dots";
  /** x0, y0, x1, y1, ... */
  points: ArrayLike<number>;
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: PlotSeries[];
  width?: number;
  height?: number;
  /** Fixed axis ranges; default from the data (y from 0). */
  xMax?: number;
  yMax?: number;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Round tick values covering [0, max]: steps of 1, 2 or 5 × 10^k, about `count` of them. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 10000) return `${(v / 1000).toFixed(0)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return String(Number(v.toFixed(2)));
  return String(Number(v.toPrecision(2)));
}

/** One chart as an <svg> element. */
export function svgPlot(o: PlotOptions): string {
  const W = o.width ?? 640;
  const H = o.height ?? 320;
  const m = { left: 64, right: 16, top: 32, bottom: 48 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  let xMax = o.xMax ?? 0;
  let yMax = o.yMax ?? 0;
  if (o.xMax === undefined || o.yMax === undefined) {
    for (const s of o.series) {
      for (let i = 0; i + 1 < s.points.length; i += 2) {
        const x = s.points[i]!;
        const y = s.points[i + 1]!;
        if (o.xMax === undefined && Number.isFinite(x) && x > xMax) xMax = x;
        if (o.yMax === undefined && Number.isFinite(y) && y > yMax) yMax = y;
      }
    }
  }
  const xt = niceTicks(xMax);
  const yt = niceTicks(yMax);
  const xTop = o.xMax ?? xt[xt.length - 1]!;
  const yTop = o.yMax ?? yt[yt.length - 1]!;
  const X = (x: number): number => m.left + (xTop > 0 ? (x / xTop) * pw : 0);
  const Y = (y: number): number => m.top + ph - (yTop > 0 ? (y / yTop) * ph : 0);
  const p = (v: number): string => v.toFixed(1);
  const out: string[] = [];
  out.push(`<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11" role="img" aria-label="${escapeXml(o.title)}">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(o.title)}</text>`);
  for (const t of yt) {
    if (t > yTop) continue;
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${p(Y(t))}" y2="${p(Y(t))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 6}" y="${p(Y(t) + 4)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of xt) {
    if (t > xTop) continue;
    out.push(`<line x1="${p(X(t))}" x2="${p(X(t))}" y1="${m.top + ph}" y2="${m.top + ph + 4}" stroke="#333"/>`);
    out.push(`<text x="${p(X(t))}" y="${m.top + ph + 16}" text-anchor="middle">${fmt(t)}</text>`);
  }
  out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${m.top + ph}" y2="${m.top + ph}" stroke="#333"/>`);
  out.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" stroke="#333"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 8}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);
  for (const s of o.series) {
    const pts = s.points;
    if (s.kind === "dots") {
      let d = "";
      // Tiny squares as one path: thousands of points stay one element.
      for (let i = 0; i + 1 < pts.length; i += 2) {
        if (!Number.isFinite(pts[i]!) || !Number.isFinite(pts[i + 1]!)) continue;
        d += `M${p(X(pts[i]!) - 1.5)} ${p(Y(pts[i + 1]!) - 1.5)}h3v3h-3z`;
      }
      if (d) out.push(`<path d="${d}" fill="${s.color}" fill-opacity="0.6"/>`);
      continue;
    }
    let d = "";
    let prevY = Number.NaN;
    for (let i = 0; i + 1 < pts.length; i += 2) {
      const x = X(pts[i]!);
      const y = Y(pts[i + 1]!);
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      if (d === "") d = `M${p(x)} ${p(y)}`;
      else if (s.kind === "step") d += `H${p(x)}V${p(y)}`;
      else d += `L${p(x)} ${p(y)}`;
      prevY = y;
    }
    if (d && Number.isFinite(prevY)) out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
  }
  let ly = m.top + 4;
  for (const s of o.series) {
    out.push(`<rect x="${m.left + pw - 130}" y="${ly}" width="10" height="10" fill="${s.color}"/>`);
    out.push(`<text x="${m.left + pw - 115}" y="${ly + 9}">${escapeXml(s.name)}</text>`);
    ly += 15;
  }
  out.push("</svg>");
  return out.join("\n");
}
