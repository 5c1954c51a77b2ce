// Package credit keeps the social-credit records of confirmed assistance
// fraud: who, what, how much, which decision and when, with appeal and
// expiry, exported to or fetched by the credit platform.
package credit

import (
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Service owns the credit_* tables.
type Service struct {
	DB   *db.DB
	Tree *region.Tree
	Keys *crypt.Keys
}
