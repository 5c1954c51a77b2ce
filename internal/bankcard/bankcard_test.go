package bankcard

import "testing"

func TestLuhn(t *testing.T) {
	// a published test number: 79927398713
	if c := CheckDigit("7992739871"); c != '3' {
		t.Fatalf("check digit %c, want 3", c)
	}
	if !Valid("79927398713") || Valid("79927398710") {
		t.Fatal("Valid")
	}
	for _, body := range []string{"621700", "6228480402564890", "622202123456789012"} {
		if !Valid(body + string(CheckDigit(body))) {
			t.Fatalf("%s with its own check digit is not valid", body)
		}
	}
}
