package gen

import (
	"context"
	"fmt"
	"testing"
	"time"

	"jiuzhu/internal/region"
)

func TestExplore(t *testing.T) {
	tree, _ := region.Load()
	now := testNow
	g, _ := New(Options{Scale: 1, Seed: 1, Now: now}, tree)
	t.Logf("scale 1: %+v", g.Stats())
	g, _ = New(Options{Scale: 0.05, Seed: 1, Now: now}, tree)
	t0 := time.Now()
	ages := map[string]map[int]int{}
	sizes := map[string]map[int]int{}
	rel := map[string]int{}
	sc := map[int]int{}
	n := 0
	for h, err := range g.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		k := h.Members[0].Programmes.String()
		if sizes[k] == nil { sizes[k] = map[int]int{} }
		sizes[k][len(h.Members)]++
		for _, p := range h.Members {
			k := p.Programmes.String()
			if ages[k] == nil { ages[k] = map[int]int{} }
			ages[k][p.age/10]++
			rel[p.Relation]++
			if p.Programmes&TekunDispersed != 0 { sc[p.SelfCareItems]++ }
		}
		for _, s := range h.Supporters { rel["S "+s.Relation+"/"+s.Duty]++ }
		n++
		if n%15000 == 3 {
			fmt.Println(h.No, h.Hukou, h.Address, h.Phone)
			for _, p := range h.Members { fmt.Printf("   %s %s %s %s %s %s %d %s %v %v %s\n", p.IDNumber, p.Name, p.Sex, p.Relation, p.BirthDate, p.DisabilityKind, p.DisabilityLevel, p.Student, p.AbleToWork, p.CoResident, p.Programmes) }
			for _, s := range h.Supporters { fmt.Printf("   S %+v\n", *s) }
		}
	}
	t.Logf("%v", time.Since(t0))
	for k, v := range ages { fmt.Println("ages", k, v) }
	for k, v := range sizes { fmt.Println("sizes", k, v) }
	fmt.Println(rel, sc)
}
