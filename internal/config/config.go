// Package config reads the settings of the jiuzhu binary from flags, the
// environment (JIUZHU_*) and an optional KEY=VALUE file, in that order of
// precedence, and validates them at start with messages an operator can act on.
package config

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Config is the validated configuration.
type Config struct {
	Addr    string // listen address
	DataDir string // embedded database, generated keys
	DB      string // postgres:// URL, or "" for SQLite in DataDir
	Demo    bool
	KeySM4  string // 32 hex digits; generated into DataDir when empty
	KeyHMAC string // 64 hex digits
	// SecureCookies marks cookies Secure. Unless set explicitly it is on,
	// except on loopback addresses where the platform is served over plain HTTP.
	SecureCookies bool
	secureSet     bool
	LogFormat     string // text | json
}

// Keys of the environment and of the config file.
var envKeys = map[string]string{
	"JIUZHU_ADDR": "addr", "JIUZHU_DATA": "data", "JIUZHU_DB": "db", "JIUZHU_DEMO": "demo",
	"JIUZHU_KEY_SM4": "key-sm4", "JIUZHU_KEY_HMAC": "key-hmac", "JIUZHU_SECURE_COOKIES": "secure-cookies", "JIUZHU_LOG_FORMAT": "log-format",
}

// Defaults are the zero-set-up values.
func Defaults() Config {
	return Config{Addr: "127.0.0.1:8080", DataDir: "./jiuzhu-data", LogFormat: "text"}
}

// Apply sets one named setting from text (a flag, env or file value).
func (c *Config) Apply(name, value string) error {
	switch name {
	case "addr":
		c.Addr = value
	case "data":
		c.DataDir = value
	case "db":
		c.DB = value
	case "demo":
		b, err := parseBool(value)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		c.Demo = b
	case "key-sm4":
		c.KeySM4 = value
	case "key-hmac":
		c.KeyHMAC = value
	case "secure-cookies":
		b, err := parseBool(value)
		if err != nil {
			return fmt.Errorf("secure-cookies: %w", err)
		}
		c.SecureCookies, c.secureSet = b, true
	case "log-format":
		c.LogFormat = value
	default:
		return fmt.Errorf("unknown setting %q", name)
	}
	return nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a yes/no value", v)
}

// Load builds the configuration: defaults, then the file named by JIUZHU_CONFIG
// (or file), then the environment; flags are applied by the caller afterwards
// through Apply, and Validate is called last.
func Load(file string, environ []string) (Config, error) {
	c := Defaults()
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if file == "" {
		file = env["JIUZHU_CONFIG"]
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return c, fmt.Errorf("config file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			text := strings.TrimSpace(sc.Text())
			if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			k, v, ok := strings.Cut(text, "=")
			name, known := envKeys[strings.TrimSpace(k)]
			if !ok || !known {
				return c, fmt.Errorf("config file %s line %d: expected one of the JIUZHU_* settings as KEY=VALUE", file, line)
			}
			if err := c.Apply(name, strings.TrimSpace(v)); err != nil {
				return c, fmt.Errorf("config file %s line %d: %w", file, line, err)
			}
		}
	}
	for k, name := range envKeys {
		if v, ok := env[k]; ok {
			if err := c.Apply(name, v); err != nil {
				return c, fmt.Errorf("%s: %w", k, err)
			}
		}
	}
	return c, nil
}

// Validate checks every setting and fills derived ones.
func (c *Config) Validate() error {
	var errs []error
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("addr %q: want host:port, e.g. 127.0.0.1:8080", c.Addr))
	}
	if !c.secureSet {
		ip := net.ParseIP(host)
		c.SecureCookies = !(host == "localhost" || ip != nil && ip.IsLoopback())
	}
	if c.DB != "" && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		errs = append(errs, fmt.Errorf("db %q: only postgres:// URLs are accepted; leave it empty for the embedded SQLite database", c.DB))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data: a data folder is required"))
	} else if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	if (c.KeySM4 == "") != (c.KeyHMAC == "") {
		errs = append(errs, errors.New("key-sm4 and key-hmac must be given together (or both left out to use the keys in the data folder)"))
	}
	if c.KeySM4 != "" {
		if b, err := hex.DecodeString(c.KeySM4); err != nil || len(b) != 16 {
			errs = append(errs, errors.New("key-sm4: must be 32 hex digits (16 bytes)"))
		}
		if b, err := hex.DecodeString(c.KeyHMAC); err != nil || len(b) != 32 {
			errs = append(errs, errors.New("key-hmac: must be 64 hex digits (32 bytes)"))
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format %q: use text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

// DatabaseURL is the PostgreSQL URL, or the SQLite file in the data folder.
func (c *Config) DatabaseURL() string {
	if c.DB != "" {
		return c.DB
	}
	return filepath.Join(c.DataDir, "jiuzhu.db")
}

// ExtractDir is where imported department extracts are kept (hashed and
// sealed); with several servers the data folder must be shared.
func (c *Config) ExtractDir() string { return filepath.Join(c.DataDir, "extracts") }
