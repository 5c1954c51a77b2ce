package calc

import (
	"testing"

	"jiuzhu/internal/policy"
)

func benchmarkEvaluate(b *testing.B, trace bool) {
	params, err := policy.Default()
	if err != nil {
		b.Fatal(err)
	}
	sits, err := SyntheticSituations(4096)
	if err != nil {
		b.Fatal(err)
	}
	ev := NewEvaluator(params, Options{Trace: trace})
	var r Result
	for i := range sits {
		if err := ev.EvaluateInto(&sits[i], &r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := ev.EvaluateInto(&sits[i%len(sits)], &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvaluate(b *testing.B)      { benchmarkEvaluate(b, false) }
func BenchmarkEvaluateTrace(b *testing.B) { benchmarkEvaluate(b, true) }

func TestBenchEvaluations(t *testing.T) {
	for _, trace := range []bool{false, true} {
		rate, err := BenchEvaluations(2000, trace)
		if err != nil || rate <= 0 {
			t.Fatalf("BenchEvaluations(trace=%v) = %v, %v", trace, rate, err)
		}
	}
}
