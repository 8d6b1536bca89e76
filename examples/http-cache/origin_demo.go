package main

// This file holds the built-in demo origin: a deliberately slow server
// whose paths each show one caching rule. It runs in-process behind the
// proxy when no -origin is given, and alone with -origin-only (the load
// script puts both the proxy and nginx in front of it).

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// demoMaxAsset bounds the size= parameter of /asset/.
const demoMaxAsset = 64 << 20

// demoOrigin serves the demo paths.
type demoOrigin struct {
	delay time.Duration
	start time.Time
	// served counts responses, reported in X-Origin-Count so a person can
	// see which responses reached the origin.
	served atomic.Int64
	mux    *http.ServeMux
}

// newDemoOrigin returns the demo origin; each response waits delay first.
func newDemoOrigin(delay time.Duration) http.Handler {
	d := &demoOrigin{delay: delay, start: time.Now().Truncate(time.Second), mux: http.NewServeMux()}
	d.handle("/{$}", "", d.index)
	d.handle("/fresh", "public, max-age=30", d.text("fresh for 30 seconds"))
	d.handle("/shared", "max-age=5, s-maxage=60", d.text("browsers keep this 5s, shared caches 60s"))
	d.handle("/nostore", "no-store", d.text("never stored"))
	d.handle("/private", "private, max-age=60", d.text("for one user only: a shared cache must not keep it"))
	d.handle("/swr", "max-age=5, stale-while-revalidate=30", d.text("fresh 5s, then served stale for 30s while one refresh runs"))
	d.handle("/expires", "", d.expires)
	d.handle("/etag", "no-cache", d.etag)
	d.handle("/lastmod", "", d.lastmod)
	d.handle("/vary", "public, max-age=60", d.vary)
	d.handle("/big", "public, max-age=60", d.big)
	d.handle("/asset/{name}", "public, max-age=3600", d.asset)
	return d
}

// handle registers h for path, setting Cache-Control (if cc is not
// empty) and sleeping the demo delay first.
func (d *demoOrigin) handle(path, cc string, h http.HandlerFunc) {
	d.mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		if d.delay > 0 {
			t := time.NewTimer(d.delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		w.Header().Set("X-Origin-Count", strconv.FormatInt(d.served.Add(1), 10))
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		h(w, r)
	})
}

// ServeHTTP serves the demo paths.
func (d *demoOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.mux.ServeHTTP(w, r) }

// text returns a handler answering with msg and the time it was made.
func (d *demoOrigin) text(msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s %s\ngenerated at %s\n", r.URL.Path, msg, time.Now().UTC().Format(time.RFC3339Nano))
	}
}

// index lists the demo paths.
func (d *demoOrigin) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=60")
	fmt.Fprint(w, `demo origin paths:
  /fresh     Cache-Control: public, max-age=30
  /shared    Cache-Control: max-age=5, s-maxage=60
  /expires   Expires: 20 seconds after Date
  /nostore   Cache-Control: no-store
  /private   Cache-Control: private, max-age=60
  /etag      Cache-Control: no-cache, ETag (changes every 30s; answers 304)
  /lastmod   Last-Modified only (answers 304 to If-Modified-Since)
  /vary      Vary: Accept-Language (en, fr, de)
  /swr       Cache-Control: max-age=5, stale-while-revalidate=30
  /big       16MiB body, max-age=60
  /asset/NAME?size=N  N bytes (default 1024), public, max-age=3600, ETag
`)
}

// expires answers with an Expires header 20 seconds after Date.
func (d *demoOrigin) expires(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UTC()
	w.Header().Set("Date", now.Format(http.TimeFormat))
	w.Header().Set("Expires", now.Add(20*time.Second).Format(http.TimeFormat))
	d.text("expires 20 seconds after its Date")(w, r)
}

// etag answers with an ETag that changes every 30 seconds, and 304 when
// the request already has it.
func (d *demoOrigin) etag(w http.ResponseWriter, r *http.Request) {
	version := time.Since(d.start) / (30 * time.Second)
	tag := fmt.Sprintf(`"v%d"`, version)
	w.Header().Set("ETag", tag)
	if r.Header.Get("If-None-Match") == tag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "/etag version %d: revalidated on every use, cheap while unchanged\n", version)
}

// lastmod answers with a Last-Modified of the demo's start, and 304 when
// the request's If-Modified-Since is not older.
func (d *demoOrigin) lastmod(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Last-Modified", d.start.UTC().Format(http.TimeFormat))
	if t, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !d.start.After(t) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "/lastmod unchanged since %s\n", d.start.UTC().Format(time.RFC3339))
}

// vary answers in the language asked for.
func (d *demoOrigin) vary(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "Accept-Language")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	lang := strings.ToLower(strings.TrimSpace(r.Header.Get("Accept-Language")))
	greeting := "hello"
	switch {
	case strings.HasPrefix(lang, "fr"):
		greeting = "bonjour"
	case strings.HasPrefix(lang, "de"):
		greeting = "hallo"
	}
	fmt.Fprintf(w, "%s (one stored copy per Accept-Language)\n", greeting)
}

// big answers with 16MiB, more than the default per-object limit.
func (d *demoOrigin) big(w http.ResponseWriter, r *http.Request) {
	const size = 16 << 20
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(size))
	chunk := []byte(strings.Repeat("0123456789abcdef", 4096))
	for n := 0; n < size; n += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// asset answers with size bytes (default 1024) derived from the name, and
// an ETag; 304 when the request already has it.
func (d *demoOrigin) asset(w http.ResponseWriter, r *http.Request) {
	size := 1024
	if s := r.URL.Query().Get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > demoMaxAsset {
			http.Error(w, fmt.Sprintf("size must be 0 to %d", demoMaxAsset), http.StatusBadRequest)
			return
		}
		size = n
	}
	h := fnv.New64a()
	h.Write([]byte(r.URL.Path))
	sum := h.Sum64()
	tag := fmt.Sprintf(`"%x-%d"`, sum, size)
	w.Header().Set("ETag", tag)
	if r.Header.Get("If-None-Match") == tag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := make([]byte, size)
	for i := range body {
		body[i] = "abcdefghijklmnopqrstuvwxyz012345"[(uint64(i)+sum)%32]
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(size))
	_, _ = w.Write(body)
}
