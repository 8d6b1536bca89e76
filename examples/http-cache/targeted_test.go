package main

import (
	"testing"
	"time"
)

func TestParseTargeted(t *testing.T) {
	d, ok := parseTargeted([]string{`max-age=3600, foo;a=1, bar=(1 "x")`, `s-maxage=99999999999, private, stale-if-error=30`})
	if !ok || !d.hasMaxAge || d.maxAge != time.Hour || !d.hasSMaxAge || d.sMaxAge != maxDelta || !d.private || !d.hasSIE || d.staleIfError != 30*time.Second {
		t.Fatalf("parsed %+v, %v", d, ok)
	}
	if d, ok := parseTargeted([]string{`max-age="10", no-store=?0, no-cache`}); !ok || d.hasMaxAge || d.noStore || !d.noCache {
		t.Fatalf("wrong types: %+v, %v", d, ok)
	}
	for _, bad := range []string{"", "max-age =100", "max-age= 100", "MaX-aGe=3600", "max-age=100, &&&", "max-age=100,", "max-age=1.2345", `a="unterminated`, "a=?2"} {
		if d, ok := parseTargeted([]string{bad}); ok {
			t.Errorf("parseTargeted(%q) = %+v, want invalid", bad, d)
		}
	}
	if _, ok := parseTargeted(nil); ok {
		t.Error("absent field parsed as valid")
	}
}

// FuzzParseTargeted checks that the Dictionary parser never panics and
// that whatever it accepts, it accepts again with a trailing member added.
func FuzzParseTargeted(f *testing.F) {
	for _, s := range []string{`max-age=3600, foo;a=1, bar=(1 "x");p=?0`, `a=:AQID:, b=1.5, c=tok/en`, "max-age =1", `a="\"", b`, "(", "a=("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := parseSFDictionary(s)
		if !ok || len(m) == 0 {
			return
		}
		if _, ok := parseSFDictionary(s + ", zz"); !ok {
			t.Fatalf("%q parses, but not with a member appended", s)
		}
	})
}
