package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"jiuzhu/internal/audit"
	"jiuzhu/internal/testdb"
)

// TestGroupCommittedReads: many concurrent audited reads each get exactly one
// entry, in one unbroken chain.
func TestGroupCommittedReads(t *testing.T) {
	d := testdb.Open(t)
	ctx := context.Background()
	const n = 60
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- audit.Record(ctx, d, audit.Actor{Username: fmt.Sprint("u", i), Role: "auditor", Region: "360000000000"}, "test.read", "thing", fmt.Sprint(i), "360000000000", nil)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := audit.Verify(ctx, d, nil)
	if err != nil || res.FirstBroken != 0 || res.Checked != n {
		t.Fatalf("verify: %+v %v", res, err)
	}
	var distinct int
	d.QueryRowContext(ctx, `SELECT COUNT(DISTINCT object_id) FROM audit_log`).Scan(&distinct)
	if distinct != n {
		t.Fatalf("%d distinct reads recorded, want %d", distinct, n)
	}
	got, err := audit.Search(ctx, d, audit.Query{ScopePrefix: "36", Username: "u7"})
	if err != nil || len(got) != 1 || got[0].ObjectID != "7" {
		t.Fatalf("search: %+v %v", got, err)
	}
}
