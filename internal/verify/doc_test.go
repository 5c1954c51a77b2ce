package verify_test

import (
	"os"
	"testing"

	"jiuzhu/internal/verify"
)

func TestLayoutDocIsUpToDate(t *testing.T) {
	b, err := os.ReadFile("../../docs/verification-sources.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != verify.LayoutDoc() {
		t.Error("docs/verification-sources.md differs from the layouts: run `go run ./cmd/jiuzhu verify layouts > docs/verification-sources.md`")
	}
}
