// Package policyfiles embeds the versioned parameter files (*.yaml) of this
// folder so that every binary carries the parameters it was tested with. The
// files are read and validated by jiuzhu/internal/policy.
package policyfiles

import "embed"

// FS holds the parameter files, one *.yaml per programme.
//
//go:embed *.yaml
var FS embed.FS
