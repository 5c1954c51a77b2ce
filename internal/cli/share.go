package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"jiuzhu/internal/auth"
	"jiuzhu/internal/server"
	"jiuzhu/internal/share"
)

const shareUsage = `usage:
  jiuzhu share keys                                                       list the sharing keys in scope
  jiuzhu share issue -department D -name N -region CODE -scopes a,b [-rate N] [-callback URL] [-public-key BASE64]
                                                                          issue a key; its secret is printed once
  jiuzhu share revoke -id N -reason TEXT                                  revoke a key (its tokens stop at once)
-as USER acts as that administrator (default: the system, at province level).
scopes: ` + "recipient.status, person.name, person.id, household, entitlement.amount, changes, export, dci.search, dci.subscribe"

func shareCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(shareUsage)
	}
	sub := args[0]
	if sub != "keys" && sub != "issue" && sub != "revoke" {
		return errors.New(shareUsage)
	}
	fs := flag.NewFlagSet("share "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	as := fs.String("as", "", "administrator acting (default: the system)")
	department := fs.String("department", "", "consuming department")
	name := fs.String("name", "", "name of the key (system or purpose)")
	regionCode := fs.String("region", "", "12-digit region code the key is limited to")
	scopes := fs.String("scopes", "", "comma-separated scopes")
	rate := fs.Int("rate", 0, "calls per minute (default 600)")
	callback := fs.String("callback", "", "callback URL for DCI answers and notifications and change-feed subscriptions (required to subscribe)")
	publicKey := fs.String("public-key", "", "Ed25519 public key, base64, for DCI envelope signatures")
	id := fs.Int64("id", 0, "key number (jiuzhu share keys)")
	reason := fs.String("reason", "", "reason for revoking")
	app, u, err := openAs(ctx, fs, args[1:], stderr, *as, auth.Admin)
	if err != nil {
		return err
	}
	defer app.Close()
	switch sub {
	case "keys":
		return listKeys(ctx, app, u, stdout)
	case "issue":
		in := share.NewClient{Name: *name, Department: *department, RegionCode: *regionCode, RatePerMinute: *rate, CallbackURL: *callback}
		for _, s := range strings.Split(*scopes, ",") {
			if s = strings.TrimSpace(s); s != "" {
				in.Scopes = append(in.Scopes, s)
			}
		}
		if *publicKey != "" {
			if in.PublicKey, err = base64.StdEncoding.DecodeString(*publicKey); err != nil {
				return fmt.Errorf("share issue: -public-key is not base64: %w", err)
			}
		}
		c, secret, err := app.Share.CreateClient(ctx, u, in)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "密钥已签发（编号 %d）。客户端密钥只显示这一次，请立即复制并以安全方式交给使用部门。\nclient_id:     %s\nclient_secret: %s\n", c.ID, c.ClientID, secret)
		return nil
	default:
		if *id <= 0 {
			return errors.New("share revoke: -id is required (see jiuzhu share keys)")
		}
		if err := app.Share.Revoke(ctx, u, *id, *reason); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "密钥 %d 已吊销。\n", *id)
		return nil
	}
}

func listKeys(ctx context.Context, app *server.App, u *auth.User, w io.Writer) error {
	keys, err := app.Share.Clients(ctx, u)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-6s %-20s %-8s %-12s %-10s %8s  %s\n", "编号", "client_id", "状态", "地区", "频率/分钟", "调用次数", "部门 / 名称 / 授权范围")
	for _, k := range keys {
		status := "有效"
		if k.Revoked() {
			status = "已吊销"
		}
		fmt.Fprintf(w, "%-6d %-20s %-8s %-12s %-10d %8d  %s / %s / %s\n", k.ID, k.ClientID, status, k.RegionCode, k.RatePerMinute, k.Calls,
			k.Department, k.Name, strings.Join(k.Scopes, ","))
	}
	return nil
}
