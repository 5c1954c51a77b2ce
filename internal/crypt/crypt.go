// Package crypt protects personal identifiers at rest with the national
// algorithms: SM4-GCM for values that must be shown again, and a keyed SM3 hash
// (HMAC-SM3) for lookups and matching, so a dump or an extract never holds
// plaintext ID numbers and equal IDs still join.
package crypt

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"
)

// Keys holds the SM4 data key and the HMAC key. Both are 16 bytes for SM4 and
// 32 for the HMAC; they come from configuration.
type Keys struct {
	aead    cipher.AEAD
	macKey  []byte
	macPool sync.Pool
}

// New builds Keys from hex-encoded keys: sm4Hex (32 hex digits) and macHex (64).
func New(sm4Hex, macHex string) (*Keys, error) {
	sk, err := hex.DecodeString(strings.TrimSpace(sm4Hex))
	if err != nil || len(sk) != 16 {
		return nil, errors.New("crypt: SM4 key must be 32 hex digits")
	}
	mk, err := hex.DecodeString(strings.TrimSpace(macHex))
	if err != nil || len(mk) != 32 {
		return nil, errors.New("crypt: HMAC key must be 64 hex digits")
	}
	block, err := sm4.NewCipher(sk)
	if err != nil {
		return nil, fmt.Errorf("crypt: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("crypt: %w", err)
	}
	k := &Keys{aead: aead, macKey: mk}
	k.macPool.New = func() any { return hmac.New(sm3.New, k.macKey) }
	return k, nil
}

// LoadOrCreate reads the key file in dir, generating it with fresh random keys
// the first time (the embedded default's zero set-up).
func LoadOrCreate(dir string) (*Keys, error) {
	path := filepath.Join(dir, "keys")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		sk, mk := make([]byte, 16), make([]byte, 32)
		rand.Read(sk)
		rand.Read(mk)
		data = []byte(hex.EncodeToString(sk) + "\n" + hex.EncodeToString(mk) + "\n")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("crypt: create %s: %w", dir, err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("crypt: write %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("crypt: read %s: %w", path, err)
	}
	lines := strings.Fields(string(data))
	if len(lines) != 2 {
		return nil, fmt.Errorf("crypt: %s must hold two hex keys", path)
	}
	return New(lines[0], lines[1])
}

// Hash is the lookup key of a value: hex HMAC-SM3.
func (k *Keys) Hash(value string) string {
	m := k.macPool.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(value))
	var buf [32]byte
	sum := m.Sum(buf[:0])
	k.macPool.Put(m)
	return hex.EncodeToString(sum)
}

// Seal encrypts value with SM4-GCM under a random nonce.
func (k *Keys) Seal(value string) string {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(value)+k.aead.Overhead())
	rand.Read(nonce)
	return base64.RawStdEncoding.EncodeToString(k.aead.Seal(nonce, nonce, []byte(value), nil))
}

// Open decrypts what Seal produced.
func (k *Keys) Open(sealed string) (string, error) {
	plain, err := k.AppendOpen(nil, sealed)
	return string(plain), err
}

// AppendOpen decrypts what Seal produced and appends it to dst: loops that
// decrypt millions of short values (bank files) reuse one buffer.
func (k *Keys) AppendOpen(dst []byte, sealed string) ([]byte, error) {
	var stack [256]byte
	raw := stack[:0]
	if n := base64.RawStdEncoding.DecodedLen(len(sealed)); n > len(stack) {
		raw = make([]byte, 0, n)
	}
	raw, err := base64.RawStdEncoding.AppendDecode(raw, []byte(sealed))
	if err != nil || len(raw) < k.aead.NonceSize() {
		return dst, errors.New("crypt: malformed sealed value")
	}
	n := k.aead.NonceSize()
	out, err := k.aead.Open(dst, raw[:n], raw[n:], nil)
	if err != nil {
		return dst, errors.New("crypt: sealed value fails authentication (wrong key?)")
	}
	return out, nil
}
