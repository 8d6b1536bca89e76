package main

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// codecSamples returns entries as the proxy builds them: plain, with Vary,
// with qualified no-cache, revalidated, an index entry, and an empty body.
func codecSamples() []*entry {
	now := time.Unix(1_700_000_000, 123456789)
	pol := policy{defaultTTL: time.Minute, heuristicMax: 24 * time.Hour, staleIfError: time.Minute}
	mk := func(key string, status int, h http.Header, body string, req http.Header) *entry {
		h.Set("Date", now.UTC().Format(http.TimeFormat))
		dec := pol.decide(status, h, false, now)
		takeFields(h, dec.omit)
		return newEntry(key, status, h, []byte(body), now.Add(-3*time.Millisecond), now, dec, req)
	}
	plain := mk("/a?x=1", 200, http.Header{
		"Cache-Control": {"max-age=60, stale-while-revalidate=30"},
		"Content-Type":  {"text/plain"},
		"Etag":          {`"v1"`},
		"Age":           {"7"},
		"X-Multi":       {"one", "two", ""},
	}, "hello", http.Header{})
	vary := mk("/v\x00Accept-Language=de", 200, http.Header{
		"Cache-Control": {"max-age=10"},
		"Vary":          {"Accept-Language"},
	}, "Hallo", http.Header{"Accept-Language": {"DE"}})
	vary.indexGen = 0xdeadbeefcafe
	qualified := mk("/q", 404, http.Header{
		"Cache-Control": {`no-cache="X-Secret", must-revalidate, s-maxage=5`},
		"X-Secret":      {"s"},
		"Last-Modified": {"Sun, 06 Nov 1994 08:49:37 GMT"},
	}, "", http.Header{})
	refreshed := plain.refreshed(http.Header{"Cache-Control": {"max-age=120"}}, now.Add(time.Second), now.Add(2*time.Second), pol)
	index := &entry{key: "/v", varyIndex: []string{"Accept-Language", "Accept-Encoding"}, indexUntil: now.Add(time.Hour), indexGen: 42}
	heuristic := mk("/h", 200, http.Header{"Last-Modified": {"Sun, 06 Nov 1994 08:49:37 GMT"}}, string(make([]byte, 70_000)), http.Header{})
	return []*entry{plain, vary, qualified, refreshed, index, heuristic}
}

// wireView returns a copy of e with what the wire form does not carry
// (the hit counter, monotonic clock readings, the time zone) normalised,
// and empty collections as nil, for reflect.DeepEqual.
func wireView(e *entry) *entry {
	c := &entry{
		key: e.key, varyIndex: e.varyIndex, indexGen: e.indexGen, status: e.status, header: e.header,
		body: e.body, contentLength: e.contentLength, initAge: e.initAge, dec: e.dec,
		etag: e.etag, lastModified: e.lastModified, varyNames: e.varyNames, varyValues: e.varyValues,
	}
	norm := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return time.Unix(0, t.UnixNano()).UTC()
	}
	c.indexUntil, c.reqTime, c.respTime = norm(e.indexUntil), norm(e.reqTime), norm(e.respTime)
	if len(c.header) == 0 {
		c.header = nil
	}
	if len(c.body) == 0 {
		c.body = nil
	}
	for _, ss := range []*[]string{&c.varyIndex, &c.dec.omit, &c.varyNames, &c.varyValues} {
		if len(*ss) == 0 {
			*ss = nil
		}
	}
	if c.contentLength == nil {
		c.contentLength = []string{"0"}
	}
	return c
}

func TestCodecRoundTrip(t *testing.T) {
	for _, e := range codecSamples() {
		data := encodeEntry(e)
		got, err := decodeEntry(data)
		if err != nil {
			t.Fatalf("%q: %v", e.key, err)
		}
		if want := wireView(e); !reflect.DeepEqual(wireView(got), want) {
			t.Fatalf("%q: round trip\n got %+v\nwant %+v", e.key, wireView(got), want)
		}
		// What the proxy computes from an entry agrees after the trip.
		now := e.respTime.Add(90 * time.Second)
		if got.age(now) != e.age(now) || got.fresh(now) != e.fresh(now) || got.staleServable(now) != e.staleServable(now) ||
			got.staleOnError(now) != e.staleOnError(now) || got.weight() != e.weight() {
			t.Fatalf("%q: decoded entry ages, serves or weighs differently", e.key)
		}
		// Decoding copies: changing the buffer changes nothing decoded.
		before := wireView(got)
		for i := range data {
			data[i] ^= 0xff
		}
		if !reflect.DeepEqual(wireView(got), before) {
			t.Fatalf("%q: decoded entry aliases the encoded bytes", e.key)
		}
	}
}

func TestCodecRejectsCorruptInput(t *testing.T) {
	data := encodeEntry(codecSamples()[0])
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"other version", append([]byte{2}, data[1:]...)},
		{"trailing byte", append(bytes.Clone(data), 0)},
	} {
		if _, err := decodeEntry(c.b); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: err = %v, want errCorrupt", c.name, err)
		}
	}
	// Every truncation fails; none panics.
	for n := range len(data) {
		if _, err := decodeEntry(data[:n]); !errors.Is(err, errCorrupt) {
			t.Fatalf("truncated to %d of %d bytes: err = %v", n, len(data), err)
		}
	}
}

// FuzzDecodeEntry checks that decoding never panics, and that whatever
// decodes re-encodes to a canonical form that decodes to the same entry.
func FuzzDecodeEntry(f *testing.F) {
	for _, e := range codecSamples() {
		f.Add(encodeEntry(e))
	}
	f.Add([]byte{codecVersion})
	f.Add([]byte{codecVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry(data)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("error %v does not wrap errCorrupt", err)
			}
			return
		}
		again := encodeEntry(e)
		e2, err := decodeEntry(again)
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if !reflect.DeepEqual(wireView(e2), wireView(e)) {
			t.Fatalf("re-encoded entry decodes differently\n got %+v\nwant %+v", wireView(e2), wireView(e))
		}
		if !bytes.Equal(encodeEntry(e2), again) {
			t.Fatal("encoding is not canonical")
		}
	})
}
