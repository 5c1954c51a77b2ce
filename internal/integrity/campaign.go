package integrity

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/auth"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/db"
	"jiuzhu/internal/region"
)

// Campaign is a special rectification campaign (专项治理).
type Campaign struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Region     string     `json:"region"`
	From       string     `json:"period_from"`
	To         string     `json:"period_to"`
	Programme  string     `json:"programme,omitempty"`
	List       string     `json:"sample_list,omitempty"`
	Percent    int        `json:"percent"`
	Seed       int64      `json:"seed"`
	State      string     `json:"state"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ClosedBy   string     `json:"closed_by,omitempty"`
	ClosedAt   *time.Time `json:"closed_at,omitempty"`
	CloseNote  string     `json:"close_note,omitempty"`
	Sampled    int        `json:"sampled"`
	Checked    int        `json:"checked"`
	Candidates int        `json:"-"`
}

// CampaignInput opens a campaign. The sample is every approved, current
// application in the region (of the programme, if given; among the cases of
// an anomaly list's entries, if given), of which Percent per cent are drawn
// by a seeded hash of the case id: the same rule and seed always give the
// same cases.
type CampaignInput struct {
	Name      string `json:"name"`
	Region    string `json:"region"`
	From      string `json:"period_from"`
	To        string `json:"period_to"`
	Programme string `json:"programme"`
	List      string `json:"sample_list"`
	Percent   int    `json:"percent"`
	Seed      int64  `json:"seed"`
}

// Results of a re-check.
var Results = []struct{ Value, Label string }{
	{"correct", "核实无误"}, {"stop", "不符合条件，应停发"}, {"amount", "救助金额有误"}, {"other", "其他问题"},
}

// ResultLabel names a result in Chinese.
func ResultLabel(r string) string {
	for _, x := range Results {
		if x.Value == r {
			return x.Label
		}
	}
	return r
}

// sampleRank orders cases reproducibly for a seed.
func sampleRank(seed, id int64) uint64 {
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(seed))
	binary.LittleEndian.PutUint64(b[8:], uint64(id))
	h.Write(b[:])
	return h.Sum64()
}

// OpenCampaign opens a campaign, draws its sample and assigns every sampled
// case to its township for re-checking, in one transaction.
func (s *Service) OpenCampaign(ctx context.Context, u *auth.User, in CampaignInput) (*Campaign, error) {
	if !u.Can(auth.CampaignRun) {
		return nil, apperr.Forbidden("您的角色不能开展专项治理")
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return nil, apperr.Invalid("name", "name_required", "请填写专项治理名称")
	}
	if in.Region == "" {
		in.Region = u.Region
	}
	r, ok := s.Tree.Get(in.Region)
	if !ok || !region.Within(u.Region, in.Region) {
		return nil, apperr.Invalid("region", "region_scope", "范围须为您管辖范围内的地区")
	}
	if r.Level > region.County {
		return nil, apperr.Invalid("region", "region_level", "专项治理由县级及以上开展，请选择县、市或全省")
	}
	from, err1 := time.Parse(time.DateOnly, in.From)
	to, err2 := time.Parse(time.DateOnly, in.To)
	if err1 != nil || err2 != nil || to.Before(from) {
		return nil, apperr.Invalid("period_to", "invalid_period", "请填写起止日期（YYYY-MM-DD），结束日期不能早于开始日期")
	}
	if in.Percent < 1 || in.Percent > 100 {
		return nil, apperr.Invalid("percent", "invalid_percent", "抽查比例应为1%至100%")
	}
	if in.Programme != "" && casework.ProgrammeLabel(in.Programme) == in.Programme {
		return nil, apperr.Invalid("programme", "invalid_programme", "救助项目不正确")
	}
	if in.List != "" && ListLabel(in.List) == in.List {
		return nil, apperr.Invalid("sample_list", "invalid_list", "异常线索类别不正确")
	}
	prefix := region.ScopePrefix(in.Region)
	q := `SELECT c.id, c.household_id, c.region_code FROM cases c WHERE c.region_code LIKE $1 || '%' AND c.decision = 'approved' AND c.purpose = 'application' AND c.state = 'approved'`
	args := []any{prefix}
	if in.Programme != "" {
		args = append(args, in.Programme)
		q += ` AND c.programme = $` + strconv.Itoa(len(args))
	}
	if in.List != "" {
		args = append(args, in.List)
		q += ` AND c.id IN (SELECT e.case_id FROM integrity_entries e WHERE e.list = $` + strconv.Itoa(len(args)) + ` AND e.case_id IS NOT NULL)`
	}
	type cand struct {
		id, hh int64
		reg    string
		rank   uint64
	}
	var cands []cand
	if err := db.Each(ctx, s.DB, q, args, func(scan func(...any) error) error {
		var c cand
		if err := scan(&c.id, &c.hh, &c.reg); err != nil {
			return err
		}
		c.rank = sampleRank(in.Seed, c.id)
		cands = append(cands, c)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("integrity: campaign candidates: %w", err)
	}
	if len(cands) == 0 {
		return nil, apperr.Invalid("programme", "empty_sample", "按此规则没有可抽取的在保案件")
	}
	sort.Slice(cands, func(i, j int) bool {
		return cands[i].rank < cands[j].rank || cands[i].rank == cands[j].rank && cands[i].id < cands[j].id
	})
	k := (len(cands)*in.Percent + 99) / 100
	cands = cands[:k]
	sort.Slice(cands, func(i, j int) bool { return cands[i].id < cands[j].id })
	var id int64
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO campaigns (name, region_code, period_from, period_to, programme, sample_list, percent, seed, state, created_by, created_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'open',$9,$10) RETURNING id`, in.Name, region.Pad(in.Region), in.From, in.To, in.Programme, in.List, in.Percent, in.Seed,
			u.Username, s.now()).Scan(&id); err != nil {
			return fmt.Errorf("integrity: open campaign: %w", err)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO campaign_cases (campaign_id, case_id, household_id, region_code, township_code) VALUES ($1,$2,$3,$4,$5)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, c := range cands {
			if _, err := stmt.ExecContext(ctx, id, c.id, c.hh, c.reg, region.Pad(c.reg[:9])); err != nil {
				return err
			}
		}
		return audit.Append(ctx, tx, u.Actor(), "campaign.open", "campaign", strconv.FormatInt(id, 10), region.Pad(in.Region),
			map[string]any{"name_len": utf8.RuneCountInString(in.Name), "percent": in.Percent, "seed": in.Seed, "programme": in.Programme, "list": in.List, "sampled": len(cands)})
	})
	if err != nil {
		return nil, err
	}
	return s.Campaign(ctx, u, id)
}

const campaignCols = `c.id, c.name, c.region_code, c.period_from, c.period_to, c.programme, c.sample_list, c.percent, c.seed, c.state, c.created_by, c.created_at,
	c.closed_by, c.closed_at, c.close_note,
	(SELECT COUNT(*) FROM campaign_cases k WHERE k.campaign_id = c.id AND k.region_code LIKE $1 || '%'),
	(SELECT COUNT(*) FROM campaign_cases k WHERE k.campaign_id = c.id AND k.region_code LIKE $1 || '%' AND k.result <> '')`

func scanCampaign(scan func(...any) error) (*Campaign, error) {
	var c Campaign
	var closed sql.NullTime
	if err := scan(&c.ID, &c.Name, &c.Region, &c.From, &c.To, &c.Programme, &c.List, &c.Percent, &c.Seed, &c.State, &c.CreatedBy, &c.CreatedAt,
		&c.ClosedBy, &closed, &c.CloseNote, &c.Sampled, &c.Checked); err != nil {
		return nil, err
	}
	if closed.Valid {
		c.ClosedAt = &closed.Time
	}
	return &c, nil
}

func canSeeCampaigns(u *auth.User) error {
	if !u.Can(auth.CampaignRun) && !u.Can(auth.CaseAct) {
		return apperr.Forbidden("您的角色不能查看专项治理")
	}
	return nil
}

// Campaigns lists the campaigns that concern the user: those opened in their
// scope, and those above it with cases in it. Counts are of the user's scope.
func (s *Service) Campaigns(ctx context.Context, u *auth.User) ([]*Campaign, error) {
	if err := canSeeCampaigns(u); err != nil {
		return nil, err
	}
	var out []*Campaign
	err := db.Each(ctx, s.DB, `SELECT `+campaignCols+` FROM campaigns c
		WHERE c.region_code LIKE $1 || '%' OR EXISTS (SELECT 1 FROM campaign_cases k WHERE k.campaign_id = c.id AND k.region_code LIKE $1 || '%')
		ORDER BY c.id DESC`, []any{u.Scope()}, func(scan func(...any) error) error {
		c, err := scanCampaign(scan)
		if err == nil {
			out = append(out, c)
		}
		return err
	})
	return out, err
}

// Campaign loads one campaign as the user sees it.
func (s *Service) Campaign(ctx context.Context, u *auth.User, id int64) (*Campaign, error) {
	if err := canSeeCampaigns(u); err != nil {
		return nil, err
	}
	var out *Campaign
	err := db.Each(ctx, s.DB, `SELECT `+campaignCols+` FROM campaigns c WHERE c.id = $2
		AND (c.region_code LIKE $1 || '%' OR EXISTS (SELECT 1 FROM campaign_cases k WHERE k.campaign_id = c.id AND k.region_code LIKE $1 || '%'))`,
		[]any{u.Scope(), id}, func(scan func(...any) error) error {
			var err error
			out, err = scanCampaign(scan)
			return err
		})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, apperr.NotFound("该专项治理不存在或不在您的管辖范围内")
	}
	return out, nil
}

// Progress is one county's progress and findings.
type Progress struct {
	County  string `json:"county"`
	Sampled int    `json:"sampled"`
	Checked int    `json:"checked"`
	Correct int    `json:"correct"`
	Stop    int    `json:"stop"`
	Amount  int    `json:"amount"`
	Other   int    `json:"other"`
}

// Progress counts the re-checks per county in the user's scope.
func (s *Service) Progress(ctx context.Context, u *auth.User, id int64) ([]Progress, error) {
	if _, err := s.Campaign(ctx, u, id); err != nil {
		return nil, err
	}
	var out []Progress
	err := db.Each(ctx, s.DB, `SELECT SUBSTR(region_code, 1, 6), COUNT(*), SUM(CASE WHEN result <> '' THEN 1 ELSE 0 END),
			SUM(CASE WHEN result = 'correct' THEN 1 ELSE 0 END), SUM(CASE WHEN result = 'stop' THEN 1 ELSE 0 END),
			SUM(CASE WHEN result = 'amount' THEN 1 ELSE 0 END), SUM(CASE WHEN result = 'other' THEN 1 ELSE 0 END)
		FROM campaign_cases WHERE campaign_id = $1 AND region_code LIKE $2 || '%' GROUP BY SUBSTR(region_code, 1, 6) ORDER BY 1`,
		[]any{id, u.Scope()}, func(scan func(...any) error) error {
			var p Progress
			if err := scan(&p.County, &p.Sampled, &p.Checked, &p.Correct, &p.Stop, &p.Amount, &p.Other); err != nil {
				return err
			}
			p.County = region.Pad(p.County)
			out = append(out, p)
			return nil
		})
	return out, err
}

// Sampled is one sampled case with its re-check.
type Sampled struct {
	ID          int64      `json:"id"`
	CaseID      int64      `json:"case_id"`
	CaseNo      string     `json:"case_no"`
	Programme   string     `json:"programme"`
	HouseholdID int64      `json:"household_id"`
	HouseholdNo string     `json:"household_no"`
	Region      string     `json:"region"`
	Township    string     `json:"township"`
	Result      string     `json:"result"`
	Note        string     `json:"note"`
	CheckedBy   string     `json:"checked_by"`
	CheckedAt   *time.Time `json:"checked_at,omitempty"`
	Version     int        `json:"version"`
}

// Cases lists a campaign's sampled cases in the user's scope (a township
// caseworker: their township's).
func (s *Service) Cases(ctx context.Context, u *auth.User, id int64) ([]Sampled, error) {
	if _, err := s.Campaign(ctx, u, id); err != nil {
		return nil, err
	}
	var out []Sampled
	err := db.Each(ctx, s.DB, `SELECT k.id, k.case_id, c.case_no, c.programme, k.household_id, h.hh_no, k.region_code, k.township_code, k.result, k.note, k.checked_by, k.checked_at, k.version
		FROM campaign_cases k JOIN cases c ON c.id = k.case_id JOIN households h ON h.id = k.household_id
		WHERE k.campaign_id = $1 AND k.region_code LIKE $2 || '%' ORDER BY k.township_code, k.result, k.id LIMIT 2000`,
		[]any{id, u.Scope()}, func(scan func(...any) error) error {
			var x Sampled
			var at sql.NullTime
			if err := scan(&x.ID, &x.CaseID, &x.CaseNo, &x.Programme, &x.HouseholdID, &x.HouseholdNo, &x.Region, &x.Township, &x.Result, &x.Note, &x.CheckedBy, &at, &x.Version); err != nil {
				return err
			}
			if at.Valid {
				x.CheckedAt = &at.Time
			}
			out = append(out, x)
			return nil
		})
	return out, err
}

// RecordCheck records a township's re-check of a sampled case: only a
// township caseworker or reviewer of the case's township, while the
// campaign is open; anything but "correct" needs a note. version is the
// sampled case's version the caller read: a re-check recorded meanwhile by
// a colleague is not overwritten.
func (s *Service) RecordCheck(ctx context.Context, u *auth.User, sampledID int64, version int, result, note string) error {
	if !u.Can(auth.CaseAct) || region.LevelOf(u.Region) != region.Township {
		return apperr.Forbidden("复查由案件所在乡镇（街道）的经办人员办理")
	}
	if ResultLabel(result) == result {
		return apperr.Invalid("result", "invalid_result", "请选择复查结果")
	}
	note = strings.TrimSpace(note)
	if result != "correct" && note == "" {
		return apperr.Invalid("note", "note_required", "复查发现问题的，请写明具体情况")
	}
	if version <= 0 {
		return apperr.Invalid("version", "version_required", "缺少版本号，请刷新页面后重新提交")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var township, reg, state string
		var cid int64
		err := tx.QueryRowContext(ctx, `SELECT k.township_code, k.region_code, c.state, k.campaign_id FROM campaign_cases k JOIN campaigns c ON c.id = k.campaign_id WHERE k.id = $1`, sampledID).
			Scan(&township, &reg, &state, &cid)
		if err == sql.ErrNoRows || err == nil && !region.Within(u.Region, reg) {
			return apperr.NotFound("该抽查案件不存在或不属于您的乡镇（街道）")
		}
		if err != nil {
			return err
		}
		if state != "open" {
			return apperr.Conflict("campaign_closed", "该专项治理已结束，不能再登记复查结果")
		}
		res, err := tx.ExecContext(ctx, `UPDATE campaign_cases SET result = $1, note = $2, checked_by = $3, checked_at = $4, version = version + 1 WHERE id = $5 AND version = $6`,
			result, note, u.Username, s.now(), sampledID, version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Stale()
		}
		return audit.Append(ctx, tx, u.Actor(), "campaign.check", "campaign_case", strconv.FormatInt(sampledID, 10), reg, map[string]any{"campaign": cid, "result": result})
	})
}

// CloseCampaign ends a campaign opened in the user's scope.
func (s *Service) CloseCampaign(ctx context.Context, u *auth.User, id int64, note string) error {
	if !u.Can(auth.CampaignRun) {
		return apperr.Forbidden("您的角色不能结束专项治理")
	}
	note = strings.TrimSpace(note)
	if note == "" {
		return apperr.Invalid("note", "note_required", "请填写总结（发现的问题和整改情况）")
	}
	return s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE campaigns SET state = 'closed', closed_by = $1, closed_at = $2, close_note = $3
			WHERE id = $4 AND state = 'open' AND region_code LIKE $5 || '%'`, u.Username, s.now(), note, id, u.Scope())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Conflict("campaign_state", "该专项治理不存在、不由您的辖区开展或已经结束")
		}
		return audit.Append(ctx, tx, u.Actor(), "campaign.close", "campaign", strconv.FormatInt(id, 10), u.Region, map[string]any{"note_len": utf8.RuneCountInString(note)})
	})
}
