// Package linkage imports other registries of people in difficulty (the
// poverty-alleviation registry, the trade union's list of workers in
// difficulty), matches them with the assistance registry and lists the
// people found in one but not the other for review.
package linkage

import (
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Service owns the linkage_* tables.
type Service struct {
	DB   *db.DB
	Tree *region.Tree
	Keys *crypt.Keys
}
