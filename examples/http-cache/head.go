package main

// This file holds HEAD requests that find a stale stored response: the
// proxy asks the origin with a HEAD of its own (conditional when the
// stored response has validators) instead of fetching the whole body, and
// freshens the stored response from the answer (RFC 9111 section 4.3.5).
// A HEAD that finds nothing stored is fetched as a GET, so that it fills
// the cache.

import (
	"context"
	"net/http"
	"strconv"
)

// headRevalidate answers the HEAD request r for the stale entry e stored
// under key: a 304, or a 200 whose validators identify e, updates e's
// header fields and freshness and is answered from the updated entry; any
// other answer is passed on and drops e, which the origin no longer
// vouches for.
func (p *proxy) headRevalidate(w http.ResponseWriter, r *http.Request, target, key string, e *entry) {
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.OriginTimeout)
	defer cancel()
	out, err := p.originRequest(ctx, http.MethodHead, target, r.Header, r.RemoteAddr, r.Host, nil)
	if err != nil {
		p.originError(w, r, err)
		return
	}
	for _, name := range conditionalHeaders {
		delete(out.Header, name)
	}
	setValidators(out.Header, e)
	reqTime := p.now()
	resp, err := p.roundTrip(out)
	if err != nil {
		if now := p.now(); e.staleOnError(now) {
			p.metrics.staleOnError.Add(1)
			p.serveEntry(w, r, e, resultStale, now)
			return
		}
		p.originError(w, r, err)
		return
	}
	defer resp.Body.Close()
	respTime := p.now()
	stripHopByHop(resp.Header)
	switch {
	case resp.StatusCode == http.StatusNotModified && e.hasValidator(),
		resp.StatusCode == e.status && identifies(resp.Header, e):
		n := e.refreshed(resp.Header, reqTime, respTime, p.policy)
		p.store.put(target, n, respTime)
		p.serveEntry(w, r, n, resultRevalidated, respTime)
	case serverError(resp.StatusCode) && e.staleOnError(respTime):
		p.metrics.staleOnError.Add(1)
		p.serveEntry(w, r, e, resultStale, respTime)
	default:
		p.store.c.Delete(key)
		p.stream(w, r, resp, nil, resultMiss)
	}
}

// identifies reports whether a full (non-304) response with header h
// describes the same representation as e, by the rules of RFC 9111
// section 4.3.4: a matching strong ETag, or, when neither has an ETag, the
// same Last-Modified (or none on both); and a Content-Length, if given,
// equal to e's.
func identifies(h http.Header, e *entry) bool {
	if cl := h.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(e.body)) {
		return false
	}
	etag := h.Get("ETag")
	switch {
	case etag != "" || e.etag != "":
		return etag == e.etag && len(etag) > 0 && etag[0] == '"'
	default:
		return h.Get("Last-Modified") == e.lastModified
	}
}
