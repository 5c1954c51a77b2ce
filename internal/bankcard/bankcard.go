// Package bankcard checks bank card numbers: the Luhn check digit that Chinese
// bank cards (UnionPay) end with.
package bankcard

// CheckDigit is the Luhn digit that completes body.
func CheckDigit(body string) byte {
	return byte('0' + (10-luhnSum(body, 0)%10)%10)
}

// Valid reports whether number (digits only) ends with a correct Luhn digit.
func Valid[T string | []byte](number T) bool {
	return len(number) > 1 && luhnSum(number, 1)%10 == 0
}

// luhnSum doubles every second digit from the right, starting with the digit
// at offset doubled (0 when the check digit is still to come, 1 when present).
func luhnSum[T string | []byte](s T, doubled int) int {
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == doubled%2 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum
}
