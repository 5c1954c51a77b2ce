package online

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	l := NewLimiter(2, time.Hour)
	l.Now = func() time.Time { return now }
	undo, ok := l.Take("a")
	if !ok {
		t.Fatal("first take refused")
	}
	undo() // a failed attempt gives its slot back
	for i := 0; i < 2; i++ {
		if _, ok := l.Take("a"); !ok {
			t.Fatalf("take %d refused", i)
		}
		now = now.Add(time.Minute)
	}
	if _, ok := l.Take("a"); ok || !l.Full("a") {
		t.Fatal("third take within the hour allowed")
	}
	if l.Full("b") {
		t.Fatal("another address is limited")
	}
	now = now.Add(59 * time.Minute) // the first event leaves the window
	if _, ok := l.Take("a"); !ok {
		t.Fatal("take after the window refused")
	}
	l.Add("c")
	l.Add("c")
	if !l.Full("c") {
		t.Fatal("Add does not count")
	}
}

func TestCodesAndNumbers(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		c := newCode()
		if len(c) != 8 || normCode(" "+c[:4]+"-"+c[4:]+" ") != c {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 999 {
		t.Fatalf("codes repeat: %d distinct of 1000", len(seen))
	}
	no := newNo(time.Date(2026, 11, 2, 20, 0, 0, 0, time.UTC)) // 04:00 on the 3rd in China
	if len(no) != 16 || no[:10] != "WS20261103" {
		t.Fatalf("number %q", no)
	}
}
