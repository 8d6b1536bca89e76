package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the proxy's own work on a hit.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkHit measures a cache hit inside ServeHTTP, without the network.
func BenchmarkHit(b *testing.B) {
	e := newEnv(b, nil)
	e.handle("/hot", textHandler("max-age=1000000", bodyOf("hot", 1024)))
	req := httptest.NewRequest(http.MethodGet, "/hot", nil)
	e.proxy.ServeHTTP(httptest.NewRecorder(), req)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			e.proxy.ServeHTTP(w, req)
		}
	})
}
