package dci

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func loadSpec(t *testing.T, name string) *openapi3.T {
	t.Helper()
	b, err := SpecFS.ReadFile("spec/" + name)
	if err != nil {
		t.Fatal(err)
	}
	l := openapi3.NewLoader()
	doc, err := l.LoadFromData(b)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	if doc.Info != nil && doc.Info.Version == "" {
		doc.Info.Version = "1.0.0" // the social spec omits it; its file name carries it
	}
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		t.Fatalf("%s does not validate: %v", name, err) // the standard's own examples are not all valid, so they are not checked
	}
	return doc
}

func TestSpecLoads(t *testing.T) {
	doc := loadSpec(t, "social_api_v1.0.0.yaml")
	for _, p := range []string{"/registry/sync/search", "/registry/search", "/registry/subscribe", "/registry/notify", "/registry/txn/status"} {
		if doc.Paths.Find(p) == nil {
			t.Errorf("spec has no %s", p)
		}
	}
}
