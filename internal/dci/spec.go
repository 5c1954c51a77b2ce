package dci

import "embed"

// SpecFS holds the standard's YAML: served at /dci/spec and used by the
// tests to validate every request and response.
//
//go:embed spec/*.yaml
var SpecFS embed.FS
