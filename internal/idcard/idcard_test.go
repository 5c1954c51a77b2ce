package idcard

import (
	"testing"
	"time"
)

var today = time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	cases := []struct {
		in, want string
		male     bool
		err      *Error
	}{
		{"360102199001010018", "360102199001010018", true, nil},
		{"36010219900101001", "", false, ErrLength},
		{"360721195503150022", "360721195503150022", false, nil}, // retired county code stays valid
		{"34052419800101001X", "34052419800101001X", true, nil},
		{"34052419800101001x", "34052419800101001X", true, nil},
		{"340524198001010013", "", false, ErrCheck},
		{"360102900101001", "360102199001010018", true, nil}, // 15 → 18
		{"36010219900230001X", "", false, ErrBirthDate},
		{"360102209901010011", "", false, ErrBirthDate}, // in the future
		{"990102199001010018", "", false, ErrProvince},
		{"3601021990010100A8", "", false, ErrChars},
		{"", "", false, ErrLength},
	}
	for _, c := range cases {
		got, err := Parse(c.in, today)
		if c.err != nil {
			if err != c.err {
				t.Errorf("Parse(%q) error = %v, want %v", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got.Number != c.want || got.Male != c.male {
			t.Errorf("Parse(%q) = %+v, %v; want %s male=%v", c.in, got, err, c.want, c.male)
		}
	}
}

func TestWorkedExampleCheckChars(t *testing.T) {
	// domain.md worked example 12
	if c := CheckChar("36010219900101001"); c != '8' {
		t.Fatalf("got %c want 8", c)
	}
	if c := CheckChar("36072119550315002"); c != '2' {
		t.Fatalf("got %c want 2", c)
	}
}

func TestBuildIsValid(t *testing.T) {
	b := time.Date(1962, 3, 4, 0, 0, 0, 0, time.UTC)
	for seq := 0; seq < 50; seq++ {
		for _, male := range []bool{true, false} {
			n := Build("360721", b, seq, male)
			id, err := Parse(n, today)
			if err != nil || id.Male != male || !id.BirthDate.Equal(b) {
				t.Fatalf("Build(%d,%v)=%s: %+v %v", seq, male, n, id, err)
			}
		}
	}
	if Mask("360102199001010018") != "360102********0018" {
		t.Fatal(Mask("360102199001010018"))
	}
}

func FuzzParse(f *testing.F) {
	f.Add("360102199001010018")
	f.Add("360102900101001")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s, today)
		if err != nil {
			return
		}
		again, err := Parse(id.Number, today)
		if err != nil || again != id {
			t.Fatalf("normalised %q does not parse to itself: %v", id.Number, err)
		}
	})
}
