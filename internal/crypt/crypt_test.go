package crypt

import (
	"strings"
	"testing"
)

func TestSealOpenAndHash(t *testing.T) {
	k, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := "360102199001010018"
	a, b := k.Seal(id), k.Seal(id)
	if a == b {
		t.Fatal("two seals of the same value must differ (random nonce)")
	}
	if strings.Contains(a, id) {
		t.Fatal("sealed value contains the plaintext")
	}
	for _, s := range []string{a, b} {
		got, err := k.Open(s)
		if err != nil || got != id {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
	if k.Hash(id) != k.Hash(id) || k.Hash(id) == k.Hash("360102199001010026") {
		t.Fatal("hash must be deterministic and distinguish values")
	}
	other, _ := New("00112233445566778899aabbccddeeff", strings.Repeat("ab", 32))
	if _, err := other.Open(a); err == nil {
		t.Fatal("opening with another key must fail")
	}
	if other.Hash(id) == k.Hash(id) {
		t.Fatal("hash must depend on the key")
	}
}

func TestBadKeys(t *testing.T) {
	if _, err := New("zz", strings.Repeat("ab", 32)); err == nil {
		t.Fatal("want error for bad SM4 key")
	}
	if _, err := New("00112233445566778899aabbccddeeff", "ab"); err == nil {
		t.Fatal("want error for short HMAC key")
	}
}
