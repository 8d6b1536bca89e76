package main

import (
	"bufio"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// promSample is one parsed sample line.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	promNameRe   = `[a-zA-Z_:][a-zA-Z0-9_:]*`
	promSampleRe = regexp.MustCompile(`^(` + promNameRe + `)(?:\{(.*)\})? (\S+)$`)
	promLabelRe  = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"$`)
	promHelpRe   = regexp.MustCompile(`^# HELP (` + promNameRe + `) \S.*$`)
	promTypeRe   = regexp.MustCompile(`^# TYPE (` + promNameRe + `) (counter|gauge|histogram|summary|untyped)$`)
)

// parseProm parses the Prometheus text format strictly enough to catch
// malformed output: every sample belongs to a family declared by TYPE
// before it, families are not split, labels and values are well formed,
// and histograms have ascending cumulative buckets ending in +Inf that
// match their count.
func parseProm(t *testing.T, text string) map[string][]promSample {
	t.Helper()
	types := map[string]string{}
	out := map[string][]promSample{}
	done := map[string]bool{}
	current := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# HELP "):
			if !promHelpRe.MatchString(line) {
				t.Fatalf("line %d: bad HELP: %q", n, line)
			}
		case strings.HasPrefix(line, "# TYPE "):
			m := promTypeRe.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %d: bad TYPE: %q", n, line)
			}
			if _, dup := types[m[1]]; dup {
				t.Fatalf("line %d: second TYPE for %s", n, m[1])
			}
			types[m[1]] = m[2]
			if current != "" {
				done[current] = true
			}
			current = m[1]
		case line == "" || strings.HasPrefix(line, "#"):
			t.Fatalf("line %d: unexpected %q", n, line)
		default:
			m := promSampleRe.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %d: bad sample: %q", n, line)
			}
			family := m[1]
			if types[family] == "histogram" || types[family] == "summary" {
				t.Fatalf("line %d: bare sample for %s %s", n, types[family], family)
			}
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(m[1], suffix); ok && types[base] == "histogram" {
					family = base
				}
			}
			if family != current || done[family] {
				t.Fatalf("line %d: sample %s outside its family's block (current %s)", n, m[1], current)
			}
			s := promSample{name: m[1], labels: map[string]string{}}
			if m[2] != "" {
				for _, kv := range strings.Split(m[2], ",") {
					lm := promLabelRe.FindStringSubmatch(kv)
					if lm == nil {
						t.Fatalf("line %d: bad label %q", n, kv)
					}
					s.labels[lm[1]] = lm[2]
				}
			}
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				t.Fatalf("line %d: bad value %q", n, m[3])
			}
			s.value = v
			out[family] = append(out[family], s)
		}
	}
	for name, typ := range types {
		if len(out[name]) == 0 {
			t.Fatalf("family %s has no samples", name)
		}
		if typ != "histogram" {
			continue
		}
		var prevLE, prev float64 = -1, 0
		var inf, count float64 = -1, -1
		for _, s := range out[name] {
			switch s.name {
			case name + "_bucket":
				le, err := strconv.ParseFloat(s.labels["le"], 64)
				if err != nil || le <= prevLE || s.value < prev {
					t.Fatalf("%s: bucket le=%q value %v after le=%v value %v", name, s.labels["le"], s.value, prevLE, prev)
				}
				prevLE, prev = le, s.value
				if s.labels["le"] == "+Inf" {
					inf = s.value
				}
			case name + "_count":
				count = s.value
			}
		}
		if inf < 0 || inf != count {
			t.Fatalf("%s: +Inf bucket %v, count %v", name, inf, count)
		}
	}
	return out
}

// promValue returns the value of the sample of family with the given
// label pairs.
func promValue(t *testing.T, m map[string][]promSample, family string, labels ...string) float64 {
	t.Helper()
next:
	for _, s := range m[family] {
		if s.name != family && !strings.HasSuffix(s.name, "_count") {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		return s.value
	}
	t.Fatalf("no sample %s%v", family, labels)
	return 0
}

func TestMetricsFormat(t *testing.T) {
	e := newEnv(t, func(c *config) { c.MaxBytes = 64 << 10; c.MaxObject = 16 << 10 })
	e.handle("/m/{n}", textHandler("max-age=100", bodyOf("m", 10000)))
	e.handle("/ns", textHandler("no-store", "ns"))
	e.get("/m/1")
	e.get("/m/1")
	e.get("/m/1")
	e.get("/ns")
	for i := 2; i < 12; i++ { // overflow 64KiB: evictions
		e.get(fmt.Sprintf("/m/%d", i))
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/ns", nil)
	e.send(req)

	r := e.get("/metrics")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %q", r.status, r.header.Get("Content-Type"))
	}
	m := parseProm(t, r.body)
	for _, c := range []struct {
		family string
		labels []string
		want   float64
	}{
		{"httpcache_responses_total", []string{"result", "hit"}, 2},
		{"httpcache_responses_total", []string{"result", "miss"}, 12},
		{"httpcache_responses_total", []string{"result", "bypass"}, 1},
		{"httpcache_responses_total", []string{"result", "revalidated"}, 0},
		{"httpcache_origin_requests_total", nil, 13},
		{"httpcache_origin_request_duration_seconds", nil, 13},
		{"httpcache_cache_max_bytes", nil, 64 << 10},
	} {
		if got := promValue(t, m, c.family, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.family, c.labels, got, c.want)
		}
	}
	if got := promValue(t, m, "httpcache_cache_evictions_total"); got < 4 {
		t.Errorf("evictions = %v, want at least 4", got)
	}
	entries := promValue(t, m, "httpcache_cache_entries")
	bytes := promValue(t, m, "httpcache_cache_bytes")
	if entries != float64(e.proxy.store.c.Len()) || bytes != float64(e.proxy.store.c.Weight()) || bytes > 64<<10 || bytes < 10000 {
		t.Errorf("entries %v bytes %v; cache has %d, %d", entries, bytes, e.proxy.store.c.Len(), e.proxy.store.c.Weight())
	}
	for _, name := range []string{"httpcache_coalesced_waits_total", "httpcache_origin_errors_total", "httpcache_purges_total", "httpcache_too_large_total", "httpcache_background_refreshes_total"} {
		promValue(t, m, name)
	}
}

func TestStatusPage(t *testing.T) {
	e := newEnv(t, nil)
	e.handle("/a", textHandler("max-age=100", "a"))
	e.handle("/b", textHandler("max-age=100", "b"))
	e.handle("/q", textHandler("max-age=100", "q"))
	e.get("/a")
	e.get("/a")
	e.get("/a")
	e.get("/a")
	e.get("/b")
	e.get("/b")
	// A key that must be escaped on the page.
	req := httptest.NewRequest(http.MethodGet, e.srv.URL+"/q", nil)
	req.RequestURI = ""
	req.URL.RawQuery = "x=<script>alert(1)</script>"
	e.send(req)
	e.clock.Advance(5 * time.Second)

	r := e.get("/_cache/")
	if r.status != 200 || r.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("/_cache/: %d %q", r.status, r.header.Get("Content-Type"))
	}
	// 4 hits, 3 misses.
	for _, want := range []string{
		`<div class="v" id="hit-ratio">57.1%</div>`,
		`<div class="v" id="entries">3</div>`,
		`<div class="v" id="origin-requests">3</div>`,
		`<tr><td>HIT</td><td class="n">4</td>`,
		`<tr><td>MISS</td><td class="n">3</td>`,
		`<tr><td><code>/a</code></td><td class="n">200</td><td class="n">3</td>`,
		`<tr><td><code>/b</code></td><td class="n">200</td><td class="n">1</td>`,
		`<td class="n">5s</td><td>fresh</td>`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if strings.Contains(r.body, "<script>") {
		t.Error("status page shows a key unescaped")
	}
	if !strings.Contains(r.body, html.EscapeString("/q?x=<script>")) && !strings.Contains(r.body, "/q?x=%3Cscript%3E") {
		t.Error("status page lacks the escaped key")
	}
	if strings.Index(r.body, "<code>/a</code>") > strings.Index(r.body, "<code>/b</code>") {
		t.Error("top keys are not ordered by hits")
	}
}

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"1024", 1024}, {"10B", 10}, {"1KiB", 1024}, {"1k", 1024}, {"1KB", 1000},
		{"256MiB", 256 << 20}, {"256mib", 256 << 20}, {"2 GiB", 2 << 30}, {"500MB", 500e6},
		{"1.5GiB", 3 << 29}, {"1TiB", 1 << 40}, {" 8M ", 8 << 20},
	} {
		got, err := parseSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1XB", "1.2.3MiB", "abc", "99999999999999999999", "9000000TiB"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
	for n, want := range map[int64]string{0: "0B", 1024: "1KiB", 256 << 20: "256MiB", 1536: "1.5KiB"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	dir := t.TempDir()
	tokenFile := dir + "/token"
	emptyFile := dir + "/empty"
	writeFile(t, tokenFile, "  tok-123\n")
	writeFile(t, emptyFile, "\n")

	o, err := parseFlags(nil, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if o.listen != "127.0.0.1:8080" || o.proxy.Origin != nil || o.proxy.MaxBytes != 256<<20 || o.proxy.MaxObject != 8<<20 || o.proxy.DefaultTTL != 0 || o.proxy.PurgeToken != "" {
		t.Fatalf("defaults: %+v", o)
	}
	if o.proxy.TargetedField != "CDN-Cache-Control" || o.proxy.Cookies != cookieStrip || o.proxy.HeuristicMax != 24*time.Hour || o.proxy.StaleIfError != time.Minute {
		t.Fatalf("RFC defaults: %+v", o.proxy)
	}
	o, err = parseFlags([]string{"-origin", "http://127.0.0.1:9000/app", "-listen", ":8081", "-max-bytes", "1GiB",
		"-max-object", "16MiB", "-default-ttl", "30s", "-purge-token-file", tokenFile, "-log-format", "json",
		"-targeted-cc", "Akamai-Cache-Control", "-set-cookie", "bypass", "-heuristic-max", "0", "-stale-if-error", "5m"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if o.proxy.Origin.String() != "http://127.0.0.1:9000/app" || o.proxy.MaxBytes != 1<<30 || o.proxy.MaxObject != 16<<20 ||
		o.proxy.DefaultTTL != 30*time.Second || o.proxy.PurgeToken != "tok-123" || !o.logJSON ||
		o.proxy.TargetedField != "Akamai-Cache-Control" || o.proxy.Cookies != cookieBypass || o.proxy.HeuristicMax != 0 || o.proxy.StaleIfError != 5*time.Minute {
		t.Fatalf("parsed: %+v", o)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-max-bytes", "lots"}, `-max-bytes: invalid size "lots"`},
		{[]string{"-max-bytes", "0"}, "-max-bytes must be more than 0"},
		{[]string{"-max-bytes", "1MiB", "-max-object", "2MiB"}, "-max-object (2MiB) must not exceed -max-bytes (1MiB)"},
		{[]string{"-max-bytes", "4GiB", "-max-object", "2GiB"}, "-max-object (2GiB) must be at most 1GiB"},
		{[]string{"-origin", "ftp://x"}, "want an http:// or https:// URL"},
		{[]string{"-origin", "localhost:9000"}, "want an http:// or https:// URL"},
		{[]string{"-origin", "http://x", "-origin-only"}, "-origin-only runs the demo origin"},
		{[]string{"-listen", "8080"}, `-listen "8080": want host:port`},
		{[]string{"-default-ttl", "-1s"}, "-default-ttl must be 0 or more"},
		{[]string{"-dial-timeout", "0s"}, "-dial-timeout must be positive"},
		{[]string{"-stale-if-error", "-1s"}, "-stale-if-error must be 0 or more"},
		{[]string{"-set-cookie", "keep"}, `-set-cookie "keep": want strip, store or bypass`},
		{[]string{"-targeted-cc", "CDN Cache"}, `-targeted-cc "CDN Cache": not a header field name`},
		{[]string{"-purge-token-file", dir + "/missing"}, "-purge-token-file: reading the token"},
		{[]string{"-purge-token-file", emptyFile}, "is empty"},
		{[]string{"-log-level", "loud"}, `-log-level "loud"`},
		{[]string{"stray"}, `unexpected argument "stray"`},
		{[]string{"-no-such-flag"}, "flag provided but not defined"},
	} {
		_, err := parseFlags(c.args, &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

func TestDemoOriginThroughProxy(t *testing.T) {
	origin := httptest.NewServer(newDemoOrigin(0))
	t.Cleanup(origin.Close)
	e := newEnv(t, func(c *config) {
		c.Origin, _ = url.Parse(origin.URL)
		c.MaxObject = 8 << 20
		c.MaxBytes = 64 << 20
		c.Now = nil // the demo's Dates are real
	})
	for _, c := range []struct {
		target string
		kv     []string
		want   []string
	}{
		{"/fresh", nil, []string{"MISS", "HIT"}},
		{"/shared", nil, []string{"MISS", "HIT"}},
		{"/expires", nil, []string{"MISS", "HIT"}},
		{"/nostore", nil, []string{"MISS", "MISS"}},
		{"/private", nil, []string{"MISS", "MISS"}},
		{"/etag", nil, []string{"MISS", "REVALIDATED"}},
		{"/lastmod", nil, []string{"MISS", "REVALIDATED"}},
		{"/swr", nil, []string{"MISS", "HIT"}},
		{"/vary", []string{"Accept-Language", "fr"}, []string{"MISS", "HIT"}},
		{"/vary", []string{"Accept-Language", "de"}, []string{"MISS", "HIT"}},
		{"/asset/a.png?size=3000", nil, []string{"MISS", "HIT"}},
		{"/big", nil, []string{"MISS", "MISS"}},
		{"/", nil, []string{"MISS", "HIT"}},
	} {
		var bodies []string
		for i, want := range c.want {
			r := e.get(c.target, c.kv...)
			if r.status != 200 || r.xcache() != want {
				t.Fatalf("%s %v #%d: %d %q, want 200 %q", c.target, c.kv, i, r.status, r.xcache(), want)
			}
			bodies = append(bodies, r.body)
		}
		if want := c.want[1]; want != "MISS" && bodies[0] != bodies[1] {
			t.Errorf("%s: stored body differs: %q vs %q", c.target, trunc(bodies[0]), trunc(bodies[1]))
		}
		switch c.target {
		case "/big":
			if len(bodies[0]) != 16<<20 {
				t.Errorf("/big: %d bytes", len(bodies[0]))
			}
		case "/asset/a.png?size=3000":
			if len(bodies[0]) != 3000 {
				t.Errorf("asset: %d bytes", len(bodies[0]))
			}
		}
	}
	if r := e.get("/vary", "Accept-Language", "fr"); !strings.HasPrefix(r.body, "bonjour") {
		t.Errorf("/vary fr: %q", r.body)
	}
}
