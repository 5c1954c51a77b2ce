package registry_test

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"jiuzhu/internal/calc"
	"jiuzhu/internal/gen"
	"jiuzhu/internal/registry"
)

// TestStreamSituations compares the streamed situations of a generated county
// with those SituationBatch builds, household by household.
func TestStreamSituations(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	now := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	st, err := gen.Load(ctx, s.DB, s.Tree, s.Keys, gen.Options{Scale: 0.005, Seed: 3, Now: now, Regions: []string{"360124"}})
	if err != nil {
		t.Fatal(err)
	}
	// A changed income after the load: the newer record holds, a future one not.
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO person_incomes (person_id, kind, monthly_fen, since, created_at)
		VALUES (1, 'wage', 123400, '2026-03-01', $1), (1, 'wage', 999900, '2027-01-01', $1), (2, 'business', 0, '2026-03-10', $1)`, now); err != nil {
		t.Fatal(err)
	}
	date := "2026-03-15"
	want := map[int64]registry.HouseholdSituation{}
	var after int64
	for {
		b, last, err := s.SituationBatch(ctx, "3601", after, 500, date)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			break
		}
		for _, h := range b {
			want[h.ID] = h
		}
		after = last
	}
	if int64(len(want)) != st.Households {
		t.Fatalf("SituationBatch read %d households, loaded %d", len(want), st.Households)
	}
	var mu sync.Mutex
	got := map[int64]registry.HouseholdSituation{}
	if err := s.StreamSituations(ctx, "3601", date, registry.StreamOptions{Batch: 300, Readers: 3}, func(b []registry.HouseholdSituation) error {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range b {
			if _, dup := got[h.ID]; dup {
				t.Errorf("household %d twice", h.ID)
			}
			got[h.ID] = h
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("streamed %d households, want %d", len(got), len(want))
	}
	norm := func(s *calc.Situation) {
		for i := range s.Household.Members {
			in := s.Household.Members[i].Incomes
			sort.Slice(in, func(a, b int) bool { return in[a].Kind < in[b].Kind })
		}
	}
	var incomes int
	for id, w := range want {
		g := got[id]
		norm(&w.Situation)
		norm(&g.Situation)
		if (w.Err == nil) != (g.Err == nil) || !reflect.DeepEqual(w.Situation, g.Situation) {
			t.Fatalf("household %d:\n got %+v (%v)\nwant %+v (%v)", id, g.Situation.Household, g.Err, w.Situation.Household, w.Err)
		}
		for _, m := range g.Situation.Household.Members {
			incomes += len(m.Incomes)
		}
	}
	if incomes == 0 {
		t.Error("no incomes streamed")
	}
	// A scope outside the data streams nothing; an error from fn stops it.
	if err := s.StreamSituations(ctx, "3602", date, registry.StreamOptions{}, func(b []registry.HouseholdSituation) error {
		t.Errorf("%d households outside the scope", len(b))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	if err := s.StreamSituations(ctx, "36", date, registry.StreamOptions{Batch: 100}, func([]registry.HouseholdSituation) error { return stop }); err != stop {
		t.Errorf("stream error %v, want %v", err, stop)
	}
}
