// Package online is the citizen's online channel (DB-04: "the application may
// be made online where offered"; 只跑一次): a public form to apply with the
// documents, a tracking number and a query code to follow the case, and the
// township's side that accepts the application into casework, returns it once
// with every missing item (DB-08, 一次性告知) or refuses it with a reason.
//
// The ID number is kept only as a keyed hash (to find the person), SM4-sealed
// and masked; the query code only as a keyed hash; documents SM4-sealed.
package online

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"jiuzhu/internal/apperr"
	"jiuzhu/internal/audit"
	"jiuzhu/internal/casework"
	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
)

// Statuses of an online application.
const (
	StatusSubmitted = "submitted"
	StatusAccepted  = "accepted"
	StatusReturned  = "returned"
	StatusRejected  = "rejected"
)

// StatusLabel names a status in Chinese.
func StatusLabel(s string) string {
	return map[string]string{StatusSubmitted: "已提交", StatusAccepted: "已受理", StatusReturned: "需补正", StatusRejected: "不予受理"}[s]
}

// Citizen is the audit actor of the public pages.
var Citizen = audit.Actor{Username: "citizen", Role: "citizen", Region: "360000000000"}

// Service is the online-application store.
type Service struct {
	DB       *db.DB
	Keys     *crypt.Keys
	Tree     *region.Tree
	Casework *casework.Service
	Now      func() time.Time
	// SubmitLimit counts stored submissions and supplements per client IP
	// (default 5 an hour); LookupLimit counts failed status look-ups (default
	// 20 an hour), so query codes cannot be guessed.
	SubmitLimit *Limiter
	LookupLimit *Limiter
	once        sync.Once
}

func (s *Service) init() {
	s.once.Do(func() {
		if s.SubmitLimit == nil {
			s.SubmitLimit = NewLimiter(5, time.Hour)
		}
		if s.LookupLimit == nil {
			s.LookupLimit = NewLimiter(20, time.Hour)
		}
	})
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Submission is what the citizen fills in.
type Submission struct {
	Region    string `json:"region"` // the village (村/社区) of the hukou
	Programme string `json:"programme"`
	Kind      string `json:"kind"` // temporary assistance: emergency|expenditure
	Name      string `json:"name"`
	IDNumber  string `json:"id_number"`
	Phone     string `json:"phone"`
	Members   int    `json:"members"`
	Statement string `json:"statement"`
	Pledge    bool   `json:"pledge"`
	Consent   bool   `json:"consent"`
	Files     []File `json:"-"`
}

// Receipt is shown once: the code is kept only as a hash.
type Receipt struct {
	No   string `json:"application_no"`
	Code string `json:"query_code"`
}

var (
	phoneRe = regexp.MustCompile(`^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$`)
	nameRe  = regexp.MustCompile(`^[\p{Han}A-Za-z·• ]+$`)
	// anything in a statement that looks like an ID number is masked before it is stored
	idLikeRe = regexp.MustCompile(`\d{17}[\dXx]|\d{15}`)
)

const maxStatement = 500

func (s *Service) validate(in *Submission) (idcard.ID, error) {
	r, ok := s.Tree.Get(strings.TrimSpace(in.Region))
	if !ok || r.Level != region.Village {
		return idcard.ID{}, apperr.Invalid("region", "region_required", "请选择户籍所在的县（市、区）、乡镇（街道）和村（社区）")
	}
	in.Region = r.Code
	if casework.ProgrammeLabel(in.Programme) == in.Programme {
		return idcard.ID{}, apperr.Invalid("programme", "unknown_programme", "请选择申请的救助项目")
	}
	if in.Programme == "temporary" {
		if in.Kind != "emergency" && in.Kind != "expenditure" {
			return idcard.ID{}, apperr.Invalid("kind", "invalid_kind", "申请临时救助，请选择类型：急难型（突发事件、意外事故等）或支出型（医疗、教育等必需支出）")
		}
	} else {
		in.Kind = ""
	}
	in.Name = strings.TrimSpace(in.Name)
	if n := utf8.RuneCountInString(in.Name); n < 2 || n > 30 || !nameRe.MatchString(in.Name) {
		return idcard.ID{}, apperr.Invalid("name", "invalid_name", "请填写申请人姓名（与身份证一致，2至30个字）")
	}
	id, err := idcard.Parse(in.IDNumber, s.now().Add(8*time.Hour))
	if err != nil {
		e, _ := idcard.AsError(err)
		return idcard.ID{}, apperr.Invalid("id_number", e.Code, "申请人"+e.Message)
	}
	in.Phone = strings.TrimSpace(in.Phone)
	if !phoneRe.MatchString(in.Phone) {
		return idcard.ID{}, apperr.Invalid("phone", "invalid_phone", "请填写联系电话（手机号11位，或区号-座机号），乡镇（街道）将通过此电话与您联系")
	}
	if in.Members < 1 || in.Members > 30 {
		return idcard.ID{}, apperr.Invalid("members", "invalid_members", "请填写家庭共同生活的人数（1至30人）")
	}
	in.Statement = strings.TrimSpace(in.Statement)
	if in.Statement == "" {
		return idcard.ID{}, apperr.Invalid("statement", "statement_required", "请简要说明家庭困难情况")
	}
	if utf8.RuneCountInString(in.Statement) > maxStatement {
		return idcard.ID{}, apperr.Invalid("statement", "statement_too_long", fmt.Sprintf("困难情况说明请不超过%d字，详细情况可上传材料或在入户调查时说明", maxStatement))
	}
	in.Statement = idLikeRe.ReplaceAllStringFunc(in.Statement, idcard.Mask)
	if !in.Pledge {
		return idcard.ID{}, apperr.Invalid("pledge", "pledge_required", "请阅读并勾选承诺：所填信息和上传材料真实、完整")
	}
	if !in.Consent {
		return idcard.ID{}, apperr.Invalid("consent", "consent_required", "请阅读并勾选同意：民政部门依法核对家庭经济状况")
	}
	if len(in.Files) > MaxFiles {
		return idcard.ID{}, apperr.Invalid(FileField, "too_many_files", fmt.Sprintf("最多上传%d个文件", MaxFiles))
	}
	for _, f := range in.Files {
		if _, ok := allowedTypes[http.DetectContentType(f.Data)]; !ok || len(f.Data) == 0 || len(f.Data) > MaxFileSize {
			return idcard.ID{}, apperr.Invalid(FileField, "file_type", "上传的文件须为不超过5MB的图片（JPG、PNG、WEBP）或PDF文件")
		}
	}
	return id, nil
}

func rateLimited(msg string) error {
	return &apperr.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: msg}
}

// Submit stores an application with its documents and returns the tracking
// number and the query code. Bad input stores nothing.
func (s *Service) Submit(ctx context.Context, in Submission, clientIP string) (*Receipt, error) {
	s.init()
	id, err := s.validate(&in)
	if err != nil {
		return nil, err
	}
	undo, ok := s.SubmitLimit.Take(clientIP)
	if !ok {
		return nil, rateLimited("同一网络一小时内提交的申请过多，请稍后再试；如有急难情况，请直接联系村（社区）或乡镇（街道）社会救助窗口")
	}
	rc := &Receipt{Code: newCode()}
	now := s.now()
	for attempt := 0; ; attempt++ {
		rc.No = newNo(now)
		err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
			var appID int64
			if err := tx.QueryRowContext(ctx, `INSERT INTO online_applications (app_no, code_hmac, region_code, programme, kind, name, id_hmac, id_enc, id_masked,
				phone, members, statement, pledge, consent, status, version, created_at, updated_at)
				VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,1,$16,$16) RETURNING id`,
				rc.No, s.codeHash(rc.Code), in.Region, in.Programme, in.Kind, in.Name, s.Keys.Hash(id.Number), s.Keys.Seal(id.Number), idcard.Mask(id.Number),
				in.Phone, in.Members, in.Statement, in.Pledge, in.Consent, StatusSubmitted, now).Scan(&appID); err != nil {
				return err
			}
			if err := s.addFiles(ctx, tx, appID, in.Files, now); err != nil {
				return err
			}
			return audit.Append(ctx, tx, Citizen, "online.submit", "online_application", fmt.Sprint(appID), in.Region,
				map[string]any{"application_no": rc.No, "programme": in.Programme, "documents": len(in.Files)})
		})
		if db.IsUniqueViolation(err) && attempt < 5 {
			continue
		}
		break
	}
	if err != nil {
		undo()
		return nil, fmt.Errorf("online: submit: %w", err)
	}
	return rc, nil
}

func (s *Service) addFiles(ctx context.Context, tx *sql.Tx, appID int64, files []File, now time.Time) error {
	for _, f := range files {
		sealed, err := base64.RawStdEncoding.DecodeString(s.Keys.Seal(string(f.Data)))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO online_documents (application_id, content_type, size, sealed, added_at) VALUES ($1,$2,$3,$4,$5)`,
			appID, f.Type, len(f.Data), sealed, now); err != nil {
			return fmt.Errorf("online: document: %w", err)
		}
	}
	return nil
}

// codeAlphabet leaves out 0/O and 1/I, which are easily confused.
const codeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func newCode() string {
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b)
}

// newNo is WS, the date and six random digits: WS20261102048213.
func newNo(now time.Time) string {
	b := make([]byte, 6)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return "WS" + now.Add(8*time.Hour).Format("20060102") + string(b)
}

func normCode(c string) string {
	return strings.ToUpper(strings.NewReplacer(" ", "", "-", "", "　", "").Replace(strings.TrimSpace(c)))
}

func (s *Service) codeHash(code string) string {
	return s.Keys.Hash("online-query-code:" + normCode(code))
}

// PublicStatus is what the status page shows: no personal data.
type PublicStatus struct {
	No          string   `json:"application_no"`
	Status      string   `json:"status"`
	Label       string   `json:"status_label"`
	Programme   string   `json:"programme"`
	SubmittedOn string   `json:"submitted_on"`
	CaseNo      string   `json:"case_no,omitempty"`
	Step        string   `json:"current_step,omitempty"`
	DueOn       string   `json:"due_on,omitempty"`
	Incomplete  bool     `json:"signatures_needed,omitempty"` // the case waits for the signed pledge and authorisations
	Missing     []string `json:"missing,omitempty"`
	Reason      string   `json:"reason,omitempty"`
}

// ErrNoSuchApplication is the one answer to an unknown number and to a wrong
// code alike, so numbers cannot be probed.
var ErrNoSuchApplication = apperr.NotFound("没有找到与该申请编号和查询码对应的申请，请核对后重新输入（查询码为提交时显示的8位字母和数字）")

// dummyHash is compared when the number is unknown, so both paths take the same time.
var dummyHash = strings.Repeat("0", 64)

// find loads the application a number and code open; a failure counts
// against the client's look-ups.
func (s *Service) find(ctx context.Context, no, code, clientIP string) (int64, error) {
	s.init()
	if s.LookupLimit.Full(clientIP) {
		return 0, rateLimited("查询失败次数过多，请一小时后再试；如忘记查询码，请携带身份证件到乡镇（街道）社会救助窗口查询")
	}
	var id int64
	stored := dummyHash
	err := s.DB.QueryRowContext(ctx, `SELECT id, code_hmac FROM online_applications WHERE app_no = $1`, strings.ToUpper(strings.TrimSpace(no))).Scan(&id, &stored)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("online: find: %w", err)
	}
	match := subtle.ConstantTimeCompare([]byte(stored), []byte(s.codeHash(code))) == 1
	if err != nil || !match {
		s.LookupLimit.Add(clientIP)
		return 0, ErrNoSuchApplication
	}
	return id, nil
}

// sysCaller reads a linked case for the status page.
type sysCaller struct{}

func (sysCaller) Scope() string      { return "36" }
func (sysCaller) Actor() audit.Actor { return Citizen }

// Status answers the public status query.
func (s *Service) Status(ctx context.Context, no, code, clientIP string) (*PublicStatus, error) {
	id, err := s.find(ctx, no, code, clientIP)
	if err != nil {
		return nil, err
	}
	var st PublicStatus
	var missing string
	var caseID sql.NullInt64
	var created time.Time
	if err := s.DB.QueryRowContext(ctx, `SELECT app_no, status, programme, created_at, missing, reason, case_id FROM online_applications WHERE id = $1`, id).
		Scan(&st.No, &st.Status, &st.Programme, &created, &missing, &st.Reason, &caseID); err != nil {
		return nil, fmt.Errorf("online: status: %w", err)
	}
	st.Label = StatusLabel(st.Status)
	st.SubmittedOn = created.Add(8 * time.Hour).Format(time.DateOnly)
	if missing != "" {
		json.Unmarshal([]byte(missing), &st.Missing)
	}
	if st.Status != StatusRejected {
		st.Reason = ""
	}
	if st.Status != StatusReturned {
		st.Missing = nil
	}
	if caseID.Valid {
		cs, err := s.Casework.Get(ctx, sysCaller{}, caseID.Int64)
		if err != nil {
			return nil, err
		}
		st.CaseNo, st.Step, st.DueOn = cs.No, cs.StateLabel(), cs.DueOn
		st.Incomplete = cs.State == casework.StateIncomplete
	}
	return &st, nil
}

// Supplement adds documents to a returned application and puts it back
// before the township.
func (s *Service) Supplement(ctx context.Context, no, code, clientIP string, files []File) error {
	id, err := s.find(ctx, no, code, clientIP)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return apperr.Invalid(FileField, "files_required", "请选择要补交的材料（图片或PDF文件）")
	}
	if len(files) > MaxFiles {
		return apperr.Invalid(FileField, "too_many_files", fmt.Sprintf("每次最多补交%d个文件", MaxFiles))
	}
	undo, ok := s.SubmitLimit.Take(clientIP)
	if !ok {
		return rateLimited("同一网络一小时内提交次数过多，请稍后再试")
	}
	now := s.now()
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		var status, reg string
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT status, region_code, (SELECT COUNT(*) FROM online_documents WHERE application_id = $1) FROM online_applications WHERE id = $1`, id).
			Scan(&status, &reg, &n); err != nil {
			return err
		}
		if status != StatusReturned {
			return apperr.Conflict("not_returned", "该申请目前不需要补交材料")
		}
		if n+len(files) > 4*MaxFiles {
			return apperr.Invalid(FileField, "too_many_files", "该申请上传的材料已达上限，请携带其余材料到乡镇（街道）窗口")
		}
		if err := s.addFiles(ctx, tx, id, files, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE online_applications SET status = $1, version = version + 1, updated_at = $2 WHERE id = $3`, StatusSubmitted, now, id); err != nil {
			return err
		}
		return audit.Append(ctx, tx, Citizen, "online.supplement", "online_application", fmt.Sprint(id), reg, map[string]any{"application_no": no, "documents": len(files)})
	})
	if err != nil {
		undo()
		if _, ok := apperr.As(err); ok {
			return err
		}
		return fmt.Errorf("online: supplement: %w", err)
	}
	return nil
}
