package payroll

import (
	"fmt"
	"io"
	"testing"

	"jiuzhu/internal/bankcard"
	"jiuzhu/internal/crypt"
)

// BenchmarkBankFile formats lines already in memory in each built-in layout:
// SM4 decryption of the account, the account check and the bytes of the
// layout, on all cores. The target is ≥ 1 M lines a second (issue #6).
func BenchmarkBankFile(b *testing.B) {
	keys, err := crypt.LoadOrCreate(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	lines := make([]fileLine, 100_000)
	names := []string{"王建华", "李秀英", "欧阳桂兰", "张国强"}
	for i := range lines {
		body := fmt.Sprintf("622361%012d", i)
		lines[i] = fileLine{id: int64(i + 1), accEnc: keys.Seal(body + string(bankcard.CheckDigit(body))), name: names[i%len(names)],
			net: int64(45000 + i%7*100), programme: "dibao", region: "360124101201"}
	}
	s := &Service{Keys: keys}
	for _, bank := range []string{"JXRCB", "PSBC", "CCB"} {
		l, ok := builtinLayouts[bank]
		if !ok {
			l = defaultLayout(bank)
		}
		b.Run(bank, func(b *testing.B) {
			for b.Loop() {
				n, _, invalid, err := s.writeLines(io.Discard, &l, "2026-03", "360124000000", sliceLines(lines))
				if err != nil || n != int64(len(lines)) || len(invalid) != 0 {
					b.Fatalf("%d lines, %d invalid: %v", n, len(invalid), err)
				}
			}
			b.ReportMetric(float64(len(lines)*b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
