// Package share serves assistance data to other departments and portals:
// API keys per consuming department with field and region scopes, rate
// limits, an audit entry for every call, a change feed of entitlements and
// masked bulk exports. The DCI endpoints (package dci) authenticate their
// callers with the same keys.
package share

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Service owns the share_* tables.
type Service struct {
	DB   *db.DB
	Tree *region.Tree
	Keys *crypt.Keys
	Log  *slog.Logger
}

// Scopes a key may hold. A key sees only what its scopes name, inside its region.
const (
	ScopeRecipientStatus = "recipient.status" // is this person a current recipient of programme X, since when
	ScopePersonName      = "person.name"      // the name beside a masked ID number
	ScopePersonID        = "person.id"        // the full ID number instead of the masked one
	ScopeHousehold       = "household"        // household number, size and region
	ScopeAmount          = "entitlement.amount"
	ScopeChanges         = "changes"    // the change feed and subscriptions
	ScopeExport          = "export"     // bulk export of the shared dataset
	ScopeDCISearch       = "dci.search" // DCI search, sync and async, and transaction status
	ScopeDCISubscribe    = "dci.subscribe"
)

// Client is an authenticated consumer: one API key of one department.
type Client struct {
	ID            int64
	ClientID      string // public identifier, also the DCI sender_id
	Name          string
	Department    string
	RegionCode    string // scope: the key sees only this part of the tree
	Scopes        []string
	RatePerMinute int
	// PublicKey verifies the signatures of the DCI message envelopes this
	// sender signs (Ed25519, raw 32 bytes); nil when the key signs nothing.
	PublicKey   []byte
	CallbackURL string // where asynchronous DCI answers and notifications go
}

// Allows reports whether the key holds a scope.
func (c *Client) Allows(scope string) bool {
	for _, s := range c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Change is one entry of the change feed: an entitlement started, changed or ended.
type Change struct {
	Seq        int64
	At         time.Time
	Kind       string // started, changed, ended
	Programme  string
	PersonID   int64
	CaseID     int64
	RegionCode string
	Effective  string // YYYY-MM-DD
	AmountFen  int64
}

var errTodo = errors.New("share: not implemented yet")

// Authenticate checks a client id and secret (the client-credentials grant).
func (s *Service) Authenticate(ctx context.Context, clientID, secret string) (*Client, error) {
	return nil, errTodo
}

// IssueToken gives an authenticated client a bearer token.
func (s *Service) IssueToken(ctx context.Context, c *Client) (token string, expires time.Time, err error) {
	return "", time.Time{}, errTodo
}

// ClientByToken resolves a bearer token; revoked keys and expired tokens fail.
func (s *Service) ClientByToken(ctx context.Context, token string) (*Client, error) {
	return nil, errTodo
}

// Allow takes one request from the client's rate limit.
func (s *Service) Allow(c *Client) bool { return false }

// LogCall records one call in the audit log: endpoint, outcome and how many records went out.
func (s *Service) LogCall(ctx context.Context, c *Client, endpoint, outcome string, records int) error {
	return errTodo
}

// Changes returns the feed after a cursor inside a region prefix.
func (s *Service) Changes(ctx context.Context, after int64, limit int, regionPrefix string) ([]Change, int64, error) {
	return nil, after, errTodo
}

// Handler serves the departments' sharing API under /share/.
func (s *Service) Handler() http.Handler { return http.NotFoundHandler() }
