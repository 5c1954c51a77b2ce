// Package registry owns households, persons, their legal supporters and bank
// accounts. Every change is an explicit, audited operation that keeps a dated
// history row; every read takes the caller's region scope.
package registry

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/idcard"
)

// Household is a registered household with, when loaded for a page, its members.
type Household struct {
	ID         int64        `json:"id"`
	No         string       `json:"household_no"`
	Region     string       `json:"region"`
	RegionName string       `json:"region_name"`
	Hukou      string       `json:"hukou"`
	Address    string       `json:"address"`
	Phone      string       `json:"phone"`
	Status     string       `json:"status"`
	Version    int          `json:"version"`
	CreatedAt  time.Time    `json:"created_at"`
	UpdatedAt  time.Time    `json:"updated_at"`
	Members    []*Person    `json:"members,omitempty"`
	Supporters []*Supporter `json:"supporters,omitempty"`
}

// Person is one registered person.
type Person struct {
	ID              int64          `json:"id"`
	HouseholdID     int64          `json:"household_id"`
	Region          string         `json:"region"`
	IDMasked        string         `json:"id_number_masked"`
	Name            string         `json:"name"`
	Sex             string         `json:"sex"`
	BirthDate       string         `json:"birth_date"`
	Phone           string         `json:"phone"`
	Relation        string         `json:"relation"`
	CoResident      bool           `json:"co_resident"`
	DisabilityKind  string         `json:"disability_kind"`
	DisabilityLevel int            `json:"disability_level"`
	SelfCareItems   []string       `json:"self_care_failed"`
	Student         string         `json:"student"`
	SeriousIllness  bool           `json:"serious_illness"`
	AbleToWork      bool           `json:"able_to_work"`
	Status          string         `json:"status"`
	Version         int            `json:"version"`
	BankAccounts    []*BankAccount `json:"bank_accounts,omitempty"`
}

// Age in whole years on a date.
func (p *Person) Age(on time.Time) int {
	b, err := time.Parse(time.DateOnly, p.BirthDate)
	if err != nil {
		return 0
	}
	age := on.Year() - b.Year()
	if on.Month() < b.Month() || on.Month() == b.Month() && on.Day() < b.Day() {
		age--
	}
	return age
}

// Supporter is a person with a legal duty of support living elsewhere
// (赡养/抚养/扶养义务人).
type Supporter struct {
	ID                int64  `json:"id"`
	HouseholdID       int64  `json:"household_id"`
	Name              string `json:"name"`
	IDMasked          string `json:"id_number_masked"`
	Relation          string `json:"relation"`
	Duty              string `json:"duty"`
	BirthDate         string `json:"birth_date"`
	Address           string `json:"address"`
	OnDibao           bool   `json:"on_dibao"`
	OnTekun           bool   `json:"on_tekun"`
	DisabilityKind    string `json:"disability_kind"`
	DisabilityLevel   int    `json:"disability_level"`
	MonthlyIncomeFen  int64  `json:"monthly_income_fen"`
	AssetsWithinRules bool   `json:"assets_within_rules"`
}

// BankAccount is where payments go; the number is kept encrypted.
type BankAccount struct {
	ID       int64  `json:"id"`
	PersonID int64  `json:"person_id"`
	BankCode string `json:"bank_code"`
	BankName string `json:"bank_name"`
	Masked   string `json:"account_masked"`
	Active   bool   `json:"active"`
}

// Change is one row of a household's history.
type Change struct {
	At       time.Time `json:"at"`
	Username string    `json:"username"`
	PersonID int64     `json:"person_id,omitempty"`
	Op       string    `json:"op"`
	Reason   string    `json:"reason"`
	Before   string    `json:"before"`
	After    string    `json:"after"`
}

// Labelled code lists, in the order forms show them.
type Option struct{ Value, Label string }

var (
	Relations = []Option{{"head", "户主"}, {"spouse", "配偶"}, {"child", "子女"}, {"parent", "父母"},
		{"grandchild", "孙子女/外孙子女"}, {"sibling", "兄弟姐妹"}, {"other", "其他"}}
	Hukous           = []Option{{"urban", "城镇"}, {"rural", "农村"}}
	DisabilityKinds  = []Option{{"", "无"}, {"physical", "肢体"}, {"intellectual", "智力"}, {"mental", "精神"}, {"visual", "视力"}, {"hearing", "听力"}, {"speech", "言语"}, {"multiple", "多重"}}
	StudentStatuses  = []Option{{"none", "非在校"}, {"compulsory", "义务教育"}, {"senior_high", "普通高中"}, {"vocational", "中职/高职"}, {"bachelor", "本科及以下全日制"}, {"graduate", "研究生"}}
	SelfCareItemList = []Option{{"eating", "自主吃饭"}, {"dressing", "自主穿衣"}, {"bed_transfer", "自主上下床"}, {"toileting", "自主如厕"}, {"walking", "室内自主行走"}, {"bathing", "自主洗澡"}}
	SupportDuties    = []Option{{"maintenance", "赡养"}, {"upbringing", "抚养"}, {"spousal", "扶养"}}
	RemovalReasons   = []Option{{"deceased", "死亡"}, {"moved_out", "户籍迁出"}, {"other", "其他"}}
)

// Label finds the Chinese label of a value.
func Label(opts []Option, v string) string {
	for _, o := range opts {
		if o.Value == v {
			return o.Label
		}
	}
	return v
}

func inOptions(opts []Option, v string) bool {
	for _, o := range opts {
		if o.Value == v {
			return true
		}
	}
	return false
}

// PersonInput is what a caseworker enters for a person.
type PersonInput struct {
	IDNumber        string   `json:"id_number"`
	Name            string   `json:"name"`
	Sex             string   `json:"sex,omitempty"`        // optional; checked against the ID
	BirthDate       string   `json:"birth_date,omitempty"` // optional; checked against the ID
	Phone           string   `json:"phone"`
	Relation        string   `json:"relation"`
	CoResident      bool     `json:"co_resident"`
	DisabilityKind  string   `json:"disability_kind"`
	DisabilityLevel int      `json:"disability_level"`
	SelfCareFailed  []string `json:"self_care_failed"`
	Student         string   `json:"student"`
	SeriousIllness  bool     `json:"serious_illness"`
	AbleToWork      bool     `json:"able_to_work"`
}

var (
	phoneRe = regexp.MustCompile(`^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$`)
	nameRe  = regexp.MustCompile(`^[\p{Han}A-Za-z·• ]+$`)
)

// validate checks the input and returns the parsed ID number.
func (in *PersonInput) validate(today time.Time) (idcard.ID, error) {
	id, err := idcard.Parse(in.IDNumber, today)
	if err != nil {
		e, _ := idcard.AsError(err)
		return id, apperr.Invalid("id_number", e.Code, e.Message)
	}
	in.Name = strings.TrimSpace(in.Name)
	if n := utf8.RuneCountInString(in.Name); n == 0 || n > 30 || !nameRe.MatchString(in.Name) {
		return id, apperr.Invalid("name", "invalid_name", "请填写姓名（汉字或字母，不超过30个字）")
	}
	if in.Sex != "" && in.Sex != id.Sex() {
		return id, apperr.Invalid("sex", "sex_mismatch", fmt.Sprintf("性别与身份证号码不符：身份证号码显示为%s", map[string]string{"M": "男", "F": "女"}[id.Sex()]))
	}
	if in.BirthDate != "" && in.BirthDate != id.BirthDate.Format(time.DateOnly) {
		return id, apperr.Invalid("birth_date", "birth_date_mismatch", "出生日期与身份证号码不符：身份证号码显示为 "+id.BirthDate.Format("2006年01月02日"))
	}
	in.Phone = strings.TrimSpace(in.Phone)
	if in.Phone != "" && !phoneRe.MatchString(in.Phone) {
		return id, apperr.Invalid("phone", "invalid_phone", "联系电话格式不正确（手机号11位，或区号-座机号）")
	}
	if !inOptions(Relations, in.Relation) {
		return id, apperr.Invalid("relation", "invalid_relation", "请选择与户主关系")
	}
	if !inOptions(DisabilityKinds, in.DisabilityKind) {
		return id, apperr.Invalid("disability_kind", "invalid_disability_kind", "残疾类别不正确")
	}
	if in.DisabilityKind == "" && in.DisabilityLevel != 0 || in.DisabilityKind != "" && (in.DisabilityLevel < 1 || in.DisabilityLevel > 4) {
		return id, apperr.Invalid("disability_level", "invalid_disability_level", "有残疾证时残疾等级须为一级至四级；无残疾时不填等级")
	}
	if in.Student == "" {
		in.Student = "none"
	}
	if !inOptions(StudentStatuses, in.Student) {
		return id, apperr.Invalid("student", "invalid_student", "在校情况不正确")
	}
	if _, err := selfCareMask(in.SelfCareFailed); err != nil {
		return id, err
	}
	return id, nil
}

func selfCareMask(items []string) (int, error) {
	mask := 0
	for _, it := range items {
		found := false
		for i, o := range SelfCareItemList {
			if o.Value == it {
				mask |= 1 << i
				found = true
			}
		}
		if !found {
			return 0, apperr.Invalid("self_care_failed", "invalid_self_care_item", "生活自理能力评估项目不正确："+it)
		}
	}
	return mask, nil
}

func selfCareItems(mask int) []string {
	var out []string
	for i, o := range SelfCareItemList {
		if mask&(1<<i) != 0 {
			out = append(out, o.Value)
		}
	}
	return out
}

// SelfCareLevel is the TK-10 result for a number of failed items.
func SelfCareLevel(failed int) string {
	switch {
	case failed == 0:
		return "具备生活自理能力"
	case failed <= 3:
		return "部分丧失生活自理能力"
	default:
		return "完全丧失生活自理能力"
	}
}
