package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrecedenceAndValidation(t *testing.T) {
	f := filepath.Join(t.TempDir(), "jiuzhu.conf")
	os.WriteFile(f, []byte("# comment\nJIUZHU_ADDR=0.0.0.0:9000\nJIUZHU_DEMO=yes\n"), 0o600)
	c, err := Load(f, []string{"JIUZHU_ADDR=127.0.0.1:9001"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9001" || !c.Demo {
		t.Fatalf("env must override file: %+v", c)
	}
	if err := c.Apply("addr", "10.0.0.1:80"); err != nil || c.Validate() != nil || !c.SecureCookies {
		t.Fatalf("non-loopback address must default to secure cookies: %+v", c)
	}
	c.Addr = "127.0.0.1:8080"
	c.Validate()
	if c.SecureCookies {
		t.Fatal("loopback address must default to plain cookies")
	}

	bad := Defaults()
	bad.Addr, bad.DB, bad.KeySM4, bad.LogFormat = "nonsense", "mysql://x", "abc", "xml"
	err = bad.Validate()
	for _, want := range []string{"addr", "db", "key-sm4 and key-hmac", "log-format"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation error %v should mention %s", err, want)
		}
	}
	os.WriteFile(f, []byte("JIUZHU_NOPE=1\n"), 0o600)
	if _, err := Load(f, nil); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("unknown file key: %v", err)
	}
}
