package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// Plot geometry, in SVG user units.
const (
	panelW, panelH = 480, 420
	marginL        = 70
	marginR        = 20
	marginT        = 50
	marginB        = 90
	plotW          = panelW - marginL - marginR
	plotH          = panelH - marginT - marginB
)

// palette colors contenders in the order they first appear.
var palette = []string{"#d62728", "#1f77b4", "#17becf", "#2ca02c", "#9467bd", "#8c564b", "#ff7f0e", "#7f7f7f"}

// renderLatencySVG draws the growth runs' latency distributions: one panel
// for writes and one for reads per growth size, percentile on the x axis
// (scaled by nines: 0, 90, 99, 99.9, ...) and latency on a log y axis, one
// line per contender.
func renderLatencySVG(gs []GrowthResult) string {
	var sizes []int
	for _, g := range gs {
		if !slices.Contains(sizes, g.N) {
			sizes = append(sizes, g.N)
		}
	}
	var names []string
	for _, g := range gs {
		if !slices.Contains(names, g.Contender) {
			names = append(names, g.Contender)
		}
	}
	width, height := 2*panelW, len(sizes)*panelH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	for row, n := range sizes {
		var runs []GrowthResult
		for _, g := range gs {
			if g.N == n {
				runs = append(runs, g)
			}
		}
		y := row * panelH
		drawPanel(&b, 0, y, fmt.Sprintf("Store latency, empty to %s keys", countName(n)), runs, names, func(g GrowthResult) *Histogram { return g.Write })
		drawPanel(&b, panelW, y, fmt.Sprintf("Load latency during growth to %s", countName(n)), runs, names, func(g GrowthResult) *Histogram { return g.Read })
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// drawPanel draws one latency-by-percentile panel with its top-left corner
// at (x0, y0).
func drawPanel(b *strings.Builder, x0, y0 int, title string, runs []GrowthResult, names []string, hist func(GrowthResult) *Histogram) {
	// x axis: nines = -log10(1-p), up to what the smallest sample supports,
	// then a little further for the maximum.
	minCount := uint64(math.MaxUint64)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, g := range runs {
		h := hist(g)
		if h.Count() == 0 {
			continue
		}
		minCount = min(minCount, h.Count())
		lo = min(lo, float64(max(h.Quantile(0), 1)))
		hi = max(hi, float64(max(h.Max(), 1)))
	}
	if math.IsInf(lo, 1) {
		return
	}
	maxNines := math.Max(1, math.Min(6, math.Floor(math.Log10(float64(minCount)))))
	xEnd := maxNines + 0.8
	yLo, yHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if yHi <= yLo {
		yHi = yLo + 1
	}
	px := func(nines float64) float64 { return float64(x0+marginL) + nines/xEnd*plotW }
	py := func(ns float64) float64 {
		return float64(y0+marginT) + plotH - (math.Log10(ns)-yLo)/(yHi-yLo)*plotH
	}

	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", x0+marginL, y0+25, html.EscapeString(title))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", x0+marginL, y0+marginT, plotW, plotH)
	for e := yLo; e <= yHi; e++ {
		y := py(math.Pow(10, e))
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", x0+marginL, y, x0+marginL+plotW, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", x0+marginL-5, y+4, decadeLabel(int(e)))
	}
	for k := 0.0; k <= maxNines; k++ {
		x := px(k)
		label := "0%"
		if k > 0 {
			label = strings.TrimSuffix(fmt.Sprintf("%.*f", max(int(k)-2, 0), 100*(1-math.Pow(10, -k))), ".") + "%"
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, y0+marginT, x, y0+marginT+plotH)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, y0+marginT+plotH+15, label)
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">max</text>`+"\n", px(xEnd), y0+marginT+plotH+15)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">percentile</text>`+"\n", x0+marginL+plotW/2, y0+marginT+plotH+32)

	for _, g := range runs {
		h := hist(g)
		if h.Count() == 0 {
			continue
		}
		var pts []string
		for k := 0.0; k <= maxNines+1e-9; k += 0.05 {
			q := 1 - math.Pow(10, -k)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(k), py(float64(max(h.Quantile(q), 1)))))
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(xEnd), py(float64(max(h.Max(), 1)))))
		color, width := colorOf(names, g.Contender), 1.5
		if g.Contender == "shardmap" {
			width = 2.5
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="%.1f" points="%s"/>`+"\n", color, width, strings.Join(pts, " "))
	}
	// Legend under the axis label, three entries per line.
	for i, g := range runs {
		lx := x0 + marginL + (i%3)*(plotW/3)
		ly := y0 + marginT + plotH + 50 + (i/3)*16
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", lx, ly-4, lx+18, ly-4, colorOf(names, g.Contender))
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", lx+22, ly, html.EscapeString(g.Contender))
	}
}

// decadeLabel names the latency 10^e nanoseconds: 1ns, 10ns, ..., 100s.
func decadeLabel(e int) string {
	units := []string{"ns", "µs", "ms", "s"}
	u := min(max(e, 0)/3, len(units)-1)
	v := 1
	for range max(e, 0) - 3*u {
		v *= 10
	}
	return fmt.Sprintf("%d%s", v, units[u])
}

// colorOf returns the palette color of a contender.
func colorOf(names []string, name string) string {
	return palette[slices.Index(names, name)%len(palette)]
}
