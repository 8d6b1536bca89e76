package main

// This file holds the strict HTTP-date parser (RFC 9110 section 5.6.7).
// net/http's ParseTime is lenient: it accepts doubled spaces, one-digit
// hours and other shapes that are not HTTP-dates, and a cache must treat
// an invalid Expires as already expired (RFC 9111 section 5.3), so it
// cannot tell valid from invalid. This parser accepts exactly the three
// formats of RFC 9110: IMF-fixdate, the obsolete RFC 850 format and
// asctime. Day and month names are matched without regard to case, as
// recipients commonly do; everything else (widths, separators, the "GMT"
// zone, the ranges of the numbers) is checked exactly.

import (
	"strings"
	"time"
)

// dayNames and longDayNames are the day names of IMF-fixdate/asctime and of
// the RFC 850 format; monthNames are the month names.
var (
	dayNames     = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDayNames = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	monthNames   = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// parseHTTPDate parses an HTTP-date. ok is false for anything that is not
// exactly one of the three formats of RFC 9110 section 5.6.7:
//
//	Sun, 06 Nov 1994 08:49:37 GMT   ; IMF-fixdate
//	Sunday, 06-Nov-94 08:49:37 GMT  ; obsolete RFC 850 format
//	Sun Nov  6 08:49:37 1994        ; ANSI C's asctime() format
//
// A two-digit RFC 850 year that would be more than 50 years in the future
// of now is taken as the most recent past year with those digits, as RFC
// 9110 requires.
func parseHTTPDate(s string, now time.Time) (time.Time, bool) {
	if comma := strings.IndexByte(s, ','); comma == 3 {
		return parseIMFFixdate(s)
	} else if comma > 3 {
		return parseRFC850(s, comma, now)
	}
	return parseASCTime(s)
}

// parseIMFFixdate parses "Sun, 06 Nov 1994 08:49:37 GMT".
func parseIMFFixdate(s string) (time.Time, bool) {
	// 0         1         2
	// 01234567890123456789012345678
	// Sun, 06 Nov 1994 08:49:37 GMT
	if len(s) != 29 || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[25] != ' ' || !strings.EqualFold(s[26:], "GMT") {
		return time.Time{}, false
	}
	if !nameIndex(dayNames[:], s[:3], new(int)) {
		return time.Time{}, false
	}
	var day, month, year int
	if !digits(s[5:7], &day) || !nameIndex(monthNames[:], s[8:11], &month) || !digits(s[12:16], &year) {
		return time.Time{}, false
	}
	return buildDate(year, month, day, s[17:25])
}

// parseRFC850 parses "Sunday, 06-Nov-94 08:49:37 GMT"; comma is the index
// of the comma after the day name.
func parseRFC850(s string, comma int, now time.Time) (time.Time, bool) {
	if !nameIndex(longDayNames[:], s[:comma], new(int)) {
		return time.Time{}, false
	}
	// , 06-Nov-94 08:49:37 GMT
	// 012345678901234567890123
	r := s[comma:]
	if len(r) != 24 || r[1] != ' ' || r[4] != '-' || r[8] != '-' || r[11] != ' ' || r[20] != ' ' || !strings.EqualFold(r[21:], "GMT") {
		return time.Time{}, false
	}
	var day, month, yy int
	if !digits(r[2:4], &day) || !nameIndex(monthNames[:], r[5:8], &month) || !digits(r[9:11], &yy) {
		return time.Time{}, false
	}
	century := now.UTC().Year() / 100 * 100
	year := century + yy
	if year > now.UTC().Year()+50 {
		year -= 100
	}
	return buildDate(year, month, day, r[12:20])
}

// parseASCTime parses "Sun Nov  6 08:49:37 1994" (the day is two digits or
// a space and one digit).
func parseASCTime(s string) (time.Time, bool) {
	// 0         1         2
	// 012345678901234567890123
	// Sun Nov  6 08:49:37 1994
	if len(s) != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' {
		return time.Time{}, false
	}
	if !nameIndex(dayNames[:], s[:3], new(int)) {
		return time.Time{}, false
	}
	var month, day, year int
	if !nameIndex(monthNames[:], s[4:7], &month) || !digits(s[20:24], &year) {
		return time.Time{}, false
	}
	if s[8] == ' ' {
		if !digits(s[9:10], &day) {
			return time.Time{}, false
		}
	} else if !digits(s[8:10], &day) {
		return time.Time{}, false
	}
	return buildDate(year, month, day, s[11:19])
}

// buildDate checks the ranges of a date and a "hh:mm:ss" time and returns
// the instant in UTC. A leap second (60) is accepted and moves to the next
// minute, as RFC 9110 allows a 60.
func buildDate(year, month, day int, hms string) (time.Time, bool) {
	var hh, mm, ss int
	if len(hms) != 8 || hms[2] != ':' || hms[5] != ':' || !digits(hms[0:2], &hh) || !digits(hms[3:5], &mm) || !digits(hms[6:8], &ss) {
		return time.Time{}, false
	}
	if hh > 23 || mm > 59 || ss > 60 || day < 1 || day > daysIn(month, year) {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hh, mm, ss, 0, time.UTC), true
}

// daysIn returns the number of days in month (1-based) of year.
func daysIn(month, year int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// digits parses s, which must be all ASCII digits, into *n.
func digits(s string, n *int) bool {
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int(c-'0')
	}
	*n = v
	return len(s) > 0
}

// nameIndex finds s among names, without regard to ASCII case, and stores
// its 1-based position in *i.
func nameIndex(names []string, s string, i *int) bool {
	for j, name := range names {
		if strings.EqualFold(name, s) {
			*i = j + 1
			return true
		}
	}
	return false
}
