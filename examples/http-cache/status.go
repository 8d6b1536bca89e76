package main

// This file holds the status page at /_cache/: a small HTML summary of the
// cache for a person to read at a glance.

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
)

// topKeys is how many keys the status page lists.
const topKeys = 10

// statusPage is the data the status template renders.
type statusPage struct {
	Origin     string
	Now        string
	Snap       snapshot
	HitPercent string
	FillPct    string
	Bytes      string
	MaxBytes   string
	MaxObject  string
	Results    []resultRow
	Top        []keyRow
	Purge      bool
}

// resultRow is one line of the responses table.
type resultRow struct {
	Name  string
	Count uint64
	Share string
}

// keyRow is one line of the top keys table.
type keyRow struct {
	Target  string
	Variant string
	Status  int
	Hits    int64
	Size    string
	Age     string
	State   string
}

// statusTemplate renders statusPage.
var statusTemplate = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>http-cache status</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 20px 24px; color: #222; background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; }
.sub { color: #666; margin-bottom: 18px; }
.cards { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: 10px; margin-bottom: 20px; max-width: 920px; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; }
.card .v { font-size: 24px; font-weight: 600; white-space: nowrap; }
.card .l { color: #666; font-size: 13px; }
.bar { height: 6px; background: #eee; border-radius: 3px; margin-top: 6px; }
.bar div { height: 6px; background: #3a7; border-radius: 3px; }
table { border-collapse: collapse; background: #fff; margin-bottom: 20px; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; }
th { background: #f0f0f0; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td code { word-break: break-all; }
code { font-size: 13px; }
h2 { font-size: 16px; margin: 0 0 8px; }
.row { display: grid; grid-template-columns: auto 1fr; gap: 24px; align-items: start; max-width: 920px; }
</style>
</head>
<body>
<h1>http-cache</h1>
<div class="sub">origin <code>{{.Origin}}</code> · {{.Now}} · purge {{if .Purge}}enabled{{else}}disabled{{end}}</div>
<div class="cards">
  <div class="card"><div class="v" id="hit-ratio">{{.HitPercent}}</div><div class="l">hit ratio</div></div>
  <div class="card"><div class="v" id="entries">{{.Snap.Entries}}</div><div class="l">entries</div></div>
  <div class="card"><div class="v" id="bytes">{{.Bytes}}</div><div class="l">of {{.MaxBytes}} ({{.FillPct}})</div>
    <div class="bar"><div style="width: {{.FillPct}}"></div></div></div>
  <div class="card"><div class="v" id="origin-requests">{{.Snap.OriginRequests}}</div><div class="l">origin requests, {{.Snap.OriginErrors}} failed</div></div>
  <div class="card"><div class="v" id="coalesced">{{.Snap.Coalesced}}</div><div class="l">coalesced waits</div></div>
  <div class="card"><div class="v" id="evictions">{{.Snap.Evictions}}</div><div class="l">evictions</div></div>
</div>
{{with .Snap.Tiers}}<div class="cards">
  <div class="card"><div class="v" id="near-hits">{{.NearHits}}</div><div class="l">near-tier hits</div></div>
{{if .Shared}}  <div class="card"><div class="v" id="shared-hits">{{.SharedHits}}</div><div class="l">shared-tier hits</div></div>
  <div class="card"><div class="v" id="shared-misses">{{.SharedMisses}}</div><div class="l">shared-tier misses</div></div>
  <div class="card"><div class="v" id="shared-errors">{{.SharedErrors}}</div><div class="l">Redis errors and timeouts</div></div>
  <div class="card"><div class="v" id="invalidations">{{.Invalidations}}</div><div class="l">invalidations</div></div>
  <div class="card"><div class="v" id="flushes">{{.Flushes}}</div><div class="l">near-tier flushes</div></div>
{{end}}</div>{{end}}
<div class="row">
<div>
<h2>Responses</h2>
<table id="responses">
<tr><th>X-Cache</th><th>count</th><th>share</th></tr>
{{range .Results}}<tr><td>{{.Name}}</td><td class="n">{{.Count}}</td><td class="n">{{.Share}}</td></tr>
{{end}}</table>
</div>
<div>
<h2>Top keys by hits</h2>
<table id="top-keys">
<tr><th>key</th><th>status</th><th>hits</th><th>size</th><th>age</th><th>state</th></tr>
{{range .Top}}<tr><td><code>{{.Target}}</code>{{if .Variant}} <small>{{.Variant}}</small>{{end}}</td><td class="n">{{.Status}}</td><td class="n">{{.Hits}}</td><td class="n">{{.Size}}</td><td class="n">{{.Age}}</td><td>{{.State}}</td></tr>
{{else}}<tr><td colspan="6">nothing stored yet</td></tr>
{{end}}</table>
</div>
</div>
<div class="sub">max object {{.MaxObject}} · metrics at <a href="/metrics">/metrics</a></div>
</body>
</html>
`))

// serveStatus answers /_cache/ with the status page.
func (p *proxy) serveStatus(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	now := p.now()
	sn := p.metrics.snapshot(p.store)
	page := statusPage{
		Origin:     p.originBase,
		Now:        now.UTC().Format(time.RFC1123),
		Snap:       sn,
		HitPercent: fmt.Sprintf("%.1f%%", 100*sn.HitRatio()),
		FillPct:    fmt.Sprintf("%.1f%%", 100*float64(sn.Bytes)/float64(max(sn.MaxBytes, 1))),
		Bytes:      formatSize(int64(sn.Bytes)),
		MaxBytes:   formatSize(sn.MaxBytes),
		MaxObject:  formatSize(p.cfg.MaxObject),
		Purge:      p.cfg.PurgeToken != "",
	}
	var total uint64
	for _, c := range sn.Responses {
		total += c
	}
	for i, c := range sn.Responses {
		share := "-"
		if total > 0 {
			share = fmt.Sprintf("%.1f%%", 100*float64(c)/float64(total))
		}
		page.Results = append(page.Results, resultRow{Name: resultNames[i], Count: c, Share: share})
	}
	page.Top = p.topKeys(now)
	var buf bytes.Buffer
	if err := p.status.Execute(&buf, page); err != nil {
		p.log.Error("rendering the status page", "err", err)
		http.Error(w, "status page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(buf.Bytes())
}

// topKeys returns the stored responses with the most hits.
func (p *proxy) topKeys(now time.Time) []keyRow {
	type hit struct {
		e    *entry
		hits int64
	}
	var all []hit
	for _, e := range p.store.c.All() {
		if e.varyIndex == nil {
			all = append(all, hit{e, e.hits.Load()})
		}
	}
	slices.SortFunc(all, func(a, b hit) int {
		if c := cmp.Compare(b.hits, a.hits); c != 0 {
			return c
		}
		return strings.Compare(a.e.key, b.e.key)
	})
	rows := make([]keyRow, 0, min(len(all), topKeys))
	for _, h := range all[:min(len(all), topKeys)] {
		target, variant, _ := strings.Cut(h.e.key, "\x00")
		state := "fresh"
		switch {
		case h.e.fresh(now):
		case h.e.staleServable(now):
			state = "stale (while revalidate)"
		default:
			state = "stale (revalidate)"
		}
		rows = append(rows, keyRow{
			Target:  target,
			Variant: strings.ReplaceAll(variant, "\x00", " "),
			Status:  h.e.status,
			Hits:    h.hits,
			Size:    formatSize(int64(h.e.weight())),
			Age:     h.e.age(now).Truncate(time.Second).String(),
			State:   state,
		})
	}
	return rows
}
