package main

// This file holds Range requests answered from a stored complete response
// (RFC 9110 section 14): one byte range gives a 206 with Content-Range, a
// range beyond the representation gives a 416, and anything this cache
// does not serve as a partial response (several ranges, another unit, a
// malformed header, an If-Range that does not match) gives the full 200,
// as section 14.2 allows. A Range request that finds nothing fresh goes to
// the origin as is.

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// byteRange is one satisfiable range: first and last byte, inclusive.
type byteRange struct{ first, last int64 }

// parseRange parses a Range header for a representation of size bytes.
// ok is false when the header should be ignored (the full response is
// served); unsatisfiable is true when it asks only for bytes past the end.
func parseRange(h string, size int64) (r byteRange, ok, unsatisfiable bool) {
	unit, spec, found := strings.Cut(h, "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") || strings.Contains(spec, ",") {
		return r, false, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return r, false, false
	}
	if first == "" { // suffix: the last n bytes
		n, ok := parseDigits(last)
		if !ok {
			return r, false, false
		}
		if n == 0 || size == 0 {
			return r, false, true
		}
		return byteRange{max(size-n, 0), size - 1}, true, false
	}
	f, ok := parseDigits(first)
	if !ok {
		return r, false, false
	}
	l := size - 1
	if last != "" {
		if l, ok = parseDigits(last); !ok || l < f {
			return r, false, false
		}
	}
	if f >= size {
		return r, false, true
	}
	return byteRange{f, min(l, size-1)}, true, false
}

// parseDigits parses a non-negative decimal number.
func parseDigits(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// ifRangeMatches evaluates If-Range against e (RFC 9110 section 13.1.5):
// an entity tag must match e's strong ETag, a date must equal e's
// Last-Modified. Without If-Range it holds.
func ifRangeMatches(req http.Header, e *entry) bool {
	v := firstValue(req, "If-Range")
	if v == "" {
		return true
	}
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		return !strings.HasPrefix(v, "W/") && e.etag == v
	}
	return e.lastModified != "" && v == e.lastModified
}

// serveRange answers a GET with Range from the stored complete response e.
func (p *proxy) serveRange(w http.ResponseWriter, r *http.Request, e *entry, res result, now time.Time) {
	size := int64(len(e.body))
	br, ok, unsatisfiable := parseRange(firstValue(r.Header, "Range"), size)
	if (!ok && !unsatisfiable) || !ifRangeMatches(r.Header, e) {
		p.serveEntry(w, r, e, res, now)
		return
	}
	e.hits.Add(1)
	p.metrics.responses[res].Add(1)
	h := w.Header()
	for k, v := range e.header {
		h[k] = v
	}
	h["Age"] = ageField(e.age(now))
	h["X-Cache"] = xCache[res]
	if unsatisfiable {
		h["Content-Range"] = []string{"bytes */" + strconv.FormatInt(size, 10)}
		h["Content-Length"] = []string{"0"}
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		p.logAccess(r, http.StatusRequestedRangeNotSatisfiable, res)
		return
	}
	h["Content-Range"] = []string{"bytes " + strconv.FormatInt(br.first, 10) + "-" + strconv.FormatInt(br.last, 10) + "/" + strconv.FormatInt(size, 10)}
	h["Content-Length"] = []string{strconv.FormatInt(br.last-br.first+1, 10)}
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(e.body[br.first : br.last+1])
	p.logAccess(r, http.StatusPartialContent, res)
}
