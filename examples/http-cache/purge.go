package main

// This file holds purging: `PURGE /path` or `DELETE /_cache/path`, with
// `Authorization: Bearer <token>`, removes /path and all its Vary variants
// from the cache. Without a configured token purging is disabled.

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// servePurge removes target from the cache if r carries the purge token.
// It answers 403 when purging is disabled or the token is wrong, 401 when
// there is no bearer token, 200 when something was removed and 404 when
// nothing was stored.
func (p *proxy) servePurge(w http.ResponseWriter, r *http.Request, target string) {
	w.Header().Set("Cache-Control", "no-store")
	if p.cfg.PurgeToken == "" {
		http.Error(w, "purge is disabled: no purge token is configured", http.StatusForbidden)
		return
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="http-cache purge"`)
		http.Error(w, "purge needs Authorization: Bearer <token>", http.StatusUnauthorized)
		return
	}
	if !tokenEqual(strings.TrimSpace(token), p.cfg.PurgeToken) {
		p.log.Warn("purge refused: wrong token", "target", target, "remote", r.RemoteAddr)
		http.Error(w, "wrong purge token", http.StatusForbidden)
		return
	}
	if !strings.HasPrefix(target, "/") {
		http.Error(w, "purge target must start with /", http.StatusBadRequest)
		return
	}
	n := p.store.purge(target)
	p.metrics.purges.Add(1)
	p.log.Info("purged", "target", target, "entries", n, "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if n == 0 {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "not cached: %s\n", target)
		return
	}
	fmt.Fprintf(w, "purged %s (%d entries)\n", target, n)
}

// tokenEqual compares two tokens in time that depends on neither's
// content nor length: it compares their SHA-256 digests in constant time.
func tokenEqual(got, want string) bool {
	g := sha256.Sum256([]byte(got))
	x := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], x[:]) == 1
}
