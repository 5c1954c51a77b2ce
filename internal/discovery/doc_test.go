package discovery_test

import (
	"os"
	"testing"

	"jiuzhu/internal/discovery"
)

func TestLayoutDocIsUpToDate(t *testing.T) {
	b, err := os.ReadFile("../../docs/discovery-events.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != discovery.LayoutDoc() {
		t.Error("docs/discovery-events.md differs from the layouts: run `go run ./cmd/jiuzhu discovery layouts > docs/discovery-events.md`")
	}
}
