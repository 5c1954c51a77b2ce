package share

import (
	"context"
	"fmt"

	"jiuzhu/internal/auth"
)

// DemoCallback is where the demo key's subscriptions and asynchronous DCI
// answers go: a listener the person trying the demo runs on the same machine.
const DemoCallback = "http://127.0.0.1:8090/callback"

// SeedDemo issues one key for a demo portal over a region (the demo's rural
// county) with the status, name, household, amount, change-feed and export
// scopes, and returns its identifier and secret for the start-up banner. The
// secret is random like any other: a demo database kept after the demo
// holds no well-known key.
func SeedDemo(ctx context.Context, s *Service, regionCode string) (clientID, secret string, err error) {
	system := &auth.User{Username: "system", DisplayName: "系统", Role: auth.Admin, Region: s.Tree.Root.Code, Active: true}
	c, secret, err := s.CreateClient(ctx, system, NewClient{Name: "演示门户", Department: "演示县政务服务门户", RegionCode: regionCode,
		Scopes:      []string{ScopeRecipientStatus, ScopePersonName, ScopeHousehold, ScopeAmount, ScopeChanges, ScopeExport, ScopeDCISearch, ScopeDCISubscribe},
		CallbackURL: DemoCallback})
	if err != nil {
		return "", "", fmt.Errorf("share: demo key: %w", err)
	}
	return c.ClientID, secret, nil
}
