package dci

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"jiuzhu/internal/casework"
	"jiuzhu/internal/idcard"
	"jiuzhu/internal/region"
)

// Reason codes of the standard used for refused requests of a batch.
const (
	rjctCriteria   = "rjct.search_criteria.invalid" // unsupported query type or construct, malformed query
	rjctFilter     = "rjct.filter.invalid"          // an attribute outside the whitelist, a bad value or operator
	rjctSort       = "rjct.sort.invalid"
	rjctPagination = "rjct.pagination.invalid"
	rjctRefDup     = "rjct.reference_id.duplicate"
	rjctTooMany    = "rjct.search.too_many_records_found"
)

// reasonError refuses one request of a batch with a reason code.
type reasonError struct{ code, msg string }

func (e *reasonError) Error() string { return e.code + ": " + e.msg }

func reason(code, format string, a ...any) *reasonError {
	return &reasonError{code: code, msg: fmt.Sprintf(format, a...)}
}

// The whitelist: every attribute a query may name, with the operators it
// takes. Everything else is refused with rjct.filter.invalid. docs/dci.md
// lists them with their values.
var attributes = map[string][]string{
	"region_code":      {"eq", "in"},
	"programme":        {"eq", "in"},
	"sex":              {"eq"},
	"birth_date":       {"eq", "gt", "lt", "ge", "le"},
	"age":              {"eq", "gt", "lt", "ge", "le"},
	"household_size":   {"eq", "gt", "lt", "ge", "le"},
	"disability_kind":  {"eq", "in"},
	"disability_level": {"eq", "gt", "lt", "ge", "le", "in"},
	"is_disabled":      {"eq"},
	"hukou":            {"eq", "in"},
	"household_status": {"eq", "in"},
	"person_status":    {"eq", "in"},
}

// aliases are the standard's own names for whitelisted attributes.
var aliases = map[string]string{"group_size": "household_size", "location": "region_code", "gender": "sex", "programme_identifier": "programme", "program": "programme"}

var sqlOps = map[string]string{"eq": "=", "gt": ">", "lt": "<", "ge": ">=", "le": "<="}

var (
	disabilityKinds = []string{"physical", "intellectual", "mental", "visual", "hearing", "speech", "multiple"}
	dateRe          = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// Programmes a person can currently be receiving (temporary assistance is a
// one-off grant, not an entitlement).
func entitlementProgrammes() []string {
	var out []string
	for _, p := range casework.Programmes {
		if p.Value != "temporary" {
			out = append(out, p.Value)
		}
	}
	return out
}

// currentEntitlement is the condition on cases c of an entitlement paying in
// the month $m: approved, started, and not stopped before that month (the
// same rule as the statistics' stock).
func currentEntitlement(m string) string {
	return `c.purpose = 'application' AND c.decision = 'approved' AND c.pay_from <> '' AND c.pay_from <= ` + m +
		` AND (c.state = 'approved' OR c.state = 'closed' AND c.stop_from <> '' AND c.stop_from > ` + m + `)`
}

// compiler turns a query into a parameterised condition on persons p and
// households h. Values only ever travel as arguments; the SQL text comes from
// this file alone.
type compiler struct {
	tree  *region.Tree
	hash  func(string) string
	today time.Time
	args  []any
	conds int
	// exactBirth is set for keys holding share.ScopePersonID. The masked ID
	// number hides exactly the eight digits of the birth date, so any
	// filter that can pin a birth date to the day would let a key without
	// person.id rebuild full numbers: without it birth_date is refused and
	// age counts in calendar years (this year minus the birth year), which
	// tells no more than the birth_year every record already carries.
	exactBirth bool
}

func (c *compiler) arg(v any) string {
	c.args = append(c.args, v)
	return "$" + strconv.Itoa(len(c.args))
}

const maxConditions = 50

// compile dispatches on the query type.
func (c *compiler) compile(queryType string, raw json.RawMessage) (string, *reasonError) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", reason(rjctCriteria, "缺少 query")
	}
	switch queryType {
	case "idtype-value":
		var q struct {
			Type  string `json:"type"`
			Value any    `json:"value"`
		}
		if err := json.Unmarshal(raw, &q); err != nil {
			return "", reason(rjctCriteria, "idtype-value 查询应为 {type, value}")
		}
		return c.idValue(q.Type, q.Value)
	case "predicate":
		var items []predicate
		if err := json.Unmarshal(raw, &items); err != nil || len(items) == 0 {
			return "", reason(rjctCriteria, "predicate 查询应为非空的条件数组")
		}
		return c.predicates(items)
	case "expression":
		var q struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(raw, &q); err != nil {
			return "", reason(rjctCriteria, "expression 查询应为 {type, value: {expression: …}}")
		}
		return c.expression(q.Value)
	}
	return "", reason(rjctCriteria, "不支持的查询类型 %q（支持 idtype-value、predicate、expression）", queryType)
}

// idValue looks a person up by the resident ID number through its keyed hash.
func (c *compiler) idValue(typ string, v any) (string, *reasonError) {
	switch strings.ToLower(typ) {
	case "nationalid", "uin", "idcard", "resident_id":
	default:
		return "", reason(rjctCriteria, "不支持的证件类型 %q（支持 NationalID、UIN：居民身份证号码）", typ)
	}
	s, ok := v.(string)
	if !ok {
		return "", reason(rjctCriteria, "证件号码应为字符串")
	}
	id, err := idcard.Parse(s, c.today)
	if err != nil {
		return "", reason(rjctCriteria, "居民身份证号码无效")
	}
	c.conds++
	return "p.id_hmac = " + c.arg(c.hash(id.Number)), nil
}

type predicate struct {
	SeqNum      *float64   `json:"seq_num"`
	Expression1 *condition `json:"expression1"`
	Condition   string     `json:"condition"`
	Expression2 *condition `json:"expression2"`
}

type condition struct {
	AttributeName  string `json:"attribute_name"`
	Operator       string `json:"operator"`
	AttributeValue any    `json:"attribute_value"`
}

// predicates: items in seq_num order, all of which must hold; inside an item
// expression1 and|or expression2, "not" meaning expression1 and not
// expression2 (or not expression1 alone).
func (c *compiler) predicates(items []predicate) (string, *reasonError) {
	sort.SliceStable(items, func(i, j int) bool {
		a, b := math.Inf(1), math.Inf(1)
		if items[i].SeqNum != nil {
			a = *items[i].SeqNum
		}
		if items[j].SeqNum != nil {
			b = *items[j].SeqNum
		}
		return a < b
	})
	var parts []string
	for _, it := range items {
		if it.Expression1 == nil {
			return "", reason(rjctCriteria, "每个 predicate 都需要 expression1")
		}
		e1, err := c.cond(it.Expression1.AttributeName, it.Expression1.Operator, it.Expression1.AttributeValue)
		if err != nil {
			return "", err
		}
		if it.Expression2 == nil {
			switch it.Condition {
			case "", "and", "or":
				parts = append(parts, e1)
			case "not":
				parts = append(parts, "NOT ("+e1+")")
			default:
				return "", reason(rjctCriteria, "不支持的 condition %q", it.Condition)
			}
			continue
		}
		e2, err := c.cond(it.Expression2.AttributeName, it.Expression2.Operator, it.Expression2.AttributeValue)
		if err != nil {
			return "", err
		}
		switch it.Condition {
		case "and":
			parts = append(parts, "("+e1+" AND "+e2+")")
		case "or":
			parts = append(parts, "("+e1+" OR "+e2+")")
		case "not":
			parts = append(parts, "("+e1+" AND NOT ("+e2+"))")
		default:
			return "", reason(rjctCriteria, "两个表达式之间需要 condition：and、or 或 not")
		}
	}
	return strings.Join(parts, " AND "), nil
}

// expression supports one language, a MongoDB-like subset (docs/dci.md):
// {"expression": {"collection": "Group"|"Member", "query": Q}} where Q is
// {"$and": [Q…]}, {"$or": [Q…]}, {"$not": Q} or {attribute: value |
// {"$eq"|"$gt"|"$gte"|"$lt"|"$lte"|"$in": value}}; several keys mean and.
func (c *compiler) expression(raw json.RawMessage) (string, *reasonError) {
	var v struct {
		Expression any `json:"expression"`
	}
	if err := json.Unmarshal(raw, &v); err != nil || v.Expression == nil {
		return "", reason(rjctCriteria, "expression 查询的 value 应为 {expression: …}")
	}
	e, ok := v.Expression.(map[string]any)
	if !ok {
		return "", reason(rjctCriteria, "不支持该表达式语言（只支持文档所列的 JSON 表达式子集，不支持 GraphQL 等文本表达式）")
	}
	if q, ok := e["query"]; ok {
		for k := range e {
			if k != "query" && k != "collection" {
				return "", reason(rjctCriteria, "expression 中不支持 %q", k)
			}
		}
		if col, ok := e["collection"].(string); ok && col != "Group" && col != "Member" && col != "Person" {
			return "", reason(rjctCriteria, "collection 只能是 Group、Member 或 Person")
		}
		return c.exprNode(q, 0)
	}
	return c.exprNode(e, 0)
}

var exprOps = map[string]string{"$eq": "eq", "$gt": "gt", "$gte": "ge", "$lt": "lt", "$lte": "le", "$in": "in"}

func (c *compiler) exprNode(n any, depth int) (string, *reasonError) {
	if depth > 8 {
		return "", reason(rjctCriteria, "表达式嵌套过深")
	}
	m, ok := n.(map[string]any)
	if !ok || len(m) == 0 {
		return "", reason(rjctCriteria, "表达式的每一层都应是非空对象")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same query always compiles to the same SQL
	var parts []string
	for _, k := range keys {
		v := m[k]
		switch k {
		case "$and", "$or":
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				return "", reason(rjctCriteria, "%s 需要非空数组", k)
			}
			var sub []string
			for _, x := range list {
				s, err := c.exprNode(x, depth+1)
				if err != nil {
					return "", err
				}
				sub = append(sub, s)
			}
			op := " AND "
			if k == "$or" {
				op = " OR "
			}
			parts = append(parts, "("+strings.Join(sub, op)+")")
		case "$not":
			s, err := c.exprNode(v, depth+1)
			if err != nil {
				return "", err
			}
			parts = append(parts, "NOT ("+s+")")
		default:
			if strings.HasPrefix(k, "$") {
				return "", reason(rjctCriteria, "不支持的运算符 %q", k)
			}
			ops, isOps := v.(map[string]any)
			if !isOps {
				s, err := c.cond(k, "eq", v)
				if err != nil {
					return "", err
				}
				parts = append(parts, s)
				continue
			}
			opKeys := make([]string, 0, len(ops))
			for o := range ops {
				opKeys = append(opKeys, o)
			}
			sort.Strings(opKeys)
			for _, o := range opKeys {
				op, ok := exprOps[o]
				if !ok {
					return "", reason(rjctCriteria, "不支持的运算符 %q", o)
				}
				s, err := c.cond(k, op, ops[o])
				if err != nil {
					return "", err
				}
				parts = append(parts, s)
			}
		}
	}
	return strings.Join(parts, " AND "), nil
}

// cond compiles one whitelisted attribute, operator and value.
func (c *compiler) cond(attr, op string, v any) (string, *reasonError) {
	name := attr
	if a, ok := aliases[name]; ok {
		name = a
	}
	ops, ok := attributes[name]
	if !ok {
		return "", reason(rjctFilter, "属性 %q 不在可查询属性白名单内", attr)
	}
	if !slices.Contains(ops, op) {
		return "", reason(rjctFilter, "属性 %s 不支持运算符 %q", name, op)
	}
	c.conds++
	if c.conds > maxConditions {
		return "", reason(rjctCriteria, "条件过多（最多 %d 个）", maxConditions)
	}
	if op == "in" {
		// the spec's attribute_value admits no array, so a list also comes
		// as one comma-separated string
		list, ok := v.([]any)
		if s, isStr := v.(string); isStr {
			for _, x := range strings.Split(s, ",") {
				list = append(list, strings.TrimSpace(x))
			}
			ok = true
		}
		if !ok || len(list) == 0 || len(list) > 50 {
			return "", reason(rjctFilter, "in 运算需要 1 到 50 个值（数组或以逗号分隔的字符串）")
		}
		var sub []string
		for _, x := range list {
			s, err := c.one(name, "eq", x)
			if err != nil {
				return "", err
			}
			sub = append(sub, s)
		}
		return "(" + strings.Join(sub, " OR ") + ")", nil
	}
	return c.one(name, op, v)
}

func (c *compiler) one(name, op string, v any) (string, *reasonError) {
	str := func() (string, *reasonError) {
		s, ok := v.(string)
		if !ok {
			return "", reason(rjctFilter, "属性 %s 的值应为字符串", name)
		}
		return s, nil
	}
	enum := func(allowed []string) (string, *reasonError) {
		s, err := str()
		if err != nil {
			return "", err
		}
		if !slices.Contains(allowed, s) {
			return "", reason(rjctFilter, "属性 %s 的值应为 %s 之一", name, strings.Join(allowed, "、"))
		}
		return s, nil
	}
	integer := func(lo, hi int) (int, *reasonError) {
		// an integral JSON number matches both "integer" and "number" of the
		// spec's oneOf, so conforming senders write integers as strings
		f, ok := v.(float64)
		if s, isStr := v.(string); isStr {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			f, ok = float64(n), err == nil
		}
		if !ok || f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
			return 0, reason(rjctFilter, "属性 %s 的值应为 %d 到 %d 的整数", name, lo, hi)
		}
		return int(f), nil
	}
	switch name {
	case "region_code":
		s, err := str()
		if err != nil {
			return "", err
		}
		if _, ok := c.tree.Get(region.Pad(s)); !ok || len(s) > 12 || strings.Trim(s, "0123456789") != "" {
			return "", reason(rjctFilter, "区划代码 %q 不存在", s)
		}
		return "p.region_code LIKE " + c.arg(region.ScopePrefix(s)) + " || '%'", nil
	case "programme":
		s, err := enum(entitlementProgrammes())
		if err != nil {
			return "", err
		}
		m := c.arg(c.today.Format("2006-01"))
		return "EXISTS (SELECT 1 FROM cases c WHERE c.household_id = p.household_id AND c.programme = " + c.arg(s) + " AND " + currentEntitlement(m) + ")", nil
	case "sex":
		s, err := enum([]string{"male", "female", "M", "F"})
		if err != nil {
			return "", err
		}
		return "p.sex = " + c.arg(map[string]string{"male": "M", "female": "F", "M": "M", "F": "F"}[s]), nil
	case "birth_date":
		if !c.exactBirth {
			return "", reason(rjctFilter, "按 birth_date 查询需要 person.id 权限")
		}
		s, err := str()
		if err != nil {
			return "", err
		}
		if _, perr := time.Parse(time.DateOnly, s); perr != nil || !dateRe.MatchString(s) {
			return "", reason(rjctFilter, "birth_date 应为 YYYY-MM-DD")
		}
		return "p.birth_date " + sqlOps[op] + " " + c.arg(s), nil
	case "age":
		n, err := integer(0, 150)
		if err != nil {
			return "", err
		}
		if !c.exactBirth {
			return c.ageByYear(op, n), nil
		}
		// age >= n  ⇔ born on or before today minus n years
		atLeast := func(n int) string { return "p.birth_date <= " + c.arg(c.today.AddDate(-n, 0, 0).Format(time.DateOnly)) }
		atMost := func(n int) string {
			return "p.birth_date > " + c.arg(c.today.AddDate(-(n+1), 0, 0).Format(time.DateOnly))
		}
		switch op {
		case "ge":
			return atLeast(n), nil
		case "gt":
			return atLeast(n + 1), nil
		case "le":
			return atMost(n), nil
		case "lt":
			if n == 0 {
				return "1 = 0", nil
			}
			return atMost(n - 1), nil
		default:
			return "(" + atLeast(n) + " AND " + atMost(n) + ")", nil
		}
	case "household_size":
		n, err := integer(0, 100)
		if err != nil {
			return "", err
		}
		return "(SELECT COUNT(*) FROM persons m WHERE m.household_id = p.household_id AND m.status = 'active') " + sqlOps[op] + " " + c.arg(n), nil
	case "disability_kind":
		s, err := enum(disabilityKinds)
		if err != nil {
			return "", err
		}
		return "p.disability_kind = " + c.arg(s), nil
	case "disability_level":
		n, err := integer(1, 4)
		if err != nil {
			return "", err
		}
		return "(p.disability_kind <> '' AND p.disability_level " + sqlOps[op] + " " + c.arg(n) + ")", nil
	case "is_disabled":
		b, ok := v.(bool)
		if !ok {
			return "", reason(rjctFilter, "is_disabled 的值应为 true 或 false")
		}
		if b {
			return "p.disability_kind <> ''", nil
		}
		return "p.disability_kind = ''", nil
	case "hukou":
		s, err := enum([]string{"urban", "rural"})
		if err != nil {
			return "", err
		}
		return "h.hukou = " + c.arg(s), nil
	case "household_status":
		s, err := enum([]string{"active", "closed", "merged"})
		if err != nil {
			return "", err
		}
		return "h.status = " + c.arg(s), nil
	case "person_status":
		s, err := enum([]string{"active", "left", "deceased"})
		if err != nil {
			return "", err
		}
		return "p.status = " + c.arg(s), nil
	}
	return "", reason(rjctFilter, "属性 %q 不在可查询属性白名单内", name)
}

// ageByYear compiles an age condition for a key without person.id: the age
// is the current year minus the birth year, so the answer depends on the
// birth year alone and never on how the birthday falls against today.
func (c *compiler) ageByYear(op string, n int) string {
	y := c.today.Year()
	jan1 := func(year int) string { return c.arg(fmt.Sprintf("%04d-01-01", year)) }
	atLeast := func(n int) string { return "p.birth_date < " + jan1(y-n+1) } // born in year y-n or before
	atMost := func(n int) string { return "p.birth_date >= " + jan1(y-n) }   // born in year y-n or after
	switch op {
	case "ge":
		return atLeast(n)
	case "gt":
		return atLeast(n + 1)
	case "le":
		return atMost(n)
	case "lt":
		return atMost(n - 1)
	default:
		return "(" + atMost(n) + " AND " + atLeast(n) + ")"
	}
}

// orderBy compiles the sort list for persons or households from its own
// whitelist; the id always breaks ties so pages never overlap. Without
// person.id (exactBirth false) birth_date is refused and age sorts by birth
// year only: an order by full birth date would rank people by the very digits
// the masked ID number hides.
func orderBy(sorts []sortSpec, group, exactBirth bool) (string, *reasonError) {
	cols := map[string]string{"birth_date": "p.birth_date", "age": "p.birth_date", "region_code": "p.region_code"}
	if !exactBirth {
		cols = map[string]string{"age": "SUBSTR(p.birth_date, 1, 4)", "region_code": "p.region_code"}
	}
	tie := "p.id"
	if group {
		cols = map[string]string{"region_code": "h.region_code", "household_size": "hsize", "group_size": "hsize"}
		tie = "h.id"
	}
	var parts []string
	for _, s := range sorts {
		col, ok := cols[s.AttributeName]
		if !ok && s.AttributeName == "birth_date" && !group {
			return "", reason(rjctSort, "按 birth_date 排序需要 person.id 权限")
		}
		if !ok {
			return "", reason(rjctSort, "不能按 %q 排序", s.AttributeName)
		}
		dir := "ASC"
		switch s.SortOrder {
		case "", "asc":
		case "desc":
			dir = "DESC"
		default:
			return "", reason(rjctSort, "sort_order 应为 asc 或 desc")
		}
		if s.AttributeName == "age" { // older first is an earlier birth date
			dir = map[string]string{"ASC": "DESC", "DESC": "ASC"}[dir]
		}
		parts = append(parts, col+" "+dir)
	}
	return strings.Join(append(parts, tie), ", "), nil
}

type sortSpec struct {
	AttributeName string `json:"attribute_name"`
	SortOrder     string `json:"sort_order"`
}
